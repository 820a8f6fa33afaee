#!/usr/bin/python3
"""ws_bench.py — WebSocket echo benchmark: Iridium's mod_websocket beside the
npm `ws` echo server (Node) and lighttpd's mod_wstunnel, in one run. Run by
hand, not by ctest (see README.md beside this file):

    /usr/bin/python3 tests/bench/ws_bench.py [--quick]

For each server, protocol (HTTP/1.1: 100 connections; HTTP/2: 100 extended
CONNECT streams, on one h2c connection where the server's
SETTINGS_MAX_CONCURRENT_STREAMS allows) and permessage-deflate (offered or
not), the load client tests/bench/ws_load keeps one 64-byte binary message in
flight per session and reports round trips per second, p50/p99 latency, and
the server's CPU time (utime + stime of /proc/PID/stat, all threads) over the
measured window divided by the messages echoed. Then RSS per idle session:
a fresh server, 10,000 sessions opened and left idle, VmRSS after minus
before, divided by 10,000. The servers run on CPU 0, the client (and the
tunnels' TCP echo backend) on CPU 1, one server at a time, each on its own
loopback ports with a temp config; every process started is stopped at the
end, also on errors and Ctrl-C.
"""

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402

NODE_SERVER = os.path.join(REPO, "tests", "js", "ws_echo_server.js")
WS_MODULE = os.path.join(REPO, "tests", "js", "node_modules", "ws")
LIGHTTPD_BIN = "/usr/sbin/lighttpd"
WSTUNNEL_SO = "/usr/lib/lighttpd/mod_wstunnel.so"
NOFILE = 65536

SERVER_CPU = {0}
CLIENT_CPU = {1}


def nofile():
    """This process's RLIMIT_NOFILE soft limit, which its children inherit."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def pinned(cpus):
    """Children started inside inherit this CPU set (threads they make later
    too); the script's own affinity is put back afterwards."""
    old = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def wait_port(proc, port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection((H.HOST, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def read_port_line(proc, timeout, what):
    """The N of a first stdout line "port N ..." of proc, as a dict."""
    deadline = time.monotonic() + timeout
    line = b""
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        if proc.poll() is not None:
            break
        try:
            chunk = proc.stdout.read(256)
        except BlockingIOError:
            chunk = None
        if chunk:
            line += chunk
        else:
            time.sleep(0.02)
    words = line.decode().split()
    if len(words) < 2:
        raise RuntimeError("%s did not print its port (got %r)" % (what, line))
    return {words[i]: int(words[i + 1]) for i in range(0, len(words) - 1, 2)}


def stop_proc(proc, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# --------------------------------------------------------------------------
# The TCP echo backend (ws_load backend), the same for every tunnel


class Backend:
    def __init__(self, ws_load):
        self.ws_load = ws_load
        self.proc = None
        self.port = None

    def start(self):
        with pinned(CLIENT_CPU):
            self.proc = subprocess.Popen([self.ws_load, "backend", "--port", "0"],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        self.port = read_port_line(self.proc, 10, "the echo backend")["port"]
        return self

    def stop(self):
        stop_proc(self.proc)


# --------------------------------------------------------------------------
# The servers. Each: start() -> {"h1": port, "h2": port}, pid, stop().


class Iridium:
    name = "iridium"
    label = "Iridium mod_websocket"

    def __init__(self, backend_port, h2_streams=256):
        self.srv = H.Server(
            server={"workers": "1", "access_log": "off", "log_level": "warn",
                    "max_connections": "30000", "h2_max_concurrent_streams": str(h2_streams),
                    "shutdown_timeout": "5s"},
            routes=[("/ws/echo", {"module": "websocket", "mode": "echo"}),
                    ("/ws/tunnel", {"module": "websocket", "mode": "tunnel",
                                    "backend": "%s:%d" % (H.HOST, backend_port)})],
            modules=["websocket"], protocols="http/1.1, h2c", start_timeout=15)

    def start(self):
        with pinned(SERVER_CPU):
            self.srv.start()
        return {"h1": self.srv.port, "h2": self.srv.port}

    @property
    def pid(self):
        return self.srv.pid

    def paths(self, kind):
        return "/ws/tunnel" if kind == "tunnel" else "/ws/echo"

    def stop(self):
        if self.srv.proc is None:
            return
        self.srv.stop()
        problems = self.srv.crash_problems()
        if problems:
            log("iridium: " + "; ".join(problems) + self.srv.diagnostics())
        self.srv.cleanup(keep=bool(problems))


class NodeWs:
    name = "node-ws"
    label = "npm ws %s on Node %s"

    def __init__(self, backend_port=None, h2_streams=None):
        self.proc = None
        self.tmp = None

    def start(self):
        with pinned(SERVER_CPU):
            self.proc = subprocess.Popen(["node", NODE_SERVER, "--port", "0", "--deflate",
                                          "--h2"], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE)
        ports = read_port_line(self.proc, 15, "the Node echo server")
        return {"h1": ports["port"], "h2": ports["h2port"]}

    @property
    def pid(self):
        return self.proc.pid

    def paths(self, kind):
        return "/ws/echo"

    def stop(self):
        stop_proc(self.proc)


class LighttpdWstunnel:
    name = "lighttpd"
    label = "lighttpd %s mod_wstunnel"

    def __init__(self, backend_port, h2_streams=None):
        self.backend_port = backend_port
        self.tmp = tempfile.mkdtemp(prefix="iridium-wsbench-lighttpd-")
        self.proc = None

    def start(self):
        for _attempt in range(3):
            port = H.free_port()
            conf = os.path.join(self.tmp, "lighttpd.conf")
            with open(conf, "w") as f:
                f.write("\n".join([
                    'server.document-root = "%s"' % self.tmp,
                    'server.bind = "%s"' % H.HOST,
                    "server.port = %d" % port,
                    'server.errorlog = "%s/error.log"' % self.tmp,
                    "server.max-worker = 0",
                    "server.max-fds = %d" % nofile(),
                    "server.max-connections = %d" % (nofile() // 2 - 10),
                    'server.modules = ("mod_wstunnel")',
                    'wstunnel.server = ( "/ws/" => ( ( "host" => "%s", "port" => %d ) ) )'
                    % (H.HOST, self.backend_port),
                    'wstunnel.frame-type = "binary"',
                ]) + "\n")
            with pinned(SERVER_CPU):
                self.proc = subprocess.Popen([LIGHTTPD_BIN, "-D", "-f", conf],
                                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL, cwd=self.tmp)
            if wait_port(self.proc, port, 10):
                return {"h1": port, "h2": port}
            stop_proc(self.proc)
        raise RuntimeError("lighttpd did not start; error log:\n%s" % self.error_log())

    def error_log(self):
        try:
            with open(os.path.join(self.tmp, "error.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    @property
    def pid(self):
        return self.proc.pid

    def paths(self, kind):
        return "/ws/tunnel"

    def stop(self):
        stop_proc(self.proc)
        shutil.rmtree(self.tmp, ignore_errors=True)


def versions():
    v = {}
    try:
        with open(os.path.join(WS_MODULE, "package.json")) as f:
            v["ws"] = json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        v["ws"] = "?"
    try:
        v["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True,
                                   timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        v["node"] = "?"
    try:
        out = subprocess.run([LIGHTTPD_BIN, "-v"], capture_output=True, text=True,
                             timeout=10).stdout
        v["lighttpd"] = out.split()[0].split("/")[-1] if out else "?"
    except (OSError, subprocess.TimeoutExpired, IndexError):
        v["lighttpd"] = "?"
    return v


# --------------------------------------------------------------------------
# Cases


# (row name, server class, route kind)
SERVERS = {
    "iridium": ("iridium", Iridium, "echo"),
    "iridium-tunnel": ("iridium", Iridium, "tunnel"),
    "node-ws": ("node-ws", NodeWs, "echo"),
    "lighttpd": ("lighttpd", LighttpdWstunnel, "tunnel"),
}
PROTOCOLS = ("h1", "h2")


def client(ws_load, args, timeout, stdin=None):
    with pinned(CLIENT_CPU):
        return subprocess.Popen([ws_load] + [str(a) for a in args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=stdin or subprocess.DEVNULL)


def run_client(ws_load, args, timeout):
    p = client(ws_load, args, timeout)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(10)
        raise RuntimeError("ws_load %s: no answer within %ds" % (" ".join(map(str, args)), timeout))
    lines = [l for l in out.decode().split("\n") if l.startswith("{")]
    if not lines:
        raise RuntimeError("ws_load %s printed no result (exit %d): %s"
                           % (" ".join(map(str, args)), p.returncode, err.decode()[-1000:]))
    return json.loads(lines[-1])


def echo_case(ws_load, srv, ports, row, kind, proto, deflate, a):
    args = ["echo", "--port", ports[proto], "--path", srv.paths(kind), "--sessions", a.sessions,
            "--size", a.size, "--seconds", a.seconds, "--warmup", a.warmup, "--pid", srv.pid]
    if proto == "h2":
        args.append("--h2")
    if deflate:
        args.append("--deflate")
    r = run_client(ws_load, args, timeout=int(a.seconds + a.warmup + 60))
    r.update(row=row, kind=kind, proto=proto, offered=deflate)
    note = []
    if r["error"]:
        note.append(r["error"])
    if r["opened"] < a.sessions:
        note.append("%d of %d sessions opened" % (r["opened"], a.sessions))
    if deflate and r["deflate"] == 0 and r["opened"]:
        note.append("permessage-deflate not negotiated")
        r["no_deflate"] = True
    elif deflate and r["deflate"] < r["opened"]:
        note.append("deflate on %d of %d" % (r["deflate"], r["opened"]))
    r["note"] = "; ".join(note)
    rtt = max(r.get("rtt", 0), 1)
    secs = max(r.get("seconds", 0), 1e-9)
    r["cpu_us"] = r.get("server_ticks", 0) * 1e6 / r.get("clk_tck", 100) / rtt
    r["server_pct"] = r.get("server_ticks", 0) * 100.0 / r.get("clk_tck", 100) / secs
    r["client_pct"] = r.get("client_cpu_s", 0) * 100.0 / secs
    r["failed_case"] = bool(r["error"]) or r["opened"] < a.sessions or r.get("rtt", 0) == 0
    return r


def deflate_probe(ws_load, ports, path, proto):
    """Whether the server accepts permessage-deflate: one session, offered."""
    args = ["idle", "--port", ports[proto], "--path", path, "--sessions", 1, "--deflate",
            "--hold", 0]
    if proto == "h2":
        args.append("--h2")
    r = run_client(ws_load, args, timeout=30)
    return r["opened"] == 1 and r["deflate"] == 1


# Idle variants: (ws_load flags, what the table says)
IDLE_VARIANTS = {
    "off": ([], "WebSocket, no extension"),
    "plain": (["--plain"], "no upgrade: a plain GET (426), then keep-alive"),
    "deflate": (["--deflate"], "permessage-deflate negotiated, no message yet"),
    "deflate-1msg": (["--deflate", "--echo-once"], "permessage-deflate, after one "
                     "64-byte round trip each (zlib contexts made)"),
}


def idle_case(ws_load, cls, backend_port, row, kind, proto, n, variant, a):
    """A fresh server; a warm-up of 100 sessions opened and closed; RSS; n
    sessions opened and held; RSS again after a settle."""
    deflate = "deflate" in variant
    srv = cls(backend_port, h2_streams=max(256, n + 16))
    try:
        ports = srv.start()
        path = srv.paths(kind)
        base = ["idle", "--port", ports[proto], "--path", path, "--concurrency", 200,
                "--connect-timeout", 60]
        if proto == "h2":
            base.append("--h2")
        base += IDLE_VARIANTS[variant][0]
        run_client(ws_load, base + ["--sessions", 100, "--hold", 0], timeout=60)
        time.sleep(0.5)
        before = rss_kib(srv.pid)
        p = client(ws_load, base + ["--sessions", n, "--hold", 120], timeout=120,
                   stdin=subprocess.PIPE)
        try:
            line = b""
            deadline = time.monotonic() + 90
            os.set_blocking(p.stdout.fileno(), False)
            while time.monotonic() < deadline and not line.endswith(b"\n") and p.poll() is None:
                try:
                    chunk = p.stdout.read(4096)
                except BlockingIOError:
                    chunk = None
                if chunk:
                    line += chunk
                else:
                    time.sleep(0.05)
            if not line.strip():
                raise RuntimeError("ws_load idle printed nothing: %s" % p.stderr.read(2000))
            r = json.loads(line.decode().strip().split("\n")[-1])
            time.sleep(a.settle)
            after = rss_kib(srv.pid)
            open_after = r["opened"]
            # still all open? (the client notes any close it saw)
        finally:
            try:
                p.stdin.write(b"\n")
                p.stdin.close()
            except OSError:
                pass
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
            rest = p.stdout.read() if p.stdout else b""
            del rest
        note = []
        if r["error"]:
            note.append(r["error"])
        if open_after < n:
            note.append("%d of %d opened" % (open_after, n))
        if deflate and r["deflate"] < r["opened"]:
            note.append("deflate on %d of %d" % (r["deflate"], r["opened"]))
        return {"row": row, "kind": kind, "proto": proto, "n": n, "opened": open_after,
                "variant": variant, "conns": r["connections"], "before": before, "after": after,
                "kib": (after - before) / max(open_after, 1), "note": "; ".join(note),
                "open_s": r.get("open_seconds", 0), "failed_case": bool(note)}
    finally:
        srv.stop()


# --------------------------------------------------------------------------
# Output


def fmt_ms(us):
    return "%.2f" % (us / 1000.0)


def echo_table(results, a):
    out = []
    head = ("%-15s %-3s %-7s %6s %5s %9s %8s %8s %10s %7s %7s  %s"
            % ("server", "pro", "deflate", "sess", "conns", "rt/s", "p50 ms", "p99 ms",
               "CPU us/msg", "srv CPU", "cli CPU", "note"))
    out.append(head)
    out.append("-" * len(head))
    for r in results:
        if r.get("skipped"):
            out.append("%-15s %-3s %-7s %s" % (r["row"], r["proto"], "on" if r["offered"] else
                                                "off", r["note"]))
            continue
        out.append("%-15s %-3s %-7s %6d %5d %9.0f %8s %8s %10.2f %6.0f%% %6.0f%%  %s"
                   % (r["row"], r["proto"], ("on" if r["deflate"] else "offered")
                      if r["offered"] else "off", r["opened"], r["connections"],
                      r.get("rate", 0), fmt_ms(r.get("p50_us", 0)), fmt_ms(r.get("p99_us", 0)),
                      r["cpu_us"], r["server_pct"], r["client_pct"], r["note"]))
    return "\n".join(out)


def echo_ratios(results):
    by = {(r["row"], r["proto"], r["offered"]): r for r in results if not r.get("skipped")}
    out = ["Ratios Iridium / peer (rt/s: higher is better for Iridium; p99 and CPU/msg: "
           "lower is better)",
           "%-15s %-3s %-7s %-9s %9s %9s %11s" % ("iridium", "pro", "deflate", "vs", "rt/s",
                                                  "p99", "CPU/msg")]
    pairs = [("iridium", "node-ws", True), ("iridium", "node-ws", False),
             ("iridium", "lighttpd", False), ("iridium-tunnel", "lighttpd", False)]
    seen = set()
    for mine, peer, both in pairs:
        for dfl in ((False, True) if both else (False,)):
            for proto in PROTOCOLS:
                key = (mine, peer, proto, dfl)
                if key in seen:
                    continue
                seen.add(key)
                i, o = by.get((mine, proto, dfl)), by.get((peer, proto, dfl))
                if not i or not o or i["failed_case"] or o["failed_case"]:
                    continue
                if dfl and (not i["deflate"] or not o["deflate"]):
                    continue
                out.append("%-15s %-3s %-7s %-9s %9.2f %9.2f %11.2f"
                           % (mine, proto, "on" if dfl else "off", peer,
                              i["rate"] / max(o["rate"], 1e-9),
                              i["p99_us"] / max(o["p99_us"], 1e-9),
                              i["cpu_us"] / max(o["cpu_us"], 1e-9)))
    return "\n".join(out)


def idle_table(idle):
    out = []
    head = "%-15s %-3s %-12s %7s %6s %10s %10s %11s %7s  %s" % (
        "server", "pro", "variant", "idle", "conns", "RSS0 MiB", "RSS1 MiB", "KiB/session",
        "open s", "note")
    out.append(head)
    out.append("-" * len(head))
    for r in idle:
        out.append("%-15s %-3s %-12s %7d %6d %10.1f %10.1f %11.2f %7.2f  %s"
                   % (r["row"], r["proto"], r["variant"], r["opened"],
                      r["conns"], r["before"] / 1024.0, r["after"] / 1024.0, r["kib"],
                      r["open_s"], r["note"]))
    by = {(r["row"], r["proto"], r["variant"]): r for r in idle}
    lines = []
    for proto in PROTOCOLS:
        for variant in ("off", "deflate-1msg"):
            i = by.get(("iridium", proto, variant))
            for peer in ("node-ws", "lighttpd"):
                o = by.get((peer, proto, variant))
                if i and o and o["kib"] > 0:
                    lines.append("%-15s %-3s %-12s vs %-9s KiB/session ratio %.2f"
                                 % ("iridium", proto, variant, peer, i["kib"] / o["kib"]))
    if lines:
        out.append("")
        out.append("Ratios Iridium / peer (lower is better):")
        out += lines
    return "\n".join(out)


def targets(results, idle):
    out = ["Targets:"]
    by = {(r["row"], r["proto"], r["offered"]): r for r in results if not r.get("skipped")}
    for proto in PROTOCOLS:
        i = by.get(("iridium", proto, False))
        peers = [by.get(("node-ws", proto, False)), by.get(("lighttpd", proto, False))]
        peers = [p for p in peers if p and not p["failed_case"]]
        if i and not i["failed_case"] and peers:
            ok = all(i["cpu_us"] < p["cpu_us"] for p in peers)
            out.append("  %s: Iridium CPU/msg %.2f us < %s: %s"
                       % (proto, i["cpu_us"], ", ".join("%s %.2f" % (p["row"], p["cpu_us"])
                                                        for p in peers), "yes" if ok else "NO"))
    for r in idle:
        if r["row"] == "iridium" and r["variant"] == "off":
            out.append("  %s: Iridium idle uncompressed session %.2f KiB < 8 KiB: %s"
                       % (r["proto"], r["kib"], "yes" if r["kib"] < 8 else "NO"))
    return "\n".join(out)


# --------------------------------------------------------------------------


def find_ws_load(given):
    cands = [given] if given else []
    if os.environ.get("WS_LOAD"):
        cands.append(os.environ["WS_LOAD"])
    bindir = os.path.dirname(os.path.dirname(H.IRIDIUM_BIN))  # build/core/iridium -> build
    cands += [os.path.join(bindir, "tests", "bench", "ws_load"),
              os.path.join(REPO, "build", "tests", "bench", "ws_load")]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="short runs (1.5 s per case, 2000 idle sessions)")
    ap.add_argument("--seconds", type=float, help="measured seconds per echo case (5)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per echo case (1)")
    ap.add_argument("--sessions", type=int, default=100, help="sessions per echo case (100)")
    ap.add_argument("--size", type=int, default=64, help="message bytes (64)")
    ap.add_argument("--idle-sessions", type=int, help="idle sessions (10000; --quick 2000)")
    ap.add_argument("--idle-deflate-sessions", type=int,
                    help="idle sessions with permessage-deflate (1000; --quick 200; 0 = none)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds before the idle RSS")
    ap.add_argument("--servers", default="iridium,iridium-tunnel,node-ws,lighttpd")
    ap.add_argument("--protocols", default="h1,h2")
    ap.add_argument("--no-idle", action="store_true", help="skip the idle-RSS part")
    ap.add_argument("--no-echo", action="store_true", help="skip the echo part")
    ap.add_argument("--no-pin", action="store_true", help="do not pin with CPU affinity")
    ap.add_argument("--ws-load", help="the ws_load binary (default: the build's)")
    a = ap.parse_args()
    a.seconds = a.seconds or (1.5 if a.quick else 5.0)
    a.warmup = a.warmup if a.warmup is not None else (0.5 if a.quick else 1.0)
    a.idle_sessions = a.idle_sessions or (2000 if a.quick else 10000)
    if a.idle_deflate_sessions is None:
        a.idle_deflate_sessions = 200 if a.quick else 1000

    servers = [s for s in a.servers.split(",") if s]
    protos = [p for p in a.protocols.split(",") if p]
    for s in servers:
        if s not in SERVERS:
            ap.error("unknown server %r (one of %s)" % (s, ", ".join(SERVERS)))
    for p in protos:
        if p not in PROTOCOLS:
            ap.error("unknown protocol %r" % p)

    global SERVER_CPU, CLIENT_CPU
    ncpu = len(os.sched_getaffinity(0))
    if a.no_pin or ncpu < 2:
        SERVER_CPU = CLIENT_CPU = None
        if not a.no_pin:
            log("warning: fewer than 2 CPUs; not pinning")
    else:
        cpus = sorted(os.sched_getaffinity(0))
        SERVER_CPU, CLIENT_CPU = {cpus[0]}, {cpus[1]}

    ws_load = find_ws_load(a.ws_load)
    problems = []
    if not ws_load:
        problems.append("no ws_load binary: cmake --build build --target ws_load (or --ws-load)")
    if any(SERVERS[s][0] == "iridium" for s in servers):
        if not os.access(H.IRIDIUM_BIN, os.X_OK):
            problems.append("IRIDIUM_BIN=%s is not executable" % H.IRIDIUM_BIN)
        if not os.path.exists(os.path.join(H.MODULES_DIR, "websocket.so")):
            problems.append("%s has no websocket.so" % H.MODULES_DIR)
    if "node-ws" in servers:
        if not shutil.which("node"):
            problems.append("no node on PATH")
        if not os.path.isdir(WS_MODULE):
            problems.append("no %s: bash .ci/dev deps (npm install in tests/js)" % WS_MODULE)
    if "lighttpd" in servers and not (os.access(LIGHTTPD_BIN, os.X_OK)
                                      and os.path.exists(WSTUNNEL_SO)):
        problems.append("lighttpd with mod_wstunnel (%s) missing: apt-get install lighttpd"
                        % WSTUNNEL_SO)
    if problems:
        for p in problems:
            log("ws_bench: " + p)
        return 2
    if H.is_sanitized():
        log("warning: %s is an ASan build; numbers mean little" % H.IRIDIUM_BIN)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    except (ValueError, OSError):
        H.raise_nofile(NOFILE)  # without CAP_SYS_RESOURCE: up to the hard limit
    soft = nofile()
    if soft < a.idle_sessions + 1000 and not a.no_idle:
        log("warning: RLIMIT_NOFILE %d may be too low for %d idle sessions"
            % (soft, a.idle_sessions))

    v = versions()
    labels = {"iridium": "Iridium mod_websocket (workers = 1), /ws/echo mode echo",
              "iridium-tunnel": "Iridium mod_websocket, /ws/tunnel mode tunnel -> TCP echo",
              "node-ws": "npm ws %s on Node %s (perMessageDeflate threshold 0; h2 through "
                         "Node http2 + WebSocket#setSocket)" % (v["ws"], v["node"]),
              "lighttpd": "lighttpd %s mod_wstunnel (server.max-worker = 0) -> TCP echo"
                          % v["lighttpd"]}
    log("load average %s; server CPU %s, client CPU %s" % (
        " ".join(open("/proc/loadavg").read().split()[:3]),
        sorted(SERVER_CPU) if SERVER_CPU else "any", sorted(CLIENT_CPU) if CLIENT_CPU else "any"))

    backend = Backend(ws_load).start()
    results, idle = [], []
    t_start = time.monotonic()
    try:
        if not a.no_echo:
            # One server process per server class for all its echo cases.
            done_cls = {}
            for row in servers:
                done_cls.setdefault(SERVERS[row][1], []).append(row)
            for cls, rows in done_cls.items():
                srv = cls(backend.port)
                try:
                    ports = srv.start()
                    time.sleep(0.3)
                    for row in rows:
                        kind = SERVERS[row][2]
                        for proto in protos:
                            for dfl in (False, True):
                                if dfl and not deflate_probe(ws_load, ports, srv.paths(kind),
                                                             proto):
                                    r = {"row": row, "proto": proto, "offered": True,
                                         "skipped": True,
                                         "note": "n/a: permessage-deflate not accepted"}
                                    results.append(r)
                                    log("%-15s %-3s deflate: %s" % (row, proto, r["note"]))
                                    continue
                                r = echo_case(ws_load, srv, ports, row, kind, proto, dfl, a)
                                results.append(r)
                                log("%-15s %-3s deflate %-3s %8.0f rt/s  p99 %6s ms  "
                                    "%6.2f us CPU/msg  srv %3.0f%% cli %3.0f%%  %s"
                                    % (row, proto, "on" if dfl else "off", r.get("rate", 0),
                                       fmt_ms(r.get("p99_us", 0)), r["cpu_us"], r["server_pct"],
                                       r["client_pct"], r["note"]))
                finally:
                    srv.stop()
        if not a.no_idle:
            plan = []
            for row in servers:
                if row == "iridium-tunnel":
                    continue  # its sessions each hold a backend connection: not "idle"
                for proto in protos:
                    plan.append((row, proto, a.idle_sessions, "off"))
            if "iridium" in servers and "h1" in protos:
                plan.append(("iridium", "h1", a.idle_sessions, "plain"))
            if a.idle_deflate_sessions > 0:
                for row in ("iridium", "node-ws"):
                    if row not in servers:
                        continue
                    for proto in protos:
                        if row == "iridium":
                            plan.append((row, proto, a.idle_deflate_sessions, "deflate"))
                        plan.append((row, proto, a.idle_deflate_sessions, "deflate-1msg"))
            for row, proto, n, variant in plan:
                _, cls, kind = SERVERS[row]
                cap = int(nofile() * 0.9) // 2 - 200
                if cls is LighttpdWstunnel and n > cap:
                    # Each of its sessions holds a client and a backend socket,
                    # and lighttpd stops accepting at 90% of server.max-fds.
                    n = cap
                    log("lighttpd: %d idle sessions (RLIMIT_NOFILE %d, two fds each, accepts "
                        "up to 90%% of them)" % (n, nofile()))
                r = idle_case(ws_load, cls, backend.port, row, kind, proto, n, variant, a)
                idle.append(r)
                log("%-15s %-3s idle %5d %s: %7.2f KiB/session (RSS %.1f -> %.1f MiB, %d conns"
                    ", opened in %.2fs) %s"
                    % (row, proto, r["opened"], variant, r["kib"],
                       r["before"] / 1024.0, r["after"] / 1024.0, r["conns"], r["open_s"],
                       r["note"]))
    finally:
        backend.stop()

    print()
    print("WebSocket echo: %d-byte binary messages (fresh random bytes each), one in flight "
          "per session, %d sessions (HTTP/1.1: one connection each; HTTP/2: extended CONNECT "
          "streams on as few h2c connections as the server allows), %.1fs measured after "
          "%.1fs warm-up; %d CPUs, server pinned to %s, client to %s; total %.0fs"
          % (a.size, a.sessions, a.seconds, a.warmup, os.cpu_count(),
             sorted(SERVER_CPU) if SERVER_CPU else "any",
             sorted(CLIENT_CPU) if CLIENT_CPU else "any", time.monotonic() - t_start))
    for row in servers:
        print("  %-15s %s" % (row, labels[row]))
    print("CPU us/msg = server utime+stime over the window / messages echoed (one in + one "
          "out); srv/cli CPU = share of one core")
    if results:
        print()
        print(echo_table(results, a))
        print()
        print(echo_ratios(results))
    if idle:
        print()
        print("Idle sessions: a fresh server, 100 sessions opened and closed, RSS0; then the "
              "sessions opened and held, %.1fs, RSS1; KiB/session = (RSS1 - RSS0) / sessions"
              % a.settle)
        for k, (_, what) in IDLE_VARIANTS.items():
            print("  %-12s %s" % (k, what))
        print(idle_table(idle))
    print()
    print(targets(results, idle))
    bad = [r for r in results if not r.get("skipped") and r["failed_case"]] + \
          [r for r in idle if r["failed_case"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
