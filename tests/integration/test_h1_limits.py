#!/usr/bin/python3
"""max_connections and memory: 1000 concurrent keep-alive clients against
max_connections = 500 (2 workers). About 500 are served, the rest are closed
without hanging; nothing hangs; memory and descriptors come back after the
clients leave; the freed slots can be used again."""

import errno
import os
import selectors
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

MAX_CONN = 500
CLIENTS = 1000


def storm(port, n, deadline_s):
    """Opens n non-blocking connections at once, sends one keep-alive GET on
    each, and waits (bounded) for every one to end up in a final state.
    Returns (results dict name -> count, list of sockets still open, details)."""
    sel = selectors.DefaultSelector()
    socks = []
    state = {}
    result = {}
    req = H.build_request("GET", "/hello")
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((H.HOST, port))
        if err not in (0, errno.EINPROGRESS):
            result[s] = "connect_error_%s" % errno.errorcode.get(err, err)
            s.close()
            continue
        socks.append(s)
        state[s] = {"phase": "connecting", "buf": b""}
        sel.register(s, selectors.EVENT_WRITE)
    deadline = time.monotonic() + deadline_s
    pending = len(state)

    def finish(s, what):
        nonlocal pending
        result[s] = what
        pending -= 1
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass

    while pending and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=min(0.5, max(0.01, deadline - time.monotonic()))):
            s = key.fileobj
            st = state[s]
            if st["phase"] == "connecting":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    finish(s, "connect_" + errno.errorcode.get(err, str(err)))
                    continue
                try:
                    s.send(req)
                except (BrokenPipeError, ConnectionResetError):
                    finish(s, "reset")
                    continue
                except BlockingIOError:
                    finish(s, "send_blocked")
                    continue
                st["phase"] = "waiting"
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                finish(s, "reset" if not st["buf"] else "incomplete_reset")
                continue
            except BlockingIOError:
                continue
            if not d:
                finish(s, "closed" if not st["buf"] else "incomplete_closed")
                continue
            st["buf"] += d
            buf = st["buf"]
            if b"\r\n\r\n" in buf:
                head, body = buf.split(b"\r\n\r\n", 1)
                status = head.split(b" ", 2)[1].decode()
                cl = None
                for line in head.split(b"\r\n")[1:]:
                    n_, _, v = line.partition(b":")
                    if n_.strip().lower() == b"content-length":
                        cl = int(v.strip())
                if cl is not None and len(body) >= cl:
                    finish(s, "ok" if status == "200" else "status_" + status)
    for s, st in state.items():
        if s not in result:
            result[s] = "hung_" + st["phase"]
    counts = {}
    for v in result.values():
        counts[v] = counts.get(v, 0) + 1
    sel.close()
    return counts, socks, result


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


class MaxConnections(unittest.TestCase):
    def test_max_connections_and_rss(self):
        got = H.raise_nofile(CLIENTS * 2 + 500)
        self.assertGreaterEqual(got, CLIENTS + 300, "RLIMIT_NOFILE hard limit too low (%d) for "
                                "%d client sockets; raise it (ulimit -Hn)" % (got, CLIENTS))
        with H.Server(server={"max_connections": str(MAX_CONN), "workers": "2",
                              "keepalive_timeout": "60s", "header_timeout": "30s"}) as srv:
            for _ in range(20):
                self.assertEqual(H.http_request(srv.port).status, 200)
            time.sleep(0.5)
            idle = srv.rss_kib()
            idle_fds = srv.num_fds()

            counts, socks, _ = storm(srv.port, CLIENTS, H.scaled(15))
            try:
                time.sleep(0.3)
                peak = srv.rss_kib()
                peak_fds = srv.num_fds()
                print("\n%d clients, max_connections=%d: %s" % (CLIENTS, MAX_CONN, counts))
                served = counts.get("ok", 0)
                hung = {k: v for k, v in counts.items() if k.startswith("hung")}
                self.assertEqual(hung, {}, "connections left hanging with neither a response "
                                 "nor a close: %s" % counts)
                odd = {k: v for k, v in counts.items()
                       if k not in ("ok", "closed", "reset", "status_503")}
                self.assertEqual(odd, {}, "unexpected outcomes (incomplete responses, other "
                                 "statuses, connect errors): %s" % counts)
                self.assertGreaterEqual(served, MAX_CONN * 9 // 10,
                                        "too few clients served: %s" % counts)
                self.assertLessEqual(served, MAX_CONN + 4,
                                     "max_connections=%d not enforced: %s" % (MAX_CONN, counts))
                self.assertTrue(srv.alive())
            finally:
                close_all(socks)

            # Everything closed: descriptors and memory come back.
            fds_back = H.wait_for(lambda: srv.num_fds() <= idle_fds + 8, H.scaled(5))
            time.sleep(2.0)
            after = srv.rss_kib()
            after_fds = srv.num_fds()
            print("RSS KiB: idle %d, peak %d, after close %d (+%d)" % (idle, peak, after,
                                                                      after - idle))
            print("fds: idle %d, peak %d, after close %d" % (idle_fds, peak_fds, after_fds))
            self.assertTrue(fds_back, "server still holds %d descriptors (idle had %d) 5 s after "
                            "all clients closed" % (after_fds, idle_fds))
            if H.is_sanitized():
                print("ASan build: RSS bound not checked (quarantine keeps freed memory)")
            else:
                self.assertLess(after, idle + 16 * 1024,
                                "RSS after closing all connections %d KiB vs idle %d KiB"
                                % (after, idle))

            H.assert_serving(self, srv, "the connection storm")

            # The slots are free again: 400 at once must all be served.
            counts2, socks2, _ = storm(srv.port, 400, H.scaled(15))
            close_all(socks2)
            print("second round, 400 clients: %s" % counts2)
            self.assertEqual(counts2.get("ok", 0), 400,
                             "after the first clients left, 400 (< max_connections) clients "
                             "were not all served: %s" % counts2)
            time.sleep(0.5)
            H.assert_serving(self, srv, "the second round")


class ClientAborts(unittest.TestCase):
    """Clients that disappear at any point of a request free their
    connection at once (EOF is noticed), not only when a timeout fires."""

    CASES = [
        ("mid_request_line", b"GET /hel"),
        ("mid_headers", b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: 1"),
        ("post_cl_headers_only", H.build_request("POST", "/hello", content_length=5)),
        ("post_cl_partial_body", H.build_request("POST", "/hello", content_length=5) + b"ab"),
        ("post_chunked_headers_only",
         H.build_request("POST", "/hello", headers=[("Transfer-Encoding", "chunked")])),
        ("post_chunked_partial",
         H.build_request("POST", "/hello", headers=[("Transfer-Encoding", "chunked")])
         + b"5\r\nab"),
        ("expect_100_no_body", H.build_request("POST", "/hello", content_length=5,
                                               headers=[("Expect", "100-continue")])),
        ("during_slow_response", H.build_request("GET", "/hello?delay=3000")),
    ]

    def test_abort_frees_connection(self):
        with H.Server(server={"header_timeout": "60s", "body_timeout": "60s",
                              "keepalive_timeout": "60s", "shutdown_timeout": "10s"}) as srv:
            self.assertEqual(H.http_request(srv.port).status, 200)
            time.sleep(0.3)
            base = srv.num_fds()
            stuck = []
            for name, data in self.CASES:
                for pause in (0.0, 0.2):
                    s = H.connect(srv.port)
                    s.sendall(data)
                    time.sleep(pause)
                    s.close()
                    if not H.wait_for(lambda: srv.num_fds() <= base, H.scaled(3)):
                        stuck.append("%s (client closed after %.1fs)" % (name, pause))
                        base = srv.num_fds()  # count each stuck one once
            H.assert_serving(self, srv, "client aborts")
            t0 = time.monotonic()
            srv.expect_prompt_stop = False  # checked below with its own message
            srv.stop()
            took = time.monotonic() - t0
            self.assertEqual(stuck, [], "connections the server kept > %.0fs after the client "
                             "closed: %s" % (H.scaled(3), stuck))
            self.assertLess(took, H.scaled(2), "SIGTERM took %.1fs: a connection whose client "
                            "has gone held the shutdown" % took)

    def test_large_echo_then_close_frees_connection(self):
        # A complete 2 MiB echo exchange (client reads while it sends, like
        # curl), then the client closes: the server must notice the close.
        import threading
        with H.Server(server={"max_body_size": "8m", "keepalive_timeout": "60s"}) as srv:
            self.assertEqual(H.http_request(srv.port).status, 200)
            time.sleep(0.3)
            base = srv.num_fds()
            stuck = 0
            rounds = 25
            for i in range(rounds):
                body = os.urandom(2 * 1024 * 1024)
                s = H.connect(srv.port)
                try:
                    t = threading.Thread(target=s.sendall,
                                         args=(H.build_request("POST", "/hello", body=body),))
                    t.start()
                    r = H.HTTPReader(s).read_response()
                    t.join(H.scaled(10))
                    self.assertEqual(r.status, 200)
                    self.assertEqual(H.sha256(r.body), H.sha256(body), "echo %d" % i)
                    time.sleep(0.05)
                finally:
                    s.close()
                if not H.wait_for(lambda: srv.num_fds() <= base, H.scaled(1.5)):
                    stuck += 1
                    base = srv.num_fds()
            srv.expect_prompt_stop = False
            t0 = time.monotonic()
            srv.stop()
            took = time.monotonic() - t0
            self.assertEqual(stuck, 0, "%d of %d connections still held by the server after "
                             "a complete 2 MiB echo and the client's close" % (stuck, rounds))
            self.assertLess(took, H.scaled(2), "SIGTERM took %.1fs" % took)


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
