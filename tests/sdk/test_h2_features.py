#!/usr/bin/python3
"""HTTP/2 against tests/sdk/features_module.c: the same module, unchanged,
served over HTTP/2 — response trailers as a trailing HEADERS frame, a 1 GiB
download (/f/big?mb=1024) through a 64 KiB client window with the server's
RSS bounded and every byte checked, a client that stops reading (bounded
memory, closed after write_timeout), a stream starved of window reset after
h2_stream_idle_timeout, a failing handler answered 500 (and a module reset
after the head as RST_STREAM) on that stream only, a client RST_STREAM seen by
the module as an abort, and the request accessors over HTTP/2.

Environment: IRIDIUM_BIN (the host) and IRIDIUM_FEATURES_MODULE (the built
features.so); both default to the lead's build/ tree.
"""

import hashlib
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

FEATURES_SO = os.environ.get("IRIDIUM_FEATURES_MODULE") or os.path.join(
    H.REPO, "build", "tests", "sdk", "modules", "features.so")
MIB = 1 << 20
PATTERN = bytes(((i * 31 + 7) & 0xFF) for i in range(256))
MD5_ABC = "900150983cd24fb0d6963f7d28e17f72"
FNV_OFFSET, FNV_PRIME = 14695981039346656037, 1099511628211
IR_EINVAL = -1
# 1 GiB on every build (ASan does not slow this I/O-bound path much).
BIG_MB = 1024
TCP_CLOSE_WAIT, TCP_CLOSE = 8, 7


def check_environment():
    problems = []
    if not os.access(H.IRIDIUM_BIN, os.X_OK):
        problems.append("IRIDIUM_BIN=%s is not an executable file" % H.IRIDIUM_BIN)
    if not os.path.isfile(FEATURES_SO):
        problems.append("IRIDIUM_FEATURES_MODULE=%s does not exist" % FEATURES_SO)
    for p in problems:
        print("sdk_h2_features setup: " + p, file=sys.stderr)
    if problems:
        sys.exit(1)


def features_server(tls_listener=False, env=None, **server):
    settings = {"workers": 2, "modules_dir": os.path.dirname(os.path.abspath(FEATURES_SO))}
    settings.update(server)
    route = {"module": "features", "label": "feat-h2", "write_size": "32k", "tick": "10ms"}
    return C.H2Server(server=settings, modules=["features"], routes=[("/f", route)],
                      module_paths={"features": os.path.abspath(FEATURES_SO)},
                      listeners=[{"tls": True, "protocols": "h2, http/1.1"}] if tls_listener
                      else [], env=env)


def small_asan_quarantine():
    """Under ASan freed memory sits in a quarantine (256 MiB by default) and
    counts in RSS; a small one lets RSS show what the server really holds."""
    if not H.is_sanitized():
        return None
    opts = os.environ.get("ASAN_OPTIONS", "")
    return {"ASAN_OPTIONS": (opts + ":" if opts else "") +
            "quarantine_size_mb=4:thread_local_quarantine_size_kb=64"}


def pattern_sha256(n):
    h = hashlib.sha256()
    block = PATTERN * 4096
    while n >= len(block):
        h.update(block)
        n -= len(block)
    h.update(block[:n])
    return h.hexdigest()


def fields(text):
    out = {}
    for tok in text.split():
        k, sep, v = tok.partition("=")
        if sep:
            out[k] = v
    return out


def fnv1a(data, h=FNV_OFFSET):
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


class RssSampler:
    """Samples the server's VmRSS every 0.1 s in a thread."""

    def __init__(self, srv):
        self.srv = srv
        self.samples = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            try:
                self.samples.append(self.srv.rss_kib())
            except (OSError, RuntimeError):
                return
            self.stop.wait(0.1)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.t.join(5)
        return False

    @property
    def peak(self):
        return max(self.samples) if self.samples else 0


def tcp_state(sock):
    return struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[:1])[0]


# --------------------------------------------------------------------------


class Streams(unittest.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = features_server(tls_listener=True)
        cls.srv.__enter__()

    @classmethod
    def tearDownClass(cls):
        if cls.srv is not None:
            cls.srv.__exit__(None, None, None)

    def tearDown(self):
        self.assertTrue(self.srv.alive(), "server died" + self.srv.diagnostics())

    def stats(self, c):
        st = c.fetch("GET", "/f/stats")
        self.assertEqual(st.status, 200, st)
        return {k: int(v) for k, v in fields(bytes(st.data).decode()).items()}

    def test_response_trailers_lib(self):
        for tls in (False, True):
            port = self.srv.ports[0] if tls else self.srv.port
            with C.LibClient(port, tls=tls) as c:
                st = c.fetch("GET", "/f/trailers")
                self.assertIsNone(c.error, "python-h2 refused the response (a connection-"
                                  "specific header such as transfer-encoding?): %r" % c.error)
                self.assertEqual(st.status, 200, st)
                self.assertTrue(st.ended, st)
                self.assertEqual(bytes(st.data), b"abc")
                self.assertIsNone(st.header("transfer-encoding"))
                self.assertEqual(st.trailers, [("x-checksum", MD5_ABC), ("x-count", "3")],
                                 "TrailersReceived (tls=%s): %r" % (tls, st.trailers))
                ev = [e for e in c.events if type(e).__name__ == "TrailersReceived"]
                self.assertEqual(len(ev), 1, c.events)

    def test_header_ref_over_h2(self):
        # ir_resp_header_ref's fields reach an HTTP/2 client intact: nghttp2
        # reads them (without a copy) before on_close frees one of them.
        with C.LibClient(self.srv.port) as c:
            sts = c.wait([c.request("GET", "/f/ref") for _ in range(20)])
        self.assertIsNone(c.error, c.error)
        for st in sts:
            self.assertEqual(st.status, 200, st)
            body = fields(bytes(st.data).decode())
            self.assertEqual(st.header("x-ref"), body["value"], st)
            self.assertEqual(st.header("x-lit"), "literal value", st)
            self.assertIsNone(st.header("x-upper"), st)
            self.assertIsNone(st.header("x-crlf"), st)
        self.assertEqual(len({st.header("x-ref") for st in sts}), 20)

    def test_write_ref_over_h2(self):
        # Kept pieces go into DATA frames without a copy in between; many
        # streams at once, h2c and TLS, each body in the order written.
        want = b"A" * 3000 + b"b" * 100 + b"C" * 5000 + b"\n"
        for tls in (False, True):
            port = self.srv.ports[0] if tls else self.srv.port
            with C.LibClient(port, tls=tls) as c:
                sts = c.wait([c.request("GET", "/f/refbody") for _ in range(24)])
                head = c.fetch("HEAD", "/f/refbody")
            self.assertIsNone(c.error, c.error)
            for st in sts:
                self.assertEqual(st.status, 200, st)
                self.assertEqual(bytes(st.data), want, "tls=%s" % tls)
            self.assertEqual((head.status, bytes(head.data)), (200, b""), head)

    def test_response_trailers_frames(self):
        with C.RawConn(self.srv.port) as c:
            sid = c.send_request("GET", "/f/trailers")
            st = c.wait_stream(sid)
            fr = [f for f in c.frames if f.sid == sid]
            kinds = [f.name for f in fr]
            self.assertEqual(kinds[0], "HEADERS", kinds)
            self.assertEqual(kinds[-1], "HEADERS", "the trailers must be a trailing HEADERS "
                             "frame: %r" % fr)
            self.assertTrue(fr[-1].flags & C.END_STREAM and fr[-1].flags & C.END_HEADERS, fr)
            self.assertFalse(fr[0].flags & C.END_STREAM, fr)
            self.assertFalse(any(f.flags & C.END_STREAM for f in fr[:-1]),
                             "END_STREAM before the trailers: %r" % fr)
            self.assertEqual(bytes(st.data), b"abc")
            self.assertEqual(st.trailers, [("x-checksum", MD5_ABC), ("x-count", "3")], st)

    def test_fail_is_500_on_that_stream_only(self):
        with C.LibClient(self.srv.port) as c:
            slow = c.request("GET", "/f/work?n=1000&sleep=300")
            fail = c.request("GET", "/f/fail")
            ok = c.request("GET", "/f/service")
            slow, fail, ok = c.wait([slow, fail, ok])
            self.assertEqual(fail.status, 500, "on_request returned IR_EIO: %r" % fail)
            self.assertTrue(fail.ended, fail)
            self.assertEqual(ok.status, 200, ok)
            self.assertEqual(slow.status, 200, slow)
            self.assertIn("fnv=", bytes(slow.data).decode())
            self.assertIsNone(c.terminated, "GOAWAY after a handler error: %r" % c.terminated)
            again = c.fetch("GET", "/f/service")
            self.assertEqual(again.status, 200, again)

    def test_end_short_of_content_length_is_rst_stream(self):
        """ir_resp_end after 5 of 10 declared bytes: IR_EINVAL for the module,
        RST_STREAM INTERNAL_ERROR (never END_STREAM) for the client; the
        connection and its other streams go on."""
        with C.RawConn(self.srv.port) as c:
            slow = c.send_request("GET", "/f/work?n=1000&sleep=300")
            sid = c.send_request("GET", "/f/short")
            st = c.wait_stream(sid)
            self.assertEqual(st.reset, C.INTERNAL_ERROR, "%r %s" % (st, c.summary()))
            self.assertFalse(st.ended, st)
            self.assertTrue(b"12345".startswith(bytes(st.data)), st)
            other = c.wait_stream(slow, 5)
            self.assertEqual(other.status, 200, other)
            self.assertEqual(c.goaways, [])
        self.assertTrue(C.wait_log(self.srv, r"stream=\d+ module=features: resp_end after 5 of 10 "
                                   r"declared body bytes: IR_EINVAL, response cut$"),
                        self.srv.diagnostics())

    def test_fail_closes_with_ir_close_error(self):
        """module.h: a handler error is on_close(IR_CLOSE_ERROR) over HTTP/2
        too, although the 500 ended the stream cleanly."""
        with C.LibClient(self.srv.port) as c:
            base = self.stats(c)
            self.assertEqual(c.fetch("GET", "/f/fail").status, 500)
            ok = H.wait_for(lambda: self.stats(c)["errors"] >= base["errors"] + 1, H.scaled(3),
                            0.1)
            self.assertTrue(ok, "no on_close(IR_CLOSE_ERROR) for /f/fail: %r -> %r"
                            % (base, self.stats(c)))

    def test_module_reset_after_head_is_rst_stream(self):
        """/f/reset: head (content-length 10), 5 bytes, then ir_stream_reset.
        The client sees RST_STREAM INTERNAL_ERROR and never a complete
        response (the head and the 5 bytes may or may not get out first);
        the other stream on the connection is not touched."""
        with C.RawConn(self.srv.port) as c:
            slow = c.send_request("GET", "/f/work?n=1000&sleep=300")
            sid = c.send_request("GET", "/f/reset")
            st = c.wait_stream(sid)
            self.assertEqual(st.reset, C.INTERNAL_ERROR,
                             "a module abort after the head: want RST_STREAM INTERNAL_ERROR, got "
                             "%r %s" % (st, c.summary()))
            self.assertFalse(st.ended, "a reset response ended cleanly (END_STREAM): %r" % st)
            self.assertIn(st.status, (None, 200), st)
            self.assertTrue(b"12345".startswith(bytes(st.data)), st)
            print("\n/f/reset: status %s, %d body bytes, RST_STREAM %s"
                  % (st.status, len(st.data), C.errname(st.reset)))
            other = c.wait_stream(slow, 5)
            self.assertEqual(other.status, 200, "the other stream: %r" % other)
            self.assertTrue(other.ended)
            self.assertEqual(c.goaways, [])
            self.assertEqual(c.get("/f/service").status, 200)

    def test_client_reset_is_an_abort_for_the_module(self):
        with C.LibClient(self.srv.port) as c:
            base = self.stats(c)
            sid = c.request("GET", "/f/hang")
            c.pump(None, 0.2)
            c.conn.reset_stream(sid, 8)
            c.queue(c.conn.data_to_send())

            def aborted():
                return self.stats(c)["aborted"] >= base["aborted"] + 1
            ok = H.wait_for(aborted, H.scaled(3), 0.1)
            self.assertTrue(ok, "on_close(ABORTED) never came for a /f/hang stream the client "
                            "reset: %r -> %r" % (base, self.stats(c)))

    def test_request_accessors_over_h2(self):
        for tls in (False, True):
            port = self.srv.ports[0] if tls else self.srv.port
            with C.LibClient(port, tls=tls) as c:
                st = c.fetch("GET", "/f/info?a=1&b=two", headers=[("x-test", "Val1")],
                             authority="example.test:1234")
                local = "%s:%d" % c.sock.getsockname()
            f = fields(bytes(st.data).decode())
            self.assertEqual(st.status, 200, st)
            want = {"method": "GET", "path": "/f/info", "query": "a=1&b=two",
                    "authority": "example.test:1234", "scheme": "https" if tls else "http",
                    "peer": local, "x_test_rc": "0", "x_test": "Val1",
                    "content_length": "-1"}
            got = {k: f.get(k) for k in want}
            self.assertEqual(got, want, bytes(st.data).decode())
            self.assertRegex(f.get("protocol", ""), r"^HTTP/2(\.0)?$", bytes(st.data).decode())

    def test_request_body_flow_control(self):
        body = os.urandom(300 * 1024)
        with C.LibClient(self.srv.port) as c:
            st = c.fetch("POST", "/f/body", body=body, timeout=20)
        f = fields(bytes(st.data).decode())
        self.assertEqual(st.status, 200, st)
        self.assertEqual(int(f["bytes"]), len(body))
        self.assertEqual(int(f["fnv"], 16), fnv1a(body))
        self.assertEqual(int(f["over_consume"]), IR_EINVAL)

    def test_respond_simple_20mib_h2(self):
        """ir_respond_simple of 20 MiB (over max_queued_output) over HTTP/2,
        h2c and TLS: all of it arrives, through the client's windows."""
        for tls in (False, True):
            port = self.srv.ports[0] if tls else self.srv.port
            with C.LibClient(port, tls=tls) as c:
                st = c.fetch("GET", "/f/simple?mb=20", timeout=60)
            self.assertEqual(st.status, 200, st)
            self.assertTrue(st.ended, st)
            self.assertEqual(st.header("content-length"), str(20 * MIB))
            self.assertEqual(len(st.data), 20 * MIB, "tls=%s" % tls)
            self.assertEqual(hashlib.sha256(st.data).hexdigest(), pattern_sha256(20 * MIB))

    def test_16mib_over_tls_python_small_window(self):
        with C.LibClient(self.srv.ports[0], tls=True) as c:
            st = c.fetch("GET", "/f/big?mb=16", timeout=60)
        self.assertEqual(st.status, 200, st)
        self.assertEqual(st.header("content-length"), str(16 * MIB))
        self.assertEqual(len(st.data), 16 * MIB)
        self.assertEqual(hashlib.sha256(st.data).hexdigest(), pattern_sha256(16 * MIB))


class Big(unittest.TestCase):
    def test_big_download_small_window_bounded_rss(self):
        size = BIG_MB * MIB
        with features_server(log_level="warn", env=small_asan_quarantine()) as srv:
            url = "http://127.0.0.1:%d/f/big?mb=%d" % (srv.port, BIG_MB)
            warm = H.run_cmd(["nghttp", "http://127.0.0.1:%d/f/big?mb=4" % srv.port],
                             H.scaled(30))
            self.assertEqual(len(warm.stdout), 4 * MIB, warm.stderr)
            time.sleep(0.3)
            idle = srv.rss_kib()
            h = hashlib.sha256()
            got = 0
            t0 = time.monotonic()
            deadline = t0 + H.scaled(150)
            p = subprocess.Popen(["nghttp", "-w", "16", "-W", "16", url], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            try:
                with RssSampler(srv) as rss:
                    fd = p.stdout.fileno()
                    while time.monotonic() < deadline:
                        r, _, _ = select.select([fd], [], [], 1.0)
                        if not r:
                            continue
                        d = os.read(fd, 1 << 20)
                        if not d:
                            break
                        h.update(d)
                        got += len(d)
                el = time.monotonic() - t0
                try:
                    rc = p.wait(10)
                except subprocess.TimeoutExpired:
                    rc = None
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
                err = p.stderr.read().decode("latin-1")
                p.stdout.close()
                p.stderr.close()
            print("\n%d MiB through a 64 KiB window in %.1fs (%.0f MiB/s); RSS idle %d KiB, "
                  "peak %d KiB (%d samples)" % (got // MIB, el, got / MIB / max(el, 1e-3),
                                                idle, rss.peak, len(rss.samples)))
            self.assertEqual(got, size, "nghttp got %d of %d bytes in %.0fs (rc %s): %s"
                             % (got, size, el, rc, err[-2000:]))
            self.assertEqual(rc, 0, err[-2000:])
            self.assertEqual(h.hexdigest(), pattern_sha256(size), "the body differs from the "
                             "pattern")
            grown = rss.peak - idle
            self.assertLess(grown, 64 * 1024, "server RSS grew %.1f MiB during the download"
                            % (grown / 1024.0))
            self.assertGreater(len(rss.samples), 1)


class SlowClients(unittest.TestCase):
    def test_client_that_stops_reading(self):
        with features_server(write_timeout="2s", log_level="info",
                             env=small_asan_quarantine()) as srv:
            with C.LibClient(srv.port) as w:
                self.assertEqual(len(w.fetch("GET", "/f/big?mb=1").data), MIB)  # warm up
            base_fds = None
            for _ in range(20):  # the warm-up connection's descriptor is gone
                time.sleep(0.2)
                n = srv.num_fds()
                if n == base_fds:
                    break
                base_fds = n
            idle = srv.rss_kib()
            mark = srv.log_mark()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.settimeout(5)
            s.connect((H.HOST, srv.port))
            c = C.RawConn(srv.port, sock=s, settings={C.S_INITIAL_WINDOW_SIZE: C.MAX_WINDOW})
            try:
                c.queue(C.window_update_frame(0, C.MAX_WINDOW - 65535))
                sid = c.send_request("GET", "/f/big?mb=64")
                c.flush()
                c.pump(lambda: c.stream(sid).data, 5)
                self.assertTrue(c.stream(sid).data, c.summary())
                self.assertGreater(srv.num_fds(), base_fds)
                # From here on the client reads nothing. The server's FIN
                # would wait behind the unread bytes, so the close is seen
                # on the server's side: its descriptor for us goes away.
                t0 = time.monotonic()
                with RssSampler(srv) as rss:
                    closed = H.wait_for(lambda: srv.num_fds() <= base_fds, 2.0 + H.scaled(4),
                                        0.1)
                el = time.monotonic() - t0
                print("\nnon-reading client: server fds %d -> %d after %.2fs; RSS idle %d KiB, "
                      "peak %d KiB" % (base_fds + 1, srv.num_fds(), el, idle, rss.peak))
                self.assertTrue(closed, "the server did not close a connection whose client "
                                "stopped reading within %.1fs (write_timeout = 2s)" % el)
                self.assertGreater(el, 1.0, "closed after %.2fs, before write_timeout" % el)
                grown = rss.peak - idle
                self.assertLess(grown, 32 * 1024, "server RSS grew %.1f MiB for a client that "
                                "does not read (max_queued_output 1m)" % (grown / 1024.0))
                c.keep_frames = False
                c.wait_closed(10)
                got = len(c.stream(sid).data)
                self.assertLess(got, 64 * MIB, "the whole 64 MiB was delivered")
                print("bytes delivered before the close: %.1f MiB" % (got / MIB))
            finally:
                c.close()
            self.assertTrue(C.wait_log(srv, r"conn=\d+.*write timeout", mark),
                            "no write-timeout line in the error log:\n"
                            + srv.log_since(mark)[-2000:])
            with C.LibClient(srv.port) as c2:
                self.assertEqual(c2.fetch("GET", "/f/service").status, 200)

    def test_stream_starved_of_window_is_reset(self):
        with features_server(h2_stream_idle_timeout="1s") as srv:
            with C.RawConn(srv.port, auto_window=False) as c:
                self.assertTrue(C.wait_settings_and_ack(c), c.summary())
                sid = c.send_request("GET", "/f/big?mb=64")
                st = c.stream(sid)
                c.pump(lambda: len(st.data) >= 65535, 5)
                self.assertEqual(len(st.data), 65535, "the server sent %d bytes into a 65535 "
                                 "window" % len(st.data))
                t0 = time.monotonic()
                c.pump(lambda: st.reset is not None or c.closed, 1.0 + H.scaled(3))
                el = time.monotonic() - t0
                self.assertIsNotNone(st.reset, "a stream waiting for a WINDOW_UPDATE that never "
                                     "comes was not reset within %.1fs (h2_stream_idle_timeout"
                                     " = 1s): %s" % (el, c.summary()))
                self.assertGreater(el, 0.7)
                print("\nwindow-starved stream reset after %.2fs: %s" % (el,
                                                                         C.errname(st.reset)))
                self.assertEqual(c.goaways, [])
                # the connection goes on (open its window for the next answer)
                c.auto_window = True
                c.queue(C.window_update_frame(0, 1 << 20))
                st2 = c.get("/f/service")
                self.assertEqual(st2.status, 200, "%r %s" % (st2, c.summary()))


if __name__ == "__main__":
    check_environment()
    unittest.main(verbosity=2)
