#!/usr/bin/python3
"""Timeouts with header_timeout, keepalive_timeout and body_timeout at 1 s:
stalled clients are answered 408 (when a request had begun) and closed
within about 1-3 s; clients inside the limits are not disturbed."""

import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SRV = None
LOW = 0.8   # a 1 s timeout must not fire before this
HIGH = 3.0  # ... and must have fired by this (scaled under ASan)


def setUpModule():
    global SRV
    H.check_environment()
    SRV = H.Server(server={"header_timeout": "1s", "keepalive_timeout": "1s",
                           "body_timeout": "1s"})
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


class Timeouts(unittest.TestCase):
    def tearDown(self):
        self.assertTrue(SRV.alive(), "server died" + SRV.diagnostics())

    def wait_close(self, s, t0):
        data, how = H.recv_until_close(s, H.scaled(HIGH + 2))
        return data, how, time.monotonic() - t0

    def assert_window(self, elapsed, what):
        self.assertGreaterEqual(elapsed, LOW, "%s: closed after %.2fs, before the 1 s timeout"
                                % (what, elapsed))
        self.assertLessEqual(elapsed, H.scaled(HIGH), "%s: closed only after %.2fs" %
                             (what, elapsed))

    def test_partial_request_line_gets_408(self):
        s = H.connect(SRV.port)
        try:
            t0 = time.monotonic()
            s.sendall(b"GET /hel")
            data, how, el = self.wait_close(s, t0)
        finally:
            s.close()
        self.assertIn(how, ("eof", "reset"), "not closed within %.1fs; got %r" %
                      (H.scaled(HIGH + 2), data[:200]))
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), "expected a 408, got %r" % data[:200])
        self.assertEqual(len(H.parse_responses(data)), 1)
        self.assert_window(el, "half a request line")

    def test_partial_headers_gets_408(self):
        s = H.connect(SRV.port)
        try:
            t0 = time.monotonic()
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            data, how, el = self.wait_close(s, t0)
        finally:
            s.close()
        self.assertIn(how, ("eof", "reset"))
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), "expected a 408, got %r" % data[:200])
        self.assert_window(el, "unfinished headers")

    def test_silent_client_closed(self):
        s = H.connect(SRV.port)
        try:
            t0 = time.monotonic()
            data, how, el = self.wait_close(s, t0)
        finally:
            s.close()
        self.assertIn(how, ("eof", "reset"), "a client that sends nothing was not closed")
        if data:
            self.assertTrue(data.startswith(b"HTTP/1.1 408"), "unexpected bytes %r" % data[:200])
        self.assert_window(el, "silent client")

    def test_idle_keepalive_closed(self):
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("GET", "/hello"))
            rd = H.HTTPReader(s)
            r = rd.read_response()
            t0 = time.monotonic()
            self.assertEqual(r.status, 200)
            how, extra = rd.wait_closed(HIGH + 2)
            el = time.monotonic() - t0
        finally:
            s.close()
        self.assertIn(how, ("eof", "reset"), "idle keep-alive connection not closed")
        if extra:  # only a whole 408 may come; never garbage
            rs = H.parse_responses(extra)
            self.assertEqual([x.status for x in rs], [408], "unexpected bytes %r" % extra[:200])
        self.assert_window(el, "idle keep-alive connection")

    def test_stalled_body_closed(self):
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("POST", "/hello", content_length=100) + b"0123456789")
            t0 = time.monotonic()
            data, how, el = self.wait_close(s, t0)
        finally:
            s.close()
        self.assertIn(how, ("eof", "reset"), "stalled request body: connection not closed")
        if data:
            # the echo may have begun (200, chunk of 10 bytes) or a 408 came
            self.assertTrue(data.startswith(b"HTTP/1.1 "), data[:200])
        self.assert_window(el, "stalled body")

    def test_slow_but_within_timeout(self):
        s = H.connect(SRV.port)
        try:
            req = H.build_request("GET", "/hello")
            s.sendall(req[:8])
            time.sleep(0.4)
            s.sendall(req[8:20])
            time.sleep(0.3)
            s.sendall(req[20:])
            r = H.HTTPReader(s).read_response()
        finally:
            s.close()
        self.assertEqual(r.status, 200)

    def test_active_keepalive_not_closed(self):
        # a request every 0.5 s for ~3 s: the idle timer restarts each time
        s = H.connect(SRV.port)
        try:
            rd = H.HTTPReader(s)
            for i in range(6):
                s.sendall(H.build_request("GET", "/hello?i=%d" % i))
                self.assertEqual(rd.read_response().status, 200, "request %d" % i)
                time.sleep(0.5)
        finally:
            s.close()

    def test_slow_response_not_cut_by_keepalive_timeout(self):
        # a response that takes 1.6 s (longer than every timeout here) is
        # still delivered: timeouts apply to the client, not to the handler
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("GET", "/hello?delay=1600"))
            r = H.HTTPReader(s).read_response()
        finally:
            s.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, (H.DEFAULT_GREETING + "\n").encode())

    def test_zz_still_serving(self):
        H.assert_serving(self, SRV, "timeouts")


if __name__ == "__main__":
    unittest.main(verbosity=2)
