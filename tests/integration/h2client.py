"""h2client.py — HTTP/2 pieces for the test_h2_*.py integration tests.

  H2Server     harness.Server with TLS listeners ([certificate] from a
               self-signed ECDSA cert made once with certtool), extra
               listeners and modules loaded from explicit paths.
  RawConn      a frame-level client: hand-built frames (struct), HPACK from
               python3-hpack, every received frame kept; answers SETTINGS and
               (optionally) PING, opens windows for received DATA (optionally).
               Used for the attacks, where a real client library refuses to
               misbehave.
  LibClient    a python3-h2 client (the library does the protocol): requests
               with bodies and trailers sent under flow control, responses,
               trailers and resets collected per stream.

Both clients drive a non-blocking socket from one select() loop (pump), so a
client never deadlocks against a server that stops reading while it writes.
Every loop is bounded by a deadline (harness.scaled).
"""

import atexit
import os
import re
import select
import shutil
import ssl
import struct
import subprocess
import tempfile
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack

import harness as H

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# frame types
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
FRAME_NAMES = {DATA: "DATA", HEADERS: "HEADERS", PRIORITY: "PRIORITY", RST_STREAM: "RST_STREAM",
               SETTINGS: "SETTINGS", PUSH_PROMISE: "PUSH_PROMISE", PING: "PING",
               GOAWAY: "GOAWAY", WINDOW_UPDATE: "WINDOW_UPDATE", CONTINUATION: "CONTINUATION"}
# flags
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# error codes (RFC 9113 section 7)
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
SETTINGS_TIMEOUT = 0x4
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
CONNECT_ERROR = 0xa
ENHANCE_YOUR_CALM = 0xb
INADEQUATE_SECURITY = 0xc
HTTP_1_1_REQUIRED = 0xd
ERROR_NAMES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
               4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR",
               7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR", 0xa: "CONNECT_ERROR",
               0xb: "ENHANCE_YOUR_CALM", 0xc: "INADEQUATE_SECURITY", 0xd: "HTTP_1_1_REQUIRED"}

# settings identifiers
S_HEADER_TABLE_SIZE = 0x1
S_ENABLE_PUSH = 0x2
S_MAX_CONCURRENT_STREAMS = 0x3
S_INITIAL_WINDOW_SIZE = 0x4
S_MAX_FRAME_SIZE = 0x5
S_MAX_HEADER_LIST_SIZE = 0x6
S_ENABLE_CONNECT_PROTOCOL = 0x8

MAX_WINDOW = 2 ** 31 - 1


def errname(code):
    return "%s(0x%x)" % (ERROR_NAMES.get(code, "UNKNOWN"), code) if code is not None else "None"


# --------------------------------------------------------------------------
# frames, hand-built


def frame(ftype, flags, sid, payload=b""):
    payload = bytes(payload)
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags,
                                                              sid & 0x7FFFFFFF) + payload


def settings_frame(values=None, ack=False):
    payload = b"".join(struct.pack(">HI", k, v) for k, v in (values or {}).items())
    return frame(SETTINGS, ACK if ack else 0, 0, payload)


def headers_frame(sid, block, end_stream=False, end_headers=True):
    flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
    return frame(HEADERS, flags, sid, block)


def continuation_frame(sid, block, end_headers=False):
    return frame(CONTINUATION, END_HEADERS if end_headers else 0, sid, block)


def data_frame(sid, data=b"", end_stream=False):
    return frame(DATA, END_STREAM if end_stream else 0, sid, data)


def rst_frame(sid, code=CANCEL):
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def ping_frame(opaque=b"\0" * 8, ack=False):
    return frame(PING, ACK if ack else 0, 0, opaque)


def window_update_frame(sid, increment):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", increment & 0x7FFFFFFF))


def priority_frame(sid, depends_on=0, weight=16, exclusive=False):
    dep = (depends_on & 0x7FFFFFFF) | (0x80000000 if exclusive else 0)
    return frame(PRIORITY, 0, sid, struct.pack(">IB", dep, weight - 1))


def goaway_frame(last_sid, code=NO_ERROR, debug=b""):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_sid & 0x7FFFFFFF, code) + debug)


class Frame:
    __slots__ = ("type", "flags", "sid", "payload", "t")

    def __init__(self, ftype, flags, sid, payload, t):
        self.type, self.flags, self.sid, self.payload, self.t = ftype, flags, sid, payload, t

    @property
    def name(self):
        return FRAME_NAMES.get(self.type, "TYPE%d" % self.type)

    def error_code(self):
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        return None

    def last_stream_id(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7FFFFFFF

    def settings(self):
        return {struct.unpack(">H", self.payload[i:i + 2])[0]:
                struct.unpack(">I", self.payload[i + 2:i + 6])[0]
                for i in range(0, len(self.payload) - 5, 6)}

    def __repr__(self):
        extra = ""
        if self.type in (RST_STREAM, GOAWAY):
            extra = " " + errname(self.error_code())
            if self.type == GOAWAY:
                extra += " last=%d debug=%r" % (self.last_stream_id(), bytes(self.payload[8:80]))
        elif self.type == SETTINGS:
            extra = " %r" % self.settings()
        return "<%s flags=0x%x stream=%d len=%d%s>" % (self.name, self.flags, self.sid,
                                                     len(self.payload), extra)


# --------------------------------------------------------------------------
# TLS material


_cert_dir = None


def test_cert():
    """(cert_path, key_path) of a self-signed ECDSA certificate for localhost
    and 127.0.0.1, made once per process with certtool."""
    global _cert_dir
    if _cert_dir is None:
        d = tempfile.mkdtemp(prefix="iridium-h2-cert-")
        atexit.register(shutil.rmtree, d, True)
        key, cert, tmpl = (os.path.join(d, n) for n in ("key.pem", "cert.pem", "cert.tmpl"))
        with open(tmpl, "w") as f:
            f.write('cn = "localhost"\ndns_name = "localhost"\nip_address = "127.0.0.1"\n'
                    'tls_www_server\nsigning_key\nexpiration_days = 30\n')
        for args in (["certtool", "--generate-privkey", "--key-type", "ecdsa", "--outfile", key],
                     ["certtool", "--generate-self-signed", "--load-privkey", key,
                      "--template", tmpl, "--outfile", cert]):
            p = subprocess.run(args, capture_output=True, timeout=60)
            if p.returncode != 0:
                raise RuntimeError("%s failed: %s" % (" ".join(args), p.stderr.decode()))
        _cert_dir = d
    return os.path.join(_cert_dir, "cert.pem"), os.path.join(_cert_dir, "key.pem")


def client_tls_context(alpn=("h2",)):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(list(alpn))
    return ctx


# --------------------------------------------------------------------------
# the server


class H2Server(H.Server):
    """harness.Server with HTTP/2 listeners.

    protocols:  of the main listener (default "http/1.1, h2c"; "h2, http/1.1"
                when tls=True)
    tls:        the main listener is tls = on
    listeners:  extra listeners, a list of dicts {"tls": bool, "protocols":
                str}; their ports are in self.ports (same order) after start
    (module_paths and the rest: see harness.Server)
    """

    def __init__(self, server=None, routes=None, modules=None, protocols=None, tls=False,
                 listeners=(), **kw):
        if protocols is None:
            protocols = "h2, http/1.1" if tls else "http/1.1, h2c"
        super().__init__(server=server, routes=routes, modules=modules, protocols=protocols, **kw)
        self.tls = tls
        self.listeners = [dict(l) for l in listeners]
        self.ports = []

    def write_listeners(self, ini):
        self.ports = []
        need_cert = self.tls
        for i, l in enumerate([{"tls": self.tls, "protocols": self.protocols}] + self.listeners):
            port = self.port if i == 0 else H.free_port()
            if i:
                self.ports.append(port)
            ini.section("listen %s:%d" % (H.HOST, port))
            if l.get("tls"):
                ini.kv("tls", "on")
                need_cert = True
            if l.get("protocols"):
                ini.kv("protocols", l["protocols"])
            ini.blank()
        if need_cert:
            cert, key = test_cert()
            ini.section("certificate test")
            ini.kv("cert", cert)
            ini.kv("key", key)
            ini.blank()

    def log_mark(self):
        return len(self.error_log_text())

    def log_since(self, mark):
        return self.error_log_text()[mark:]


def wait_log(srv, regex, mark=0, timeout=3.0):
    """The first match of regex (multi-line, case-insensitive) in the error
    log after offset mark, waiting up to timeout (scaled)."""
    rx = re.compile(regex, re.M | re.I)
    return H.wait_for(lambda: rx.search(srv.error_log_text(), mark), H.scaled(timeout))


# --------------------------------------------------------------------------
# the socket pump shared by both clients


class _Pump:
    def __init__(self, port, tls=False, timeout=5.0, alpn=("h2",), sock=None):
        self.port = port
        self.tls = tls
        if sock is None:
            sock = H.connect(port, timeout)
            if tls:
                sock = client_tls_context(alpn).wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.alpn = sock.selected_alpn_protocol() if tls else None
        self.sock.setblocking(False)
        self.out = bytearray()
        self.closed = None      # 'eof' or 'reset' once the peer is gone
        self.closed_at = None
        self.send_failed = False
        self.bytes_in = 0

    def _feed(self, data):
        raise NotImplementedError

    def queue(self, data):
        self.out += data

    def pump(self, until=None, timeout=5.0, read=True, scale=True):
        """Writes queued output and reads (and handles) input until until()
        is true, the peer closed (then returns until()), or timeout
        (scaled, unless scale=False: a wait measured against a server timer).
        Returns the last until() (True without until after the timeout if
        nothing broke)."""
        deadline = time.monotonic() + (H.scaled(timeout) if scale else timeout)
        while True:
            if until is not None and until():
                return True
            if self.closed:
                if self.out:
                    self.out.clear()
                return bool(until()) if until is not None else False
            left = deadline - time.monotonic()
            if left <= 0:
                return bool(until()) if until is not None else True
            if not read and not self.out:
                return True
            wl = [self.sock] if self.out and not self.send_failed else []
            if self.tls and self.sock.pending():
                rl = [self.sock]
                left = 0
            else:
                rl = [self.sock] if read else []
            r, w, _ = select.select(rl, wl, [], min(left, 0.05))
            if w:
                try:
                    n = self.sock.send(bytes(self.out[:262144]))
                    del self.out[:n]
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                    self.send_failed = True
                    self.out.clear()
            if r:
                self._read_some()

    def _read_some(self):
        for _ in range(64):
            try:
                d = self.sock.recv(262144)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except ConnectionResetError:
                self._closed("reset")
                return
            except ssl.SSLError as e:
                self._closed("reset" if "EOF" not in str(e) else "eof")
                return
            except OSError:
                self._closed("reset")
                return
            if not d:
                self._closed("eof")
                return
            self.bytes_in += len(d)
            self._feed(d)
            if self.closed:
                return

    def _closed(self, how):
        if not self.closed:
            self.closed = how
            self.closed_at = time.monotonic()

    def flush(self, timeout=5.0):
        """Writes the queued output (reading meanwhile)."""
        return self.pump(lambda: not self.out, timeout)

    def wait_closed(self, timeout=5.0):
        """Reads (and handles) everything until the peer closes. Returns
        'eof', 'reset' or 'timeout'."""
        self.pump(lambda: self.closed is not None, timeout)
        return self.closed or "timeout"

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


# --------------------------------------------------------------------------
# the raw frame client


class RawStream:
    def __init__(self, sid):
        self.sid = sid
        self.header_blocks = []  # decoded blocks, each a list of (name, value) str
        self.data = bytearray()
        self.ended = False
        self.reset = None        # RST_STREAM code from the server
        self.t_end = None

    @property
    def headers(self):
        return self.header_blocks[0] if self.header_blocks else None

    @property
    def status(self):
        for blk in self.header_blocks:
            d = dict(blk)
            if ":status" in d and not d[":status"].startswith("1"):
                return int(d[":status"])
        return None

    def _final_index(self):
        for i, blk in enumerate(self.header_blocks):
            st = dict(blk).get(":status")
            if st is not None and not st.startswith("1"):
                return i
        return None

    @property
    def trailers(self):
        """The header block after the final response header block, if any."""
        i = self._final_index()
        if i is None or i + 1 >= len(self.header_blocks):
            return None
        return self.header_blocks[i + 1]

    def header(self, name):
        i = self._final_index()
        return None if i is None else dict(self.header_blocks[i]).get(name)

    def __repr__(self):
        return "<stream %d status=%s ended=%s reset=%s data=%d headers=%r>" % (
            self.sid, self.status, self.ended, errname(self.reset) if self.reset is not None
            else None, len(self.data), self.header_blocks)


class RawConn(_Pump):
    """A hand-driven HTTP/2 client connection.

    settings:     the client's SETTINGS (dict id -> value)
    auto_ping:    answer the server's PINGs
    auto_window:  send WINDOW_UPDATE (stream and connection) for every DATA
    keep_frames:  keep every received frame in self.frames
    """

    def __init__(self, port, tls=False, settings=None, preface=True, auto_ping=True,
                 auto_window=True, timeout=5.0, sock=None, keep_frames=True):
        super().__init__(port, tls=tls, timeout=timeout, sock=sock)
        self.auto_ping = auto_ping
        self.auto_window = auto_window
        self.keep_frames = keep_frames
        self.buf = bytearray()
        self.frames = []
        self.nframes = 0
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_header_list_size = 1 << 24
        self.dec.max_allowed_table_size = 1 << 16
        self.server_settings = {}
        self.settings_frames = 0
        self.settings_acks = 0
        self.pings = []          # opaque data of the server's PINGs (not ACKs)
        self.ping_times = []
        self.ping_acks = []
        self.goaways = []        # Frames
        self.streams = {}
        self.next_sid = 1
        self._block = None       # (sid, bytearray, end_stream) while a block is open
        self.send_window = 65535
        self.stream_send_windows = {}
        self.decode_error = None
        self.pending = {}        # sid -> [body bytes left, end_stream, nothing sent yet]
        if preface:
            self.queue(PREFACE + settings_frame(settings or {}))

    # -- receiving --------------------------------------------------------

    def _feed(self, data):
        self.buf += data
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[0:3], "big")
            if len(self.buf) < 9 + length:
                return
            ftype, flags = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = bytes(self.buf[9:9 + length])
            del self.buf[:9 + length]
            self._on_frame(Frame(ftype, flags, sid, payload, time.monotonic()))

    def stream(self, sid):
        st = self.streams.get(sid)
        if st is None:
            st = self.streams[sid] = RawStream(sid)
        return st

    def _on_frame(self, f):
        self.nframes += 1
        if self.keep_frames:
            self.frames.append(f)
        t = f.type
        if t == SETTINGS:
            if f.flags & ACK:
                self.settings_acks += 1
            else:
                self.settings_frames += 1
                s = f.settings()
                if S_INITIAL_WINDOW_SIZE in s:
                    delta = s[S_INITIAL_WINDOW_SIZE] - self.server_settings.get(
                        S_INITIAL_WINDOW_SIZE, 65535)
                    for k in self.stream_send_windows:
                        self.stream_send_windows[k] += delta
                self.server_settings.update(s)
                self.queue(settings_frame(ack=True))
                self._send_pending()
        elif t == PING:
            if f.flags & ACK:
                self.ping_acks.append(f.payload)
            else:
                self.pings.append(f.payload)
                self.ping_times.append(f.t)
                if self.auto_ping:
                    self.queue(ping_frame(f.payload, ack=True))
        elif t == GOAWAY:
            self.goaways.append(f)
        elif t == RST_STREAM:
            st = self.stream(f.sid)
            st.reset = f.error_code()
            st.t_end = f.t
        elif t == WINDOW_UPDATE:
            inc = struct.unpack(">I", f.payload[:4])[0] & 0x7FFFFFFF
            if f.sid == 0:
                self.send_window += inc
            else:
                self.stream_send_windows[f.sid] = self.stream_send_windows.get(
                    f.sid, self.server_settings.get(S_INITIAL_WINDOW_SIZE, 65535)) + inc
            if self.pending:
                self._send_pending()
        elif t == HEADERS:
            p = f.payload
            if f.flags & PADDED:
                pad = p[0]
                p = p[1:len(p) - pad]
            if f.flags & PRIORITY_FLAG:
                p = p[5:]
            self._block = (f.sid, bytearray(p), bool(f.flags & END_STREAM))
            if f.flags & END_HEADERS:
                self._end_block()
        elif t == CONTINUATION:
            if self._block is not None:
                self._block[1].extend(f.payload)
                if f.flags & END_HEADERS:
                    self._end_block()
        elif t == DATA:
            p = f.payload
            if f.flags & PADDED:
                pad = p[0]
                p = p[1:len(p) - pad]
            st = self.stream(f.sid)
            st.data += p
            if self.auto_window and f.payload:
                self.queue(window_update_frame(0, len(f.payload)))
                if not f.flags & END_STREAM:
                    self.queue(window_update_frame(f.sid, len(f.payload)))
            if f.flags & END_STREAM:
                st.ended = True
                st.t_end = f.t

    def _end_block(self):
        sid, block, end = self._block
        self._block = None
        try:
            hs = [(n.decode("latin-1") if isinstance(n, bytes) else n,
                   v.decode("latin-1") if isinstance(v, bytes) else v)
                  for n, v in self.dec.decode(bytes(block), raw=True)]
        except Exception as e:  # noqa: BLE001 - kept for the test to report
            self.decode_error = e
            hs = [("x-decode-error", repr(e))]
        st = self.stream(sid)
        st.header_blocks.append(hs)
        if end:
            st.ended = True
            st.t_end = time.monotonic()

    # -- sending ----------------------------------------------------------

    def new_sid(self):
        sid = self.next_sid
        self.next_sid += 2
        return sid

    def block(self, method="GET", path="/hello", extra=(), authority=None, scheme=None,
              pseudo=None, huffman=True):
        """An HPACK block for a request (encoder state advances)."""
        if pseudo is None:
            pseudo = [(":method", method), (":scheme", scheme or ("https" if self.tls else "http")),
                      (":authority", authority or "127.0.0.1:%d" % self.port), (":path", path)]
        return self.enc.encode(list(pseudo) + list(extra), huffman=huffman)

    def fixed_block(self, method="GET", path="/hello", extra=(), authority=None, pseudo=None):
        """An HPACK block that neither uses nor changes the dynamic table
        (static-table references and never-indexed literals only), so the same
        bytes can be sent on any number of streams."""
        if pseudo is None:
            pseudo = [(":method", method), (":scheme", "https" if self.tls else "http"),
                      (":authority", authority or "127.0.0.1:%d" % self.port), (":path", path)]
        return hpack.Encoder().encode([hpack.NeverIndexedHeaderTuple(n, v)
                                       for n, v in list(pseudo) + list(extra)])

    def send_request(self, method="GET", path="/hello", extra=(), body=None, end_stream=None,
                     sid=None, authority=None):
        """Queues HEADERS for a new stream and its body as DATA frames under
        the server's flow-control windows (the rest goes out as WINDOW_UPDATEs
        arrive); returns the stream id. end_stream (default True) ends the
        stream with the last DATA frame, or with HEADERS when body is None."""
        sid = sid or self.new_sid()
        if sid >= self.next_sid:
            self.next_sid = sid + 2
        self.stream(sid)
        self.stream_send_windows.setdefault(sid, self.server_settings.get(S_INITIAL_WINDOW_SIZE,
                                                                          65535))
        blk = self.block(method, path, extra, authority)
        if end_stream is None:
            end_stream = True
        self.queue(headers_frame(sid, blk, end_stream=end_stream and body is None))
        if body is not None:
            self.pending[sid] = [bytes(body), end_stream, True]
            self._send_pending()
        return sid

    def send_body(self, sid, body, end_stream=True):
        """More body on an open stream, under flow control."""
        p = self.pending.get(sid)
        if p:
            p[0] += bytes(body)
            p[1] = end_stream
        else:
            self.pending[sid] = [bytes(body), end_stream, True]
        self._send_pending()

    def _send_pending(self):
        mfs = self.server_settings.get(S_MAX_FRAME_SIZE, 16384)
        for sid in list(self.pending):
            data, end, first = self.pending[sid]
            st = self.streams.get(sid)
            if st is not None and st.reset is not None:
                del self.pending[sid]
                continue
            while data or first:
                n = min(len(data), mfs, self.send_window, self.stream_send_windows[sid])
                if n <= 0 and data:
                    break
                chunk, data = data[:n], data[n:]
                first = False
                self.queue(data_frame(sid, chunk, end_stream=end and not data))
                self.send_window -= len(chunk)
                self.stream_send_windows[sid] -= len(chunk)
            if data:
                self.pending[sid] = [data, end, False]
            else:
                del self.pending[sid]

    def body_sent(self, sid):
        return sid not in self.pending

    def send(self, data):
        self.queue(data)
        self.flush()

    # -- waiting ----------------------------------------------------------

    def wait_stream(self, sid, timeout=5.0):
        st = self.stream(sid)
        self.pump(lambda: st.ended or st.reset is not None, timeout)
        return st

    def get(self, path="/hello", timeout=5.0, **kw):
        return self.wait_stream(self.send_request("GET", path, **kw), timeout)

    def wait_goaway(self, timeout=5.0):
        self.pump(lambda: self.goaways or self.closed, timeout)
        return self.goaways[0] if self.goaways else None

    def wait_settings(self, timeout=5.0):
        self.pump(lambda: self.settings_frames > 0, timeout)
        return self.server_settings

    def summary(self, n=12):
        """The last n received frames, for messages."""
        tail = self.frames[-n:]
        return "%d frames received, closed=%s, last: %r" % (self.nframes, self.closed, tail)


def wait_settings_and_ack(conn, timeout=5.0):
    """Preface exchanged both ways: the server's SETTINGS seen and ours
    acknowledged."""
    return conn.pump(lambda: conn.settings_frames > 0 and conn.settings_acks > 0, timeout)


# --------------------------------------------------------------------------
# the python3-h2 client


class LibStream:
    def __init__(self, sid):
        self.sid = sid
        self.headers = None
        self.informational = []
        self.data = bytearray()
        self.trailers = None
        self.ended = False
        self.reset = None
        self.pending = b""
        self.trailers_out = None
        self.end_sent = False
        self.keep_open = False  # a tunnel: more body comes later, end only when asked

    @property
    def status(self):
        return int(self.hdict[":status"]) if self.headers else None

    @property
    def hdict(self):
        return {(n.decode() if isinstance(n, bytes) else n):
                (v.decode() if isinstance(v, bytes) else v) for n, v in (self.headers or [])}

    def header(self, name):
        return self.hdict.get(name)

    def __repr__(self):
        return "<libstream %d status=%s ended=%s reset=%s data=%d trailers=%r>" % (
            self.sid, self.status, self.ended, self.reset, len(self.data), self.trailers)


class LibClient(_Pump):
    """HTTP/2 with python3-h2 doing the protocol."""

    def __init__(self, port, tls=False, window=None, max_frame=None, timeout=5.0, sock=None,
                 conn=None, preamble=True):
        super().__init__(port, tls=tls, timeout=timeout, sock=sock)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = conn or h2.connection.H2Connection(cfg)
        self.streams = {}
        self.terminated = None  # ConnectionTerminated event
        self.events = []
        self.error = None
        if preamble:
            self.conn.initiate_connection()
            s = {}
            if window:
                s[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = window
            if max_frame:
                s[h2.settings.SettingCodes.MAX_FRAME_SIZE] = max_frame
            if s:
                self.conn.update_settings(s)
            if window and window > 65535:
                self.conn.increment_flow_control_window(window - 65535)
            self.queue(self.conn.data_to_send())

    def request(self, method="GET", path="/hello", headers=(), body=b"", trailers=None,
                authority=None, scheme=None):
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", method), (":path", path),
              (":scheme", scheme or ("https" if self.tls else "http")),
              (":authority", authority or "127.0.0.1:%d" % self.port)] + list(headers)
        end = not body and not trailers
        self.conn.send_headers(sid, hs, end_stream=end)
        st = self.streams[sid] = LibStream(sid)
        st.pending = body or b""
        st.trailers_out = trailers
        st.end_sent = end
        self._send_bodies()
        self.queue(self.conn.data_to_send())
        return sid

    def _send_bodies(self):
        for sid, st in self.streams.items():
            if st.end_sent or st.reset is not None:
                continue
            try:
                while st.pending:
                    n = min(self.conn.local_flow_control_window(sid),
                            self.conn.max_outbound_frame_size, len(st.pending))
                    if n <= 0:
                        break
                    self.conn.send_data(sid, st.pending[:n])
                    st.pending = st.pending[n:]
                if not st.pending and not st.keep_open:
                    if st.trailers_out:
                        self.conn.send_headers(sid, st.trailers_out, end_stream=True)
                    else:
                        self.conn.end_stream(sid)
                    st.end_sent = True
            except h2.exceptions.StreamClosedError:
                st.end_sent = True

    def _feed(self, data):
        if self.error:
            return
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self.error = e
            self.queue(self.conn.data_to_send())
            return
        for ev in events:
            self.events.append(ev)
            sid = getattr(ev, "stream_id", None)
            st = self.streams.get(sid) if sid else None
            if isinstance(ev, h2.events.ResponseReceived):
                st.headers = ev.headers
            elif isinstance(ev, h2.events.InformationalResponseReceived):
                st.informational.append(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                if st is not None:
                    st.data += ev.data
                if ev.flow_controlled_length:
                    try:
                        self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    except h2.exceptions.StreamClosedError:
                        pass
            elif isinstance(ev, h2.events.TrailersReceived):
                st.trailers = ev.headers
            elif isinstance(ev, h2.events.StreamEnded):
                if st is not None:
                    st.ended = True
            elif isinstance(ev, h2.events.StreamReset):
                if st is not None:
                    st.reset = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.terminated = ev
        self._send_bodies()
        self.queue(self.conn.data_to_send())

    def wait_settings(self, timeout=5.0):
        """Waits for the server's SETTINGS (so its limits apply to our
        requests)."""
        return self.pump(lambda: any(isinstance(e, h2.events.RemoteSettingsChanged)
                                     for e in self.events) or self.error is not None, timeout)

    def done(self, sids):
        return all(self.streams[s].ended or self.streams[s].reset is not None for s in sids)

    def wait(self, sids, timeout=10.0):
        self.pump(lambda: self.done(sids) or self.error is not None, timeout)
        return [self.streams[s] for s in sids]

    def fetch(self, method="GET", path="/hello", timeout=10.0, **kw):
        return self.wait([self.request(method, path, **kw)], timeout)[0]
