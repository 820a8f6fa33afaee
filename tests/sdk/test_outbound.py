#!/usr/bin/python3
"""test_outbound.py — SDK 1.4 outbound connections (host.h outbound_*),
through tests/sdk/outbound_module.c (proxy.so): a route's request body goes
to a backend this test runs, the backend's bytes come back as the response.

The backend (Python, 127.0.0.1) reads a line "N\\n", echoes the N bytes that
follow and closes; a TLS variant speaks the same through Python's ssl with a
certificate from a throwaway CA made here by certtool. Checked, against one
server (max_queued_output 64k, so both directions meet backpressure):
  plain     64 MiB of random bytes each way, byte-identical (sha256), with
            the backend paused by the module (pauses counter > 0); the same
            through the name "localhost" (resolved off the loop)
  TLS       64 MiB each way through TLS verified against ca_file; a wrong
            name (sni = wrong.example) fails the handshake: 502, IR_ETLS
  failures  a closed port -> 502 and IR_EREFUSED; a listener whose backlog is
            full -> 502 after connect_timeout (1 s), IR_ETIMEDOUT;
            "nonexistent.invalid" -> 502 within 2 s, IR_ENOTFOUND; a backend
            that resets mid-stream -> the response is cut short, IR_EIO or
            IR_ECLOSED
  once      every case moves exactly one on_close counter by one, and at the
            end closes == opens (the /stats route)
  fds       the server's /proc/PID/fd count is the same before and after
  stop      SIGTERM with a connection held open by a silent backend: the
            server exits 0 (on_close IR_ECLOSED before worker_exit, nothing
            leaked under ASan)
  README    sdk/README.md's "Outbound connections (1.4)" followed literally:
            each C block is this module's code, and its INI route serves

Environment: IRIDIUM_BIN and IRIDIUM_PROXY_MODULE. Every wait is bounded.
"""

import hashlib
import http.client
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402

PROXY_SO = os.environ.get("IRIDIUM_PROXY_MODULE", "build/tests/sdk/modules/proxy.so")
BIG = 64 << 20
KILL_AFTER = 1 << 20
STATUS_KEYS = ("close_ok", "close_closed", "close_refused", "close_timedout", "close_notfound",
               "close_tls", "close_io", "close_other")


# ---- the backends ----

class EchoBackend:
    """Accepts on 127.0.0.1; each connection: a line N, then N bytes echoed,
    then a clean close. kill_after: reset (RST) after echoing that many.
    silent: accept and read, never answer. tls: an ssl.SSLContext."""

    def __init__(self, tls=None, kill_after=None, silent=False):
        self.tls, self.kill_after, self.silent = tls, kill_after, silent
        self.sock = socket.socket()
        self.sock.bind((H.HOST, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(H.scaled(60))
            if self.tls:
                c = self.tls.wrap_socket(c, server_side=True)
                self.conns.append(c)
            line = b""
            while not line.endswith(b"\n"):
                b = c.recv(1)
                if not b:
                    return
                line += b
            if self.silent:
                while c.recv(65536):
                    pass
                return
            left = int(line)
            echoed = 0
            while left:
                b = c.recv(min(left, 65536))
                if not b:
                    return
                c.sendall(b)
                left -= len(b)
                echoed += len(b)
                if self.kill_after is not None and echoed >= self.kill_after:
                    raw = c.unwrap() if self.tls else c
                    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                    raw.close()
                    return
            if self.tls:
                c.unwrap()
        except (OSError, ValueError, ssl.SSLError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def close(self):
        self.stopping = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.thread.join(5)


def full_backlog_listener():
    """A listener that never accepts, its backlog filled: a connect to it
    gets no answer (the SYN is dropped). Returns (listener, fillers)."""
    lst = socket.socket()
    lst.bind((H.HOST, 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    for _ in range(8):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex((H.HOST, port))
        fillers.append(f)
        time.sleep(0.05)
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        probe.connect((H.HOST, port))
        raise AssertionError("the backlog did not fill: a connect went through")
    except socket.timeout:
        pass
    finally:
        probe.close()
    return lst, fillers


def make_ca_and_cert(tmp):
    """A throwaway CA and a server certificate for localhost / 127.0.0.1."""
    def certtool(*args):
        subprocess.run(["certtool"] + list(args), check=True, capture_output=True, timeout=60)

    def template(name, text):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path
    ca_key, ca_pem = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.pem")
    key, pem = os.path.join(tmp, "srv.key"), os.path.join(tmp, "srv.pem")
    certtool("--generate-privkey", "--key-type=ecdsa", "--outfile", ca_key)
    certtool("--generate-self-signed", "--load-privkey", ca_key, "--outfile", ca_pem,
             "--template", template("ca.tmpl", 'cn = "outbound test CA"\nca\ncert_signing_key\n'
                                    "expiration_days = 2\n"))
    certtool("--generate-privkey", "--key-type=ecdsa", "--outfile", key)
    certtool("--generate-certificate", "--load-privkey", key, "--load-ca-certificate", ca_pem,
             "--load-ca-privkey", ca_key, "--outfile", pem,
             "--template", template("srv.tmpl", 'cn = "localhost"\ndns_name = "localhost"\n'
                                    'ip_address = "127.0.0.1"\ntls_www_server\n'
                                    "signing_key\nexpiration_days = 2\n"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem, key)
    return ca_pem, ctx


# ---- the client ----

def post(port, path, body, timeout=60):
    """POST body with a Content-Length, sending from a thread while the
    response is read: (status, sha256 of the body, bytes, complete)."""
    s = socket.create_connection((H.HOST, port), timeout=H.scaled(timeout))
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n" % (path, len(body))).encode()

    def send():
        try:
            s.sendall(head)
            view = memoryview(body)
            for i in range(0, len(body), 1 << 16):
                s.sendall(view[i:i + (1 << 16)])
        except OSError:
            pass
    t = threading.Thread(target=send, daemon=True)
    t.start()
    resp = http.client.HTTPResponse(s)
    digest, n, complete = hashlib.sha256(), 0, True
    try:
        resp.begin()
        while True:
            b = resp.read(1 << 16)
            if not b:
                break
            digest.update(b)
            n += len(b)
    except (http.client.IncompleteRead, ConnectionError, OSError):
        complete = False
    s.close()
    t.join(H.scaled(timeout))
    return resp.status, digest.hexdigest(), n, complete


def stats(port):
    c = http.client.HTTPConnection(H.HOST, port, timeout=H.scaled(10))
    c.request("GET", "/plain/stats")
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    return {k: int(v) for k, v in (line.split("=") for line in text.split())}


class Outbound(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="iridium-outbound-")
        ca_pem, tls_ctx = make_ca_and_cert(cls.tmp)
        cls.echo = EchoBackend()
        cls.tls_echo = EchoBackend(tls=tls_ctx)
        cls.killer = EchoBackend(kill_after=KILL_AFTER)
        cls.backlog, cls.fillers = full_backlog_listener()
        closed = socket.socket()
        closed.bind((H.HOST, 0))
        cls.closed_port = closed.getsockname()[1]
        closed.close()
        proxy = {"module": "proxy", "connect_timeout": "1s"}
        routes = [
            ("/plain", dict(proxy, backend_port=cls.echo.port)),
            ("/byname", dict(proxy, backend_host="localhost", backend_port=cls.echo.port)),
            ("/tls", dict(proxy, backend_port=cls.tls_echo.port, tls="on", ca_file=ca_pem,
                          sni="localhost")),
            ("/tlsip", dict(proxy, backend_port=cls.tls_echo.port, tls="on", ca_file=ca_pem)),
            ("/wrongname", dict(proxy, backend_port=cls.tls_echo.port, tls="on", ca_file=ca_pem,
                                sni="wrong.example")),
            ("/refused", dict(proxy, backend_port=cls.closed_port)),
            ("/timeout", dict(proxy, backend_port=cls.backlog.getsockname()[1])),
            ("/notfound", dict(proxy, backend_host="nonexistent.invalid",
                               backend_port=cls.echo.port)),
            ("/killed", dict(proxy, backend_port=cls.killer.port)),
        ]
        cls.srv = H.Server(server={"workers": 2, "max_queued_output": "64k",
                                   "max_body_size": "128m"},
                           modules=["proxy"], module_paths={"proxy": os.path.abspath(PROXY_SO)},
                           routes=routes)
        cls.srv.__enter__()
        # one round first, so that lazily made worker state is not counted as a leak
        status, _, _, _ = post(cls.srv.port, "/plain", b"3\nabc")
        assert status == 200, status
        cls.fds_before = settled_fds(cls.srv)

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)
        for c in (cls.echo, cls.tls_echo, cls.killer):
            c.close()
        for f in cls.fillers:
            f.close()
        cls.backlog.close()

    def assert_one_close(self, before, key):
        """Exactly one on_close more, and with this status."""
        after = H.wait_for(lambda: (lambda s: s if sum(s[k] for k in STATUS_KEYS) >
                                    sum(before[k] for k in STATUS_KEYS) else None)(
                                        stats(self.srv.port)), H.scaled(5)) or stats(self.srv.port)
        time.sleep(0.2)  # a second on_close, if one were coming
        after = stats(self.srv.port)
        moved = {k: after[k] - before[k] for k in STATUS_KEYS if after[k] != before[k]}
        keys = key if isinstance(key, tuple) else (key,)
        self.assertEqual(len(moved), 1, moved)
        (k, v), = moved.items()
        self.assertIn(k, keys, moved)
        self.assertEqual(v, 1, moved)

    def transfer(self, path):
        data = os.urandom(BIG)
        before = stats(self.srv.port)
        status, digest, n, complete = post(self.srv.port, path, b"%d\n" % BIG + data, timeout=120)
        self.assertEqual(status, 200)
        self.assertTrue(complete)
        self.assertEqual(n, BIG)
        self.assertEqual(digest, hashlib.sha256(data).hexdigest())
        self.assert_one_close(before, "close_closed")  # the backend ended it
        self.assertGreater(stats(self.srv.port)["pauses"], before["pauses"],
                           "the backend was never paused")

    def test_plain_64mib(self):
        self.transfer("/plain")

    def test_tls_64mib(self):
        self.transfer("/tls")

    def test_tls_ip_literal_verified(self):
        status, digest, _, complete = post(self.srv.port, "/tlsip", b"5\nhello")
        self.assertEqual((status, complete), (200, True))
        self.assertEqual(digest, hashlib.sha256(b"hello").hexdigest())

    def test_by_name(self):
        before = stats(self.srv.port)
        status, digest, _, complete = post(self.srv.port, "/byname", b"5\nhello")
        self.assertEqual((status, complete), (200, True))
        self.assertEqual(digest, hashlib.sha256(b"hello").hexdigest())
        self.assert_one_close(before, "close_closed")

    def failure(self, path, key, within):
        before = stats(self.srv.port)
        t0 = time.monotonic()
        status, _, _, _ = post(self.srv.port, path, b"5\nhello")
        took = time.monotonic() - t0
        self.assertEqual(status, 502)
        self.assertLess(took, H.scaled(within))
        self.assert_one_close(before, key)
        return took

    def test_wrong_name(self):
        self.failure("/wrongname", "close_tls", 3)

    def test_refused(self):
        self.failure("/refused", "close_refused", 3)

    def test_connect_timeout(self):
        took = self.failure("/timeout", "close_timedout", 4)
        self.assertGreater(took, 0.9)

    def test_not_found(self):
        self.failure("/notfound", "close_notfound", 2)

    def test_killed_mid_stream(self):
        before = stats(self.srv.port)
        status, _, n, complete = post(self.srv.port, "/killed", b"%d\n" % (8 * KILL_AFTER) +
                                      os.urandom(8 * KILL_AFTER))
        self.assertEqual(status, 200)
        self.assertFalse(complete)
        self.assertLess(n, 8 * KILL_AFTER)
        self.assert_one_close(before, ("close_io", "close_closed"))

    def test_z_counts_and_fds(self):
        """Runs last (name order): every open closed once, no fd left."""
        s = stats(self.srv.port)
        self.assertEqual(s["open_failed"], 0)
        self.assertEqual(s["close_other"], 0)
        self.assertEqual(sum(s[k] for k in STATUS_KEYS), s["opened"], s)
        self.assertTrue(H.wait_for(lambda: self.srv.num_fds() == self.fds_before, H.scaled(5)),
                        "fds before %d, after %d" % (self.fds_before, self.srv.num_fds()))


def settled_fds(srv):
    """The server's fd count once the warm-up's client connection, which
    the server closes when it reads the EOF, is gone (bounded wait)."""
    last = srv.num_fds()
    for _ in range(int(H.scaled(5) / 0.2)):
        time.sleep(0.2)
        now = srv.num_fds()
        if now == last:
            return now
        last = now
    return last


class StopWithOpenConnections(unittest.TestCase):
    def test_sigterm(self):
        """SIGTERM while a silent backend holds requests open: on_close comes
        before worker_exit and the server exits 0 with nothing leaked."""
        silent = EchoBackend(silent=True)
        srv = H.Server(server={"workers": 1, "shutdown_timeout": "1s"}, modules=["proxy"],
                       module_paths={"proxy": os.path.abspath(PROXY_SO)},
                       routes=[("/p", {"module": "proxy", "backend_port": silent.port})])
        srv.expect_prompt_stop = False
        try:
            with srv:
                socks = []
                for _ in range(3):
                    s = socket.create_connection((H.HOST, srv.port), timeout=H.scaled(10))
                    s.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n9\nabc")
                    socks.append(s)
                self.assertTrue(H.wait_for(lambda: len(silent.conns) == 3, H.scaled(5)))
            self.assertEqual(srv.returncode, 0)
        finally:
            silent.close()


class ReadmeSection(unittest.TestCase):
    """sdk/README.md's "Outbound connections (1.4)", followed literally:
    every C block is this module's code, and its INI route serves."""

    def section(self):
        src = os.environ.get("IRIDIUM_SRC", os.path.join(HERE, "..", ".."))
        with open(os.path.join(src, "sdk", "README.md"), encoding="utf-8") as f:
            text = f.read()
        start = text.index("## Outbound connections (1.4)")
        return text[start:text.index("\n## ", start + 1)]

    def blocks(self, lang):
        parts = self.section().split("```" + lang + "\n")[1:]
        return [p.split("```")[0] for p in parts]

    def test_code_is_the_module(self):
        with open(os.path.join(HERE, "outbound_module.c"), encoding="utf-8") as f:
            module = f.read()
        blocks = self.blocks("c")
        self.assertGreaterEqual(len(blocks), 5)
        for b in blocks:
            self.assertIn(b, module, "README block not in outbound_module.c:\n" + b)

    def test_ini_route_serves(self):
        ini, = self.blocks("ini")
        lines = [l.strip() for l in ini.splitlines() if l.strip()]
        self.assertTrue(lines[0].startswith("[route ") and lines[0].endswith("]"), lines[0])
        prefix = lines[0][len("[route "):-1]
        keys = dict(l.split(" = ", 1) for l in lines[1:])
        echo = EchoBackend()
        keys["backend_port"] = str(echo.port)  # the README's 9001, here the test's backend
        try:
            with H.Server(modules=["proxy"], module_paths={"proxy": os.path.abspath(PROXY_SO)},
                          routes=[(prefix, keys)]) as srv:
                data = os.urandom(512 << 10)  # under the default max_body_size
                status, digest, n, complete = post(srv.port, prefix, b"%d\n" % len(data) + data)
                self.assertEqual((status, n, complete), (200, len(data), True))
                self.assertEqual(digest, hashlib.sha256(data).hexdigest())
        finally:
            echo.close()


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
