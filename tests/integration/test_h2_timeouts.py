#!/usr/bin/python3
"""HTTP/2 timeouts: a stream that makes no progress is reset after
h2_stream_idle_timeout while a slow but steady upload is not; a header block
left open is not held forever; an idle connection gets a PING after
keepalive_timeout and is closed with GOAWAY when the PING is not answered
within h2_ping_timeout, and kept when it is."""

import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

GREETING = H.DEFAULT_GREETING
BODY = (GREETING + "\n").encode()


class StreamIdle(unittest.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        H.check_environment()
        cls.srv = C.H2Server(server={"h2_stream_idle_timeout": "1s",
                                     "keepalive_timeout": "60s",
                                     "body_timeout": "60s", "header_timeout": "60s"})
        cls.srv.__enter__()

    @classmethod
    def tearDownClass(cls):
        if cls.srv is not None:
            cls.srv.__exit__(None, None, None)

    def conn(self):
        c = C.RawConn(self.srv.port)
        self.assertTrue(C.wait_settings_and_ack(c), c.summary())
        return c

    def test_stalled_stream_reset(self):
        with self.conn() as c:
            sid = c.send_request("POST", "/hello", end_stream=False)
            t0 = time.monotonic()
            st = c.stream(sid)
            c.pump(lambda: st.reset is not None or st.ended, 1.0 + H.scaled(3))
            el = (st.t_end or time.monotonic()) - t0
            self.assertIsNotNone(st.reset, "a stream with HEADERS and then silence was not "
                                 "reset within %.1fs (h2_stream_idle_timeout = 1s): %r %s"
                                 % (1.0 + H.scaled(3), st, c.summary()))
            self.assertGreater(el, 0.8, "reset after %.2fs, before the 1 s timeout" % el)
            print("\nstalled stream reset after %.2fs with %s" % (el, C.errname(st.reset)))
            # only the stream: the connection goes on
            self.assertEqual(c.goaways, [])
            st2 = c.get("/hello")
            self.assertEqual((st2.status, bytes(st2.data)), (200, BODY), st2)

    def test_steady_slow_upload_not_reset(self):
        """Progress every 0.4 s for 3 s: longer than the timeout in total, but
        never idle for it."""
        with self.conn() as c:
            sid = c.send_request("POST", "/hello", end_stream=False)
            sent = b""
            for i in range(8):
                c.pump(None, 0.4, scale=False)
                piece = b"piece %d;" % i
                sent += piece
                c.send_body(sid, piece, end_stream=(i == 7))
                self.assertIsNone(c.stream(sid).reset, "a stream sending a DATA frame every "
                                  "0.4 s was reset after %d frames: %r" % (i, c.stream(sid)))
            st = c.wait_stream(sid)
            self.assertEqual((st.status, bytes(st.data)), (200, sent), st)

    def test_slow_handler_not_reset(self):
        """A complete request waiting on its handler (hello ?delay=1500) is
        not a client stalling: none of headers, body or window is owed by the
        client, so h2_stream_idle_timeout = 1s must not cut it."""
        with self.conn() as c:
            st = c.get("/hello?delay=1500", timeout=6)
            self.assertEqual((st.status, bytes(st.data)), (200, BODY),
                             "a 1.5 s handler under h2_stream_idle_timeout = 1s: %r" % st)

    def test_open_header_block_not_held(self):
        with self.conn() as c:
            sid = c.new_sid()
            blk = c.block("GET", "/hello")
            c.send(C.headers_frame(sid, blk[:5], end_stream=True, end_headers=False))
            t0 = time.monotonic()
            st = c.stream(sid)
            c.pump(lambda: c.closed or st.reset is not None, 1.0 + H.scaled(4))
            how = c.closed
            self.assertTrue(how in ("eof", "reset") or st.reset is not None,
                            "a header block left open was held for %.1fs (h2_stream_idle_"
                            "timeout = 1s): %s" % (time.monotonic() - t0, c.summary()))
            self.assertIsNone(st.status)
        H.assert_serving(self, self.srv, "after an open header block")


class IdlePing(unittest.TestCase):
    def test_idle_connection_ping(self):
        with C.H2Server(server={"keepalive_timeout": "1s", "h2_ping_timeout": "1s"}) as srv:
            good = C.RawConn(srv.port, auto_ping=True)
            bad = C.RawConn(srv.port, auto_ping=False)
            try:
                for c in (good, bad):
                    self.assertTrue(C.wait_settings_and_ack(c), c.summary())
                    st = c.get("/hello")
                    self.assertEqual(st.status, 200, st)
                t0 = time.monotonic()
                # the bad client: PING after ~1 s idle, GOAWAY + close ~1 s later
                # both pumped together: the good one answers its PING meanwhile
                deadline = t0 + 2.0 + H.scaled(3)
                while bad.closed is None and time.monotonic() < deadline:
                    bad.pump(None, 0.02, scale=False)
                    good.pump(None, 0.02, scale=False)
                how = bad.closed or "timeout"
                el = time.monotonic() - t0
                self.assertTrue(bad.pings, "no PING to an idle connection within %.1fs "
                                "(keepalive_timeout = 1s): %s" % (el, bad.summary()))
                self.assertIn(how, ("eof", "reset"), "a connection that never answered the "
                              "PING is still open after %.1fs: %s" % (el, bad.summary()))
                ping_at = bad.ping_times[0] - t0
                close_at = bad.closed_at - t0
                print("\nunanswered: PING at %.2fs, GOAWAY %r, closed at %.2fs"
                      % (ping_at, bad.goaways, close_at))
                self.assertGreater(ping_at, 0.7, "PING before keepalive_timeout")
                self.assertGreater(close_at - ping_at, 0.7,
                                   "closed %.2fs after the PING, before h2_ping_timeout = 1s"
                                   % (close_at - ping_at))
                # the good client, meanwhile, answered and is still open
                good.pump(None, max(0.0, 4.0 - (time.monotonic() - t0)), scale=False)
                self.assertTrue(good.pings, "the answering client got no PING either")
                self.assertIsNone(good.closed, "a client that answers PINGs was closed: "
                                  + good.summary())
                self.assertEqual(good.goaways, [], good.summary())
                st = good.get("/hello")
                self.assertEqual((st.status, bytes(st.data)), (200, BODY), st)
                print("answering client: %d PINGs in 4 s, still open" % len(good.pings))
                self.assertTrue(bad.goaways, "the connection that did not answer the PING was "
                                "closed without a GOAWAY: " + bad.summary())
                self.assertEqual(bad.goaways[0].last_stream_id(), 1,
                                 "GOAWAY last-stream-id (stream 1 was processed)")
            finally:
                good.close()
                bad.close()


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
