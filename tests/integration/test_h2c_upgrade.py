#!/usr/bin/python3
"""The h2c upgrade (RFC 9113 3.2) with an HTTP2-Settings value nghttp2
refuses: it must get a 400 before any 101, and nothing may leak. The leak
shows as a LeakSanitizer report at exit in the sanitizer build (the harness
fails on it) and as RSS growth over thousands of such requests in the
plain build. A good HTTP2-Settings still upgrades."""

import base64
import os
import struct
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

SRV = None
PAD = "p" * 1500  # about the size that leaked per request


def setUpModule():
    global SRV
    SRV = H.start_shared_server(protocols="http/1.1, h2c")


def tearDownModule():
    H.stop_shared_server(SRV)


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def settings(*pairs):
    return b"".join(struct.pack(">HI", k, v) for k, v in pairs)


def upgrade_request(value, method="GET", extra=()):
    return H.build_request(method, "/hello", [
        ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
        ("HTTP2-Settings", value), ("X-Pad", PAD)] + list(extra))


BAD = [
    ("length_not_multiple_of_6", b64url(b"\x00\x03\x00\x00\x00")),
    ("33_entries", b64url(settings(*[(0x3, 100)] * 33))),
    ("enable_push_2", b64url(settings((0x2, 2)))),
    ("window_over_2_31", b64url(settings((0x4, 1 << 31)))),
    ("max_frame_size_too_small", b64url(settings((0x5, 100)))),
    ("not_base64url", "AA!A"),
]


class H2cUpgrade(unittest.TestCase):
    def tearDown(self):
        self.assertTrue(SRV.alive(), "server died" + SRV.diagnostics())

    def test_bad_settings_get_400_not_101(self):
        for name, value in BAD:
            got, how = H.raw_exchange_ex(SRV.port, upgrade_request(value))
            self.assertNotIn(b" 101 ", got.split(b"\r\n", 1)[0], name)
            rs = H.parse_responses(got)
            self.assertEqual([r.status for r in rs], [400], "%s: got %r" % (name, got[:300]))
            self.assertIn(how, ("eof", "reset"), name)
        H.assert_serving(self, SRV, "bad HTTP2-Settings")

    def test_good_settings_still_upgrade(self):
        for value in ("", b64url(settings((0x3, 100), (0x4, 65535), (0x2, 0)))):
            s = H.connect(SRV.port)
            try:
                s.sendall(upgrade_request(value))
                rd = H.HTTPReader(s)
                head = rd.read_head()
            finally:
                s.close()
            self.assertEqual(head.status, 101, "HTTP2-Settings %r: %r" % (value, head))

    def test_upgraded_request_gets_its_body_end(self):
        """Stream 1 is a request like any other: its module hears on_body_end.
        hello answers a POST only then (an echo of the empty body)."""
        s = H.connect(SRV.port)
        s.sendall(upgrade_request("", "POST", [("Content-Length", "0")]))
        rd = H.HTTPReader(s)
        head = rd.read_head()
        self.assertEqual(head.status, 101, head)
        with C.RawConn(SRV.port, sock=s) as c:
            if rd.buf:
                c._feed(bytes(rd.buf))
            st = c.wait_stream(1)
            self.assertEqual(st.status, 200, "stream 1 after the upgrade: %s" % c.summary())
            self.assertTrue(st.ended, "stream 1 never ended (no on_body_end?): %r" % st)
            self.assertEqual(bytes(st.data), b"")

    def test_failed_upgrades_do_not_grow_rss(self):
        value = BAD[0][1]
        data = upgrade_request(value)
        n = 300 if H.is_sanitized() else 5000

        def run(count):
            for i in range(count):
                got, how = H.raw_exchange_ex(SRV.port, data)
                if not got.startswith(b"HTTP/1.1 400"):
                    self.fail("request %d: %r (%s)" % (i, got[:200], how))

        run(300)  # warm up the allocator's pools
        before = SRV.rss_kib()
        run(n)
        after = SRV.rss_kib()
        print("RSS %d KiB -> %d KiB over %d failed upgrades" % (before, after, n))
        if not H.is_sanitized():  # the sanitizer's leak check at exit covers that build
            self.assertLess(after - before, 2048, "RSS grew by %d KiB over %d failed upgrades"
                            % (after - before, n))


if __name__ == "__main__":
    unittest.main(verbosity=2)
