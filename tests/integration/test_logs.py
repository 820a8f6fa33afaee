#!/usr/bin/python3
"""The access log (one line per request, fields checked against what the
client saw, in the iridium, combined and json formats; SIGUSR1 reopens the
files after a rotation without losing a line) and the error log (TIME
[level] ... format, level filtering, stderr/stdout/off destinations);
SIGHUP does not stop the server."""

import datetime
import json
import os
import re
import signal
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

TS = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"
QUOTED = r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\x[0-9a-fA-F]{2})*)"'
ACCESS_RE = re.compile(r"^%s (\S+):(\d+) %s (\d{3}) (\d+) (\d+\.\d+) (HTTP/\d(?:\.\d)?) %s %s %s "
                       r"(\S+)$" % (TS, QUOTED, QUOTED, QUOTED, QUOTED))
COMBINED_RE = re.compile(r'^(\S+) - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000)\] %s (\d{3}) (\d+) '
                         r'%s %s$' % (QUOTED, QUOTED, QUOTED))
ERROR_RE = re.compile(r"^%s \[(debug|info|warn|error)\] (.+)$" % TS)
GREETING = H.DEFAULT_GREETING


def parse_access(line):
    m = ACCESS_RE.match(line)
    if not m:
        return None
    ts, peer, port, reqs, status, nbytes, dur, proto, host, referer, agent, module = m.groups()
    return {"time": ts, "peer": peer, "port": int(port), "request": reqs, "status": int(status),
            "bytes": int(nbytes), "duration": float(dur), "protocol": proto, "host": host,
            "referer": referer, "user_agent": agent, "module": module}


def parse_ts(ts):
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


class AccessLog(unittest.TestCase):
    def exchange(self, srv, reqs, methods):
        """Sends requests one by one on one connection; returns (local port,
        responses)."""
        s = H.connect(srv.port)
        try:
            lport = s.getsockname()[1]
            rd = H.HTTPReader(s)
            out = []
            for r, m in zip(reqs, methods):
                s.sendall(r)
                out.append(rd.read_response(m))
            return lport, out
        finally:
            s.close()

    def test_fields_of_known_requests(self):
        with H.Server() as srv:
            body = os.urandom(1234)
            reqs = [H.build_request("GET", "/hello?x=1"),
                    H.build_request("GET", "/nope"),
                    H.build_request("POST", "/hello", body=body),
                    H.build_request("HEAD", "/hello"),
                    H.build_request("DELETE", "/hello")]
            methods = ["GET", "GET", "POST", "HEAD", "DELETE"]
            before = datetime.datetime.now(datetime.timezone.utc)
            lport, rs = self.exchange(srv, reqs, methods)
            after = datetime.datetime.now(datetime.timezone.utc)
            lines = srv.wait_access_lines(len(reqs))
            self.assertEqual(len(lines), len(reqs), "access log lines:\n" + "\n".join(lines))
            want = [("GET /hello?x=1", rs[0]), ("GET /nope", rs[1]), ("POST /hello", rs[2]),
                    ("HEAD /hello", rs[3]), ("DELETE /hello", rs[4])]
            for line, (reqline, resp) in zip(lines, want):
                e = parse_access(line)
                self.assertIsNotNone(e, "access log line not in the format: %r" % line)
                self.assertEqual(e["request"], reqline, line)
                self.assertEqual(e["peer"], "127.0.0.1", line)
                self.assertEqual(e["port"], lport, "client port in %r" % line)
                self.assertEqual(e["status"], resp.status, line)
                self.assertEqual(e["bytes"], len(resp.body), "body bytes in %r (client got %d)"
                                 % (line, len(resp.body)))
                self.assertEqual(e["protocol"], "HTTP/1.1", line)
                self.assertEqual(e["host"], "127.0.0.1", line)
                self.assertEqual((e["referer"], e["user_agent"]), ("-", "-"), line)
                self.assertEqual(e["module"], "-" if reqline == "GET /nope" else "hello", line)
                self.assertTrue(0 <= e["duration"] < H.scaled(5), line)
                t = parse_ts(e["time"])
                self.assertTrue(before - datetime.timedelta(seconds=1) <= t <=
                                after + datetime.timedelta(seconds=1),
                                "time %s not between %s and %s (UTC)" % (t, before, after))
            self.assertEqual(parse_access(lines[0])["bytes"], len(GREETING) + 1)
            self.assertEqual(parse_access(lines[2])["bytes"], 1234)
            self.assertEqual(parse_access(lines[3])["bytes"], 0)

    def test_duration_of_delayed_request(self):
        with H.Server() as srv:
            r = H.http_request(srv.port, "GET", "/hello?delay=300")
            self.assertEqual(r.status, 200)
            lines = srv.wait_access_lines(1)
            self.assertEqual(len(lines), 1, lines)
            e = parse_access(lines[0])
            self.assertIsNotNone(e, lines[0])
            self.assertEqual(e["request"], "GET /hello?delay=300")
            self.assertGreaterEqual(e["duration"], 0.29, lines[0])
            self.assertLess(e["duration"], H.scaled(3), lines[0])

    def test_one_line_per_request_from_several_connections(self):
        with H.Server() as srv:
            n = 30
            for i in range(n):
                self.assertEqual(H.http_request(srv.port, "GET", "/hello?i=%d" % i).status, 200)
            lines = srv.wait_access_lines(n)
            self.assertEqual(len(lines), n, "expected %d lines, got %d" % (n, len(lines)))
            got = sorted(parse_access(l)["request"] for l in lines)
            self.assertEqual(got, sorted("GET /hello?i=%d" % i for i in range(n)))

    def test_hostile_targets_cannot_forge_lines(self):
        with H.Server() as srv:
            served = []
            for target in (b'/hello?a"b', b"/hello?a\\b", b"/hello?\x7f\xff", b'/hello?"x" 200'):
                got = H.raw_exchange(srv.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
                                     b"Connection: close\r\n\r\n", timeout=3)
                if got.startswith(b"HTTP/1.1 200"):
                    served.append(target)
            self.assertEqual(H.http_request(srv.port, "GET", "/hello?final=1").status, 200)

            def has_final():
                return "/hello?final=1" in srv.access_log_text()
            self.assertTrue(H.wait_for(has_final, H.scaled(3)), srv.access_log_text())
            for line in srv.access_lines():
                self.assertIsNotNone(parse_access(line),
                                     "access log line with unescaped bytes: %r" % line)
            reqs = [parse_access(l)["request"] for l in srv.access_lines()]
            for target in served:  # each served one is logged, escaped
                want = "GET " + "".join(chr(b) if 0x20 <= b < 0x7f and b not in b'"\\'
                                        else "\\x%02x" % b for b in target)
                self.assertTrue(any(r.lower() == want.lower() for r in reqs),
                                "no line %r in %r" % (want, reqs))

    def test_access_log_stdout(self):
        with H.Server(server={"access_log": "stdout"}) as srv:
            self.assertEqual(H.http_request(srv.port, "GET", "/hello?to=stdout").status, 200)
            lines = srv.wait_access_lines(1, source=srv.stdout_text)
            ok = [l for l in lines if parse_access(l) and
                  parse_access(l)["request"] == "GET /hello?to=stdout"]
            self.assertEqual(len(ok), 1, "stdout: %r" % srv.stdout_text())

    def test_access_log_off(self):
        with H.Server(server={"access_log": "off"}) as srv:
            self.assertEqual(H.http_request(srv.port, "GET", "/hello?off=1").status, 200)
            time.sleep(0.5)
            self.assertFalse(os.path.exists(srv.access_log) and srv.access_log_text(),
                             "access log written although off")
            self.assertNotIn("/hello?off=1", srv.stdout_text())
            self.assertNotIn("/hello?off=1", srv.stderr_text())


class AccessFormats(unittest.TestCase):
    """access_log_format = combined and json, filled from real clients."""

    def curl_hello(self, srv, *extra):
        out = H.curl(["-sS", "-A", "tester/1.0 (\"quoted\")", "-e", "http://ref.example/p?q=1",
                      "-o", "/dev/null", "-w", "%{http_code} %{size_download}"] + list(extra) +
                     ["http://127.0.0.1:%d/hello?fmt=1" % srv.port])
        code, size = out.stdout.split()
        return int(code), int(size)

    def test_combined_from_curl(self):
        with H.Server(server={"access_log_format": "combined"}) as srv:
            code, size = self.curl_hello(srv)
            self.assertEqual(code, 200)
            lines = srv.wait_access_lines(1)
            self.assertEqual(len(lines), 1, lines)
            m = COMBINED_RE.match(lines[0])
            self.assertIsNotNone(m, "not the combined format: %r" % lines[0])
            addr, when, request, status, nbytes, referer, agent = m.groups()
            self.assertEqual(addr, "127.0.0.1")
            t = datetime.datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z")
            self.assertLess(abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()),
                            H.scaled(10))
            self.assertEqual(request, "GET /hello?fmt=1 HTTP/1.1")
            self.assertEqual((int(status), int(nbytes)), (200, size))
            self.assertEqual(referer, "http://ref.example/p?q=1")
            self.assertEqual(agent, "tester/1.0 (\\x22quoted\\x22)")

    def test_json_from_curl_over_h1_and_h2(self):
        with H.Server(server={"access_log_format": "json"}, protocols="http/1.1, h2c") as srv:
            self.assertEqual(self.curl_hello(srv)[0], 200)
            code, size = self.curl_hello(srv, "--http2-prior-knowledge")
            self.assertEqual(code, 200)
            self.assertEqual(H.http_request(srv.port, "GET", "/nope").status, 404)
            lines = srv.wait_access_lines(3)
            self.assertEqual(len(lines), 3, lines)
            rows = [json.loads(l) for l in lines]
            names = ["time", "client", "method", "target", "protocol", "status", "bytes",
                     "duration", "host", "referer", "user_agent", "module"]
            for r in rows:
                self.assertEqual(list(r), names, r)
                parse_ts(r["time"])
                self.assertRegex(r["client"], r"^127\.0\.0\.1:\d+$")
                self.assertIsInstance(r["duration"], float)
            h1 = next(r for r in rows if r["protocol"] == "HTTP/1.1" and r["target"] != "/nope")
            h2 = next(r for r in rows if r["protocol"] == "HTTP/2")
            for r in (h1, h2):
                self.assertEqual((r["method"], r["target"], r["status"], r["bytes"]),
                                 ("GET", "/hello?fmt=1", 200, size), r)
                self.assertEqual(r["referer"], "http://ref.example/p?q=1")
                self.assertEqual(r["user_agent"], 'tester/1.0 ("quoted")')
                self.assertEqual(r["module"], "hello")
                self.assertEqual(r["host"], "127.0.0.1:%d" % srv.port)
            miss = next(r for r in rows if r["target"] == "/nope")
            self.assertEqual((miss["status"], miss["module"], miss["referer"]), (404, None, None))


class Rotation(unittest.TestCase):
    """What logrotate does: move the files, then kill -USR1."""

    def test_usr1_reopens_under_load_without_losing_a_line(self):
        """Requests go on while the files move and the logs reopen: each
        one is logged once, in the old file or the new one."""
        with H.Server() as srv:
            sent, errors, stop = [], [], threading.Event()

            def load():
                i = 0
                while not stop.is_set() and i < 20000:
                    try:
                        if H.http_request(srv.port, "GET", "/hello?i=%d" % i).status == 200:
                            sent.append(i)
                    except OSError as e:
                        errors.append(e)
                    i += 1
            t = threading.Thread(target=load, daemon=True)
            t.start()
            self.assertTrue(H.wait_for(lambda: len(sent) >= 100, H.scaled(20)))
            os.rename(srv.access_log, srv.access_log + ".1")
            os.rename(srv.error_log, srv.error_log + ".1")
            srv.signal(signal.SIGUSR1)
            self.assertTrue(H.wait_for(lambda: "reopened the log files" in srv.error_log_text(),
                                       H.scaled(5)), srv.error_log_text())
            at_reopen = len(sent)
            self.assertTrue(H.wait_for(lambda: len(sent) >= at_reopen + 100, H.scaled(20)))
            stop.set()
            t.join(H.scaled(30))
            self.assertFalse(t.is_alive())
            self.assertEqual(errors, [])

            def lines(path):
                return [l for l in srv._read(path).split("\n") if l]
            self.assertTrue(H.wait_for(lambda: len(lines(srv.access_log + ".1")) +
                                       len(lines(srv.access_log)) >= len(sent), H.scaled(5)))
            old, new = lines(srv.access_log + ".1"), lines(srv.access_log)
            self.assertGreaterEqual(len(new), 100, "lines after the reopen")
            got = sorted(int(parse_access(l)["request"].split("=")[1]) for l in old + new)
            self.assertEqual(got, sorted(sent), "each request once, none lost")
            self.assertIn("started", srv._read(srv.error_log + ".1"))
            self.assertTrue(srv.alive())

    def test_sighup_does_not_stop_the_server(self):
        with H.Server() as srv:
            srv.signal(signal.SIGHUP)
            self.assertTrue(H.wait_for(lambda: "signal 1:" in srv.error_log_text(), H.scaled(3)),
                            srv.error_log_text())
            self.assertEqual(H.http_request(srv.port, "GET", "/hello").status, 200)
            self.assertTrue(srv.alive())


class ErrorLog(unittest.TestCase):
    def activity(self, srv):
        self.assertEqual(H.http_request(srv.port, "GET", "/hello").status, 200)
        H.raw_exchange(srv.port, b"GARBAGE\r\n\r\n", timeout=3)
        H.raw_exchange(srv.port, H.build_request("GET", "/hello") + b"X" * 10, timeout=0.5)
        self.assertEqual(H.http_request(srv.port, "GET", "/nope").status, 404)
        self.assertEqual(H.http_request(srv.port, "DELETE", "/hello").status, 405)

    def check_lines(self, text, where):
        lines = [l for l in text.split("\n") if l]
        for l in lines:
            if "Sanitizer" in l or "runtime error" in l:
                continue
            m = ERROR_RE.match(l)
            self.assertIsNotNone(m, "%s line not in the TIME [level] format: %r" % (where, l))
            rest = m.group(3)
            if rest.startswith("conn="):
                self.assertRegex(rest, r"^conn=\d+( stream=\d+)?( module=\S+)?: \S", l)
        return lines

    def test_debug_level_format(self):
        srv = H.Server(server={"log_level": "debug"})
        with srv:
            self.activity(srv)
            srv.stop()
            text = srv._read(srv.error_log)
            exists = os.path.exists(srv.error_log)
        lines = self.check_lines(text, "error log")
        self.assertTrue(lines, "nothing in the error log at log_level = debug")
        self.assertTrue(any("conn=" in l for l in lines),
                        "no connection-tagged line at debug level:\n" + "\n".join(lines[-20:]))

    def test_warn_level_filters(self):
        srv = H.Server(server={"log_level": "warn"})
        with srv:
            self.activity(srv)
            srv.stop()
            text = srv._read(srv.error_log)
            exists = os.path.exists(srv.error_log)
        lines = self.check_lines(text, "error log")
        low = [l for l in lines if ERROR_RE.match(l) and ERROR_RE.match(l).group(2) in ("debug", "info")]
        self.assertEqual(low, [], "debug/info lines at log_level = warn")

    def test_error_log_stderr(self):
        srv = H.Server(server={"log_level": "debug", "error_log": "stderr"})
        with srv:
            self.activity(srv)
            srv.stop()
            text = srv._read(srv.stderr_path)
            exists = os.path.exists(srv.error_log)
        lines = self.check_lines(text, "stderr")
        self.assertTrue(lines, "error_log = stderr at debug level wrote nothing to stderr")
        self.assertFalse(exists, "error.log created although stderr")


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
