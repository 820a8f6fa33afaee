#!/usr/bin/python3
"""HTTP/2 stream states as RFC 9113 5.1 and 8.1 say, seen from a frame-level
client (h2client.RawConn), on h2c and over TLS, against a route that answers
at HEADERS (/hello, GET) and the static module (/f.txt):

  frames on a closed stream     DATA or HEADERS after both END_STREAMs ->
                                GOAWAY STREAM_CLOSED; after the client's own
                                RST_STREAM -> RST_STREAM STREAM_CLOSED; after
                                the server's RST_STREAM -> ignored
  a response that ends first    the rest of the request is still read and
                                checked: DATA past content-length -> RST
                                PROTOCOL_ERROR, past the window -> RST
                                FLOW_CONTROL_ERROR, frames after its own
                                END_STREAM -> GOAWAY STREAM_CLOSED; the body
                                is dropped (windows reopen) up to
                                h2_discard_max_bytes / h2_discard_timeout,
                                then RST_STREAM NO_ERROR
  :method get                   methods are case-sensitive (RFC 9110 9.1):
                                neither GET nor HEAD, 405 from both modules
  host != :authority            400 (RFC 9113 8.3.1)

Every wait is bounded (harness.scaled); only 127.0.0.1 is used."""

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

SRV = None
TMP = None
FILE_BODY = b"static file body\n"
WINDOW = 4096            # h2_initial_window_size: one DATA frame can overrun it
DISCARD_BYTES = 64 * 1024
DISCARD_TIMEOUT = 1.0


def setUpModule():
    global SRV, TMP
    S.check_static_environment(need=("certtool",))
    TMP = tempfile.mkdtemp(prefix="iridium-h2-states-")
    S.write_file(os.path.join(TMP, "f.txt"), FILE_BODY)
    SRV = S.StaticServer({"root": TMP}, server={
        "h2_initial_window_size": str(WINDOW), "h2_discard_max_bytes": "64k",
        "h2_discard_timeout": "1s", "log_level": "info"})
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)
    if TMP:
        shutil.rmtree(TMP, True)


class States:
    """Mixed into one TestCase per (transport, target)."""
    TLS = False
    PATH = "/hello"

    def setUp(self):
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.assertTrue(SRV.alive(), "server process died" + SRV.diagnostics())

    # ---- helpers -----------------------------------------------------------

    def conn(self):
        c = C.RawConn(SRV.tls_port if self.TLS else SRV.port, tls=self.TLS)
        self.conns.append(c)
        self.assertTrue(C.wait_settings_and_ack(c), "preface: " + c.summary())
        return c

    def expected_body(self):
        return FILE_BODY if self.PATH != "/hello" else (H.DEFAULT_GREETING + "\n").encode()

    def answered(self, c, sid, status=200):
        """Waits for the whole response on sid (it ends before the request)."""
        st = c.wait_stream(sid)
        self.assertTrue(st.ended, "no complete response: " + c.summary())
        self.assertEqual(st.status, status, c.summary())
        return st

    def open_request(self, c, extra=()):
        """A GET whose request stays open (no END_STREAM) while the server
        answers it at HEADERS."""
        sid = c.send_request("GET", self.PATH, extra=extra, end_stream=False)
        c.flush()
        st = self.answered(c, sid)
        self.assertEqual(bytes(st.data), self.expected_body())
        return sid

    def rst_codes(self, c, sid):
        return [f.error_code() for f in c.frames if f.type == C.RST_STREAM and f.sid == sid]

    def wait_rst(self, c, sid, code, timeout=3.0):
        c.pump(lambda: code in self.rst_codes(c, sid) or c.goaways, timeout)
        self.assertEqual(c.goaways, [], "no GOAWAY expected: " + c.summary())
        self.assertIn(code, self.rst_codes(c, sid),
                      "RST_STREAM %s on stream %d expected: %s" % (C.errname(code), sid,
                                                                   c.summary()))

    def wait_goaway(self, c, code, timeout=3.0):
        g = c.wait_goaway(timeout)
        self.assertIsNotNone(g, "GOAWAY %s expected: %s" % (C.errname(code), c.summary()))
        self.assertEqual(g.error_code(), code, c.summary())

    def serves(self, c):
        st = c.get(self.PATH, timeout=5)
        self.assertEqual((st.status, bytes(st.data)), (200, self.expected_body()), c.summary())

    def closed_normally(self, c):
        sid = c.send_request("GET", self.PATH)
        c.flush()
        self.answered(c, sid)
        return sid

    # ---- frames on a closed stream (RFC 9113 5.1, "closed") ------------------

    def test_data_after_both_end_streams_is_goaway_stream_closed(self):
        c = self.conn()
        sid = self.closed_normally(c)
        c.send(C.data_frame(sid, b"late", end_stream=True))
        self.wait_goaway(c, C.STREAM_CLOSED)

    def test_headers_after_both_end_streams_is_goaway_stream_closed(self):
        c = self.conn()
        sid = self.closed_normally(c)
        c.send(C.headers_frame(sid, c.fixed_block("GET", self.PATH), end_stream=True))
        self.wait_goaway(c, C.STREAM_CLOSED)

    def test_data_after_client_reset_is_rst_stream_closed(self):
        c = self.conn()
        sid = self.open_request(c)
        c.send(C.rst_frame(sid, C.CANCEL))
        c.pump(timeout=0.2)
        c.send(C.data_frame(sid, b"late"))
        self.wait_rst(c, sid, C.STREAM_CLOSED)
        self.serves(c)

    def test_reset_then_data_in_one_write_is_rst_stream_closed(self):
        c = self.conn()
        sid = self.open_request(c)
        c.send(C.rst_frame(sid, C.CANCEL) + C.data_frame(sid, b"late"))
        self.wait_rst(c, sid, C.STREAM_CLOSED)
        self.serves(c)

    def test_headers_after_client_reset_is_rst_stream_closed(self):
        c = self.conn()
        sid = self.open_request(c)
        c.send(C.rst_frame(sid, C.CANCEL))
        c.pump(timeout=0.2)
        c.send(C.headers_frame(sid, c.fixed_block("GET", self.PATH), end_stream=True))
        self.wait_rst(c, sid, C.STREAM_CLOSED)
        self.serves(c)

    def test_window_update_and_priority_after_close_are_allowed(self):
        c = self.conn()
        sid = self.closed_normally(c)
        c.send(C.window_update_frame(sid, 100) + C.priority_frame(sid) + C.rst_frame(sid))
        self.serves(c)
        self.assertEqual(c.goaways, [], c.summary())

    def test_frames_after_server_reset_are_ignored(self):
        # A request without :path is malformed: the server resets it.
        c = self.conn()
        sid = c.new_sid()
        c.send(C.headers_frame(sid, c.fixed_block(pseudo=[
            (":method", "GET"), (":scheme", "https" if self.TLS else "http"),
            (":authority", "127.0.0.1")]), end_stream=False))
        self.wait_rst(c, sid, C.PROTOCOL_ERROR)
        c.send(C.data_frame(sid, b"late", end_stream=True))
        self.serves(c)
        self.assertEqual(self.rst_codes(c, sid), [C.PROTOCOL_ERROR], c.summary())
        self.assertEqual(c.goaways, [], c.summary())

    # ---- the response ended first; the request is still checked (8.1) -------

    def test_body_past_content_length_after_response_is_protocol_error(self):
        c = self.conn()
        sid = self.open_request(c, extra=[("content-length", "4")])
        c.send(C.data_frame(sid, b"0123456789", end_stream=True))
        self.wait_rst(c, sid, C.PROTOCOL_ERROR)

    def test_window_overrun_after_response_is_flow_control_error(self):
        c = self.conn()
        sid = self.open_request(c)
        c.send(C.data_frame(sid, b"x" * (WINDOW + 1000)))
        self.wait_rst(c, sid, C.FLOW_CONTROL_ERROR)

    def test_data_after_own_end_stream_is_goaway_stream_closed(self):
        c = self.conn()
        sid = self.open_request(c, extra=[("content-length", "4")])
        c.send(C.data_frame(sid, b"abcd", end_stream=True) + C.data_frame(sid, b"more"))
        self.wait_goaway(c, C.STREAM_CLOSED)
        self.assertNotIn(C.NO_ERROR, self.rst_codes(c, sid), c.summary())

    def test_body_after_response_is_dropped_up_to_the_byte_bound(self):
        c = self.conn()
        sid = self.open_request(c)
        c.send_body(sid, b"y" * (DISCARD_BYTES + 3 * WINDOW), end_stream=True)
        self.wait_rst(c, sid, C.NO_ERROR, timeout=5)
        # The dropped bytes were consumed: the server reopened the window.
        opened = sum(int.from_bytes(f.payload[:4], "big") for f in c.frames
                     if f.type == C.WINDOW_UPDATE and f.sid == sid)
        self.assertGreaterEqual(opened, DISCARD_BYTES - WINDOW, c.summary())
        self.serves(c)

    def test_request_after_response_is_reset_past_the_time_bound(self):
        c = self.conn()
        sid = self.open_request(c)
        t0 = time.monotonic()
        c.pump(lambda: sid in [f.sid for f in c.frames if f.type == C.RST_STREAM],
               DISCARD_TIMEOUT + 3, scale=False)
        waited = time.monotonic() - t0
        self.assertEqual(self.rst_codes(c, sid), [C.NO_ERROR], c.summary())
        self.assertGreaterEqual(waited, DISCARD_TIMEOUT * 0.8, "reset too early")
        self.serves(c)

    def test_request_that_ends_after_response_closes_cleanly(self):
        c = self.conn()
        sid = self.open_request(c, extra=[("content-length", "4")])
        c.send(C.data_frame(sid, b"abcd", end_stream=True))
        self.serves(c)
        self.assertEqual(self.rst_codes(c, sid), [], c.summary())
        self.assertEqual(c.goaways, [], c.summary())

    # ---- request checks ----------------------------------------------------

    def test_lower_case_method_is_not_get(self):
        # RFC 9110 9.1: methods are case-sensitive; "get" is an unknown method.
        c = self.conn()
        for method in ("get", "head"):
            st = c.wait_stream(c.send_request(method, self.PATH))
            self.assertEqual(st.status, 405, "%s: %s" % (method, c.summary()))
            self.assertNotEqual(bytes(st.data), self.expected_body())
            self.assertTrue(st.data, "a 405 with a body, not a HEAD answer")

    def test_host_differing_from_authority_is_400(self):
        c = self.conn()
        st = c.wait_stream(c.send_request("GET", self.PATH, extra=[("host", "other.test")]))
        self.assertEqual(st.status, 400, c.summary())
        same = "127.0.0.1:%d" % c.port
        st = c.wait_stream(c.send_request("GET", self.PATH, extra=[("host", same)]))
        self.assertEqual((st.status, bytes(st.data)), (200, self.expected_body()), c.summary())


class H2cHello(States, unittest.TestCase):
    TLS, PATH = False, "/hello"


class H2cStatic(States, unittest.TestCase):
    TLS, PATH = False, "/f.txt"


class TlsHello(States, unittest.TestCase):
    TLS, PATH = True, "/hello"


class TlsStatic(States, unittest.TestCase):
    TLS, PATH = True, "/f.txt"


if __name__ == "__main__":
    unittest.main(verbosity=2)
