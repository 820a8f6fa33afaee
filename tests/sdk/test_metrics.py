#!/usr/bin/python3
"""test_metrics.py — sdk/README.md's "Metrics (1.4)", followed literally,
then pushed further (host.h metric_register .. metric_list):

  - the section's C code is sdk/examples/counters/counters.c, byte for byte;
  - its INI is served (2 workers) and its curl lines answer what their
    comments say: the listing is exactly the one shown;
  - the error log has the module's "4 of 4 bad registrations refused" and
    a host line saying why for each (bad name, taken name, type, labels);
  - h2load (h2c) and curl (HTTP/1.1, one connection each) traffic lands on
    both workers (x-worker), and each counter then equals the requests made
    by that method, summed over the workers; every label set is one series;
  - the in-flight gauge reads 6 while six requests are held, and 0 once
    they are answered or their clients left;
  - a label from client data stops at 1024 series: 1100 distinct users give
    76 answers marked x-counted: no, a listing with 1024 of them, and the
    series made before the cap still count;
  - SIGTERM: exit 0, no sanitizer report (everything freed under ASan).
"""
import collections
import http.client
import os
import re
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import readme_section as R  # noqa: E402

TITLE = "Metrics (1.4)"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (-?\d+)$')


def listing(served):
    out = subprocess.run(["curl", "-s", "-m", "10", served.url("/metrics")],
                         capture_output=True, text=True, timeout=20).stdout
    series = collections.Counter()
    values = {}
    for line in out.splitlines():
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        key = (m.group(1), m.group(2) or "")
        series[key] += 1
        values[key] = int(m.group(3))
    dup = [k for k, n in series.items() if n > 1]
    if dup:
        raise AssertionError("a label set listed more than once: %s" % dup)
    return values


def get(served, path, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    conn.request(method, path, body=b"x" if method == "POST" else None)
    r = conn.getresponse()
    r.read()
    conn.close()
    return r


class Metrics(unittest.TestCase):
    def test_readme_section(self):
        text = R.section(TITLE)
        source = open(os.path.join(R.REPO, "sdk", "examples", "counters", "counters.c")).read()
        self.assertIn(source, R.blocks(text, "c"), "the example is not sdk/examples/counters/counters.c")
        ini = R.blocks(text, "ini")
        self.assertEqual(len(ini), 1)
        served = R.Served(ini[0]).start()
        try:
            results = R.run_shell_lines(R.blocks(text, "sh")[-1], served)
            self.assertEqual(len(results), 3, results)
            for cmd, out, expected in results:
                self.assertEqual(out, expected, "%s\n%s" % (cmd, served.log()[-3000:]))
            self.refusals(served)
            self.traffic(served)
            self.gauge(served)
            self.cap(served)
        finally:
            served.stop()

    def refusals(self, served):
        log = served.log()
        self.assertIn("4 of 4 bad registrations refused", log)
        for why in ("the name is not", "the name is taken", "unknown type", "more than 8 labels"):
            self.assertRegex(log, r"counters.*metric_register\(.*refused: %s" % re.escape(why))

    def traffic(self, served):
        before = listing(served)
        get_key = ("counters_requests_total", '{method="GET"}')
        post_key = ("counters_requests_total", '{method="POST"}')
        h = subprocess.run(["h2load", "-n", "2000", "-c", "8", "-m", "4",
                            served.url("/count")], capture_output=True, text=True, timeout=120)
        m = re.search(r"requests: 2000 total, 2000 started, 2000 done, (\d+) succeeded", h.stdout)
        self.assertTrue(m and m.group(1) == "2000", h.stdout + h.stderr)
        workers = set()
        for i in range(40):
            r = get(served, "/count", "POST" if i % 4 == 0 else "GET")
            self.assertEqual(r.status, 200)
            workers.add(r.getheader("x-worker"))
        self.assertEqual(workers, {"0", "1"}, "40 connections did not reach both workers")
        after = listing(served)
        self.assertEqual(after[get_key] - before[get_key], 2000 + 30)
        self.assertEqual(after[post_key] - before[post_key], 10)
        self.assertEqual(after[("counters_in_flight", "")], 0)

    def gauge(self, served):
        key = ("counters_in_flight", "")
        held = [subprocess.Popen(["curl", "-s", "-m", "20", served.url("/count?hold=1500")],
                                 stdout=subprocess.PIPE, text=True) for _ in range(4)]
        leavers = [subprocess.Popen(["curl", "-s", "-m", "0.8", served.url("/count?hold=5000")],
                                    stdout=subprocess.DEVNULL) for _ in range(2)]
        up = R.H.wait_for(lambda: listing(served)[key] == 6, R.H.scaled(1.0))
        self.assertTrue(up, "the gauge did not reach 6: %s" % listing(served)[key])
        for p in held:
            self.assertEqual(p.communicate(timeout=30)[0], "counted\n")
        for p in leavers:
            p.wait(20)
        down = R.H.wait_for(lambda: listing(served)[key] == 0, R.H.scaled(5))
        self.assertTrue(down, "the gauge did not come back to 0: %s" % listing(served)[key])

    def cap(self, served):
        refused = 0
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
        for i in range(1100):
            conn.request("GET", "/count?user=u%04d" % i)
            r = conn.getresponse()
            r.read()
            refused += r.getheader("x-counted") == "no"
        conn.close()
        self.assertEqual(refused, 1100 - 1023)  # "ada" holds one of the 1024
        values = listing(served)
        users = {k: v for k, v in values.items() if k[0] == "counters_visits_total"}
        self.assertEqual(len(users), 1024)
        before = values[("counters_visits_total", '{user="ada"}')]
        self.assertIsNone(get(served, "/count?user=ada").getheader("x-counted"))
        self.assertEqual(listing(served)[("counters_visits_total", '{user="ada"}')], before + 1)
        self.assertIn("1024 series, no more are made", served.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
