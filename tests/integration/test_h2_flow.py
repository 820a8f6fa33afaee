#!/usr/bin/python3
"""HTTP/2 streams and flow control against the hello echo: 100 concurrent
streams on one connection each echoing its own body byte for byte (some
bodies larger than the server's initial window, so both directions depend on
WINDOW_UPDATE), request trailers, the server honouring the client's stream
and connection windows and its SETTINGS_MAX_FRAME_SIZE, and a client
RST_STREAM that leaves the connection usable."""

import hashlib
import os
import random
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

GREETING = H.DEFAULT_GREETING
BODY = (GREETING + "\n").encode()
SRV = None

# Sizes around the frame size, the default window and the server's initial
# window (256 KiB), and past it.
SIZES = [0, 1, 1000, 16383, 16384, 16385, 65535, 65536, 65537, 100000, 262144, 262145,
         300 * 1024, 300 * 1024 + 13]


def setUpModule():
    global SRV
    H.check_environment()
    SRV = C.H2Server(server={"max_body_size": "8m"},
                     listeners=[{"tls": True, "protocols": "h2, http/1.1"}])
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


class Flow(unittest.TestCase):
    def tearDown(self):
        self.assertTrue(SRV.alive(), "server process died during the test" + SRV.diagnostics())

    def concurrent_echo(self, port, tls, n):
        rnd = random.Random(4242 + n)
        bodies = []
        for i in range(n):
            size = SIZES[i % len(SIZES)] + (rnd.randrange(0, 64) if i >= len(SIZES) else 0)
            bodies.append(os.urandom(size))
        with C.LibClient(port, tls=tls) as c:
            self.assertTrue(c.wait_settings(), "no server SETTINGS")
            t0 = time.monotonic()
            sids = []
            for i, b in enumerate(bodies):
                hs = [("content-type", "application/x-echo-%d" % i)]
                if i % 2 == 0:
                    hs.append(("content-length", str(len(b))))
                sids.append(c.request("POST" if i % 3 else "PUT", "/hello", headers=hs, body=b))
            sts = c.wait(sids, timeout=60)
            el = time.monotonic() - t0
            self.assertIsNone(c.error, "protocol error: %r" % c.error)
            self.assertIsNone(c.terminated, "connection terminated: %r" % c.terminated)
            bad = []
            for i, (st, b) in enumerate(zip(sts, bodies)):
                if not st.ended or st.status != 200 or bytes(st.data) != b:
                    bad.append("stream %d (%d bytes sent): %r sha ok=%s" % (
                        st.sid, len(b), st, hashlib.sha256(st.data).digest()
                        == hashlib.sha256(b).digest()))
                    continue
                self.assertEqual(st.header("content-type"), "application/x-echo-%d" % i)
                if i % 2 == 0:
                    self.assertEqual(st.header("content-length"), str(len(b)), st.hdict)
            self.assertEqual(bad, [], "%d of %d streams not echoed:\n%s"
                             % (len(bad), n, "\n".join(bad[:20])))
        total = sum(map(len, bodies))
        print("\n%d streams, %.1f MiB each way in %.2fs" % (n, total / 1048576.0, el))

    def test_100_concurrent_streams_echo_h2c(self):
        self.concurrent_echo(SRV.port, False, 100)

    def test_concurrent_streams_echo_tls(self):
        self.concurrent_echo(SRV.ports[0], True, 40)

    def test_request_trailers_lib(self):
        body = os.urandom(100000)
        md5 = hashlib.md5(body).hexdigest()
        with C.LibClient(SRV.port) as c:
            a = c.request("POST", "/hello", body=body, trailers=[("x-checksum", md5)])
            b = c.request("POST", "/hello", headers=[("content-length", "5")], body=b"hello",
                          trailers=[("x-one", "1"), ("x-two", "2")])
            a, b = c.wait([a, b])
        self.assertIsNone(c.error)
        self.assertEqual(a.status, 200, a)
        self.assertTrue(a.ended, a)
        self.assertEqual(bytes(a.data), body, "echo of a body followed by trailers")
        self.assertEqual((b.status, bytes(b.data)), (200, b"hello"), b)

    def test_request_trailers_raw_frames(self):
        with C.RawConn(SRV.port) as c:
            sid = c.new_sid()
            c.queue(C.headers_frame(sid, c.block("POST", "/hello",
                                                 [("content-type", "text/x-t")])))
            c.queue(C.data_frame(sid, b"part one,"))
            c.queue(C.data_frame(sid, b" part two"))
            c.queue(C.headers_frame(sid, c.enc.encode([("x-trailer", "yes")]), end_stream=True))
            st = c.wait_stream(sid, 10)
            self.assertEqual(st.status, 200, "%r %s" % (st, c.summary()))
            self.assertTrue(st.ended, st)
            self.assertEqual(bytes(st.data), b"part one, part two")
            self.assertEqual(st.header("content-type"), "text/x-t")
            self.assertFalse(c.goaways, c.goaways)
            st2 = c.get("/hello")
            self.assertEqual((st2.status, bytes(st2.data)), (200, BODY), st2)

    def test_server_honours_stream_window(self):
        data = os.urandom(5000)
        with C.RawConn(SRV.port, settings={C.S_INITIAL_WINDOW_SIZE: 1000},
                       auto_window=False) as c:
            self.assertTrue(C.wait_settings_and_ack(c), c.summary())
            sid = c.send_request("POST", "/hello", body=data)
            st = c.stream(sid)
            c.pump(lambda: st.ended or st.reset is not None, 1.0)
            self.assertEqual(st.status, 200, "%r %s" % (st, c.summary()))
            self.assertEqual(len(st.data), 1000, "the server sent %d bytes into a 1000-byte "
                             "stream window" % len(st.data))
            self.assertFalse(st.ended)
            c.send(C.window_update_frame(sid, 1500))
            c.pump(lambda: len(st.data) >= 2500, 3)
            c.pump(None, 0.3)
            self.assertEqual(len(st.data), 2500, "after WINDOW_UPDATE 1500")
            c.send(C.window_update_frame(sid, 10000))
            c.wait_stream(sid, 5)
            self.assertTrue(st.ended, st)
            self.assertEqual(bytes(st.data), data)

    def test_server_honours_connection_window(self):
        data = os.urandom(200000)
        with C.RawConn(SRV.port, settings={C.S_INITIAL_WINDOW_SIZE: 1 << 20},
                       auto_window=False) as c:
            self.assertTrue(C.wait_settings_and_ack(c), c.summary())
            sid = c.send_request("POST", "/hello", body=data)
            st = c.stream(sid)
            c.pump(lambda: st.ended or st.reset is not None, 1.0)
            self.assertEqual(st.status, 200, "%r %s" % (st, c.summary()))
            self.assertEqual(len(st.data), 65535, "the server sent %d bytes into the default "
                             "65535-byte connection window" % len(st.data))
            c.send(C.window_update_frame(0, 1 << 20))
            c.wait_stream(sid, 10)
            self.assertTrue(st.ended, "%r %s" % (st, c.summary()))
            self.assertEqual(bytes(st.data), data)

    def test_window_opened_by_settings(self):
        """The client's SETTINGS_INITIAL_WINDOW_SIZE changes the windows of
        open streams (RFC 9113 6.9.2): shrunk to 0 the response stops, grown
        again it resumes without any WINDOW_UPDATE for the stream."""
        data = os.urandom(60000)
        with C.RawConn(SRV.port, settings={C.S_INITIAL_WINDOW_SIZE: 1000},
                       auto_window=False) as c:
            self.assertTrue(C.wait_settings_and_ack(c), c.summary())
            sid = c.send_request("POST", "/hello", body=data)
            st = c.stream(sid)
            c.pump(lambda: len(st.data) >= 1000, 3)
            self.assertEqual(len(st.data), 1000, c.summary())
            acks = c.settings_acks
            c.send(C.settings_frame({C.S_INITIAL_WINDOW_SIZE: 0}))
            c.pump(lambda: c.settings_acks > acks, 3)
            c.send(C.window_update_frame(sid, 500))  # window -1000 + 500: still nothing
            c.pump(None, 0.5)
            self.assertEqual(len(st.data), 1000, "data sent into a negative window")
            c.send(C.settings_frame({C.S_INITIAL_WINDOW_SIZE: 65535}))
            c.wait_stream(sid, 5)
            self.assertTrue(st.ended, "the response did not resume when SETTINGS opened the "
                            "window: %r %s" % (st, c.summary()))
            self.assertEqual(bytes(st.data), data)

    def test_frames_within_max_frame_size(self):
        data = os.urandom(300 * 1024)
        with C.RawConn(SRV.port, settings={C.S_INITIAL_WINDOW_SIZE: 1 << 20}) as c:
            c.queue(C.window_update_frame(0, 1 << 20))
            st = c.wait_stream(c.send_request("POST", "/hello", body=data), 10)
            self.assertEqual(bytes(st.data), data)
            sizes = [len(f.payload) for f in c.frames if f.type == C.DATA]
            self.assertLessEqual(max(sizes), 16384, "DATA frame larger than the client's "
                                 "SETTINGS_MAX_FRAME_SIZE (default 16384)")
            big = [f for f in c.frames if len(f.payload) > 16384]
            self.assertEqual(big, [], "frames over 16384 bytes: %r" % big[:5])

    def test_upload_past_server_window_gets_window_updates(self):
        data = os.urandom(2 * 1024 * 1024 + 5)
        with C.RawConn(SRV.port) as c:
            self.assertTrue(C.wait_settings_and_ack(c), c.summary())
            sid = c.send_request("POST", "/hello", body=data, extra=[("content-length",
                                                                      str(len(data)))])
            st = c.wait_stream(sid, 30)
            self.assertTrue(st.ended, "%r %s" % (st, c.summary()))
            self.assertEqual(H.sha256(bytes(st.data)), H.sha256(data))
            wus = [f for f in c.frames if f.type == C.WINDOW_UPDATE]
            self.assertTrue(any(f.sid == sid for f in wus), "no stream WINDOW_UPDATE")
            self.assertTrue(any(f.sid == 0 for f in wus), "no connection WINDOW_UPDATE")

    def test_padded_data_window_returned(self):
        """1100 DATA frames of 10 bytes + 255 bytes of padding: 292 KB of
        flow-controlled bytes, more than the 256 KiB stream window, of which
        only 11000 bytes are body. The server must give back the window for
        the padding too, or the upload stalls."""
        n, piece = 1100, b"0123456789"
        with C.RawConn(SRV.port) as c:
            self.assertTrue(C.wait_settings_and_ack(c), c.summary())
            sid = c.send_request("POST", "/hello", end_stream=False)
            c.stream_send_windows[sid] = c.server_settings.get(C.S_INITIAL_WINDOW_SIZE, 65535)
            sent = 0
            deadline = time.monotonic() + H.scaled(15)
            while sent < n and time.monotonic() < deadline and not c.closed:
                flen = 1 + len(piece) + 255
                if c.send_window < flen or c.stream_send_windows[sid] < flen:
                    c.pump(lambda: c.send_window >= flen and c.stream_send_windows[sid] >= flen
                           or c.closed, 1)
                    continue
                last = sent == n - 1
                c.queue(C.frame(C.DATA, C.PADDED | (C.END_STREAM if last else 0), sid,
                                bytes([255]) + piece + b"\0" * 255))
                c.send_window -= flen
                c.stream_send_windows[sid] -= flen
                sent += 1
            self.assertEqual(sent, n, "the upload stalled after %d padded frames (%d bytes "
                             "with padding): the window for padding was not given back %s"
                             % (sent, sent * 266, c.summary()))
            st = c.wait_stream(sid, 10)
            self.assertEqual((st.status, bytes(st.data)), (200, piece * n), st)

    def test_client_reset_leaves_connection_usable(self):
        with C.RawConn(SRV.port) as c:
            slow = c.send_request("GET", "/hello?delay=1000")
            up = c.send_request("POST", "/hello", body=b"x" * 1000, end_stream=False)
            c.flush()
            time.sleep(0.1)
            c.send(C.rst_frame(slow, C.CANCEL) + C.rst_frame(up, C.CANCEL))
            st = c.get("/hello")
            self.assertEqual((st.status, bytes(st.data)), (200, BODY), st)
            c.pump(None, 1.5)
            self.assertIsNone(c.stream(slow).status, "a reset stream was answered: %r"
                              % c.stream(slow))
            self.assertFalse(c.goaways, "GOAWAY after two client resets: %r" % c.goaways)
            self.assertIsNone(c.closed)
            st = c.get("/hello")
            self.assertEqual(st.status, 200, st)

    def test_priority_frames_accepted(self):
        with C.RawConn(SRV.port) as c:
            c.queue(C.priority_frame(101, 0, 200)
                    + C.priority_frame(103, 101, 10, exclusive=True))
            sid = c.new_sid()
            c.queue(C.headers_frame(sid, c.block("GET", "/hello"), end_stream=True))
            st = c.wait_stream(sid)
            self.assertEqual((st.status, bytes(st.data)), (200, BODY), "%r %s"
                             % (st, c.summary()))
            self.assertFalse(c.goaways)


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
