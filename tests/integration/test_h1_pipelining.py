#!/usr/bin/python3
"""HTTP/1.1 pipelining: several requests in one write get their responses in
order, each distinguishable (different routes' greetings, echoed bodies)."""

import os
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SRV = None
GREET = {"/a": "Greeting A", "/b": "Greeting Bee", "/c": "Greeting Sea of C"}


def setUpModule():
    global SRV
    H.check_environment()
    routes = [(p, {"module": "hello", "greeting": g}) for p, g in GREET.items()]
    routes.append(("/hello", {"module": "hello", "greeting": H.DEFAULT_GREETING}))
    SRV = H.Server(server={"keepalive_requests": "1000"}, routes=routes)
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


def body_of(path):
    return (GREET[path] + "\n").encode()


class Pipelining(unittest.TestCase):
    def tearDown(self):
        self.assertTrue(SRV.alive(), "server died" + SRV.diagnostics())

    def pipeline(self, reqs, methods=None, timeout=10):
        """Sends all requests in one write; returns the responses read in order."""
        s = H.connect(SRV.port)
        try:
            s.sendall(b"".join(reqs))
            rd = H.HTTPReader(s, timeout)
            out = []
            for i in range(len(reqs)):
                m = methods[i] if methods else "GET"
                try:
                    out.append(rd.read_response(m))
                except Exception as e:  # noqa: BLE001
                    self.fail("response %d of %d: %s: %s (got so far: %r)"
                              % (i + 1, len(reqs), type(e).__name__, e, out))
            return out, rd, s
        except BaseException:
            s.close()
            raise

    def test_three_gets_in_one_write(self):
        paths = ["/a", "/b", "/c"]
        rs, rd, s = self.pipeline([H.build_request("GET", p) for p in paths])
        s.close()
        self.assertEqual([r.status for r in rs], [200, 200, 200])
        self.assertEqual([r.body for r in rs], [body_of(p) for p in paths],
                         "responses out of order or wrong")

    def test_reverse_order(self):
        paths = ["/c", "/a", "/b", "/a"]
        rs, rd, s = self.pipeline([H.build_request("GET", p) for p in paths])
        s.close()
        self.assertEqual([r.body for r in rs], [body_of(p) for p in paths])

    def test_posts_echoed_in_order(self):
        bodies = [b"first body", os.urandom(30000), b"third"]
        reqs = [H.build_request("POST", "/hello", body=b) for b in bodies]
        rs, rd, s = self.pipeline(reqs)
        s.close()
        self.assertEqual([r.status for r in rs], [200] * 3)
        for i, (r, b) in enumerate(zip(rs, bodies)):
            self.assertEqual(r.body, b, "echo %d" % i)

    def test_mixed_methods(self):
        reqs = [H.build_request("GET", "/a"),
                H.build_request("HEAD", "/b"),
                H.build_request("POST", "/hello", headers=[("Transfer-Encoding", "chunked")])
                + H.chunked(b"echo me", sizes=(3,)),
                H.build_request("DELETE", "/c"),
                H.build_request("GET", "/nowhere"),
                H.build_request("GET", "/c")]
        methods = ["GET", "HEAD", "POST", "DELETE", "GET", "GET"]
        rs, rd, s = self.pipeline(reqs, methods)
        s.close()
        self.assertEqual([r.status for r in rs], [200, 200, 200, 405, 404, 200])
        self.assertEqual(rs[0].body, body_of("/a"))
        self.assertEqual(rs[1].body, b"")
        self.assertEqual(rs[1].header("content-length"), str(len(body_of("/b"))))
        self.assertEqual(rs[2].body, b"echo me")
        self.assertEqual(rs[5].body, body_of("/c"))

    def test_slow_first_keeps_order(self):
        # The first answer is delayed by a timer; the later ones are ready at
        # once but must still come after it.
        paths = ["/a?delay=400", "/b", "/c"]
        t0 = time.monotonic()
        rs, rd, s = self.pipeline([H.build_request("GET", p) for p in paths])
        s.close()
        self.assertGreaterEqual(time.monotonic() - t0, 0.35, "delay=400 was not honoured")
        self.assertEqual([r.body for r in rs], [body_of("/a"), body_of("/b"), body_of("/c")])

    def test_fifty_in_one_write(self):
        paths = [["/a", "/b", "/c"][i % 3] + "?n=%d" % i for i in range(50)]
        rs, rd, s = self.pipeline([H.build_request("GET", p) for p in paths])
        try:
            closed, how = H.sock_is_closed(s, 0.2)
            self.assertFalse(closed, "connection closed after 50 pipelined requests (%s)" % how)
        finally:
            s.close()
        self.assertEqual([r.status for r in rs], [200] * 50)
        self.assertEqual([r.body for r in rs], [body_of(p.split("?")[0]) for p in paths])

    def test_connection_close_in_the_middle(self):
        reqs = [H.build_request("GET", "/a"),
                H.build_request("GET", "/b", headers=[("Connection", "close")]),
                H.build_request("GET", "/c")]
        s = H.connect(SRV.port)
        try:
            s.sendall(b"".join(reqs))
            rd = H.HTTPReader(s)
            r1 = rd.read_response()
            r2 = rd.read_response()
            how, extra = rd.wait_closed(3)
        finally:
            s.close()
        self.assertEqual((r1.body, r2.body), (body_of("/a"), body_of("/b")))
        self.assertIn("close", r2.tokens("connection"))
        self.assertIn(how, ("eof", "reset"), "no close after the Connection: close response")
        self.assertEqual(extra, b"", "a request after Connection: close was answered")

    def test_pipelined_split_across_writes(self):
        data = b"".join(H.build_request("GET", p) for p in ("/a", "/b", "/c"))
        s = H.connect(SRV.port)
        try:
            # cut in the middle of the second request line and of a header
            for a, b in ((0, 50), (50, 61), (61, 90), (90, len(data))):
                s.sendall(data[a:b])
                time.sleep(0.05)
            rd = H.HTTPReader(s)
            rs = [rd.read_response() for _ in range(3)]
        finally:
            s.close()
        self.assertEqual([r.body for r in rs], [body_of("/a"), body_of("/b"), body_of("/c")])


class KeepaliveRequests(unittest.TestCase):
    """keepalive_requests = 3: the third response says Connection: close and
    the connection ends; the fourth and fifth are not answered."""

    def test_limit(self):
        with H.Server(server={"keepalive_requests": "3"},
                      routes=[(p, {"module": "hello", "greeting": g}) for p, g in GREET.items()]
                      + [("/hello", {"module": "hello", "greeting": "x"})]) as srv:
            s = H.connect(srv.port)
            try:
                s.sendall(b"".join(H.build_request("GET", p) for p in
                                   ("/a", "/b", "/c", "/a", "/b")))
                rd = H.HTTPReader(s)
                rs = [rd.read_response() for _ in range(3)]
                how, extra = rd.wait_closed(3)
            finally:
                s.close()
            self.assertEqual([r.body for r in rs], [body_of("/a"), body_of("/b"), body_of("/c")])
            self.assertNotIn("close", rs[0].tokens("connection"))
            self.assertIn("close", rs[2].tokens("connection"),
                          "last allowed response should say Connection: close: %r" % rs[2])
            self.assertIn(how, ("eof", "reset"))
            self.assertFalse(extra.startswith(b"HTTP/"), "request beyond keepalive_requests "
                             "was answered: %r" % extra[:100])
            H.assert_serving(self, srv, "keepalive_requests limit")


if __name__ == "__main__":
    unittest.main(verbosity=2)
