"""wsraw.py — a raw WebSocket client for the hostile, handshake and lifetime
tests: it sends whatever frame it is told to (masked or not, RSV bits, any
opcode, fragments, a length field that lies) and reads the server's frames
back, keeping the close code. No library checks anything on the way out, so
the tests can break the protocol on purpose.

  WSRaw        RFC 6455 over HTTP/1.1 (a plain TCP socket): handshake(),
               send_frame(), send_raw(), recv_frame(), wait_close().
  H2WS         the same frames carried in DATA on an RFC 8441 extended
               CONNECT stream of tests/integration/h2client.RawConn.
  frame()      the bytes of one client frame.
  FrameParser  splits server bytes into frames (and notes masked ones:
               server frames must never be masked).

Every wait is bounded (harness.scaled) and every loop ends; only 127.0.0.1.
"""

import base64
import hashlib
import os
import select
import struct
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY = 0x0, 0x1, 0x2
CLOSE, PING, PONG = 0x8, 0x9, 0xA
RSV1, RSV2, RSV3 = 0x4, 0x2, 0x1   # as the rsv argument of frame(): bits 6..4 of byte 0
OPNAMES = {CONT: "CONT", TEXT: "TEXT", BINARY: "BINARY", CLOSE: "CLOSE", PING: "PING",
           PONG: "PONG"}


def accept_for(key):
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, mask_key=None, length=None):
    """The bytes of one frame. rsv is a 3-bit value (RSV1 = 4); length, when
    given, is the length written in the header whatever the payload is."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return head + key + mask_bytes(payload, key)


def mask_bytes(payload, key):
    if not payload:
        return b""
    # XOR as big integers: fast enough for the MiB-sized payloads of the tests.
    k = (key * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(len(payload), "big")


def close_payload(code=1000, reason=b""):
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, rsv, opcode, payload, masked, t):
        self.fin, self.rsv, self.opcode, self.payload, self.masked, self.t = \
            fin, rsv, opcode, payload, masked, t

    @property
    def close_code(self):
        if self.opcode != CLOSE or len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]

    @property
    def close_reason(self):
        return self.payload[2:] if self.opcode == CLOSE else None

    def __repr__(self):
        p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return "<frame %s fin=%d rsv=%d masked=%s len=%d %r%s>" % (
            OPNAMES.get(self.opcode, hex(self.opcode)), self.fin, self.rsv, self.masked,
            len(self.payload), p, (" code=%s" % self.close_code) if self.opcode == CLOSE else "")


class FrameParser:
    """Server bytes in, Frames out (feed() returns the new ones)."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            n = b1 & 0x7F
            off = 2
            if n == 126:
                if len(self.buf) < 4:
                    break
                n = struct.unpack("!H", self.buf[2:4])[0]
                off = 4
            elif n == 127:
                if len(self.buf) < 10:
                    break
                n = struct.unpack("!Q", self.buf[2:10])[0]
                off = 10
            masked = bool(b1 & 0x80)
            if masked:
                off += 4
            if len(self.buf) < off + n:
                break
            payload = bytes(self.buf[off:off + n])
            if masked:
                payload = mask_bytes(payload, bytes(self.buf[off - 4:off]))
            del self.buf[:off + n]
            out.append(Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload, masked,
                             time.monotonic()))
        return out


class _Base:
    """What both transports share: frames received, close bookkeeping and
    optional automatic pong."""

    def _init_frames(self, auto_pong):
        self.parser = FrameParser()
        self.frames = []         # every frame received, in order
        self.queue_in = []       # frames not yet returned by recv_frame
        self.pings = []          # Frames
        self.auto_pong = auto_pong
        self.close_frame = None  # the server's close Frame
        self.close_sent = False

    def _on_frames(self, frames):
        for f in frames:
            self.frames.append(f)
            if f.opcode == PING:
                self.pings.append(f)
                if self.auto_pong and not self.close_sent:
                    self._send(frame(PONG, f.payload))
            if f.opcode == CLOSE and self.close_frame is None:
                self.close_frame = f
            self.queue_in.append(f)

    def masked_frames(self):
        """Frames the server sent masked (a server must never mask)."""
        return [f for f in self.frames if f.masked]

    def send_frame(self, opcode, payload=b"", **kw):
        self._send(frame(opcode, payload, **kw))

    def send_text(self, text):
        self.send_frame(TEXT, text.encode() if isinstance(text, str) else text)

    def send_binary(self, data):
        self.send_frame(BINARY, data)

    def send_close(self, code=1000, reason=b""):
        self.close_sent = True
        self._send(frame(CLOSE, close_payload(code, reason)))

    def recv_frame(self, timeout=5.0, skip_control=True):
        """The next frame (pings and pongs skipped unless skip_control is
        False), or None at timeout or when the peer closed first."""
        deadline = time.monotonic() + H.scaled(timeout)
        while True:
            while self.queue_in:
                f = self.queue_in.pop(0)
                if skip_control and f.opcode in (PING, PONG):
                    continue
                return f
            if self.peer_gone() or time.monotonic() >= deadline:
                return None
            self._pump(deadline)

    def recv_message(self, timeout=5.0):
        """(opcode, payload) of the next complete message (fragments joined),
        or (CLOSE, close frame) / (None, None)."""
        deadline = time.monotonic() + H.scaled(timeout)
        op, parts = None, []
        while True:
            f = self.recv_frame(max(0.0, deadline - time.monotonic()) / H.time_scale())
            if f is None:
                return None, None
            if f.opcode == CLOSE:
                return CLOSE, f
            if op is None:
                op = f.opcode
            parts.append(f.payload)
            if f.fin:
                return op, b"".join(parts)

    def wait_close(self, timeout=5.0, reply=True):
        """Reads until the server's close frame (answering it when reply) and
        then until the server ends the transport. Returns the close Frame or
        None when none came within timeout."""
        deadline = time.monotonic() + H.scaled(timeout)
        while self.close_frame is None and not self.peer_gone() and \
                time.monotonic() < deadline:
            self._pump(deadline)
        if self.close_frame is not None and reply and not self.close_sent:
            code = self.close_frame.close_code
            try:
                self.send_close(code if code and code not in (1005, 1006, 1015) else 1000)
            except OSError:
                pass
        end = time.monotonic() + H.scaled(3.0)
        while self.close_frame is not None and not self.peer_gone() and time.monotonic() < end:
            self._pump(end)
        return self.close_frame

    def echo_ok(self, payload=b"ping-pong", opcode=TEXT, timeout=5.0):
        """Sends one message and returns True when the same comes back."""
        self.send_frame(opcode, payload)
        op, got = self.recv_message(timeout)
        return op == opcode and got == payload


class WSRaw(_Base):
    """A WebSocket client over an HTTP/1.1 socket.

        ws = WSRaw(port)
        r = ws.handshake("/ws/echo")   # harness.Response; 101 on success
        ws.send_frame(TEXT, b"hi", mask=False)
        f = ws.wait_close()            # f.close_code == 1002
    """

    def __init__(self, port, timeout=5.0, auto_pong=True, sock=None):
        self.port = port
        self.sock = sock or H.connect(port, timeout)
        self.reader = H.HTTPReader(self.sock, timeout)
        self.key = None
        self.response = None
        self.gone = None         # 'eof' / 'reset' once the server ended the TCP connection
        self.send_failed = False
        self._init_frames(auto_pong)

    def request_bytes(self, path="/ws/echo", headers=None, key=None, version="13", method="GET",
                      extensions=None, protocols=None, origin=None):
        """The bytes of an upgrade request. key=False / version=None leave the
        header out; headers are added after the standard ones."""
        hs = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
        if key is not False:
            self.key = key or new_key()
            hs.append(("Sec-WebSocket-Key", self.key))
        if version is not None:
            hs.append(("Sec-WebSocket-Version", version))
        if extensions:
            hs.append(("Sec-WebSocket-Extensions", extensions))
        if protocols:
            hs.append(("Sec-WebSocket-Protocol", protocols))
        if origin:
            hs.append(("Origin", origin))
        hs += list(headers or [])
        return H.build_request(method, path, hs)

    def handshake(self, path="/ws/echo", timeout=5.0, **kw):
        """Sends the upgrade request and reads the response head (and body for
        a refusal). Returns the harness.Response."""
        self.sock.sendall(self.request_bytes(path, **kw))
        r = self.reader.read_head(time.monotonic() + H.scaled(timeout))
        if r.status != 101:
            # A refusal has a body (Content-Length); read it so the socket is
            # left at the next response.
            cl = r.header("content-length")
            if cl is not None:
                n = int(cl)
                self.reader._need(n, time.monotonic() + H.scaled(timeout), "a refusal body")
                r.body = self.reader.buf[:n]
                self.reader.buf = self.reader.buf[n:]
        else:
            # Bytes after the head already belong to the WebSocket.
            left = bytes(self.reader.buf)
            self.reader.buf = b""
            if left:
                self._on_frames(self.parser.feed(left))
        self.response = r
        return r

    def accept_ok(self):
        return self.response is not None and self.response.status == 101 and \
            self.response.header("sec-websocket-accept") == accept_for(self.key)

    # -- transport ----------------------------------------------------------

    def peer_gone(self):
        return self.gone is not None

    def _send(self, data):
        self.send_raw(data)

    def send_raw(self, data, timeout=10.0):
        """Writes data, reading meanwhile (so a server that answers early, or
        stops reading and closes, cannot deadlock us). Returns True when all
        was written, False when the server ended the connection first."""
        view = memoryview(bytes(data))
        deadline = time.monotonic() + H.scaled(timeout)
        self.sock.setblocking(False)
        try:
            while view:
                if self.send_failed or time.monotonic() >= deadline:
                    return False
                r, w, _ = select.select([self.sock] if not self.gone else [], [self.sock], [],
                                        min(0.05, max(0.0, deadline - time.monotonic())))
                if r:
                    self._read_some()
                if w:
                    try:
                        n = self.sock.send(view[:262144])
                        view = view[n:]
                    except BlockingIOError:
                        pass
                    except (BrokenPipeError, ConnectionResetError, OSError):
                        self.send_failed = True
                        return False
            return True
        finally:
            self.sock.setblocking(True)

    def _read_some(self):
        try:
            self.sock.setblocking(False)
            d = self.sock.recv(262144)
        except BlockingIOError:
            return
        except ConnectionResetError:
            self.gone = "reset"
            return
        except OSError:
            self.gone = "reset"
            return
        if not d:
            self.gone = "eof"
            return
        self._on_frames(self.parser.feed(d))

    def _pump(self, deadline):
        left = max(0.0, deadline - time.monotonic())
        r, _, _ = select.select([self.sock], [], [], min(left, 0.05))
        if r:
            self._read_some()

    def wait_gone(self, timeout=3.0):
        """Waits for the server to end the TCP connection; returns how
        ('eof', 'reset') or None."""
        deadline = time.monotonic() + H.scaled(timeout)
        while not self.gone and time.monotonic() < deadline:
            self._pump(deadline)
        return self.gone

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False


class H2WS(_Base):
    """A WebSocket session on an extended CONNECT stream of an
    h2client.RawConn (frames travel in DATA frames of that stream).

        conn = C.RawConn(port); C.wait_settings_and_ack(conn)
        ws = H2WS(conn, "/ws/echo")     # ws.status == 200
    """

    def __init__(self, conn, path="/ws/echo", extra=(), version="13", auto_pong=True,
                 timeout=5.0):
        self.conn = conn
        hs = [(":protocol", "websocket")]
        if version is not None:
            hs.append(("sec-websocket-version", version))
        hs += list(extra)
        self.sid = conn.send_request("CONNECT", path, extra=hs, end_stream=False)
        self.stream = conn.stream(self.sid)
        self.seen = 0
        self._init_frames(auto_pong)
        conn.pump(lambda: self.stream.status is not None or self.stream.reset is not None
                  or self.stream.ended, timeout)
        self.status = self.stream.status

    def peer_gone(self):
        return self.stream.ended or self.stream.reset is not None or bool(self.conn.closed)

    def _send(self, data):
        self.conn.send_body(self.sid, data, end_stream=False)
        self.conn.flush()

    def send_raw(self, data):
        self._send(data)
        return True

    def _take(self):
        d = self.stream.data
        if len(d) > self.seen:
            new = bytes(d[self.seen:])
            self.seen = len(d)
            self._on_frames(self.parser.feed(new))

    def _pump(self, deadline):
        self.conn.pump(lambda: len(self.stream.data) > self.seen or self.peer_gone(),
                       max(0.0, deadline - time.monotonic()), scale=False)
        self._take()

    def recv_frame(self, timeout=5.0, skip_control=True):
        self._take()
        return _Base.recv_frame(self, timeout, skip_control)

    def wait_gone(self, timeout=3.0):
        deadline = time.monotonic() + H.scaled(timeout)
        while not self.peer_gone() and time.monotonic() < deadline:
            self._pump(deadline)
        if self.stream.reset is not None:
            return "reset"
        return "end_stream" if self.stream.ended else None


def deflate_message(data, wbits=15):
    """permessage-deflate payload of data (RFC 7692 7.2.1: raw deflate,
    sync flush, the trailing 00 00 ff ff removed)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def client_window_bits(extensions_header, default=15):
    """client_max_window_bits the server chose in its Sec-WebSocket-Extensions
    answer (default 15 when it set none)."""
    import re
    m = re.search(r"client_max_window_bits\s*=\s*\"?(\d+)", extensions_header or "")
    return int(m.group(1)) if m else default


def inflate_message(payload, wbits=15):
    d = zlib.decompressobj(-wbits)
    return d.decompress(payload + b"\x00\x00\xff\xff")
