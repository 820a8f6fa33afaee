#!/usr/bin/python3
"""HTTP/2 slow readers: a client that opens its windows one byte at a time
must not pin the server's memory and file descriptors.

The attack: initial window 0, a large file (static module) on 128 streams,
then a 1-byte WINDOW_UPDATE per stream now and then. Each update is
"progress", so only a minimum send rate (h2_min_send_rate after
h2_min_send_rate_grace, shortened here) resets such streams. Meanwhile the
connection may hold at most h2_max_file_bodies open file bodies and a
bounded amount of memory. Clients that read at a fair rate, and many
concurrent downloads on one connection, still get every byte.
"""

import os
import shutil
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402
import static_common as S  # noqa: E402

BIG = 50 << 20  # the 50 MB file (sparse: reads cost no disk)
MID = 1 << 20
STREAMS = 128
GRACE_S = 1.0
MIN_RATE = 240
MAX_FILE_BODIES = 16
# The target for one such connection.
MAX_RSS_GROWTH_KIB = 32 * 1024
MAX_FD_GROWTH = 32

TMP = None
SRV = None


def setUpModule():
    global TMP, SRV
    S.check_static_environment()
    TMP = tempfile.mkdtemp(prefix="iridium-slowreader-")
    with open(os.path.join(TMP, "big.bin"), "wb") as f:
        f.truncate(BIG)
    S.write_file(os.path.join(TMP, "mid.bin"), bytes(range(256)) * (MID // 256))
    SRV = S.StaticServer({"root": TMP},
                         server={"h2_min_send_rate": str(MIN_RATE),
                                 "h2_min_send_rate_grace": "%dms" % (GRACE_S * 1000),
                                 "h2_max_file_bodies": str(MAX_FILE_BODIES),
                                 "h2_stream_idle_timeout": "60s", "write_timeout": "60s",
                                 "keepalive_timeout": "60s"},
                         tls=False)
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)
    if TMP:
        shutil.rmtree(TMP, ignore_errors=True)


def connect(window):
    c = C.RawConn(SRV.port, settings={C.S_INITIAL_WINDOW_SIZE: window}, auto_window=False,
                  keep_frames=False)
    if not C.wait_settings_and_ack(c):
        raise AssertionError("no SETTINGS exchange: %s" % c.summary())
    c.send(C.window_update_frame(0, (1 << 31) - 1 - 65535))  # the connection is never the limit
    return c


class OneByteWindows(unittest.TestCase):
    def test_streams_reset_and_resources_bounded(self):
        rss0, fds0 = SRV.rss_kib(), SRV.num_fds()
        with connect(0) as c:
            sids = [c.send_request("GET", "/big.bin") for _ in range(STREAMS)]
            c.flush()
            t0 = time.monotonic()
            deadline = t0 + GRACE_S + H.scaled(10)
            peak_rss, peak_fds = rss0, fds0
            open_ = lambda: [s for s in sids if c.stream(s).reset is None and not c.stream(s).ended]
            while open_() and time.monotonic() < deadline and c.closed is None:
                for s in open_():
                    c.queue(C.window_update_frame(s, 1))
                c.pump(None, 0.25, scale=False)
                peak_rss = max(peak_rss, SRV.rss_kib())
                peak_fds = max(peak_fds, SRV.num_fds())
            el = time.monotonic() - t0
            left = open_()
            grown_kib, grown_fds = peak_rss - rss0, peak_fds - fds0
            print("\n%d of %d streams reset after %.2fs; RSS %d -> peak %d KiB (+%d), fds %d -> "
                  "peak %d (+%d)" % (STREAMS - len(left), STREAMS, el, rss0, peak_rss, grown_kib,
                                     fds0, peak_fds, grown_fds))
            self.assertEqual(left, [], "%d of %d streams reading 1 byte per 0.25 s were not reset "
                             "within %.1fs (h2_min_send_rate %d after %.1fs): %s"
                             % (len(left), STREAMS, el, MIN_RATE, GRACE_S, c.summary()))
            codes = {C.errname(c.stream(s).reset) for s in sids}
            self.assertEqual(codes, {C.errname(C.CANCEL)}, "reset codes")
            self.assertGreater(el, GRACE_S * 0.8, "reset within the grace period")
            self.assertLessEqual(grown_kib, MAX_RSS_GROWTH_KIB,
                                 "one slow-reading connection grew RSS by %d KiB" % grown_kib)
            self.assertLessEqual(grown_fds, MAX_FD_GROWTH,
                                 "one slow-reading connection held %d more fds" % grown_fds)
            # only the streams: the connection goes on
            self.assertEqual(c.goaways, [])
            sid = c.send_request("GET", "/hello")
            c.queue(C.window_update_frame(sid, 1 << 16))
            st = c.wait_stream(sid)
            self.assertEqual(st.status, 200, st)
        # +1: the static module's open-file cache may still hold big.bin
        ok = H.wait_for(lambda: SRV.num_fds() <= fds0 + 1, H.scaled(3))
        self.assertTrue(ok, "fds after the connection closed: %d, before %d"
                        % (SRV.num_fds(), fds0))
        H.assert_serving(self, SRV, "after the slow readers")


class FairReaders(unittest.TestCase):
    def test_steady_reader_above_the_rate_not_reset(self):
        """4 KiB every 0.25 s (16 KiB/s, far above 240 B/s) for 3 s: past the
        grace period, never reset."""
        with connect(0) as c:
            sid = c.send_request("GET", "/big.bin")
            t_end = time.monotonic() + GRACE_S + 2.0
            while time.monotonic() < t_end:
                c.send(C.window_update_frame(sid, 4096))
                c.pump(None, 0.25, scale=False)
                st = c.stream(sid)
                self.assertIsNone(st.reset, "a stream read at 16 KiB/s was reset after %d "
                                  "bytes" % len(st.data))
            self.assertGreater(len(c.stream(sid).data), 8 * 4096)

    def test_many_downloads_on_one_connection(self):
        """More concurrent file bodies than h2_max_file_bodies: the rest wait
        for a slot and every byte arrives."""
        n = MAX_FILE_BODIES * 3
        with C.RawConn(SRV.port, settings={C.S_INITIAL_WINDOW_SIZE: 1 << 20},
                       keep_frames=False) as c:
            self.assertTrue(C.wait_settings_and_ack(c), c.summary())
            sids = [c.send_request("GET", "/mid.bin") for _ in range(n)]
            c.pump(lambda: all(c.stream(s).ended or c.stream(s).reset is not None for s in sids),
                   20)
            for s in sids:
                st = c.stream(s)
                self.assertTrue(st.ended and st.reset is None, st)
                self.assertEqual((st.status, len(st.data)), (200, MID), st)


if __name__ == "__main__":
    unittest.main(verbosity=2)
