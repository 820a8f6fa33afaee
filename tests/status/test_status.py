#!/usr/bin/python3
"""mod_status against real clients: while curl, python3-h2 and
python3-websockets hold requests and a WebSocket session open, /status/json
lists those connections (protocol, state, each stream's method, path,
module, age), counts finished requests by status class exactly, and its
history moves under load; /status/metrics passes Prometheus's own
`promtool check metrics`; the allow-list answers 403 outside it; a client
that leaves before the answer costs nothing."""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest

import h2.config
import h2.connection
import h2.events

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as H  # noqa: E402
import websockets  # noqa: E402

ROUTES = [("/hello", {"module": "hello"}), ("/status", {"module": "status"}),
          ("/ws", {"module": "websocket", "mode": "echo"})]
MODULES = ["hello", "status", "websocket"]


def get(port, path, timeout=10):
    return H.http_request(port, "GET", path, timeout=timeout)


def status_json(port):
    r = get(port, "/status/json")
    assert r.status == 200, r
    assert r.header("content-type") == "application/json", r.header("content-type")
    return json.loads(r.body)


class H2Client:
    """One python3-h2 connection with requests left open."""

    def __init__(self, port):
        self.sock = socket.create_connection((H.HOST, port), timeout=H.scaled(10))
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())

    def get(self, path):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"),
                                     (":authority", "127.0.0.1"), (":path", path)],
                               end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        return sid

    def close(self):
        self.sock.close()


class WebSocketSession:
    """python3-websockets (asyncio) in a thread, holding one session open."""

    def __init__(self, url):
        self.opened, self.stop = threading.Event(), None
        self.error = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()
        assert self.opened.wait(H.scaled(10)), self.error

    def _run(self, url):
        asyncio.set_event_loop(self.loop)
        self.stop = asyncio.Event()

        async def session():
            try:
                async with websockets.connect(url) as ws:
                    await ws.send("hello")
                    await ws.recv()
                    self.opened.set()
                    await self.stop.wait()
            except Exception as e:  # noqa: BLE001 (reported by the waiter)
                self.error = e
                self.opened.set()
        self.loop.run_until_complete(session())

    def close(self):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(H.scaled(10))


class Status(unittest.TestCase):
    def setUp(self):
        self.srv = H.Server(server={"workers": 2}, routes=ROUTES, modules=MODULES,
                            protocols="http/1.1, h2c")
        self.addCleanup(lambda: (self.srv.stop(), self.srv.cleanup()))
        self.srv.start()

    def test_json_lists_what_real_clients_hold_open(self):
        port = self.srv.port
        h1 = H.connect(port)
        self.addCleanup(h1.close)
        h1.sendall(H.build_request("GET", "/hello?delay=4000"))
        h2c = H2Client(port)
        self.addCleanup(h2c.close)
        h2c.get("/hello?delay=4000")
        h2c.get("/hello?delay=4000")
        ws = WebSocketSession("ws://127.0.0.1:%d/ws" % port)
        self.addCleanup(ws.close)
        time.sleep(H.scaled(0.3))
        st = status_json(port)
        self.assertEqual(st["workers"], 2)
        version = subprocess.run([H.IRIDIUM_BIN, "--version"], capture_output=True, text=True)
        self.assertIn("(SDK ABI %s)" % st["abi"], version.stdout)  # the host's own, as it says
        conns = {c["peer"]: c for c in st["connection_list"]}
        mine = lambda s: "127.0.0.1:%d" % s.getsockname()[1]  # noqa: E731
        c1 = conns[mine(h1)]
        self.assertEqual((c1["protocol"], c1["state"], c1["tls"]), ("http/1.1", "active", False))
        self.assertEqual([(s["method"], s["path"], s["module"]) for s in c1["streams"]],
                         [("GET", "/hello", "hello")])
        self.assertGreaterEqual(c1["streams"][0]["age_ms"], 200)
        c2 = conns[mine(h2c.sock)]
        self.assertEqual((c2["protocol"], c2["state"], c2["streams_open"]), ("h2", "active", 2))
        self.assertEqual(sorted(s["id"] for s in c2["streams"]), [1, 3])
        self.assertTrue(all(s["path"] == "/hello" and s["module"] == "hello"
                            for s in c2["streams"]))
        upgraded = [s for c in st["connection_list"] for s in c["streams"] if s["upgraded"]]
        self.assertEqual([(s["path"], s["module"]) for s in upgraded], [("/ws", "websocket")])
        self.assertGreaterEqual(st["connections"]["by_protocol"]["http/1.1"], 3)  # + this one
        self.assertEqual(st["connections"]["by_protocol"]["h2"], 1)
        self.assertEqual(st["connections"]["open"], st["connections"]["seen"])
        self.assertGreaterEqual(st["streams_open"], 4)
        names = {m["name"] for m in st["metrics"]}
        self.assertIn("websocket_sessions_open", names)

    def test_requests_counted_by_status_class(self):
        port = self.srv.port
        before = status_json(port)
        for i in range(5):
            self.assertEqual(get(port, "/hello?i=%d" % i).status, 200)
        for i in range(3):
            self.assertEqual(get(port, "/nope%d" % i).status, 404)
        r = H.curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE",
                    "http://127.0.0.1:%d/hello" % port])
        self.assertEqual(r.stdout, b"405")
        after = status_json(port)
        d = {k: after["requests"][k] - before["requests"][k] for k in after["requests"]}
        # the first status request finished in between: one more 2xx
        self.assertEqual(d, {"total": 10, "1xx": 0, "2xx": 6, "3xx": 0, "4xx": 4, "5xx": 0})
        self.assertGreater(after["bytes"]["out"], before["bytes"]["out"])
        self.assertGreaterEqual(after["connections"]["accepted_total"] -
                                before["connections"]["accepted_total"], 10)

    def test_history_follows_the_load(self):
        port = self.srv.port
        out = H.run_cmd(["h2load", "-n", "3000", "-c", "4", "-D", "3",
                         "http://127.0.0.1:%d/hello" % port], timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout)
        time.sleep(H.scaled(1.2))
        hist = status_json(port)["history"]
        self.assertGreaterEqual(len(hist), 3, hist)
        ts = [h["t"] for h in hist]
        self.assertEqual(ts, sorted(ts))
        self.assertTrue(all(800 <= b - a <= 3000 for a, b in zip(ts, ts[1:])), ts)
        self.assertGreater(max(h["requests_per_s"] for h in hist), 100, hist)
        self.assertGreater(max(h["cpu"] for h in hist), 0, hist)
        self.assertTrue(all(h["rss_bytes"] > 1 << 20 for h in hist), hist)

    @unittest.skipUnless(shutil.which("promtool"), "promtool (Debian's prometheus) is needed")
    def test_metrics_pass_promtool(self):
        port = self.srv.port
        self.assertEqual(get(port, "/hello").status, 200)
        r = get(port, "/status/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("content-type").startswith("text/plain; version=0.0.4"))
        p = subprocess.run(["promtool", "check", "metrics"], input=r.body, capture_output=True,
                           timeout=H.scaled(30))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        text = r.body.decode()
        self.assertRegex(text, r'(?m)^iridium_requests_total\{class="2xx"\} [1-9]')
        self.assertRegex(text, r'(?m)^iridium_connections\{protocol="http/1.1",tls="no",'
                               r'state="active"\} [1-9]')
        self.assertRegex(text, r"(?m)^websocket_sessions_open\{")
        self.assertRegex(text, r"(?m)^process_resident_memory_bytes [1-9]")

    def test_methods_and_paths(self):
        port = self.srv.port
        self.assertEqual(get(port, "/status/nope").status, 404)
        r = H.http_request(port, "POST", "/status/json", body=b"x")
        self.assertEqual((r.status, r.header("allow")), (405, "GET, HEAD"))
        r = get(port, "/status")
        self.assertEqual((r.status, r.header("location")), (301, "/status/"))

    def test_dashboard_page_is_self_contained(self):
        r = get(self.srv.port, "/status/")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("content-type").startswith("text/html"))
        page = r.body.decode()
        self.assertIn('new EventSource("events")', page)
        self.assertNotRegex(page, r"(src|href)=\"?(https?:)?//", "an outside resource")
        self.assertNotIn("@import", page)

    def test_event_stream_with_curl(self):
        p = subprocess.Popen(["curl", "-sN", "--max-time", "3.5",
                              "http://127.0.0.1:%d/status/events" % self.srv.port],
                             stdout=subprocess.PIPE)
        out = p.communicate(timeout=H.scaled(20))[0].decode()
        self.assertTrue(out.startswith("retry: 2000\n\n"), out[:200])
        events = [e for e in out.split("\n\n") if e.startswith("event: status\ndata: ")]
        self.assertGreaterEqual(len(events), 3, out[:500])
        snaps = [json.loads(e.split("data: ", 1)[1]) for e in events]
        ups = [x["uptime_s"] for x in snaps]
        self.assertEqual(ups, sorted(ups))
        self.assertGreater(ups[-1] - ups[0], 1.5)
        # the stream itself is listed as an open request of the status module
        self.assertTrue(any(st["path"] == "/status/events" and st["module"] == "status"
                            for c in snaps[-1]["connection_list"] for st in c["streams"]))

    def test_clients_that_leave_before_the_answer(self):
        port = self.srv.port
        for _ in range(100):
            s = H.connect(port)
            s.sendall(H.build_request("GET", "/status/json"))
            s.close()
        st = status_json(port)  # still answering, nothing held
        self.assertTrue(H.wait_for(lambda: status_json(port)["connections"]["open"] == 1,
                                   H.scaled(5)), st["connections"])
        self.assertTrue(self.srv.alive())


class AllowList(unittest.TestCase):
    def test_outside_the_list_is_refused(self):
        routes = [("/status", {"module": "status", "allow": "10.1.2.0/24, fd00::/8"}),
                  ("/lo", {"module": "status", "allow": "127.0.0.0/8"})]
        with H.Server(routes=routes, modules=["status"]) as srv:
            self.assertEqual(get(srv.port, "/status/json").status, 403)
            self.assertEqual(get(srv.port, "/lo/json").status, 200)
            self.assertIn("status refused to 127.0.0.1:", srv.error_log_text())

    def test_a_bad_entry_is_a_config_error(self):
        srv = H.Server(routes=[("/status", {"module": "status", "allow": "127.0.0.1, nonsense"})],
                       modules=["status"])
        srv.port = H.free_port()
        srv.write_ini()
        p = H.run_iridium(["-t", "-c", srv.ini_path])
        srv.cleanup()
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("allow: 'nonsense' is not an address or prefix", p.stderr)
        self.assertIn("module status refused the route", p.stderr)


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
