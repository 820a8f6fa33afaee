#!/usr/bin/python3
"""accept() out of file descriptors: the server, limited to a few fds
(RLIMIT_NOFILE lowered on the running process with prlimit), is filled with
idle connections until accept() fails with EMFILE. It must say so in the
error log, at most once a second per worker, stop accepting for a short
while instead of spinning on the listening socket, and serve again once the
clients go."""

import os
import re
import resource
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

NOFILE = 64     # the server's soft RLIMIT_NOFILE once started
CLIENTS = 160   # well past NOFILE; the rest wait in the backlog
WORKERS = 2
LINE = re.compile(r"accept: too many open files \(EMFILE\)")


def cpu_ms(pid):
    """utime + stime of a process, in milliseconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


class AcceptEmfile(unittest.TestCase):
    def test_emfile_logged_backs_off_and_recovers(self):
        H.raise_nofile(CLIENTS + 200)
        with H.Server(server={"workers": str(WORKERS), "keepalive_timeout": "60s",
                              "header_timeout": "60s"}) as srv:
            hard = resource.prlimit(srv.pid, resource.RLIMIT_NOFILE)[1]
            resource.prlimit(srv.pid, resource.RLIMIT_NOFILE, (NOFILE, hard))
            clients = []
            try:
                for _ in range(CLIENTS):
                    try:
                        clients.append(socket.create_connection((H.HOST, srv.port),
                                                                timeout=H.scaled(2.0)))
                    except OSError:
                        break  # the backlog is full: enough
                # The server holds about NOFILE fds; the rest of the clients
                # wait. Some of them must have met EMFILE by now.
                got = H.wait_for(lambda: LINE.search(srv.error_log_text()), H.scaled(5.0))
                self.assertTrue(got, "no 'accept: too many open files (EMFILE)' line in the "
                                "error log with %d clients and RLIMIT_NOFILE %d%s"
                                % (len(clients), NOFILE, srv.diagnostics()))
                self.assertLessEqual(srv.num_fds(), NOFILE)

                # Still out of fds for a while: the server backs off rather
                # than retrying accept() in a loop, and logs at most one line
                # a second per worker.
                t0, c0 = time.monotonic(), cpu_ms(srv.pid)
                time.sleep(2.0)
                spent, wall = cpu_ms(srv.pid) - c0, time.monotonic() - t0
                self.assertLess(spent, 0.25 * wall * 1000 * H.time_scale(),
                                "server burnt %.0f ms of CPU in %.1f s while out of fds"
                                % (spent, wall))
                elapsed = time.monotonic() - t0 + H.scaled(5.0)
                lines = LINE.findall(srv.error_log_text())
                print("\n%d clients, server fds %d, CPU %.0f ms in %.1f s out of fds, "
                      "%d EMFILE lines" % (len(clients), srv.num_fds(), spent, wall, len(lines)),
                      file=sys.stderr)
                self.assertLessEqual(len(lines), WORKERS * (int(elapsed) + 2),
                                     "%d EMFILE lines in about %.0f s" % (len(lines), elapsed))
            finally:
                for s in clients:
                    s.close()
            # Once the clients are gone the server serves again, soon.
            deadline = time.monotonic() + H.scaled(10.0)
            last = None
            while time.monotonic() < deadline:
                try:
                    r = H.http_request(srv.port, "GET", "/hello", timeout=2.0)
                    if r.status == 200:
                        break
                    last = r
                except Exception as e:  # noqa: BLE001 - retried until the deadline
                    last = e
                time.sleep(0.1)
            else:
                self.fail("not serving %.0f s after the clients closed: %r%s"
                          % (H.scaled(10.0), last, srv.diagnostics()))
            H.assert_serving(self, srv, "running out of fds")


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
