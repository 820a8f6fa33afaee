#!/usr/bin/python3
"""test_ws_lifetime.py — long-lived WebSocket sessions (issue 10).

Keepalive, on a server whose idle timeouts are all 1 s (keepalive, header,
body, write, handler and h2 stream idle timeouts):
  - a python3-websockets session on a route with ping_interval = 1s stays
    open 5 s without a message (the library answers the server's pings)
    and still echoes;
  - a raw HTTP/1.1 client and a raw HTTP/2 extended CONNECT session that
    answer pings: the same, and they see about one ping a second;
  - a session on a route with ping_interval = 0 idle 3 s: still open, no
    ping sent;
  - a raw client that never answers pings is closed with 1011 about
    ping_interval + pong_timeout (1 s + 2 s) after it opened, over
    HTTP/1.1 and over HTTP/2.
Shutdown, on a server with shutdown_timeout = 5s: 200 open python3-websockets
sessions, a raw HTTP/1.1 session that never answers the close and a raw
HTTP/2 one; SIGTERM: every session receives close 1001 (within 1 s), the
process exits 0 within shutdown_timeout, and the error log has a
`websocket close: code=1001` line per session.
"""

import asyncio
import os
import re
import signal
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
import h2client as C  # noqa: E402
import wsraw as W  # noqa: E402

import websockets  # noqa: E402

PING_INTERVAL = 1.0
PONG_TIMEOUT = 2.0
IDLE = 5.0          # seconds a session stays quiet; longer than every server timeout (1 s)
SESSIONS = 200
SHUTDOWN_TIMEOUT = 5.0


def check_environment():
    H.check_environment()
    if not os.path.exists(os.path.join(H.MODULES_DIR, "websocket.so")):
        print("ws_lifetime setup: %s has no websocket.so" % H.MODULES_DIR, file=sys.stderr)
        sys.exit(1)


def setUpModule():
    check_environment()
    H.raise_nofile(4096)


def keepalive_server():
    return C.H2Server(
        server={"workers": 2, "keepalive_timeout": "1s", "header_timeout": "1s",
                "body_timeout": "1s", "write_timeout": "1s", "handler_timeout": "1s",
                "h2_stream_idle_timeout": "1s"},
        modules=["websocket", "hello"],
        routes=[("/ws/ping", {"module": "websocket", "mode": "echo", "ping_interval": "1s",
                              "pong_timeout": "2s"}),
                ("/ws/quiet", {"module": "websocket", "mode": "echo", "ping_interval": "0"}),
                ("/hello", {"module": "hello", "greeting": H.DEFAULT_GREETING})],
        protocols="http/1.1, h2c")


class Keepalive(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.srv = keepalive_server()
        cls.srv.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def idle_raw(self, ws, seconds):
        """Reads (answering pings when ws.auto_pong) for `seconds`; returns
        the data/close frames seen meanwhile."""
        deadline = time.monotonic() + seconds
        other = []
        while time.monotonic() < deadline and not ws.peer_gone():
            f = ws.recv_frame(max(0.0, deadline - time.monotonic()) / H.time_scale(),
                              skip_control=True)
            if f is not None:
                other.append(f)
        return other

    def check_pings(self, ws, seconds, what):
        n = len(ws.pings)
        lo, hi = int(seconds / PING_INTERVAL) - 2, int(seconds / PING_INTERVAL) + 2
        self.assertTrue(lo <= n <= hi, "%s: %d pings in %.1fs with ping_interval %.1fs"
                        % (what, n, seconds, PING_INTERVAL))
        self.assertEqual(ws.masked_frames(), [], what)

    def test_websockets_client_survives_idle(self):
        port = self.srv.port

        async def run():
            async with websockets.connect("ws://127.0.0.1:%d/ws/ping" % port,
                                          ping_interval=None, close_timeout=3,
                                          open_timeout=H.scaled(5)) as ws:
                await ws.send("before")
                first = await asyncio.wait_for(ws.recv(), H.scaled(3))
                await asyncio.sleep(IDLE)
                still_open = ws.open
                await ws.send("after %.0f s" % IDLE)
                second = await asyncio.wait_for(ws.recv(), H.scaled(3))
                await ws.send(b"\x00binary")
                third = await asyncio.wait_for(ws.recv(), H.scaled(3))
                return first, still_open, second, third, ws.close_code

        try:
            first, still_open, second, third, code = asyncio.run(run())
        except websockets.ConnectionClosed as e:
            self.fail("the session was closed while idle: %s%s" % (e, self.srv.diagnostics()))
        self.assertEqual(first, "before")
        self.assertTrue(still_open, "session closed after %.0f s idle" % IDLE)
        self.assertEqual(second, "after %.0f s" % IDLE)
        self.assertEqual(third, b"\x00binary")

    def test_raw_h1_answering_pings_survives(self):
        ws = W.WSRaw(self.srv.port, auto_pong=True)
        self.addCleanup(ws.close)
        self.assertEqual(ws.handshake("/ws/ping").status, 101)
        got = self.idle_raw(ws, IDLE)
        self.assertEqual(got, [], "frames from the server while idle: %r" % got)
        self.assertIsNone(ws.gone, "connection ended while idle" + self.srv.diagnostics())
        self.check_pings(ws, IDLE, "HTTP/1.1")
        self.assertTrue(ws.echo_ok(b"still alive"), "echo after %.0f s idle" % IDLE)

    def test_raw_h2_answering_pings_survives(self):
        conn = C.RawConn(self.srv.port)
        self.addCleanup(conn.close)
        self.assertTrue(C.wait_settings_and_ack(conn))
        ws = W.H2WS(conn, "/ws/ping", auto_pong=True)
        self.assertEqual(ws.status, 200, conn.summary())
        got = self.idle_raw(ws, IDLE)
        self.assertEqual(got, [], "frames from the server while idle: %r" % got)
        self.assertFalse(ws.peer_gone(), "stream ended while idle: %r %s" % (ws.stream,
                                                                            conn.summary()))
        self.check_pings(ws, IDLE, "HTTP/2")
        self.assertTrue(ws.echo_ok(b"still alive h2"), "echo after %.0f s idle" % IDLE)

    def test_no_pings_when_interval_0(self):
        ws = W.WSRaw(self.srv.port)
        self.addCleanup(ws.close)
        self.assertEqual(ws.handshake("/ws/quiet").status, 101)
        got = self.idle_raw(ws, 3.0)
        self.assertEqual(got, [])
        self.assertEqual(ws.pings, [], "pings with ping_interval = 0")
        self.assertIsNone(ws.gone, "a quiet session was cut by an idle timeout"
                          + self.srv.diagnostics())
        self.assertTrue(ws.echo_ok(b"quiet"))

    def check_dead_peer(self, ws, t0, what):
        f = ws.wait_close(PING_INTERVAL + PONG_TIMEOUT + 5.0, reply=False)
        took = time.monotonic() - t0
        print("\n[ws_lifetime] %s dead peer: close %s %.2fs after opening, %d pings"
              % (what, f and f.close_code, took, len(ws.pings)), file=sys.stderr)
        self.assertIsNotNone(f, "%s: no close for a client that never answers pings%s"
                             % (what, self.srv.diagnostics()))
        self.assertEqual(f.close_code, 1011, "%s: %r" % (what, f))
        self.assertTrue(ws.pings, "%s: closed without having pinged" % what)
        want = PING_INTERVAL + PONG_TIMEOUT
        self.assertGreater(took, want - 0.6, "%s: closed %.2fs after opening, before "
                           "ping_interval + pong_timeout = %.1fs" % (what, took, want))
        self.assertLess(took, want + H.scaled(1.5), "%s: closed %.2fs after opening; "
                        "ping_interval + pong_timeout = %.1fs" % (what, took, want))
        self.assertIsNotNone(ws.wait_gone(H.scaled(6.0)), "%s: transport not ended" % what)

    def test_dead_peer_h1_closed_1011(self):
        ws = W.WSRaw(self.srv.port, auto_pong=False)
        self.addCleanup(ws.close)
        self.assertEqual(ws.handshake("/ws/ping").status, 101)
        self.check_dead_peer(ws, time.monotonic(), "HTTP/1.1")

    def test_dead_peer_h2_closed_1011(self):
        conn = C.RawConn(self.srv.port)   # answers HTTP/2 PINGs, not WebSocket ones
        self.addCleanup(conn.close)
        self.assertTrue(C.wait_settings_and_ack(conn))
        t0 = time.monotonic()
        ws = W.H2WS(conn, "/ws/ping", auto_pong=False)
        self.assertEqual(ws.status, 200, conn.summary())
        self.check_dead_peer(ws, t0, "HTTP/2")
        st = conn.get("/hello")
        self.assertEqual(st.status, 200, "the HTTP/2 connection after the 1011: %r" % st)


class Shutdown(unittest.TestCase):

    def test_sigterm_closes_every_session_1001(self):
        srv = C.H2Server(
            server={"workers": 2, "shutdown_timeout": "5s"},
            modules=["websocket", "hello"],
            routes=[("/ws/echo", {"module": "websocket", "mode": "echo"}),
                    ("/hello", {"module": "hello", "greeting": H.DEFAULT_GREETING})],
            protocols="http/1.1, h2c")
        srv.expect_prompt_stop = False
        with srv:
            uri = "ws://127.0.0.1:%d/ws/echo" % srv.port
            # Two raw sessions: one over HTTP/1.1 that never answers the
            # close, one over HTTP/2.
            deaf = W.WSRaw(srv.port)
            self.addCleanup(deaf.close)
            self.assertEqual(deaf.handshake("/ws/echo").status, 101)
            self.assertTrue(deaf.echo_ok(b"deaf"))
            conn = C.RawConn(srv.port)
            self.addCleanup(conn.close)
            self.assertTrue(C.wait_settings_and_ack(conn))
            h2ws = W.H2WS(conn, "/ws/echo")
            self.assertEqual(h2ws.status, 200, conn.summary())
            self.assertTrue(h2ws.echo_ok(b"h2"))

            result = {}

            async def one(i):
                ws = await websockets.connect(uri, ping_interval=None, close_timeout=10,
                                              open_timeout=H.scaled(10))
                await ws.send("hello %d" % i)
                got = await asyncio.wait_for(ws.recv(), H.scaled(10))
                assert got == "hello %d" % i, got
                return ws

            async def run():
                sem = asyncio.Semaphore(50)

                async def opened(i):
                    async with sem:
                        return await one(i)

                socks = await asyncio.gather(*(opened(i) for i in range(SESSIONS)))
                result["opened"] = len(socks)
                t0 = srv.signal(signal.SIGTERM)
                result["t0"] = t0

                async def closed(ws):
                    try:
                        await asyncio.wait_for(ws.wait_closed(), SHUTDOWN_TIMEOUT + H.scaled(3))
                    except asyncio.TimeoutError:
                        return None, None
                    return (ws.close_rcvd.code if ws.close_rcvd else None), time.monotonic() - t0

                result["closes"] = await asyncio.gather(*(closed(ws) for ws in socks))

            asyncio.run(run())
            t0 = result["t0"]
            rc = srv.wait_exit(SHUTDOWN_TIMEOUT + H.scaled(5))
            exited = time.monotonic() - t0
            closes = result["closes"]
            print("\n[ws_lifetime] shutdown: %d sessions, last close %.2fs after SIGTERM, exit "
                  "status %s %.2fs after it" % (len(closes), max((t or 0) for _c, t in closes),
                                                rc, exited), file=sys.stderr)
            codes = {}
            for code, _t in closes:
                codes[code] = codes.get(code, 0) + 1
            self.assertEqual(codes, {1001: SESSIONS}, "close codes the %d python3-websockets "
                             "sessions received after SIGTERM: %r%s"
                             % (SESSIONS, codes, srv.diagnostics()))
            latest = max(t for _c, t in closes)
            self.assertLess(latest, H.scaled(1.0) + 0.5, "the last close 1001 came %.2fs after "
                            "SIGTERM" % latest)
            f = deaf.wait_close(1.0, reply=False)
            self.assertIsNotNone(f, "the HTTP/1.1 session that does not answer got no close")
            self.assertEqual(f.close_code, 1001, f)
            f2 = h2ws.wait_close(1.0, reply=False)
            self.assertIsNotNone(f2, "the HTTP/2 session got no close: " + conn.summary())
            self.assertEqual(f2.close_code, 1001, f2)
            self.assertIsNotNone(rc, "iridium still running %.1fs after SIGTERM with "
                                 "shutdown_timeout %.0fs%s" % (exited, SHUTDOWN_TIMEOUT,
                                                              srv.diagnostics()))
            self.assertEqual(rc, 0, "exit status after SIGTERM" + srv.diagnostics())
            self.assertLess(exited, SHUTDOWN_TIMEOUT + H.scaled(0.5),
                            "exit %.2fs after SIGTERM; shutdown_timeout %.0fs"
                            % (exited, SHUTDOWN_TIMEOUT))
            n1001 = len(re.findall(r"websocket close: code=1001\b", srv.error_log_text()))
            # The deaf session may be logged as 1001 (sent) or 1006 (none came back).
            self.assertTrue(SESSIONS + 1 <= n1001 <= SESSIONS + 2,
                            "%d close lines with code=1001 in the error log for %d sessions"
                            % (n1001, SESSIONS + 2))


if __name__ == "__main__":
    unittest.main(verbosity=2)
