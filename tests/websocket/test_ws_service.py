#!/usr/bin/python3
"""test_ws_service.py — the "websocket" service v1 (iridium/websocket.h) as
another module uses it: tests/websocket/service_module.c ("upper", built
against the SDK and websocket.h only) looks the service up, accepts
sessions with its own subprotocols (upper.v2, upper.v1) and upper-cases
text, echoes binary, and closes a session itself on "close CODE REASON".

Checked, over HTTP/1.1 (python3-websockets, and a hand-framed client) and
HTTP/2 (RFC 8441 extended CONNECT with python3-h2):
  - text comes back upper-cased and binary unchanged (also 1 MiB, also with
    permessage-deflate), through the service's on_message and send;
  - the chosen subprotocol is the client's first offer the module lists,
    echoed in Sec-WebSocket-Protocol (h1) / sec-websocket-protocol (h2), and
    the same as the module reads with subprotocol(); no match, no header;
  - the module's close(CODE, REASON) reaches the client as that close frame
    (4001/4002 with their reasons), the client's close reaches the module's
    on_close with its code, and on_close runs once per session;
  - backpressure: 8 MiB sent by the module toward a client that does not
    read makes send() say IR_EAGAIN; on_writable then sends the rest, all
    of it in order; 4 MiB echoed to a client that reads late, in order;
  - a bad handshake is answered by the service (426 naming version 13) and
    the HTTP/1.1 connection goes on.
Every wait is bounded; only 127.0.0.1 is used.
"""

import asyncio
import os
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

MIB = 1 << 20
UPPER_SO = os.environ.get("IRIDIUM_UPPER_MODULE") or os.path.join(
    H.REPO, "build", "tests", "websocket", "modules", "upper.so")

SRV = None


def setUpModule():
    global SRV
    W.check_websocket_module()
    if not os.path.isfile(UPPER_SO):
        print("ws_service setup: IRIDIUM_UPPER_MODULE=%s does not exist" % UPPER_SO,
              file=sys.stderr)
        sys.exit(1)
    SRV = W.C.H2Server(
        server={"workers": 2},
        modules=["websocket", "upper"],
        module_paths={"upper": os.path.abspath(UPPER_SO)},
        routes=[("/up", {"module": "upper"}),
                ("/ws/metrics", {"module": "websocket", "mode": "metrics"})],
        protocols="http/1.1, h2c")
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


def stats():
    r = H.http_request(SRV.port, "GET", "/up/stats")
    if r.status != 200:
        raise AssertionError("GET /up/stats: %r %r" % (r, r.body[:200]))
    out = {}
    for line in r.body.decode().split("\n"):
        k, sep, v = line.partition("=")
        if sep:
            out[k] = int(v)
    return out


def uri():
    return "ws://127.0.0.1:%d/up" % SRV.port


class Service(unittest.TestCase):
    def setUp(self):
        self.s0 = stats()

    def delta(self):
        now = stats()
        return {k: now[k] - self.s0.get(k, 0) for k in now if k != "last_code"}

    def settled(self, sessions, timeout=5.0):
        """Waits until every session the test opened had its on_close, then
        checks on_close came once per session and no send failed."""
        H.wait_for(lambda: self.delta()["closes"] >= sessions, H.scaled(timeout), 0.05)
        time.sleep(H.scaled(0.2))  # a second on_close would show now
        d = self.delta()
        self.assertEqual(d["sessions"], sessions, "sessions accepted: %r" % d)
        self.assertEqual(d["closes"], sessions, "on_close once per session: %r" % d)
        self.assertEqual(d["send_errors"], 0, "failed sends in the module: %r" % d)
        return d

    def test_h1_upper_echo_subprotocol_and_module_close(self):
        async def run():
            async with websockets.connect(uri(), subprotocols=["x-other", "upper.v1", "upper.v2"],
                                          max_size=None, open_timeout=H.scaled(10),
                                          close_timeout=H.scaled(5)) as ws:
                self.assertEqual(ws.subprotocol, "upper.v1",
                                 "the client's first offer that the module lists")
                self.assertEqual(ws.response_headers.get("Sec-WebSocket-Protocol"), "upper.v1")
                self.assertEqual([e.name for e in ws.extensions], ["permessage-deflate"])
                await ws.send("hello, World 123")
                self.assertEqual(await asyncio.wait_for(ws.recv(), H.scaled(10)),
                                 "HELLO, WORLD 123")
                await ws.send("subprotocol?")
                self.assertEqual(await asyncio.wait_for(ws.recv(), H.scaled(10)),
                                 "subprotocol=upper.v1")
                data = os.urandom(MIB)
                await ws.send(data)
                self.assertTrue(await asyncio.wait_for(ws.recv(), H.scaled(20)) == data,
                                "1 MiB binary echoed")
                big = "abc" * 300000
                await ws.send(big)
                self.assertTrue(await asyncio.wait_for(ws.recv(), H.scaled(20)) == big.upper())
                await ws.send(b"")
                self.assertEqual(await asyncio.wait_for(ws.recv(), H.scaled(10)), b"")
                await ws.send("close 4001 bye from upper")
                with self.assertRaises(websockets.exceptions.ConnectionClosed) as cm:
                    await asyncio.wait_for(ws.recv(), H.scaled(10))
                rc = cm.exception.rcvd
                self.assertIsNotNone(rc, "no close frame from the module's close()")
                self.assertEqual((rc.code, rc.reason), (4001, "bye from upper"))
        asyncio.run(run())
        d = self.settled(1)
        self.assertEqual(d["close_calls"], 1)
        self.assertEqual(stats()["last_code"], 4001, "on_close's code after the module's close")

    def test_h1_client_close_and_no_subprotocol_match(self):
        async def run():
            async with websockets.connect(uri(), subprotocols=["nope"], compression=None,
                                          open_timeout=H.scaled(10),
                                          close_timeout=H.scaled(5)) as ws:
                self.assertIsNone(ws.subprotocol)
                self.assertIsNone(ws.response_headers.get("Sec-WebSocket-Protocol"))
                self.assertEqual(ws.extensions, [])
                await ws.send("subprotocol?")
                self.assertEqual(await asyncio.wait_for(ws.recv(), H.scaled(10)),
                                 "subprotocol=-")
                await ws.close(4321, "client says bye")
                self.assertEqual(ws.close_code, 4321, "the server echoes the client's close")
            # no subprotocol offered at all
            async with websockets.connect(uri(), open_timeout=H.scaled(10)) as ws:
                self.assertIsNone(ws.response_headers.get("Sec-WebSocket-Protocol"))
                await ws.send("x")
                self.assertEqual(await asyncio.wait_for(ws.recv(), H.scaled(10)), "X")
                await ws.close(1000)
        asyncio.run(run())
        self.settled(2)
        self.assertEqual(stats()["last_code"], 1000)

    def test_h2_upper_echo_subprotocol_and_module_close(self):
        c = W.H2WS(SRV.port, window=4 * MIB)
        self.addCleanup(c.close)
        self.assertTrue(c.wait_settings())
        sid = c.connect_ws("/up", extra=[("sec-websocket-protocol", "upper.v2, upper.v1")])
        st = c.wait_headers(sid)
        self.assertEqual(st.status, 200, c.describe(sid))
        self.assertEqual(st.header("sec-websocket-protocol"), "upper.v2", c.describe(sid))
        c.send_frame(sid, W.OP_TEXT, "over h2")
        self.assertEqual(c.recv(sid), (W.OP_TEXT, b"OVER H2"), c.describe(sid))
        # a fragmented text message, reassembled by the service
        c.send_frame(sid, W.OP_TEXT, "frag", fin=False)
        c.send_frame(sid, W.OP_CONT, "mented", fin=False)
        c.send_frame(sid, W.OP_CONT, " text", fin=True)
        self.assertEqual(c.recv(sid), (W.OP_TEXT, b"FRAGMENTED TEXT"))
        c.send_frame(sid, W.OP_TEXT, "subprotocol?")
        self.assertEqual(c.recv(sid), (W.OP_TEXT, b"subprotocol=upper.v2"))
        data = os.urandom(MIB)
        c.send_frame(sid, W.OP_BINARY, data)
        m = c.recv(sid, timeout=20)
        self.assertTrue(m is not None and m[0] == W.OP_BINARY and m[1] == data,
                        "1 MiB binary over h2: %s" % c.describe(sid))
        # a second session on the same connection, without a subprotocol
        sid2 = c.connect_ws("/up")
        st2 = c.wait_headers(sid2)
        self.assertEqual(st2.status, 200, c.describe(sid2))
        self.assertIsNone(st2.header("sec-websocket-protocol"))
        c.send_frame(sid2, W.OP_TEXT, "second")
        self.assertEqual(c.recv(sid2), (W.OP_TEXT, b"SECOND"))
        c.send_frame(sid, W.OP_TEXT, "close 4002 h2 bye")
        code, reason, _ = c.recv_close(sid)
        self.assertEqual((code, reason), (4002, b"h2 bye"), c.describe(sid))
        c.send_frame(sid, W.OP_CLOSE, W.close_payload(4002))
        self.assertTrue(c.wait_end(sid), c.describe(sid))
        # the other session is untouched
        c.send_frame(sid2, W.OP_TEXT, "still here")
        self.assertEqual(c.recv(sid2), (W.OP_TEXT, b"STILL HERE"))
        c.send_frame(sid2, W.OP_CLOSE, W.close_payload(1000, "done"))
        code, _, _ = c.recv_close(sid2)
        self.assertEqual(code, 1000)
        self.assertTrue(c.wait_end(sid2), c.describe(sid2))
        for s in (sid, sid2):
            self.assertEqual(c.streams[s].ws.bad, [], "frames from the server")
        self.settled(2)
        self.assertEqual(stats()["last_code"] in (1000, 4002), True)

    def test_backpressure_eagain_then_writable(self):
        """8 MiB sent from one on_message toward a client that is not
        reading: send() says IR_EAGAIN past send_queue (1 MiB), the module
        holds the rest, on_writable sends it; all of it arrives in order."""
        ws = W.H1WS(SRV.port, "/up", rcvbuf=4096)
        self.addCleanup(ws.close)
        n, size = 128, 64 * 1024
        ws.send(W.OP_TEXT, "burst %d %d" % (n, size))
        ok = H.wait_for(lambda: self.delta()["eagain"] >= 1, H.scaled(10), 0.05)
        self.assertTrue(ok, "send() never said IR_EAGAIN with 8 MiB toward a client that "
                        "reads nothing (send_queue 1 MiB): %r" % self.delta())
        time.sleep(H.scaled(0.3))  # still not reading
        for k in range(n):
            m = ws.recv(timeout=20)
            self.assertIsNotNone(m, "after %d messages: %s" % (k, ws.closed))
            want = b"%08d" % k + bytes([k % 256]) * (size - 8)
            self.assertEqual(m[0], W.OP_BINARY)
            self.assertTrue(m[1] == want, "message %d of the burst: %r..." % (k, m[1][:12]))
        self.assertEqual(ws.msgs.bad, [])

        # Echo of 4 MiB written while the client does not read (from a
        # thread: whether the service reads on while its queue toward us is
        # full is its business): all of it comes back, in order.
        msgs = [os.urandom(size) for _ in range(64)]
        errors = []

        def write():
            try:
                out = ws.sock.dup()
                out.settimeout(H.scaled(60))
                out.sendall(b"".join(W.frame(W.OP_BINARY, m) for m in msgs))
                out.close()
            except OSError as e:
                errors.append(e)
        t = threading.Thread(target=write, daemon=True)
        t.start()
        time.sleep(H.scaled(1.0))
        got = []
        for _ in range(len(msgs)):
            m = ws.recv(timeout=20)
            self.assertIsNotNone(m, "after %d echoed messages: %s" % (len(got), ws.closed))
            got.append(m)
        self.assertTrue([d for _, d in got] == msgs, "4 MiB echoed complete and in order")
        t.join(H.scaled(10))
        self.assertEqual(errors, [])
        ws.send(W.OP_CLOSE, W.close_payload(1000))
        code, _, _ = ws.recv_close()
        self.assertEqual(code, 1000)
        d = self.settled(1)
        self.assertEqual(d["messages"], 1 + len(msgs))

    def test_bad_handshake_answered_by_the_service(self):
        s = H.connect(SRV.port)
        self.addCleanup(s.close)
        s.sendall(H.build_request("GET", "/up", [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", W.new_key())]))  # no Sec-WebSocket-Version
        rd = H.HTTPReader(s)
        r = rd.read_response()
        self.assertEqual(r.status, 426, r)
        self.assertEqual(r.header("sec-websocket-version"), "13", r)
        self.assertEqual(W.next_request_status(s, rd, "/up/stats"), 200,
                         "the next request on the HTTP/1.1 connection after the 426 (answered "
                         "with connection: %s): a refused handshake leaves it usable"
                         % r.header("connection"))
        d = self.delta()
        self.assertEqual((d["sessions"], d["refused"]), (0, 1), d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
