#!/usr/bin/python3
"""test_lifecycle.py — SDK 1.4's fd watches and drain notice, through
tests/sdk/lifecycle_module.c (built against the SDK only) and real clients.

Watches (one server, /l -> lifecycle, 2 workers): the module connects with
plain socket() to a line server this test runs and plays "ping i" / "pong
i" through one watch (write interest only while output waits, a 100 ms
pause during which a pong arrives, a stop from inside the callback while
bytes are still coming); three exchanges at once all finish, the peer sees
every ping and then the module's close; a port nobody listens on gives
IR_WATCH_ERROR and a 502; the module's counters say no callback came after
a stop or during a pause, WRITE never came with nothing to write, and
stops = starts. Bad fd / events / callback, an fd that cannot be polled and
a second watch of one fd are refused (watch_start NULL, watch_change
IR_EINVAL). A watch the module never stops is freed by the host at exit
(ASan's leak check in CI).

Drain (its own server, shutdown_timeout 4 s; cleartext http/1.1 + h2c and
a TLS listener with h2 + http/1.1): with "bye" tunnels open over HTTP/1.1
Upgrade (cleartext and TLS) and HTTP/2 extended CONNECT (h2c and TLS), event
streams open over HTTP/1.1 chunked, h2c and h2 (curl), and two "ignore"
tunnels, SIGTERM: each bye client reads "bye" and a clean end, each curl
exits 0 with "data: bye", all well before shutdown_timeout; the ignored
tunnels are closed at shutdown_timeout; the server exits 0. The error log
shows on_worker_drain once per worker (ms_left = shutdown_timeout), every
stream's notice after its worker's, and close reasons done for the
answered streams and shutdown for the ignored ones.

README: the code in sdk/README.md's two sections is the module's.

Environment: IRIDIUM_BIN, IRIDIUM_LIFECYCLE_MODULE (the built lifecycle.so).
Every wait is bounded; only 127.0.0.1 is used.
"""

import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
import h2client as C  # noqa: E402
from test_tunnel import H1Tunnel, H2Client  # noqa: E402

import h2.connection  # noqa: E402

LIFECYCLE_SO = os.environ.get("IRIDIUM_LIFECYCLE_MODULE") or os.path.join(
    H.REPO, "build", "tests", "sdk", "modules", "lifecycle.so")
MODULE_SRC = os.path.join(HERE, "lifecycle_module.c")
README = os.path.join(H.REPO, "sdk", "README.md")
ROUNDS = 5
SHUTDOWN_S = 4.0
AFTER_LAST = b"more bytes after the last pong\n"


def lifecycle_server(**server):
    settings = {"workers": 2}
    settings.update(server)
    return C.H2Server(server=settings, modules=["lifecycle"],
                      module_paths={"lifecycle": os.path.abspath(LIFECYCLE_SO)},
                      routes=[("/l", {"module": "lifecycle"})], protocols="http/1.1, h2c",
                      listeners=[{"tls": True, "protocols": "h2, http/1.1"}])


class DrainingH2Client(H2Client):
    """python3-h2 4.1 moves the whole connection to CLOSED on a GOAWAY and
    then refuses the DATA of streams the GOAWAY let finish (RFC 9113 6.8):
    this client keeps the connection open across it. The ConnectionTerminated
    event still comes."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        machine = self.conn.state_machine
        process = machine.process_input

        def process_input(what):
            if what == h2.connection.ConnectionInputs.RECV_GOAWAY:
                return []
            return process(what)

        machine.process_input = process_input


def stats(port):
    r = H.http_request(port, "GET", "/l/stats")
    assert r.status == 200, (r, r.body)
    return {k: int(v) for k, v in re.findall(r"^(\w+)=(\d+)$", r.body.decode(), re.M)}


class LineServer:
    """Answers "ping i" with "pong i"; after pong ROUNDS it sends AFTER_LAST
    and waits for the module to close. Records each connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((H.HOST, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.conns = []  # {"pings": [..], "closed_by_peer": bool}
        self.lock = threading.Lock()
        self.stopping = False
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, TimeoutError):
                continue
            rec = {"pings": [], "closed_by_peer": False}
            with self.lock:
                self.conns.append(rec)
            t = threading.Thread(target=self._serve, args=(c, rec), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, c, rec):
        deadline = time.monotonic() + H.scaled(10.0)
        buf = b""
        c.settimeout(0.2)
        with c:
            while time.monotonic() < deadline:
                try:
                    d = c.recv(4096)
                except (socket.timeout, TimeoutError):
                    continue
                if not d:
                    rec["closed_by_peer"] = True
                    return
                buf += d
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    n = int(line.split()[1])
                    rec["pings"].append(n)
                    c.sendall(b"pong %d\n" % n + (AFTER_LAST if n == ROUNDS else b""))

    def close(self):
        self.stopping = True
        for t in self.threads:
            t.join(H.scaled(12.0))
        self.sock.close()


class Watches(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = lifecycle_server()
        cls.srv.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)  # raises on a crash, hang or sanitizer report

    def test_exchanges_through_watches(self):
        peer = LineServer()
        self.addCleanup(peer.close)
        results = []

        def one():
            t0 = time.monotonic()
            r = H.http_request(self.srv.port, "GET", "/l/watch?port=%d&rounds=%d"
                               % (peer.port, ROUNDS))
            results.append((r.status, r.body, time.monotonic() - t0))

        threads = [threading.Thread(target=one) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(H.scaled(15.0))
        self.assertEqual(len(results), 3)
        for status, body, took in results:
            self.assertEqual((status, body), (200, b"watch ok rounds=%d\n" % ROUNDS))
            self.assertGreaterEqual(took, 0.1)  # the 100 ms pause happened
        # the module closes each socket 200 ms after stopping its watch
        self.assertTrue(H.wait_for(lambda: len(peer.conns) == 3 and all(
            c["closed_by_peer"] for c in peer.conns), H.scaled(5.0)), peer.conns)
        for c in peer.conns:
            self.assertEqual(c["pings"], list(range(1, ROUNDS + 1)))
        st = stats(self.srv.port)
        self.assertEqual(st["callbacks_after_stop"], 0, st)
        self.assertEqual(st["callbacks_while_paused"], 0, st)
        self.assertEqual(st["idle_writable"], 0, st)
        self.assertGreaterEqual(st["exchanges_ok"], 3, st)
        self.assertEqual(st["watch_starts"], st["watch_stops"], st)

    def test_refused_connect_reports_an_error(self):
        port = H.free_port()  # nobody listens there
        r = H.http_request(self.srv.port, "GET", "/l/watch?port=%d&rounds=2" % port)
        self.assertEqual(r.status, 502, r.body)
        self.assertIn(b"connect failed", r.body)
        st = stats(self.srv.port)
        self.assertEqual(st["watch_starts"], st["watch_stops"], st)
        self.assertEqual(st["callbacks_after_stop"], 0, st)

    def test_bad_arguments_are_refused(self):
        r = H.http_request(self.srv.port, "GET", "/l/refusals")
        self.assertEqual((r.status, r.body), (200, b"refusals passed=10 of 10\n"))

    def test_watch_left_open_is_freed_by_the_host(self):
        r = H.http_request(self.srv.port, "GET", "/l/leave")
        self.assertEqual((r.status, r.body), (200, b"left a watch\n"))
        self.assertGreaterEqual(stats(self.srv.port)["watch_left"], 1)
        # tearDownClass stops the server: exit 0 and no sanitizer report


class Drain(unittest.TestCase):
    def curl(self, args):
        p = subprocess.Popen(["curl", "-sS", "-N", "--max-time", "20"] + args,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def test_sigterm_notices(self):
        srv = lifecycle_server(shutdown_timeout="%ds" % SHUTDOWN_S)
        srv.expect_prompt_stop = False  # the ignored tunnels wait on purpose
        with srv:
            tls = C.client_tls_context(("http/1.1",))
            h1_bye = [H1Tunnel(port=srv.port, target="/l", upgrade="bye"),
                      H1Tunnel(sock=tls.wrap_socket(H.connect(srv.ports[0]),
                                                    server_hostname="localhost"),
                               target="/l", upgrade="bye")]
            h1_ignore = H1Tunnel(port=srv.port, target="/l", upgrade="ignore")
            for t in h1_bye + [h1_ignore]:
                self.addCleanup(t.close)
                self.assertEqual(t.head.status, 101, t.head)
            h2_bye = [DrainingH2Client(srv.port), DrainingH2Client(srv.ports[0], tls=True)]
            h2_ignore = DrainingH2Client(srv.port)
            sids = {}
            for c, proto in [(h2_bye[0], "bye"), (h2_bye[1], "bye"), (h2_ignore, "ignore")]:
                self.addCleanup(c.close)
                self.assertTrue(c.wait_settings())
                sids[c] = c.connect_tunnel("/l", proto)
                self.assertEqual(c.wait_headers(sids[c]).status, 200, c.describe(sids[c]))
            url = "http://127.0.0.1:%d/l/events" % srv.port
            events = [self.curl(["--http1.1", url]), self.curl(["--http2-prior-knowledge", url]),
                      self.curl(["--http2", "-k",
                                 "https://127.0.0.1:%d/l/events" % srv.ports[0]])]
            self.assertTrue(H.wait_for(
                lambda: len(re.findall(r"held kind=", srv.error_log_text())) == 9,
                H.scaled(5.0)), srv.error_log_text())

            t0 = srv.signal()
            for t in h1_bye:
                self.assertEqual(t.recv_rest(timeout=3.0), (b"bye\n", "eof"))
                t.close()  # our side ends too: the tunnel is done
            for c in h2_bye:
                st = c.streams[sids[c]]
                c.pump(lambda: st.ended or st.reset is not None, H.scaled(3.0))
                self.assertEqual((bytes(st.data), st.ended), (b"bye\n", True), c.describe(sids[c]))
                self.assertIsNotNone(c.terminated, "no GOAWAY: " + c.describe(sids[c]))
                c.send(sids[c], end=True)
                self.assertEqual(c.wait_closed(), "eof")
            for p in events:
                out, err = p.communicate(timeout=H.scaled(5.0))
                self.assertEqual((p.returncode, out), (0, b"data: hello\n\ndata: bye\n\n"), err)
            answered = time.monotonic() - t0
            print("\n  7 notices answered %.0f ms after SIGTERM (shutdown_timeout %.0f s)"
                  % (answered * 1000, SHUTDOWN_S), file=sys.stderr)
            self.assertLess(answered, SHUTDOWN_S / 2, "the notices were not answered promptly")

            self.assertEqual(h1_ignore.recv_rest(timeout=SHUTDOWN_S + 3.0), (b"", "eof"))
            self.assertEqual(h2_ignore.wait_closed(timeout=SHUTDOWN_S + 3.0), "eof")
            self.assertGreaterEqual(time.monotonic() - t0, SHUTDOWN_S - 0.5)
            self.assertEqual(srv.wait_exit(H.scaled(SHUTDOWN_S + 5.0)), 0)
            log = srv.error_log_text()
        drains = [int(ms) for ms in re.findall(r"worker drain: worker \d+, ms_left=(\d+)", log)]
        self.assertEqual(len(drains), 2, log)
        for ms in drains:
            self.assertTrue(SHUTDOWN_S * 1000 - 500 <= ms <= SHUTDOWN_S * 1000, drains)
        notices = re.findall(r"stream drain: kind=(\w+), ms_left=\d+, after worker drain=(\d)", log)
        self.assertEqual(sorted(notices), sorted([("bye", "1")] * 4 + [("events", "1")] * 3
                                                 + [("ignore", "1")] * 2), log)
        closes = re.findall(r"closed kind=(\w+) reason=(\w+)", log)
        self.assertEqual(sorted(closes), sorted([("bye", "done")] * 4 + [("events", "done")] * 3
                                                + [("ignore", "shutdown")] * 2), log)


class Readme(unittest.TestCase):
    def test_sections_quote_the_module(self):
        text = open(README, encoding="utf-8").read()
        src = open(MODULE_SRC, encoding="utf-8").read()
        for title in ("## Watching a library's socket (1.4)", "## When the server drains (1.4)"):
            start = text.index(title)
            end = text.find("\n## ", start + 1)
            section = text[start:end if end > 0 else len(text)]
            self.assertNotIn("TODO", section)
            blocks = re.findall(r"```c\n(.*?)```", section, re.S)
            self.assertTrue(blocks, title + " has no code")
            for b in blocks:
                self.assertTrue(b in src, "%s: this code is not lifecycle_module.c's:\n%s"
                                % (title, b))


if __name__ == "__main__":
    if not os.path.isfile(LIFECYCLE_SO):
        print("IRIDIUM_LIFECYCLE_MODULE=%s does not exist" % LIFECYCLE_SO, file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
