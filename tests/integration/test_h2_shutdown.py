#!/usr/bin/python3
"""Graceful shutdown over HTTP/2: on SIGTERM every HTTP/2 connection gets a
GOAWAY (NO_ERROR) whose last-stream-id covers the streams the server is
working on; those streams finish with their whole body, then the connection
closes and the server exits 0. Idle HTTP/2 connections are closed at once."""

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


class Shutdown(unittest.TestCase):
    def test_sigterm_inflight_stream_completes(self):
        with C.H2Server(server={"shutdown_timeout": "5s", "keepalive_timeout": "75s"},
                        listeners=[{"tls": True, "protocols": "h2, http/1.1"}]) as srv:
            srv.expect_prompt_stop = False
            c = C.RawConn(srv.port)
            t = C.RawConn(srv.ports[0], tls=True)
            idle = C.RawConn(srv.port)
            try:
                for x in (c, t, idle):
                    self.assertTrue(C.wait_settings_and_ack(x), x.summary())
                self.assertEqual(t.alpn, "h2")
                self.assertEqual(idle.get("/hello").status, 200)
                sid = c.send_request("GET", "/hello?delay=1500")
                tsid = t.send_request("GET", "/hello?delay=1500")
                c.flush()
                t.flush()
                time.sleep(0.3)
                t0 = srv.signal()

                # the idle connection: GOAWAY and closed promptly
                how = idle.wait_closed(H.scaled(1.5))
                self.assertIn(how, ("eof", "reset"), "idle h2 connection not closed within "
                              "%.1fs of SIGTERM" % H.scaled(1.5))

                # the busy one: GOAWAY first, the stream still served
                self.assertTrue(c.pump(lambda: c.goaways, 1.0), "no GOAWAY within 1 s of "
                                "SIGTERM: " + c.summary())
                self.assertIsNone(c.stream(sid).status, "the slow stream ended early")
                # a stream opened after the GOAWAY: served only if the final
                # GOAWAY's last-stream-id says so
                late = c.send_request("GET", "/hello")
                st = c.wait_stream(sid, 6)
                self.assertEqual(st.status, 200, "in-flight stream after SIGTERM: %r %s"
                                 % (st, c.summary()))
                self.assertEqual(bytes(st.data), BODY, "in-flight body cut")
                how = c.wait_closed(H.scaled(3))
                self.assertIn(how, ("eof", "reset"),
                              "connection not closed after its last stream: " + c.summary())
                codes = [g.error_code() for g in c.goaways]
                self.assertEqual(set(codes), {C.NO_ERROR}, "GOAWAY codes on SIGTERM: %r"
                                 % c.goaways)
                final = c.goaways[-1].last_stream_id()
                self.assertGreaterEqual(final, sid, "GOAWAY last-stream-id %d does not cover "
                                        "the in-flight stream %d" % (final, sid))
                lst = c.stream(late)
                if late <= final:
                    self.assertEqual(lst.status, 200, "stream %d is covered by last-stream-id "
                                     "%d but was not answered: %r" % (late, final, lst))
                else:
                    self.assertIsNone(lst.status, "stream %d opened after GOAWAY (last-stream-"
                                      "id %d) was answered: %r" % (late, final, lst))
                print("\nGOAWAYs %r; late stream %d: %r" % (c.goaways, late, lst))

                tst = t.wait_stream(tsid, 3)
                self.assertEqual((tst.status, bytes(tst.data)), (200, BODY),
                                 "in-flight stream over TLS: %r %s" % (tst, t.summary()))
                self.assertTrue(t.goaways and t.goaways[-1].error_code() == C.NO_ERROR,
                                t.summary())
                self.assertIn(t.wait_closed(H.scaled(3)), ("eof", "reset"))

                self.assertTrue(H.port_refuses(srv.port), "new connections accepted after "
                                "SIGTERM")
                self.assertTrue(idle.goaways, "the idle h2 connection was closed without a "
                                "GOAWAY: " + idle.summary())
                self.assertEqual(idle.goaways[-1].error_code(), C.NO_ERROR, idle.goaways)
            finally:
                for x in (c, t, idle):
                    x.close()
                srv.wait_exit(H.scaled(8))  # no second SIGTERM from the harness
            rc = srv.wait_exit(H.scaled(5) + 2)
            el = time.monotonic() - t0
            self.assertIsNotNone(rc, "server still running %.1fs after SIGTERM" % el)
            self.assertEqual(rc, 0, "exit status after SIGTERM" + srv.diagnostics())
            print("exited %.2fs after SIGTERM" % el)
            self.assertLess(el, 1.5 + H.scaled(1.5), "exit %.2fs after SIGTERM although the "
                            "last stream ended at ~1.2s" % el)

    def test_sigterm_idle_h2_connections_do_not_delay_exit(self):
        with C.H2Server(server={"shutdown_timeout": "10s", "keepalive_timeout": "75s"}) as srv:
            conns = []
            try:
                for _ in range(5):
                    c = C.RawConn(srv.port)
                    self.assertEqual(c.get("/hello").status, 200)
                    conns.append(c)
                t0 = srv.signal()
                for c in conns:
                    self.assertIn(c.wait_closed(H.scaled(2)), ("eof", "reset"), c.summary())
                rc = srv.wait_exit(H.scaled(3))
                el = time.monotonic() - t0
                for c in conns:
                    self.assertTrue(c.goaways, "an idle h2 connection was closed on SIGTERM "
                                    "without a GOAWAY: " + c.summary())
                    self.assertEqual(c.goaways[-1].error_code(), C.NO_ERROR)
                    self.assertEqual(c.goaways[-1].last_stream_id(), 1, c.goaways)
            finally:
                for c in conns:
                    c.close()
                srv.wait_exit(H.scaled(8))
            self.assertIsNotNone(rc, "idle HTTP/2 connections held the server past %.1fs"
                                 % H.scaled(3))
            self.assertEqual(rc, 0)
            print("\nexit with 5 idle h2 connections: %.2fs" % el)

    def test_shutdown_timeout_cuts_long_stream(self):
        with C.H2Server(server={"shutdown_timeout": "1s"}) as srv:
            c = C.RawConn(srv.port)
            try:
                sid = c.send_request("GET", "/hello?delay=8000")
                c.flush()
                time.sleep(0.3)
                t0 = srv.signal()
                rc = srv.wait_exit(1.0 + H.scaled(3))
                el = time.monotonic() - t0
                self.assertIsNotNone(rc, "server still running %.1fs after SIGTERM with "
                                     "shutdown_timeout=1s" % el)
                self.assertGreaterEqual(el, 0.8, "exited after %.2fs, before shutdown_timeout"
                                        % el)
                self.assertEqual(rc, 0, srv.diagnostics())
                self.assertIn(c.wait_closed(2), ("eof", "reset"))
                self.assertIsNone(c.stream(sid).status, "the 8 s stream was answered")
                self.assertTrue(c.goaways, "no GOAWAY before the cut: " + c.summary())
            finally:
                c.close()


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
