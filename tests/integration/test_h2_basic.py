#!/usr/bin/python3
"""HTTP/2 as a user sees it: the unchanged hello module served over h2c
(prior knowledge and Upgrade: h2c) and over TLS with ALPN, through nghttp,
curl, python3-h2 and Node's http2 client — GET body and Date, HEAD (Content-Length, no
body), POST/PUT echo byte for byte, :authority routing, 404, 405 + allow.
Also: the [server] h2_* keys as the SETTINGS the server advertises, the
concurrent-stream limit enforced, PING answered, an HTTP/1.1-only listener
that does not speak HTTP/2, and an Upgrade: h2c request with a body served
over HTTP/1.1."""

import base64
import email.utils
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

GREETING = H.DEFAULT_GREETING
BODY = (GREETING + "\n").encode()
SRV = None


def setUpModule():
    global SRV
    H.check_environment()
    SRV = C.H2Server(
        server={"max_body_size": "8m", "keepalive_timeout": "30s"},
        routes=[("/hello", {"module": "hello", "greeting": GREETING}),
                ("/hello", {"module": "hello", "host": "a.test", "greeting": "Greeting A"}),
                ("/hello", {"module": "hello", "host": "b.test", "greeting": "Greeting B"})],
        listeners=[{"tls": True, "protocols": "h2, http/1.1"},
                   {"protocols": "http/1.1"}])
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


def h2c_url(path="/hello"):
    return "http://127.0.0.1:%d%s" % (SRV.port, path)


def tls_port():
    return SRV.ports[0]


def h1only_port():
    return SRV.ports[1]


def tls_url(path="/hello"):
    return "https://127.0.0.1:%d%s" % (tls_port(), path)


NODE_SCRIPT = r"""
const http2 = require('http2');
const fs = require('fs');
const [url, bodyPath] = process.argv.slice(1);
const client = http2.connect(url, {rejectUnauthorized: false});
client.on('error', (e) => { console.error('session error: ' + e); process.exit(2); });
function req(headers, body) {
  return new Promise((resolve, reject) => {
    const r = client.request(headers, {endStream: body === undefined});
    const chunks = [];
    let head = null;
    r.on('response', (h) => { head = h; });
    r.on('data', (c) => chunks.push(c));
    r.on('end', () => resolve({headers: head, body: Buffer.concat(chunks).toString('base64')}));
    r.on('error', reject);
    if (body !== undefined) r.end(body);
  });
}
(async () => {
  const out = {};
  out.get = await req({':method': 'GET', ':path': '/hello'});
  out.head = await req({':method': 'HEAD', ':path': '/hello'});
  out.post = await req({':method': 'POST', ':path': '/hello', 'content-type': 'application/x-node'},
                       fs.readFileSync(bodyPath));
  out.nope = await req({':method': 'GET', ':path': '/nope'});
  out.alpn = client.alpnProtocol || null;
  console.log(JSON.stringify(out));
  client.close();
})().catch((e) => { console.error('request error: ' + e); process.exit(3); });
"""


class Clients(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="iridium-h2basic-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertTrue(SRV.alive(), "server process died during the test" + SRV.diagnostics())

    def write_tmp(self, name, data):
        p = os.path.join(self.tmp, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    # ---- nghttp ------------------------------------------------------------

    def nghttp(self, args, timeout=20):
        p = H.run_cmd(["nghttp", "-t", str(int(H.scaled(10)))] + list(args), H.scaled(timeout))
        return p

    def test_nghttp_prior_knowledge(self):
        p = self.nghttp(["-nv", h2c_url()])
        out = p.stdout.decode("latin-1")
        self.assertEqual(p.returncode, 0, "nghttp -nv failed:\n%s\n%s" % (out, p.stderr))
        self.assertRegex(out, r"recv SETTINGS frame <length=\d+, flags=0x00, stream_id=0>",
                         "no server SETTINGS:\n" + out)
        self.assertRegex(out, r"recv \(stream_id=\d+\) :status: 200", out)
        self.assertRegex(out, r"recv \(stream_id=\d+\) content-length: %d" % len(BODY), out)
        self.assertRegex(out, r"recv DATA frame <length=%d, flags=0x01, stream_id=\d+>" % len(BODY),
                         "the body (with END_STREAM) as one DATA frame:\n" + out)
        p = self.nghttp([h2c_url()])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, BODY)

    def test_nghttp_upgrade(self):
        p = self.nghttp(["-nvu", h2c_url()])
        out = p.stdout.decode("latin-1")
        self.assertEqual(p.returncode, 0, "nghttp -nvu failed:\n%s\n%s" % (out, p.stderr))
        self.assertIn("HTTP/1.1 101", out, "no 101 to Upgrade: h2c:\n" + out)
        self.assertIn("HTTP Upgrade success", out, out)
        self.assertRegex(out, r"recv \(stream_id=\d+\) :status: 200", out)
        p = self.nghttp(["-u", h2c_url()])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, BODY)

    def test_nghttp_tls_alpn(self):
        p = self.nghttp(["-nv", tls_url()])
        out = p.stdout.decode("latin-1")
        self.assertEqual(p.returncode, 0, "nghttp -nv https failed:\n%s\n%s" % (out, p.stderr))
        self.assertIn("The negotiated protocol: h2", out, out)
        self.assertRegex(out, r"recv \(stream_id=\d+\) :status: 200", out)
        p = self.nghttp([tls_url()])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, BODY)

    def test_nghttp_post_echo(self):
        data = os.urandom(200000)
        path = self.write_tmp("in", data)
        for url in (h2c_url(), tls_url()):
            p = self.nghttp(["-d", path, url])
            self.assertEqual(p.returncode, 0, "%s: %r" % (url, p.stderr))
            self.assertEqual(H.sha256(p.stdout), H.sha256(data),
                             "%s: echoed %d bytes, sent %d" % (url, len(p.stdout), len(data)))

    # ---- curl ----------------------------------------------------------------

    def curl(self, args, url):
        hdr = os.path.join(self.tmp, "h")
        body = os.path.join(self.tmp, "b")
        for f in (hdr, body):
            if os.path.exists(f):
                os.unlink(f)
        p = H.curl(["-D", hdr, "-o", body, "-w", "%{http_code} %{http_version}"] + list(args)
                   + [url])
        self.assertEqual(p.returncode, 0, "curl %s %s failed: %r" % (args, url, p.stderr))
        code, version = p.stdout.decode().split()
        with open(hdr, "rb") as f:
            head = f.read().decode("latin-1")
        data = b""
        if os.path.exists(body):
            with open(body, "rb") as f:
                data = f.read()
        return int(code), version, head, data

    @staticmethod
    def hval(head, name):
        found = re.findall(r"(?im)^%s:\s*(.*?)\s*$" % re.escape(name), head)
        return found[-1] if found else None

    def test_curl_prior_knowledge_get_head_post(self):
        code, ver, head, body = self.curl(["--http2-prior-knowledge"], h2c_url())
        self.assertEqual((code, ver), (200, "2"), head)
        self.assertEqual(body, BODY)
        self.assertEqual(self.hval(head, "content-type"), "text/plain; charset=utf-8")
        self.assertEqual(self.hval(head, "content-length"), str(len(BODY)))

        code, ver, head, body = self.curl(["--http2-prior-knowledge", "-I"], h2c_url())
        self.assertEqual((code, ver), (200, "2"), head)
        self.assertTrue(head.startswith("HTTP/2 200"), head)
        self.assertEqual(self.hval(head, "content-length"), str(len(BODY)))
        # (curl -I writes the head as its output; a body would have made it fail)
        self.assertNotIn(BODY, body)

        data = os.urandom(123457)
        path = self.write_tmp("in", data)
        code, ver, head, body = self.curl(["--http2-prior-knowledge", "--data-binary", "@" + path,
                                           "-H", "content-type: application/x-test"], h2c_url())
        self.assertEqual((code, ver), (200, "2"), head)
        self.assertEqual(H.sha256(body), H.sha256(data), "echo over h2c differs")
        self.assertEqual(self.hval(head, "content-type"), "application/x-test")
        self.assertEqual(self.hval(head, "content-length"), str(len(data)))

        code, ver, head, body = self.curl(["--http2-prior-knowledge", "-X", "PUT",
                                           "--data-binary", "@" + path], h2c_url())
        self.assertEqual((code, ver), (200, "2"), head)
        self.assertEqual(H.sha256(body), H.sha256(data), "PUT echo over h2c differs")

    def test_curl_upgrade_h2c(self):
        code, ver, head, body = self.curl(["--http2", "-v"], h2c_url())
        self.assertEqual(code, 200, head)
        self.assertEqual(ver, "2", "curl --http2 on http:// did not end up on HTTP/2 "
                         "(Upgrade: h2c refused?):\n" + head)
        self.assertIn("101", head.split("\n")[0], "the 101 of the upgrade:\n" + head)
        self.assertEqual(body, BODY)

    def test_curl_upgrade_with_body_stays_http11(self):
        data = os.urandom(5000)
        path = self.write_tmp("in", data)
        code, ver, head, body = self.curl(["--http2", "--data-binary", "@" + path], h2c_url())
        self.assertEqual(code, 200, head)
        self.assertEqual(ver, "1.1", "a request with a body must be answered over HTTP/1.1 "
                         "(the upgrade ignored):\n" + head)
        self.assertNotIn(" 101", head)
        self.assertEqual(H.sha256(body), H.sha256(data))

    def test_raw_upgrade_with_body_stays_http11(self):
        body = b"0123456789" * 50
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("POST", "/hello", headers=[
                ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                ("HTTP2-Settings", "AAMAAABkAAQAAP__")], body=body))
            rd = H.HTTPReader(s)
            r = rd.read_response("POST", interim=True)
        finally:
            s.close()
        self.assertEqual(r.status, 200, "POST with Upgrade: h2c and a body: %r" % r)
        self.assertEqual(r.version, "HTTP/1.1")
        self.assertEqual(r.body, body)

    def test_raw_upgrade_chunked_body_stays_http11(self):
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("POST", "/hello", headers=[
                ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                ("HTTP2-Settings", "AAMAAABkAAQAAP__"), ("Transfer-Encoding", "chunked")],
                body=H.chunked(b"abcdefghij" * 30, sizes=(7, 100))))
            r = H.HTTPReader(s).read_response("POST", interim=True)
        finally:
            s.close()
        self.assertEqual(r.status, 200, "chunked POST with Upgrade: h2c: %r" % r)
        self.assertEqual(r.version, "HTTP/1.1")
        self.assertEqual(r.body, b"abcdefghij" * 30)

    def test_upgrade_without_http2_settings_refused(self):
        """RFC 7540 3.2.1: no upgrade without exactly one HTTP2-Settings."""
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("GET", "/hello", headers=[
                ("Connection", "Upgrade"), ("Upgrade", "h2c")]))
            r = H.HTTPReader(s).read_response(interim=True)
        finally:
            s.close()
        self.assertNotEqual(r.status, 101, "upgraded without HTTP2-Settings: %r" % r)
        self.assertEqual((r.status, r.body), (200, BODY), r)

    def test_access_log_lines_for_h2(self):
        tag = "h2log%d" % os.getpid()
        with C.LibClient(SRV.port) as c:
            a = c.request("GET", "/hello?%s=get" % tag)
            b = c.request("POST", "/hello?%s=post" % tag, body=b"12345")
            n = c.request("GET", "/nope?%s=404" % tag)
            c.wait([a, b, n])

        def mine():
            ls = [l for l in SRV.access_log_text().splitlines() if tag in l]
            return ls if len(ls) >= 3 else None
        lines = H.wait_for(mine, H.scaled(3)) or []
        self.assertEqual(len(lines), 3, "access log lines for 3 HTTP/2 requests:\n%s"
                         % "\n".join(lines))
        want = {"get": ('"GET /hello?%s=get"' % tag, " 200 %d " % len(BODY)),
                "post": ('"POST /hello?%s=post"' % tag, " 200 5 "),
                "404": ('"GET /nope?%s=404"' % tag, " 404 ")}
        for key, (req, status) in want.items():
            line = [l for l in lines if "=%s" % key in l][0]
            self.assertIn(req, line)
            self.assertIn(status, line)
            self.assertRegex(line, r" HTTP/2(\.0)? \"127\.0\.0\.1:%d\" " % SRV.port,
                             "protocol, then :authority, of an HTTP/2 request")

    def test_curl_tls_alpn(self):
        code, ver, head, body = self.curl(["--http2", "-k"], tls_url())
        self.assertEqual((code, ver), (200, "2"), "ALPN did not pick h2:\n" + head)
        self.assertEqual(body, BODY)
        data = os.urandom(300 * 1024)
        path = self.write_tmp("in", data)
        code, ver, head, body = self.curl(["--http2", "-k", "--data-binary", "@" + path],
                                          tls_url())
        self.assertEqual((code, ver), (200, "2"), head)
        self.assertEqual(H.sha256(body), H.sha256(data), "echo over h2/TLS differs")
        code, ver, head, body = self.curl(["--http2", "-k", "-I"], tls_url())
        self.assertEqual((code, ver), (200, "2"), head)
        self.assertEqual(self.hval(head, "content-length"), str(len(BODY)))
        self.assertNotIn(BODY, body)

    # ---- python3-h2 ------------------------------------------------------------

    def lib_get_head_post(self, tls):
        port = tls_port() if tls else SRV.port
        with C.LibClient(port, tls=tls) as c:
            if tls:
                self.assertEqual(c.alpn, "h2", "ALPN")
            data = os.urandom(70000)
            g = c.request("GET", "/hello")
            h = c.request("HEAD", "/hello")
            p = c.request("POST", "/hello", headers=[("content-type", "application/x-py")],
                          body=data)
            q = c.request("PUT", "/hello", body=b"put-body")
            g, h, p, q = c.wait([g, h, p, q])
            self.assertIsNone(c.error, c.error)
            self.assertEqual(g.status, 200, g)
            self.assertEqual(bytes(g.data), BODY)
            self.assertEqual(g.header("content-type"), "text/plain; charset=utf-8")
            # RFC 9110 6.6.1: an origin server with a clock sends Date.
            date = email.utils.parsedate_to_datetime(g.header("date") or "")
            self.assertLess(abs(time.time() - date.timestamp()), 5, g.header("date"))
            self.assertEqual(h.status, 200, h)
            self.assertTrue(h.ended, h)
            self.assertEqual(bytes(h.data), b"", "HEAD carried a body")
            self.assertEqual(h.header("content-length"), str(len(BODY)))
            self.assertEqual(p.status, 200, p)
            self.assertTrue(p.ended, p)
            self.assertEqual(H.sha256(bytes(p.data)), H.sha256(data))
            self.assertEqual(p.header("content-type"), "application/x-py")
            self.assertEqual(q.status, 200, q)
            self.assertEqual(bytes(q.data), b"put-body")
            self.assertEqual(q.header("content-type"), "application/octet-stream")

    def test_python_h2_h2c(self):
        self.lib_get_head_post(False)

    def test_python_h2_tls(self):
        self.lib_get_head_post(True)

    def test_python_h2_upgrade(self):
        import h2.config
        import h2.connection
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                    header_encoding="utf-8"))
        settings = conn.initiate_upgrade_connection()
        s = H.connect(SRV.port)
        s.sendall(H.build_request("GET", "/hello?via=upgrade", headers=[
            ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
            ("HTTP2-Settings", settings.decode() if isinstance(settings, bytes) else settings)]))
        rd = H.HTTPReader(s)
        r = rd.read_head()
        self.assertEqual(r.status, 101, "answer to Upgrade: h2c: %r" % r)
        self.assertEqual(r.header("upgrade"), "h2c", r)
        c = C.LibClient(SRV.port, sock=s, conn=conn, preamble=False)
        with c:
            c.queue(conn.data_to_send())
            st = C.LibStream(1)
            st.end_sent = True
            c.streams[1] = st
            if rd.buf:
                c._feed(bytes(rd.buf))
            c.wait([1])
            self.assertIsNone(c.error, c.error)
            self.assertEqual(st.status, 200, "the upgrading request, answered on stream 1: %r"
                             % st)
            self.assertEqual(bytes(st.data), BODY)
            # The connection is HTTP/2 now: a second request on stream 3.
            st2 = c.fetch("POST", "/hello", body=b"after upgrade")
            self.assertEqual(st2.sid, 3)
            self.assertEqual(st2.status, 200, st2)
            self.assertEqual(bytes(st2.data), b"after upgrade")

    # ---- node ------------------------------------------------------------------

    def node(self, url):
        data = os.urandom(100000)
        path = self.write_tmp("node-in", data)
        p = H.run_cmd(["node", "-e", NODE_SCRIPT, url, path], H.scaled(30))
        self.assertEqual(p.returncode, 0, "node http2 client failed: %r %r"
                         % (p.stdout[-2000:], p.stderr[-2000:]))
        out = json.loads(p.stdout.decode().strip().splitlines()[-1])
        g, h, po, nope = out["get"], out["head"], out["post"], out["nope"]
        self.assertEqual(g["headers"][":status"], 200, g)
        self.assertEqual(base64.b64decode(g["body"]), BODY)
        self.assertEqual(h["headers"][":status"], 200, h)
        self.assertEqual(h["headers"]["content-length"], str(len(BODY)), h)
        self.assertEqual(base64.b64decode(h["body"]), b"")
        self.assertEqual(po["headers"][":status"], 200, po["headers"])
        self.assertEqual(po["headers"]["content-type"], "application/x-node")
        self.assertEqual(H.sha256(base64.b64decode(po["body"])), H.sha256(data))
        self.assertEqual(nope["headers"][":status"], 404, nope["headers"])
        return out

    def test_node_h2c(self):
        self.node(h2c_url("/"))

    def test_node_tls(self):
        out = self.node(tls_url("/"))
        self.assertEqual(out["alpn"], "h2")

    # ---- routing, 404, 405 -------------------------------------------------------

    def test_authority_routing_404_405(self):
        with C.LibClient(SRV.port) as c:
            a = c.request("GET", "/hello", authority="a.test")
            b = c.request("GET", "/hello/x?y=1", authority="B.TEST:8443")
            d = c.request("GET", "/hello", authority="other.test")
            n = c.request("GET", "/nope")
            n2 = c.request("GET", "/helloworld", authority="a.test")
            m = c.request("DELETE", "/hello")
            o = c.request("OPTIONS", "/hello", authority="a.test")
            a, b, d, n, n2, m, o = c.wait([a, b, d, n, n2, m, o])
        self.assertEqual((a.status, bytes(a.data)), (200, b"Greeting A\n"), a)
        self.assertEqual((b.status, bytes(b.data)), (200, b"Greeting B\n"),
                         ":authority with a port and upper case: %r" % b)
        self.assertEqual((d.status, bytes(d.data)), (200, BODY), d)
        self.assertEqual(n.status, 404, n)
        self.assertEqual(n2.status, 404, n2)
        for r in (m, o):
            self.assertEqual(r.status, 405, r)
            allow = sorted(t.strip() for t in (r.header("allow") or "").split(","))
            self.assertEqual(allow, ["GET", "HEAD", "POST", "PUT"], r.hdict)

    def test_authority_routing_tls(self):
        with C.LibClient(tls_port(), tls=True) as c:
            a = c.fetch("GET", "/hello", authority="a.test")
        self.assertEqual((a.status, bytes(a.data)), (200, b"Greeting A\n"), a)

    # ---- the protocol itself --------------------------------------------------------

    def test_default_settings_advertised(self):
        with C.RawConn(SRV.port) as c:
            self.assertTrue(C.wait_settings_and_ack(c), "no SETTINGS / SETTINGS ACK: "
                            + c.summary())
            s = c.server_settings
            self.assertEqual(s.get(C.S_MAX_CONCURRENT_STREAMS), 128, s)
            self.assertEqual(s.get(C.S_INITIAL_WINDOW_SIZE), 256 * 1024, s)
            self.assertIn(s.get(C.S_MAX_FRAME_SIZE, 16384), (16384,), s)
            self.assertEqual(s.get(C.S_MAX_HEADER_LIST_SIZE), 32 * 1024, s)
            self.assertEqual(c.frames[0].type, C.SETTINGS, "the server preface must be a "
                             "SETTINGS frame: %r" % c.frames[:3])
            st = c.get("/hello")
            self.assertEqual((st.status, bytes(st.data)), (200, BODY), st)

    def test_head_has_no_data_frames(self):
        with C.RawConn(SRV.port) as c:
            st = c.wait_stream(c.send_request("HEAD", "/hello"))
            c.pump(None, 0.2)
            fr = [f for f in c.frames if f.sid == st.sid]
            self.assertEqual(st.status, 200, st)
            self.assertEqual(st.header("content-length"), str(len(BODY)))
            self.assertEqual([f for f in fr if f.type == C.DATA and f.payload], [],
                             "the response to HEAD carried body bytes in DATA frames "
                             "(clients answer PROTOCOL_ERROR): %r" % fr)
            self.assertTrue(st.ended, fr)

    def test_client_goaway_finishes_streams_then_closes(self):
        with C.RawConn(SRV.port) as c:
            self.assertTrue(C.wait_settings_and_ack(c), c.summary())
            sid = c.send_request("GET", "/hello?delay=500")
            c.flush()
            c.send(C.goaway_frame(0, C.NO_ERROR))
            st = c.wait_stream(sid, 5)
            self.assertEqual((st.status, bytes(st.data)), (200, BODY),
                             "a stream open when the client sent GOAWAY: %r" % st)
            how = c.wait_closed(3)
            self.assertIn(how, ("eof", "reset"), "the server kept the connection after the "
                          "client's GOAWAY and its last stream: " + c.summary())

    def test_ping_answered(self):
        with C.RawConn(SRV.port) as c:
            c.send(C.ping_frame(b"iridium!"))
            self.assertTrue(c.pump(lambda: c.ping_acks, 3), "no PING ACK: " + c.summary())
            self.assertEqual(c.ping_acks[0], b"iridium!")

    def test_h1_only_listener_does_not_speak_h2(self):
        port = h1only_port()
        data, how = H.raw_exchange_ex(port, C.PREFACE + C.settings_frame(), timeout=3)
        self.assertFalse(len(data) >= 9 and data[3] == C.SETTINGS,
                         "protocols = http/1.1 answered the HTTP/2 preface with SETTINGS: %r"
                         % data[:40])
        self.assertTrue(data == b"" or re.match(rb"HTTP/1\.1 [45]\d\d ", data), data[:200])
        s = H.connect(port)
        try:
            s.sendall(H.build_request("GET", "/hello", headers=[
                ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                ("HTTP2-Settings", "AAMAAABkAAQAAP__")]))
            r = H.HTTPReader(s).read_response(interim=True)
        finally:
            s.close()
        self.assertEqual(r.status, 200, "Upgrade: h2c on an http/1.1-only listener: %r" % r)
        self.assertEqual(r.body, BODY)
        p = H.curl(["--http2", "-o", "/dev/null", "-w", "%{http_version}",
                    "http://127.0.0.1:%d/hello" % port])
        self.assertEqual(p.stdout, b"1.1")


class CustomSettings(unittest.TestCase):
    """The [server] h2_* keys are what the server advertises and enforces."""

    def test_settings_from_config_and_stream_limit(self):
        with C.H2Server(server={"h2_max_concurrent_streams": "4",
                                "h2_initial_window_size": "100000",
                                "h2_max_frame_size": "32768",
                                "max_header_size": "16k"}) as srv:
            with C.RawConn(srv.port) as c:
                self.assertTrue(C.wait_settings_and_ack(c), c.summary())
                s = c.server_settings
                self.assertEqual(s.get(C.S_MAX_CONCURRENT_STREAMS), 4, s)
                self.assertEqual(s.get(C.S_INITIAL_WINDOW_SIZE), 100000, s)
                self.assertEqual(s.get(C.S_MAX_FRAME_SIZE), 32768, s)
                self.assertEqual(s.get(C.S_MAX_HEADER_LIST_SIZE), 16 * 1024, s)
                # 4 slow streams at once are served concurrently (~0.8 s, not 3.2 s)
                t0 = time.monotonic()
                sids = [c.send_request("GET", "/hello?delay=800") for _ in range(4)]
                ok = c.pump(lambda: all(c.stream(x).ended or c.stream(x).reset is not None
                                        for x in sids), 10)
                el = time.monotonic() - t0
                self.assertTrue(ok, c.summary())
                for x in sids:
                    self.assertEqual(c.stream(x).status, 200, c.stream(x))
                self.assertLess(el, 0.8 + H.scaled(1.2), "4 streams were not served "
                                "concurrently (%.2fs)" % el)
                # a fifth concurrent stream is refused (RST_STREAM or GOAWAY)
                sids = [c.send_request("GET", "/hello?delay=1500") for _ in range(5)]
                c.pump(lambda: c.stream(sids[4]).reset is not None or c.goaways
                       or c.stream(sids[4]).ended, 5)
                fifth = c.stream(sids[4])
                self.assertIsNone(fifth.status, "a 5th concurrent stream was served with "
                                  "h2_max_concurrent_streams = 4: %r" % fifth)
                self.assertTrue(fifth.reset in (C.REFUSED_STREAM, C.PROTOCOL_ERROR)
                                or any(g.error_code() == C.PROTOCOL_ERROR for g in c.goaways),
                                "5th stream: %r %s" % (fifth, c.summary()))
            with C.LibClient(srv.port) as c2:
                st = c2.fetch("GET", "/hello")
                self.assertEqual(st.status, 200)


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
