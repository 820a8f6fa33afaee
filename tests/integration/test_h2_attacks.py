#!/usr/bin/python3
"""HTTP/2 attacks with hand-built frames, each answered as RFC 9113 asks and
counted in the error log, with the server still serving a fresh client
afterwards:

  Rapid Reset (CVE-2023-44487)   HEADERS + RST_STREAM pairs past the
                                 h2_reset_burst bucket -> GOAWAY
                                 ENHANCE_YOUR_CALM
  MadeYouReset (CVE-2025-8671)   client errors that make the server reset
                                 streams (a request without :path, a body
                                 longer than its content-length), paced
                                 below the concurrent-stream limit; same
                                 bucket size, counted separately -> GOAWAY
                                 ENHANCE_YOUR_CALM
  CONTINUATION flood             a header block that never ends -> GOAWAY
                                 (ENHANCE_YOUR_CALM or PROTOCOL_ERROR)
  header list too large/many     431 or RST_STREAM for that stream only
  SETTINGS / PING / empty DATA / PRIORITY floods -> GOAWAY ENHANCE_YOUR_CALM
  the limits from the INI          small h2_reset_burst, h2_flood_limit and
                                   h2_max_continuations take effect

Every limit hit must leave a warn line naming it with conn=ID, once per
connection (not a line per offending frame).

Each attack has a control: the same frames below the limit leave the
connection open and serving, so a server that answers every RST or SETTINGS
with GOAWAY fails too."""

import os
import re
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402
import hpack  # noqa: E402

GREETING = H.DEFAULT_GREETING
BODY = (GREETING + "\n").encode()
SRV = None
CALM = (C.ENHANCE_YOUR_CALM,)
# A request without :path (malformed: nghttp2 resets the stream, PROTOCOL_ERROR);
# static-table references and never-indexed literals only, reusable anywhere.
NO_PATH_BLOCK = hpack.Encoder().encode([hpack.NeverIndexedHeaderTuple(n, v) for n, v in (
    (":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1"))])


def setUpModule():
    global SRV
    H.check_environment()
    H.raise_nofile(4096)
    SRV = C.H2Server(server={"max_body_size": "8m", "log_level": "info"})
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


class Attacks(unittest.TestCase):
    def setUp(self):
        self.mark = SRV.log_mark()

    def tearDown(self):
        self.assertTrue(SRV.alive(), "server process died during the test" + SRV.diagnostics())

    # ---- helpers -----------------------------------------------------------

    def conn(self, **kw):
        c = C.RawConn(SRV.port, **kw)
        self.assertTrue(C.wait_settings_and_ack(c), "preface: " + c.summary())
        return c

    def serve_one(self, c, what):
        st = c.get("/hello", timeout=5)
        self.assertEqual((st.status, bytes(st.data)), (200, BODY),
                         "%s: the connection stopped serving: %r %s" % (what, st, c.summary()))

    def assert_goaway_and_close(self, c, what, codes=CALM, max_last=0, timeout=10.0):
        how = c.wait_closed(timeout)
        g = c.goaways[0] if c.goaways else None
        self.assertIsNotNone(g, "%s: no GOAWAY (connection %s) %s" % (what, how, c.summary()))
        self.assertIn(g.error_code(), codes, "%s: %r, want %s" % (
            what, g, "/".join(C.errname(x) for x in codes)))
        self.assertLessEqual(g.last_stream_id(), max_last,
                             "%s: GOAWAY last-stream-id %d beyond the last stream opened (%d)"
                             % (what, g.last_stream_id(), max_last))
        self.assertIn(how, ("eof", "reset"), "%s: connection not closed within %.0fs after "
                      "GOAWAY %s" % (what, H.scaled(timeout), c.summary()))
        return g

    def assert_counted(self, words, what):
        """A warn line with the connection id and one of words; and not a
        line per offending frame (the log is no amplifier)."""
        rx = r"\[warn\] .*conn=(\d+).*\b(%s)\b" % "|".join(words)
        m = C.wait_log(SRV, rx, self.mark)
        if not m:
            other = [l for l in SRV.log_since(self.mark).splitlines()
                     if re.search(r"\b(%s)\b" % "|".join(words), l, re.I)]
            self.fail("%s: no warn line with conn= and one of %s in the error log%s:\n%s"
                      % (what, words, " (logged below warn: %r)" % other[:3] if other else "",
                         SRV.log_since(self.mark)[-3000:]))
        time.sleep(0.2)
        lines = [l for l in SRV.log_since(self.mark).splitlines()
                 if "[warn]" in l and re.search(r"\bconn=%s\b" % m.group(1), l)]
        self.assertLessEqual(len(lines), 5, "%s: %d warn lines for one connection (one per "
                             "offending frame?), first: %r" % (what, len(lines), lines[:2]))

    def assert_fresh_client_served(self, what):
        with C.LibClient(SRV.port) as c:
            st = c.fetch("GET", "/hello", timeout=10)
            self.assertEqual((st.status, bytes(st.data)), (200, BODY),
                             "a fresh HTTP/2 client after %s: %r" % (what, st))
        H.assert_serving(self, SRV, "after " + what)

    def assert_still_open(self, c, what):
        self.serve_one(c, what)
        c.pump(None, 0.3)
        self.assertEqual(c.goaways, [], "%s: GOAWAY below the limit: %r" % (what, c.goaways))
        self.assertIsNone(c.closed, "%s: connection closed below the limit" % what)

    def repeated(self, c, n, make):
        """Queues make(sid) for n new stream ids; returns the last id."""
        last = 0
        for _ in range(n):
            last = c.new_sid()
            c.queue(make(last))
        return last

    # ---- Rapid Reset ------------------------------------------------------------

    def rapid_reset(self, c, n):
        blk = c.fixed_block("GET", "/hello?delay=2000")
        return self.repeated(c, n, lambda sid: C.headers_frame(sid, blk, end_stream=True)
                             + C.rst_frame(sid, C.CANCEL))

    def test_rapid_reset(self):
        with self.conn() as c:
            last = self.rapid_reset(c, 5000)
            t0 = time.monotonic()
            g = self.assert_goaway_and_close(c, "rapid reset", max_last=last)
            print("\nrapid reset: GOAWAY %s last=%d after %.2fs (%d frames received)"
                  % (C.errname(g.error_code()), g.last_stream_id(), time.monotonic() - t0,
                     c.nframes))
        self.assert_counted(["reset", "rapid reset"], "rapid reset")
        self.assert_fresh_client_served("rapid reset")

    def test_resets_below_the_burst_are_fine(self):
        with self.conn() as c:
            self.rapid_reset(c, 200)
            c.flush()
            self.assert_still_open(c, "200 client resets")

    # ---- MadeYouReset -------------------------------------------------------------
    # nghttp2 treats WINDOW_UPDATE 0 and DATA on a half-closed stream as
    # connection errors, so the triggers here are the stream errors it answers
    # with RST_STREAM PROTOCOL_ERROR: a request without :path, and a body
    # longer than its content-length.

    def made_you_reset(self, what, make):
        """Batches of 100 streams (below the 128 concurrent streams), each
        sent once the previous batch's resets came back: the server's own
        bucket (h2_reset_burst 1000, h2_reset_rate 33/s) must end it, with
        GOAWAY ENHANCE_YOUR_CALM."""
        with self.conn() as c:
            t0 = time.monotonic()
            last = 0
            for _batch in range(40):
                if c.closed or c.goaways:
                    break
                for _ in range(100):
                    last = c.new_sid()
                    c.queue(make(last))
                st = c.stream(last)
                c.pump(lambda: st.reset is not None or c.goaways or c.closed, 5)
            el = time.monotonic() - t0
            rsts = [f for f in c.frames if f.type == C.RST_STREAM]
            g = self.assert_goaway_and_close(c, what, max_last=last)
            print("\n%s: %d RST_STREAM in %.2fs then GOAWAY %s"
                  % (what, len(rsts), el, C.errname(g.error_code())))
            self.assertTrue(all(f.error_code() == C.PROTOCOL_ERROR for f in rsts[:20]), rsts[:5])
            self.assertLess(len(rsts), 1000 + 33 * (el + 1) + 100,
                            "%d server resets in %.1fs before the GOAWAY (bucket 1000 + 33/s)"
                            % (len(rsts), el))
        self.assert_counted(["reset", "MadeYouReset"], what)
        self.assert_fresh_client_served(what)

    def test_made_you_reset_missing_path(self):
        self.made_you_reset("MadeYouReset (requests without :path)",
                            lambda sid: C.headers_frame(sid, NO_PATH_BLOCK, end_stream=True))

    def test_made_you_reset_content_length(self):
        blk = hpack.Encoder().encode([hpack.NeverIndexedHeaderTuple(n, v) for n, v in (
            (":method", "POST"), (":scheme", "http"), (":authority", "127.0.0.1"),
            (":path", "/hello"), ("content-length", "1"))])
        self.made_you_reset("MadeYouReset (body longer than content-length)",
                            lambda sid: C.headers_frame(sid, blk)
                            + C.data_frame(sid, b"ab", end_stream=True))

    def test_server_resets_below_the_burst_are_fine(self):
        with self.conn() as c:
            last = self.repeated(c, 100, lambda sid: C.headers_frame(sid, NO_PATH_BLOCK,
                                                                     end_stream=True))
            st = c.stream(last)
            c.pump(lambda: st.reset is not None or c.closed, 5)
            self.assertEqual(st.reset, C.PROTOCOL_ERROR, "a request without :path on stream "
                             "%d: %r %s" % (last, st, c.summary()))
            self.assert_still_open(c, "100 provoked server resets")

    # ---- CONTINUATION ---------------------------------------------------------------

    def continuation_flood(self, c, n, piece):
        sid = c.new_sid()
        c.queue(C.headers_frame(sid, c.block("GET", "/hello"), end_stream=True,
                                end_headers=False))
        for i in range(n):
            c.queue(C.continuation_frame(sid, piece(i)))
        return sid

    def test_continuation_flood(self):
        enc = hpack.Encoder()
        with self.conn() as c:
            # Each CONTINUATION carries one never-indexed field; the block never ends.
            sid = self.continuation_flood(c, 2000, lambda i: enc.encode(
                [hpack.NeverIndexedHeaderTuple("x-c%d" % i, "v" * 40)]))
            g = self.assert_goaway_and_close(c, "CONTINUATION flood",
                                             codes=(C.ENHANCE_YOUR_CALM, C.PROTOCOL_ERROR),
                                             max_last=sid)
            print("\nCONTINUATION flood: GOAWAY %s" % C.errname(g.error_code()))
            self.assertIsNone(c.stream(sid).status, "the never-ending block was answered")
        self.assert_counted(["continuation"], "CONTINUATION flood")
        self.assert_fresh_client_served("CONTINUATION flood")

    def test_empty_continuation_flood(self):
        with self.conn() as c:
            sid = self.continuation_flood(c, 20000, lambda i: b"")
            self.assert_goaway_and_close(c, "empty CONTINUATION flood",
                                         codes=(C.ENHANCE_YOUR_CALM, C.PROTOCOL_ERROR),
                                         max_last=sid)
        self.assert_counted(["continuation"], "empty CONTINUATION flood")
        self.assert_fresh_client_served("empty CONTINUATION flood")

    def test_few_continuations_are_fine(self):
        with self.conn() as c:
            sid = c.new_sid()
            blk = c.block("GET", "/hello", [("x-pad-%d" % i, "p" * 30) for i in range(6)])
            parts = [blk[i:i + 40] for i in range(0, len(blk), 40)][:7]
            parts[-1] = blk[40 * (len(parts) - 1):]
            c.queue(C.headers_frame(sid, parts[0], end_stream=True, end_headers=False))
            for i, p in enumerate(parts[1:]):
                c.queue(C.continuation_frame(sid, p, end_headers=(i == len(parts) - 2)))
            st = c.wait_stream(sid)
            self.assertEqual((st.status, bytes(st.data)), (200, BODY),
                             "%d CONTINUATIONs (h2_max_continuations = 8): %r %s"
                             % (len(parts) - 1, st, c.summary()))
            self.assert_still_open(c, "6 CONTINUATIONs")

    # ---- header limits ---------------------------------------------------------------

    def split_block(self, c, sid, blk, end_stream=True):
        frames = [blk[i:i + 16384] for i in range(0, len(blk), 16384)]
        c.queue(C.headers_frame(sid, frames[0], end_stream=end_stream,
                                end_headers=len(frames) == 1))
        for i, p in enumerate(frames[1:]):
            c.queue(C.continuation_frame(sid, p, end_headers=(i == len(frames) - 2)))
        return len(frames)

    def assert_refused_stream(self, c, sid, what):
        st = c.wait_stream(sid, 10)
        self.assertTrue(st.status == 431 or st.reset is not None,
                        "%s: want 431 or RST_STREAM, got %r %s" % (what, st, c.summary()))
        self.assertEqual(c.goaways, [], "%s: the whole connection was closed (GOAWAY %r), "
                         "only the stream should be" % (what, c.goaways))
        print("\n%s: %s" % (what, "431" if st.status == 431 else "RST_STREAM "
                            + C.errname(st.reset)))
        self.serve_one(c, what)

    def test_one_huge_header(self):
        with self.conn() as c:
            sid = c.new_sid()
            blk = c.block("GET", "/hello", [hpack.NeverIndexedHeaderTuple(
                "x-huge", "h" * (40 * 1024))], huffman=False)
            n = self.split_block(c, sid, blk)
            self.assertLessEqual(n, 4)
            self.assert_refused_stream(c, sid, "one 40 KiB header (max_header_size 32k)")
        self.assert_fresh_client_served("a huge header")

    def test_too_many_headers(self):
        with self.conn() as c:
            sid = c.new_sid()
            hs = [hpack.NeverIndexedHeaderTuple("x-many-%d" % i, "v") for i in range(150)]
            self.split_block(c, sid, c.block("GET", "/hello", hs))
            self.assert_refused_stream(c, sid, "150 headers (max_header_count 100)")

    def test_headers_below_limits_are_fine(self):
        with self.conn() as c:
            hs = [hpack.NeverIndexedHeaderTuple("x-many-%d" % i, "v" * 100) for i in range(90)]
            sid = c.new_sid()
            self.split_block(c, sid, c.block("GET", "/hello", hs))
            st = c.wait_stream(sid)
            self.assertEqual(st.status, 200, "90 headers of 100 bytes: %r %s"
                             % (st, c.summary()))
            sid = c.new_sid()
            self.split_block(c, sid, c.block("GET", "/hello", [hpack.NeverIndexedHeaderTuple(
                "x-big", "b" * (24 * 1024))], huffman=False))
            st = c.wait_stream(sid)
            self.assertEqual(st.status, 200, "one 24 KiB header: %r %s" % (st, c.summary()))

    # ---- floods -----------------------------------------------------------------------

    def flood(self, what, make, n, opened_stream=True, body_stream=False, words=("flood",)):
        with self.conn() as c:
            last = 0
            if opened_stream:
                self.serve_one(c, what)
                last = 1
            if body_stream:
                last = c.send_request("POST", "/hello", end_stream=False)
            for i in range(n):
                c.queue(make(i, last))
            g = self.assert_goaway_and_close(c, what, max_last=last)
            self.assertGreaterEqual(g.last_stream_id(), 1 if opened_stream else 0,
                                    "%s: GOAWAY last-stream-id %d although stream 1 was "
                                    "processed" % (what, g.last_stream_id()))
            print("\n%s: GOAWAY %s last=%d" % (what, C.errname(g.error_code()),
                                                g.last_stream_id()))
        self.assert_counted(["flood"] + list(words), what)
        self.assert_fresh_client_served(what)

    def below_flood(self, what, make, n, body_stream=False):
        with self.conn() as c:
            last = 0
            if body_stream:
                last = c.send_request("POST", "/hello", end_stream=False)
            for i in range(n):
                c.queue(make(i, last))
            c.flush()
            c.pump(None, 0.5)
            if body_stream:
                c.send(C.data_frame(last, b"end", end_stream=True))
                st = c.wait_stream(last)
                self.assertEqual((st.status, bytes(st.data)), (200, b"end"), st)
            self.assert_still_open(c, "%d %s" % (n, what))

    def test_settings_flood(self):
        self.flood("SETTINGS flood", lambda i, s: C.settings_frame(), 2000, words=["SETTINGS"])

    def test_settings_below_limit(self):
        self.below_flood("SETTINGS", lambda i, s: C.settings_frame(), 50)

    def test_ping_flood(self):
        self.flood("PING flood", lambda i, s: C.ping_frame(i.to_bytes(8, "big")), 2000,
                   words=["PING"])

    def test_ping_below_limit(self):
        self.below_flood("PING", lambda i, s: C.ping_frame(i.to_bytes(8, "big")), 50)

    def test_empty_data_flood(self):
        self.flood("empty DATA flood", lambda i, s: C.data_frame(s, b""), 2000,
                   opened_stream=False, body_stream=True, words=["empty DATA"])

    def test_empty_data_below_limit(self):
        self.below_flood("empty DATA", lambda i, s: C.data_frame(s, b""), 50, body_stream=True)

    def test_priority_flood(self):
        self.flood("PRIORITY flood", lambda i, s: C.priority_frame(1001 + 2 * (i % 500), 0, 16),
                   2000, words=["PRIORITY"])

    def test_priority_below_limit(self):
        self.below_flood("PRIORITY", lambda i, s: C.priority_frame(1001 + 2 * i, 0, 16), 50)


class ConfiguredLimits(unittest.TestCase):
    """The [server] keys set the limits: with small values, a few frames are
    enough, and below them nothing happens."""

    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = C.H2Server(server={"h2_reset_burst": "20", "h2_reset_rate": "1",
                                     "h2_flood_limit": "10", "h2_max_continuations": "2"})
        cls.srv.__enter__()

    @classmethod
    def tearDownClass(cls):
        if cls.srv is not None:
            cls.srv.__exit__(None, None, None)

    def conn(self):
        c = C.RawConn(self.srv.port)
        self.assertTrue(C.wait_settings_and_ack(c), c.summary())
        return c

    def resets(self, c, n):
        blk = c.fixed_block("GET", "/hello?delay=2000")
        for _ in range(n):
            sid = c.new_sid()
            c.queue(C.headers_frame(sid, blk, end_stream=True) + C.rst_frame(sid))
        return sid

    def test_reset_burst_from_config(self):
        with self.conn() as c:
            self.resets(c, 10)
            c.flush()
            c.pump(None, 0.3)
            self.assertEqual(c.goaways, [], "10 resets with h2_reset_burst = 20")
            self.assertIsNone(c.closed)
            last = self.resets(c, 30)
            c.wait_closed(5)
            self.assertTrue(c.goaways and c.goaways[0].error_code() == C.ENHANCE_YOUR_CALM,
                            "40 resets with h2_reset_burst = 20, h2_reset_rate = 1: %s"
                            % c.summary())
            self.assertLessEqual(c.goaways[0].last_stream_id(), last)

    def test_flood_limit_from_config(self):
        with self.conn() as c:
            for i in range(5):
                c.queue(C.ping_frame(i.to_bytes(8, "big")))
            c.flush()
            c.pump(lambda: len(c.ping_acks) >= 5, 2)
            self.assertEqual(c.goaways, [], "5 PINGs with h2_flood_limit = 10")
            for i in range(30):
                c.queue(C.ping_frame(i.to_bytes(8, "big")))
            c.wait_closed(5)
            self.assertTrue(c.goaways and c.goaways[0].error_code() == C.ENHANCE_YOUR_CALM,
                            "35 PINGs at once with h2_flood_limit = 10: %s" % c.summary())

    def test_max_continuations_from_config(self):
        with self.conn() as c:
            sid = c.new_sid()
            blk = c.block("GET", "/hello", [("x-pad", "p" * 60)])
            third = len(blk) // 3
            c.queue(C.headers_frame(sid, blk[:third], end_stream=True, end_headers=False))
            c.queue(C.continuation_frame(sid, blk[third:2 * third]))
            c.queue(C.continuation_frame(sid, blk[2 * third:], end_headers=True))
            st = c.wait_stream(sid)
            self.assertEqual(st.status, 200, "2 CONTINUATIONs with h2_max_continuations = 2: "
                             "%r %s" % (st, c.summary()))
            sid = c.new_sid()
            blk = c.block("GET", "/hello", [("x-pad2", "q" * 60)])
            q = len(blk) // 4
            c.queue(C.headers_frame(sid, blk[:q], end_stream=True, end_headers=False))
            c.queue(C.continuation_frame(sid, blk[q:2 * q]))
            c.queue(C.continuation_frame(sid, blk[2 * q:3 * q]))
            c.queue(C.continuation_frame(sid, blk[3 * q:], end_headers=True))
            c.wait_closed(5)
            self.assertIsNone(c.stream(sid).status, "3 CONTINUATIONs with "
                              "h2_max_continuations = 2 were accepted")
            self.assertTrue(c.goaways and c.goaways[0].error_code() in (C.ENHANCE_YOUR_CALM,
                                                                        C.PROTOCOL_ERROR),
                            c.summary())


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
