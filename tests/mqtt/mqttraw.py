"""mqttraw.py — MQTT packets written by hand for the bridge tests (so a test
can break the protocol on purpose), carried in binary messages of
tests/websocket/wsraw.WSRaw, and a splitter for what comes back. Levels 4
(3.1.1) and 5 (5.0). Every wait is bounded."""

import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "websocket"))
import wsraw  # noqa: E402
from wsraw import H  # noqa: E402,F401  (re-exported to the tests)

CONNACK, PUBLISH, PUBACK, PUBREC, SUBACK, DISCONNECT = 2, 3, 4, 5, 9, 14


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s16(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("!H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(client_id="c1", level=4, username=None, keepalive=60):
    flags = 0x02 | (0x80 if username is not None else 0)
    body = s16("MQTT") + bytes([level, flags]) + struct.pack("!H", keepalive)
    if level == 5:
        body += b"\x00"  # no properties
    body += s16(client_id)
    if username is not None:
        body += s16(username)
    return packet(0x10, body)


def subscribe(pid, filters, level=4, qos=0):
    body = struct.pack("!H", pid) + (b"\x00" if level == 5 else b"")
    for f in filters:
        body += s16(f) + bytes([qos])
    return packet(0x82, body)


def publish(topic, payload=b"x", qos=0, pid=1, level=4):
    body = s16(topic) + (struct.pack("!H", pid) if qos else b"")
    body += (b"\x00" if level == 5 else b"") + payload
    return packet(0x30 | (qos << 1), body)


def split(data):
    """Whole packets in data: a list of (type, body)."""
    out, i = [], 0
    while i < len(data):
        n, shift, j = 0, 0, i + 1
        while True:
            b = data[j]
            n |= (b & 0x7F) << shift
            shift += 7
            j += 1
            if not b & 0x80:
                break
        out.append((data[i] >> 4, data[j:j + n]))
        i = j + n
    return out


class Session(wsraw.WSRaw):
    """A raw WebSocket session to the bridge at path."""

    def open(self, path="/mqtt", protocols="mqtt", headers=None):
        r = self.handshake(path, protocols=protocols, headers=headers)
        return r

    def send_packets(self, *pkts):
        self.send_frame(wsraw.BINARY, b"".join(pkts))

    def recv_packet(self, timeout=5.0):
        """(type, body) of the next packet, or (None, close frame/None)."""
        op, msg = self.recv_message(timeout)
        if op == wsraw.BINARY:
            return split(msg)[0]
        return None, msg

    def expect(self, ptype, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t, body = self.recv_packet(max(0.1, deadline - time.monotonic()))
            if t is None:
                raise AssertionError("expected packet type %d, got %r" % (ptype, body))
            if t == ptype:
                return body
        raise AssertionError("no packet of type %d" % ptype)


def established_to(port, pid):
    """TCP connections of process pid in state ESTABLISHED to 127.0.0.1:port."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            remote, state, inode = parts[2], parts[3], parts[9]
            if state == "01" and int(remote.split(":")[1], 16) == port and inode in inodes:
                n += 1
    return n


def stop_all(srv, *cleanups):
    """tearDownModule's work: the server stopped (raising on a crash or a
    sanitizer report), then every cleanup called whatever happened."""
    try:
        if srv is not None:
            srv.__exit__(None, None, None)
    finally:
        for c in cleanups:
            c()
