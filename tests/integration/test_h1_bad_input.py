#!/usr/bin/python3
"""Bad HTTP/1.1 input over a raw socket. Each case must get the expected
status, then the server closes that connection, and a fresh client is still
served. Limits are lowered so each limit can be crossed cheaply; a control
just under each limit must still be served (so a limit that rejects
everything fails too)."""

import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SRV = None
LIMITS = {"max_body_size": "1k", "max_uri_length": "1k", "max_header_size": "4k",
          "max_header_count": "20"}


def setUpModule():
    global SRV
    H.check_environment()
    SRV = H.Server(server=dict(LIMITS, log_level="debug"))
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


HOSTH = b"Host: 127.0.0.1\r\n"


def req(first_line, headers=b"", body=b""):
    return first_line + b"\r\n" + HOSTH + headers + b"\r\n" + body


def hdrs(n, size=10, prefix="X-H"):
    return b"".join(b"%s%d: %s\r\n" % (prefix.encode(), i, b"v" * size) for i in range(n))


# (name, bytes to send, expected status)
BAD = [
    ("garbage_request_line", b"GARBAGE\r\n\r\n", 400),
    ("binary_request_line", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400),
    ("bad_method_char", req(b"G@T /hello HTTP/1.1"), 400),
    ("extra_token_in_request_line", req(b"GET /hello HTTP/1.1 extra"), 400),
    ("bad_version_text", req(b"GET /hello HTTX/1.1"), 400),
    ("cl_and_te", req(b"POST /hello HTTP/1.1",
                      b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                      b"5\r\nhello\r\n0\r\n\r\n"), 400),
    ("te_and_cl", req(b"POST /hello HTTP/1.1",
                      b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                      b"5\r\nhello\r\n0\r\n\r\n"), 400),
    ("two_different_cl", req(b"POST /hello HTTP/1.1",
                             b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), 400),
    ("cl_list_different", req(b"POST /hello HTTP/1.1", b"Content-Length: 5, 6\r\n",
                              b"hello!"), 400),
    ("cl_not_a_number", req(b"POST /hello HTTP/1.1", b"Content-Length: abc\r\n", b"abc"), 400),
    ("cl_negative", req(b"POST /hello HTTP/1.1", b"Content-Length: -1\r\n", b"a"), 400),
    ("cl_hex", req(b"POST /hello HTTP/1.1", b"Content-Length: 0x10\r\n", b"a" * 16), 400),
    ("te_gzip", req(b"POST /hello HTTP/1.1", b"Transfer-Encoding: gzip\r\n", b"abc"), 501),
    ("body_over_limit_cl", req(b"POST /hello HTTP/1.1", b"Content-Length: 2048\r\n"), 413),
    ("body_over_limit_cl_huge", req(b"POST /hello HTTP/1.1",
                                    b"Content-Length: 99999999999999\r\n"), 413),
    # one chunk larger than the limit: refused before the module sees a byte
    ("body_over_limit_chunked", req(b"POST /hello HTTP/1.1", b"Transfer-Encoding: chunked\r\n",
                                    H.chunked(b"z" * 2000, sizes=(2000,))), 413),
    ("uri_too_long", req(b"GET /hello/" + b"a" * 2000 + b" HTTP/1.1"), 414),
    ("uri_too_long_query", req(b"GET /hello?q=" + b"a" * 2000 + b" HTTP/1.1"), 414),
    ("one_header_too_big", req(b"GET /hello HTTP/1.1", b"X-Big: " + b"b" * 5000 + b"\r\n"), 431),
    ("headers_total_too_big", req(b"GET /hello HTTP/1.1", hdrs(12, 400)), 431),
    ("too_many_headers", req(b"GET /hello HTTP/1.1", hdrs(40)), 431),
    ("http_2_0", req(b"GET /hello HTTP/2.0"), 505),
    ("http_3_0", req(b"GET /hello HTTP/3.0"), 505),
    ("header_name_space", req(b"GET /hello HTTP/1.1", b"Bad Header: x\r\n"), 400),
    ("header_name_paren", req(b"GET /hello HTTP/1.1", b"X-(bad): x\r\n"), 400),
    ("header_name_ctl", req(b"GET /hello HTTP/1.1", b"X-\x01: x\r\n"), 400),
    ("space_before_colon", req(b"GET /hello HTTP/1.1", b"X-A : 1\r\n"), 400),
    ("bare_lf_everywhere", b"GET /hello HTTP/1.1\nHost: 127.0.0.1\n\n", 400),
    ("bare_lf_in_headers", b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\nX-A: 1\r\n\r\n", 400),
    ("obs_fold", req(b"GET /hello HTTP/1.1", b"X-A: 1\r\n  continued\r\n"), 400),
]

# Just under each limit: must be served normally.
GOOD = [
    ("body_at_limit", req(b"POST /hello HTTP/1.1", b"Content-Length: 1024\r\n", b"q" * 1024),
     200, b"q" * 1024),
    ("chunked_at_limit", req(b"POST /hello HTTP/1.1", b"Transfer-Encoding: chunked\r\n",
                             H.chunked(b"r" * 1000, sizes=(300,))), 200, b"r" * 1000),
    ("uri_under_limit", req(b"GET /hello/" + b"a" * 900 + b" HTTP/1.1"), 200, None),
    ("headers_under_size", req(b"GET /hello HTTP/1.1", hdrs(6, 400)), 200, None),
    ("headers_under_count", req(b"GET /hello HTTP/1.1", hdrs(10)), 200, None),
    ("te_chunked_ok", req(b"POST /hello HTTP/1.1", b"Transfer-Encoding: chunked\r\n",
                          H.chunked(b"fine", sizes=(2,))), 200, b"fine"),
    ("same_cl_twice", req(b"POST /hello HTTP/1.1",
                          b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc"), None, None),
]


class BadInput(unittest.TestCase):
    def tearDown(self):
        self.assertTrue(SRV.alive(), "server died" + SRV.diagnostics())

    def check_bad(self, name, data, expected):
        got, how = H.raw_exchange_ex(SRV.port, data, timeout=5)
        self.assertTrue(got, "%s: no response at all (connection %s)" % (name, how))
        first = got.split(b"\r\n", 1)[0]
        self.assertTrue(first.startswith(b"HTTP/1.1 %d" % expected) or
                        first.startswith(b"HTTP/1.0 %d" % expected),
                        "%s: expected %d, got status line %r (full: %r)"
                        % (name, expected, first, got[:400]))
        self.assertIn(how, ("eof", "reset"),
                      "%s: server did not close the connection after %d (it waited %ss)"
                      % (name, expected, "5"))
        rs = H.parse_responses(got)
        self.assertEqual(len(rs), 1, "%s: expected exactly one response, got %r" % (name, rs))
        H.assert_serving(self, SRV, "bad input " + name)

    def check_good(self, name, data, expected, body):
        s = H.connect(SRV.port)
        try:
            s.sendall(data)
            r = H.HTTPReader(s).read_response()
        finally:
            s.close()
        if expected is None:  # either accepted or a clean 400; never a crash
            self.assertIn(r.status, (200, 400), "%s: %r" % (name, r))
        else:
            self.assertEqual(r.status, expected, "%s: %r" % (name, r))
        if body is not None:
            self.assertEqual(r.body, body, name)

    def test_chunked_over_limit_while_streaming(self):
        # The echo starts answering with the first chunks; when a later chunk
        # crosses max_body_size the answer is either a 413 (not started yet)
        # or a 200 that is visibly cut: never a complete-looking response.
        s = H.connect(SRV.port)
        try:
            s.sendall(req(b"POST /hello HTTP/1.1", b"Transfer-Encoding: chunked\r\n"))
            body = H.chunked(b"z" * 2000, sizes=(400,))
            for i in range(0, len(body), 405):
                s.sendall(body[i:i + 405])
                time.sleep(0.05)
            got, how = H.recv_until_close(s, H.scaled(5))
        except (BrokenPipeError, ConnectionResetError):
            got, how = H.recv_until_close(s, H.scaled(5))
        finally:
            s.close()
        self.assertIn(how, ("eof", "reset"), "connection not closed after the body crossed "
                      "max_body_size; got %r" % got[:300])
        if got.startswith(b"HTTP/1.1 413"):
            return
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:300])
        with self.assertRaises(H.IncompleteResponse,
                               msg="a chunked echo over max_body_size ended like a complete "
                               "response: %r" % got[-100:]):
            H.parse_responses(got)
        H.assert_serving(self, SRV, "chunked body over the limit")

    def test_valid_then_bad_pipelined(self):
        data = H.build_request("GET", "/hello") + b"GARBAGE\r\n\r\n"
        got, how = H.raw_exchange_ex(SRV.port, data, timeout=5)
        rs = H.parse_responses(got)
        self.assertEqual([r.status for r in rs], [200, 400], "got %r" % got[:500])
        self.assertIn(how, ("eof", "reset"))

    def test_bad_after_keepalive_exchange(self):
        s = H.connect(SRV.port)
        try:
            rd = H.HTTPReader(s)
            s.sendall(H.build_request("GET", "/hello"))
            self.assertEqual(rd.read_response().status, 200)
            s.sendall(b"GARBAGE\r\n\r\n")
            r = rd.read_response()
            self.assertEqual(r.status, 400)
            how, extra = rd.wait_closed(5)
            self.assertIn(how, ("eof", "reset"))
        finally:
            s.close()


for _name, _data, _status in BAD:
    def _t(self, _n=_name, _d=_data, _s=_status):
        self.check_bad(_n, _d, _s)
    setattr(BadInput, "test_bad_%s_%d" % (_name, _status), _t)

for _name, _data, _status, _body in GOOD:
    def _g(self, _n=_name, _d=_data, _s=_status, _b=_body):
        self.check_good(_n, _d, _s, _b)
    setattr(BadInput, "test_good_%s" % _name, _g)


if __name__ == "__main__":
    unittest.main(verbosity=2)
