#!/usr/bin/python3
"""TLS as real clients see it (openssl s_client, gnutls-cli, curl, Python's
ssl): SNI picks each [certificate] (RSA for a.test, ECDSA for b.test, both
signed by a throwaway test CA), ALPN follows the listener's `protocols` in
its order, TLS 1.2 and 1.3 work and `tls_priority` is honoured, sessions
resume with tickets across workers, HTTP/1.1 and HTTP/2 run over TLS (a
1 MiB echo byte for byte), bad bytes on a TLS port only close that
connection, and broken TLS settings stop the start with FILE:LINE."""

import hashlib
import os
import random
import re
import shutil
import socket
import ssl
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

GREETING = H.DEFAULT_GREETING
TOOLS = ("certtool", "openssl", "gnutls-cli", "curl")
PKI = None
SRV = None


# --------------------------------------------------------------------------
# Test certificates


class TestPKI:
    """A test CA (ECDSA P-256) and two server certificates it signs, made
    with certtool in a temp folder: a.test with an RSA-2048 key, b.test with
    an ECDSA P-256 key. Valid for two days."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="iridium-tls-pki-")
        self.ca_key = self._key("ca", "ecdsa")
        self.ca = self._cert("ca", self.ca_key, ['cn = "Iridium Test CA"', "ca",
                                                 "cert_signing_key"], signer=None)
        self.a_key = self._key("a.test", "rsa")
        self.a = self._leaf("a.test", self.a_key, ["encryption_key"])
        self.b_key = self._key("b.test", "ecdsa")
        self.b = self._leaf("b.test", self.b_key, [])

    def path(self, name):
        return os.path.join(self.dir, name)

    @staticmethod
    def _run(args):
        p = H.run_cmd(["certtool"] + args, H.scaled(60))
        if p.returncode != 0:
            raise RuntimeError("certtool %s failed:\n%s" % (" ".join(args),
                                                            p.stderr.decode(errors="replace")))

    def _key(self, name, kind):
        out = self.path(name + ".key")
        args = ["--generate-privkey", "--no-text", "--outfile", out]
        args += ["--key-type=rsa", "--bits=2048"] if kind == "rsa" else \
            ["--key-type=ecdsa", "--curve=secp256r1"]
        self._run(args)
        return out

    def _cert(self, name, key, template_lines, signer):
        tmpl = self.path(name + ".tmpl")
        with open(tmpl, "w") as f:
            f.write("\n".join(template_lines + ["expiration_days = 2"]) + "\n")
        out = self.path(name + ".pem")
        if signer is None:
            args = ["--generate-self-signed"]
        else:
            args = ["--generate-certificate", "--load-ca-certificate", self.ca,
                    "--load-ca-privkey", self.ca_key]
        self._run(args + ["--load-privkey", key, "--template", tmpl, "--outfile", out])
        return out

    def _leaf(self, host, key, usage):
        return self._cert(host, key, ['cn = "%s"' % host, 'dns_name = "%s"' % host,
                                      "tls_www_server", "signing_key"] + usage, signer=self.ca)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# A server with TLS listeners


class TLSServer(H.Server):
    """harness.Server (its cleartext [listen] on srv.port untouched) plus
    TLS listeners and [certificate] sections, written after the rest of the
    INI through Server's `extra`.

    tls_listens: {name: {key: value}}, one [listen 127.0.0.1:PORT] each with
                 tls = on unless the keys set tls; srv.tls_port[name] after
                 start.
    certs:       [(name, cert, key)], one [certificate NAME] each.
    """

    def __init__(self, tls_listens, certs, **kw):
        super().__init__(**kw)
        self.tls_listens = dict(tls_listens)
        self.certs = list(certs)
        self.tls_port = {}

    def write_ini(self):
        extra = H.Ini()
        used = {self.port}
        self.tls_port = {}
        for name, keys in self.tls_listens.items():
            port = H.free_port()
            for _ in range(50):
                if port not in used:
                    break
                port = H.free_port()
            used.add(port)
            self.tls_port[name] = port
            extra.section("listen %s:%d" % (H.HOST, port))
            keys = dict(keys)
            keys.setdefault("tls", "on")
            for k, v in keys.items():
                extra.kv(k, v)
            extra.blank()
        for name, cert, key in self.certs:
            extra.section("certificate %s" % name)
            extra.kv("cert", cert)
            extra.kv("key", key)
            extra.blank()
        self.extra = extra.text().rstrip("\n")
        return super().write_ini()

    def start(self):
        super().start()
        for name, port in self.tls_port.items():
            if not H.wait_for(lambda: not H.port_refuses(port), self.start_timeout):
                self.proc.kill()
                self.proc.wait(10)
                self._close_files()
                raise H.ServerStartError("TLS listener %s (port %d) does not accept; stderr:\n%s"
                                         % (name, port, self.stderr_text()))
        return self


def setUpModule():
    global PKI, SRV
    H.check_environment()
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        print("test_tls: missing tools: %s (bash .ci/dev deps)" % " ".join(missing),
              file=sys.stderr)
        sys.exit(1)
    PKI = TestPKI()
    SRV = TLSServer(
        server={"max_body_size": "4m"},
        tls_listens={
            "main": {},  # default protocols: h2, http/1.1
            "h1only": {"protocols": "http/1.1"},
            "h1first": {"protocols": "http/1.1, h2"},
            "h2only": {"protocols": "h2"},
            "tls12": {"tls_priority": "NORMAL:-VERS-ALL:+VERS-TLS1.2"},
            "tls13": {"tls_priority": "NORMAL:-VERS-ALL:+VERS-TLS1.3"},
        },
        certs=[("a", PKI.a, PKI.a_key), ("b", PKI.b, PKI.b_key)])
    try:
        SRV.__enter__()
    except BaseException:
        PKI.cleanup()
        raise


def tearDownModule():
    try:
        if SRV is not None:
            SRV.__exit__(None, None, None)
    finally:
        if PKI is not None:
            PKI.cleanup()


# --------------------------------------------------------------------------
# Clients


def text_of(p):
    return (p.stdout + p.stderr).decode("utf-8", "replace")


def s_client(port, *args, servername="a.test", timeout=15.0):
    """openssl s_client to the port with stdin closed (it hands shakes, then
    quits). Returns (exit status, stdout + stderr)."""
    cmd = ["openssl", "s_client", "-connect", "%s:%d" % (H.HOST, port), "-CAfile", PKI.ca]
    if servername:
        cmd += ["-servername", servername]
    p = H.run_cmd(cmd + list(args), H.scaled(timeout), input_bytes=b"")
    return p.returncode, text_of(p)


def gnutls_cli(port, *args, timeout=20.0):
    """gnutls-cli to the port, trusting the test CA, stdin closed."""
    cmd = ["gnutls-cli", "-p", str(port), "--x509cafile", PKI.ca] + list(args) + [H.HOST]
    p = H.run_cmd(cmd, H.scaled(timeout), input_bytes=b"")
    return p.returncode, text_of(p)


def handshake_done(out):
    """Whether s_client's output shows a finished handshake."""
    m = re.search(r"^(New|Reused), (TLSv[\d.]+), Cipher is (\S+)", out, re.M)
    return bool(m) and m.group(3) != "(NONE)"


def alpn_of(out):
    """The protocol s_client reports ALPN chose, or None."""
    if re.search(r"^No ALPN negotiated", out, re.M):
        return None
    m = re.search(r"^ALPN protocol: (\S+)", out, re.M)
    return m.group(1) if m else "(no ALPN line)"


def client_hello():
    """The bytes of a real TLS ClientHello for a.test (Python's ssl over
    memory buffers; nothing is sent)."""
    ctx = ssl.create_default_context(cafile=PKI.ca)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="a.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def ssl_connect(port, alpn=None, host="a.test"):
    ctx = ssl.create_default_context(cafile=PKI.ca)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx.wrap_socket(H.connect(port), server_hostname=host)


class TLSCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="iridium-tls-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertTrue(SRV.alive(), "server process died during the test" + SRV.diagnostics())

    def curl_tls(self, port, args, host="a.test", path="/hello"):
        """curl https://HOST:PORT/PATH trusting the test CA, HOST resolved to
        127.0.0.1. Returns (http_version, status, body bytes)."""
        body = os.path.join(self.tmp, "body")
        url = "https://%s:%d%s" % (host, port, path)
        p = H.curl(["--cacert", PKI.ca, "--resolve", "%s:%d:%s" % (host, port, H.HOST),
                    "-o", body, "-w", "%{http_version} %{http_code}"] + list(args) + [url])
        self.assertEqual(p.returncode, 0, "curl %s failed: %s%s"
                         % (" ".join(args), p.stderr.decode(errors="replace"), SRV.diagnostics()))
        version, code = p.stdout.decode().split()
        with open(body, "rb") as f:
            return version, int(code), f.read()

    def assert_still_serving(self, what):
        H.assert_serving(self, SRV, "after " + what)
        version, code, body = self.curl_tls(SRV.tls_port["main"], ["--http1.1"])
        self.assertEqual((code, body), (200, (GREETING + "\n").encode()),
                         "TLS GET /hello after " + what)


# --------------------------------------------------------------------------
# SNI: each name gets its own certificate


class SNI(TLSCase):
    EXPECT = {"a.test": ("rsaEncryption, 2048", "RSA key 2048 bits"),
              "b.test": ("id-ecPublicKey, 256", "EC/ECDSA key 256 bits")}

    def check_openssl(self, name, version):
        rc, out = s_client(SRV.tls_port["main"], version, "-verify_hostname", name,
                           "-verify_return_error", servername=name)
        self.assertEqual(rc, 0, out)
        self.assertTrue(handshake_done(out), out)
        self.assertRegex(out, r"(?m)^subject=CN = %s$" % re.escape(name))
        self.assertIn("a:PKEY: %s (bit)" % self.EXPECT[name][0], out)
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertRegex(out, r"(?m)^New, %s," % {"-tls1_2": "TLSv1.2",
                                                   "-tls1_3": "TLSv1.3"}[version])

    def test_openssl_a_gets_rsa_tls13(self):
        self.check_openssl("a.test", "-tls1_3")

    def test_openssl_b_gets_ecdsa_tls13(self):
        self.check_openssl("b.test", "-tls1_3")

    def test_openssl_a_gets_rsa_tls12(self):
        self.check_openssl("a.test", "-tls1_2")

    def test_openssl_b_gets_ecdsa_tls12(self):
        self.check_openssl("b.test", "-tls1_2")

    def test_name_case_does_not_matter(self):
        rc, out = s_client(SRV.tls_port["main"], "-tls1_2", servername="A.Test")
        self.assertTrue(handshake_done(out), out)
        self.assertIn("a:PKEY: rsaEncryption, 2048 (bit)", out)

    def test_unknown_name_and_no_sni_still_handshake(self):
        # Some certificate is offered (which one is the server's choice).
        for args, servername in ((["-tls1_3"], "c.test"), (["-tls1_2"], "c.test"),
                                 (["-tls1_3", "-noservername"], None)):
            rc, out = s_client(SRV.tls_port["main"], *args, servername=servername)
            self.assertTrue(handshake_done(out), "%s %s:\n%s" % (args, servername, out))
            self.assertRegex(out, r"(?m)^subject=CN = [ab]\.test$")

    def test_gnutls_cli_each_name(self):
        for name, (_, gnutls_key) in self.EXPECT.items():
            rc, out = gnutls_cli(SRV.tls_port["main"], "--sni-hostname", name,
                                 "--verify-hostname", name)
            self.assertEqual(rc, 0, out)
            self.assertRegex(out, r"subject `CN=%s'" % re.escape(name))
            self.assertIn(gnutls_key, out)
            self.assertIn("Status: The certificate is trusted.", out)
            self.assertIn("Handshake was completed", out)


# --------------------------------------------------------------------------
# ALPN


class ALPN(TLSCase):
    def test_curl_http2_on_default_listener(self):
        version, code, body = self.curl_tls(SRV.tls_port["main"], ["--http2"])
        self.assertEqual(version, "2")
        self.assertEqual((code, body), (200, (GREETING + "\n").encode()))

    def test_curl_http11_on_default_listener(self):
        version, code, body = self.curl_tls(SRV.tls_port["main"], ["--http1.1"])
        self.assertEqual(version, "1.1")
        self.assertEqual((code, body), (200, (GREETING + "\n").encode()))

    def test_b_test_over_http2(self):
        version, code, body = self.curl_tls(SRV.tls_port["main"], ["--http2"], host="b.test")
        self.assertEqual((version, code), ("2", 200))

    def test_server_order_h2_first(self):
        # The client prefers http/1.1; the listener's order (h2 first) wins.
        rc, out = s_client(SRV.tls_port["main"], "-alpn", "http/1.1,h2")
        self.assertTrue(handshake_done(out), out)
        self.assertEqual(alpn_of(out), "h2", out)

    def test_server_order_http11_first(self):
        rc, out = s_client(SRV.tls_port["h1first"], "-alpn", "h2,http/1.1")
        self.assertTrue(handshake_done(out), out)
        self.assertEqual(alpn_of(out), "http/1.1", out)

    def test_client_offering_only_http11(self):
        rc, out = s_client(SRV.tls_port["main"], "-alpn", "http/1.1")
        self.assertTrue(handshake_done(out), out)
        self.assertEqual(alpn_of(out), "http/1.1", out)

    def test_http11_only_listener_curl_http2_falls_back(self):
        version, code, body = self.curl_tls(SRV.tls_port["h1only"], ["--http2"])
        self.assertEqual(version, "1.1")
        self.assertEqual((code, body), (200, (GREETING + "\n").encode()))

    def test_http11_only_listener_refuses_h2(self):
        # RFC 7301 §3.2: no protocol in common is a no_application_protocol
        # alert, not a silent fall back to one the client did not offer.
        rc, out = s_client(SRV.tls_port["h1only"], "-alpn", "h2")
        self.assertFalse(handshake_done(out), "handshake completed:\n" + out)
        self.assertIn("alert number 120", out)

    def assert_no_application_protocol(self, port, alpn):
        """A client offering only `alpn` gets the fatal no_application_protocol
        alert (120) and no connection (RFC 7301 §3.2: the server SHALL)."""
        try:
            s = ssl_connect(port, alpn=alpn)
        except ssl.SSLError as e:
            # Python 3.11 leaves e.reason empty for this alert: its text says it.
            what = (e.reason or "") + " " + str(e)
            self.assertRegex(what, r"(?i)NO_APPLICATION_PROTOCOL|alert no application protocol",
                             "%s: %r" % (alpn, e))
            return
        try:
            got = s.selected_alpn_protocol()
        finally:
            s.close()
        self.fail("a client offering only %s completed the handshake (ALPN %r) instead of "
                  "getting the no_application_protocol alert" % (alpn, got))

    def test_only_unknown_alpn_gets_no_application_protocol(self):
        for name in ("main", "h1only", "h2only", "tls12"):
            for alpn in (["spdy/3"], ["h3"], ["h3", "spdy/3", "http/1.0"]):
                self.assert_no_application_protocol(SRV.tls_port[name], alpn)
        self.assert_still_serving("clients offering only unknown ALPN protocols")

    def test_only_h2_on_http11_only_listener_gets_alert(self):
        self.assert_no_application_protocol(SRV.tls_port["h1only"], ["h2"])
        self.assert_no_application_protocol(SRV.tls_port["h2only"], ["http/1.1"])

    def test_gnutls_cli_unknown_alpn(self):
        rc, out = gnutls_cli(SRV.tls_port["main"], "--alpn", "h3", "--sni-hostname", "a.test",
                             "--verify-hostname", "a.test")
        self.assertNotEqual(rc, 0, out)
        self.assertNotIn("Handshake was completed", out)
        self.assertRegex(out, r"(?i)alert \[120\]|no supported application protocol", out)

    def test_unknown_then_known_alpn_picks_known(self):
        s = ssl_connect(SRV.tls_port["main"], alpn=["h3", "spdy/3", "http/1.1"])
        try:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
            s.sendall(H.build_request("GET", "/hello"))
            r = H.HTTPReader(s).read_response()
            self.assertEqual((r.status, r.body), (200, (GREETING + "\n").encode()))
        finally:
            s.close()

    def test_no_alpn_on_h2_only_listener_gets_h2(self):
        # Without ALPN the client gets the listener's protocol, as before.
        s = ssl_connect(SRV.tls_port["h2only"])
        try:
            self.assertIsNone(s.selected_alpn_protocol())
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            s.settimeout(H.scaled(5.0))
            head = b""
            while len(head) < 9:
                d = s.recv(9 - len(head))
                if not d:
                    break
                head += d
            self.assertEqual(len(head), 9, "no HTTP/2 frame back: %r" % head)
            self.assertEqual(head[3], 0x4, "first frame is not SETTINGS: %r" % head)
        finally:
            s.close()

    def test_no_alpn_client_gets_http11(self):
        s = ssl_connect(SRV.tls_port["main"])
        try:
            self.assertIsNone(s.selected_alpn_protocol())
            s.sendall(H.build_request("GET", "/hello"))
            r = H.HTTPReader(s).read_response()
            self.assertEqual((r.version, r.status, r.body),
                             ("HTTP/1.1", 200, (GREETING + "\n").encode()))
        finally:
            s.close()


# --------------------------------------------------------------------------
# Versions and tls_priority


class Versions(TLSCase):
    def version_ok(self, listener, flag, name):
        rc, out = s_client(SRV.tls_port[listener], flag)
        self.assertEqual(rc, 0, out)
        self.assertTrue(handshake_done(out), out)
        self.assertRegex(out, r"(?m)^New, %s," % re.escape(name))

    def version_refused(self, listener, flag):
        rc, out = s_client(SRV.tls_port[listener], flag)
        self.assertFalse(handshake_done(out), "%s handshake completed on %s:\n%s"
                         % (flag, listener, out))
        self.assertNotEqual(rc, 0, out)

    def test_tls12(self):
        self.version_ok("main", "-tls1_2", "TLSv1.2")

    def test_tls13(self):
        self.version_ok("main", "-tls1_3", "TLSv1.3")

    def test_default_cipher_aes128_gcm(self):
        # The default tls_priority puts AES-128-GCM first; Python's client
        # offers AES-256-GCM first, and the server's order wins.
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = ssl.create_default_context(cafile=PKI.ca)
            ctx.minimum_version = ctx.maximum_version = version
            with ctx.wrap_socket(H.connect(SRV.tls_port["main"]), server_hostname="b.test") as s:
                self.assertIn("AES128-GCM" if version == ssl.TLSVersion.TLSv1_2
                              else "TLS_AES_128_GCM_SHA256", s.cipher()[0], version)

    def test_priority_tls12_only(self):
        self.version_ok("tls12", "-tls1_2", "TLSv1.2")
        self.version_refused("tls12", "-tls1_3")

    def test_priority_tls13_only(self):
        self.version_ok("tls13", "-tls1_3", "TLSv1.3")
        self.version_refused("tls13", "-tls1_2")

    def test_priority_listener_still_serves(self):
        # b.test: its ECDSA certificate suits every TLS 1.2 suite GnuTLS
        # prefers, so this checks the listener, not SNI (the SNI class does).
        for listener in ("tls12", "tls13"):
            version, code, body = self.curl_tls(SRV.tls_port[listener], ["--http2"],
                                                host="b.test")
            self.assertEqual((version, code), ("2", 200), listener)


# --------------------------------------------------------------------------
# Session resumption (tickets; two workers share the ticket key)


class Renegotiation(TLSCase):
    """A TLS 1.2 client asking to renegotiate gets the warning alert
    no_renegotiation (100), then the server closes the connection (GnuTLS
    cannot go on with the refused ClientHello buffered; RFC 5246 §7.2.2
    lets either side close after it)."""

    def test_rehandshake_gets_no_renegotiation_alert(self):
        for name in ("tls12", "main"):
            rc, out = gnutls_cli(SRV.tls_port[name], "--rehandshake", "--sni-hostname", "a.test",
                                 "--verify-hostname", "a.test",
                                 "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2")
            self.assertIn("Handshake was completed", out)
            self.assertIn("Received alert [100]", out,
                          "%s: no no_renegotiation alert before the close" % name)
            self.assertNotIn("ReHandshake was completed", out)
        self.assert_still_serving("refused renegotiations")


class Resumption(TLSCase):
    def resumes(self, name, *priority):
        # Several times: the two connections of a run may land on either worker.
        for i in range(4):
            rc, out = gnutls_cli(SRV.tls_port["main"], "--resume", "--sni-hostname", name,
                                 "--verify-hostname", name, *priority)
            self.assertEqual(rc, 0, out)
            self.assertIn("Resume Handshake was completed", out, "run %d:\n%s" % (i, out))
            self.assertIn("*** This is a resumed session", out, "run %d:\n%s" % (i, out))

    def test_resume_tls13(self):
        self.resumes("a.test")

    def test_resume_tls12(self):
        # b.test (ECDSA) so that this checks resumption, not TLS 1.2's SNI.
        self.resumes("b.test", "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2")

    def test_resume_openssl_tls12(self):
        sess = os.path.join(self.tmp, "sess")
        rc, out = s_client(SRV.tls_port["main"], "-tls1_2", "-sess_out", sess)
        self.assertTrue(handshake_done(out), out)
        self.assertRegex(out, r"(?m)^New, TLSv1.2,")
        rc, out = s_client(SRV.tls_port["main"], "-tls1_2", "-sess_in", sess)
        self.assertRegex(out, r"(?m)^Reused, TLSv1.2,", out)


# --------------------------------------------------------------------------
# HTTP over TLS


class HTTP(TLSCase):
    def test_curl_k_hello(self):
        p = H.curl(["-k", "https://%s:%d/hello" % (H.HOST, SRV.tls_port["main"])])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, (GREETING + "\n").encode())

    def echo(self, flag):
        data = os.urandom(1024 * 1024)
        src = os.path.join(self.tmp, "in")
        with open(src, "wb") as f:
            f.write(data)
        version, code, body = self.curl_tls(SRV.tls_port["main"],
                                            [flag, "--data-binary", "@" + src, "-H", "Expect:"])
        self.assertEqual(code, 200)
        self.assertEqual(len(body), len(data))
        self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(data).hexdigest(),
                         "the echoed 1 MiB differs")
        return version

    def test_post_1mib_echo_http11(self):
        self.assertEqual(self.echo("--http1.1"), "1.1")

    def test_post_1mib_echo_http2(self):
        self.assertEqual(self.echo("--http2"), "2")

    def test_keepalive_and_pipelining(self):
        s = ssl_connect(SRV.tls_port["main"], alpn=["http/1.1"])
        try:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
            rd = H.HTTPReader(s)
            for i in range(3):
                s.sendall(H.build_request("GET", "/hello"))
                r = rd.read_response()
                self.assertEqual((r.status, r.body), (200, (GREETING + "\n").encode()), i)
            body = b"x" * 70000  # several TLS records
            s.sendall(H.build_request("GET", "/hello") + H.build_request("POST", "/hello",
                                                                         body=body))
            self.assertEqual(rd.read_response().status, 200)
            r = rd.read_response("POST")
            self.assertEqual((r.status, r.body), (200, body))
        finally:
            s.close()


# --------------------------------------------------------------------------
# Bad input on a TLS port


class BadInput(TLSCase):
    def closes(self, data, what):
        got, how = H.raw_exchange_ex(SRV.tls_port["main"], data, timeout=5.0)
        self.assertIn(how, ("eof", "reset"), "%s: the connection stayed open (%d bytes back)"
                      % (what, len(got)))
        self.assertNotIn(b"HTTP/1.1", got, "%s: answered in cleartext: %r" % (what, got[:200]))
        self.assert_still_serving(what)

    def test_plaintext_http_request(self):
        self.closes(H.build_request("GET", "/hello"), "a cleartext request")

    def test_garbage(self):
        # Seeded, so a failure repeats; starts with a byte that is no record
        # type, so no byte count of a record body is waited for.
        data = b"\x00" + random.Random(7).randbytes(16383)
        self.closes(data, "16 KiB of random bytes")

    def test_h2_preface_in_cleartext(self):
        self.closes(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "an h2c preface")

    def test_client_hello_then_bad_records(self):
        # Whole records, so the server never has to wait for the rest of one:
        # one of an unknown type, and "encrypted" data that cannot decrypt.
        noise = random.Random(11).randbytes(200)
        self.closes(client_hello() + b"\xff\x03\x03\x00\xc8" + noise,
                    "a ClientHello then a record of type 255")
        self.closes(client_hello() + b"\x17\x03\x03\x00\xc8" + noise,
                    "a ClientHello then application data that cannot decrypt")

    def test_partial_client_hello_then_close(self):
        hello = client_hello()
        for cut in (1, 5, len(hello) // 2, len(hello)):
            s = H.connect(SRV.tls_port["main"])
            s.sendall(hello[:cut])
            s.close()
        # One with an abortive close (RST) in the middle of the handshake.
        s = H.connect(SRV.tls_port["main"])
        s.sendall(hello)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        self.assert_still_serving("ClientHellos cut short")

    def test_many_aborted_handshakes(self):
        hello = client_hello()
        for _ in range(50):
            s = H.connect(SRV.tls_port["main"])
            s.sendall(hello)
            s.close()
        self.assert_still_serving("50 aborted handshakes")


class HandshakeTimeout(unittest.TestCase):
    """A client that stops in the middle of the handshake is closed after
    header_timeout, like one that stops in the middle of a request head."""

    def test_stalled_handshake_closed(self):
        with TLSServer(server={"header_timeout": "1s"}, tls_listens={"main": {}},
                       certs=[("a", PKI.a, PKI.a_key)]) as srv:
            s = H.connect(srv.tls_port["main"])
            try:
                s.sendall(client_hello()[:20])
                t0 = time.monotonic()
                data, how = H.recv_until_close(s, H.scaled(6.0))
                self.assertIn(how, ("eof", "reset"),
                              "a stalled handshake was still open after %.1fs"
                              % (time.monotonic() - t0))
            finally:
                s.close()


# --------------------------------------------------------------------------
# Broken TLS settings stop the start with FILE:LINE


class StartupErrors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="iridium-tls-err-")
        self.ini = H.Ini()
        self.at = {}
        self.port = H.free_port()
        self.path = os.path.join(self.tmp, "test.ini")
        self.ini.section("server")
        self.ini.kv("workers", "1")
        self.ini.kv("modules_dir", H.MODULES_DIR)
        self.ini.kv("error_log", os.path.join(self.tmp, "error.log"))
        self.ini.blank()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def listen(self, **keys):
        self.at["listen"] = self.ini.section("listen %s:%d" % (H.HOST, self.port))
        for k, v in keys.items():
            self.at[k] = self.ini.kv(k, v)
        self.ini.blank()

    def certificate(self, name, cert, key):
        self.at["certificate"] = self.ini.section("certificate %s" % name)
        self.at["cert"] = self.ini.kv("cert", cert)
        self.at["key"] = self.ini.kv("key", key)
        self.ini.blank()

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def expect_error(self, line, *needles):
        """Both `-t -c` and `-c` exit 1 with PATH:LINE: and the needles (any
        one of each tuple) on one line, and nothing listens."""
        self.ini.section("module hello")
        self.ini.section("route /hello")
        self.ini.kv("module", "hello")
        self.ini.write(self.path)
        numbered = "".join("%3d| %s\n" % (i + 1, l) for i, l in enumerate(self.ini.lines))
        for args in (["-t", "-c", self.path], ["-c", self.path]):
            try:
                p = H.run_iridium(args, timeout=10)
            except Exception as e:  # noqa: BLE001 - it started instead of refusing
                self.fail("iridium %s did not exit: %s\nfile:\n%s" % (" ".join(args), e, numbered))
            self.assertEqual(p.returncode, 1, "iridium %s exited %d\nstderr:\n%s\nfile:\n%s"
                             % (" ".join(args), p.returncode, p.stderr, numbered))
            prefix = "%s:%d:" % (self.path, line)
            lines = [l for l in p.stderr.splitlines() if l.startswith(prefix)]
            self.assertTrue(lines, "%s: no line starting with %r in stderr:\n%s\nfile:\n%s"
                            % (" ".join(args), prefix, p.stderr, numbered))
            for n in needles:
                alts = n if isinstance(n, tuple) else (n,)
                self.assertTrue(any(a in l for a in alts for l in lines),
                                "%s: none of %r in %r" % (" ".join(args), alts, lines))
            self.assertNotIn("AddressSanitizer", p.stderr)
            self.assertNotIn("runtime error:", p.stderr)
            self.assertTrue(H.port_refuses(self.port), "something listens on the port")

    def test_missing_key_file(self):
        self.listen(tls="on")
        self.certificate("a", PKI.a, os.path.join(self.tmp, "nope.key"))
        self.expect_error(self.at["key"], "[certificate a]", "nope.key",
                          "No such file or directory")

    def test_key_is_a_directory(self):
        self.listen(tls="on")
        self.certificate("a", PKI.a, self.tmp)
        self.expect_error(self.at["key"], "[certificate a]", "Is a directory")

    def test_missing_cert_file(self):
        self.listen(tls="on")
        self.certificate("a", "nope.crt", PKI.a_key)
        self.expect_error(self.at["cert"], "[certificate a]", "nope.crt")

    def test_garbage_pem_key(self):
        key = self.write("garbage.key", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n"
                                        "-----END PRIVATE KEY-----\n")
        self.listen(tls="on")
        self.certificate("junk", PKI.a, key)
        self.expect_error(self.at["certificate"], "[certificate junk]")

    def test_not_pem_at_all_cert(self):
        cert = self.write("text.crt", "hello, I am not a certificate\n")
        self.listen(tls="on")
        self.certificate("junk", cert, PKI.a_key)
        self.expect_error(self.at["certificate"], "[certificate junk]")

    def test_key_does_not_match_certificate(self):
        self.listen(tls="on")
        self.certificate("mixed", PKI.a, PKI.b_key)
        self.expect_error(self.at["certificate"], "[certificate mixed]",
                          ("does not match", "mismatch"))

    def test_tls_listener_without_certificate(self):
        self.listen(tls="on")
        self.expect_error(self.at["listen"], "no [certificate]")

    def test_bad_tls_priority(self):
        self.listen(tls="on", tls_priority="NORMAL:+NO-SUCH-THING")
        self.certificate("a", PKI.a, PKI.a_key)
        self.expect_error(self.at["listen"], "tls_priority")

    def test_h2_on_cleartext_listener(self):
        self.listen(protocols="http/1.1, h2")
        self.expect_error(self.at["protocols"], "h2 needs tls = on")

    def test_h2c_on_tls_listener(self):
        self.listen(tls="on", protocols="h2c")
        self.certificate("a", PKI.a, PKI.a_key)
        self.expect_error(self.at["protocols"], "h2c")


if __name__ == "__main__":
    unittest.main(verbosity=2)
