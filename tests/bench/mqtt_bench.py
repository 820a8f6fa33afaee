#!/usr/bin/python3
"""mqtt_bench.py — MQTT over WebSocket: Iridium's mod_mqtt bridge (HTTP/1.1
and HTTP/2) beside Mosquitto's own websockets listener, in one run. Run by
hand, not by ctest (see README.md beside this file):

    /usr/bin/python3 tests/bench/mqtt_bench.py [--quick]

Debian's Mosquitto websockets listener binds every interface whatever its
address says, so the script runs itself inside a private network namespace
(`unshare -n`, loopback up) with everything it starts. One Mosquitto serves
both sides: a plain MQTT listener on 127.0.0.1 (which the bridge connects
to, one broker connection per WebSocket session) and a websockets listener
(which the load client reaches directly, as a browser would without
Iridium). The load client is tests/bench/ws_load in --mqtt mode: each of
--sessions sessions sends CONNECT and SUBSCRIBE to its own topic, then keeps
one QoS 0 PUBLISH of --size payload bytes in flight and waits for the
broker to send it back: one message in, one out, per round trip.

Messages/s is round trips per second. CPU per message is utime + stime
(/proc/PID/stat, all threads) over the measured window divided by round
trips, for Iridium and Mosquitto separately. The servers (Iridium with
workers = 1, and Mosquitto) run on CPU 0 and the client on CPU 1 unless
--no-pin.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import ws_bench as W  # noqa: E402  (pinned, stop_proc, run_client, find_ws_load)

H = W.H
MOSQUITTO = "/usr/sbin/mosquitto"
NETNS_MARK = "IRIDIUM_MQTT_BENCH_NETNS"


def in_private_netns():
    """Re-runs this script under `unshare -n` (once), with loopback up."""
    if os.environ.get(NETNS_MARK) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return None
    env = dict(os.environ, **{NETNS_MARK: "1"})
    return subprocess.call(["unshare", "-n", sys.executable] + sys.argv, env=env)


class Mosquitto:
    def __init__(self, tmp):
        self.mqtt_port = H.free_port()
        self.ws_port = H.free_port()
        self.conf = os.path.join(tmp, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nprotocol mqtt\n"
                    "listener %d\nprotocol websockets\n"
                    "allow_anonymous true\npersistence false\nlog_type error\n"
                    "max_queued_messages 10000\n" % (self.mqtt_port, self.ws_port))
        self.proc = None

    def start(self):
        with W.pinned(W.SERVER_CPU):
            self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in (self.mqtt_port, self.ws_port):
            if not W.wait_port(self.proc, port, 10):
                raise RuntimeError("mosquitto did not listen on %d" % port)

    def stop(self):
        W.stop_proc(self.proc)


class Iridium:
    def __init__(self, broker_port, h2_streams=256):
        self.srv = H.Server(
            server={"workers": "1", "access_log": "off", "log_level": "warn",
                    "max_connections": "30000", "h2_max_concurrent_streams": str(h2_streams),
                    "shutdown_timeout": "5s"},
            routes=[("/mqtt", {"module": "mqtt", "broker": "127.0.0.1:%d" % broker_port,
                               "publish": "bench/#", "subscribe": "bench/#"})],
            modules=["websocket", "mqtt"], protocols="http/1.1, h2c", start_timeout=15)

    def start(self):
        with W.pinned(W.SERVER_CPU):
            self.srv.start()
        return self.srv.port

    def stop(self):
        if self.srv.proc is None:
            return
        self.srv.stop()
        problems = self.srv.crash_problems()
        if problems:
            W.log("iridium: " + "; ".join(problems) + self.srv.diagnostics())
        self.srv.cleanup(keep=bool(problems))


def measure(ws_load, row, port, proto, pids, a):
    args = ["echo", "--mqtt", "--port", port, "--path", "/mqtt", "--sessions", a.sessions,
            "--size", a.size, "--seconds", a.seconds, "--warmup", a.warmup]
    for pid in pids:
        args += ["--pid", pid]
    if proto == "h2":
        args.append("--h2")
    r = W.run_client(ws_load, args, timeout=a.seconds + a.warmup + 90)
    if "clk_tck" not in r:  # no session opened
        W.log("%-22s %-3s error: %s" % (row, proto, r["error"] or "sessions did not open"))
        return {"row": row, "proto": proto, "rate": 0.0, "p50": 0, "p99": 0,
                "cpu_us": [0.0] * len(pids), "error": r["error"] or "sessions did not open",
                "failed": r["failed"], "closed": r["closed"], "connections": r["connections"]}
    tck = r["clk_tck"]
    rtt = max(r["rtt"], 1)
    us = [t * 1e6 / tck / rtt for t in r["pid_ticks"]]
    res = {"row": row, "proto": proto, "rate": r["rate"], "p50": r["p50_us"],
           "p99": r["p99_us"], "cpu_us": us, "error": r["error"], "failed": r["failed"],
           "closed": r["closed"], "connections": r["connections"]}
    W.log("%-22s %-3s %10.0f msg/s  p50 %6.0f us  CPU us/msg %s%s"
          % (row, proto, r["rate"], r["p50_us"], " + ".join("%.2f" % u for u in us),
             ("  error: " + r["error"]) if r["error"] else ""))
    return res


def table(results):
    print("\nMQTT over WebSocket, %s" % ("QoS 0 round trips: PUBLISH in, the same message out"))
    print("%-22s %-5s %12s %8s %8s %12s %12s %12s" % (
        "server", "proto", "msg/s", "p50 ms", "p99 ms", "iridium us", "broker us", "total us"))
    for r in results:
        ir = r["cpu_us"][0] if len(r["cpu_us"]) > 1 else None
        br = r["cpu_us"][-1]
        print("%-22s %-5s %12.0f %8.2f %8.2f %12s %12.2f %12.2f%s" % (
            r["row"], r["proto"], r["rate"], r["p50"] / 1000, r["p99"] / 1000,
            "%.2f" % ir if ir is not None else "-", br, sum(r["cpu_us"]),
            ("  " + r["error"]) if r["error"] else ""))


def ratios(results):
    base = next((r for r in results if r["row"] == "mosquitto-websockets"), None)
    bridges = [r for r in results if r["row"] == "iridium-mod_mqtt"]
    if not base or not bridges:
        return True
    print("\nRatios (Iridium bridge / Mosquitto websockets listener): msg/s higher is better;")
    print("CPU: the bridge's Iridium alone, and Iridium + broker, per message, lower is better")
    print("%-6s %12s %18s %18s" % ("proto", "msg/s ratio", "Iridium CPU ratio", "total CPU ratio"))
    ok = True
    for r in bridges:
        rate = r["rate"] / max(base["rate"], 1e-9)
        cpu = r["cpu_us"][0] / max(base["cpu_us"][-1], 1e-9)
        tot = sum(r["cpu_us"]) / max(base["cpu_us"][-1], 1e-9)
        print("%-6s %12.2f %18.2f %18.2f" % (r["proto"], rate, cpu, tot))
        ok = ok and rate > 1.0
    # Every bridged message also crosses the broker's plain listener: the
    # broker's own CPU per message there bounds any bridge on one core.
    print("\nThe broker's share: its CPU per message behind the bridge, and the msg/s a bridge")
    print("costing nothing would reach on the core (1e6 / that), beside the websockets listener")
    print("%-6s %16s %18s %14s" % ("proto", "broker us/msg", "ceiling msg/s", "ceiling ratio"))
    for r in bridges:
        br = max(r["cpu_us"][-1], 1e-9)
        print("%-6s %16.2f %18.0f %14.2f" % (r["proto"], br, 1e6 / br,
                                             1e6 / br / max(base["rate"], 1e-9)))
    print("(the websockets listener: %.2f us/msg in all)" % base["cpu_us"][-1])
    print("\nTarget: more messages/s than Mosquitto's websockets listener: %s"
          % ("met" if ok else "NOT met"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (2 s, 0.5 s warm-up)")
    ap.add_argument("--seconds", type=float, help="measured seconds per case (5)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per case (1)")
    ap.add_argument("--sessions", type=int, default=100, help="MQTT sessions (100)")
    ap.add_argument("--size", type=int, default=64, help="payload bytes (64)")
    ap.add_argument("--protocols", default="h1,h2", help="the bridge's protocols (h1,h2)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin with CPU affinity")
    ap.add_argument("--ws-load", help="the ws_load binary (default: the build's)")
    a = ap.parse_args()
    a.seconds = a.seconds or (2 if a.quick else 5)
    a.warmup = a.warmup if a.warmup is not None else (0.5 if a.quick else 1)
    if not shutil.which("unshare") or not os.access(MOSQUITTO, os.X_OK):
        W.log("needs unshare and %s (bash .ci/dev deps)" % MOSQUITTO)
        return 2
    rc = in_private_netns()
    if rc is not None:
        return rc
    if a.no_pin:
        W.SERVER_CPU = W.CLIENT_CPU = None
    ws_load = W.find_ws_load(a.ws_load)
    if not ws_load:
        W.log("ws_load not found: cmake --build build --target ws_load")
        return 2
    tmp = tempfile.mkdtemp(prefix="mqtt-bench-")
    results = []
    broker = Mosquitto(tmp)
    iridium = None
    try:
        broker.start()
        W.log("mosquitto: mqtt %d, websockets %d" % (broker.mqtt_port, broker.ws_port))
        results.append(measure(ws_load, "mosquitto-websockets", broker.ws_port, "h1",
                               [broker.proc.pid], a))
        iridium = Iridium(broker.mqtt_port)
        port = iridium.start()
        for proto in a.protocols.split(","):
            results.append(measure(ws_load, "iridium-mod_mqtt", port, proto,
                                   [iridium.srv.pid, broker.proc.pid], a))
    finally:
        if iridium:
            iridium.stop()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    table(results)
    met = ratios(results)
    bad = any(r["error"] or r["failed"] for r in results)
    return 1 if bad or not met else 0


if __name__ == "__main__":
    sys.exit(main())
