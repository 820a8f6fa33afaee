#!/usr/bin/python3
"""test_ws_hostile.py — mod_websocket against hostile clients (issue 10):
each protocol violation is answered with the close code of the spec, the
server then ends the connection, nothing leaks and others are still served.

One server (workers 2; http/1.1 + h2c) with /ws/echo (defaults: 1m limits,
deflate on), /ws/small (max_message_size 64k), /ws/metrics and /hello.
Raw frames come from wsraw.py over HTTP/1.1 unless said otherwise:
  1002  unmasked client frame; RSV1 without permessage-deflate, RSV2, RSV3;
        a ping of 126 bytes (and a close of 126); a fragmented ping; a
        continuation without a start; a new data frame inside a fragmented
        message; opcodes 3, 7, 0xB, 0xF
  1007  invalid UTF-8 in one frame; a bad lead byte in the first fragment
        (the close arrives before the final fragment is sent); a sequence
        split across fragments that turns invalid in the second (close
        before the final fragment) — while a valid sequence split the same
        way is accepted and echoed whole; bad UTF-8 inside a deflated message
  1009  a 64 KiB + 1 message (64 KiB itself echoes), one split in fragments,
        a frame header announcing 1 TiB (closed at once: with one payload
        byte, and with the header alone); a deflate bomb (~100 KiB that inflates to 100 MiB)
        closed within seconds while the server's RSS grows < 20 MiB
  flood 20000 pings from a client not reading: server RSS < +20 MiB, the
        last pong answers the last ping, the echo after it comes back
  h2    on an extended CONNECT stream: unmasked frame -> 1002, bad UTF-8 ->
        1007, continuation without start -> 1002, a deflate bomb -> 1009,
        with the HTTP/2 connection still serving GET /hello
After all: the server's fds back to where they started, RSS within 20 MiB
of the start (64 MiB under ASan), websocket_closes_total{code} counted every close, the error
log has a close line per code, and a plain echo still works.
"""

import os
import re
import socket
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
import h2client as C  # noqa: E402
import wsraw as W  # noqa: E402

MIB = 1 << 20
SMALL = 64 * 1024
ENABLE_CONNECT_PROTOCOL = 0x8  # RFC 8441 settings id
SRV = None
BASE = {}        # fds, rss_kib, closes (by code) after the warm-up
COUNTED = {}     # code -> closes this test caused (for the metrics check)


def ws_server():
    return C.H2Server(
        server={"workers": 2},
        modules=["websocket", "hello"],
        routes=[("/ws/echo", {"module": "websocket", "mode": "echo"}),
                ("/ws/small", {"module": "websocket", "mode": "echo",
                               "max_message_size": "64k"}),
                ("/ws/metrics", {"module": "websocket", "mode": "metrics"}),
                ("/hello", {"module": "hello", "greeting": H.DEFAULT_GREETING})],
        protocols="http/1.1, h2c")


def check_environment():
    H.check_environment()
    if not os.path.exists(os.path.join(H.MODULES_DIR, "websocket.so")):
        print("ws_hostile setup: %s has no websocket.so" % H.MODULES_DIR, file=sys.stderr)
        sys.exit(1)


def metrics():
    """{(name, labels text): value} from the metrics route."""
    r = H.http_request(SRV.port, "GET", "/ws/metrics")
    if r.status != 200:
        raise AssertionError("GET /ws/metrics: %r %r" % (r, r.body[:300]))
    out = {}
    for line in r.body.decode("utf-8", "replace").split("\n"):
        m = re.match(r"^([a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+)\s*$", line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def closes_by_code(ms):
    out = {}
    for (name, labels), v in ms.items():
        if name == "websocket_closes_total":
            m = re.search(r'code="(\d+)"', labels)
            if m:
                out[int(m.group(1))] = out.get(int(m.group(1)), 0) + v
    return out


def settle_fds(target, timeout=5.0):
    """Waits until the server holds at most target fds; returns the count."""
    return H.wait_for(lambda: SRV.num_fds() <= target and SRV.num_fds(), H.scaled(timeout)) \
        or SRV.num_fds()


def setUpModule():
    global SRV
    check_environment()
    SRV = ws_server()
    SRV.__enter__()
    # Warm-up: one echo on each protocol, so lazily made things (worker
    # state, zlib tables, metric series) exist before the baseline.
    with W.WSRaw(SRV.port) as ws:
        r = ws.handshake("/ws/echo", extensions="permessage-deflate")
        assert r.status == 101, r
        assert ws.echo_ok(b"warm-up"), "warm-up echo failed" + SRV.diagnostics()
        ws.send_close(1000)
        ws.wait_close()
    conn = C.RawConn(SRV.port)
    C.wait_settings_and_ack(conn)
    ws = W.H2WS(conn, "/ws/echo")
    assert ws.status == 200, conn.summary()
    assert ws.echo_ok(b"warm-up h2")
    ws.send_close(1000)
    ws.wait_close()
    conn.close()
    time.sleep(H.scaled(0.5))
    BASE["fds"] = SRV.num_fds()
    BASE["rss"] = SRV.rss_kib()
    BASE["closes"] = closes_by_code(metrics())
    BASE["fds"] = settle_fds(BASE["fds"])


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


class Sender:
    """Writes data from a thread on a dup of sock (the test reads, or does
    not, meanwhile); errors are kept."""

    def __init__(self, sock, data):
        self.sock = sock.dup()
        self.sock.setblocking(True)
        self.sock.settimeout(H.scaled(30))
        self.data = data
        self.errors = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.sock.sendall(self.data)
        except OSError as e:
            self.errors.append(e)
        finally:
            self.sock.close()

    def join(self):
        self.thread.join(H.scaled(30))
        return not self.thread.is_alive() and not self.errors


def count(code):
    COUNTED[code] = COUNTED.get(code, 0) + 1


class Hostile(unittest.TestCase):

    def open(self, path="/ws/echo", **kw):
        ws = W.WSRaw(SRV.port)
        self.addCleanup(ws.close)
        r = ws.handshake(path, **kw)
        self.assertEqual(r.status, 101, "handshake on %s: %r %r" % (path, r, r.body))
        self.assertTrue(ws.accept_ok(), "Sec-WebSocket-Accept: %r" % r.headers)
        return ws

    def expect_close(self, ws, code, what, timeout=3.0):
        f = ws.wait_close(timeout)
        ctx = "%s: frames from the server %r, transport %s%s" % (
            what, ws.frames[-5:], ws.gone if hasattr(ws, "gone") else "h2", SRV.diagnostics())
        self.assertIsNotNone(f, "no close frame within %.1fs; " % H.scaled(timeout) + ctx)
        self.assertEqual(f.close_code, code, "close code; " + ctx)
        self.assertEqual(ws.masked_frames(), [], "the server masked frames; " + ctx)
        self.assertIs(ws.frames[-1], f, "frames after the close frame; " + ctx)
        self.assertIsNotNone(ws.wait_gone(3.0), "the server did not end the transport after "
                             "the close handshake; " + ctx)
        count(code)
        return f

    # -- 1002 ---------------------------------------------------------------

    def test_unmasked_frame(self):
        ws = self.open()
        ws.send_frame(W.TEXT, b"no mask", mask=False)
        self.expect_close(ws, 1002, "unmasked text frame")

    def test_unmasked_binary_after_good_traffic(self):
        ws = self.open()
        self.assertTrue(ws.echo_ok(b"fine"), "echo before the bad frame")
        ws.send_frame(W.BINARY, b"\x00\x01", mask=False)
        self.expect_close(ws, 1002, "unmasked binary frame after an echo")

    def test_rsv_bits_without_extension(self):
        for rsv, name in ((W.RSV1, "RSV1"), (W.RSV2, "RSV2"), (W.RSV3, "RSV3")):
            with self.subTest(rsv=name):
                ws = self.open()  # no permessage-deflate offered
                ws.send_frame(W.TEXT, b"reserved", rsv=rsv)
                self.expect_close(ws, 1002, "%s set without a negotiated extension" % name)

    def test_rsv2_with_deflate(self):
        ws = self.open(extensions="permessage-deflate")
        self.assertIn("permessage-deflate", ws.response.header("sec-websocket-extensions") or "")
        ws.send_frame(W.BINARY, W.deflate_message(b"x" * 100), rsv=W.RSV1 | W.RSV2)
        self.expect_close(ws, 1002, "RSV2 with permessage-deflate (only RSV1 is defined)")

    def test_control_frame_126_bytes(self):
        for op in (W.PING, W.PONG, W.CLOSE):
            with self.subTest(op=W.OPNAMES[op]):
                ws = self.open()
                payload = W.close_payload(1000, b"r" * 124) if op == W.CLOSE else b"p" * 126
                self.assertEqual(len(payload), 126)
                ws.send_frame(op, payload)
                self.expect_close(ws, 1002, "%s frame with a 126-byte payload" % W.OPNAMES[op])

    def test_control_frame_125_bytes_fine(self):
        ws = self.open()
        ws.send_frame(W.PING, b"p" * 125)
        f = ws.recv_frame(3.0, skip_control=False)
        self.assertIsNotNone(f, "no answer to a 125-byte ping")
        self.assertEqual((f.opcode, f.payload), (W.PONG, b"p" * 125), "pong for a 125-byte ping")
        self.assertTrue(ws.echo_ok(b"after ping"))

    def test_fragmented_ping(self):
        ws = self.open()
        ws.send_frame(W.PING, b"half", fin=False)
        self.expect_close(ws, 1002, "ping with FIN clear")

    def test_continuation_without_start(self):
        ws = self.open()
        ws.send_frame(W.CONT, b"orphan", fin=True)
        self.expect_close(ws, 1002, "continuation frame with no message started")

    def test_continuation_after_finished_message(self):
        ws = self.open()
        self.assertTrue(ws.echo_ok(b"done"))
        ws.send_frame(W.CONT, b"late", fin=False)
        self.expect_close(ws, 1002, "continuation after a complete message")

    def test_new_message_inside_fragmented_one(self):
        ws = self.open()
        ws.send_frame(W.TEXT, b"part 1 ", fin=False)
        ws.send_frame(W.TEXT, b"not a continuation", fin=True)
        self.expect_close(ws, 1002, "a TEXT frame while a fragmented message is open")

    def test_bad_opcodes(self):
        for op in (0x3, 0x7, 0xB, 0xF):
            with self.subTest(opcode=op):
                ws = self.open()
                ws.send_frame(op, b"??")
                self.expect_close(ws, 1002, "reserved opcode 0x%x" % op)

    def test_control_frames_between_fragments_fine(self):
        ws = self.open()
        ws.send_frame(W.TEXT, b"frag-", fin=False)
        ws.send_frame(W.PING, b"mid")
        ws.send_frame(W.CONT, b"ment", fin=True)
        op, got = ws.recv_message(3.0)
        self.assertEqual((op, got), (W.TEXT, b"frag-ment"),
                         "a ping between fragments; frames %r" % ws.frames[-4:])
        self.assertIn(b"mid", [f.payload for f in ws.frames if f.opcode == W.PONG])

    def test_rsv1_on_control_and_continuation(self):
        for what, frames in (
                ("RSV1 on a ping", [(W.PING, b"p", True, W.RSV1)]),
                ("RSV1 on a continuation", [(W.BINARY, W.deflate_message(b"a" * 50)[:3], False,
                                              W.RSV1), (W.CONT, b"\x00", True, W.RSV1)])):
            with self.subTest(what=what):
                ws = self.open(extensions="permessage-deflate")
                self.assertIn("permessage-deflate",
                              ws.response.header("sec-websocket-extensions") or "")
                for op, payload, fin, rsv in frames:
                    ws.send_frame(op, payload, fin=fin, rsv=rsv)
                self.expect_close(ws, 1002, what + " with permessage-deflate negotiated")

    def test_bad_close_frames(self):
        for what, payload, code in (("a 1-byte close", b"\x03", 1002),
                                    ("close code 1005 (reserved)", W.close_payload(1005), 1002),
                                    ("close code 999", W.close_payload(999), 1002),
                                    ("close code 5000", W.close_payload(5000), 1002),
                                    ("a close reason not UTF-8", W.close_payload(1000, b"\xff"),
                                     1007)):
            with self.subTest(what=what):
                ws = self.open()
                ws.close_sent = True  # ours is the bad one; do not answer theirs
                ws.send_frame(W.CLOSE, payload)
                self.expect_close(ws, code, what)

    def test_ping_flood(self):
        """20000 pings (2.7 MB) from a client that does not read meanwhile:
        the server keeps at most a pong or so per session, not one per ping."""
        ws = self.open()
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        flood = b"".join(W.frame(W.PING, b"%05d" % i + b"p" * 120) for i in range(20000))
        data = flood + W.frame(W.TEXT, b"after the flood")
        rss0 = SRV.rss_kib()
        sender = Sender(ws.sock, data)
        peak = rss0
        end = time.monotonic() + H.scaled(2.0)
        while time.monotonic() < end:   # not reading: pongs pile up on the server's side
            peak = max(peak, SRV.rss_kib())
            time.sleep(0.02)
        op, got = None, None
        for _ in range(25000):   # pongs first, then the echo
            op, got = ws.recv_message(5.0)
            if op != W.PONG:
                break
        self.assertTrue(sender.join(), "sending the flood: %r" % sender.errors)
        self.assertEqual((op, got), (W.TEXT, b"after the flood"),
                         "the echo after the ping flood; last frames %r" % ws.frames[-3:])
        pongs = [f for f in ws.frames if f.opcode == W.PONG]
        self.assertTrue(pongs, "no pong at all for 20000 pings")
        self.assertEqual(pongs[-1].payload[:5], b"19999", "the last pong answers the last ping")
        grown = (peak - rss0) / 1024.0
        print("\n[ws_hostile] ping flood: %d pongs for 20000 pings, server RSS +%.1f MiB"
              % (len(pongs), grown), file=sys.stderr)
        self.assertLess(grown, 20.0, "server RSS grew %.1f MiB during a ping flood" % grown)

    # -- 1007 ---------------------------------------------------------------

    def test_bad_utf8_one_frame(self):
        ws = self.open()
        ws.send_frame(W.TEXT, b"caf\xc3\x28")
        self.expect_close(ws, 1007, "invalid UTF-8 in a text frame")

    def test_bad_lead_byte_first_fragment_fails_fast(self):
        ws = self.open()
        ws.send_frame(W.TEXT, b"hello \xff wor", fin=False)
        # The final fragment is not sent: the close must come on its own.
        f = ws.recv_frame(2.0)
        self.assertIsNotNone(f, "no close after a first fragment holding 0xFF (the server "
                             "waited for the end of the message)" + SRV.diagnostics())
        self.assertEqual(f.opcode, W.CLOSE, "frame after a bad first fragment: %r" % f)
        self.expect_close(ws, 1007, "0xFF in the first fragment")

    def test_utf8_split_across_fragments_invalid(self):
        ws = self.open()
        ws.send_frame(W.TEXT, b"euro \xe2\x82", fin=False)  # valid so far, incomplete
        self.assertIsNone(ws.recv_frame(0.4), "the server answered an incomplete (still valid) "
                          "UTF-8 sequence at a fragment end: %r" % ws.frames[-2:])
        ws.send_frame(W.CONT, b"\x28 more", fin=False)      # E2 82 28: invalid continuation
        f = ws.recv_frame(2.0)
        self.assertIsNotNone(f, "no close after the fragment that made the sequence invalid; "
                             "the final fragment has not been sent" + SRV.diagnostics())
        self.expect_close(ws, 1007, "E2 82 | 28 across two fragments")

    def test_utf8_split_across_fragments_valid(self):
        ws = self.open()
        ws.send_frame(W.TEXT, "h\u00e9llo ".encode() + b"\xe2\x82", fin=False)
        ws.send_frame(W.CONT, b"", fin=False)
        ws.send_frame(W.CONT, b"\xac \xf0\x9f", fin=False)
        ws.send_frame(W.CONT, b"\x98\x80", fin=True)
        op, got = ws.recv_message(3.0)
        self.assertEqual(op, W.TEXT, "valid UTF-8 split across fragments: %r" % ws.frames[-3:])
        self.assertEqual(got.decode("utf-8"), "h\u00e9llo \u20ac \U0001F600")

    def test_utf8_truncated_at_message_end(self):
        ws = self.open()
        ws.send_frame(W.TEXT, b"cut \xe2\x82", fin=True)
        self.expect_close(ws, 1007, "a text message ending inside a UTF-8 sequence")

    def test_bad_utf8_in_deflated_message(self):
        ws = self.open(extensions="permessage-deflate")
        self.assertIn("permessage-deflate", ws.response.header("sec-websocket-extensions") or "")
        ws.send_frame(W.TEXT, W.deflate_message(b"ok " * 50 + b"\xed\xa0\x80"), rsv=W.RSV1)
        self.expect_close(ws, 1007, "a deflated text message holding a UTF-16 surrogate")

    # -- 1009 and the bomb --------------------------------------------------

    def test_message_at_limit_echoes(self):
        ws = self.open("/ws/small")
        data = os.urandom(SMALL)
        self.assertTrue(ws.echo_ok(data, W.BINARY, 5.0), "a message of exactly max_message_size")

    def test_message_over_limit(self):
        ws = self.open("/ws/small")
        ws.send_frame(W.BINARY, b"\x01" * (SMALL + 1))
        self.expect_close(ws, 1009, "one frame of max_message_size + 1")

    def test_fragmented_message_over_limit(self):
        ws = self.open("/ws/small")
        for i in range(4):
            if ws.close_frame is not None or ws.peer_gone():
                break
            ws.send_frame(W.BINARY if i == 0 else W.CONT, b"\x02" * 20000, fin=(i == 3))
        self.expect_close(ws, 1009, "4 fragments of 20000 bytes over a 64k limit")

    def test_huge_length_field(self):
        ws = self.open()
        # A header announcing 1 TiB and its first payload byte: the server
        # must refuse it at once, not buffer toward a terabyte.
        ws.send_raw(W.frame(W.BINARY, b"", length=1 << 40) + b"x")
        t0 = time.monotonic()
        f = ws.recv_frame(2.0)
        self.assertIsNotNone(f, "no close after a header announcing 1 TiB" + SRV.diagnostics())
        self.assertLess(time.monotonic() - t0, H.scaled(2.0))
        self.expect_close(ws, 1009, "a frame header announcing 1 TiB")

    def test_deflate_bomb(self):
        ws = self.open(extensions="permessage-deflate; client_max_window_bits")
        ext = ws.response.header("sec-websocket-extensions") or ""
        self.assertIn("permessage-deflate", ext, "deflate not negotiated: %r" % ws.response)
        raw = b"\0" * (100 * MIB)
        bomb = W.deflate_message(raw, W.client_window_bits(ext))
        del raw
        self.assertLess(len(bomb), 200 * 1024)
        rss0 = SRV.rss_kib()
        peak = [rss0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], SRV.rss_kib())
                except (OSError, RuntimeError):
                    return
                time.sleep(0.005)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        t0 = time.monotonic()
        try:
            ws.send_raw(W.frame(W.BINARY, bomb, rsv=W.RSV1))
            f = ws.wait_close(5.0)
            took = time.monotonic() - t0
        finally:
            stop.set()
            th.join(5)
        self.assertIsNotNone(f, "no close for a deflate bomb" + SRV.diagnostics())
        self.assertEqual(f.close_code, 1009, "close code for a message inflating past "
                         "max_message_size: %r" % f)
        self.assertLess(took, H.scaled(3.0), "the bomb took %.2fs to be refused" % took)
        count(1009)
        grown = (peak[0] - rss0) / 1024.0
        print("\n[ws_hostile] deflate bomb: %d compressed bytes (100 MiB inflated), close %s "
              "after %.3fs, server RSS peak +%.1f MiB" % (len(bomb), f.close_code, took, grown),
              file=sys.stderr)
        self.assertLess(grown, 20.0, "server RSS grew %.1f MiB while inflating the bomb "
                        "(%d -> %d KiB)" % (grown, rss0, peak[0]))
        self.assertTrue(SRV.alive())

    def test_deflate_bomb_fragmented(self):
        raw = b"\0" * (20 * MIB)
        bomb = W.deflate_message(raw)
        del raw
        ws = self.open(extensions="permessage-deflate")
        self.assertIn("permessage-deflate", ws.response.header("sec-websocket-extensions") or "")
        n = len(bomb) // 4 + 1
        parts = [bomb[i:i + n] for i in range(0, len(bomb), n)]
        for i, p in enumerate(parts):
            if ws.close_frame is not None or ws.peer_gone():
                break
            ws.send_raw(W.frame(W.BINARY if i == 0 else W.CONT, p,
                                rsv=W.RSV1 if i == 0 else 0, fin=(i == len(parts) - 1)))
        self.expect_close(ws, 1009, "a fragmented deflated message inflating to 20 MiB", 5.0)

    def test_deflated_echo_fine(self):
        ws = self.open(extensions="permessage-deflate")
        self.assertIn("permessage-deflate", ws.response.header("sec-websocket-extensions") or "")
        msg = b"compress me " * 1000
        ws.send_frame(W.TEXT, W.deflate_message(msg), rsv=W.RSV1)
        f = ws.recv_frame(3.0)
        self.assertIsNotNone(f, "no answer to a deflated message")
        got = W.inflate_message(f.payload) if f.rsv & W.RSV1 else f.payload
        self.assertEqual((f.opcode, got), (W.TEXT, msg))

    # -- HTTP/2 ---------------------------------------------------------------

    def h2_session(self):
        conn = C.RawConn(SRV.port)
        self.addCleanup(conn.close)
        self.assertTrue(C.wait_settings_and_ack(conn), conn.summary())
        self.assertEqual(conn.server_settings.get(ENABLE_CONNECT_PROTOCOL), 1,
                         "SETTINGS_ENABLE_CONNECT_PROTOCOL in the server's SETTINGS")
        ws = W.H2WS(conn, "/ws/echo")
        self.assertEqual(ws.status, 200, conn.summary())
        return conn, ws

    def h2_still_serves(self, conn):
        st = conn.get("/hello")
        self.assertEqual(st.status, 200, "GET /hello on the same HTTP/2 connection after the "
                         "session closed: %r; %s" % (st, conn.summary()))
        self.assertEqual(conn.goaways, [], "GOAWAY for a WebSocket-level error")

    def test_h2_unmasked_frame(self):
        conn, ws = self.h2_session()
        self.assertTrue(ws.echo_ok(b"h2 fine"), "echo over h2 before the bad frame")
        ws.send_frame(W.TEXT, b"no mask", mask=False)
        self.expect_close(ws, 1002, "unmasked frame on an extended CONNECT stream")
        self.h2_still_serves(conn)

    def test_h2_bad_utf8_fragment(self):
        conn, ws = self.h2_session()
        ws.send_frame(W.TEXT, b"\xc0\xaf", fin=False)   # overlong '/'
        self.expect_close(ws, 1007, "overlong UTF-8 in a first fragment over h2")
        self.h2_still_serves(conn)

    def test_h2_continuation_without_start(self):
        conn, ws = self.h2_session()
        ws.send_frame(W.CONT, b"orphan")
        self.expect_close(ws, 1002, "continuation without start over h2")
        self.h2_still_serves(conn)

    def test_h2_deflate_bomb(self):
        conn = C.RawConn(SRV.port)
        self.addCleanup(conn.close)
        self.assertTrue(C.wait_settings_and_ack(conn), conn.summary())
        ws = W.H2WS(conn, "/ws/echo", extra=[("sec-websocket-extensions", "permessage-deflate")])
        self.assertEqual(ws.status, 200, conn.summary())
        ext = ws.stream.header("sec-websocket-extensions") or ""
        self.assertIn("permessage-deflate", ext, "deflate over h2: %r" % ws.stream)
        bomb = W.deflate_message(b"\0" * (100 * MIB), W.client_window_bits(ext))
        rss0 = SRV.rss_kib()
        t0 = time.monotonic()
        ws.send_frame(W.BINARY, bomb, rsv=W.RSV1)
        self.expect_close(ws, 1009, "a deflate bomb on an extended CONNECT stream", 5.0)
        self.assertLess(time.monotonic() - t0, H.scaled(3.0))
        self.assertLess((SRV.rss_kib() - rss0) / 1024.0, 20.0)
        self.h2_still_serves(conn)

    # -- after everything (runs last: unittest sorts by name) -----------------

    def test_zz_nothing_leaked(self):
        with W.WSRaw(SRV.port) as ws:
            r = ws.handshake("/ws/echo")
            self.assertEqual(r.status, 101)
            self.assertTrue(ws.echo_ok(b"still here"), "plain echo after the hostile clients")
            self.assertTrue(ws.echo_ok(os.urandom(100000), W.BINARY))
            ws.send_close(1000)
            f = ws.wait_close()
            self.assertIsNotNone(f)
            self.assertEqual(f.close_code, 1000, "the server's answer to a normal close")
            count(1000)
        H.assert_serving(self, SRV, "after the hostile clients")
        fds = settle_fds(BASE["fds"])
        self.assertLessEqual(fds, BASE["fds"], "server fds: %d at the start, %d after every "
                             "session closed%s" % (BASE["fds"], fds, SRV.diagnostics()))
        rss = SRV.rss_kib()
        print("\n[ws_hostile] server fds %d -> %d, RSS %d -> %d KiB, closes by code %r"
              % (BASE["fds"], fds, BASE["rss"], rss, COUNTED), file=sys.stderr)
        # ASan's quarantine keeps freed blocks in RSS (up to 256 MiB): under
        # it the whole-run bound is looser; the per-bomb bounds stay.
        bound = 64.0 if H.is_sanitized() else 20.0
        self.assertLess((rss - BASE["rss"]) / 1024.0, bound,
                        "server RSS %d KiB at the start, %d KiB after" % (BASE["rss"], rss))
        # Every close counted once, by code (other codes may not appear).
        want = dict(COUNTED)

        def counted():
            got = closes_by_code(metrics())
            return all(got.get(c, 0) - BASE["closes"].get(c, 0) >= n for c, n in want.items()) \
                and got
        got = H.wait_for(counted, H.scaled(3.0)) or closes_by_code(metrics())
        delta = {c: got.get(c, 0) - BASE["closes"].get(c, 0) for c in set(got) | set(want)}
        for c, n in want.items():
            self.assertEqual(delta.get(c, 0), n, "websocket_closes_total{code=\"%d\"} went up by "
                             "%s; this test caused %d such closes (all: %r)" % (c, delta.get(c),
                                                                               n, delta))
        log = SRV.error_log_text()
        for c in want:
            self.assertRegex(log, r"websocket close: code=%d\b" % c, "error log close line")


if __name__ == "__main__":
    unittest.main(verbosity=2)
