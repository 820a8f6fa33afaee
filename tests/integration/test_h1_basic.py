#!/usr/bin/python3
"""HTTP/1.1 basics as a user sees them with curl and a raw socket: the hello
module's answers, HEAD, methods, keep-alive, HTTP/1.0, Expect: 100-continue,
Content-Length and chunked uploads echoed byte for byte."""

import os
import re
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

GREETING = H.DEFAULT_GREETING
SRV = None


def setUpModule():
    global SRV
    H.check_environment()
    SRV = H.Server(server={"max_body_size": "8m", "keepalive_timeout": "30s"},
                   routes=[("/hello", {"module": "hello", "greeting": GREETING})])
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


def url(path):
    return "http://127.0.0.1:%d%s" % (SRV.port, path)


class Basic(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="iridium-basic-")

    def tearDown(self):
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertTrue(SRV.alive(), "server process died during the test" + SRV.diagnostics())

    def curl_get(self, path, extra=()):
        hdr = os.path.join(self.tmp, "h")
        body = os.path.join(self.tmp, "b")
        p = H.curl(["-D", hdr, "-o", body, "-w", "%{http_code}"] + list(extra) + [url(path)])
        self.assertEqual(p.returncode, 0, "curl failed: %r" % p.stderr)
        with open(hdr, "rb") as f:
            head = f.read().decode("latin-1")
        with open(body, "rb") as f:
            data = f.read()
        return int(p.stdout), head, data

    @staticmethod
    def hval(head, name):
        m = re.search(r"(?im)^%s:\s*(.*?)\s*$" % re.escape(name), head)
        return m.group(1) if m else None

    # ---- GET / HEAD ----------------------------------------------------

    def test_get_hello_curl(self):
        code, head, body = self.curl_get("/hello")
        self.assertEqual(code, 200)
        self.assertTrue(head.startswith("HTTP/1.1 200"), head)
        self.assertEqual(body, (GREETING + "\n").encode())
        self.assertEqual(self.hval(head, "content-type"), "text/plain; charset=utf-8")
        self.assertEqual(self.hval(head, "content-length"), str(len(GREETING) + 1))

    def test_get_under_prefix_and_query(self):
        for path in ("/hello/", "/hello/a/b/c", "/hello?x=1", "/hello/x?y=2&z=3"):
            r = H.http_request(SRV.port, "GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.body, (GREETING + "\n").encode(), path)

    def test_unrouted_404(self):
        for path in ("/", "/nope", "/hell", "/other/hello"):
            r = H.http_request(SRV.port, "GET", path)
            self.assertEqual(r.status, 404, "%s -> %r" % (path, r))

    def test_head_same_headers_no_body(self):
        get = H.http_request(SRV.port, "GET", "/hello")
        # HEAD then GET on one connection: if HEAD carried a body, the second
        # response would start with greeting bytes instead of a status line.
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("HEAD", "/hello") + H.build_request("GET", "/hello"))
            rd = H.HTTPReader(s)
            head = rd.read_response("HEAD")
            second = rd.read_response("GET")
        finally:
            s.close()
        self.assertEqual(head.status, 200)
        self.assertEqual(head.header("content-length"), str(len(GREETING) + 1))
        self.assertEqual(head.header("content-type"), get.header("content-type"))
        self.assertEqual(second.status, 200, "response after HEAD: %r" % second)
        self.assertEqual(second.body, (GREETING + "\n").encode())

    def test_head_curl(self):
        p = H.curl(["-I", url("/hello")])
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode("latin-1")
        self.assertTrue(out.startswith("HTTP/1.1 200"), out)
        self.assertIn("content-length: %d" % (len(GREETING) + 1), out.lower())

    def test_other_method_405(self):
        for m in ("DELETE", "PATCH", "OPTIONS"):
            r = H.http_request(SRV.port, m, "/hello")
            self.assertEqual(r.status, 405, "%s -> %r" % (m, r))
            allow = [t.strip() for t in (r.header("allow") or "").split(",")]
            self.assertEqual(sorted(allow), sorted(["GET", "HEAD", "POST", "PUT"]),
                             "Allow header of %s: %r" % (m, r.header("allow")))

    # ---- echo ----------------------------------------------------------

    def test_post_echo_content_length(self):
        data = os.urandom(100000)
        path = os.path.join(self.tmp, "in")
        with open(path, "wb") as f:
            f.write(data)
        code, head, body = self.curl_get("/hello", ["--data-binary", "@" + path,
                                                    "-H", "Content-Type: application/x-test"])
        self.assertEqual(code, 200)
        self.assertEqual(H.sha256(body), H.sha256(data), "echoed body differs")
        self.assertEqual(self.hval(head, "content-length"), str(len(data)))
        self.assertEqual(self.hval(head, "content-type"), "application/x-test")

    def test_put_echo_default_content_type(self):
        body = b"put body \x00\x01\xff bytes"
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("PUT", "/hello", body=body))
            r = H.HTTPReader(s).read_response()
        finally:
            s.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, body)
        self.assertEqual(r.header("content-type"), "application/octet-stream")
        self.assertEqual(r.header("content-length"), str(len(body)))

    def test_post_empty_body(self):
        r = H.http_request(SRV.port, "POST", "/hello", headers=[("Content-Length", "0")])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")

    def test_post_large_echo_2mib(self):
        data = os.urandom(2 * 1024 * 1024 + 17)
        path = os.path.join(self.tmp, "in")
        with open(path, "wb") as f:
            f.write(data)
        code, head, body = self.curl_get("/hello", ["--data-binary", "@" + path,
                                                    "-H", "Expect:"])
        self.assertEqual(code, 200)
        self.assertEqual(len(body), len(data))
        self.assertEqual(H.sha256(body), H.sha256(data), "echoed 2 MiB body differs")

    def test_chunked_upload_curl(self):
        data = os.urandom(1024 * 1024 + 4321)
        path = os.path.join(self.tmp, "in")
        with open(path, "wb") as f:
            f.write(data)
        code, head, body = self.curl_get("/hello", ["-H", "Transfer-Encoding: chunked",
                                                    "--data-binary", "@" + path])
        self.assertEqual(code, 200, head)
        self.assertEqual(len(body), len(data))
        self.assertEqual(H.sha256(body), H.sha256(data), "echoed chunked body differs")
        self.assertIsNone(self.hval(head, "content-length"), head)
        self.assertEqual((self.hval(head, "transfer-encoding") or "").lower(), "chunked", head)

    def test_chunked_upload_raw_with_extensions_and_trailer(self):
        data = os.urandom(50000)
        req = H.build_request("POST", "/hello", headers=[("Transfer-Encoding", "chunked"),
                                                          ("Content-Type", "text/x-raw")])
        req += H.chunked(data, sizes=(1, 7, 4096, 10000), ext=True, trailers=[("X-T", "1")])
        s = H.connect(SRV.port)
        try:
            s.sendall(req)
            r = H.HTTPReader(s).read_response()
        finally:
            s.close()
        self.assertEqual(r.status, 200)
        self.assertTrue(r.chunked, "response to a chunked upload should be chunked: %r" % r)
        self.assertEqual(r.header("content-type"), "text/x-raw")
        self.assertEqual(H.sha256(r.body), H.sha256(data))

    # ---- keep-alive / connection handling -----------------------------

    def test_curl_reuses_connection(self):
        p = H.curl(["-v", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{num_connects}\n",
                    url("/hello"), url("/hello/again")])
        self.assertEqual(p.returncode, 0, p.stderr)
        counts = [int(x) for x in p.stdout.split()]
        self.assertEqual(counts, [1, 0], "num_connects per URL (second must reuse): %r\n%s"
                         % (counts, p.stderr.decode("latin-1")[-2000:]))
        self.assertIn(b"Re-using existing connection", p.stderr)

    def test_keepalive_raw_sequential(self):
        s = H.connect(SRV.port)
        try:
            rd = H.HTTPReader(s)
            for i in range(5):
                s.sendall(H.build_request("GET", "/hello?i=%d" % i))
                r = rd.read_response()
                self.assertEqual(r.status, 200, "request %d on one connection" % i)
                self.assertNotIn("close", r.tokens("connection"))
            closed, how = H.sock_is_closed(s, 0.2)
            self.assertFalse(closed, "server closed a keep-alive connection (%s)" % how)
        finally:
            s.close()

    def test_connection_close_request(self):
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("GET", "/hello", headers=[("Connection", "close")]))
            rd = H.HTTPReader(s)
            r = rd.read_response()
            self.assertEqual(r.status, 200)
            self.assertIn("close", r.tokens("connection"))
            how, extra = rd.wait_closed(3)
            self.assertIn(how, ("eof", "reset"), "connection not closed after Connection: close")
            self.assertEqual(extra, b"")
        finally:
            s.close()

    def test_http10_closes(self):
        s = H.connect(SRV.port)
        try:
            s.sendall(b"GET /hello HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            rd = H.HTTPReader(s)
            r = rd.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, (GREETING + "\n").encode())
            how, extra = rd.wait_closed(3)
            self.assertIn(how, ("eof", "reset"), "HTTP/1.0 connection not closed after response")
            self.assertEqual(extra, b"")
        finally:
            s.close()

    def test_http10_keepalive(self):
        s = H.connect(SRV.port)
        try:
            rd = H.HTTPReader(s)
            for i in range(2):
                s.sendall(b"GET /hello HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n")
                r = rd.read_response()
                self.assertEqual(r.status, 200, "HTTP/1.0 keep-alive request %d" % i)
                self.assertIn("keep-alive", r.tokens("connection"),
                              "an HTTP/1.0 client only keeps the connection when the response "
                              "says Connection: keep-alive: %r" % r)
                self.assertIsNotNone(r.header("content-length"))
        finally:
            s.close()

    def test_http10_keepalive_curl(self):
        p = H.curl(["--http1.0", "-H", "Connection: keep-alive", "-o", "/dev/null",
                    "-o", "/dev/null", "-w", "%{num_connects}\n", url("/hello"), url("/hello")])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([int(x) for x in p.stdout.split()], [1, 0],
                         "curl --http1.0 with keep-alive did not reuse the connection")

    def test_split_request_bytes(self):
        # The request arrives in many tiny pieces.
        req = H.build_request("POST", "/hello", body=b"0123456789")
        s = H.connect(SRV.port)
        try:
            for i in range(0, len(req), 3):
                s.sendall(req[i:i + 3])
                time.sleep(0.005)
            r = H.HTTPReader(s).read_response()
        finally:
            s.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"0123456789")

    # ---- Expect: 100-continue -----------------------------------------

    def test_expect_100_curl(self):
        data = os.urandom(1024 * 1024)
        path = os.path.join(self.tmp, "in")
        with open(path, "wb") as f:
            f.write(data)
        out = os.path.join(self.tmp, "out")
        t0 = time.monotonic()
        # --expect100-timeout 5: if the server never sends 100 curl waits 5 s,
        # which the elapsed-time check below catches.
        p = H.curl(["-v", "-H", "Expect: 100-continue", "--expect100-timeout", "5",
                    "--data-binary", "@" + path, "-o", out, url("/hello")])
        elapsed = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, p.stderr)
        err = p.stderr.decode("latin-1")
        self.assertIn("< HTTP/1.1 100 Continue", err, err[-3000:])
        self.assertRegex(err, r"< HTTP/1.1 200", err[-3000:])
        with open(out, "rb") as f:
            self.assertEqual(H.sha256(f.read()), H.sha256(data))
        self.assertLess(elapsed, H.scaled(4.0), "curl waited for 100 Continue")

    def test_expect_100_raw(self):
        body = b"x" * 5000
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("POST", "/hello", headers=[
                ("Content-Length", str(len(body))), ("Expect", "100-continue")]))
            rd = H.HTTPReader(s, timeout=3)
            interim = rd.read_response(interim=True)
            self.assertEqual(interim.status, 100, "expected 100 Continue before the body, got %r"
                             % interim)
            self.assertEqual(interim.version, "HTTP/1.1")
            s.sendall(body)
            r = rd.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, body)
            # still usable afterwards
            s.sendall(H.build_request("GET", "/hello"))
            r2 = rd.read_response()
            self.assertEqual(r2.status, 200)
            self.assertEqual(rd.interim, [], "stray interim response %r" % rd.interim)
        finally:
            s.close()

    def test_no_100_without_expect(self):
        body = b"y" * 100
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("POST", "/hello", body=body))
            r = H.HTTPReader(s).read_response(interim=True)
            self.assertEqual(r.status, 200, "a request without Expect got %r" % r)
        finally:
            s.close()


class BodyNobodyReads(unittest.TestCase):
    """A route whose module has no on_body (static): like nginx for a handler
    that does not read, the host reads and drops the body (up to
    max_body_size), the module's answer goes out and the connection stays."""

    def test_post_to_module_without_on_body_keeps_the_connection(self):
        root = tempfile.mkdtemp(prefix="iridium-nobody-")
        self.addCleanup(lambda: __import__("shutil").rmtree(root, ignore_errors=True))
        with open(os.path.join(root, "a.txt"), "w") as f:
            f.write("static a\n")
        routes = [("/hello", {"module": "hello", "greeting": GREETING}),
                  ("/s", {"module": "static", "root": root})]
        with H.Server(routes=routes, modules=["hello", "static"]) as srv:
            for framing in ("content-length", "chunked"):
                body = os.urandom(100 * 1024)
                s = H.connect(srv.port)
                try:
                    rd = H.HTTPReader(s)
                    if framing == "chunked":
                        req = H.build_request("POST", "/s/a.txt",
                                              [("Transfer-Encoding", "chunked")])
                        req += H.chunked(body, sizes=(7000, 65536))
                    else:
                        req = H.build_request("POST", "/s/a.txt", body=body)
                    # in pieces, as over a real network: the answer goes out
                    # before the body has all arrived
                    for i in range(0, len(req), 16384):
                        s.sendall(req[i:i + 16384])
                        time.sleep(0.02)
                    first = rd.read_response("POST")
                    s.sendall(H.build_request("GET", "/s/a.txt"))
                    second = rd.read_response()
                    s.sendall(H.build_request("GET", "/hello"))
                    third = rd.read_response()
                finally:
                    s.close()
                self.assertEqual(first.status, 405, "%s: %r" % (framing, first))
                self.assertNotIn("close", (first.header("connection") or "").lower(),
                                 "%s: the answer closes the connection: %r" % (framing, first))
                self.assertEqual((second.status, second.body), (200, b"static a\n"),
                                 "%s: the next request on the connection: %r" % (framing, second))
                self.assertEqual(third.status, 200, "%s: %r" % (framing, third))

    def test_body_over_max_body_size_still_closes(self):
        root = tempfile.mkdtemp(prefix="iridium-nobody-")
        self.addCleanup(lambda: __import__("shutil").rmtree(root, ignore_errors=True))
        with H.Server(server={"max_body_size": "64k"}, modules=["static"],
                      routes=[("/s", {"module": "static", "root": root})]) as srv:
            s = H.connect(srv.port)
            try:
                s.sendall(H.build_request("POST", "/s/x", [("Transfer-Encoding", "chunked")]))
                s.sendall(H.chunked(os.urandom(200 * 1024), sizes=(16384,)))
                data, _how = H.recv_until_close(s, H.scaled(5))
            finally:
                s.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 405 "), data[:200])


if __name__ == "__main__":
    unittest.main(verbosity=2)
