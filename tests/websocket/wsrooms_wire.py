"""wsrooms_wire.py — WebSocket wire pieces shared by test_ws_broadcast.py,
test_ws_tunnel.py and test_ws_service.py (and used by nothing else).

  - RFC 6455 frames written and parsed by hand (client frames masked), so a
    test sees exactly what the server put on the wire;
  - the HTTP/1.1 Upgrade handshake on a plain socket;
  - an HTTP/2 client (python3-h2, tests/integration/h2client.py) that opens
    RFC 8441 extended CONNECT streams and carries frames in DATA;
  - the module's metrics route read into a dict.

Every wait is bounded; only 127.0.0.1 is used.
"""

import os
import re
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402
import wsraw as R  # noqa: E402


OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
WEBSOCKET_SO = os.path.join(H.MODULES_DIR, "websocket.so")


def check_websocket_module():
    """Exit 1 (a loud setup failure) without the binary or websocket.so."""
    problems = []
    if not os.access(H.IRIDIUM_BIN, os.X_OK):
        problems.append("IRIDIUM_BIN=%s is not an executable file" % H.IRIDIUM_BIN)
    if not os.path.isfile(WEBSOCKET_SO):
        problems.append("IRIDIUM_MODULES_DIR=%s has no websocket.so" % H.MODULES_DIR)
    for p in problems:
        print("websocket test setup: " + p, file=sys.stderr)
    if problems:
        sys.exit(1)


# The frame helpers are wsraw's (one encoder for every test here).
new_key = R.new_key
accept_for = R.accept_for
frame = R.frame
xor_mask = R.mask_bytes
close_payload = R.close_payload


def close_code(payload):
    """(code, reason bytes) of a close frame's payload; (1005, b"") if empty."""
    if len(payload) < 2:
        return 1005, b""
    return struct.unpack("!H", payload[:2])[0], payload[2:]


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "masked", "payload")

    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    def __repr__(self):
        return "<frame op=%d fin=%d rsv=%d masked=%d len=%d %r>" % (
            self.opcode, self.fin, self.rsv, self.masked, len(self.payload), self.payload[:40])


class FrameParser:
    """Splits a byte stream from the server into frames (feed() returns the
    complete ones). Payloads of masked frames are unmasked, but a server frame
    must never be masked: tests check Frame.masked."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        buf = self.buf
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            ln = b1 & 0x7F
            hl = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = struct.unpack_from("!H", buf, pos + 2)[0]
                hl = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = struct.unpack_from("!Q", buf, pos + 2)[0]
                hl = 10
            masked = bool(b1 & 0x80)
            if masked:
                hl += 4
            if n - pos < hl + ln:
                break
            payload = bytes(buf[pos + hl:pos + hl + ln])
            if masked:
                payload = xor_mask(payload, bytes(buf[pos + hl - 4:pos + hl]))
            out.append(Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, masked, payload))
            pos += hl + ln
        del buf[:pos]
        return out


class Messages:
    """Reassembles frames into messages: feed() returns a list of
    (opcode, payload) for data messages and control frames alike."""

    def __init__(self):
        self.parser = FrameParser()
        self.op = None
        self.parts = []
        self.bad = []  # protocol violations by the server, as text

    def feed(self, data):
        out = []
        for f in self.parser.feed(data):
            if f.masked:
                self.bad.append("masked server frame %r" % f)
            if f.rsv:
                self.bad.append("RSV bits in a server frame without an extension: %r" % f)
            if f.opcode >= 8:
                out.append((f.opcode, f.payload))
                continue
            if f.opcode == OP_CONT:
                if self.op is None:
                    self.bad.append("continuation without a start")
                    continue
                self.parts.append(f.payload)
            else:
                if self.op is not None:
                    self.bad.append("new message inside a fragmented one")
                self.op, self.parts = f.opcode, [f.payload]
            if f.fin:
                out.append((self.op, b"".join(self.parts)))
                self.op, self.parts = None, []
        return out


# --------------------------------------------------------------------------
# HTTP/1.1 Upgrade on a plain socket


def h1_upgrade_request(path, port, key=None, extra=()):
    key = key or new_key()
    hs = [("Host", "127.0.0.1:%d" % port), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
          ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")] + list(extra)
    return H.build_request("GET", path, hs), key


class H1WS:
    """A hand-framed WebSocket client over HTTP/1.1 on a blocking socket.

        ws = H1WS(port, "/ws/t")      # raises AssertionError unless 101
        ws.send(OP_BINARY, b"x")
        op, data = ws.recv()
    """

    def __init__(self, port, path, extra=(), timeout=10.0, rcvbuf=None, expect=101):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(H.scaled(timeout))
        self.sock.connect((H.HOST, port))
        req, key = h1_upgrade_request(path, port, extra=extra)
        self.sock.sendall(req)
        self.reader = H.HTTPReader(self.sock, timeout)
        if expect == 101:
            self.response = self.reader.read_head()
        else:
            self.response = self.reader.read_response()
        self.msgs = Messages()
        self.queue = []
        self.closed = None
        if expect is not None and self.response.status != expect:
            raise AssertionError("handshake on %s: want %d, got %r %r" % (
                path, expect, self.response, self.response.body[:200]))
        if self.response.status == 101:
            got = self.response.header("sec-websocket-accept")
            if got != accept_for(key):
                raise AssertionError("Sec-WebSocket-Accept %r, want %r" % (got, accept_for(key)))
            if self.reader.buf:
                self.queue += self.msgs.feed(bytes(self.reader.buf))
                self.reader.buf = b""

    def send(self, opcode, payload=b"", **kw):
        self.sock.sendall(frame(opcode, payload, **kw))

    def recv(self, timeout=10.0):
        """The next (opcode, payload), or None when the server closed the TCP
        connection (self.closed says how) or nothing came within timeout."""
        deadline = time.monotonic() + H.scaled(timeout)
        while not self.queue:
            if self.closed:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(1 << 20)
            except (socket.timeout, TimeoutError):
                return None
            except ConnectionResetError:
                self.closed = "reset"
                continue
            if not d:
                self.closed = "eof"
                continue
            self.queue += self.msgs.feed(d)
        return self.queue.pop(0)

    def recv_close(self, timeout=10.0):
        """Reads until a close frame: (code, reason, data messages before it);
        code None when the connection ended (or timed out) without one."""
        before = []
        while True:
            m = self.recv(timeout)
            if m is None:
                return None, b"", before
            if m[0] == OP_CLOSE:
                code, reason = close_code(m[1])
                return code, reason, before
            if m[0] in (OP_TEXT, OP_BINARY):
                before.append(m)

    def wait_eof(self, timeout=5.0):
        """Reads (dropping) until the server closes TCP: 'eof', 'reset' or
        'timeout'."""
        deadline = time.monotonic() + H.scaled(timeout)
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(1 << 20)
            except (socket.timeout, TimeoutError):
                return "timeout"
            except ConnectionResetError:
                self.closed = "reset"
                break
            if not d:
                self.closed = "eof"
        return self.closed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def next_request_status(sock, reader, path):
    """Sends GET path on a connection that just had a refused handshake;
    returns the answer's status, or how the connection ended instead."""
    try:
        sock.sendall(H.build_request("GET", path))
        return reader.read_response().status
    except (H.ConnectionClosed, OSError) as e:
        return "closed (%s)" % (getattr(e, "how", None) or type(e).__name__)


# --------------------------------------------------------------------------
# HTTP/2 extended CONNECT (RFC 8441) with python3-h2


class H2WS(C.LibClient):
    """LibClient with WebSocket streams: connect_ws() opens one, send_frame()
    writes a (masked) frame in DATA, messages(sid) returns what came back."""

    def connect_ws(self, path, extra=()):
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", "CONNECT"), (":protocol", "websocket"),
              (":scheme", "https" if self.tls else "http"), (":path", path),
              (":authority", "127.0.0.1:%d" % self.port), ("sec-websocket-version", "13")]
        self.conn.send_headers(sid, hs + list(extra), end_stream=False)
        st = self.streams[sid] = C.LibStream(sid)
        st.keep_open = True
        st.ws = Messages()
        st.ws_seen = 0
        st.ws_queue = []
        self.queue(self.conn.data_to_send())
        return sid

    def send_frame(self, sid, opcode, payload=b"", end=False, **kw):
        st = self.streams[sid]
        st.pending += frame(opcode, payload, **kw)
        if end:
            st.keep_open = False
        self._send_bodies()
        self.queue(self.conn.data_to_send())

    def _take(self, st):
        if len(st.data) > st.ws_seen:
            st.ws_queue += st.ws.feed(bytes(st.data[st.ws_seen:]))
            st.ws_seen = len(st.data)

    def wait_headers(self, sid, timeout=5.0):
        st = self.streams[sid]
        self.pump(lambda: st.headers is not None or st.reset is not None or st.ended
                  or self.error is not None or self.closed, timeout)
        return st

    def recv(self, sid, timeout=10.0):
        """The next (opcode, payload) on sid, or None (stream ended or reset,
        connection gone, or timeout)."""
        st = self.streams[sid]

        def ready():
            self._take(st)
            return (st.ws_queue or st.ended or st.reset is not None or self.error is not None
                    or self.closed)

        self.pump(ready, timeout)
        self._take(st)
        return st.ws_queue.pop(0) if st.ws_queue else None

    def recv_close(self, sid, timeout=10.0):
        before = []
        while True:
            m = self.recv(sid, timeout)
            if m is None:
                return None, b"", before
            if m[0] == OP_CLOSE:
                code, reason = close_code(m[1])
                return code, reason, before
            if m[0] in (OP_TEXT, OP_BINARY):
                before.append(m)

    def wait_end(self, sid, timeout=5.0):
        """Waits for END_STREAM or RST_STREAM on sid; True if either came."""
        st = self.streams[sid]
        return self.pump(lambda: st.ended or st.reset is not None or self.error is not None
                         or self.closed, timeout) and (st.ended or st.reset is not None)

    def describe(self, sid):
        return "%r error=%r terminated=%r closed=%s" % (self.streams[sid], self.error,
                                                        self.terminated, self.closed)


# --------------------------------------------------------------------------
# metrics

METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)\s*$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def fetch_metrics(port, path):
    """{(name, frozenset of (label, value)): float} from the metrics route."""
    r = H.http_request(port, "GET", path)
    if r.status != 200:
        raise AssertionError("GET %s: %r %r" % (path, r, r.body[:300]))
    out = {}
    for line in r.body.decode("utf-8", "replace").split("\n"):
        if not line or line.startswith("#"):
            continue
        m = METRIC_RE.match(line)
        if not m:
            continue
        labels = frozenset(LABEL_RE.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(ms, name, **labels):
    """The sum of name's series whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in ms.items() if n == name and want <= set(ls))
