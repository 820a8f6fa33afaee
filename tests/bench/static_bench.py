#!/usr/bin/python3
"""static_bench.py — one small file served by Iridium's static module, nginx
and lighttpd, measured with h2load: requests per second and server CPU time
per request. Run by hand, not by ctest (see README.md beside this file):

    /usr/bin/python3 tests/bench/static_bench.py [--seconds 4] [--size 1024]

One server at a time on its own loopback ports, each with one worker and no
access log; for each protocol (h2c by prior knowledge, HTTP/2 over TLS,
HTTP/1.1 for reference) a short warm-up that also sizes the run, then
`h2load -n N -c 32 -m 16` (HTTP/1.1: -m 1, no pipelining) with N chosen so
the run takes about --seconds. CPU time is utime + stime from
/proc/PID/stat, summed over the server's processes (and all their threads),
read before and after the run. Every server it starts is stopped at the end,
also on errors and Ctrl-C.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402
import static_common as S  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
FILE = "f.bin"

# name -> (URL scheme, listener key in the server's ports, h2load flags)
PROTOCOLS = {
    "h2c": ("http", "h2c", []),
    "h2-tls": ("https", "tls", []),
    "http1.1": ("http", "h1", ["--h1"]),
}
FINISHED_RE = re.compile(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s")
PROTO_RE = re.compile(r"Application protocol: (\S+)")


# --------------------------------------------------------------------------
# The three servers, each giving {protocol listener: port} and pids


class IridiumBench:
    name = "iridium"

    def __init__(self, root):
        self.srv = S.StaticServer(
            {"root": root},
            server={"workers": "1", "access_log": "off", "log_level": "warn",
                    "keepalive_requests": "100000000", "max_connections": "10000"})

    def start(self):
        self.srv.__enter__()
        return {"h2c": self.srv.port, "h1": self.srv.port, "tls": self.srv.tls_port}

    def pid(self):
        return self.srv.pid

    def stop(self):
        if self.srv.proc is not None:
            self.srv.stop()
            problems = self.srv.crash_problems()
            if problems:
                print("iridium: " + "; ".join(problems) + self.srv.diagnostics(), file=sys.stderr)
            self.srv.cleanup(keep=bool(problems))


class NginxBench:
    name = "nginx"

    def __init__(self, root):
        self.srv = S.Nginx(root, listens={"h1": "", "h2c": "http2", "tls": "ssl http2"},
                           access_log=False,
                           http="    sendfile on;\n    tcp_nopush on;\n"
                                "    keepalive_requests 100000000;\n"
                                "    open_file_cache max=1024 inactive=20s;")

    def start(self):
        self.srv.start()
        return dict(self.srv.ports)

    def pid(self):
        return self.srv.pid

    def stop(self):
        self.srv.stop()
        self.srv.cleanup()


class LighttpdBench:
    name = "lighttpd"

    def __init__(self, root):
        cert, key = C.test_cert()
        self.srv = S.Lighttpd(root, cert=cert, key=key,
                              extra=["server.max-keep-alive-requests = 65535"])

    def start(self):
        self.srv.start()
        return {"h2c": self.srv.ports["main"], "h1": self.srv.ports["main"],
                "tls": self.srv.ports["tls"]}

    def pid(self):
        return self.srv.pid

    def stop(self):
        self.srv.stop()
        self.srv.cleanup()


SERVERS = {"iridium": IridiumBench, "nginx": NginxBench, "lighttpd": LighttpdBench}


# --------------------------------------------------------------------------
# h2load


def h2load(url, n, flags, clients, streams, timeout):
    args = ["h2load", "-n", str(n), "-c", str(clients), "-m", str(streams)] + flags + [url]
    p = subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    text = p.stdout.decode("latin-1") + p.stderr.decode("latin-1")
    st = H.parse_h2load(text)
    m = FINISHED_RE.search(text)
    if st is None or m is None:
        raise RuntimeError("h2load %s gave no summary (exit %d):\n%s"
                           % (" ".join(args), p.returncode, text[-2000:]))
    secs = float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)
    pm = PROTO_RE.search(text)
    return {"stats": st, "seconds": secs, "rps": float(m.group(3)),
            "proto": pm.group(1) if pm else "?", "text": text}


def run_one(server, ports, proto, args):
    scheme, key, flags = PROTOCOLS[proto]
    url = "%s://127.0.0.1:%d/%s" % (scheme, ports[key], FILE)
    streams = 1 if proto == "http1.1" else args.streams
    # Warm-up, which also sizes the measured run.
    w = h2load(url, args.warmup, flags, args.clients, streams, timeout=120)
    ok = w["stats"]["2xx"] if "2xx" in w["stats"] else 0
    if ok != args.warmup:
        raise RuntimeError("%s %s warm-up: %d of %d answered 2xx:\n%s"
                           % (server.name, proto, ok, args.warmup, w["text"][-2000:]))
    n = int(w["rps"] * args.seconds)
    n = max(args.clients * 100, min(n, args.max_requests))
    n -= n % args.clients
    pids = S.proc_tree(server.pid())
    t0 = S.cpu_ticks(pids)
    r = h2load(url, n, flags, args.clients, streams, timeout=max(120, args.seconds * 20))
    t1 = S.cpu_ticks(S.proc_tree(server.pid()))
    st = r["stats"]
    good = st.get("2xx", 0)
    note = ""
    if good != n or st["failed"] or st["errored"]:
        note = "%d/%d 2xx, %d failed, %d errored" % (good, n, st["failed"], st["errored"])
    done = max(st["done"], 1)
    cpu_us = (t1 - t0) * 1e6 / TICK / done
    return {"server": server.name, "proto": proto, "n": n, "rps": r["rps"], "cpu_us": cpu_us,
            "seconds": r["seconds"], "alpn": r["proto"], "note": note,
            "cpu_s": (t1 - t0) / TICK}


# --------------------------------------------------------------------------


def table(results, servers, protos):
    by = {(r["server"], r["proto"]): r for r in results}
    lines = []
    head = "%-9s %-9s %10s %9s %12s %8s  %s" % ("server", "protocol", "requests", "req/s",
                                                 "CPU us/req", "CPU s", "note")
    lines.append(head)
    lines.append("-" * len(head))
    for proto in protos:
        for s in servers:
            r = by.get((s, proto))
            if not r:
                continue
            lines.append("%-9s %-9s %10d %9.0f %12.2f %8.2f  %s"
                         % (s, proto, r["n"], r["rps"], r["cpu_us"], r["cpu_s"], r["note"]))
    lines.append("")
    lines.append("Ratios (Iridium / other): req/s higher is better for Iridium, CPU us/req "
                 "lower is better")
    lines.append("%-9s %-9s %12s %14s" % ("protocol", "vs", "req/s ratio", "CPU/req ratio"))
    for proto in protos:
        i = by.get(("iridium", proto))
        for other in ("nginx", "lighttpd"):
            o = by.get((other, proto))
            if i and o:
                lines.append("%-9s %-9s %12.2f %14.2f" % (proto, other, i["rps"] / o["rps"],
                                                         i["cpu_us"] / o["cpu_us"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="target length of a run")
    ap.add_argument("--warmup", type=int, default=30000,
                    help="requests of the warm-up (which also sizes the run)")
    ap.add_argument("--max-requests", type=int, default=2000000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--streams", type=int, default=16, help="h2load -m for HTTP/2")
    ap.add_argument("--size", type=int, default=1024, help="bytes of the served file")
    ap.add_argument("--servers", default="iridium,nginx,lighttpd")
    ap.add_argument("--protocols", default="h2c,h2-tls,http1.1")
    args = ap.parse_args()

    servers = [s for s in args.servers.split(",") if s]
    protos = [p for p in args.protocols.split(",") if p]
    for s in servers:
        if s not in SERVERS:
            ap.error("unknown server %r" % s)
    for p in protos:
        if p not in PROTOCOLS:
            ap.error("unknown protocol %r" % p)
    need = ["h2load", "certtool"]
    if "nginx" in servers:
        need.append(S.NGINX_BIN)
    if "lighttpd" in servers:
        need.append(S.LIGHTTPD_BIN)
    if "iridium" in servers:
        S.check_static_environment(need=need)
    if H.is_sanitized():
        print("warning: %s is an ASan build; numbers mean little" % H.IRIDIUM_BIN,
              file=sys.stderr)
    H.raise_nofile(4096)

    tmp = tempfile.mkdtemp(prefix="iridium-bench-")
    root = os.path.join(tmp, "www")
    S.write_file(os.path.join(root, FILE), os.urandom(args.size))
    results = []
    try:
        for name in servers:
            server = SERVERS[name](root)
            try:
                ports = server.start()
                time.sleep(0.3)
                for proto in protos:
                    r = run_one(server, ports, proto, args)
                    results.append(r)
                    print("%-9s %-9s n=%-8d %8.0f req/s %7.2f us CPU/req (%.1fs, ALPN %s)%s"
                          % (name, proto, r["n"], r["rps"], r["cpu_us"], r["seconds"], r["alpn"],
                             ("  [" + r["note"] + "]") if r["note"] else ""), flush=True)
            finally:
                server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("%d-byte file, h2load -c %d, -m %d for HTTP/2 (-m 1 for HTTP/1.1), ~%.0fs per run, "
          "%d CPUs, clock tick %d Hz" % (args.size, args.clients, args.streams, args.seconds,
                                         os.cpu_count(), TICK))
    print(table(results, servers, protos))
    return 1 if any(r["note"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
