#!/usr/bin/python3
"""test_ws_chromium.py — the shipped WebSocket demo in a real browser.

Iridium runs with a temp copy of the shipped conf/iridium.ini (its own
ports, logs, modules_dir and the harness's TLS certificate; everything else,
routes and modules included, as shipped) and Debian's Chromium, headless,
loads https://127.0.0.1:PORT/ws.html from the shipped conf/www. Checked:
  shipped conf   [module websocket], /ws/echo (echo), /ws/chat (broadcast,
                 room chat) and /ws/metrics (metrics) before the static `/`
                 route, and a TLS listener offering h2; index.html links
                 ws.html.
  browser        the page came over h2; its #result JSON says the echo
                 round-tripped (5 UTF-8 texts, 256 binary bytes, 64 KiB of
                 text, each the same and of the same type) and its chat
                 message came back through the room; both sockets
                 negotiated permessage-deflate. A screenshot is saved
                 (printed path).
  server side    the error log has `websocket open: protocol=h2 deflate=on
                 ... route=/ws/echo` (and /ws/chat): Chromium used HTTP/2
                 extended CONNECT (RFC 8441) with permessage-deflate;
                 /ws/metrics counts those h2+deflate sessions, the messages,
                 fewer wire bytes than payload bytes in (the 64 KiB text was
                 compressed), and no open session once the browser is gone.
  http page      the same page from the cleartext listener: ws:// over an
                 HTTP/1.1 Upgrade, `protocol=h1 deflate=on` in the log and
                 in the metrics, everything else as above.

Chromium never runs outside a private network namespace: the test
re-executes itself under `unshare -n` (root), brings lo up there, starts
Iridium and Chromium inside, and refuses to start Chromium unless its
network namespace differs from the one it was started in and holds only lo.
Chromium is driven over CDP (--remote-debugging-pipe) and killed 30 s after
its start at the latest.

Environment: IRIDIUM_BIN, IRIDIUM_MODULES_DIR (as the integration tests),
IRIDIUM_WS_ARTIFACTS_DIR (where the screenshot goes; default the current
folder, which ctest makes the build dir: ws_chromium_h2.png and
ws_chromium_h1.png), IRIDIUM_CHROMIUM (default
/usr/bin/chromium).
"""

import base64
import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

CHROMIUM = os.environ.get("IRIDIUM_CHROMIUM") or "/usr/bin/chromium"
CONF_DIR = os.path.join(H.REPO, "conf")
SHIPPED_INI = os.path.join(CONF_DIR, "iridium.ini")
ARTIFACTS_DIR = os.environ.get("IRIDIUM_WS_ARTIFACTS_DIR") or os.getcwd()
CHILD_MARK = "IRIDIUM_WS_CHROMIUM_IN_NETNS"
OUTER_NETNS = "IRIDIUM_WS_CHROMIUM_OUTER_NETNS"
BROWSER_LIFETIME = 30.0  # seconds Chromium may live, whatever happens
OUTER_TIMEOUT = 240.0    # seconds for the whole re-executed test

# Keys of the shipped INI whose relative paths (relative to conf/) must stay
# pointing into the source tree when the INI is copied elsewhere.
PATH_KEYS = ("root", "mime_types")


# --------------------------------------------------------------------------
# The network namespace


def netns_id():
    return os.readlink("/proc/self/ns/net")


def in_private_netns():
    """True only inside the namespace this test made: another namespace than
    the one the outer process ran in, with lo as its only interface."""
    outer = os.environ.get(OUTER_NETNS)
    names = sorted(n for _, n in socket.if_nameindex())
    return bool(outer) and netns_id() != outer and names == ["lo"]


def reexec_in_netns(path=None, name="test_ws_chromium", timeout=None):
    """Runs the test file at path (this one by default) again under
    `unshare -n`; returns its exit status."""
    path = path or __file__
    timeout = timeout or OUTER_TIMEOUT
    if os.geteuid() != 0:
        print("%s: needs root for `unshare -n` (a private network namespace "
              "for Chromium and Iridium)" % name, file=sys.stderr)
        return 1
    if not shutil.which("unshare") or not shutil.which("ip"):
        print("%s: needs unshare (util-linux) and ip (iproute2)" % name, file=sys.stderr)
        return 1
    env = dict(os.environ)
    env[CHILD_MARK] = "1"
    env[OUTER_NETNS] = netns_id()
    args = ["unshare", "--net", "--", sys.executable, os.path.abspath(path)] + sys.argv[1:]
    try:
        return subprocess.run(args, env=env, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        print("%s: the test in the namespace took over %.0fs" % (name, timeout), file=sys.stderr)
        return 1


def main_in_private_netns(path, name, timeout):
    """A Chromium test's main: outside, re-run itself under `unshare -n`;
    inside (checked), bring lo up and run its unittest cases."""
    if os.environ.get(CHILD_MARK) != "1":
        sys.exit(reexec_in_netns(path, name, timeout))
    if not in_private_netns():
        print("%s: %s is set but this is not a private network namespace; not starting "
              "anything" % (name, CHILD_MARK), file=sys.stderr)
        sys.exit(1)
    bring_lo_up()
    H.check_environment()
    if not os.access(CHROMIUM, os.X_OK):
        print("%s: %s is missing (Debian chromium: bash .ci/dev deps)" % (name, CHROMIUM),
              file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)


def bring_lo_up():
    p = subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True, text=True,
                       timeout=10)
    if p.returncode != 0:
        raise RuntimeError("ip link set lo up: " + p.stderr)


# --------------------------------------------------------------------------
# The shipped INI


def parse_ini(path):
    """[(section header or None, [raw lines])] in file order, comments kept."""
    sections = [(None, [])]
    with open(path) as f:
        for line in f.read().split("\n"):
            m = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
            if m:
                sections.append((m.group(1).strip(), [line]))
            else:
                sections[-1][1].append(line)
    return sections


def ini_keys(lines):
    out = {}
    for line in lines:
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*=\s*(.*?)\s*$", line)
        if m and not line.lstrip().startswith((";", "#")):
            out[m.group(1)] = m.group(2)
    return out


class ShippedConfServer(H.Server):
    """harness.Server running a temp copy of conf/iridium.ini: the cleartext
    listener on self.port, the TLS one on self.tls_port, logs in the temp
    folder, the harness's modules_dir and certificate; paths into conf/
    made absolute. Everything else is the shipped text."""

    def __init__(self):
        super().__init__(modules=[], routes=[])
        self.tls_port = None

    def write_ini(self):
        cert, key = C.test_cert()
        self.tls_port = H.free_port()
        out = []
        tls_seen = plain_seen = False
        for name, lines in parse_ini(SHIPPED_INI):
            keys = ini_keys(lines)
            if name and name.startswith("listen "):
                if keys.get("tls", "off").lower() in ("on", "yes", "true", "1"):
                    port = self.tls_port if not tls_seen else H.free_port()
                    tls_seen = True
                else:
                    port = self.port if not plain_seen else H.free_port()
                    plain_seen = True
                host = name[len("listen "):].rsplit(":", 1)[0]
                lines = ["[listen %s:%d]" % (host, port)] + lines[1:]
            repl = {}
            if name == "server":
                repl = {"modules_dir": H.MODULES_DIR, "error_log": self.error_log,
                        "access_log": self.access_log}
            elif name and name.startswith("certificate "):
                repl = {"cert": cert, "key": key}
            for k in PATH_KEYS:
                if k in keys and not os.path.isabs(keys[k]):
                    repl[k] = os.path.join(CONF_DIR, keys[k])
            for line in lines:
                m = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*=", line)
                if m and m.group(1) in repl and not line.lstrip().startswith((";", "#")):
                    line = "%s = %s" % (m.group(1), repl[m.group(1)])
                out.append(line)
        if not (tls_seen and plain_seen):
            raise AssertionError("conf/iridium.ini lost its cleartext or its TLS listener")
        with open(self.ini_path, "w") as f:
            f.write("\n".join(out))
        return None


# --------------------------------------------------------------------------
# Chromium over the DevTools protocol (--remote-debugging-pipe: JSON
# messages ended by NUL, Chromium reads fd 3 and writes fd 4)


class CdpError(Exception):
    pass


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


class Chromium:
    def __init__(self, workdir):
        self.workdir = workdir
        self.proc = None
        self.started = None
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.log_path = os.path.join(workdir, "chromium.log")

    # -- process ------------------------------------------------------------

    def start(self):
        # The one gate: never a browser in the host's network.
        if not in_private_netns():
            raise AssertionError("refusing to start Chromium outside the test's private network "
                                 "namespace (netns %s, interfaces %r)"
                                 % (netns_id(), socket.if_nameindex()))
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        profile = os.path.join(self.workdir, "profile")
        os.makedirs(profile, exist_ok=True)
        args = [CHROMIUM, "--headless", "--remote-debugging-pipe",
                "--user-data-dir=" + profile, "--ignore-certificate-errors",
                "--no-first-run", "--no-default-browser-check", "--disable-gpu",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-default-apps", "--mute-audio",
                "--hide-scrollbars", "--window-size=1000,1400", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")

        def child_setup():
            # fds 3 and 4 for the pipe; through high numbers first so that a
            # pipe end already on 3 or 4 is not clobbered.
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            a2, b2 = os.dup2(a, 100), os.dup2(b, 101)
            os.dup2(a2, 3)
            os.dup2(b2, 4)
            os.setsid()
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

        env = dict(os.environ, HOME=self.workdir)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env, pass_fds=(3, 4), preexec_fn=child_setup,
                                         close_fds=True)
        self.started = time.monotonic()
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.w, self.r = to_chrome_w, from_chrome_r

    def deadline(self, seconds):
        """now + seconds, but never past the browser's lifetime."""
        return min(time.monotonic() + seconds, self.started + BROWSER_LIFETIME)

    def stop(self):
        """Browser.close, then SIGKILL to its process group; bounded."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.send("Browser.close")
            except OSError:
                pass
            try:
                self.proc.wait(max(0.1, min(5.0, self.started + BROWSER_LIFETIME
                                            - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self.w, self.r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.proc = None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- protocol -----------------------------------------------------------

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self.w, data)
            data = data[n:]
        return self.next_id

    def recv(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no DevTools message in time")
            r, _, _ = select.select([self.r], [], [], left)
            if not r:
                continue
            d = os.read(self.r, 1 << 20)
            if not d:
                raise CdpError("Chromium closed the DevTools pipe (exit status %s)"
                               % self.proc.poll())
            self.buf += d
        i = self.buf.index(b"\0")
        msg, self.buf = self.buf[:i], self.buf[i + 1:]
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=10.0):
        i = self.send(method, params, session)
        deadline = self.deadline(timeout)
        while True:
            m = self.recv(deadline)
            if m.get("id") == i:
                if "error" in m:
                    raise CdpError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self.events.append(m)

    def page_session(self):
        """Attaches to the page target Chromium opened; returns the session."""
        targets = self.call("Target.getTargets")["targetInfos"]
        pages = [t for t in targets if t["type"] == "page"]
        if pages:
            tid = pages[0]["targetId"]
        else:
            tid = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        return self.call("Target.attachToTarget", {"targetId": tid, "flatten": True})["sessionId"]

    def evaluate(self, session, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
        if "exceptionDetails" in r:
            raise CdpError("evaluate %r: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def console_lines(self):
        out = []
        for m in self.events:
            if m.get("method") == "Runtime.consoleAPICalled":
                p = m["params"]
                out.append("console.%s: %s" % (p.get("type"), " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", []))))
            elif m.get("method") == "Runtime.exceptionThrown":
                out.append("exception: %s" % m["params"].get("exceptionDetails"))
            elif m.get("method") == "Log.entryAdded":
                e = m["params"]["entry"]
                out.append("log.%s: %s %s" % (e.get("level"), e.get("text"), e.get("url", "")))
        return out


# --------------------------------------------------------------------------
# Metrics


METRIC_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)\s*$")


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value}"""
    out = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = METRIC_RE.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return out


def metric(ms, name, **labels):
    """Sum of the series of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in ms.items() if n == name and want <= set(ls))


# --------------------------------------------------------------------------
# The tests


class ShippedConf(unittest.TestCase):
    def test_routes_and_link(self):
        secs = parse_ini(SHIPPED_INI)
        names = [n for n, _ in secs]
        by = {n: ini_keys(l) for n, l in secs if n}
        self.assertIn("module websocket", names)
        want = {"route /ws/echo": {"mode": "echo"},
                "route /ws/chat": {"mode": "broadcast", "room": "chat"},
                "route /ws/metrics": {"mode": "metrics"}}
        for sec, keys in want.items():
            self.assertIn(sec, by, "conf/iridium.ini has no [%s]" % sec)
            self.assertEqual(by[sec].get("module"), "websocket", sec)
            for k, v in keys.items():
                self.assertEqual(by[sec].get(k), v, "[%s] %s" % (sec, k))
            self.assertLess(names.index(sec), names.index("route /"),
                            "[%s] comes after the static [route /]" % sec)
        tls = [ini_keys(l) for n, l in secs if n and n.startswith("listen ")
               and ini_keys(l).get("tls") == "on"]
        self.assertTrue(tls and "h2" in tls[0].get("protocols", ""),
                        "conf/iridium.ini has no TLS listener offering h2")
        with open(os.path.join(CONF_DIR, "www", "index.html")) as f:
            self.assertIn('href="/ws.html"', f.read(), "conf/www/index.html does not link ws.html")


class DemoInChromium(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="iridium-ws-chromium-")

    def tearDown(self):
        if not os.environ.get("IRIDIUM_TEST_KEEP_TMP"):
            shutil.rmtree(self.work, ignore_errors=True)

    def run_browser(self, url, shot_name):
        """Loads url in Chromium, waits for #result to be done, saves a
        screenshot. Returns (result dict or None, screenshot path, text for
        failure messages)."""
        br = Chromium(self.work)
        result = None
        shot = os.path.join(ARTIFACTS_DIR, shot_name)
        state = text = ""
        try:
            br.start()
            s = br.page_session()
            for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
                br.call(domain, session=s)
            nav = br.call("Page.navigate", {"url": url}, s)
            if nav.get("errorText"):
                raise AssertionError("Chromium could not load %s: %s" % (url, nav["errorText"]))
            # #result is filled once both sockets settled (each page step
            # gives up after 5-10 s): poll, bounded by the browser's life.
            deadline = br.deadline(25.0)
            while time.monotonic() < deadline:
                state = br.evaluate(s, "(document.getElementById('result')||{dataset:{}})"
                                       ".dataset.state||''")
                if state == "done":
                    break
                time.sleep(0.2)
            text = br.evaluate(s, "(document.getElementById('result')||{}).textContent||''") or ""
            if state == "done":
                result = json.loads(text)
            try:
                shotr = br.call("Page.captureScreenshot",
                                {"format": "png", "captureBeyondViewport": True}, s,
                                timeout=10.0)
                os.makedirs(ARTIFACTS_DIR, exist_ok=True)
                with open(shot, "wb") as f:
                    f.write(base64.b64decode(shotr["data"]))
                print("test_ws_chromium: screenshot of %s in %s" % (url, shot))
            except (CdpError, TimeoutError) as e:
                print("test_ws_chromium: no screenshot: %s" % e)
                shot = None
        finally:
            console = br.console_lines()
            br.stop()
        info = ("\n--- #result (state %r):\n%s\n--- console:\n%s\n--- chromium log (tail):\n%s"
                % (state, text[:3000], "\n".join(console)[-3000:], br.log_text()[-3000:]))
        return result, shot, info

    def check_page(self, result, info, page_protocol):
        """What the page itself reports: it came over page_protocol, the
        echo and the chat round-tripped, both with permessage-deflate."""
        self.assertIsNotNone(result, "the page never finished (#result not done)" + info)
        self.assertEqual(result.get("page_protocol"), page_protocol,
                         "the page did not come over %s%s" % (page_protocol, info))
        echo = result.get("echo") or {}
        self.assertTrue(echo.get("ok"), "echo failed: %r%s" % (echo.get("error"), info))
        self.assertEqual(len(echo.get("text_rtt_ms", [])), 5, info)
        self.assertTrue(echo.get("binary_ok") and echo.get("large_ok"), info)
        self.assertEqual(echo.get("large_bytes"), 65536, info)
        self.assertIn("permessage-deflate", echo.get("extensions", ""),
                      "the echo socket has no permessage-deflate" + info)
        chat = result.get("chat") or {}
        self.assertTrue(chat.get("ok"), "chat message did not come back: %r%s"
                        % (chat.get("error"), info))
        self.assertTrue(chat.get("text", "").startswith("hello from guest-"), info)
        self.assertIn("permessage-deflate", chat.get("extensions", ""), info)
        print("test_ws_chromium: %s: echo text round trip median %.2f ms, 64 KiB %.2f ms, "
              "chat %.2f ms" % (page_protocol, echo["text_rtt_median_ms"], echo["large_rtt_ms"],
                                chat["rtt_ms"]))

    def check_open_lines(self, srv, protocol, info):
        for route in ("/ws/echo", "/ws/chat"):
            rx = (r"websocket open: protocol=%s deflate=on subprotocol=\S+ route=%s\b"
                  % (protocol, re.escape(route)))
            self.assertTrue(C.wait_log(srv, rx, timeout=3.0),
                            "no `websocket open: protocol=%s deflate=on ... route=%s` line in "
                            "the error log%s" % (protocol, route, info))

    def metrics_when_closed(self, srv, info):
        """/ws/metrics once no session is open any more (the browser is gone):
        every session of the page must have been closed."""
        def get():
            r = H.http_request(srv.port, "GET", "/ws/metrics")
            self.assertEqual(r.status, 200, r)
            self.assertTrue((r.header("content-type") or "").startswith("text/plain"), r)
            return parse_metrics(r.body.decode("utf-8", "replace"))

        ms = H.wait_for(lambda: (lambda m: m if metric(m, "websocket_sessions_open") == 0
                                 else None)(get()), H.scaled(5.0)) or get()
        self.assertEqual(metric(ms, "websocket_sessions_open"), 0,
                         "sessions still open after Chromium quit" + info)
        self.assertRegex(srv.error_log_text(), r"websocket close: code=\d+",
                         "no `websocket close:` line after the browser quit")
        # 5 texts + 1 binary + 1 large on the echo, 1 chat message.
        self.assertGreaterEqual(metric(ms, "websocket_messages_total", direction="in"), 8, info)
        self.assertGreaterEqual(metric(ms, "websocket_messages_total", direction="out"), 8, info)
        bytes_in = metric(ms, "websocket_bytes_total", direction="in")
        wire_in = metric(ms, "websocket_wire_bytes_total", direction="in")
        self.assertGreater(bytes_in, 65536, info)
        self.assertLess(wire_in, bytes_in / 4,
                        "the 64 KiB compressible text was not compressed on the wire "
                        "(wire %d vs payload %d bytes in)%s" % (wire_in, bytes_in, info))
        return ms

    def test_https_page_uses_h2_extended_connect_with_deflate(self):
        with ShippedConfServer() as srv:
            url = "https://127.0.0.1:%d/ws.html" % srv.tls_port
            result, shot, info = self.run_browser(url, "ws_chromium_h2.png")
            info += srv.diagnostics()
            self.check_page(result, info, "h2")
            # Server side: Chromium used extended CONNECT with deflate.
            self.check_open_lines(srv, "h2", info)
            self.assertNotRegex(srv.error_log_text(), r"websocket open: protocol=h1",
                                "a session of the https page came over HTTP/1.1" + info)
            ms = self.metrics_when_closed(srv, info)
            self.assertGreaterEqual(
                metric(ms, "websocket_sessions_total", protocol="h2", deflate="on"), 2,
                "websocket_sessions_total{protocol=\"h2\",deflate=\"on\"} < 2" + info)
            self.assertEqual(metric(ms, "websocket_sessions_total", protocol="h1"), 0, info)
            if shot:
                self.assertGreater(os.path.getsize(shot), 1000, "empty screenshot")

    def test_http_page_uses_h1_upgrade_with_deflate(self):
        with ShippedConfServer() as srv:
            url = "http://127.0.0.1:%d/ws.html" % srv.port
            result, shot, info = self.run_browser(url, "ws_chromium_h1.png")
            info += srv.diagnostics()
            self.check_page(result, info, "http/1.1")
            self.check_open_lines(srv, "h1", info)
            ms = self.metrics_when_closed(srv, info)
            self.assertGreaterEqual(
                metric(ms, "websocket_sessions_total", protocol="h1", deflate="on"), 2,
                "websocket_sessions_total{protocol=\"h1\",deflate=\"on\"} < 2" + info)
            self.assertEqual(metric(ms, "websocket_sessions_total", protocol="h2"), 0, info)


def main():
    main_in_private_netns(__file__, "test_ws_chromium", OUTER_TIMEOUT)


if __name__ == "__main__":
    main()
