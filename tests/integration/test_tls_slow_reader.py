#!/usr/bin/python3
"""What an HTTP/1.1 client over TLS that stops reading costs the server:
20 such clients each ask the static module for an 8 MiB file and never
read. Everything one connection holds for its response (plaintext queued,
sealed records, file data read ahead) must stay within about
max_queued_output, so the server's RSS grows by less than twice that per
client."""

import os
import socket
import sys
import tempfile
import shutil
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402
import static_common as S  # noqa: E402

CLIENTS = 20
MAX_QUEUED = 128 * 1024
FILE_SIZE = 8 << 20


def slow_client(port):
    """A TLS HTTP/1.1 client with a small receive buffer that sends one GET
    for /big.bin and then reads nothing."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(H.scaled(10.0))
    raw.connect((H.HOST, port))
    s = C.client_tls_context(("http/1.1",)).wrap_socket(raw, server_hostname="localhost")
    s.sendall(H.build_request("GET", "/big.bin"))
    return s


class SlowTLSReader(unittest.TestCase):
    def test_rss_per_slow_tls_reader_bounded_by_max_queued_output(self):
        root = tempfile.mkdtemp(prefix="iridium-slow-tls-")
        try:
            S.write_file(os.path.join(root, "big.bin"), os.urandom(FILE_SIZE))
            srv = S.StaticServer({"root": root},
                                 server={"max_queued_output": str(MAX_QUEUED),
                                         "write_timeout": "60s"})
            with srv:
                # Warm up both workers' TLS and file paths, so the baseline
                # holds what any connection would.
                for _ in range(4):
                    p = H.curl(["-k", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}",
                                S.url_of(srv, "http1.1-tls", "/big.bin")])
                    self.assertEqual(p.stdout, b"200", p.stderr)
                time.sleep(0.3)
                base = srv.rss_kib()
                clients = []
                try:
                    for _ in range(CLIENTS):
                        clients.append(slow_client(srv.tls_port))
                    # Let the server fill what it will, until RSS settles.
                    last, stable = -1, 0
                    deadline = time.monotonic() + H.scaled(10.0)
                    while time.monotonic() < deadline and stable < 4:
                        time.sleep(0.25)
                        now = srv.rss_kib()
                        stable = stable + 1 if abs(now - last) < 64 else 0
                        last = now
                    peak = srv.rss_kib()
                    per = (peak - base) / CLIENTS
                    print("\nRSS KiB: base %d, with %d slow TLS readers %d: %.0f KiB each "
                          "(max_queued_output %d KiB)"
                          % (base, CLIENTS, peak, per, MAX_QUEUED // 1024), file=sys.stderr)
                    self.assertTrue(srv.alive())
                    if H.is_sanitized():
                        print("ASan build: RSS bound not checked (quarantine keeps freed "
                              "memory)", file=sys.stderr)
                    else:
                        self.assertLess(per, 2 * MAX_QUEUED / 1024,
                                        "each slow TLS reader costs %.0f KiB of RSS, more than "
                                        "twice max_queued_output (%d KiB)"
                                        % (per, MAX_QUEUED // 1024))
                finally:
                    for s in clients:
                        s.close()
                H.assert_serving(self, srv, "slow TLS readers")
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    H.check_environment()
    S.check_static_environment()
    unittest.main(verbosity=2)
