#!/usr/bin/python3
"""test_ws_broadcast.py — mod_websocket's broadcast rooms, as a user of a chat
room would check them, against one server with 2 workers.

  room      1000 clients in room r1 (980 lean asyncio clients framing by
            hand, 10 python3-websockets clients offering permessage-deflate,
            10 RFC 8441 streams on one h2c connection);
            100 of them send 100 text messages each ("SSS:QQQQ", sender and
            sequence). Every client gets each of the 10,000 messages exactly
            once and every sender's messages in the order sent; both worker
            threads did delivery work; the metrics count 1000 sessions,
            10,000 messages in and 10,000,000 out; every session then closes
            with 1000.
  slow, close        send_queue = 64k, slow_consumer = close: a client that
            never reads (raw socket, small SO_RCVBUF) while 4 senders push
            6.4 MB to the room at 3.2 MB/s is closed with 1008 (seen on the wire once it
            reads again); websocket_slow_consumer_total{policy="close"} and
            closes_total{code="1008"} grow; the other 10 members get every
            message, in about the time they take without the slow one.
  slow, drop_oldest  the same room with slow_consumer = drop_oldest: the
            slow client stays open, the counter grows, the others get
            everything; what the slow one gets later is in order per sender
            without duplicates, fewer than all, ending with the newest; it
            can still close with 1000.

Sizes can be lowered for a quick look (IRIDIUM_WS_ROOM_CLIENTS, _SENDERS,
_MESSAGES); the defaults are the issue's. Every wait is bounded; only
127.0.0.1 is used.
"""

import asyncio
import os
import socket
import struct
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import wsrooms_wire as W  # noqa: E402
from wsrooms_wire import H  # noqa: E402

import websockets  # noqa: E402

CLIENTS = int(os.environ.get("IRIDIUM_WS_ROOM_CLIENTS", "1000"))
SENDERS = int(os.environ.get("IRIDIUM_WS_ROOM_SENDERS", "100"))
MESSAGES = int(os.environ.get("IRIDIUM_WS_ROOM_MESSAGES", "100"))
LIB_CLIENTS = min(10, CLIENTS // 10)  # python3-websockets members of the big room
H2_CLIENTS = min(10, CLIENTS // 10)   # HTTP/2 members: streams of one h2c connection
ID_LEN = 8  # b"SSS:QQQQ"

SLOW_MEMBERS = 10       # reading members of the slow-consumer rooms
SLOW_SENDERS = 4
SLOW_MESSAGES = 200
SLOW_SIZE = 8 * 1024    # 4 x 200 x 8 KiB = 6.4 MB toward each member: more than the
                        # ~3 MB the kernel takes for a client that does not read
SLOW_PACE = 0.01        # s between the senders' rounds: 3.2 MB/s toward each member

SRV = None


def msg_id(sender, seq):
    return b"%03d:%04d" % (sender, seq)


def setUpModule():
    global SRV
    W.check_websocket_module()
    H.raise_nofile(4 * CLIENTS + 512)  # ours and the server's (inherited) fds
    common = {"module": "websocket", "mode": "broadcast", "ping_interval": "0"}
    SRV = W.C.H2Server(
        server={"workers": 2, "log_level": "info"},
        protocols="http/1.1, h2c",
        modules=["websocket"],
        routes=[("/ws/room", dict(common, room="r1")),
                ("/ws/slowclose", dict(common, room="r2", send_queue="64k",
                                       slow_consumer="close")),
                ("/ws/slowdrop", dict(common, room="r3", send_queue="64k",
                                      slow_consumer="drop_oldest")),
                ("/ws/metrics", {"module": "websocket", "mode": "metrics"})])
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


def metrics():
    return W.fetch_metrics(SRV.port, "/ws/metrics")


def thread_cpu(pid):
    """{tid: utime+stime ticks} of every thread of pid."""
    out = {}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/stat" % (base, tid)) as f:
                parts = f.read().rsplit(")", 1)[1].split()
            out[int(tid)] = int(parts[11]) + int(parts[12])
        except (OSError, IndexError, ValueError):
            pass
    return out


# --------------------------------------------------------------------------
# a lean client: the handshake and the frames by hand, so that 1000 of them
# take 10 million messages in a few seconds of Python


class RawMember(asyncio.Protocol):
    """One room member. Received text messages are checked for framing and
    their first ID_LEN bytes appended to self.ids; control frames are
    handled (ping -> pong, close -> recorded and echoed)."""

    def __init__(self, loop, path, port, want, size=ID_LEN):
        self.loop = loop
        self.path, self.port = path, port
        self.want = want          # messages expected
        self.size = size          # each message's length
        self.key = W.new_key()
        self.head = bytearray()
        self.upgraded = loop.create_future()
        self.done = loop.create_future()
        self.lost = loop.create_future()
        self.buf = bytearray()
        self.ids = bytearray()
        self.count = 0
        self.bad = []
        self.close_code = None
        self.close_sent = False
        self.frag = None
        self.transport = None
        self.t_done = None

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req, self.key = W.h1_upgrade_request(self.path, self.port, key=self.key)
        transport.write(req)

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the handshake: %r"
                                                        % bytes(self.head[:300])))

    def data_received(self, data):
        if not self.upgraded.done():
            self.head += data
            i = self.head.find(b"\r\n\r\n")
            if i < 0:
                return
            head = bytes(self.head[:i]).decode("latin-1")
            rest = bytes(self.head[i + 4:])
            lines = head.split("\r\n")
            hs = {}
            for l in lines[1:]:
                n, _, v = l.partition(":")
                hs[n.strip().lower()] = v.strip()
            if not lines[0].startswith("HTTP/1.1 101") or \
                    hs.get("sec-websocket-accept") != W.accept_for(self.key):
                self.upgraded.set_exception(AssertionError("handshake answer: %r" % head))
                self.transport.close()
                return
            self.upgraded.set_result(True)
            data = rest
            if not data:
                return
        self._frames(data)

    def _frames(self, data):
        buf = self.buf
        buf += data
        pos, n = 0, len(buf)
        ids, size = self.ids, self.size
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            if b0 == 0x81 and b1 == size and self.frag is None:  # the common case
                if n - pos < 2 + size:
                    break
                ids += buf[pos + 2:pos + 2 + ID_LEN]
                self.count += 1
                pos += 2 + size
                continue
            ln, hl = b1 & 0x7F, 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln, hl = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln, hl = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if b1 & 0x80:
                self.bad.append("masked server frame")
                hl += 4
            if n - pos < hl + ln:
                break
            payload = bytes(buf[pos + hl:pos + hl + ln])
            pos += hl + ln
            self._frame(b0, payload)
        del buf[:pos]
        if self.count >= self.want and not self.done.done():
            self.t_done = time.monotonic()
            self.done.set_result(True)

    def _frame(self, b0, payload):
        fin, rsv, op = b0 & 0x80, (b0 >> 4) & 7, b0 & 0xF
        if rsv:
            self.bad.append("RSV bits 0x%x without an extension" % rsv)
        if op == W.OP_PING:
            self.transport.write(W.frame(W.OP_PONG, payload))
            return
        if op == W.OP_PONG:
            return
        if op == W.OP_CLOSE:
            self.close_code = W.close_code(payload)[0]
            if not self.close_sent:
                self.close_sent = True
                self.transport.write(W.frame(W.OP_CLOSE, payload[:2]))
            return
        if op == W.OP_CONT:
            if self.frag is None:
                self.bad.append("continuation without a start")
                return
            self.frag.append(payload)
        elif op in (W.OP_TEXT, W.OP_BINARY):
            if self.frag is not None:
                self.bad.append("a new message inside a fragmented one")
            if op != W.OP_TEXT:
                self.bad.append("binary message in a text room")
            self.frag = [payload]
        else:
            self.bad.append("opcode %d" % op)
            return
        if fin:
            msg = b"".join(self.frag)
            self.frag = None
            if len(msg) != self.size:
                self.bad.append("a message of %d bytes, sent %d" % (len(msg), self.size))
            self.ids += msg[:ID_LEN].ljust(ID_LEN, b"?")
            self.count += 1

    def send(self, data):
        self.transport.write(data)

    def close(self, code=1000):
        if not self.close_sent and not self.transport.is_closing():
            self.close_sent = True
            self.transport.write(W.frame(W.OP_CLOSE, W.close_payload(code)))


async def connect_members(loop, path, n, want, size=ID_LEN, batch=50):
    members = []
    for i in range(0, n, batch):
        group = []
        for _ in range(min(batch, n - i)):
            _, m = await loop.create_connection(
                lambda: RawMember(loop, path, SRV.port, want, size), H.HOST, SRV.port)
            group.append(m)
        await asyncio.wait_for(asyncio.gather(*[m.upgraded for m in group]), H.scaled(20))
        members += group
    return members


def sender_frames(sender, nmsgs, size):
    pad = b"." * (size - ID_LEN)
    return [W.frame(W.OP_TEXT, msg_id(sender, q) + pad) for q in range(nmsgs)]


async def send_all(senders, nmsgs, size, chunk=10, pace=0.0):
    """Each sender writes its messages in order, chunk at a time, the
    senders interleaved, pace seconds between rounds."""
    frames = [sender_frames(i, nmsgs, size) for i in range(len(senders))]
    for start in range(0, nmsgs, chunk):
        for m, fs in zip(senders, frames):
            m.send(b"".join(fs[start:start + chunk]))
        await asyncio.sleep(pace)


def check_ids(ids, nsenders, nmsgs, expected):
    """Problems (text) with one member's received ids: each message exactly
    once, each sender's in order. Python's sort is stable, so sorting by
    sender keeps each sender's order as received."""
    recs = [bytes(ids[i:i + ID_LEN]) for i in range(0, len(ids), ID_LEN)]
    if len(recs) == len(expected) and sorted(recs, key=lambda r: r[:3]) == expected:
        return None
    per = {}
    for r in recs:
        per.setdefault(r[:3], []).append(r[4:])
    for s in range(nsenders):
        got = per.get(b"%03d" % s, [])
        want = [b"%04d" % q for q in range(nmsgs)]
        if got != want:
            dup = len(got) - len(set(got))
            return ("sender %d: %d messages (want %d), %d duplicates, first differences %r"
                    % (s, len(got), nmsgs, dup,
                       [(i, a, b) for i, (a, b) in enumerate(zip(got, want)) if a != b][:5]))
    return "%d messages (want %d); unknown ids %r" % (
        len(recs), len(expected), [r for r in recs if not r[:3].isdigit()][:5])


def check_subsequence(ids, nsenders, nmsgs):
    """For a member that may have lost messages: no duplicates, no unknown
    ids, each sender's strictly increasing."""
    last = {}
    n = 0
    for i in range(0, len(ids), ID_LEN):
        r = bytes(ids[i:i + ID_LEN])
        n += 1
        try:
            s, q = int(r[:3]), int(r[4:])
        except ValueError:
            return "unknown id %r" % r
        if s >= nsenders or q >= nmsgs:
            return "unknown id %r" % r
        if q <= last.get(s, -1):
            return "sender %d: %d after %d (duplicate or out of order)" % (s, q, last[s])
        last[s] = q
    return None


# --------------------------------------------------------------------------
# the python3-websockets members


async def lib_member(uri, want, ready, out):
    async with websockets.connect(uri, max_size=None, max_queue=None, open_timeout=H.scaled(20),
                                  close_timeout=H.scaled(5), ping_interval=None) as ws:
        out["extensions"] = [e.name for e in ws.extensions]
        ready.set_result(True)
        ids = bytearray()
        n = 0
        while n < want:
            m = await ws.recv()
            if not isinstance(m, str):
                out["bad"] = "binary message %r" % m[:40]
            ids += m.encode()[:ID_LEN]
            n += 1
        out["ids"] = ids
        out["t_done"] = time.monotonic()
        await ws.close(1000)
        out["close_code"] = ws.close_code


# --------------------------------------------------------------------------
# HTTP/2 members: RFC 8441 streams on one h2c connection, pumped by a thread


class H2Members(threading.Thread):
    def __init__(self, n, want):
        super().__init__(daemon=True)
        self.n, self.want = n, want
        self.ready = threading.Event()
        self.go_close = threading.Event()
        self.stop = False
        self.error = None
        self.sids = []
        self.ids = {}
        self.close_codes = {}
        self.bad = []
        self.t_done = None
        self.c = None
        self.seen, self.counts = {}, {}

    def run(self):
        try:
            self._run()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = "%s: %s" % (type(e).__name__, e)
            self.ready.set()

    def received(self, sid):
        """Text messages on sid so far (counted as they come)."""
        st = self.c.streams[sid]
        self.c._take(st)
        q, i = st.ws_queue, self.seen.get(sid, 0)
        self.counts[sid] = self.counts.get(sid, 0) + sum(1 for op, _ in q[i:] if op == W.OP_TEXT)
        self.seen[sid] = len(q)
        return self.counts[sid]

    def _run(self):
        c = self.c = W.H2WS(SRV.port, window=16 << 20)
        if not c.wait_settings():
            raise AssertionError("no SETTINGS")
        self.sids = [c.connect_ws("/ws/room") for _ in range(self.n)]
        for sid in self.sids:
            st = c.wait_headers(sid, timeout=20)
            if st.status != 200:
                raise AssertionError("extended CONNECT to /ws/room: %s" % c.describe(sid))
        self.ready.set()
        deadline = time.monotonic() + H.scaled(120)
        while not self.stop and time.monotonic() < deadline:
            c.pump(lambda: self.stop or all(self.received(s) >= self.want for s in self.sids),
                   timeout=0.5)
            if all(self.received(s) >= self.want for s in self.sids):
                self.t_done = time.monotonic()
                break
        time.sleep(H.scaled(0.5))  # a duplicate would show up now
        c.pump(timeout=0.2)
        for sid in self.sids:
            st = c.streams[sid]
            self.c._take(st)
            ids = bytearray()
            for op, payload in st.ws_queue:
                if op == W.OP_TEXT:
                    ids += payload[:ID_LEN]
                else:
                    self.bad.append("stream %d: opcode %d" % (sid, op))
            self.ids[sid] = ids
            self.bad += st.ws.bad
            st.ws_queue = []
        self.go_close.wait(H.scaled(120))
        for sid in self.sids:
            c.send_frame(sid, W.OP_CLOSE, W.close_payload(1000))
        for sid in self.sids:
            code, _, _ = c.recv_close(sid, timeout=10)
            self.close_codes[sid] = code
            c.wait_end(sid)
        c.close()


# --------------------------------------------------------------------------


class Room(unittest.TestCase):
    def test_1000_members_every_message_once_in_order(self):
        asyncio.run(self.room())

    async def room(self):
        loop = asyncio.get_running_loop()
        total = SENDERS * MESSAGES
        expected = sorted((msg_id(s, q) for s in range(SENDERS) for q in range(MESSAGES)),
                          key=lambda r: r[:3])
        before = metrics()
        h2m = H2Members(H2_CLIENTS, total)
        h2m.start()
        self.addCleanup(lambda: (setattr(h2m, "stop", True), h2m.go_close.set(), h2m.join(10)))
        raw = await connect_members(loop, "/ws/room", CLIENTS - LIB_CLIENTS - H2_CLIENTS, total)
        self.addCleanup(lambda: [m.transport.abort() for m in raw])
        libs = []
        for _ in range(LIB_CLIENTS):
            ready, out = loop.create_future(), {}
            task = asyncio.ensure_future(lib_member("ws://127.0.0.1:%d/ws/room" % SRV.port, total,
                                                    ready, out))
            libs.append((ready, out, task))
        await asyncio.wait_for(asyncio.gather(*[r for r, _, _ in libs]), H.scaled(20))
        await loop.run_in_executor(None, h2m.ready.wait, H.scaled(20))
        self.assertIsNone(h2m.error, "HTTP/2 members")
        self.assertEqual(metric_delta(before, metrics(), "websocket_sessions_open"), CLIENTS,
                         "sessions open once every member had its 101")

        cpu0 = thread_cpu(SRV.pid)
        t0 = time.monotonic()
        await send_all(raw[:SENDERS], MESSAGES, ID_LEN)
        pending = [m.done for m in raw] + [t for _, _, t in libs]
        done, not_done = await asyncio.wait(pending, timeout=H.scaled(120))
        await loop.run_in_executor(None, lambda: H.wait_for(lambda: h2m.ids, H.scaled(30)))
        t_all = time.monotonic() - t0
        cpu1 = thread_cpu(SRV.pid)
        late = [m for m in raw if not m.done.done()]
        late_libs = [t for _, _, t in libs if not t.done()]
        self.assertFalse(late or late_libs,
                         "%d lean and %d python3-websockets members (of %d) did not get all %d "
                         "messages within %.0fs; counts of the first: %r%s"
                         % (len(late), len(late_libs), CLIENTS, total, t_all,
                            [m.count for m in late[:10]], SRV.diagnostics()))
        for _, out, task in libs:
            self.assertTrue(task.done() and task.exception() is None,
                            "python3-websockets member: %r %r" %
                            (task.exception() if task.done() else "not done", out.keys()))
        await asyncio.sleep(H.scaled(0.5))  # a duplicate would show up now
        print("room: %d members, %d messages -> %d deliveries in %.2fs" %
              (CLIENTS, total, CLIENTS * total, t_all), file=sys.stderr)

        for i, m in enumerate(raw):
            self.assertEqual(m.bad, [], "member %d: frames %r" % (i, m.bad[:5]))
            self.assertEqual(m.count, total, "member %d: message count" % i)
            p = check_ids(m.ids, SENDERS, MESSAGES, expected)
            self.assertIsNone(p, "member %d (lean client): %s" % (i, p))
        self.assertIsNone(h2m.error, "HTTP/2 members")
        self.assertEqual(h2m.bad, [], "HTTP/2 members' frames")
        self.assertEqual(len(h2m.ids), H2_CLIENTS, "HTTP/2 members that finished")
        for sid, ids in h2m.ids.items():
            p = check_ids(ids, SENDERS, MESSAGES, expected)
            self.assertIsNone(p, "HTTP/2 member (stream %d): %s" % (sid, p))
        for i, (_, out, _) in enumerate(libs):
            self.assertNotIn("bad", out)
            p = check_ids(out["ids"], SENDERS, MESSAGES, expected)
            self.assertIsNone(p, "python3-websockets member %d: %s" % (i, p))
            self.assertEqual(out["extensions"], ["permessage-deflate"],
                             "extensions negotiated by python3-websockets")
            self.assertEqual(out["close_code"], 1000)

        # Both workers delivered: each worker thread did a real share of the
        # work (a room whose members all sat on one worker would leave the
        # other idle).
        busy = sorted(((cpu1[t] - cpu0.get(t, 0)) for t in cpu1), reverse=True)
        work = sum(busy)
        print("server CPU ticks per thread during delivery: %r" % busy[:4], file=sys.stderr)
        if work >= 20:  # (a quick run with small sizes can take less than 20 ticks)
            self.assertGreaterEqual(busy[1], 0.15 * work,
                                    "per-thread CPU ticks during delivery %r: only one thread "
                                    "did the work, so one worker had (nearly) all the sessions"
                                    % busy[:4])
        for m in raw:
            m.close(1000)
        h2m.go_close.set()
        await asyncio.wait([m.lost for m in raw], timeout=H.scaled(20))
        await loop.run_in_executor(None, h2m.join, H.scaled(20))
        self.assertEqual(set(h2m.close_codes.values()), {1000}, "HTTP/2 members' close codes")
        codes = {}
        for m in raw:
            codes[m.close_code] = codes.get(m.close_code, 0) + 1
        self.assertEqual(codes, {1000: len(raw)}, "close codes echoed by the server")
        self.assertTrue(all(m.lost.done() for m in raw), "the server closed every TCP connection")

        after = wait_metrics(lambda ms: metric_delta(before, ms, "websocket_sessions_open") == 0)
        self.assertEqual(metric_delta(before, after, "websocket_sessions_total", protocol="h1"),
                         CLIENTS - H2_CLIENTS, "sessions_total{protocol=h1}")
        self.assertEqual(metric_delta(before, after, "websocket_sessions_total", protocol="h2"),
                         H2_CLIENTS, "sessions_total{protocol=h2}")
        self.assertEqual(metric_delta(before, after, "websocket_sessions_total", deflate="on"),
                         LIB_CLIENTS, "sessions with permessage-deflate")
        self.assertEqual(metric_delta(before, after, "websocket_messages_total", direction="in"),
                         total, "messages in")
        self.assertEqual(metric_delta(before, after, "websocket_messages_total", direction="out"),
                         total * CLIENTS, "messages out: every message to every member")
        self.assertEqual(metric_delta(before, after, "websocket_bytes_total", direction="out"),
                         total * CLIENTS * ID_LEN, "payload bytes out")
        self.assertEqual(metric_delta(before, after, "websocket_closes_total", code="1000"),
                         CLIENTS, "closes with 1000")
        opens = [l for l in SRV.error_log_text().split("\n")
                 if "websocket open:" in l and "route=/ws/room" in l]
        self.assertEqual(len(opens), CLIENTS, "'websocket open' log lines for /ws/room")
        self.assertEqual(len([l for l in opens if "protocol=h2" in l]), H2_CLIENTS)


def metric_delta(before, after, name, **labels):
    return W.metric(after, name, **labels) - W.metric(before, name, **labels)


def wait_metrics(pred, timeout=5.0):
    last = [None]

    def check():
        last[0] = metrics()
        return pred(last[0])

    H.wait_for(check, H.scaled(timeout), 0.1)
    return last[0]


# --------------------------------------------------------------------------


class SlowConsumer(unittest.TestCase):
    """Rooms with send_queue = 64k: 10 members reading, 4 of them sending
    200 x 8 KiB each (paced, so that a member reading in time never has
    64 KiB queued), and (in the second round) one that never reads."""

    def run_room(self, path, slow):
        return asyncio.run(self._room(path, slow))

    async def _room(self, path, slow):
        loop = asyncio.get_running_loop()
        total = SLOW_SENDERS * SLOW_MESSAGES
        members = await connect_members(loop, path, SLOW_MEMBERS, total, SLOW_SIZE)
        sluggard = None
        if slow:
            sluggard = W.H1WS(SRV.port, path, rcvbuf=4096)
            self.addCleanup(sluggard.close)
            self.assertFalse(sluggard.queue, "messages before any was sent")
        t0 = time.monotonic()
        await send_all(members[:SLOW_SENDERS], SLOW_MESSAGES, SLOW_SIZE, chunk=1, pace=SLOW_PACE)
        await asyncio.wait([m.done for m in members], timeout=H.scaled(60))
        took = time.monotonic() - t0
        expected = sorted((msg_id(s, q) for s in range(SLOW_SENDERS)
                           for q in range(SLOW_MESSAGES)), key=lambda r: r[:3])
        counts = [m.count for m in members]
        self.assertEqual(counts, [total] * SLOW_MEMBERS,
                         "messages each reading member got within %.1fs (%s)%s"
                         % (took, "with" if slow else "without", SRV.diagnostics()))
        await asyncio.sleep(H.scaled(0.3))
        for i, m in enumerate(members):
            self.assertEqual(m.bad, [], "member %d: %r" % (i, m.bad[:5]))
            p = check_ids(m.ids, SLOW_SENDERS, SLOW_MESSAGES, expected)
            self.assertIsNone(p, "member %d: %s" % (i, p))
        for m in members:
            m.close(1000)
        await asyncio.wait([m.lost for m in members], timeout=H.scaled(10))
        return took, sluggard

    def drain(self, ws, quiet=1.0, limit=30.0):
        """Everything the slow member gets once it reads again: (messages,
        close code or None, how TCP ended or None)."""
        msgs, code = [], None
        deadline = time.monotonic() + H.scaled(limit)
        while time.monotonic() < deadline:
            m = ws.recv(timeout=quiet)
            if m is None:
                break
            if m[0] == W.OP_CLOSE:
                code = W.close_code(m[1])[0]
                break
            if m[0] in (W.OP_TEXT, W.OP_BINARY):
                msgs.append(m[1])
        return msgs, code

    def check_policy(self, path, policy):
        base, _ = self.run_room(path, slow=False)
        before = metrics()
        took, slow = self.run_room(path, slow=True)
        print("%s: %.2fs without the slow member, %.2fs with it" % (policy, base, took),
              file=sys.stderr)
        self.assertLess(took, 3 * base + H.scaled(2.0),
                        "the reading members took %.2fs with a slow member, %.2fs without"
                        % (took, base))
        after = wait_metrics(lambda ms: metric_delta(before, ms, "websocket_slow_consumer_total",
                                                     policy=policy) >= 1)
        self.assertGreaterEqual(
            metric_delta(before, after, "websocket_slow_consumer_total", policy=policy), 1,
            "websocket_slow_consumer_total{policy=%s}" % policy)
        self.assertEqual(
            metric_delta(before, after, "websocket_slow_consumer_total",
                         policy={"close": "drop_oldest", "drop_oldest": "close"}[policy]), 0,
            "the other policy's counter")
        return before, after, slow

    def test_close_policy(self):
        before, _, slow = self.check_policy("/ws/slowclose", "close")
        msgs, code = self.drain(slow)
        self.assertEqual(slow.msgs.bad, [])
        self.assertEqual(code, 1008, "close code the slow member finds after %d messages "
                         "(TCP: %s)" % (len(msgs), slow.closed))
        total = SLOW_SENDERS * SLOW_MESSAGES
        self.assertLess(len(msgs), total)
        p = check_subsequence(b"".join(m[:ID_LEN] for m in msgs), SLOW_SENDERS, SLOW_MESSAGES)
        self.assertIsNone(p, "what the slow member got before 1008: %s" % p)
        try:
            slow.send(W.OP_CLOSE, W.close_payload(1008))
        except OSError:
            pass  # the server may have ended TCP already (close_timeout)
        self.assertIn(slow.wait_eof(timeout=H.scaled(10)), ("eof", "reset"),
                      "the server ends the TCP connection after the close handshake")
        after = wait_metrics(lambda ms: metric_delta(before, ms, "websocket_closes_total",
                                                     code="1008") >= 1)
        self.assertEqual(metric_delta(before, after, "websocket_closes_total", code="1008"), 1,
                         "closes_total{code=1008}: the slow member, and only it")

    def test_drop_oldest_policy(self):
        before, after, slow = self.check_policy("/ws/slowdrop", "drop_oldest")
        self.assertEqual(metric_delta(before, after, "websocket_closes_total", code="1008"), 0,
                         "no 1008 under drop_oldest")
        closed, how = H.sock_is_closed(slow.sock)
        self.assertFalse(closed, "the slow member's connection ended (%s) under drop_oldest"
                         % how)
        msgs, code = self.drain(slow)
        total = SLOW_SENDERS * SLOW_MESSAGES
        self.assertIsNone(code, "a close frame (%s) for the slow member under drop_oldest" % code)
        self.assertIsNone(slow.closed, "TCP ended under drop_oldest")
        self.assertEqual(slow.msgs.bad, [])
        self.assertTrue(msgs, "the slow member got nothing at all once it read again")
        self.assertLess(len(msgs), total, "drop_oldest dropped nothing?")
        ids = b"".join(m[:ID_LEN] for m in msgs)
        p = check_subsequence(ids, SLOW_SENDERS, SLOW_MESSAGES)
        self.assertIsNone(p, "what the slow member got: %s" % p)
        self.assertTrue(all(len(m) == SLOW_SIZE for m in msgs), "messages cut short")
        self.assertEqual(int(msgs[-1][4:ID_LEN]), SLOW_MESSAGES - 1,
                         "the newest message is kept (drop_oldest); last got %r" % msgs[-1][:ID_LEN])
        # Still a working session: a close handshake.
        slow.send(W.OP_CLOSE, W.close_payload(1000))
        code, _, _ = slow.recv_close(timeout=10)
        self.assertEqual(code, 1000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
