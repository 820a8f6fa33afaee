#!/usr/bin/python3
"""Load with h2load over HTTP/1.1: every request answered 2xx, nothing
failed or errored; also with pipelining (-m 10) and with request bodies."""

import os
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SRV = None


def setUpModule():
    global SRV
    H.check_environment()
    H.raise_nofile(4096)
    # keepalive_requests above the per-connection count: with -m 10 h2load counts
    # the pipelined requests beyond the limit (never answered) as errors.
    SRV = H.Server(server={"max_body_size": "1m", "log_level": "warn",
                           "keepalive_requests": "100000"})
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


class H2loadH1(unittest.TestCase):
    def h2load(self, args, n, path="/hello", timeout=120):
        url = "http://127.0.0.1:%d%s" % (SRV.port, path)
        p = H.run_cmd(["h2load", "--h1", "-n", str(n)] + args + [url], timeout=H.scaled(timeout))
        text = p.stdout.decode("latin-1") + p.stderr.decode("latin-1")
        st = H.parse_h2load(text)
        self.assertIsNotNone(st, "no h2load summary (exit %d):\n%s" % (p.returncode, text[-3000:]))
        print("\nh2load %s: %s" % (" ".join(args), {k: st[k] for k in
                                                   ("done", "succeeded", "failed", "errored")}))
        for l in text.splitlines():
            if l.startswith(("finished in", "req/s")):
                print("  " + l)
        self.assertEqual(st["total"], n)
        self.assertEqual(st["done"], n, text[-3000:])
        self.assertEqual(st["succeeded"], n, text[-3000:])
        self.assertEqual(st["failed"], 0, text[-3000:])
        self.assertEqual(st["errored"], 0, text[-3000:])
        self.assertEqual(st["timeout"], 0, text[-3000:])
        self.assertEqual(st.get("2xx"), n, text[-3000:])
        self.assertTrue(SRV.alive(), "server died under load" + SRV.diagnostics())
        return st

    def test_a_20000_requests_50_clients(self):
        self.h2load(["-c", "50", "-m", "1"], 20000)

    def test_b_pipelined(self):
        self.h2load(["-c", "10", "-m", "10"], 20000)

    def test_c_uploads(self):
        with tempfile.NamedTemporaryFile(prefix="iridium-h2load-") as f:
            f.write(os.urandom(64 * 1024))
            f.flush()
            self.h2load(["-c", "8", "-m", "1", "-d", f.name], 2000)

    def test_d_still_serving(self):
        H.assert_serving(self, SRV, "h2load runs")


if __name__ == "__main__":
    unittest.main(verbosity=2)
