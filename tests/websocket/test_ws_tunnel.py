#!/usr/bin/python3
"""test_ws_tunnel.py — mod_websocket's tunnel mode (websockify-like): each
session bridges binary messages to a TCP backend, here a Python echo server
on 127.0.0.1 run as its own process (so it can be killed for real).

Checked, against one server (2 workers, http/1.1 + h2c):
  - binary messages of 1 B .. 1 MiB come back byte for byte, over HTTP/1.1
    (python3-websockets, permessage-deflate offered) and over HTTP/2 (RFC
    8441 extended CONNECT with python3-h2, frames written by hand); the
    backend's bytes arrive as binary messages, however TCP cut them;
  - a text message is answered with close 1003 (both protocols);
  - the backend killed (SIGKILL) mid-session: every open session, h1 and h2,
    gets close 1011 and the server ends the stream;
  - a backend that is down before the handshake: 502 with a text/plain
    reason and no upgrade, on HTTP/1.1 (the connection stays usable) and
    HTTP/2;
  - nothing leaks: the server's and the backend's fd counts come back to
    their baselines after 40 sessions (sequential and concurrent); the
    metrics count the closes by code.
Every wait is bounded; only 127.0.0.1 is used.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import wsrooms_wire as W  # noqa: E402
from wsrooms_wire import H  # noqa: E402

import websockets  # noqa: E402

MIB = 1 << 20
SIZES = (1, 2, 125, 126, 127, 65535, 65536, 65537, 300000, MIB)

BACKEND_SCRIPT = r"""
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(128)
print("ready", flush=True)
def serve(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    finally:
        c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


class Backend:
    """The TCP echo backend, a child process on a fixed port."""

    def __init__(self, port):
        self.port = port
        self.proc = None

    def start(self):
        for _ in range(50):
            self.proc = subprocess.Popen([sys.executable, "-c", BACKEND_SCRIPT, str(self.port)],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            line = self.proc.stdout.readline()
            if line.strip() == b"ready":
                return self
            self.proc.wait(5)
            time.sleep(0.1)  # the port is still held by the killed one
        raise RuntimeError("the echo backend did not start on port %d" % self.port)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def num_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))


SRV = None
BACKEND = None


def setUpModule():
    global SRV, BACKEND
    W.check_websocket_module()
    BACKEND = Backend(H.free_port()).start()
    down = H.free_port()  # nothing listens there
    tunnel = {"module": "websocket", "mode": "tunnel", "max_message_size": "2m",
              "max_frame_size": "2m"}
    SRV = W.C.H2Server(
        server={"workers": 2},
        modules=["websocket"],
        routes=[("/ws/t", dict(tunnel, backend="127.0.0.1:%d" % BACKEND.port)),
                ("/ws/down", dict(tunnel, backend="127.0.0.1:%d" % down)),
                ("/ws/metrics", {"module": "websocket", "mode": "metrics"})],
        protocols="http/1.1, h2c")
    SRV.__enter__()


def tearDownModule():
    try:
        if SRV is not None:
            SRV.__exit__(None, None, None)
    finally:
        if BACKEND is not None:
            BACKEND.kill()


def metrics():
    return W.fetch_metrics(SRV.port, "/ws/metrics")


def uri(path="/ws/t"):
    return "ws://127.0.0.1:%d%s" % (SRV.port, path)


async def lib_roundtrip(ws, data, timeout=20.0):
    """Sends data as one binary message; returns what came back once as many
    bytes arrived (the backend's TCP reads decide how many messages)."""
    await ws.send(data)
    got = bytearray()
    types = set()
    deadline = time.monotonic() + H.scaled(timeout)
    while len(got) < len(data):
        m = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
        types.add(type(m))
        got += m if isinstance(m, bytes) else m.encode()
    return bytes(got), types


def h2_client(tc):
    c = W.H2WS(SRV.port, window=4 * MIB)
    tc.addCleanup(c.close)
    tc.assertTrue(c.wait_settings(), "no SETTINGS from the server")
    return c


def h2_open(tc, c, path="/ws/t"):
    sid = c.connect_ws(path)
    st = c.wait_headers(sid)
    tc.assertEqual(st.status, 200, c.describe(sid))
    return sid


def h2_roundtrip(tc, c, sid, data, timeout=20.0):
    c.send_frame(sid, W.OP_BINARY, data)
    got = bytearray()
    deadline = time.monotonic() + H.scaled(timeout)
    while len(got) < len(data) and time.monotonic() < deadline:
        m = c.recv(sid, timeout=max(0.1, deadline - time.monotonic()) / H.time_scale())
        if m is None:
            break
        tc.assertEqual(m[0], W.OP_BINARY, "a %d frame in a tunnel: %r" % (m[0], m[1][:60]))
        got += m[1]
    tc.assertEqual(c.streams[sid].ws.bad, [], "frames from the server")
    return bytes(got)


class Tunnel(unittest.TestCase):
    def test_h1_binary_roundtrips(self):
        async def run():
            async with websockets.connect(uri(), max_size=None, open_timeout=H.scaled(10),
                                          close_timeout=H.scaled(5)) as ws:
                self.assertEqual([e.name for e in ws.extensions], ["permessage-deflate"])
                for n in SIZES:
                    data = os.urandom(n)
                    got, types = await lib_roundtrip(ws, data)
                    self.assertEqual(types, {bytes}, "message types from a tunnel")
                    self.assertEqual(len(got), n)
                    self.assertTrue(got == data, "%d random bytes came back different" % n)
                # compressible, and many small ones back to back
                got, _ = await lib_roundtrip(ws, b"A" * MIB)
                self.assertTrue(got == b"A" * MIB)
                for i in range(200):
                    await ws.send(b"%05d" % i)
                want = b"".join(b"%05d" % i for i in range(200))
                got = bytearray()
                while len(got) < len(want):
                    got += await asyncio.wait_for(ws.recv(), H.scaled(10))
                self.assertEqual(bytes(got), want, "200 small messages, in order")
                await ws.close()
                self.assertEqual(ws.close_code, 1000)
        asyncio.run(run())

    def test_h2_binary_roundtrips(self):
        c = h2_client(self)
        sid = h2_open(self, c)
        for n in SIZES:
            data = os.urandom(n)
            got = h2_roundtrip(self, c, sid, data)
            self.assertEqual(len(got), n, c.describe(sid))
            self.assertTrue(got == data, "%d random bytes came back different" % n)
        # a second tunnel on the same connection, interleaved with the first
        sid2 = h2_open(self, c)
        a, b = os.urandom(70000), os.urandom(70000)
        c.send_frame(sid, W.OP_BINARY, a)
        self.assertEqual(h2_roundtrip(self, c, sid2, b), b)
        got = bytearray()
        while len(got) < len(a):
            m = c.recv(sid, timeout=10)
            self.assertIsNotNone(m, c.describe(sid))
            got += m[1]
        self.assertEqual(bytes(got), a)
        for s in (sid, sid2):
            c.send_frame(s, W.OP_CLOSE, W.close_payload(1000))
            code, _, _ = c.recv_close(s)
            self.assertEqual(code, 1000, c.describe(s))
            self.assertTrue(c.wait_end(s), "stream %d not ended after the close handshake: %s"
                            % (s, c.describe(s)))

    def test_text_message_closes_1003(self):
        before = metrics()

        async def run():
            async with websockets.connect(uri(), open_timeout=H.scaled(10),
                                          close_timeout=H.scaled(5)) as ws:
                got, _ = await lib_roundtrip(ws, b"first binary")
                self.assertEqual(got, b"first binary")
                await ws.send("a text message")
                with self.assertRaises(websockets.exceptions.ConnectionClosed) as cm:
                    for _ in range(10):
                        await asyncio.wait_for(ws.recv(), H.scaled(10))
                self.assertIsNotNone(cm.exception.rcvd, "no close frame from the server")
                self.assertEqual(cm.exception.rcvd.code, 1003)
        asyncio.run(run())

        c = h2_client(self)
        sid = h2_open(self, c)
        self.assertEqual(h2_roundtrip(self, c, sid, b"xyz"), b"xyz")
        c.send_frame(sid, W.OP_TEXT, "text")
        code, _, _ = c.recv_close(sid)
        self.assertEqual(code, 1003, c.describe(sid))
        c.send_frame(sid, W.OP_CLOSE, W.close_payload(1003))
        self.assertTrue(c.wait_end(sid), c.describe(sid))
        after = wait_metrics(before, "websocket_closes_total", 2, code="1003")
        self.assertEqual(delta(before, after, "websocket_closes_total", code="1003"), 2)

    def test_backend_down_502_h1(self):
        s = H.connect(SRV.port)
        self.addCleanup(s.close)
        req, _ = W.h1_upgrade_request("/ws/down", SRV.port)
        s.sendall(req)
        rd = H.HTTPReader(s)
        r = rd.read_response()
        self.assertEqual(r.status, 502, r)
        self.assertTrue((r.header("content-type") or "").startswith("text/plain"), r)
        self.assertTrue(r.body.strip() and b"\n" not in r.body.strip(),
                        "a one-line reason: %r" % r.body)
        self.assertIsNone(r.header("sec-websocket-accept"), r)
        self.assertEqual(W.next_request_status(s, rd, "/ws/metrics"), 200,
                         "the next request on the HTTP/1.1 connection after the 502 (answered "
                         "with connection: %s): a refused handshake leaves it usable"
                         % r.header("connection"))

    def test_backend_down_502_h2(self):
        c = h2_client(self)
        sid = c.connect_ws("/ws/down")
        st = c.wait_headers(sid)
        self.assertEqual(st.status, 502, c.describe(sid))
        self.assertTrue(c.wait_end(sid), c.describe(sid))
        ok = c.fetch("GET", "/ws/metrics")
        self.assertEqual(ok.status, 200, "the h2 connection after a 502: %r" % ok)

    def test_no_fd_leak(self):
        self.settle()
        srv0, be0 = SRV.num_fds(), BACKEND.num_fds()

        async def one(i):
            async with websockets.connect(uri(), open_timeout=H.scaled(10),
                                          close_timeout=H.scaled(5),
                                          compression=None if i % 2 else "deflate") as ws:
                data = os.urandom(1000 + i)
                got, _ = await lib_roundtrip(ws, data)
                self.assertEqual(got, data)

        async def run():
            for i in range(10):
                await one(i)
            await asyncio.gather(*[one(i) for i in range(20)])
            # and some that just go away without a close handshake
            for _ in range(5):
                r, w = await asyncio.open_connection(H.HOST, SRV.port)
                req, _ = W.h1_upgrade_request("/ws/t", SRV.port)
                w.write(req)
                await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), H.scaled(10))
                w.transport.abort()
        asyncio.run(run())
        for _ in range(5):
            c = W.H2WS(SRV.port)
            sid = h2_open(self, c)
            self.assertEqual(h2_roundtrip(self, c, sid, b"h2"), b"h2")
            c.close()
        ok = H.wait_for(lambda: SRV.num_fds() <= srv0 and BACKEND.num_fds() <= be0,
                        H.scaled(10), 0.1)
        self.assertTrue(ok, "fds after 40 tunnels: server %d (was %d), backend %d (was %d)"
                        % (SRV.num_fds(), srv0, BACKEND.num_fds(), be0))

    def settle(self):
        """Waits until no session is open (earlier tests' ends are done)."""
        H.wait_for(lambda: W.metric(metrics(), "websocket_sessions_open") == 0, H.scaled(10), 0.1)

    def test_z_backend_killed_mid_session_1011(self):
        """(Last: it restarts the shared backend.)"""
        global BACKEND
        before = metrics()
        h1 = W.H1WS(SRV.port, "/ws/t")
        self.addCleanup(h1.close)
        h1.send(W.OP_BINARY, b"ping?")
        self.assertEqual(h1.recv(), (W.OP_BINARY, b"ping?"))
        c = h2_client(self)
        sid = h2_open(self, c)
        self.assertEqual(h2_roundtrip(self, c, sid, b"h2 ping?"), b"h2 ping?")

        BACKEND.kill()
        try:
            code, _, before_close = h1.recv_close(timeout=10)
            self.assertEqual(code, 1011, "h1 close after the backend died; then %s (msgs %r)"
                             % (h1.closed, before_close[:3]))
            code2, _, _ = c.recv_close(sid)
            self.assertEqual(code2, 1011, c.describe(sid))
            h1.send(W.OP_CLOSE, W.close_payload(1011))
            self.assertIn(h1.wait_eof(), ("eof", "reset"))
            c.send_frame(sid, W.OP_CLOSE, W.close_payload(1011))
            self.assertTrue(c.wait_end(sid), c.describe(sid))
            after = wait_metrics(before, "websocket_closes_total", 2, code="1011")
            self.assertEqual(delta(before, after, "websocket_closes_total", code="1011"), 2)
            # With the backend gone for good: the next handshake is a 502.
            r = H.http_request(SRV.port, "GET", "/ws/t", headers=[
                ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", W.new_key()), ("Sec-WebSocket-Version", "13")])
            self.assertEqual(r.status, 502, r)
        finally:
            BACKEND = Backend(BACKEND.port).start()
        # and with it back, tunnels work again
        w = W.H1WS(SRV.port, "/ws/t")
        self.addCleanup(w.close)
        w.send(W.OP_BINARY, b"again")
        self.assertEqual(w.recv(), (W.OP_BINARY, b"again"))


def delta(before, after, name, **labels):
    return W.metric(after, name, **labels) - W.metric(before, name, **labels)


def wait_metrics(before, name, want, timeout=5.0, **labels):
    last = [before]

    def check():
        last[0] = metrics()
        return delta(before, last[0], name, **labels) >= want

    H.wait_for(check, H.scaled(timeout), 0.1)
    return last[0]


if __name__ == "__main__":
    unittest.main(verbosity=2)
