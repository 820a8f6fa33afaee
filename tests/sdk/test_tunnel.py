#!/usr/bin/python3
"""test_tunnel.py — upgraded streams (SDK ABI 1.1, host.h req_upgrade) on
both protocols through one module code path: tests/sdk/tunnel_module.c
echoes the bytes of an "echo" upgrade, whether it came as an HTTP/1.1
Upgrade or as an HTTP/2 extended CONNECT (RFC 8441).

Checked here, against one server (/t -> tunnel, /hello -> hello; a plain
listener with http/1.1 + h2c, a TLS listener with h2 + http/1.1;
keepalive_timeout, header_timeout and h2_stream_idle_timeout all 1 s;
max_queued_output and max_body_size 64k, so tunnels meet backpressure and
prove the body limit does not apply to them):
  HTTP/1.1  101 with connection/upgrade/x-tunnel and no body framing; exact
            echo of several writes and of 1 MiB of random bytes; 8 MiB to a
            client that stops reading (IR_EAGAIN -> on_writable, bytes
            consumed only once written); bytes pipelined behind the request
            head; 2.5 s of silence survived; shutdown(SHUT_WR) answered by
            the server ending its side; ?close_after=5 ends the tunnel from
            the server; a route whose module lacks IR_MODULE_UPGRADES serves
            the request normally; no upgrade -> 426 naming `upgrade: echo`;
            Upgrade in HTTP/1.0 ignored; another protocol refused + closed.
  HTTP/2    SETTINGS_ENABLE_CONNECT_PROTOCOL = 1; CONNECT :protocol echo ->
            :status 200 + x-tunnel; exact echo of 1 MiB under flow control,
            and of 2 MiB to a client that stops reading for 1.5 s; 2.5 s of
            silence survived (no stalled-stream reset); END_STREAM from the
            client ends the server's side; GET /hello alongside on the same
            connection; two tunnels on one connection; ?close_after=5;
            extended CONNECT to /hello -> 501; GET /t -> 426 without the
            (connection-specific) upgrade field.
  on_close  exactly once per tunnel and per stream (the module's counters on
            /t/stats): DONE for clean ends, ABORTED when the client drops
            the TCP connection (and for an HTTP/2 RST_STREAM).
  TLS       one echo round over ALPN http/1.1 and one over ALPN h2.
handler_timeout: a route's 1 s cuts /t/hang with 504 but not an upgrade
request whose 101 comes 2.5 s later (h1 and h2, and on h2 also when the
client sent END_STREAM first); the tunnel then survives 2.5 s of silence.
Separate servers: one whose only module (hello) takes no upgrades does not
advertise the setting, and keeps serving a keep-alive connection after an
ignored Upgrade offer (sequential and pipelined); SIGTERM with open tunnels
closes them at shutdown_timeout with on_close(SHUTDOWN) and exits 0.

Environment: IRIDIUM_BIN (the host), IRIDIUM_MODULES_DIR (shipped modules,
for hello.so) and IRIDIUM_TUNNEL_MODULE (the built tunnel.so); all default
to the lead's build/ tree. Every wait is bounded; only 127.0.0.1 is used.
"""

import hashlib
import os
import re
import socket
import struct
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402

TUNNEL_SO = os.environ.get("IRIDIUM_TUNNEL_MODULE") or os.path.join(
    H.REPO, "build", "tests", "sdk", "modules", "tunnel.so")
HELLO_SO = os.path.join(H.MODULES_DIR, "hello.so")
MIB = 1 << 20
GREETING = "Hello from Iridium"
ENABLE_CONNECT_PROTOCOL = 0x8
SILENCE = 2.5  # seconds, longer than every idle timeout the server has (1 s)
UPGRADE_HEAD = H.build_request("GET", "/t", [("Connection", "Upgrade"), ("Upgrade", "echo")])

SRV = None  # the shared server, started in setUpModule


def check_environment():
    problems = []
    if not os.access(H.IRIDIUM_BIN, os.X_OK):
        problems.append("IRIDIUM_BIN=%s is not an executable file" % H.IRIDIUM_BIN)
    if not os.path.isfile(TUNNEL_SO):
        problems.append("IRIDIUM_TUNNEL_MODULE=%s does not exist" % TUNNEL_SO)
    if not os.path.isfile(HELLO_SO):
        problems.append("IRIDIUM_MODULES_DIR=%s has no hello.so" % H.MODULES_DIR)
    for p in problems:
        print("sdk_tunnel setup: " + p, file=sys.stderr)
    if problems:
        sys.exit(1)


def tunnel_server():
    """/t -> tunnel, /hello -> hello; http/1.1 + h2c, and a TLS listener
    (h2, http/1.1) whose port is SRV.ports[0]."""
    return C.H2Server(
        server={"workers": 2, "keepalive_timeout": "1s", "header_timeout": "1s",
                "h2_stream_idle_timeout": "1s",
                # Small limits: tunnels hit backpressure (IR_EAGAIN, on_writable)
                # often, and max_body_size must not apply to an upgraded stream.
                "max_queued_output": "64k", "max_body_size": "64k"},
        modules=["tunnel", "hello"],
        module_paths={"tunnel": os.path.abspath(TUNNEL_SO), "hello": os.path.abspath(HELLO_SO)},
        routes=[("/t", {"module": "tunnel"}),
                ("/hello", {"module": "hello", "greeting": GREETING})],
        protocols="http/1.1, h2c",
        listeners=[{"tls": True, "protocols": "h2, http/1.1"}])


def setUpModule():
    global SRV
    check_environment()
    SRV = tunnel_server()
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)  # raises on a crash, a hang or a sanitizer report


# --------------------------------------------------------------------------
# the module's counters


def stats():
    r = H.http_request(SRV.port, "GET", "/t/stats")
    if r.status != 200:
        raise AssertionError("GET /t/stats: %r %r" % (r, r.body[:200]))
    out = {}
    for line in r.body.decode().split("\n"):
        k, sep, v = line.partition("=")
        if sep:
            out[k] = int(v)
    return out


class CloseCounter:
    """Counts tunnels and their on_close reasons from a starting point.

        cc = CloseCounter(self)
        ... two tunnels, both ended cleanly ...
        cc.expect(done=2)
    """

    def __init__(self, tc):
        self.tc = tc
        self.start = stats()

    def delta(self):
        now = stats()
        return {k: now[k] - self.start.get(k, 0) for k in now}

    def expect(self, done=0, aborted=0, timeout=5.0):
        want = done + aborted

        def settled():
            d = self.delta()
            return d["tunnel_closes"] >= want and d["closes"] >= d["requests"]

        H.wait_for(settled, H.scaled(timeout))
        time.sleep(H.scaled(0.2))  # a second on_close would show up now
        d = self.delta()
        ctx = "on_close counters since the start of the test: %r%s" % (d, SRV.diagnostics())
        self.tc.assertEqual(d["tunnels"], want, "tunnels accepted (101 sent); " + ctx)
        self.tc.assertEqual(d["tunnel_closes"], want, "on_close once per tunnel; " + ctx)
        self.tc.assertEqual(d["close_done"], done, "on_close(DONE); " + ctx)
        self.tc.assertEqual(d["close_aborted"], aborted, "on_close(ABORTED); " + ctx)
        self.tc.assertEqual(d["closes"], d["requests"],
                            "on_close once per stream that reached on_request; " + ctx)
        self.tc.assertEqual(d["misordered"], 0, "on_body/on_body_end after on_body_end; " + ctx)
        self.tc.assertEqual(d["write_errors"], 0, "failed writes in the module; " + ctx)
        return d


class Sender:
    """Writes data (then optionally SHUT_WR) from a thread on a dup of sock,
    so the reader's timeouts do not apply to it; errors are kept."""

    def __init__(self, sock, data, shut_wr=False):
        self.sock = sock.dup()
        self.sock.settimeout(H.scaled(30))
        self.data, self.shut_wr = data, shut_wr
        self.errors = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.sock.sendall(self.data)
            if self.shut_wr:
                self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.errors.append(e)
        finally:
            self.sock.close()

    def join(self):
        self.thread.join(H.scaled(10))
        return not self.thread.is_alive() and not self.errors


def reset_close(sock):
    """Drops the TCP connection with RST (SO_LINGER 0): a client that is gone."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# --------------------------------------------------------------------------
# HTTP/1.1 tunnels over a raw socket


class H1Tunnel:
    """An HTTP/1.1 connection upgraded to "echo"; bytes the server sent after
    the 101 head are kept in self.buf."""

    def __init__(self, port=None, target="/t", early=b"", sock=None, upgrade="echo"):
        self.sock = sock or H.connect(port or SRV.port)
        head = UPGRADE_HEAD if target == "/t" and upgrade == "echo" else H.build_request(
            "GET", target, [("Connection", "Upgrade"), ("Upgrade", upgrade)])
        self.sock.sendall(head + early)
        self.reader = H.HTTPReader(self.sock, timeout=5.0)
        self.head = self.reader.read_head()
        self.buf = bytearray(self.reader.buf)

    def recv_exact(self, n, timeout=5.0):
        deadline = time.monotonic() + H.scaled(timeout)
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("echo: %d of %d bytes within %.1fs" % (len(self.buf), n,
                                                                            H.scaled(timeout)))
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(262144)
            except (socket.timeout, TimeoutError):
                continue
            if not d:
                raise AssertionError("connection closed after %d of %d echoed bytes"
                                     % (len(self.buf), n))
            self.buf += d
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv_rest(self, timeout=5.0):
        """Everything until the server closes: (bytes, 'eof'|'reset'|'timeout')."""
        data, how = H.recv_until_close(self.sock, H.scaled(timeout))
        out = bytes(self.buf) + data
        self.buf.clear()
        return out, how

    def echo(self, data, timeout=5.0):
        self.sock.sendall(data)
        return self.recv_exact(len(data), timeout)

    def close(self):
        self.sock.close()


class H1(unittest.TestCase):
    def assert_switched(self, t):
        r = t.head
        self.assertEqual(r.raw_head.split(b"\r\n")[0], b"HTTP/1.1 101 Switching Protocols", r)
        self.assertEqual(r.tokens("connection"), ["upgrade"], r)
        self.assertEqual(r.header_all("upgrade"), ["echo"], r)
        self.assertEqual(r.header_all("x-tunnel"), ["accepted"], r)
        self.assertIsNone(r.header("content-length"), "a 101 has no body framing: %r" % r)
        self.assertIsNone(r.header("transfer-encoding"), "a 101 has no body framing: %r" % r)

    def test_upgrade_echo_and_1mib(self):
        """101 as promised; several writes echoed exactly; 1 MiB of random
        bytes written while reading (no deadlock) comes back with the same
        sha256; closing our side ends the tunnel cleanly."""
        cc = CloseCounter(self)
        t = H1Tunnel()
        try:
            self.assert_switched(t)
            for piece in (b"a", b"hello", b"\x00\r\n\r\n\xff", b"GET / HTTP/1.1\r\n\r\n",
                          os.urandom(70000)):
                self.assertEqual(t.echo(piece), piece)
            big = os.urandom(MIB)
            sender = Sender(t.sock, big)
            got = t.recv_exact(len(big), timeout=30.0)
            self.assertTrue(sender.join(), sender.errors)
            self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(big).hexdigest())
            t.sock.shutdown(socket.SHUT_WR)
            rest, how = t.recv_rest()
            self.assertEqual((rest, how), (b"", "eof"))
        finally:
            t.close()
        cc.expect(done=1)

    def test_backpressure_slow_reader_then_shut_wr(self):
        """8 MiB sent while the client reads nothing for a second (small
        receive buffer, max_queued_output = 64k): the module meets IR_EAGAIN,
        holds bytes, writes them from on_writable and consumes only then,
        which holds the client back; SHUT_WR after the last byte; every byte
        comes back in order, then EOF."""
        cc = CloseCounter(self)
        before = stats()["writable"]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.settimeout(H.scaled(5))
        sock.connect((H.HOST, SRV.port))
        t = H1Tunnel(sock=sock)
        payload = os.urandom(8 * MIB)
        try:
            self.assert_switched(t)
            sender = Sender(sock, payload, shut_wr=True)
            time.sleep(1.0)
            rest, how = t.recv_rest(timeout=30.0)
            self.assertTrue(sender.join(), sender.errors)
            self.assertEqual((len(rest), how), (len(payload), "eof"))
            self.assertEqual(hashlib.sha256(rest).hexdigest(), hashlib.sha256(payload).hexdigest())
        finally:
            t.close()
        self.assertGreater(stats()["writable"], before, "on_writable never wrote held bytes")
        cc.expect(done=1)

    def test_bytes_pipelined_behind_the_head(self):
        """Bytes sent in the same write as the request head belong to the
        tunnel and are echoed first."""
        cc = CloseCounter(self)
        early = b"early bytes \x00\x01 right behind the head"
        t = H1Tunnel(early=early)
        try:
            self.assert_switched(t)
            self.assertEqual(t.recv_exact(len(early)), early)
            self.assertEqual(t.echo(b"later"), b"later")
        finally:
            t.close()
        cc.expect(done=1)

    def test_survives_silence(self):
        """keepalive_timeout and header_timeout (1 s) do not apply to an
        upgraded stream: it still echoes after 2.5 s of silence."""
        cc = CloseCounter(self)
        t = H1Tunnel()
        try:
            self.assert_switched(t)
            self.assertEqual(t.echo(b"before"), b"before")
            time.sleep(SILENCE)
            self.assertEqual(t.echo(b"after the silence"), b"after the silence")
        finally:
            t.close()
        cc.expect(done=1)

    def test_shut_wr_ends_server_side(self):
        """shutdown(SHUT_WR) is on_body_end: the module echoes what it had,
        ends its side, and the client reads EOF right after the echo."""
        cc = CloseCounter(self)
        t = H1Tunnel()
        try:
            payload = os.urandom(300000)
            t.sock.sendall(payload)
            t.sock.shutdown(socket.SHUT_WR)
            rest, how = t.recv_rest(timeout=10.0)
            self.assertEqual(how, "eof")
            self.assertEqual(len(rest), len(payload))
            self.assertEqual(rest, payload)
        finally:
            t.close()
        cc.expect(done=1)

    def test_close_after(self):
        """?close_after=5: the server ends the tunnel after 5 echoed bytes."""
        cc = CloseCounter(self)
        t = H1Tunnel(target="/t?close_after=5")
        try:
            self.assert_switched(t)
            t.sock.sendall(b"0123456789")
            rest, how = t.recv_rest()
            self.assertEqual(rest, b"01234")
            self.assertIn(how, ("eof", "reset"))
        finally:
            t.close()
        cc.expect(done=1)

    def test_client_drops_connection(self):
        """A client that drops the TCP connection mid-tunnel: on_close once,
        ABORTED."""
        cc = CloseCounter(self)
        t = H1Tunnel()
        self.assertEqual(t.echo(b"still here"), b"still here")
        reset_close(t.sock)
        cc.expect(aborted=1)

    def test_route_without_the_flag_ignores_the_offer(self):
        """Upgrade: echo to /hello (hello lacks IR_MODULE_UPGRADES): the offer
        is ignored, the request served as a normal GET."""
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("GET", "/hello", [("Connection", "Upgrade"),
                                                        ("Upgrade", "echo")]))
            rd = H.HTTPReader(s, timeout=5.0)
            r = rd.read_response("GET")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body.decode(), GREETING + "\n")
            self.assertIsNone(r.header("upgrade"), r)
        finally:
            s.close()

    def test_no_upgrade_gets_426(self):
        """GET /t without an upgrade: 426 that names the protocol (RFC 9110
        15.5.22: the server MUST send Upgrade in a 426), with the `upgrade`
        connection option that goes with it (7.8); the module asks for it
        with ir_resp_header("upgrade", "echo")."""
        r = H.http_request(SRV.port, "GET", "/t")
        self.assertEqual(r.status, 426, r)
        st = stats()
        self.assertEqual(r.header("upgrade"), "echo",
                         "426 without `upgrade: echo`; the module's ir_resp_header(\"upgrade\") "
                         "returned %d; %r" % (st["upgrade_header_rc"], r))
        self.assertIn("upgrade", r.tokens("connection"),
                      "RFC 9110 7.8: Upgrade goes with the `upgrade` connection option: %r" % r)

    def test_http10_upgrade_is_ignored(self):
        """RFC 9110 7.8: a server MUST ignore Upgrade in an HTTP/1.0 request,
        so ir_req_upgrade() is empty and the module answers 426, no 101."""
        cc = CloseCounter(self)
        data, _how = H.raw_exchange_ex(SRV.port, H.build_request(
            "GET", "/t", [("Connection", "Upgrade"), ("Upgrade", "echo")], version="HTTP/1.0"),
            timeout=1.5)
        self.assertFalse(data.startswith(b"HTTP/1.1 101"), data[:300])
        rs = H.parse_responses(data)
        self.assertEqual([r.status for r in rs], [426], data[:300])
        cc.expect()  # no tunnel

    def test_other_protocol_gets_426_and_close(self):
        """Upgrade: websocket on /t is refused by the module (426); the host
        then closes the connection (what follows the head may already be in
        the protocol the client asked for)."""
        cc = CloseCounter(self)
        t = H1Tunnel(upgrade="websocket")
        try:
            self.assertEqual(t.head.status, 426, t.head)
            rest, how = t.recv_rest()
            self.assertIn(how, ("eof", "reset"), "connection left open after a refused upgrade")
        finally:
            t.close()
        cc.expect()  # no tunnel


# --------------------------------------------------------------------------
# HTTP/2 extended CONNECT with python3-h2


class H2Client(C.LibClient):
    """LibClient with tunnels: streams whose body is sent as it is given and
    ended only when asked (the base class ends a request when its body is
    out)."""

    def connect_tunnel(self, path="/t", protocol="echo"):
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", "CONNECT"), (":protocol", protocol), (":scheme",
                                                                 "https" if self.tls else "http"),
              (":path", path), (":authority", "127.0.0.1:%d" % self.port)]
        self.conn.send_headers(sid, hs, end_stream=False)
        st = self.streams[sid] = C.LibStream(sid)
        st.keep_open = True
        self.queue(self.conn.data_to_send())
        return sid

    def send(self, sid, data=b"", end=False):
        st = self.streams[sid]
        st.pending += data
        if end:
            st.keep_open = False
        self._send_bodies()
        self.queue(self.conn.data_to_send())

    def reset(self, sid):
        self.conn.reset_stream(sid)
        self.queue(self.conn.data_to_send())

    def server_settings(self):
        """{setting id: value} of the server's first SETTINGS frame."""
        for ev in self.events:
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                return {int(k): v.new_value for k, v in ev.changed_settings.items()}
        return None

    def wait_headers(self, sid, timeout=5.0):
        st = self.streams[sid]
        self.pump(lambda: st.headers is not None or st.reset is not None or st.ended
                  or self.error is not None or self.closed, timeout)
        return st

    def wait_data(self, sid, n, timeout=10.0):
        st = self.streams[sid]
        self.pump(lambda: len(st.data) >= n or st.reset is not None or st.ended
                  or self.error is not None, timeout)
        return st

    def echo(self, sid, data, timeout=10.0):
        st = self.streams[sid]
        start = len(st.data)
        self.send(sid, data)
        self.wait_data(sid, start + len(data), timeout)
        return bytes(st.data[start:start + len(data)])

    def describe(self, sid):
        return "%r error=%r terminated=%r closed=%s" % (self.streams[sid], self.error,
                                                        self.terminated, self.closed)


class H2(unittest.TestCase):
    def client(self, port=None, tls=False):
        c = H2Client(port or SRV.port, tls=tls)
        self.addCleanup(c.close)
        self.assertTrue(c.wait_settings(), "no SETTINGS from the server")
        self.assertIsNone(c.error)
        return c

    def open_tunnel(self, c, path="/t"):
        sid = c.connect_tunnel(path)
        st = c.wait_headers(sid)
        self.assertEqual(st.status, 200, c.describe(sid))
        self.assertEqual(st.header("x-tunnel"), "accepted", c.describe(sid))
        self.assertFalse(st.ended, c.describe(sid))
        return sid

    def test_settings_advertise_connect_protocol(self):
        c = self.client()
        s = c.server_settings()
        self.assertEqual(s.get(ENABLE_CONNECT_PROTOCOL), 1,
                         "SETTINGS_ENABLE_CONNECT_PROTOCOL in the server's SETTINGS %r" % s)

    def test_connect_echo_1mib_and_end_stream(self):
        """CONNECT :protocol echo -> 200 + x-tunnel; 1 MiB of random bytes
        echoed exactly under flow control (the client acknowledges what it
        reads); END_STREAM from the client -> the server ends the stream."""
        cc = CloseCounter(self)
        c = self.client()
        sid = self.open_tunnel(c)
        self.assertEqual(c.echo(sid, b"hello"), b"hello")
        big = os.urandom(MIB)
        st = c.streams[sid]
        start = len(st.data)
        c.send(sid, big)
        c.wait_data(sid, start + len(big), timeout=30.0)
        got = bytes(st.data[start:])
        self.assertEqual(len(got), len(big), c.describe(sid))
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(big).hexdigest())
        c.send(sid, b"last words", end=True)
        c.pump(lambda: st.ended or st.reset is not None or c.error is not None, 5.0)
        self.assertTrue(st.ended, "server did not end its side: " + c.describe(sid))
        self.assertIsNone(st.reset, c.describe(sid))
        self.assertEqual(bytes(st.data[start + len(big):]), b"last words")
        cc.expect(done=1)

    def test_survives_silence_and_other_streams_work(self):
        """2.5 s of silence with keepalive_timeout = h2_stream_idle_timeout =
        1 s: no RST_STREAM for the tunnel (the stalled-stream reset skips
        upgraded streams); GET /hello on the same connection meanwhile."""
        cc = CloseCounter(self)
        c = self.client()
        sid = self.open_tunnel(c)
        self.assertEqual(c.echo(sid, b"before"), b"before")
        hello = c.request("GET", "/hello")
        c.wait([hello])
        self.assertEqual(c.streams[hello].status, 200, c.describe(hello))
        self.assertEqual(bytes(c.streams[hello].data).decode(), GREETING + "\n")
        c.pump(lambda: c.closed or c.error is not None or c.streams[sid].reset is not None,
               SILENCE / H.time_scale())  # real seconds, not scaled
        st = c.streams[sid]
        self.assertIsNone(st.reset, "tunnel reset while silent: " + c.describe(sid))
        self.assertIsNone(c.terminated, c.describe(sid))
        self.assertFalse(c.closed, c.describe(sid))
        self.assertEqual(c.echo(sid, b"after the silence"), b"after the silence",
                         c.describe(sid))
        hello2 = c.request("GET", "/hello")
        c.wait([hello2])
        self.assertEqual(c.streams[hello2].status, 200, c.describe(hello2))
        c.send(sid, end=True)
        c.pump(lambda: st.ended or st.reset is not None, 5.0)
        self.assertTrue(st.ended, c.describe(sid))
        cc.expect(done=1)

    def test_two_tunnels_interleaved(self):
        """Two tunnels on one connection keep their bytes apart."""
        cc = CloseCounter(self)
        c = self.client()
        a, b = self.open_tunnel(c), self.open_tunnel(c)
        pa, pb = os.urandom(100000), os.urandom(100000)
        c.send(a, pa)
        c.send(b, pb)
        c.pump(lambda: len(c.streams[a].data) >= len(pa) and len(c.streams[b].data) >= len(pb),
               15.0)
        self.assertEqual(bytes(c.streams[a].data), pa, c.describe(a))
        self.assertEqual(bytes(c.streams[b].data), pb, c.describe(b))
        for sid in (a, b):
            c.send(sid, end=True)
        c.wait([a, b])
        self.assertTrue(c.streams[a].ended and c.streams[b].ended, c.describe(a) + c.describe(b))
        cc.expect(done=2)

    def test_close_after(self):
        """?close_after=5: the server ends the stream after 5 echoed bytes."""
        cc = CloseCounter(self)
        c = self.client()
        sid = self.open_tunnel(c, "/t?close_after=5")
        c.send(sid, b"0123456789")
        st = c.streams[sid]
        c.pump(lambda: st.ended or st.reset is not None, 5.0)
        self.assertTrue(st.ended, c.describe(sid))
        self.assertEqual(bytes(st.data), b"01234")
        # The tunnel's far end is gone, so the client's further bytes have
        # nowhere to go: the server asks it to stop at once (RFC 9113 §8.1,
        # RST_STREAM NO_ERROR after a complete response) instead of reading
        # on for h2_discard_timeout, and the module hears on_close(DONE) now.
        c.pump(lambda: st.reset is not None, H.scaled(1.0))
        self.assertEqual(st.reset, 0, "RST_STREAM NO_ERROR after the tunnel ended; "
                         + c.describe(sid))
        cc.expect(done=1, timeout=1.0)

    def test_backpressure_slow_reader(self):
        """The client stops reading for 1.5 s with 2 MiB in flight (its
        window 64 KiB): the module holds bytes (IR_EAGAIN), the server's
        window closes on the client (consumption follows writes), nothing is
        reset, and every byte arrives once the client reads again."""
        cc = CloseCounter(self)
        before = stats()["writable"]
        c = self.client()
        sid = self.open_tunnel(c)
        payload = os.urandom(2 * MIB)
        c.send(sid, payload)
        c.pump(lambda: False, 0.3)  # some goes out and comes back
        time.sleep(1.5)             # not reading: the window and the queues fill
        st = c.streams[sid]
        c.wait_data(sid, len(payload), timeout=30.0)
        self.assertIsNone(st.reset, c.describe(sid))
        self.assertEqual(len(st.data), len(payload), c.describe(sid))
        self.assertEqual(hashlib.sha256(bytes(st.data)).hexdigest(),
                         hashlib.sha256(payload).hexdigest())
        c.send(sid, end=True)
        c.pump(lambda: st.ended or st.reset is not None, 5.0)
        self.assertTrue(st.ended, c.describe(sid))
        self.assertGreater(stats()["writable"], before, "on_writable never wrote held bytes")
        cc.expect(done=1)

    def test_no_upgrade_gets_426_without_upgrade_field(self):
        """GET /t over HTTP/2: 426, and no `upgrade` field, which is
        connection-specific and malformed in HTTP/2 (RFC 9113 8.2.2)."""
        c = self.client()
        st = c.fetch("GET", "/t")
        self.assertEqual(st.status, 426, repr(st))
        self.assertIsNone(st.header("upgrade"), repr(st.headers))
        self.assertIsNone(c.error)

    def test_extended_connect_to_route_without_flag_is_501(self):
        c = self.client()
        sid = c.connect_tunnel("/hello")
        st = c.wait_headers(sid)
        self.assertEqual(st.status, 501, c.describe(sid))

    def test_client_drops_connection(self):
        """A client that drops the TCP connection mid-tunnel: ABORTED, once."""
        cc = CloseCounter(self)
        c = self.client()
        sid = self.open_tunnel(c)
        self.assertEqual(c.echo(sid, b"still here"), b"still here")
        reset_close(c.sock)
        cc.expect(aborted=1)

    def test_client_resets_stream(self):
        """RST_STREAM from the client: ABORTED, once; the connection goes on."""
        cc = CloseCounter(self)
        c = self.client()
        sid = self.open_tunnel(c)
        self.assertEqual(c.echo(sid, b"x" * 1000), b"x" * 1000)
        c.reset(sid)
        c.flush()
        cc.expect(aborted=1)
        st = c.fetch("GET", "/hello")
        self.assertEqual(st.status, 200, repr(st))


def hello_only_server(**server):
    """A server whose only module (hello) lacks IR_MODULE_UPGRADES."""
    return C.H2Server(server=server, module_paths={"hello": os.path.abspath(HELLO_SO)},
                      protocols="http/1.1, h2c")


class NoUpgradeModules(unittest.TestCase):
    def test_settings_without_connect_protocol(self):
        """A server whose only module lacks IR_MODULE_UPGRADES does not
        advertise SETTINGS_ENABLE_CONNECT_PROTOCOL."""
        with hello_only_server() as srv:
            with H2Client(srv.port) as c:
                self.assertTrue(c.wait_settings())
                s = c.server_settings()
                self.assertIsNotNone(s)
                self.assertEqual(s.get(ENABLE_CONNECT_PROTOCOL, 0), 0, "server SETTINGS %r" % s)
                st = c.fetch("GET", "/hello")
                self.assertEqual(st.status, 200, repr(st))
                # An extended CONNECT anyway: refused (not advertised, RFC 8441 3).
                sid = c.connect_tunnel("/hello")
                st = c.wait_headers(sid)
                self.assertTrue(st.reset is not None or (st.status or 0) >= 400, c.describe(sid))

    def test_ignored_offer_then_next_request(self):
        """Upgrade: echo on a keep-alive GET /hello (offer ignored, 200 without
        Connection: close), then a second GET on the same connection: it is
        answered too."""
        with hello_only_server() as srv:
            s = H.connect(srv.port)
            try:
                s.sendall(H.build_request("GET", "/hello", [("Connection", "Upgrade"),
                                                            ("Upgrade", "echo")]))
                rd = H.HTTPReader(s, timeout=5.0)
                r = rd.read_response("GET")
                self.assertEqual(r.status, 200, r)
                if "close" in r.tokens("connection"):
                    self.skipTest("the host closes after an ignored offer (allowed)")
                s.sendall(H.build_request("GET", "/hello"))
                try:
                    r2 = rd.read_response("GET", timeout=3.0)
                except Exception as e:  # noqa: BLE001 - reported below
                    self.fail("second GET /hello after a keep-alive 200 to an ignored Upgrade "
                              "offer: %s: %s%s" % (type(e).__name__, e, srv.diagnostics()))
                self.assertEqual(r2.status, 200, r2)
            finally:
                s.close()

    def test_ignored_offer_with_pipelined_request(self):
        """The same with both requests in one write: both answered."""
        with hello_only_server() as srv:
            offer = H.build_request("GET", "/hello", [("Connection", "Upgrade"),
                                                      ("Upgrade", "echo")])
            data, how = H.raw_exchange_ex(srv.port, offer + H.build_request(
                "GET", "/hello", [("Connection", "close")]), timeout=3.0)
            rs = H.parse_responses(data)
            self.assertEqual([r.status for r in rs], [200, 200],
                             "responses %r (connection ended: %s)%s" % (rs, how, srv.diagnostics()))


class Shutdown(unittest.TestCase):
    def test_sigterm_with_open_tunnels(self):
        """SIGTERM with an HTTP/1.1 and an HTTP/2 tunnel open (shutdown_timeout
        = 1s): the HTTP/2 client gets GOAWAY, both connections are closed at
        shutdown_timeout, each tunnel hears on_close(SHUTDOWN) once (the
        module logs it), and the server exits 0."""
        srv = C.H2Server(server={"workers": 2, "shutdown_timeout": "1s"}, modules=["tunnel"],
                         module_paths={"tunnel": os.path.abspath(TUNNEL_SO)},
                         routes=[("/t", {"module": "tunnel"})])
        srv.expect_prompt_stop = False  # the tunnels are open on purpose
        with srv:
            t = H1Tunnel(port=srv.port)
            c = H2Client(srv.port)
            try:
                self.assertEqual(t.echo(b"h1"), b"h1")
                self.assertTrue(c.wait_settings())
                sid = c.connect_tunnel()
                self.assertEqual(c.wait_headers(sid).status, 200, c.describe(sid))
                self.assertEqual(c.echo(sid, b"h2"), b"h2")
                t0 = srv.signal()
                rest, how = t.recv_rest(timeout=5.0)
                self.assertEqual((rest, how), (b"", "eof"))
                self.assertEqual(c.wait_closed(), "eof")
                self.assertIsNotNone(c.terminated, "no GOAWAY: " + c.describe(sid))
                self.assertEqual(srv.wait_exit(H.scaled(5.0)), 0)
                self.assertLess(time.monotonic() - t0, 1.0 + H.scaled(2.0))
            finally:
                t.close()
                c.close()
            closes = re.findall(r"module=tunnel: tunnel closed: (\w+)", srv.error_log_text())
            self.assertEqual(closes, ["shutdown", "shutdown"], srv.error_log_text())


# --------------------------------------------------------------------------
# TLS


class HandlerTimeoutExempt(unittest.TestCase):
    """handler_timeout (1 s on the route) cuts a request that owes its head
    (/t/hang: 504), but never an upgrade request: a 101 that the module sends
    only 2.5 s later (?accept_after=2500) goes out, and the tunnel then echoes
    before and after 2.5 s of silence, over HTTP/1.1 and HTTP/2. The other
    handler_timeout tests are in test_features.py (HandlerTimeout)."""

    LATE_MS = 2500

    @classmethod
    def setUpClass(cls):
        cls.srv = C.H2Server(server={"workers": 1},
                             modules=["tunnel"],
                             module_paths={"tunnel": os.path.abspath(TUNNEL_SO)},
                             routes=[("/t", {"module": "tunnel", "handler_timeout": "1s"})],
                             protocols="http/1.1, h2c")
        cls.srv.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def test_a_request_that_owes_its_head_is_cut(self):
        t0 = time.monotonic()
        r = H.http_request(self.srv.port, "GET", "/t/hang")
        self.assertEqual(r.status, 504, r)
        self.assertLess(time.monotonic() - t0, H.scaled(2.5))

    def test_h1_upgrade_exempt(self):
        mark = self.srv.log_mark()
        t0 = time.monotonic()
        t = H1Tunnel(port=self.srv.port, target="/t?accept_after=%d" % self.LATE_MS)
        try:
            el = time.monotonic() - t0
            self.assertEqual(t.head.status, 101, "%r after %.2fs" % (t.head, el))
            self.assertGreaterEqual(el, self.LATE_MS / 1000 - 0.1, "101 after %.2fs" % el)
            self.assertEqual(t.echo(b"late accept"), b"late accept")
            time.sleep(SILENCE)
            self.assertEqual(t.echo(b"after the silence"), b"after the silence")
        finally:
            t.close()
        self.assertNotIn("handler_timeout", self.srv.log_since(mark))

    def h2_late_tunnel(self, end_first=False):
        """An extended CONNECT whose answer comes LATE_MS later (END_STREAM
        sent first if end_first): checks it is 200, not 504; (client, sid)."""
        c = H2Client(self.srv.port)
        self.addCleanup(c.close)
        self.assertTrue(c.wait_settings(), "no SETTINGS from the server")
        t0 = time.monotonic()
        sid = c.connect_tunnel("/t?accept_after=%d" % self.LATE_MS)
        if end_first:
            c.send(sid, end=True)
        st = c.wait_headers(sid, timeout=self.LATE_MS / 1000 + 3)
        el = time.monotonic() - t0
        self.assertEqual(st.status, 200, "%s after %.2fs" % (c.describe(sid), el))
        self.assertGreaterEqual(el, self.LATE_MS / 1000 - 0.1, "accepted after %.2fs" % el)
        return c, sid

    def test_h2_upgrade_exempt(self):
        c, sid = self.h2_late_tunnel()
        st = c.streams[sid]
        self.assertEqual(st.header("x-tunnel"), "accepted", c.describe(sid))
        self.assertEqual(c.echo(sid, b"late accept"), b"late accept", c.describe(sid))
        c.pump(lambda: c.closed or c.error is not None or st.reset is not None,
               SILENCE / H.time_scale())  # real seconds, not scaled
        self.assertIsNone(st.reset, "tunnel reset while silent: " + c.describe(sid))
        self.assertEqual(c.echo(sid, b"after the silence"), b"after the silence",
                         c.describe(sid))
        c.send(sid, end=True)
        c.pump(lambda: st.ended or st.reset is not None, 5.0)
        self.assertTrue(st.ended, c.describe(sid))

    def test_h2_upgrade_half_closed_early_exempt(self):
        # END_STREAM before the answer: the request has ended, which arms
        # handler_timeout for any other request, yet an upgrade owes no head.
        # (On HTTP/1.1 the same half-close before a response is the client
        # leaving: the connection closes.)
        self.h2_late_tunnel(end_first=True)


class TLS(unittest.TestCase):
    def test_h1_over_tls(self):
        cc = CloseCounter(self)
        raw = H.connect(SRV.ports[0])
        sock = C.client_tls_context(("http/1.1",)).wrap_socket(raw, server_hostname="localhost")
        self.assertEqual(sock.selected_alpn_protocol(), "http/1.1")
        t = H1Tunnel(sock=sock)
        try:
            self.assertEqual(t.head.status, 101, t.head)
            self.assertEqual(t.head.header("x-tunnel"), "accepted")
            payload = os.urandom(50000)
            self.assertEqual(t.echo(payload), payload)
        finally:
            t.close()
        cc.expect(done=1)

    def test_h2_over_tls(self):
        cc = CloseCounter(self)
        c = H2Client(SRV.ports[0], tls=True)
        self.addCleanup(c.close)
        self.assertEqual(c.alpn, "h2")
        self.assertTrue(c.wait_settings())
        sid = c.connect_tunnel()
        st = c.wait_headers(sid)
        self.assertEqual(st.status, 200, c.describe(sid))
        payload = os.urandom(50000)
        self.assertEqual(c.echo(sid, payload), payload, c.describe(sid))
        c.send(sid, end=True)
        c.pump(lambda: st.ended or st.reset is not None, 5.0)
        self.assertTrue(st.ended, c.describe(sid))
        cc.expect(done=1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
