"""static_common.py — pieces shared by the static module's tests
(test_static_*.py) and tests/bench/static_bench.py.

  StaticServer  h2client.H2Server loading static.so on [route /] (plus the
                hello module on /hello): a cleartext listener (HTTP/1.1 and
                h2c) on srv.port and a TLS one (h2 and HTTP/1.1 by ALPN) on
                srv.tls_port.
  fetch()       one request with curl over one of four VARIANTS (HTTP/1.1,
                h2c by prior knowledge, h2 over TLS, HTTP/1.1 over TLS);
                status, protocol version, headers and body.
  Nginx         Debian's /usr/sbin/nginx on loopback with a temp config,
                one process (master_process off), logs in its temp folder.
  Lighttpd      Debian's /usr/sbin/lighttpd the same way (server.max-worker
                = 0), for the benchmark.

Every wait is bounded (harness.scaled) and only 127.0.0.1 is used.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import harness as H
import h2client as C

STATIC_SO = os.path.join(H.MODULES_DIR, "static.so")
NGINX_BIN = "/usr/sbin/nginx"
LIGHTTPD_BIN = "/usr/sbin/lighttpd"


def check_static_environment(need=()):
    """Fails loudly (exit 1) when the binary, static.so or one of the tools
    in `need` is missing: nothing is skipped silently."""
    H.check_environment()
    problems = []
    if not os.path.exists(STATIC_SO):
        problems.append("%s is missing (modules/static is not built)" % STATIC_SO)
    for tool in need:
        if not (os.access(tool, os.X_OK) if os.path.isabs(tool) else shutil.which(tool)):
            problems.append("%s is not installed (bash .ci/dev deps installs it)" % tool)
    if problems:
        for p in problems:
            print("static test setup: " + p, file=sys.stderr)
        sys.exit(1)


# --------------------------------------------------------------------------
# Files


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def set_mtime(path, t):
    """A fixed, whole-second mtime (HTTP dates have one-second resolution)."""
    os.utime(path, (t, t), follow_symlinks=False)


# --------------------------------------------------------------------------
# Iridium with the static module


class StaticServer(C.H2Server):
    """routes: extra (prefix, keys) routes added before the static one;
    static_keys: the keys of [route /] besides module (root is required)."""

    def __init__(self, static_keys, routes=(), server=None, tls=True, **kw):
        rs = [("/hello", {"module": "hello", "greeting": H.DEFAULT_GREETING})]
        rs += list(routes)
        keys = {"module": "static"}
        keys.update(static_keys)
        rs.append(("/", keys))
        settings = {"max_body_size": "1m"}
        settings.update(server or {})
        listeners = [{"tls": True, "protocols": "h2, http/1.1"}] if tls else []
        super().__init__(server=settings, routes=rs, modules=["hello", "static"],
                         protocols="http/1.1, h2c", listeners=listeners, **kw)
        self.has_tls = tls

    @property
    def tls_port(self):
        return self.ports[0] if self.has_tls else None

    def start(self):
        super().start()
        for port in self.ports:
            if not H.wait_for(lambda: not H.port_refuses(port), self.start_timeout):
                self.proc.kill()
                self.proc.wait(10)
                self._close_files()
                raise H.ServerStartError("listener on port %d does not accept; stderr:\n%s"
                                         % (port, self.stderr_text()))
        return self


# --------------------------------------------------------------------------
# curl over the four protocol variants

# name -> (scheme, curl protocol flags, the %{http_version} curl reports)
VARIANTS = {
    "http1.1": ("http", ["--http1.1"], "1.1"),
    "h2c": ("http", ["--http2-prior-knowledge"], "2"),
    "h2-tls": ("https", ["--http2", "-k"], "2"),
    "http1.1-tls": ("https", ["--http1.1", "-k"], "1.1"),
}


def url_of(srv, variant, path):
    scheme = VARIANTS[variant][0]
    port = srv.tls_port if scheme == "https" else srv.port
    return "%s://127.0.0.1:%d%s" % (scheme, port, path)


class CurlResult:
    def __init__(self, status, version, headers, body, size_download=None):
        self.status = status
        self.version = version
        self.headers = headers  # [(lowercase name, value)] of the final response
        self.body = body
        self.size_download = size_download

    def header(self, name):
        for n, v in self.headers:
            if n == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def __repr__(self):
        return "<curl %s HTTP/%s headers=%r body=%d bytes>" % (self.status, self.version,
                                                               self.headers, len(self.body or b""))


def parse_header_dump(text):
    """The last response head in curl's -D output as [(name, value)]."""
    blocks = [b for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    if not blocks:
        return []
    out = []
    for line in blocks[-1].splitlines()[1:]:
        if ":" in line:
            n, v = line.split(":", 1)
            out.append((n.strip().lower(), v.strip()))
    return out


WRITE_OUT = "%{stderr}@@curl %{http_code} %{http_version} %{size_download}@@\n"
WRITE_OUT_RE = re.compile(r"@@curl (\d+) (\S+) (\d+)@@")


def fetch(srv, variant, path, tmpdir, args=(), method=None, timeout=30.0):
    """One request with curl; returns a CurlResult. Fails (AssertionError)
    when curl itself fails. method 'HEAD' uses -I, which reads no body
    (and writes the head where the body would go): body is None then."""
    scheme, flags, _ = VARIANTS[variant]
    hdr = os.path.join(tmpdir, "curl-headers")
    body = os.path.join(tmpdir, "curl-body")
    for p in (hdr, body):
        if os.path.exists(p):
            os.unlink(p)
    cmd = list(flags) + ["-D", hdr, "-o", body, "-w", WRITE_OUT]
    if method == "HEAD":
        cmd.append("-I")
    elif method:
        cmd += ["-X", method]
    cmd += list(args) + [url_of(srv, variant, path)]
    p = H.curl(cmd, timeout=timeout)
    err = p.stderr.decode("utf-8", "replace")
    m = WRITE_OUT_RE.search(err)
    if p.returncode != 0 or not m:
        raise AssertionError("curl %s failed (exit %d): %s" % (" ".join(cmd), p.returncode, err))
    with open(hdr, "r", encoding="latin-1") as f:
        headers = parse_header_dump(f.read())
    data = b""
    if method == "HEAD":
        data = None
    elif os.path.exists(body):
        with open(body, "rb") as f:
            data = f.read()
    return CurlResult(int(m.group(1)), m.group(2), headers, data, int(m.group(3)))


def fetch_stream_sha256(srv, variant, path, tmpdir, on_chunk=None, timeout=300.0):
    """GET with curl, the body streamed from curl's stdout into sha256 (for
    large files: nothing is kept). Returns (CurlResult without body, size,
    hex digest). on_chunk() is called between reads."""
    import hashlib
    _, flags, _ = VARIANTS[variant]
    hdr = os.path.join(tmpdir, "curl-headers")
    cmd = ["curl", "-sS", "--max-time", str(int(H.scaled(timeout)))] + list(flags) + \
        ["-D", hdr, "-o", "-", "-w", WRITE_OUT, url_of(srv, variant, path)]
    h = hashlib.sha256()
    n = 0
    errf = tempfile.TemporaryFile()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL)
    try:
        while True:
            b = p.stdout.read(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
            if on_chunk:
                on_chunk()
        rc = p.wait(H.scaled(timeout) + 10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        p.stdout.close()
    errf.seek(0)
    err = errf.read().decode("utf-8", "replace")
    errf.close()
    m = WRITE_OUT_RE.search(err)
    if rc != 0 or not m:
        raise AssertionError("curl %s failed (exit %d) after %d bytes: %s"
                             % (" ".join(cmd), rc, n, err))
    with open(hdr, "r", encoding="latin-1") as f:
        headers = parse_header_dump(f.read())
    return CurlResult(int(m.group(1)), m.group(2), headers, None, int(m.group(3))), n, h.hexdigest()


# --------------------------------------------------------------------------
# Reference servers


def _wait_port(proc, port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            s = socket.create_connection((H.HOST, port), timeout=0.5)
            s.close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def proc_tree(pid):
    """pid and its descendants (from /proc), for CPU accounting."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def cpu_ticks(pids):
    """utime + stime (clock ticks) summed over pids (all threads of each)."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)
    return total


class _RefServer:
    """A reference server process with its own temp folder."""

    name = "?"

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="iridium-ref-%s-" % self.name)
        self.proc = None
        self.ports = {}
        self._out = None

    def command(self):
        raise NotImplementedError

    def write_config(self):
        raise NotImplementedError

    def error_log_text(self):
        return ""

    def start(self, timeout=10.0):
        for _attempt in range(3):
            self.ports = {}
            self.write_config()
            self._out = open(os.path.join(self.tmp, "output"), "wb")
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=self._out, stderr=subprocess.STDOUT,
                                         cwd=self.tmp)
            ok = all(_wait_port(self.proc, p, H.scaled(timeout)) for p in self.ports.values())
            if ok:
                return self
            text = self.output_text()
            self.stop()
            if "in use" in text:
                continue
            raise H.ServerStartError("%s did not start (ports %r):\n%s\n%s\nconfig:\n%s"
                                     % (self.name, self.ports, text, self.error_log_text(),
                                        self.config_text()))
        raise H.ServerStartError("%s: no free ports" % self.name)

    def output_text(self):
        try:
            with open(os.path.join(self.tmp, "output"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def config_text(self):
        try:
            with open(self.config_path, encoding="utf-8") as f:
                return f.read()
        except (OSError, AttributeError):
            return ""

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(H.scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._out:
            self._out.close()
            self._out = None

    def cleanup(self):
        if not os.environ.get("IRIDIUM_TEST_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()
        self.cleanup()
        return False


class Nginx(_RefServer):
    """nginx, one process, on loopback ports.

    listens: {name: "" | "http2" | "ssl http2" | "ssl"}: one `listen
             127.0.0.1:PORT FLAGS` each; srv.ports[name] after start
    http:    extra lines for the http block; server: for the server block
    """

    name = "nginx"

    def __init__(self, root, listens=None, http="", server="", access_log=True, cert=None):
        super().__init__()
        self.root = root
        self.listens = dict(listens or {"main": ""})
        self.http = http
        self.server = server
        self.access_log = access_log
        self.cert = cert
        self.config_path = os.path.join(self.tmp, "nginx.conf")
        self.error_log = os.path.join(self.tmp, "error.log")

    def command(self):
        return [NGINX_BIN, "-p", self.tmp + "/", "-c", self.config_path, "-e", self.error_log]

    def error_log_text(self):
        try:
            with open(self.error_log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def write_config(self):
        t = self.tmp
        listen_lines = []
        for name, flags in self.listens.items():
            port = H.free_port()
            self.ports[name] = port
            listen_lines.append("    listen %s:%d%s;"
                                % (H.HOST, port, (" " + flags) if flags else ""))
        tls = ""
        if any("ssl" in f for f in self.listens.values()):
            cert, key = self.cert or C.test_cert()
            tls = "    ssl_certificate %s;\n    ssl_certificate_key %s;\n" % (cert, key)
        conf = """daemon off;
master_process off;
worker_processes 1;
pid %(t)s/nginx.pid;
error_log %(t)s/error.log warn;
events { worker_connections 1024; }
http {
    %(access)s
    client_body_temp_path %(t)s/client_body;
    proxy_temp_path %(t)s/proxy;
    fastcgi_temp_path %(t)s/fastcgi;
    uwsgi_temp_path %(t)s/uwsgi;
    scgi_temp_path %(t)s/scgi;
    types {
        text/html html;
        text/plain txt;
        text/css css;
        application/octet-stream bin;
    }
    default_type application/octet-stream;
    etag on;
%(http)s
    server {
%(listens)s
%(tls)s        server_name localhost;
        root %(root)s;
%(server)s
    }
}
""" % {"t": t, "http": self.http,
       "access": ("access_log %s/access.log;" % t) if self.access_log else "access_log off;", "listens": "\n".join(listen_lines), "tls": tls, "root": self.root,
       "server": self.server}
        with open(self.config_path, "w") as f:
            f.write(conf)


class Lighttpd(_RefServer):
    """lighttpd 1.4.69, one process (server.max-worker = 0), a cleartext
    port (HTTP/1.1 and h2c by prior knowledge; HTTP/2 is on by default) and,
    with cert, a TLS port (mod_openssl). extra: more config lines."""

    name = "lighttpd"

    def __init__(self, root, cert=None, key=None, access_log=False, extra=()):
        super().__init__()
        self.root = root
        self.cert, self.key = cert, key
        self.access_log = access_log
        self.extra = list(extra)
        self.config_path = os.path.join(self.tmp, "lighttpd.conf")

    def command(self):
        return [LIGHTTPD_BIN, "-D", "-f", self.config_path]

    def error_log_text(self):
        try:
            with open(os.path.join(self.tmp, "error.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def write_config(self):
        self.ports["main"] = H.free_port()
        modules = []
        if self.cert:
            modules.append('"mod_openssl"')
            self.ports["tls"] = H.free_port()
        if self.access_log:
            modules.append('"mod_accesslog"')
        lines = [
            'server.document-root = "%s"' % self.root,
            'server.bind = "%s"' % H.HOST,
            "server.port = %d" % self.ports["main"],
            'server.errorlog = "%s/error.log"' % self.tmp,
            "server.max-worker = 0",
            'server.modules = (%s)' % ", ".join(modules),
            'index-file.names = ("index.html")',
            'mimetype.assign = (".html" => "text/html", ".txt" => "text/plain", '
            '".css" => "text/css", ".bin" => "application/octet-stream")',
        ]
        if self.access_log:
            lines.append('accesslog.filename = "%s/access.log"' % self.tmp)
        if self.cert:
            lines += ['$SERVER["socket"] == "%s:%d" {' % (H.HOST, self.ports["tls"]),
                      '    ssl.engine = "enable"',
                      '    ssl.pemfile = "%s"' % self.cert,
                      '    ssl.privkey = "%s"' % self.key,
                      "}"]
        lines += self.extra
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
