#!/usr/bin/python3
"""Graceful shutdown on SIGTERM: listeners close at once (new connects are
refused), idle keep-alive connections are closed promptly, requests in
flight are completed, then the process exits 0 — within shutdown_timeout,
after which whatever is left is cut."""

import os
import re
import select
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

BODY = (H.DEFAULT_GREETING + "\n").encode()


def idle_keepalive_conns(port, n):
    out = []
    for _ in range(n):
        s = H.connect(port)
        s.sendall(H.build_request("GET", "/hello"))
        r = H.HTTPReader(s).read_response()
        assert r.status == 200, r
        out.append(s)
    return out


def wait_all_closed(socks, t0, timeout):
    """{index: (how, seconds since t0)} for each socket, bounded by timeout."""
    res = {}
    left = dict(enumerate(socks))
    deadline = t0 + timeout
    while left and time.monotonic() < deadline:
        r, _, _ = select.select(list(left.values()), [], [], max(0.0, deadline - time.monotonic()))
        for s in r:
            i = [k for k, v in left.items() if v is s][0]
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                d, how = b"", "reset"
            else:
                how = "eof" if not d else None
            if how:
                res[i] = (how, time.monotonic() - t0)
                del left[i]
    for i in left:
        res[i] = ("timeout", None)
    return res


class Shutdown(unittest.TestCase):
    def test_inflight_completes_idle_closed_new_refused(self):
        with H.Server(server={"shutdown_timeout": "5s", "keepalive_timeout": "75s"}) as srv:
            idle = idle_keepalive_conns(srv.port, 4)
            slow = H.connect(srv.port)
            try:
                slow.sendall(H.build_request("GET", "/hello?delay=2000"))
                time.sleep(0.3)
                t0 = srv.signal()

                closed = wait_all_closed(idle, t0, H.scaled(1.5))
                print("\nidle keep-alive connections after SIGTERM: %s" % closed)
                for i, (how, el) in closed.items():
                    self.assertIn(how, ("eof", "reset"),
                                  "idle keep-alive connection %d not closed within %.1fs of "
                                  "SIGTERM" % (i, H.scaled(1.5)))

                time.sleep(max(0.0, 0.3 - (time.monotonic() - t0)))
                self.assertTrue(srv.alive(), "server exited with a request still in flight")
                refused = H.port_refuses(srv.port)
                still_alive = srv.alive()
                self.assertTrue(refused, "a new connection was accepted after SIGTERM")
                self.assertTrue(still_alive, "server exited with a request still in flight")

                rd = H.HTTPReader(slow, timeout=6)
                r = rd.read_response()
                self.assertEqual(r.status, 200, "in-flight request after SIGTERM: %r" % r)
                self.assertEqual(r.body, BODY, "in-flight response body was cut")
                how, extra = rd.wait_closed(2)
                self.assertIn(how, ("eof", "reset"),
                              "connection not closed after its in-flight response")
                self.assertEqual(extra, b"")
            finally:
                slow.close()
                for s in idle:
                    s.close()
            rc = srv.wait_exit(H.scaled(5) + 2)
            el = time.monotonic() - t0
            self.assertIsNotNone(rc, "server still running %.1fs after SIGTERM" % el)
            self.assertEqual(rc, 0, "exit status after SIGTERM" + srv.diagnostics())
            print("exited %.2fs after SIGTERM" % el)
            self.assertLess(el, 2.0 + H.scaled(1.5),
                            "server took %.2fs to exit although its last request ended at ~2s"
                            % el)

    def test_shutdown_timeout_cuts_long_request(self):
        with H.Server(server={"shutdown_timeout": "1s"}) as srv:
            s = H.connect(srv.port)
            try:
                s.sendall(H.build_request("GET", "/hello?delay=8000"))
                time.sleep(0.3)
                t0 = srv.signal()
                rc = srv.wait_exit(1.0 + H.scaled(3))
                el = time.monotonic() - t0
                self.assertIsNotNone(rc, "server still running %.1fs after SIGTERM with "
                                     "shutdown_timeout=1s" % el)
                self.assertGreaterEqual(el, 0.8, "exited after %.2fs, before shutdown_timeout, "
                                        "while a request was in flight" % el)
                self.assertEqual(rc, 0, srv.diagnostics())
                data, how = H.recv_until_close(s, 2)
                self.assertIn(how, ("eof", "reset"))
                self.assertFalse(data.startswith(b"HTTP/1.1 200"),
                                 "the 8 s request was answered 200 within a 1 s shutdown: %r"
                                 % data[:200])
            finally:
                s.close()

    def test_idle_connections_do_not_delay_exit(self):
        with H.Server(server={"shutdown_timeout": "10s", "keepalive_timeout": "75s"}) as srv:
            idle = idle_keepalive_conns(srv.port, 5)
            try:
                t0 = srv.signal()
                rc = srv.wait_exit(H.scaled(3))
                el = time.monotonic() - t0
            finally:
                for s in idle:
                    s.close()
            self.assertIsNotNone(rc, "idle keep-alive connections held the server past %.1fs "
                                 "(shutdown_timeout=10s)" % H.scaled(3))
            self.assertEqual(rc, 0)
            print("\nexit with 5 idle connections: %.2fs" % el)

    def test_sigterm_under_h2load(self):
        clients = 20
        with H.Server(server={"shutdown_timeout": "5s"}) as srv:
            url = "http://127.0.0.1:%d/hello" % srv.port
            h2 = subprocess.Popen(["h2load", "--h1", "-n", "1000000", "-c", str(clients),
                                   "-m", "1", "-D", "8", url],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            slow = None
            try:
                time.sleep(0.8)
                self.assertIsNone(h2.poll(), "h2load ended early")
                slow = H.connect(srv.port)
                slow.sendall(H.build_request("GET", "/hello?delay=1500"))
                time.sleep(0.3)
                t0 = srv.signal()

                rd = H.HTTPReader(slow, timeout=8)
                r = rd.read_response()
                self.assertEqual(r.status, 200, "in-flight request during load: %r" % r)
                self.assertEqual(r.body, BODY)
                how, _ = rd.wait_closed(3)
                self.assertIn(how, ("eof", "reset"))
                t_last = time.monotonic() - t0
                # close our side too: the server may linger until the client's
                # FIN before it lets go of the connection
                slow.close()
                slow = None

                rc = srv.wait_exit(5 + H.scaled(3))
                el = time.monotonic() - t0
                self.assertIsNotNone(rc, "server still running %.1fs after SIGTERM under load"
                                     % el)
                self.assertEqual(rc, 0, srv.diagnostics())
                print("\nlast response %.2fs, exit %.2fs after SIGTERM under load" % (t_last, el))
                self.assertLess(el, t_last + H.scaled(1.5),
                                "server lingered %.2fs after its last request ended" % (el - t_last))
                try:
                    out, _ = h2.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    h2.kill()
                    out, _ = h2.communicate(timeout=10)
                    self.fail("h2load did not end within 30 s after the server exited")
            finally:
                if slow:
                    slow.close()
                if h2.poll() is None:
                    h2.kill()
                    h2.wait(10)
            text = out.decode("latin-1")
            print("\n".join(l for l in text.splitlines()
                            if re.match(r"(finished|requests|status codes|traffic)", l)))
            st = H.parse_h2load(text)
            self.assertIsNotNone(st, "no h2load summary:\n" + text[-3000:])
            self.assertGreater(st["succeeded"], 100, "the load was not running:\n" + text[-3000:])
            self.assertEqual(st.get("4xx", 0) + st.get("5xx", 0), 0,
                             "error statuses during shutdown:\n" + text[-3000:])
            # Every request that got a response got a whole 2xx one. A request
            # can only be lost when it was still travelling to the server as
            # the server closed that connection: at most one per connection.
            lost = st["started"] - st["succeeded"]
            self.assertLessEqual(lost, clients,
                                 "%d started requests did not complete (at most one per "
                                 "connection may be lost at close):\n%s" % (lost, text[-3000:]))


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
