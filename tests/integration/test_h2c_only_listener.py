#!/usr/bin/python3
"""An h2c-only listener (`protocols = h2c`): prior-knowledge clients are
served, and each connection's HTTP/2 session is freed with it.

Regression: the listener started HTTP/2 at accept and then, once the preface
was sniffed, a second session over the first, which was never freed (about
25 KB per connection; found by the fuzz_h2 target with
IRIDIUM_FUZZ_PROTOCOLS=h2c). The plain build shows it as RSS growth over many
connections; under ASan, LeakSanitizer reports it when the server exits,
which the harness turns into a failure.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

ROUNDS = 10
CONNS = 100  # per round: h2load opens one connection per client


class H2cOnlyListener(unittest.TestCase):
    def test_sessions_freed_per_connection(self):
        with C.H2Server(protocols="h2c", server={"max_connections": "1000"}) as srv:
            url = "http://%s:%d/hello" % (H.HOST, srv.port)

            def load():
                p = H.run_cmd(["h2load", "-n", str(CONNS), "-c", str(CONNS), url],
                              timeout=H.scaled(60))
                st = H.parse_h2load(p.stdout.decode("latin-1"))
                self.assertIsNotNone(st, p.stdout[-2000:])
                self.assertEqual(st["succeeded"], CONNS, p.stdout[-2000:])

            load()  # warm-up: slabs, recycler, first allocations
            before = srv.rss_kib()
            for _ in range(ROUNDS):
                load()
            grown = srv.rss_kib() - before
            if not H.is_sanitized():  # ASan's quarantine keeps freed memory
                self.assertLess(grown, 6 * 1024,
                                "RSS grew %d KiB over %d connections" % (grown, ROUNDS * CONNS))


if __name__ == "__main__":
    H.check_environment()
    unittest.main()
