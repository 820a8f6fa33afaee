"""harness.py — shared pieces of the integration tests.

The tests drive the real `iridium` binary (IRIDIUM_BIN) with the real modules
(IRIDIUM_MODULES_DIR) through real clients: curl, h2load and plain sockets.
Every wait here is bounded in time and every loop in count; only 127.0.0.1 is
ever used.

    with Server(server={"max_body_size": "1k"}) as srv:
        r = http_request(srv.port, "GET", "/hello")
        assert r.status == 200

Leaving the `with` block stops the server with SIGTERM and fails the test when
the server did not exit with status 0 in time, or when its stderr holds a
sanitizer report.

Environment knobs (all optional):
  IRIDIUM_BIN, IRIDIUM_MODULES_DIR   the binary and the modules folder
  IRIDIUM_TEST_TIME_SCALE            multiply the bounded waits (default 1,
                                     3 when the binary is built with ASan)
  IRIDIUM_TEST_KEEP_TMP=1            keep every server's temp folder
"""

import errno
import hashlib
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

IRIDIUM_BIN = os.environ.get("IRIDIUM_BIN") or os.path.join(REPO, "build", "core", "iridium")
MODULES_DIR = os.environ.get("IRIDIUM_MODULES_DIR") or os.path.join(REPO, "build", "modules")

DEFAULT_GREETING = "Hello from Iridium"
HOST = "127.0.0.1"

_asan = None


def is_sanitized():
    """Whether the binary under test was built with AddressSanitizer."""
    global _asan
    if _asan is None:
        try:
            with open(IRIDIUM_BIN, "rb") as f:
                _asan = b"__asan_init" in f.read()
        except OSError:
            _asan = False
    return _asan


def time_scale():
    v = os.environ.get("IRIDIUM_TEST_TIME_SCALE")
    if v:
        return float(v)
    return 3.0 if is_sanitized() else 1.0


def scaled(seconds):
    return seconds * time_scale()


def check_environment():
    """Fails loudly (exit 1) when the binary or the modules are missing."""
    problems = []
    if not os.access(IRIDIUM_BIN, os.X_OK):
        problems.append("IRIDIUM_BIN=%s is not an executable file" % IRIDIUM_BIN)
    if not os.path.isdir(MODULES_DIR):
        problems.append("IRIDIUM_MODULES_DIR=%s is not a directory" % MODULES_DIR)
    elif not os.path.exists(os.path.join(MODULES_DIR, "hello.so")):
        problems.append("%s has no hello.so" % MODULES_DIR)
    if problems:
        for p in problems:
            print("integration test setup: " + p, file=sys.stderr)
        sys.exit(1)


def raise_nofile(want):
    """Raises this process's RLIMIT_NOFILE soft limit to at least `want`
    (bounded by the hard limit). Children (the server) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_for(pred, timeout, interval=0.05):
    """Calls pred() until it returns something truthy or timeout passes.
    Returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# --------------------------------------------------------------------------
# INI files


class Ini:
    """Builds an INI text while remembering the line number of every line,
    so tests can check the FILE:LINE of an error."""

    def __init__(self):
        self.lines = []

    def line(self, text):
        self.lines.append(text)
        return len(self.lines)

    def section(self, name):
        return self.line("[%s]" % name)

    def kv(self, key, value):
        return self.line("%s = %s" % (key, value))

    def blank(self):
        return self.line("")

    def text(self):
        return "\n".join(self.lines) + "\n"

    def write(self, path):
        with open(path, "w") as f:
            f.write(self.text())
        return path


# --------------------------------------------------------------------------
# The server


class ServerStartError(Exception):
    pass


class Server:
    """An iridium process with its own temp folder, INI, logs and port.

    server:  keys of [server]; None as a value drops a default key.
    routes:  list of (prefix, {key: value}); default one route /hello.
    modules: list of module names to load (default ["hello"]).
    module_paths: {name: path} for [module NAME] path = PATH (default NAME.so
             in modules_dir).
    """

    def __init__(self, server=None, routes=None, modules=None, protocols="http/1.1",
                 extra="", start_timeout=10.0, env=None, module_paths=None):
        self.tmp = tempfile.mkdtemp(prefix="iridium-it-")
        self.error_log = os.path.join(self.tmp, "error.log")
        self.access_log = os.path.join(self.tmp, "access.log")
        self.stdout_path = os.path.join(self.tmp, "stdout")
        self.stderr_path = os.path.join(self.tmp, "stderr")
        self.ini_path = os.path.join(self.tmp, "iridium.ini")
        self.settings = {
            "workers": "2",
            "modules_dir": MODULES_DIR,
            "error_log": self.error_log,
            "access_log": self.access_log,
            "log_level": "info",
        }
        for k, v in (server or {}).items():
            if v is None:
                self.settings.pop(k, None)
            else:
                self.settings[k] = str(v)
        self.routes = routes if routes is not None else [
            ("/hello", {"module": "hello", "greeting": DEFAULT_GREETING})]
        self.modules = modules if modules is not None else ["hello"]
        self.module_paths = dict(module_paths or {})
        self.protocols = protocols
        self.extra = extra
        self.start_timeout = scaled(start_timeout)
        self.env = env
        self.proc = None
        self.port = None
        self.returncode = None
        self.killed = False
        self.stop_seconds = None
        # stop() is expected to be quick: tests close their clients first.
        # Tests that stop with work in flight set this to False.
        self.expect_prompt_stop = True
        self._stdout = self._stderr = None

    # -- setup ------------------------------------------------------------

    def write_ini(self):
        ini = Ini()
        ini.section("server")
        for k, v in self.settings.items():
            ini.kv(k, v)
        ini.blank()
        self.write_listeners(ini)
        for m in self.modules:
            ini.section("module %s" % m)
            if m in self.module_paths:
                ini.kv("path", self.module_paths[m])
            ini.blank()
        for prefix, keys in self.routes:
            ini.section("route %s" % prefix)
            for k, v in keys.items():
                ini.kv(k, v)
            ini.blank()
        if self.extra:
            ini.line(self.extra)
        ini.write(self.ini_path)
        return ini

    def write_listeners(self, ini):
        """The [listen] sections; subclasses add TLS and extra listeners."""
        ini.section("listen %s:%d" % (HOST, self.port))
        ini.kv("protocols", self.protocols)
        ini.blank()

    def shutdown_timeout_s(self):
        v = self.settings.get("shutdown_timeout", "10s")
        m = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|h)?\s*", v)
        if not m:
            return 10.0
        n = int(m.group(1))
        return {"ms": n / 1000.0, "s": n, None: n, "m": n * 60, "h": n * 3600}[m.group(2)]

    def start(self):
        last = ""
        for _attempt in range(3):
            self.port = free_port()
            self.write_ini()
            self._stdout = open(self.stdout_path, "wb")
            self._stderr = open(self.stderr_path, "wb")
            env = dict(os.environ)
            if self.env:
                env.update(self.env)
            self.proc = subprocess.Popen([IRIDIUM_BIN, "-c", self.ini_path], stdin=subprocess.DEVNULL,
                                         stdout=self._stdout, stderr=self._stderr, env=env,
                                         cwd=self.tmp)
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    s = socket.create_connection((HOST, self.port), timeout=0.5)
                    s.close()
                    return self
                except OSError:
                    time.sleep(0.05)
            rc = self.proc.poll()
            last = self.stderr_text()
            if rc is None:
                self.proc.kill()
                self.proc.wait(10)
                self._close_files()
                raise ServerStartError("iridium did not accept connections on port %d within %.1fs;"
                                       " stderr:\n%s" % (self.port, self.start_timeout, last))
            self._close_files()
            if "in use" in last:  # the free port was taken meanwhile; try another
                continue
            raise ServerStartError("iridium exited with status %s at startup; stderr:\n%s\nINI:\n%s"
                                   % (rc, last, open(self.ini_path).read()))
        raise ServerStartError("could not find a free port; last stderr:\n" + last)

    def _close_files(self):
        for f in (self._stdout, self._stderr):
            if f:
                f.close()
        self._stdout = self._stderr = None

    # -- looking at it ------------------------------------------------------

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS for pid %d" % self.proc.pid)

    def num_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_text(self):
        return self._read(self.stderr_path)

    def stdout_text(self):
        return self._read(self.stdout_path)

    def error_log_text(self):
        return self._read(self.error_log)

    def access_log_text(self):
        return self._read(self.access_log)

    def access_lines(self):
        return [l for l in self.access_log_text().split("\n") if l]

    def wait_access_lines(self, n, timeout=3.0, source=None):
        """Waits until the access log (or `source()` text) has >= n lines."""
        src = source or self.access_log_text

        def lines():
            ls = [l for l in src().split("\n") if l]
            return ls if len(ls) >= n else None

        got = wait_for(lines, scaled(timeout))
        return got if got else [l for l in src().split("\n") if l]

    # -- stopping ---------------------------------------------------------

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        return time.monotonic()

    def wait_exit(self, timeout):
        """Waits up to timeout for the process to exit; returns its status or
        None when still running."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.returncode = rc
        self._close_files()
        return rc

    def stop(self, timeout=None):
        """SIGTERM, wait (shutdown_timeout + margin), then SIGKILL. Returns
        the exit status. Idempotent."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if timeout is None:
                timeout = self.shutdown_timeout_s() + scaled(5.0)
            t0 = time.monotonic()
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.proc.kill()
                self.proc.wait(10)
            self.stop_seconds = time.monotonic() - t0
        self.returncode = self.proc.returncode
        self._close_files()
        return self.returncode

    def sanitizer_report(self):
        err = self.stderr_text()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer"):
            if marker in err:
                return err
        return None

    def crash_problems(self):
        """Problems with how the (stopped) process ended, as a list of text."""
        problems = []
        if self.killed:
            problems.append("iridium did not exit within %.1fs of SIGTERM and was killed"
                            % (self.shutdown_timeout_s() + scaled(5.0)))
        elif self.returncode != 0:
            rc = self.returncode
            how = ("killed by signal %d (%s)" % (-rc, signal.Signals(-rc).name)) if rc < 0 \
                else "exit status %d" % rc
            problems.append("iridium ended with %s, expected exit status 0 after SIGTERM" % how)
        if (self.stop_seconds is not None and self.expect_prompt_stop and not self.killed
                and self.stop_seconds > scaled(3.0)):
            problems.append("iridium took %.1fs to exit after SIGTERM although the test had "
                            "finished and closed all its connections: a connection whose client "
                            "had gone was still held (see the error log)" % self.stop_seconds)
        rep = self.sanitizer_report()
        if rep:
            problems.append("sanitizer report on stderr:\n" + rep[-6000:])
        return problems

    def assert_clean_exit(self):
        problems = self.crash_problems()
        if problems:
            raise AssertionError("\n".join(problems) + self.diagnostics())

    def diagnostics(self):
        def tail(t, n=3000):
            return t[-n:] if t else "(empty)"
        return ("\n--- iridium temp dir: %s\n--- stderr (tail):\n%s\n--- error log (tail):\n%s\n"
                % (self.tmp, tail(self.stderr_text()), tail(self.error_log_text())))

    def cleanup(self, keep=False):
        if keep or os.environ.get("IRIDIUM_TEST_KEEP_TMP"):
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            self._close_files()
            raise

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        problems = self.crash_problems()
        if exc_type is not None:
            # The test failed already: keep its error, add ours as context.
            print("\n[harness] test failed while the server ran; exit status %s%s%s"
                  % (self.returncode, ("; " + "; ".join(problems)) if problems else "",
                     self.diagnostics()), file=sys.stderr)
            self.cleanup(keep=True)
            return False
        if problems:
            self.cleanup(keep=True)
            raise AssertionError("\n".join(problems) + self.diagnostics())
        self.cleanup()
        return False


def start_shared_server(**kw):
    """A Server started for a whole test module (setUpModule); stop it with
    stop_shared_server in tearDownModule."""
    check_environment()
    srv = Server(**kw)
    srv.__enter__()
    return srv


def stop_shared_server(srv):
    if srv is not None:
        srv.__exit__(None, None, None)


def run_iridium(args, timeout=10.0):
    """Runs the binary with args (no server kept); returns CompletedProcess
    with text stdout/stderr."""
    return subprocess.run([IRIDIUM_BIN] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=scaled(timeout),
                          errors="replace")


# --------------------------------------------------------------------------
# Sockets and HTTP/1.1


def connect(port, timeout=5.0):
    s = socket.create_connection((HOST, port), timeout=scaled(timeout))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def build_request(method="GET", target="/hello", headers=None, body=b"", version="HTTP/1.1",
                  host=True, content_length=None):
    """Bytes of a request. headers is a list of (name, value); Host is added
    unless host=False; Content-Length is added when there is a body and no
    Content-Length/Transfer-Encoding header (or given explicitly)."""
    if isinstance(body, str):
        body = body.encode()
    hs = list(headers or [])
    names = {n.lower() for n, _ in hs}
    lines = ["%s %s %s" % (method, target, version)]
    if host and "host" not in names:
        lines.append("Host: 127.0.0.1")
    for n, v in hs:
        lines.append("%s: %s" % (n, v))
    if content_length is not None:
        lines.append("Content-Length: %d" % content_length)
    elif body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(body, sizes=(1000,), ext=False, trailers=None):
    """body encoded as chunks whose sizes cycle through `sizes`."""
    out = []
    i = 0
    k = 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        k += 1
        piece = body[i:i + n]
        i += n
        out.append(b"%x%s\r\n" % (len(piece), b";name=val" if ext else b"") + piece + b"\r\n")
    out.append(b"0\r\n")
    for n, v in (trailers or []):
        out.append(("%s: %s\r\n" % (n, v)).encode())
    out.append(b"\r\n")
    return b"".join(out)


class ConnectionClosed(Exception):
    """The peer closed (how = 'eof' or 'reset') before a response began."""

    def __init__(self, how, partial=b""):
        super().__init__("connection closed (%s) before a response; partial bytes: %r"
                         % (how, partial[:200]))
        self.how = how
        self.partial = partial


class IncompleteResponse(Exception):
    pass


class ResponseTimeout(Exception):
    pass


class Response:
    def __init__(self, version, status, reason, headers, body=b"", raw_head=b""):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lowercase name, value)
        self.body = body
        self.raw_head = raw_head
        self.trailers = []
        self.chunked = False

    def header(self, name):
        name = name.lower()
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    def tokens(self, name):
        out = []
        for v in self.header_all(name):
            out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def __repr__(self):
        return "<Response %s %d %r headers=%r body=%d bytes>" % (
            self.version, self.status, self.reason, self.headers, len(self.body))


class HTTPReader:
    """Reads HTTP/1.x responses off a socket, one at a time, in order."""

    def __init__(self, sock, timeout=10.0):
        self.sock = sock
        self.buf = b""
        self.timeout = scaled(timeout)
        self.closed = None  # 'eof' or 'reset' once seen
        self.interim = []   # 1xx responses skipped by read_response

    def _fill(self, deadline):
        """Reads more bytes; returns False at EOF/reset."""
        if self.closed:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise ResponseTimeout("no complete response within %.1fs; have %d bytes: %r"
                                  % (self.timeout, len(self.buf), self.buf[:300]))
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(262144)
        except (socket.timeout, TimeoutError):
            raise ResponseTimeout("no complete response within %.1fs; have %d bytes: %r"
                                  % (self.timeout, len(self.buf), self.buf[:300]))
        except ConnectionResetError:
            self.closed = "reset"
            return False
        if not data:
            self.closed = "eof"
            return False
        self.buf += data
        return True

    def _need(self, n, deadline, what):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise IncompleteResponse("connection closed (%s) in the middle of %s" %
                                         (self.closed, what))

    def _line(self, deadline, what):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = self.buf[:i]
                self.buf = self.buf[i + 2:]
                return line
            if len(self.buf) > 1 << 20:
                raise IncompleteResponse("line too long in " + what)
            if not self._fill(deadline):
                raise IncompleteResponse("connection closed (%s) in the middle of %s" %
                                         (self.closed, what))

    def read_head(self, deadline=None):
        deadline = deadline or time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                if not self.buf:
                    raise ConnectionClosed(self.closed)
                raise IncompleteResponse("connection closed (%s) inside a response head: %r"
                                         % (self.closed, self.buf[:300]))
        i = self.buf.index(b"\r\n\r\n")
        head = self.buf[:i]
        self.buf = self.buf[i + 4:]
        lines = head.split(b"\r\n")
        m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise AssertionError("malformed status line %r" % lines[0])
        headers = []
        for l in lines[1:]:
            if b":" not in l:
                raise AssertionError("malformed response header line %r" % l)
            n, v = l.split(b":", 1)
            headers.append((n.decode("latin-1").lower(), v.strip().decode("latin-1")))
        return Response(m.group(1).decode(), int(m.group(2)),
                        (m.group(3) or b"").decode("latin-1"), headers, raw_head=head)

    def read_response(self, method="GET", interim=False, timeout=None):
        """The next response. 1xx responses are returned when interim=True,
        else kept in self.interim and skipped."""
        deadline = time.monotonic() + (scaled(timeout) if timeout else self.timeout)
        while True:
            r = self.read_head(deadline)
            if 100 <= r.status < 200:
                if interim:
                    return r
                self.interim.append(r)
                continue
            break
        if method == "HEAD" or r.status in (204, 304):
            return r
        te = r.tokens("transfer-encoding")
        cl = r.header_all("content-length")
        if te:
            if te[-1] != "chunked":
                raise AssertionError("response with Transfer-Encoding %r" % te)
            r.chunked = True
            body = []
            while True:
                line = self._line(deadline, "a chunk size")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:
                        t = self._line(deadline, "trailers")
                        if not t:
                            break
                        n, v = t.split(b":", 1)
                        r.trailers.append((n.decode().lower(), v.strip().decode()))
                    break
                self._need(size + 2, deadline, "a chunk")
                body.append(self.buf[:size])
                if self.buf[size:size + 2] != b"\r\n":
                    raise AssertionError("chunk not followed by CRLF: %r" % self.buf[size:size + 10])
                self.buf = self.buf[size + 2:]
            r.body = b"".join(body)
        elif cl:
            if len(set(cl)) != 1:
                raise AssertionError("response with several Content-Length: %r" % cl)
            n = int(cl[0])
            self._need(n, deadline, "a body of %d bytes (Content-Length)" % n)
            r.body = self.buf[:n]
            self.buf = self.buf[n:]
        else:
            # delimited by close
            while self._fill(deadline):
                pass
            r.body = self.buf
            self.buf = b""
        return r

    def wait_closed(self, timeout=3.0):
        """Waits for the peer to close. Returns (how, extra_bytes) with how in
        'eof', 'reset' or 'timeout'."""
        deadline = time.monotonic() + scaled(timeout)
        extra = self.buf
        self.buf = b""
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout", extra
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return "timeout", extra
            except ConnectionResetError:
                self.closed = "reset"
                break
            if not d:
                self.closed = "eof"
                break
            extra += d
        return self.closed, extra


def recv_until_close(sock, timeout):
    """All bytes until the peer closes or timeout. Returns (data, how) with
    how in 'eof', 'reset', 'timeout'."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, "timeout"
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return data, "timeout"
        except ConnectionResetError:
            return data, "reset"
        if not d:
            return data, "eof"
        data += d


def raw_exchange_ex(port, data, timeout=5.0):
    """Connects, sends data, returns (all bytes received, how it ended)."""
    s = connect(port)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return recv_until_close(s, scaled(timeout))
    finally:
        s.close()


def raw_exchange(port, data, timeout=5.0):
    """All bytes the server sends until it closes or timeout."""
    return raw_exchange_ex(port, data, timeout)[0]


class _BytesSock:
    def __init__(self, data):
        self.data = data

    def settimeout(self, t):
        pass

    def recv(self, n):
        d, self.data = self.data[:n], self.data[n:]
        return d


def parse_responses(data, methods=None):
    """Parses every response in data (a complete capture). Returns a list."""
    rd = HTTPReader(_BytesSock(data))
    out = []
    i = 0
    while True:
        try:
            m = methods[i] if methods and i < len(methods) else "GET"
            out.append(rd.read_response(m))
            i += 1
        except ConnectionClosed:
            return out


def http_request(port, method="GET", target="/hello", headers=None, body=b"", timeout=10.0):
    """One request on a fresh connection; returns the Response."""
    s = connect(port)
    try:
        s.sendall(build_request(method, target, headers, body))
        return HTTPReader(s, timeout).read_response(method)
    finally:
        s.close()


def assert_serving(tc, srv, msg=""):
    """A fresh client gets a 200 from /hello (default route)."""
    try:
        r = http_request(srv.port, "GET", "/hello")
    except Exception as e:  # noqa: BLE001 - report what happened
        tc.fail("server no longer serves a fresh client %s: %s: %s%s"
                % (msg, type(e).__name__, e, srv.diagnostics()))
    tc.assertEqual(r.status, 200, "fresh GET /hello after %s: %r" % (msg, r))
    tc.assertTrue(srv.alive(), "server died " + msg)


# --------------------------------------------------------------------------
# External clients


def run_cmd(args, timeout, input_bytes=None):
    """Runs a command with a time bound; returns CompletedProcess (bytes)."""
    return subprocess.run(args, input=input_bytes, capture_output=True, timeout=timeout)


def curl(args, timeout=20.0):
    """curl with -sS and the given args; returns CompletedProcess (bytes)."""
    return run_cmd(["curl", "-sS", "--max-time", str(int(scaled(timeout)))] + list(args),
                   scaled(timeout) + 10)


H2LOAD_REQ_RE = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                           r"(\d+) failed, (\d+) errored(?:, (\d+) timeout)?")
H2LOAD_STATUS_RE = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")


def parse_h2load(text):
    m = H2LOAD_REQ_RE.search(text)
    if not m:
        return None
    keys = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
    d = {k: int(v) if v is not None else 0 for k, v in zip(keys, m.groups())}
    s = H2LOAD_STATUS_RE.search(text)
    if s:
        d.update(zip(("2xx", "3xx", "4xx", "5xx"), map(int, s.groups())))
    return d


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def port_refuses(port, timeout=1.0):
    """True when a connect to port is refused (nothing listening)."""
    try:
        s = socket.create_connection((HOST, port), timeout=timeout)
    except ConnectionRefusedError:
        return True
    except OSError as e:
        return e.errno == errno.ECONNREFUSED
    s.close()
    return False


def sock_is_closed(sock, timeout=0.0):
    """(closed?, how) by a non-consuming peek."""
    r, _, _ = select.select([sock], [], [], timeout)
    if not r:
        return False, None
    try:
        d = sock.recv(1, socket.MSG_PEEK)
    except ConnectionResetError:
        return True, "reset"
    return (d == b""), ("eof" if d == b"" else "data")
