#!/usr/bin/python3
"""Load with h2load over HTTP/2, cleartext (prior knowledge) and TLS (ALPN):
-n 200000 -c 32 -m 16 against /hello with every request answered 2xx and
nothing failed or errored (req/s printed, not asserted); also uploads over
h2 with many streams per connection. The request count is scaled down when
the binary is built with ASan."""

import os
import re
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

SRV = None
N = 50000 if H.is_sanitized() else 200000


def setUpModule():
    global SRV
    H.check_environment()
    H.raise_nofile(4096)
    SRV = C.H2Server(server={"max_body_size": "1m", "log_level": "warn",
                             "keepalive_requests": "1000000"},
                     listeners=[{"tls": True, "protocols": "h2, http/1.1"}])
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


class H2load(unittest.TestCase):
    def h2load(self, url, args, n, proto, timeout=150):
        p = H.run_cmd(["h2load", "-n", str(n)] + args + [url], timeout=H.scaled(timeout))
        text = p.stdout.decode("latin-1") + p.stderr.decode("latin-1")
        st = H.parse_h2load(text)
        self.assertIsNotNone(st, "no h2load summary (exit %d):\n%s" % (p.returncode, text[-3000:]))
        print("\nh2load %s %s: %s" % (" ".join(args), url, {k: st[k] for k in
                                                          ("done", "succeeded", "failed",
                                                           "errored")}))
        for l in text.splitlines():
            if l.startswith(("finished in", "req/s", "Application protocol")):
                print("  " + l)
        m = re.search(r"Application protocol: (\S+)", text)
        self.assertTrue(m and m.group(1) == proto, "h2load did not speak %s:\n%s"
                        % (proto, text[-3000:]))
        self.assertEqual(st["total"], n)
        self.assertEqual(st["done"], n, text[-3000:])
        self.assertEqual(st["succeeded"], n, text[-3000:])
        self.assertEqual(st["failed"], 0, text[-3000:])
        self.assertEqual(st["errored"], 0, text[-3000:])
        self.assertEqual(st["timeout"], 0, text[-3000:])
        self.assertEqual(st.get("2xx"), n, text[-3000:])
        self.assertTrue(SRV.alive(), "server died under load" + SRV.diagnostics())
        return st

    def test_a_h2c(self):
        self.h2load("http://127.0.0.1:%d/hello" % SRV.port, ["-c", "32", "-m", "16"], N, "h2c")

    def test_b_tls(self):
        self.h2load("https://127.0.0.1:%d/hello" % SRV.ports[0], ["-c", "32", "-m", "16"], N,
                    "h2")

    def test_c_uploads(self):
        with tempfile.NamedTemporaryFile(prefix="iridium-h2load-") as f:
            f.write(os.urandom(100 * 1024))
            f.flush()
            n = 1000 if H.is_sanitized() else 5000
            self.h2load("http://127.0.0.1:%d/hello" % SRV.port,
                        ["-c", "8", "-m", "16", "-d", f.name], n, "h2c")

    def test_d_still_serving(self):
        H.assert_serving(self, SRV, "h2load runs")
        with C.LibClient(SRV.port) as c:
            st = c.fetch("GET", "/hello")
            self.assertEqual(st.status, 200, st)


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
