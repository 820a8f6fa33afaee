#!/usr/bin/python3
"""The Date field (RFC 9110 6.6.1: an origin server with a clock MUST send
Date in its 2xx-5xx responses) as clients see it on every path that frames
it from the worker's cached value: an HTTP/1.1 response a module made, an
HTTP/1.1 error the protocol made itself (400 before any stream), a host-made
404, and HTTP/2 (h2c prior knowledge). Each carries exactly one Date, as an
IMF-fixdate of the current time, and the head around it is intact."""

import email.utils
import os
import re
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

SRV = None
IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                         r"\d\d:\d\d:\d\d GMT$")


def setUpModule():
    global SRV
    H.check_environment()
    SRV = C.H2Server()
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


class DateHeader(unittest.TestCase):
    def check_date(self, values, where):
        self.assertEqual(len(values), 1, "%s: one Date field expected, got %r" % (where, values))
        v = values[0]
        self.assertRegex(v, IMF_FIXDATE, "%s: Date is no IMF-fixdate" % where)
        t = email.utils.parsedate_to_datetime(v).timestamp()
        self.assertLess(abs(time.time() - t), H.scaled(5), "%s: Date %r is not now" % (where, v))

    def h1(self, raw):
        with socket.create_connection((H.HOST, SRV.port), timeout=H.scaled(5)) as s:
            s.sendall(raw)
            return H.HTTPReader(s).read_response()

    def test_h1_module_response(self):
        r = self.h1(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertEqual(r.status, 200)
        self.check_date(r.header_all("date"), "HTTP/1.1 200")
        self.assertEqual(r.header("server"), "iridium")  # the line after Date is whole
        self.assertEqual(r.body, (H.DEFAULT_GREETING + "\n").encode())

    def test_h1_host_made_404(self):
        r = self.h1(b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertEqual(r.status, 404)
        self.check_date(r.header_all("date"), "HTTP/1.1 404")

    def test_h1_protocol_error(self):
        r = self.h1(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Name: x\r\n\r\n")
        self.assertEqual(r.status, 400)
        self.check_date(r.header_all("date"), "HTTP/1.1 400 (h1_write_error)")
        self.assertEqual(r.header("server"), "iridium")
        self.assertEqual(r.header("connection"), "close")
        self.assertEqual(r.body, b"400 Bad Request\n")

    def test_h2c(self):
        with C.RawConn(SRV.port) as c:
            sid = c.send_request("GET", "/hello")
            st = c.wait_stream(sid, 10)
            self.assertEqual(st.status, 200, "%r %s" % (st, c.summary()))
            self.check_date([v for n, v in st.headers if n == "date"], "HTTP/2 200")
            self.assertEqual(bytes(st.data), (H.DEFAULT_GREETING + "\n").encode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
