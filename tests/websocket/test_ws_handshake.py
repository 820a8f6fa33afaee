#!/usr/bin/python3
"""test_ws_handshake.py — mod_websocket's handshake answers (issue 10), on
one server (workers 2, http/1.1 + h2c): /ws/echo, /ws/strict (origins =
https://good.example), /ws/proto (subprotocols = chat superchat), /hello.

HTTP/1.1 (raw sockets, wsraw.py):
  426 + `upgrade: websocket` for a plain GET and for `Upgrade: foo`;
  426 + `sec-websocket-version: 13` for version 12 and for none;
  426 for a POST with the upgrade fields (the host only takes a GET as an
  HTTP/1.1 upgrade, RFC 6455 4.1, so it is a plain request), 400 for keys that are not 16 bytes of base64
  (short, 15 and 17 bytes, not base64, missing); 403 for an Origin not in
  origins (the listed one, and no Origin at all, get 101);
  every refusal has a one-line text/plain reason, and the same socket then
  answers GET /hello (sent after the answer, and also pipelined behind the
  refused request);
  101 with the right Sec-WebSocket-Accept, also for `Upgrade: WebSocket`
  and `Connection: keep-alive, Upgrade` (what Firefox sends), then an echo;
  subprotocols: the client's first offer that the route lists is echoed
  (also from two header lines), no match or no offer -> no header.
HTTP/2 (python3-h2, extended CONNECT): SETTINGS_ENABLE_CONNECT_PROTOCOL = 1;
  CONNECT :protocol websocket without sec-websocket-version -> 426, with
  version 12 -> 426 naming 13, with 13 -> 200 and an echo over the stream;
  a foreign Origin -> 403; a subprotocol echoed; GET /hello on the same
  connection after the refusals.
"""

import base64
import os
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

import h2.events  # noqa: E402

ENABLE_CONNECT_PROTOCOL = 0x8
GOOD_ORIGIN = "https://good.example"
SRV = None


def setUpModule():
    global SRV
    H.check_environment()
    if not os.path.exists(os.path.join(H.MODULES_DIR, "websocket.so")):
        print("ws_handshake setup: %s has no websocket.so" % H.MODULES_DIR, file=sys.stderr)
        sys.exit(1)
    SRV = C.H2Server(
        server={"workers": 2},
        modules=["websocket", "hello"],
        routes=[("/ws/echo", {"module": "websocket", "mode": "echo"}),
                ("/ws/strict", {"module": "websocket", "mode": "echo", "origins": GOOD_ORIGIN}),
                ("/ws/proto", {"module": "websocket", "mode": "echo",
                               "subprotocols": "chat superchat"}),
                ("/hello", {"module": "hello", "greeting": H.DEFAULT_GREETING})],
        protocols="http/1.1, h2c")
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


def b64(n):
    return base64.b64encode(os.urandom(n)).decode()


class H1(unittest.TestCase):

    def refused(self, status, what, **kw):
        """Sends an upgrade request (wsraw.WSRaw.request_bytes keywords),
        checks the refusal and that the socket then serves GET /hello.
        Returns the refusal Response."""
        ws = W.WSRaw(SRV.port)
        self.addCleanup(ws.close)
        r = ws.handshake(**kw)
        self.assertEqual(r.status, status, "%s: %r %r" % (what, r, r.body))
        self.assertIsNone(r.header("sec-websocket-accept"), what)
        ctype = (r.header("content-type") or "").split(";")[0].strip().lower()
        self.assertEqual(ctype, "text/plain", "%s: the reason's type: %r" % (what, r))
        body = r.body.decode("utf-8", "replace").strip()
        self.assertTrue(body, "%s: no reason in the body" % what)
        self.assertNotIn("\n", body, "%s: the reason is one line: %r" % (what, body))
        # The same connection goes on to the next request.
        ws.sock.sendall(H.build_request("GET", "/hello"))
        try:
            nxt = ws.reader.read_response("GET", timeout=5.0)
        except (H.ConnectionClosed, H.IncompleteResponse, H.ResponseTimeout) as e:
            self.fail("%s: GET /hello on the same connection after the %d: %s%s"
                      % (what, status, e, SRV.diagnostics()))
        self.assertEqual(nxt.status, 200, "%s: next request on the connection: %r" % (what, nxt))
        self.assertEqual(nxt.body.decode().strip(), H.DEFAULT_GREETING)
        return r

    def accepted(self, path="/ws/echo", what="", **kw):
        ws = W.WSRaw(SRV.port)
        self.addCleanup(ws.close)
        r = ws.handshake(path, **kw)
        self.assertEqual(r.status, 101, "%s: %r %r" % (what, r, r.body))
        self.assertEqual(r.header("sec-websocket-accept"), W.accept_for(ws.key),
                         "%s: Sec-WebSocket-Accept for key %s: %r" % (what, ws.key, r.headers))
        self.assertEqual((r.header("upgrade") or "").lower(), "websocket", r.headers)
        self.assertIn("upgrade", r.tokens("connection"), r.headers)
        self.assertIsNone(r.header("content-length"), "101 with a body length: %r" % r.headers)
        self.assertIsNone(r.header("transfer-encoding"), r.headers)
        return ws, r

    # -- 426 ----------------------------------------------------------------

    def test_plain_get_426(self):
        ws = W.WSRaw(SRV.port)
        self.addCleanup(ws.close)
        ws.sock.sendall(H.build_request("GET", "/ws/echo"))
        r = ws.reader.read_response("GET")
        self.assertEqual(r.status, 426, "plain GET on a websocket route: %r" % r)
        self.assertEqual((r.header("upgrade") or "").lower(), "websocket", r.headers)
        self.assertTrue(r.body.strip(), "426 without a reason")
        ws.sock.sendall(H.build_request("GET", "/hello"))
        self.assertEqual(ws.reader.read_response("GET").status, 200,
                         "GET /hello on the same connection after the 426")

    def test_other_protocol_426(self):
        r = self.refused(426, "Upgrade: foo", headers=[("Upgrade", "foo")])
        self.assertEqual((r.header("upgrade") or "").lower(), "websocket", r.headers)

    def test_version_12_426(self):
        r = self.refused(426, "Sec-WebSocket-Version: 12", version="12")
        self.assertEqual(r.header("sec-websocket-version"), "13", r.headers)

    def test_version_missing_426(self):
        r = self.refused(426, "no Sec-WebSocket-Version", version=None)
        self.assertEqual(r.header("sec-websocket-version"), "13", r.headers)

    # -- 400 ----------------------------------------------------------------

    def test_post_upgrade_426(self):
        self.refused(426, "POST with the upgrade fields", method="POST",
                     headers=[("Content-Length", "0")])

    def test_bad_keys_400(self):
        for what, key in (("a short key", "abc"), ("15 bytes", b64(15)), ("17 bytes", b64(17)),
                          ("not base64", "!!!!!!!!!!!!!!!!!!!!!!=="), ("no key", False)):
            with self.subTest(key=what):
                self.refused(400, "Sec-WebSocket-Key: %s" % what, key=key)

    # -- 403 ----------------------------------------------------------------

    def test_foreign_origin_403(self):
        for origin in ("https://evil.example", "https://good.example.evil.example",
                       "http://good.example", "https://good.example:8443"):
            with self.subTest(origin=origin):
                self.refused(403, "Origin %s on a route allowing %s" % (origin, GOOD_ORIGIN),
                             path="/ws/strict", origin=origin)

    def test_listed_origin_accepted(self):
        ws, _ = self.accepted("/ws/strict", "the listed Origin", origin=GOOD_ORIGIN)
        self.assertTrue(ws.echo_ok(b"good origin"))
        ws2, _ = self.accepted("/ws/strict", "no Origin (not a browser)")
        self.assertTrue(ws2.echo_ok(b"no origin"))
        ws3, _ = self.accepted("/ws/echo", "any Origin on a route without origins",
                               origin="https://evil.example")
        self.assertTrue(ws3.echo_ok(b"any origin"))

    # -- 101 ----------------------------------------------------------------

    def test_accept_and_echo(self):
        ws, r = self.accepted(what="a plain upgrade")
        self.assertIsNone(r.header("sec-websocket-protocol"), r.headers)
        self.assertIsNone(r.header("sec-websocket-extensions"), "no extension offered: %r"
                          % r.headers)
        self.assertTrue(ws.echo_ok("h\u00e9llo".encode()), "text echo after the 101")
        self.assertTrue(ws.echo_ok(os.urandom(70000), W.BINARY), "binary echo after the 101")
        ws.send_close(1000)
        f = ws.wait_close()
        self.assertIsNotNone(f)
        self.assertEqual(f.close_code, 1000)

    def test_mixed_case_and_connection_list(self):
        ws = W.WSRaw(SRV.port)
        self.addCleanup(ws.close)
        key = W.new_key()
        ws.sock.sendall(H.build_request("GET", "/ws/echo", [
            ("upgrade", "WebSocket"), ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-key", key), ("sec-websocket-version", "13")]))
        r = ws.reader.read_head(time.monotonic() + H.scaled(5))
        self.assertEqual(r.status, 101, "Upgrade: WebSocket / Connection: keep-alive, Upgrade:"
                         " %r" % r)
        self.assertEqual(r.header("sec-websocket-accept"), W.accept_for(key))

    def test_pipelined_after_refusal(self):
        s = H.connect(SRV.port)
        self.addCleanup(s.close)
        ws = W.WSRaw(SRV.port, sock=s)
        req = ws.request_bytes("/ws/echo", version="12") + H.build_request("GET", "/hello")
        s.sendall(req)
        rd = H.HTTPReader(s)
        r1 = rd.read_response("GET")
        self.assertEqual(r1.status, 426, r1)
        try:
            r2 = rd.read_response("GET")
        except (H.ConnectionClosed, H.IncompleteResponse, H.ResponseTimeout) as e:
            self.fail("GET /hello pipelined behind a refused upgrade: %s" % e)
        self.assertEqual(r2.status, 200, r2)

    # -- subprotocols ---------------------------------------------------------

    def test_subprotocols(self):
        cases = (("foo, superchat, chat", "superchat"), ("chat", "chat"),
                 ("chat, superchat", "chat"), ("foo", None), (None, None))
        for offer, want in cases:
            with self.subTest(offer=offer):
                ws, r = self.accepted("/ws/proto", "offer %r" % offer, protocols=offer)
                self.assertEqual(r.header_all("sec-websocket-protocol"),
                                 [want] if want else [], "offer %r: %r" % (offer, r.headers))
                self.assertTrue(ws.echo_ok(b"proto"))

    def test_subprotocol_two_header_lines(self):
        ws, r = self.accepted("/ws/proto", "two Sec-WebSocket-Protocol lines",
                              headers=[("Sec-WebSocket-Protocol", "foo"),
                                       ("Sec-WebSocket-Protocol", "superchat")])
        self.assertEqual(r.header_all("sec-websocket-protocol"), ["superchat"], r.headers)

    def test_no_subprotocols_on_route(self):
        ws, r = self.accepted("/ws/echo", "offer on a route without subprotocols",
                              protocols="chat")
        self.assertEqual(r.header_all("sec-websocket-protocol"), [], r.headers)

    def test_log_line(self):
        mark = SRV.log_mark()
        ws, _ = self.accepted("/ws/proto", "for the log line", protocols="chat")
        self.assertTrue(C.wait_log(SRV, r"websocket open: protocol=h1 deflate=off "
                                   r"subprotocol=chat route=/ws/proto", mark),
                        "open line in the error log:\n" + SRV.log_since(mark)[-2000:])


class H2Ext(C.LibClient):
    """python3-h2 with extended CONNECT streams kept open."""

    def connect_ws(self, path="/ws/echo", version="13", extra=()):
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
              (":path", path), (":authority", "127.0.0.1:%d" % self.port)]
        if version is not None:
            hs.append(("sec-websocket-version", version))
        hs += list(extra)
        self.conn.send_headers(sid, hs, end_stream=False)
        st = self.streams[sid] = C.LibStream(sid)
        st.keep_open = True
        self.queue(self.conn.data_to_send())
        self.pump(lambda: st.headers is not None or st.reset is not None or st.ended
                  or self.error is not None or self.terminated is not None, 5.0)
        return st

    def send_on(self, sid, data):
        self.streams[sid].pending += data
        self._send_bodies()
        self.queue(self.conn.data_to_send())


class H2(unittest.TestCase):

    def client(self):
        c = H2Ext(SRV.port)
        self.addCleanup(c.close)
        self.assertTrue(c.wait_settings(), "no SETTINGS from the server")
        self.assertIsNone(c.error, c.error)
        return c

    def settings_of(self, c):
        for e in c.events:
            if isinstance(e, h2.events.RemoteSettingsChanged):
                return {int(k): v.new_value for k, v in e.changed_settings.items()}
        return {}

    def check_refusal(self, c, st, status, what):
        self.assertEqual(st.status, status, "%s: %r %r" % (what, st, bytes(st.data)))
        c.pump(lambda: st.ended or st.reset is not None, 3.0)
        ctype = (st.header("content-type") or "").split(";")[0].strip()
        self.assertEqual(ctype, "text/plain", "%s: %r" % (what, st.hdict))
        self.assertTrue(bytes(st.data).strip(), "%s: no reason" % what)

    def still_serves(self, c, what):
        st = c.fetch("GET", "/hello")
        self.assertEqual(st.status, 200, "%s: GET /hello on the same connection: %r"
                         % (what, st))
        self.assertIsNone(c.terminated, "%s: GOAWAY" % what)

    def test_settings_advertised(self):
        c = self.client()
        self.assertEqual(self.settings_of(c).get(ENABLE_CONNECT_PROTOCOL), 1,
                         "SETTINGS_ENABLE_CONNECT_PROTOCOL: %r" % self.settings_of(c))

    def test_connect_without_version_426(self):
        c = self.client()
        st = c.connect_ws(version=None)
        self.check_refusal(c, st, 426, "CONNECT :protocol websocket without "
                           "sec-websocket-version")
        self.assertEqual(st.header("sec-websocket-version"), "13", st.hdict)
        self.still_serves(c, "after the 426")

    def test_connect_version_12_426(self):
        c = self.client()
        st = c.connect_ws(version="12")
        self.check_refusal(c, st, 426, "sec-websocket-version 12")
        self.assertEqual(st.header("sec-websocket-version"), "13", st.hdict)
        self.still_serves(c, "after the 426")

    def test_connect_foreign_origin_403(self):
        c = self.client()
        st = c.connect_ws("/ws/strict", extra=[("origin", "https://evil.example")])
        self.check_refusal(c, st, 403, "a foreign origin over h2")
        st2 = c.connect_ws("/ws/strict", extra=[("origin", GOOD_ORIGIN)])
        self.assertEqual(st2.status, 200, "the listed origin over h2: %r" % st2)
        self.still_serves(c, "after the 403")

    def test_connect_200_and_echo(self):
        c = self.client()
        st = c.connect_ws()
        self.assertEqual(st.status, 200, "CONNECT :protocol websocket version 13: %r" % st)
        self.assertIsNone(st.header("sec-websocket-accept"), "no accept key over h2")
        self.assertFalse(st.ended, "stream ended with the 200")
        c.send_on(st.sid, W.frame(W.TEXT, b"over h2"))

        def frames():
            return W.FrameParser().feed(bytes(st.data))

        c.pump(lambda: frames(), 3.0)
        got = frames()
        self.assertTrue(got, "no echo on the extended CONNECT stream: %r" % st)
        f = got[0]
        self.assertEqual((f.opcode, f.payload, f.masked), (W.TEXT, b"over h2", False), f)
        st2 = c.connect_ws("/ws/proto", extra=[("sec-websocket-protocol", "foo, superchat")])
        self.assertEqual(st2.status, 200, st2)
        self.assertEqual(st2.header("sec-websocket-protocol"), "superchat", st2.hdict)
        self.still_serves(c, "with two sessions open")


if __name__ == "__main__":
    unittest.main(verbosity=2)
