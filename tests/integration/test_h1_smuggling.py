#!/usr/bin/python3
"""HTTP/1.1 framing holes that make request smuggling possible, over raw
sockets: the CRLF after chunk data, obs-fold (RFC 9112 5.2) wherever the
reads split it, Host validation (RFC 9112 3.2), bounded chunk extensions,
and the single 400 for a non-HTTP first line on the h1+h2c port. Each bad
case must get exactly one 400 and a close; a control that differs only in
the bad part must be served, so a check that refuses everything fails."""

import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SRV = None


def setUpModule():
    global SRV
    SRV = H.start_shared_server(protocols="http/1.1, h2c")


def tearDownModule():
    H.stop_shared_server(SRV)


def post_chunked(body):
    return (b"POST /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + body)


def send_parts(parts, pause=0.02, timeout=5):
    """Sends each part with a pause between (separate reads on the server);
    returns (bytes received, how the connection ended)."""
    s = H.connect(SRV.port)
    try:
        try:
            for i, p in enumerate(parts):
                if i:
                    time.sleep(pause)
                s.sendall(p)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return H.recv_until_close(s, H.scaled(timeout))
    finally:
        s.close()


class Smuggling(unittest.TestCase):
    def tearDown(self):
        self.assertTrue(SRV.alive(), "server died" + SRV.diagnostics())

    def assert_one_400(self, what, got, how):
        self.assertIn(how, ("eof", "reset"), "%s: connection left open; got %r" % (what, got))
        rs = H.parse_responses(got)
        self.assertEqual([r.status for r in rs], [400], "%s: got %r" % (what, got[:600]))

    def assert_echo(self, what, got, body):
        rs = H.parse_responses(got)
        self.assertTrue(rs, "%s: no response: %r" % (what, got[:300]))
        self.assertEqual(rs[0].status, 200, "%s: %r" % (what, got[:300]))
        self.assertEqual(rs[0].body, body, what)

    # ---- the CRLF after chunk data ----------------------------------

    def test_two_bytes_after_chunk_data_are_400(self):
        got, how = H.raw_exchange_ex(SRV.port, post_chunked(b"5\r\nhelloXX0\r\n\r\n"))
        self.assert_one_400("5\\r\\nhelloXX0", got, how)

    def test_chunk_size_hidden_in_skipped_bytes_serves_no_hidden_get(self):
        # "\n4" would be skipped and "c" read as a 12-byte chunk, after which
        # the hidden GET is a second request.
        hidden = b"GET /hello/hidden HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        body = b"2\r\nAA\n4c\r\n" + b"B" * 12 + b"\r\n0\r\n\r\n" + hidden
        got, how = H.raw_exchange_ex(SRV.port, post_chunked(body))
        self.assert_one_400("chunk size hidden after chunk data", got, how)
        self.assertNotIn("/hello/hidden", SRV.access_log_text())

    def test_lf_only_after_chunk_data_is_400(self):
        got, how = H.raw_exchange_ex(SRV.port, post_chunked(b"5\r\nhello\n0\r\n\r\n"))
        self.assert_one_400("bare LF after chunk data", got, how)

    def test_chunk_crlf_checked_at_every_split(self):
        good = post_chunked(b"5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n")
        bad = post_chunked(b"5\r\nhello\rX3\r\nabc\r\n0\r\n\r\n")
        start = good.index(b"hello")
        for cut in range(start, start + 8):
            got, how = send_parts([good[:cut], good[cut:]])
            self.assert_echo("good chunks split at %d" % cut, got, b"helloabc")
            got, how = send_parts([bad[:cut], bad[cut:]])
            self.assert_one_400("CR then X after chunk data, split at %d" % cut, got, how)

    # ---- obs-fold -----------------------------------------------------

    FOLDED = [
        ("empty_cl_folded", b"POST /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         b"Content-Length:\r\n 5\r\n\r\nhello"),
        ("empty_te_folded", b"POST /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         b"Transfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("value_folded", b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a b\r\n\tc\r\n\r\n"),
        ("fold_of_spaces_only", b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n  \r\n\r\n"),
        ("empty_value_folded_empty", b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A:\r\n \r\n"
         b"X-B: b\r\n\r\n"),
    ]

    def test_obs_fold_is_400_at_every_split(self):
        for name, data in self.FOLDED:
            got, how = H.raw_exchange_ex(SRV.port, data)
            self.assert_one_400(name, got, how)
            head_end = data.index(b"\r\n\r\n") + 4
            for cut in range(data.index(b"\r\n") + 2, head_end):
                got, how = send_parts([data[:cut], data[cut:]])
                self.assert_one_400("%s split at %d (%r | %r)" % (name, cut, data[:cut][-8:],
                                                                 data[cut:][:8]), got, how)

    def test_unfolded_values_pass_at_every_split(self):
        # Spaces inside a value and after the colon, split anywhere: served.
        data = (b"POST /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A:  a b \t c\r\n"
                b"Content-Length: 5\r\n\r\nhello")
        head_end = data.index(b"\r\n\r\n") + 4
        for cut in range(data.index(b"\r\n") + 2, head_end):
            s = H.connect(SRV.port)
            try:
                s.sendall(data[:cut])
                time.sleep(0.02)
                s.sendall(data[cut:])
                r = H.HTTPReader(s).read_response()
            finally:
                s.close()
            self.assertEqual((r.status, r.body), (200, b"hello"), "split at %d" % cut)

    # ---- Host ---------------------------------------------------------

    BAD_HOSTS = [b"", b"a b", b"exa mple.com", b"a/b", b"a@b", b"a:port", b"a:99999",
                 b"a:", b"a:123456", b"[::1", b"[zz]", b"[::1]x", b"a%zz", b"a\"b",
                 b"[v1.]", b"127.0.0.1:80:80"]
    GOOD_HOSTS = [b"127.0.0.1", b"127.0.0.1:8080", b"localhost", b"[::1]", b"[::1]:80",
                  b"xn--bcher-kva.example", b"a_b~c-d.e", b"a%20b", b"[v1.x:y]", b"h:65535"]

    def test_invalid_host_is_400(self):
        for host in self.BAD_HOSTS:
            data = b"GET /hello HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
            got, how = H.raw_exchange_ex(SRV.port, data)
            self.assert_one_400("Host: %r" % host, got, how)
        got, how = H.raw_exchange_ex(SRV.port, b"GET /hello HTTP/1.0\r\nHost: a b\r\n\r\n")
        self.assert_one_400("HTTP/1.0 Host: a b", got, how)

    def test_valid_host_is_served(self):
        for host in self.GOOD_HOSTS:
            r = H.http_request(SRV.port, "GET", "/hello", headers=[("Host", host.decode())])
            self.assertEqual(r.status, 200, "Host: %r: %r" % (host, r))

    def test_empty_host_allowed_without_origin_form(self):
        # An absolute-form target carries the authority itself.
        got, how = H.raw_exchange_ex(
            SRV.port, b"GET http://127.0.0.1/hello HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n")
        rs = H.parse_responses(got)
        self.assertEqual([r.status for r in rs], [200], got[:300])

    # ---- chunk extensions ---------------------------------------------

    def test_huge_chunk_extension_is_400(self):
        for ext in (b";a" * 50000, b";" + b"n" * 100000, b";" * 5000):
            got, how = H.raw_exchange_ex(
                SRV.port, post_chunked(b"5" + ext + b"\r\nhello\r\n0\r\n\r\n"))
            self.assert_one_400("chunk extension of %d bytes" % len(ext), got, how)

    def test_modest_chunk_extension_is_served(self):
        ext = b";name=" + b"v" * 1000
        got, how = H.raw_exchange_ex(SRV.port, post_chunked(
            b"5" + ext + b"\r\nhello\r\n3" + ext + b"\r\nabc\r\n0\r\n\r\n") + b"")
        self.assert_echo("1 KB chunk extensions", got, b"helloabc")

    # ---- one 400 for a bad preface-sized first line --------------------

    def test_non_http_first_bytes_get_one_400_and_one_log_line(self):
        before = SRV.error_log_text().count("closing:")
        got, how = H.raw_exchange_ex(SRV.port, b"INVALID CONNECTION PREFACE\r\n\r\n")
        self.assertIn(how, ("eof", "reset"))
        self.assertEqual(got.count(b"HTTP/1.1 400"), 1, "got %r" % got)
        H.wait_for(lambda: SRV.error_log_text().count("closing:") > before, H.scaled(3))
        time.sleep(H.scaled(0.3))
        self.assertEqual(SRV.error_log_text().count("closing:") - before, 1,
                         SRV.error_log_text()[-1500:])
        H.assert_serving(self, SRV, "non-HTTP first bytes")


if __name__ == "__main__":
    unittest.main(verbosity=2)
