#!/usr/bin/python3
"""test_reload.py — reloading the configuration (SIGHUP, `iridium -s
reload`) as an operator relies on it: a bad INI is refused with its
file:line in the error log and the server keeps serving what it had; a good
one gives new connections the new routes, module settings, listeners,
newly enabled modules and certificates, while connections already open
finish on the configuration they started on (freed after the last closes).
No request fails meanwhile: h2load over TLS with a reload every 200 ms, and
clients that open a new TLS connection per request, see no error; a
WebSocket session (python3-websockets) and event streams (mod_status's and
mod_mqtt's with a real Mosquitto) stay open and working across reloads.
A module built without IR_MODULE_RELOADS keeps its routes: a reload that
would change them is refused and says why."""

import asyncio
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "mqtt"))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

SERVED = re.compile(r"reload: serving generation (\d+)")
FAILED = "reload failed"


def make_cert(folder, name, cn):
    """(cert, key) of a self-signed ECDSA certificate for 127.0.0.1 whose
    subject CN is cn, made with certtool."""
    key, cert, tmpl = (os.path.join(folder, "%s.%s" % (name, ext)) for ext in ("key", "pem", "tmpl"))
    with open(tmpl, "w") as f:
        f.write('cn = "%s"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key\n'
                'expiration_days = 30\n' % cn)
    for args in (["certtool", "--generate-privkey", "--key-type", "ecdsa", "--outfile", key],
                 ["certtool", "--generate-self-signed", "--load-privkey", key, "--template", tmpl,
                  "--outfile", cert]):
        subprocess.run(args, capture_output=True, timeout=60, check=True)
    return cert, key


def peer_cn(port):
    """The subject CN of the certificate a new TLS connection gets."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((H.HOST, port), timeout=5) as s:
        with ctx.wrap_socket(s) as t:
            der = t.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["certtool", "-i"], input=pem.encode(), capture_output=True, timeout=30)
    m = re.search(r"Subject: CN=([^\s,]+)", out.stdout.decode())
    return m.group(1) if m else None


def get_on(sock_reader, sock, target):
    sock.sendall(H.build_request("GET", target))
    return sock_reader.read_response("GET")


class ReloadServer(H.Server):
    """harness.Server with a pid file, a main listener (cleartext http/1.1 +
    h2c, or TLS h2 + http/1.1), extra cleartext listeners on self.more_ports
    and a certificate in self.cert; change the attributes, then reload()."""

    def __init__(self, tls=False, **kw):
        server = {"pid_file": "iridium.pid", "shutdown_timeout": "3s"}
        server.update(kw.pop("server", {}))
        super().__init__(server=server, **kw)
        self.tls = tls
        self.more_ports = []
        self.cert = None
        self.main_listener = True

    def write_listeners(self, ini):
        if self.main_listener:
            ini.section("listen %s:%d" % (H.HOST, self.port))
            if self.tls:
                ini.kv("tls", "on")
                ini.kv("protocols", "h2, http/1.1")
            else:
                ini.kv("protocols", "http/1.1, h2c")
            ini.blank()
        for p in self.more_ports:
            ini.section("listen %s:%d" % (H.HOST, p))
            ini.blank()
        if self.tls:
            cert, key = self.cert or C.test_cert()
            ini.section("certificate main")
            ini.kv("cert", cert)
            ini.kv("key", key)
            ini.blank()

    def ini_lines(self):
        with open(self.ini_path) as f:
            return f.read().splitlines()

    def served_generation(self):
        found = SERVED.findall(self.error_log_text())
        return int(found[-1]) if found else 1

    def reload(self, command=False, expect_ok=True, timeout=5.0):
        """Rewrites the INI, asks for a reload and waits for its outcome:
        the next generation served (returned), or the failure line."""
        self.write_ini()
        log = self.error_log_text()
        before_served, before_failed = len(SERVED.findall(log)), log.count(FAILED)
        if command:
            p = H.run_iridium(["-s", "reload", "-c", self.ini_path])
            if p.returncode != 0:
                raise AssertionError("iridium -s reload: %d %s" % (p.returncode, p.stderr))
        else:
            os.kill(self.pid, signal.SIGHUP)

        def done():
            t = self.error_log_text()
            return len(SERVED.findall(t)) > before_served or t.count(FAILED) > before_failed

        if not H.wait_for(done, H.scaled(timeout)):
            raise AssertionError("no reload outcome within %.1fs:\n%s"
                                 % (timeout, self.error_log_text()[-2000:]))
        ok = len(SERVED.findall(self.error_log_text())) > before_served
        if ok != expect_ok:
            raise AssertionError("reload %s, expected %s:\n%s"
                                 % ("served" if ok else "failed", "success" if expect_ok else
                                    "failure", self.error_log_text()[-2000:]))
        return self.served_generation()


class Base(unittest.TestCase):
    def server(self, **kw):
        srv = ReloadServer(**kw)
        self.addCleanup(srv.cleanup)
        self.addCleanup(lambda: srv.alive() and srv.stop())
        srv.start()
        return srv


class Configuration(Base):
    def test_new_connections_get_new_routes_open_ones_keep_theirs(self):
        srv = self.server(routes=[("/hello", {"module": "hello", "greeting": "one"})])
        old = H.connect(srv.port)
        self.addCleanup(old.close)
        old_reader = H.HTTPReader(old)
        self.assertEqual(get_on(old_reader, old, "/hello").body, b"one\n")
        srv.routes = [("/hello", {"module": "hello", "greeting": "two"}),
                      ("/added", {"module": "hello", "greeting": "added"})]
        self.assertEqual(srv.reload(command=True), 2)  # iridium -s reload reads the pid file
        self.assertEqual(H.http_request(srv.port, "GET", "/hello").body, b"two\n")
        self.assertEqual(H.http_request(srv.port, "GET", "/added").body, b"added\n")
        # The keep-alive connection opened before stays on generation 1.
        self.assertEqual(get_on(old_reader, old, "/hello").body, b"one\n")
        self.assertEqual(get_on(old_reader, old, "/added").status, 404)
        self.assertNotIn("generation 1 freed", srv.error_log_text())
        old.close()
        self.assertTrue(C.wait_log(srv, r"generation 1 freed: its last connection closed"),
                        srv.error_log_text()[-2000:])

    def test_bad_ini_is_refused_with_file_line_and_serving_goes_on(self):
        srv = self.server(routes=[("/hello", {"module": "hello", "greeting": "kept"})])
        srv.routes = [("/hello", {"module": "hello", "greeting": "new", "no_such_key": "1"})]
        srv.reload(expect_ok=False)
        line = next(i for i, t in enumerate(srv.ini_lines(), 1) if t.startswith("no_such_key"))
        self.assertRegex(srv.error_log_text(),
                         r"\[error\] reload: %s:%d: unknown key 'no_such_key'"
                         % (re.escape(srv.ini_path), line))
        self.assertIn("reload failed: still serving generation 1", srv.error_log_text())
        self.assertEqual(H.http_request(srv.port, "GET", "/hello").body, b"kept\n")
        # A module that cannot load, and a port another process holds.
        srv.modules = ["hello", "missing"]
        srv.routes = [("/hello", {"module": "hello", "greeting": "new"})]
        srv.reload(expect_ok=False)
        self.assertRegex(srv.error_log_text(), r"reload: .*iridium\.ini:\d+: \[module missing\] "
                                               r"cannot load")
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind((H.HOST, 0))
        taken.listen(1)
        srv.modules = ["hello"]
        srv.more_ports = [taken.getsockname()[1]]
        srv.reload(expect_ok=False)
        self.assertRegex(srv.error_log_text(), r"reload: .*:\d+: \[listen 127\.0\.0\.1:%d\] cannot "
                                               r"listen" % srv.more_ports[0])
        self.assertEqual(H.http_request(srv.port, "GET", "/hello").body, b"kept\n")
        # Then a good one is taken as usual.
        srv.more_ports = []
        self.assertEqual(srv.reload(), 2)
        self.assertEqual(H.http_request(srv.port, "GET", "/hello").body, b"new\n")

    def test_listeners_come_and_go(self):
        srv = self.server()
        extra = H.free_port()
        srv.more_ports = [extra]
        srv.reload()
        self.assertEqual(H.http_request(extra, "GET", "/hello").status, 200)
        self.assertEqual(H.http_request(srv.port, "GET", "/hello").status, 200)  # kept
        held = H.connect(srv.port)  # open on the listener about to go
        self.addCleanup(held.close)
        reader = H.HTTPReader(held)
        self.assertEqual(get_on(reader, held, "/hello").status, 200)
        srv.main_listener = False
        srv.reload()
        self.assertTrue(H.wait_for(lambda: H.port_refuses(srv.port), H.scaled(3)),
                        "the removed listener still accepts")
        self.assertEqual(H.http_request(extra, "GET", "/hello").status, 200)
        self.assertEqual(get_on(reader, held, "/hello").status, 200)  # finishes where it began

    def test_newly_enabled_module_serves(self):
        srv = self.server()
        root = os.path.join(srv.tmp, "www")
        os.mkdir(root)
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("static after reload\n")
        srv.modules = ["hello", "static"]
        srv.routes = srv.routes + [("/files", {"module": "static", "root": root})]
        srv.reload()
        self.assertIn("1 new)", srv.error_log_text())
        r = H.http_request(srv.port, "GET", "/files/")
        self.assertEqual((r.status, r.body), (200, b"static after reload\n"))
        for _ in range(2):  # the module's worker_init ran on both workers
            self.assertEqual(H.http_request(srv.port, "GET", "/files/index.html").status, 200)

    def test_new_certificate_for_new_connections(self):
        srv = ReloadServer(tls=True)
        srv.cert = make_cert(srv.tmp, "first", "first.example")
        self.addCleanup(srv.cleanup)
        self.addCleanup(lambda: srv.alive() and srv.stop())
        srv.start()
        self.assertEqual(peer_cn(srv.port), "first.example")
        held = C.RawConn(srv.port, tls=True)
        self.addCleanup(held.close)
        self.assertEqual(held.get("/hello").status, 200)
        srv.cert = make_cert(srv.tmp, "second", "second.example")
        srv.reload()
        self.assertEqual(peer_cn(srv.port), "second.example")
        self.assertEqual(held.get("/hello").status, 200)  # its session goes on
        # A key that does not parse is refused; the certificate stays.
        with open(srv.cert[1], "w") as f:
            f.write("not a key\n")
        srv.reload(expect_ok=False)
        self.assertEqual(peer_cn(srv.port), "second.example")

    def test_signal_command_needs_a_pid_file(self):
        srv = self.server(server={"pid_file": None})
        p = H.run_iridium(["-s", "reload", "-c", srv.ini_path])
        self.assertEqual(p.returncode, 1)
        self.assertIn("sets no pid_file", p.stderr)
        p = H.run_iridium(["-s", "restart", "-c", srv.ini_path])
        self.assertEqual(p.returncode, 2)
        self.assertIn("not reload, reopen or stop", p.stderr)


class ModuleWithoutReloads(Base):
    """The SDK's counters example does not set IR_MODULE_RELOADS."""

    def test_its_routes_stay_until_a_restart(self):
        build = os.path.dirname(os.path.dirname(os.path.abspath(H.IRIDIUM_BIN)))
        counters = os.path.join(build, "tests", "sdk", "modules", "counters.so")
        self.assertTrue(os.path.exists(counters), counters)
        srv = self.server(modules=["hello", "counters"], module_paths={"counters": counters},
                          routes=[("/hello", {"module": "hello"}),
                                  ("/count", {"module": "counters"})])
        self.assertEqual(H.http_request(srv.port, "GET", "/count").status, 200)
        srv.routes = [("/hello", {"module": "hello", "greeting": "changed"}),
                      ("/count", {"module": "counters"})]
        srv.reload()  # its route left as it was: fine
        self.assertEqual(H.http_request(srv.port, "GET", "/hello").body, b"changed\n")
        srv.routes = [("/hello", {"module": "hello"}), ("/count2", {"module": "counters"})]
        srv.reload(expect_ok=False)
        self.assertRegex(srv.error_log_text(),
                         r"reload: .*iridium\.ini:\d+: \[route /count\] is gone or changed, but "
                         r"module counters \(built without IR_MODULE_RELOADS\) keeps its routes")
        self.assertEqual(H.http_request(srv.port, "GET", "/count").status, 200)
        self.assertEqual(H.http_request(srv.port, "GET", "/count2").status, 404)


class NewModuleFailing(Base):
    """tests/sdk's features module, newly enabled by a reload, with its
    worker_init failing on worker 1 (its fail_worker_init key)."""

    def test_worker_init_failure_undoes_the_reload(self):
        build = os.path.dirname(os.path.dirname(os.path.abspath(H.IRIDIUM_BIN)))
        features = os.path.join(build, "tests", "sdk", "modules", "features.so")
        self.assertTrue(os.path.exists(features), features)
        srv = self.server(module_paths={"features": features})
        route = {"module": "features", "label": "x", "fail_worker_init": "1"}
        srv.modules = ["hello", "features"]
        srv.routes = srv.routes + [("/f", route)]
        srv.reload(expect_ok=False)
        log = srv.error_log_text()
        line = next(i for i, t in enumerate(srv.ini_lines(), 1) if t == "[module features]")
        self.assertIn("reload: %s:%d: [module features] worker_init failed on worker 1; the "
                      "reload is undone" % (srv.ini_path, line), log)
        # Worker 0's worker_init was undone (worker_exit), then fini ran.
        m = re.search(r"module=features: fini: .*workers_init=(\d+) workers_exit=(\d+)", log)
        self.assertTrue(m, log[-2000:])
        self.assertEqual(m.groups(), ("1", "1"))
        self.assertEqual(H.http_request(srv.port, "GET", "/f/workers").status, 404)
        self.assertEqual(H.http_request(srv.port, "GET", "/hello").status, 200)
        # Loaded afresh by the next reload, it serves on both workers.
        del route["fail_worker_init"]
        srv.reload()
        r = H.http_request(srv.port, "GET", "/f/workers")
        self.assertEqual(r.status, 200, r.body)
        self.assertIn(b"workers_init=2 workers_exit=0", r.body)  # a fresh copy, on both


class ServiceOfANewModule(Base):
    def test_mqtt_over_websocket_once_a_reload_loads_websocket(self):
        import broker as B
        import websockets
        br = B.Broker()
        self.addCleanup(br.close)
        br.start()
        route = ("/mqtt", {"module": "mqtt", "broker": br.address})
        srv = self.server(modules=["mqtt"], routes=[route])
        url = "ws://127.0.0.1:%d/mqtt" % srv.port
        connect = bytes([0x10, 15, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 3]) + b"abc"

        async def session():
            async with websockets.connect(url, subprotocols=["mqtt"]) as ws:
                await ws.send(connect)
                return await ws.recv()

        with self.assertRaises(websockets.InvalidStatusCode) as cm:
            asyncio.run(asyncio.wait_for(session(), H.scaled(10)))
        self.assertEqual(cm.exception.status_code, 503)
        srv.modules = ["mqtt", "websocket"]  # the service mod_mqtt needs, loaded by the reload
        srv.reload()
        self.assertEqual(asyncio.run(asyncio.wait_for(session(), H.scaled(10))),
                         bytes([0x20, 2, 0, 0]))  # CONNACK, accepted


class NoRequestFails(Base):
    def test_h2load_over_tls_with_a_reload_every_200ms(self):
        srv = self.server(tls=True, routes=[("/hello", {"module": "hello", "greeting": "a"})])
        stop = threading.Event()
        reloads, fresh = [], {"ok": 0, "bad": []}

        def reloader():
            while not stop.is_set():
                time.sleep(0.2)
                greeting = "b" if len(reloads) % 2 == 0 else "a"
                srv.routes = [("/hello", {"module": "hello", "greeting": greeting})]
                srv.write_ini()
                os.kill(srv.pid, signal.SIGHUP)
                reloads.append(time.monotonic())

        ctx = C.client_tls_context(alpn=("http/1.1",))

        def fresh_connections():  # one new TLS connection per request
            while not stop.is_set():
                try:
                    with socket.create_connection((H.HOST, srv.port), timeout=5) as s:
                        with ctx.wrap_socket(s) as t:
                            t.sendall(H.build_request("GET", "/hello",
                                                      headers=[("Connection", "close")]))
                            r = H.HTTPReader(t).read_response("GET")
                    if r.status == 200 and r.body in (b"a\n", b"b\n"):
                        fresh["ok"] += 1
                    else:
                        fresh["bad"].append(r.status)
                except Exception as e:  # noqa: BLE001 - every failure counts
                    fresh["bad"].append(repr(e))

        threads = [threading.Thread(target=reloader), threading.Thread(target=fresh_connections)]
        for t in threads:
            t.start()
        try:
            p = H.run_cmd(["h2load", "-D", "5", "-c", "4", "-m", "8",
                           "https://127.0.0.1:%d/hello" % srv.port], timeout=60)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        out = p.stdout.decode()
        res = H.parse_h2load(out)
        self.assertIsNotNone(res, out)
        self.assertGreater(res["succeeded"], 1000, out)
        self.assertEqual((res["failed"], res["errored"], res["timeout"]), (0, 0, 0), out)
        self.assertEqual(res["2xx"], res["done"], out)
        self.assertGreaterEqual(len(reloads), 15)
        self.assertEqual(fresh["bad"], [])
        self.assertGreater(fresh["ok"], 20)
        self.assertTrue(H.wait_for(lambda: srv.served_generation() >= 10, H.scaled(5)))
        log = srv.error_log_text()
        self.assertNotIn(FAILED, log)
        # h2load's connections held generation 1 to the end; now it is freed.
        self.assertTrue(C.wait_log(srv, r"generation 1 freed"), log[-2000:])


class SessionsStayOpen(Base):
    def test_websocket_session_across_reloads(self):
        import websockets
        ws_route = {"module": "websocket", "mode": "echo"}
        srv = self.server(modules=["hello", "websocket"],
                          routes=[("/hello", {"module": "hello"}), ("/ws", dict(ws_route))])

        async def session():
            async with websockets.connect("ws://127.0.0.1:%d/ws" % srv.port) as ws:
                await ws.send("before")
                self.assertEqual(await ws.recv(), "before")
                for i in range(5):
                    # the route itself changes too: new sessions get a new instance
                    srv.routes = [("/hello", {"module": "hello", "greeting": "g%d" % i}),
                                  ("/ws", dict(ws_route, max_message_size=str(1000 + i)))]
                    srv.reload()
                    await ws.send("after %d" % i)
                    self.assertEqual(await ws.recv(), "after %d" % i)
                async with websockets.connect("ws://127.0.0.1:%d/ws" % srv.port) as new:
                    await new.send("x" * 1010)  # over the new limit (1004)
                    with self.assertRaises(websockets.ConnectionClosed) as cm:
                        await new.recv()
                    self.assertEqual(cm.exception.rcvd.code, 1009)
                await ws.send("x" * 1010)  # the old session keeps its own limit
                self.assertEqual(await ws.recv(), "x" * 1010)

        asyncio.run(asyncio.wait_for(session(), H.scaled(30)))

    def test_status_event_stream_across_reloads(self):
        srv = self.server(modules=["hello", "status"],
                          routes=[("/hello", {"module": "hello"}),
                                  ("/status", {"module": "status"})])
        s = H.connect(srv.port)
        self.addCleanup(s.close)
        s.sendall(H.build_request("GET", "/status/events"))
        s.settimeout(H.scaled(5))
        seen = b""

        def events_after(n):
            nonlocal seen
            want = seen.count(b"\ndata:") + n
            deadline = time.monotonic() + H.scaled(5)
            while seen.count(b"\ndata:") < want and time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                seen += chunk
            return seen.count(b"\ndata:") >= want

        self.assertTrue(events_after(1))
        for i in range(3):
            srv.routes = [("/hello", {"module": "hello", "greeting": "g%d" % i}),
                          ("/status", {"module": "status", "max_listed": str(100 + i)})]
            srv.reload()
            self.assertTrue(events_after(1), "no event after reload %d" % (i + 1))
        self.assertTrue(seen.startswith(b"HTTP/1.1 200"), seen[:200])

    def test_mqtt_event_stream_across_reloads(self):
        import broker as B
        br = B.Broker()
        self.addCleanup(br.close)
        br.start()
        route = {"module": "mqtt", "broker": br.address, "subscribe": "demo/#",
                 "publish": "demo/#"}
        srv = self.server(modules=["websocket", "mqtt"], routes=[("/mqtt", dict(route))])
        curl = subprocess.Popen(["curl", "-sN", "--max-time", str(int(H.scaled(30))),
                                 "http://127.0.0.1:%d/mqtt/subscribe?topic=demo/%%23" % srv.port],
                                stdout=subprocess.PIPE)
        self.addCleanup(lambda: (curl.kill(), curl.wait()))
        got = []
        reader = threading.Thread(target=lambda: got.extend(iter(curl.stdout.readline, b"")))
        reader.daemon = True
        reader.start()

        def delivered(text):
            return H.wait_for(lambda: any(text.encode() in line for line in list(got)),
                              H.scaled(5))

        self.assertTrue(H.wait_for(lambda: any(b"retry:" in line for line in list(got)),
                                   H.scaled(5)))
        time.sleep(H.scaled(0.3))  # its SUBSCRIBE reaches the broker
        B.mosquitto_pub(br, "demo/x", "before reload", qos=1)
        self.assertTrue(delivered("before reload"), got)
        for i in range(3):
            srv.routes = [("/mqtt", dict(route, sse_heartbeat="%ds" % (10 + i)))]
            srv.reload()
            B.mosquitto_pub(br, "demo/x", "after reload %d" % i, qos=1)
            self.assertTrue(delivered("after reload %d" % i), got)


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
