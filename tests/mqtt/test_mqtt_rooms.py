#!/usr/bin/python3
"""test_mqtt_rooms.py — mod_websocket's rooms across instances (room_topic),
as users of one chat room served by two Iridium processes would check it.

  across     two Iridium processes (own ports, 2 workers each) share one
             Mosquitto; 50 python3-websockets clients on each join the
             broadcast route whose room_topic is the same; 20 senders (10 on
             each) send 50 text messages each. Every client of both gets every
             one of the 1000 messages exactly once (the sender its own too, as
             in a local room), each sender's in the order sent, as text.
  restart    the broker is stopped: messages sent meanwhile are dropped and
             websocket_room_drops_total grows; the broker comes back: the
             room resumes (new messages from both instances reach every client
             exactly once, in order) and no session was closed.
  no mqtt    a route with room_topic on a server without mod_mqtt does not
             start, and says room_topic needs mod_mqtt.

Every wait is bounded; only 127.0.0.1 is used.
"""

import asyncio
import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "websocket"))
import broker as B  # noqa: E402
import wsrooms_wire as W  # noqa: E402
from wsrooms_wire import H  # noqa: E402

import websockets  # noqa: E402

PER_INSTANCE = 50
SENDERS = 20       # 10 on each instance
MESSAGES = 50
TOPIC = "iridium/test/rooms"


def route(broker):
    return {"module": "websocket", "mode": "broadcast", "room": "chat",
            "room_topic": TOPIC, "room_broker": broker.address}


def start_instance(broker):
    return H.Server(server={"workers": 2, "log_level": "info"},
                    modules=["mqtt", "websocket"],
                    routes=[("/room", route(broker)),
                            ("/ws/metrics", {"module": "websocket", "mode": "metrics"})]).start()


class Member:
    def __init__(self, ws, name):
        self.ws = ws
        self.name = name
        self.got = []        # (sender, seq) of the test's messages, in arrival order
        self.probes = set()
        self.binary = 0
        self.task = asyncio.ensure_future(self.read())

    async def read(self):
        try:
            async for msg in self.ws:
                if isinstance(msg, bytes):
                    self.binary += 1
                    continue
                if msg.startswith("probe:"):
                    self.probes.add(msg)
                    continue
                s, q = msg.split(":")
                self.got.append((s, int(q)))
        except websockets.ConnectionClosed:
            pass


async def connect_all(servers):
    members = []
    for si, srv in enumerate(servers):
        for i in range(PER_INSTANCE):
            ws = await websockets.connect("ws://127.0.0.1:%d/room" % srv.port,
                                          open_timeout=H.scaled(10), compression=None)
            members.append(Member(ws, "%d.%d" % (si, i)))
    return members


async def wait_until(pred, timeout):
    deadline = time.monotonic() + H.scaled(timeout)
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.05)
    return pred()


async def wait_room_ready(members, senders, tag, timeout=20):
    """Probes from every sender until each member heard one from each:
    every worker with members is subscribed again."""
    n = 0
    deadline = time.monotonic() + H.scaled(timeout)
    while time.monotonic() < deadline:
        for s in senders:
            await s.ws.send("probe:%s:%s:%d" % (tag, s.name, n))
        n += 1
        if await wait_until(lambda: all(
                all(any(p.startswith("probe:%s:%s:" % (tag, s.name)) for p in m.probes)
                    for s in senders) for m in members), 0.5):
            return True
    return False


def check_order(testcase, members, expect):
    """Each member got exactly expect[sender] messages 0..n-1, in order."""
    for m in members:
        per = {}
        for s, q in m.got:
            per.setdefault(s, []).append(q)
        testcase.assertEqual(set(per), set(expect), "member %s senders" % m.name)
        for s, qs in per.items():
            testcase.assertEqual(qs, list(range(expect[s])),
                                 "member %s, sender %s: %d messages, first bad at %s" % (
                                     m.name, s, len(qs),
                                     next((i for i, q in enumerate(qs) if q != i), None)))
        testcase.assertEqual(m.binary, 0, "member %s got binary messages" % m.name)


class RoomsAcrossInstances(unittest.TestCase):
    def setUp(self):
        self.broker = B.Broker().start()
        self.servers = []
        try:
            self.servers = [start_instance(self.broker), start_instance(self.broker)]
        except Exception:
            self.tearDown()
            raise

    def tearDown(self):
        for s in self.servers:
            s.stop()
            self.assertFalse(s.sanitizer_report(), s.sanitizer_report())
        self.broker.close()

    def test_across_and_restart(self):
        asyncio.run(self.run_rooms())

    async def run_rooms(self):
        members = await connect_all(self.servers)
        senders = members[:SENDERS // 2] + members[PER_INSTANCE:PER_INSTANCE + SENDERS // 2]
        self.assertTrue(await wait_room_ready(members, senders, "a"),
                        "probes did not reach every member of both instances")
        for m in members:
            m.got.clear()

        async def send(s, first, count):
            for q in range(first, first + count):
                await s.ws.send("%s:%d" % (s.name, q))
        await asyncio.gather(*(send(s, 0, MESSAGES) for s in senders))
        total = SENDERS * MESSAGES
        ok = await wait_until(lambda: all(len(m.got) >= total for m in members), 30)
        await asyncio.sleep(0.3)  # duplicates, if any, arrive now
        self.assertTrue(ok, "after 30 s: fewest messages at one member %d of %d" % (
            min(len(m.got) for m in members), total))
        check_order(self, members, {s.name: MESSAGES for s in senders})

        # the broker goes away: what is sent meanwhile is dropped and counted
        self.broker.stop()
        await asyncio.sleep(0.5)
        before = sum(W.metric(W.fetch_metrics(s.port, "/ws/metrics"),
                              "websocket_room_drops_total") for s in self.servers)
        for s in (senders[0], senders[-1]):
            await s.ws.send("%s:%d" % (s.name, 9999))
        dropped = await wait_until(lambda: sum(
            W.metric(W.fetch_metrics(s.port, "/ws/metrics"), "websocket_room_drops_total")
            for s in self.servers) >= before + 2, 5)
        self.assertTrue(dropped, "websocket_room_drops_total did not count 2 drops")

        # it comes back: the room resumes, nobody was closed
        self.broker.start()
        self.assertTrue(await wait_room_ready(members, senders, "b", timeout=30),
                        "the room did not resume after the broker restarted")
        for m in members:
            self.assertIsNone(m.ws.close_code, "member %s was closed" % m.name)
            m.got.clear()
        await asyncio.gather(*(send(s, 0, 5) for s in senders))
        ok = await wait_until(lambda: all(len(m.got) >= SENDERS * 5 for m in members), 20)
        await asyncio.sleep(0.3)
        self.assertTrue(ok, "after the restart: fewest messages %d of %d" % (
            min(len(m.got) for m in members), SENDERS * 5))
        check_order(self, members, {s.name: 5 for s in senders})

        for m in members:
            await m.ws.close()
        await asyncio.gather(*(m.task for m in members))
        for m in members:
            self.assertEqual(m.ws.close_code, 1000)


class WithoutMqtt(unittest.TestCase):
    def test_room_topic_needs_mod_mqtt(self):
        srv = H.Server(modules=["websocket"],
                       routes=[("/room", {"module": "websocket", "mode": "broadcast",
                                          "room_topic": TOPIC})])
        # worker_init fails after the listener may have accepted the
        # harness's probe: either start() sees the exit, or the process
        # exits (non-zero) within a bounded wait.
        try:
            srv.start()
        except H.ServerStartError as e:
            text = str(e)
        else:
            rc = srv.wait_exit(H.scaled(10))
            if rc is None:
                srv.stop()
            self.assertNotIn(rc, (None, 0), "the server ran with room_topic and no mod_mqtt")
            text = srv.stderr_text()
        self.assertIn("room_topic needs mod_mqtt", text + srv.error_log_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
