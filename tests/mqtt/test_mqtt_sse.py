#!/usr/bin/python3
"""test_mqtt_sse.py — subscribe as Server-Sent Events
(GET {route}/subscribe?topic=FILTER) against a real Mosquitto: curl -N over
HTTP/1.1 and HTTP/2 sees what mosquitto_pub sends (retained and live, text
and binary, ids in order, nothing outside the filter), two subscribers of
one filter each get its retained message, the refusals (400, 403, 405),
Last-Event-ID, heartbeats, 200 subscriptions on one HTTP/2 connection
(python3-h2) each with only its own topic, a subscriber that does not read
ended with `event: overflow` while a fast one gets everything, the broker
restarted (status, then missed, then delivery again, no descriptor left
behind), and server drain ending every stream with `event: closing`."""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import h2.config
import h2.connection
import h2.events
import h2.settings
import paho.mqtt.client as paho

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import broker as B  # noqa: E402
import harness as H  # noqa: E402


def parse_events(text):
    """The events of an event-stream text: dicts with event, id, data (and
    comment for `:` lines), in order; the last block only when complete."""
    out = []
    for block in text.split("\n\n")[:-1]:
        ev = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                ev["comment"] = line[1:].strip()
                continue
            name, _, value = line.partition(":")
            ev[name] = value[1:] if value.startswith(" ") else value
        if ev:
            out.append(ev)
    return out


class CurlStream:
    """curl -N on an event stream, its output collected by a thread."""

    def __init__(self, port, query, http2=False, headers=()):
        cmd = ["curl", "-sS", "-N", "--max-time", str(int(H.scaled(60))),
               "http://127.0.0.1:%d/mqtt/subscribe?%s" % (port, query)]
        if http2:
            cmd.insert(1, "--http2-prior-knowledge")
        for h in headers:
            cmd += ["-H", h]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = b""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            with self.lock:
                self.buf += chunk

    def text(self):
        with self.lock:
            return self.buf.decode("utf-8", "replace")

    def events(self):
        return parse_events(self.text())

    def messages(self):
        return [e for e in self.events() if "id" in e and e.get("event") is None]

    def wait(self, pred, timeout=10):
        return H.wait_for(lambda: pred(self.events()), H.scaled(timeout), interval=0.05)

    def wait_messages(self, n, timeout=10):
        return H.wait_for(lambda: len(self.messages()) >= n, H.scaled(timeout), interval=0.05)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.thread.join(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


def publisher(broker):
    c = paho.Client(client_id="sse-test-pub-%d" % os.getpid(), protocol=paho.MQTTv311)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    return c


class H2Streams:
    """One python3-h2 connection carrying many event-stream requests."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=H.scaled(10))
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
        self.sock.sendall(self.conn.data_to_send())
        self.data = {}     # stream id -> bytes
        self.status = {}   # stream id -> status
        self.resets = []

    def get(self, path):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"),
                                     (":authority", "127.0.0.1"), (":path", path)],
                               end_stream=True)
        self.data[sid] = b""
        return sid

    def pump(self, until, timeout):
        self.sock.sendall(self.conn.data_to_send())
        deadline = time.monotonic() + H.scaled(timeout)
        while not until() and time.monotonic() < deadline:
            self.sock.settimeout(0.2)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not chunk:
                break
            for ev in self.conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived):
                    self.status[ev.stream_id] = dict(ev.headers)[b":status"]
                elif isinstance(ev, h2.events.DataReceived):
                    self.data[ev.stream_id] += ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    self.resets.append(ev.stream_id)
            self.sock.sendall(self.conn.data_to_send())
        return until()

    def messages(self, sid):
        return [json.loads(e["data"]) for e in parse_events(self.data[sid].decode())
                if "id" in e and e.get("event") is None]

    def close(self):
        self.sock.close()


class EventStreams(unittest.TestCase):
    SERVER = {"workers": 2, "log_level": "info"}
    ROUTE = {}

    def setUp(self):
        self.broker = B.Broker()
        self.addCleanup(self.broker.close)
        self.broker.start()
        route = {"module": "mqtt", "broker": self.broker.address,
                 "publish": "demo/#", "subscribe": "demo/#, t/#"}
        route.update(self.ROUTE)
        self.srv = H.Server(server=self.SERVER, routes=[("/mqtt", route)],
                            modules=["websocket", "mqtt"], protocols="http/1.1, h2c")
        self.addCleanup(lambda: (self.srv.stop(), self.srv.cleanup()))
        self.srv.start()

    def stream(self, query, **kw):
        s = CurlStream(self.srv.port, query, **kw)
        self.addCleanup(s.close)
        return s

    def log(self):
        return self.srv.error_log_text()[-3000:]


class Delivery(EventStreams):
    ROUTE = {"sse_heartbeat": "300ms"}

    def check_delivery(self, http2):
        topic = "demo/%s" % ("h2" if http2 else "h1")
        B.mosquitto_pub(self.broker, topic + "/kept", "kept one", retain=True)
        s = self.stream("topic=%s/%%23&qos=1" % topic, http2=http2)
        self.assertTrue(s.wait_messages(1), (s.text(), self.log()))
        self.assertTrue(s.text().startswith("retry: 2000\n\n"), s.text()[:100])
        B.mosquitto_pub(self.broker, "demo/other", "not for this stream")
        B.mosquitto_pub(self.broker, topic + "/text", 'say "hi"\nand bye', qos=1)
        with tempfile.NamedTemporaryFile() as f:
            f.write(bytes(range(128, 256)) + b"\x00\x01")
            f.flush()
            subprocess.run(["mosquitto_pub", "-p", str(self.broker.port), "-t", topic + "/bin",
                            "-f", f.name], check=True, timeout=10)
        self.assertTrue(s.wait_messages(3), (s.text(), self.log()))
        msgs = s.messages()
        self.assertEqual([m["id"] for m in msgs], ["1", "2", "3"])
        data = [json.loads(m["data"]) for m in msgs]
        self.assertEqual(data[0], {"topic": topic + "/kept", "payload": "kept one",
                                   "retain": True, "qos": 0})
        self.assertEqual(data[1], {"topic": topic + "/text", "payload": 'say "hi"\nand bye',
                                   "retain": False, "qos": 1})
        self.assertEqual(data[2]["encoding"], "base64")
        self.assertEqual(base64.b64decode(data[2]["payload"]), bytes(range(128, 256)) + b"\0\1")
        # idle: heartbeat comments keep proxies from timing it out
        self.assertTrue(s.wait(lambda evs: any(e.get("comment") == "ping" for e in evs)),
                        s.text())
        self.assertNotIn("not for this stream", s.text())

    def test_curl_over_http1_sees_mosquitto_pub(self):
        self.check_delivery(False)

    def test_curl_over_http2_sees_mosquitto_pub(self):
        self.check_delivery(True)

    def test_each_subscriber_of_a_filter_gets_its_retained_message_once(self):
        B.mosquitto_pub(self.broker, "demo/shared", "state", retain=True)
        first = self.stream("topic=demo/shared")
        self.assertTrue(first.wait_messages(1), self.log())
        second = self.stream("topic=demo/shared", http2=True)  # may share a worker's filter
        third = self.stream("topic=demo/shared")
        self.assertTrue(second.wait_messages(1) and third.wait_messages(1), self.log())
        B.mosquitto_pub(self.broker, "demo/shared", "live")
        for s in (first, second, third):
            self.assertTrue(s.wait_messages(2), s.text())
        time.sleep(H.scaled(0.5))
        for s in (first, second, third):
            payloads = [json.loads(m["data"])["payload"] for m in s.messages()]
            self.assertEqual(payloads, ["state", "live"], s.text())

    def test_last_event_id_is_recognised(self):
        s = self.stream("topic=demo/resume", headers=["Last-Event-ID: 41"])
        self.assertTrue(s.wait(lambda evs: any(e.get("event") == "missed" for e in evs)),
                        s.text())
        time.sleep(H.scaled(0.5))  # the subscription made
        B.mosquitto_pub(self.broker, "demo/resume", "after")
        self.assertTrue(s.wait_messages(1), s.text())
        evs = [e for e in s.events() if "comment" not in e and "retry" not in e]
        self.assertEqual(evs[0].get("event"), "missed")
        self.assertEqual(s.messages()[0]["id"], "42")

    def test_refusals(self):
        cases = [("/mqtt/subscribe", 400),                      # no topic
                 ("/mqtt/subscribe?topic=", 400),
                 ("/mqtt/subscribe?topic=demo/%23/x", 400),     # # not last
                 ("/mqtt/subscribe?topic=demo/a%2Bb", 400),     # + inside a level
                 ("/mqtt/subscribe?topic=demo/a&qos=3", 400),
                 ("/mqtt/subscribe?topic=other/%23", 403),      # outside the rules
                 ("/mqtt/subscribe?topic=%23", 403),
                 ("/mqtt/subscribe?topic=$SYS/%23", 403)]
        for path, want in cases:
            r = H.http_request(self.srv.port, "GET", path)
            self.assertEqual(r.status, want, (path, r.body))
        r = H.http_request(self.srv.port, "POST", "/mqtt/subscribe?topic=demo/a")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.header("allow"), "GET")
        self.assertIn("mqtt rule: subscribe: event stream on other/#", self.log())


class ManyOnOneConnection(EventStreams):
    SERVER = dict(EventStreams.SERVER, h2_max_concurrent_streams=256)
    N = 200

    def test_200_subscriptions_on_one_http2_connection(self):
        pub = publisher(self.broker)
        self.addCleanup(lambda: (pub.loop_stop(), pub.disconnect()))
        for i in range(self.N):
            pub.publish("t/%d" % i, "retained %d" % i, qos=1, retain=True).wait_for_publish()
        c = H2Streams(self.srv.port)
        self.addCleanup(c.close)
        sids = [c.get("/mqtt/subscribe?topic=t/%d" % i) for i in range(self.N)]
        got = c.pump(lambda: all(len(c.messages(s)) >= 1 for s in sids), 30)
        self.assertTrue(got, (sum(len(c.messages(s)) >= 1 for s in sids), c.status, self.log()))
        for i in range(self.N):
            pub.publish("t/%d" % i, "live %d" % i, qos=1).wait_for_publish()
        got = c.pump(lambda: all(len(c.messages(s)) >= 2 for s in sids), 30)
        self.assertTrue(got, sum(len(c.messages(s)) >= 2 for s in sids))
        c.pump(lambda: False, 0.5)  # anything extra would show now
        self.assertEqual(c.resets, [])
        for i, sid in enumerate(sids):
            self.assertEqual(c.status[sid], b"200")
            self.assertEqual([(m["topic"], m["payload"], m["retain"]) for m in c.messages(sid)],
                             [("t/%d" % i, "retained %d" % i, True),
                              ("t/%d" % i, "live %d" % i, False)])


class BurstOfSubscribers(EventStreams):
    """One worker: SUBSCRIBEs for one filter go out back to back, each before
    the last one's SUBACK came back; every subscriber still gets the
    retained message exactly once (the earliest one, already served, none
    of the later copies)."""
    SERVER = dict(EventStreams.SERVER, workers=1)
    N = 12

    def test_burst_gets_the_retained_message_once_each(self):
        B.mosquitto_pub(self.broker, "demo/burst", "state", retain=True)
        c = H2Streams(self.srv.port)
        self.addCleanup(c.close)
        early = c.get("/mqtt/subscribe?topic=demo/burst")
        self.assertTrue(c.pump(lambda: len(c.messages(early)) >= 1, 10), self.log())
        sids = [early] + [c.get("/mqtt/subscribe?topic=demo/burst") for _ in range(self.N)]
        self.assertTrue(c.pump(lambda: all(len(c.messages(s)) >= 1 for s in sids), 10),
                        (c.status, self.log()))
        B.mosquitto_pub(self.broker, "demo/burst", "live")
        self.assertTrue(c.pump(lambda: all(len(c.messages(s)) >= 2 for s in sids), 10))
        c.pump(lambda: False, 0.5)  # a late extra copy would show now
        for sid in sids:
            self.assertEqual([(m["payload"], m["retain"]) for m in c.messages(sid)],
                             [("state", True), ("live", False)], "stream %d" % sid)


class SlowSubscriber(EventStreams):
    SERVER = dict(EventStreams.SERVER, workers=1, max_queued_output="64k")
    ROUTE = {"sse_queue": "16k"}

    def test_slow_subscriber_is_ended_with_overflow(self):
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
        self.addCleanup(slow.close)
        slow.connect(("127.0.0.1", self.srv.port))
        slow.sendall(b"GET /mqtt/subscribe?topic=demo/flood HTTP/1.1\r\nHost: x\r\n\r\n")
        fast = self.stream("topic=demo/flood", http2=True)
        self.assertTrue(H.wait_for(lambda: "retry: " in fast.text(), H.scaled(5)))
        time.sleep(H.scaled(0.5))  # both subscriptions made
        pub = publisher(self.broker)
        self.addCleanup(lambda: (pub.loop_stop(), pub.disconnect()))
        payload = "x" * 32768
        sent = 0
        # bounded by bytes: the kernel's buffers (a few MiB at most) plus
        # max_queued_output and sse_queue must overflow well before 256 MiB
        while "fell" not in self.srv.error_log_text() and sent < 8192:
            pub.publish("demo/flood", payload, qos=1).wait_for_publish()
            sent += 1
            if sent % 32 == 0:  # let the fast reader keep up
                fast.wait_messages(sent - 64, timeout=5)
        self.assertIn("fell", self.srv.error_log_text(), sent)
        self.assertRegex(self.srv.error_log_text(),
                         r"mqtt subscriber to demo/flood fell \d+ bytes behind \(sse_queue 16384\)")
        # the slow one reads now: its stream ends with the overflow event
        slow.settimeout(H.scaled(10))
        data = b""
        deadline = time.monotonic() + H.scaled(20)
        while not data.endswith(b"\r\n0\r\n\r\n") and time.monotonic() < deadline:
            chunk = slow.recv(1 << 16)
            if not chunk:
                break
            data += chunk
        self.assertTrue(data.endswith(b"\r\n0\r\n\r\n"), data[-200:])
        self.assertIn(b"event: overflow\ndata: {\"queued\":", data)
        # the fast one was not ended and got every message, in order
        self.assertTrue(fast.wait_messages(sent, timeout=20), (len(fast.messages()), sent))
        self.assertEqual([int(m["id"]) for m in fast.messages()], list(range(1, sent + 1)))
        self.assertNotIn("overflow", fast.text())


class BrokerRestart(EventStreams):
    def cycle(self, streams):
        n = [len(s.events()) for s in streams]
        self.broker.stop()
        for s, k in zip(streams, n):
            self.assertTrue(s.wait(lambda evs, k=k: any(
                e.get("event") == "status" and json.loads(e["data"]) == {"broker": "down"}
                for e in evs[k:])), (s.text(), self.log()))
        self.broker.start()
        for s, k in zip(streams, n):
            self.assertTrue(s.wait(lambda evs, k=k: any(e.get("event") == "missed"
                                                        for e in evs[k:]), 15),
                            (s.text(), self.log()))
        m = [len(s.messages()) for s in streams]
        B.mosquitto_pub(self.broker, "demo/r", "after restart")
        for s, k in zip(streams, m):
            self.assertTrue(s.wait_messages(k + 1), s.text())
            self.assertEqual(json.loads(s.messages()[-1]["data"])["payload"], "after restart")

    def test_broker_restart_resumes_streams(self):
        # both workers hold a stream (their broker clients made and connected)
        streams = [self.stream("topic=demo/r", http2=(i % 2 == 1)) for i in range(4)]
        for s in streams:
            self.assertTrue(s.wait(lambda evs: len(evs) >= 1), s.text())
        time.sleep(H.scaled(0.5))
        self.cycle(streams)
        fds = self.srv.num_fds()
        self.cycle(streams)
        self.assertTrue(H.wait_for(lambda: self.srv.num_fds() <= fds, H.scaled(5)),
                        (fds, self.srv.num_fds()))


class Drain(EventStreams):
    def test_drain_ends_every_stream_with_closing(self):
        streams = [self.stream("topic=demo/d", http2=(i % 2 == 1)) for i in range(4)]
        for s in streams:
            self.assertTrue(s.wait(lambda evs: len(evs) >= 1), s.text())
        self.srv.signal()
        self.assertEqual(self.srv.wait_exit(H.scaled(10)), 0, self.srv.diagnostics())
        for s in streams:
            self.assertEqual(s.proc.wait(H.scaled(10)), 0, s.proc.stderr.read())
            s.thread.join(5)
            evs = [e for e in s.events() if "comment" not in e]
            self.assertEqual(evs[-1].get("event"), "closing", s.text())
        self.srv.assert_clean_exit()


if __name__ == "__main__":
    unittest.main(verbosity=2)
