#!/usr/bin/python3
"""test_ws_clients.py — mod_websocket's echo route as real WebSocket clients
see it (issue 10, "checks a user would make").

Clients:
  OverHTTP1  python3-websockets over HTTP/1.1 plain (ws://) and over TLS
             (wss://, a context trusting the harness's test certificate),
             and the npm `ws` client (tests/js/ws_client.js) over HTTP/1.1.
  OverHTTP2  Node's own http2 client doing RFC 8441 (tests/js/h2_ws_client.js:
             extended CONNECT, its own masking, fragmentation and
             permessage-deflate through zlib) over TLS with ALPN h2 and over
             h2c with prior knowledge, all sessions on one connection.
Each client echoes text and binary messages of 0 B, 125 B, 126 B, 64 KiB and
1 MiB on /ws/echo (default limits: 1m) and of 16 MiB on /ws/big (limits
raised to 32m), each in one frame and in four fragments (the Node clients
put a ping between the first two fragments and expect its pong), with and
without permessage-deflate. Each echo must come back with the same type and
the same bytes (compared whole, sha256 for the big ones); text payloads mix
1- to 4-byte UTF-8 characters and the Node clients cut fragments in the
middle of characters. Each session then ends with close 1000 echoed back.
Also: permessage-deflate is answered only when offered; parameters
(server_no_context_takeover, server_max_window_bits=10, ...) are honoured,
checked by inflating the server's messages with a fresh, 10-bit window
inflater each; the subprotocol offer (route subprotocols = chat superchat)
gets the first offered protocol the route lists, and no header without a
match; /ws/metrics shows websocket_sessions_total grown by exactly the
sessions opened, per protocol (h1, h2) and deflate (on, off), and
websocket_sessions_open back where it was.

ctest runs the two classes as two tests (-k OverHTTP1, -k OverHTTP2), each
with its own server. Needs /usr/bin/python3 with python3-websockets, `node`
and tests/js/node_modules/ws (`bash .ci/dev deps`). Loopback only; every wait
is bounded (harness.scaled).
"""

import asyncio
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

import websockets  # noqa: E402
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory  # noqa: E402

JS = os.path.join(H.REPO, "tests", "js")
NODE_MODULES = os.path.join(JS, "node_modules")
MIB = 1 << 20
SMALL_SIZES = (0, 125, 126, 64 * 1024, MIB)  # on /ws/echo, default limits (1m)
BIG_SIZE = 16 * MIB                            # on /ws/big, limits 32m
FRAGMENTS = (1, 4)                              # one frame, or four fragments
ECHO, BIG, SUB, METRICS = "/ws/echo", "/ws/big", "/ws/sub", "/ws/metrics"
# the deflate parameters of the "parameters honoured" sessions
PARAM_OFFER = ("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
               "server_max_window_bits=10; client_max_window_bits=12")

SRV = None
TMP = None


def check_environment():
    problems = []
    if not os.access(H.IRIDIUM_BIN, os.X_OK):
        problems.append("IRIDIUM_BIN=%s is not an executable file" % H.IRIDIUM_BIN)
    for so in ("websocket.so", "hello.so"):
        if not os.path.isfile(os.path.join(H.MODULES_DIR, so)):
            problems.append("IRIDIUM_MODULES_DIR=%s has no %s" % (H.MODULES_DIR, so))
    if not shutil.which("node"):
        problems.append("no `node` on PATH (bash .ci/dev deps)")
    if not os.path.isdir(os.path.join(NODE_MODULES, "ws")):
        problems.append("%s has no ws package (bash .ci/dev deps)" % NODE_MODULES)
    for p in problems:
        print("ws_clients setup: " + p, file=sys.stderr)
    if problems:
        sys.exit(1)


def setUpModule():
    global SRV, TMP
    check_environment()
    TMP = tempfile.mkdtemp(prefix="iridium-ws-clients-")
    SRV = C.H2Server(
        server={"workers": 2},
        modules=["websocket", "hello"],
        routes=[(ECHO, {"module": "websocket", "mode": "echo"}),
                # A user raising the message size for 16 MiB messages raises
                # the bytes that may wait toward the client with it.
                (BIG, {"module": "websocket", "mode": "echo", "max_message_size": "32m",
                       "max_frame_size": "32m", "send_queue": "64m"}),
                (SUB, {"module": "websocket", "mode": "echo", "subprotocols": "chat superchat"}),
                (METRICS, {"module": "websocket", "mode": "metrics"}),
                ("/hello", {"module": "hello", "greeting": H.DEFAULT_GREETING})],
        protocols="http/1.1, h2c",
        listeners=[{"tls": True, "protocols": "h2, http/1.1"}])
    SRV.__enter__()


def tearDownModule():
    try:
        if SRV is not None:
            SRV.__exit__(None, None, None)  # raises on a crash, a hang or a sanitizer report
    finally:
        if TMP:
            shutil.rmtree(TMP, ignore_errors=True)


# --------------------------------------------------------------------------
# payloads: made once per (type, size), kept in memory and in a file (for node)

# Payloads up to 1 MiB: text mostly ASCII with 2-, 3- and 4-byte characters
# mixed in (a 256-entry table indexed by random bytes).
_CHARS = (list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;") * 2
          + ["é", "ß", "ж", "ω", "€", "中", "文", "✓", "😀", "𝄞", "🚀"] * 4)[:256]
while len(_CHARS) < 256:
    _CHARS.append("ü")
# Binary: the first half any byte, the second half 16 values spread over
# 0x00..0xff, so deflate has work to do and still shrinks the message.
_NIBBLES = bytes((b & 0x0F) * 17 for b in range(256))
_payloads = {}


def numbered(kind, size):
    """A big payload zlib compresses quickly (random-looking data costs it
    seconds per 16 MiB on each side): numbered lines (text, with multi-byte
    characters) or numbered 64-byte blocks (binary, every byte value), so a
    lost, repeated or reordered piece still changes the sha256."""
    if kind == "text":
        enc = "".join("%08d ünïcödé ✓ 中文 😀 𝄞 %08x\n" % (i, i * 2654435761 & 0xFFFFFFFF)
                      for i in range(size // 40 + 1)).encode()[:size]
        return enc.decode("utf-8", "ignore").encode()
    table = bytes(range(256)) * 2
    return b"".join(i.to_bytes(4, "big") + table[i % 256:i % 256 + 60]
                    for i in range(size // 64 + 1))[:size]


def payload(kind, size):
    """(bytes, path) of a payload; text is valid UTF-8 of exactly size bytes."""
    key = (kind, size)
    if key not in _payloads:
        if size > 4 * MIB:
            data = numbered(kind, size)
            data += b"x" * (size - len(data))
        elif kind == "binary":
            half = size // 2
            data = os.urandom(half) + os.urandom(size - half).translate(_NIBBLES)
        else:
            enc = "".join(map(_CHARS.__getitem__, os.urandom(size))).encode()[:size]
            # drop a character cut at the end, then pad with ASCII
            enc = enc.decode("utf-8", "ignore").encode()
            data = enc + b"x" * (size - len(enc))
        assert len(data) == size
        path = os.path.join(TMP, "%s-%d" % (kind, size))
        with open(path, "wb") as f:
            f.write(data)
        _payloads[key] = (data, path)
    return _payloads[key]


def cases(sizes):
    return [(kind, size, frags) for size in sizes for kind in ("text", "binary")
            for frags in FRAGMENTS]


def case_name(kind, size, frags):
    return "%s %d B %s" % (kind, size, "in one frame" if frags == 1 else "in %d fragments" % frags)


# --------------------------------------------------------------------------
# metrics


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)\s*$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics():
    """{(name, frozenset(labels.items())): value} from GET /ws/metrics."""
    r = H.http_request(SRV.port, "GET", METRICS)
    if r.status != 200:
        raise AssertionError("GET %s answered %r: %r" % (METRICS, r, r.body[:300]))
    ctype = (r.header("content-type") or "").lower()
    if not ctype.startswith("text/plain"):
        raise AssertionError("GET %s content-type %r, expected text/plain" % (METRICS, ctype))
    out = {}
    for line in r.body.decode("utf-8", "replace").split("\n"):
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError("not a Prometheus sample line: %r" % line)
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(sample, name, **labels):
    """The series' value; 0 when the series is not listed yet."""
    return sample.get((name, frozenset(labels.items())), 0.0)


class MetricsDelta:
    """Scrapes before; check() asserts websocket_sessions_total grew by the
    expected counts per (protocol, deflate) and that the open gauge is back."""

    def __init__(self, tc):
        self.tc = tc
        self.before = metrics()

    def check(self, protocol, opened, messages_in=0, bytes_in=0):
        """opened: {"on": n, "off": m} sessions of this protocol."""
        tc = self.tc
        open_before = metric(self.before, "websocket_sessions_open", protocol=protocol)

        def settled():
            s = metrics()
            return s if metric(s, "websocket_sessions_open", protocol=protocol) == open_before \
                else None
        after = H.wait_for(settled, H.scaled(5.0)) or metrics()
        tc.assertEqual(metric(after, "websocket_sessions_open", protocol=protocol), open_before,
                       "websocket_sessions_open{protocol=%s} not back to %d after every session "
                       "closed" % (protocol, open_before))
        for deflate in ("on", "off"):
            grew = (metric(after, "websocket_sessions_total", protocol=protocol, deflate=deflate)
                    - metric(self.before, "websocket_sessions_total", protocol=protocol,
                             deflate=deflate))
            tc.assertEqual(grew, opened.get(deflate, 0),
                           "websocket_sessions_total{protocol=%s,deflate=%s} grew by %d, expected "
                           "%d (the sessions this test opened)"
                           % (protocol, deflate, grew, opened.get(deflate, 0)))
        # Lower bounds only: other tests' sessions do not run here, but what
        # the module counts as a message or a byte beyond data messages
        # (control frames?) is its own business.
        for name, want in (("websocket_messages_total", messages_in),
                           ("websocket_bytes_total", bytes_in)):
            for direction in ("in", "out"):
                grew = (metric(after, name, direction=direction)
                        - metric(self.before, name, direction=direction))
                tc.assertGreaterEqual(grew, want, "%s{direction=%s} grew by %d, expected at least"
                                      " %d (the echoed messages)" % (name, direction, grew, want))


# --------------------------------------------------------------------------
# python3-websockets (HTTP/1.1)


def tls_context():
    cert, _key = C.test_cert()
    ctx = ssl.create_default_context(cafile=cert)  # verifies the chain and 127.0.0.1
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def fragments_of(data, kind, k):
    """k pieces of the message; text pieces are str (websockets sends an
    iterable as one fragmented message of that type)."""
    if kind == "text":
        s = data.decode()
        n = len(s)
        return [s[i * n // k:(i + 1) * n // k] for i in range(k)]
    n = len(data)
    return [data[i * n // k:(i + 1) * n // k] for i in range(k)]


async def py_session(uri, route_cases, deflate=None, extensions=None, subprotocols=None,
                     ssl_ctx=None):
    """One python3-websockets session: echoes route_cases, closes with 1000.
    Returns {"extensions", "subprotocol", "results": [(case, ok, why)],
    "close_code"}."""
    kw = dict(max_size=64 * MIB, max_queue=4, ping_interval=None, open_timeout=H.scaled(10),
              close_timeout=H.scaled(10), ssl=ssl_ctx, subprotocols=subprotocols)
    if extensions is not None:
        kw.update(compression=None, extensions=extensions)
    else:
        kw.update(compression="deflate" if deflate else None)
    out = {"results": []}
    ws = await websockets.connect(uri, **kw)
    try:
        out["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions")
        out["protocol_header"] = ws.response_headers.get_all("Sec-WebSocket-Protocol")
        out["subprotocol"] = ws.subprotocol
        for kind, size, frags in route_cases:
            data, _path = payload(kind, size)
            msg = data.decode() if kind == "text" else data
            if frags == 1:
                await ws.send(msg)
            else:
                await ws.send(fragments_of(data, kind, frags))
            echo = await asyncio.wait_for(ws.recv(), H.scaled(60))
            got_kind = "text" if isinstance(echo, str) else "binary"
            got = echo.encode() if isinstance(echo, str) else echo
            out["results"].append(((kind, size, frags), got_kind, got))
        await ws.close(1000, "bye")
    finally:
        await ws.close()
    out["close_code"] = ws.close_code
    out["close_reason"] = ws.close_reason
    return out


def run_async(coro, timeout=240):
    return asyncio.run(asyncio.wait_for(coro, H.scaled(timeout)))


def describe_diff(want, got):
    if want == got:
        return "same"
    i = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
    return ("%d bytes back for %d sent (sha256 %s, sent %s); first difference at byte %d"
            % (len(got), len(want), H.sha256(got)[:16], H.sha256(want)[:16], i))


class EchoChecks:
    """Assertions shared by the classes (a mixin of unittest.TestCase)."""

    def check_py_results(self, label, res):
        for (kind, size, frags), got_kind, got in res["results"]:
            want, _ = payload(kind, size)
            what = "%s: echo of %s" % (label, case_name(kind, size, frags))
            self.assertEqual(got_kind, kind, what + ": came back as " + got_kind)
            if got != want:
                self.fail(what + ": " + describe_diff(want, got))
        self.assertEqual(res["close_code"], 1000, "%s: close code %r (reason %r) after our close "
                         "1000" % (label, res["close_code"], res.get("close_reason")))

    def check_js_session(self, label, s, route_cases):
        self.assertIsNone(s.get("error"), "%s: %s" % (label, s.get("error")))
        self.assertEqual(len(s["results"]), len(route_cases), label + ": echoes missing")
        for (kind, size, frags), r in zip(route_cases, s["results"]):
            want, _ = payload(kind, size)
            what = "%s: echo of %s" % (label, case_name(kind, size, frags))
            self.assertEqual(r["type"], kind, what + ": came back as " + r["type"])
            self.assertEqual((r["length"], r["sha256"]), (size, H.sha256(want)),
                             "%s: %d bytes back, first difference at byte %d"
                             % (what, r["length"], r["first_diff"]))
            self.assertEqual(r["pongs"], r["pings"], what + ": no pong for the ping sent between"
                             " the fragments")
        self.assertEqual(s["close_code"], 1000, "%s: close code %r (reason %r) after our close "
                         "1000" % (label, s["close_code"], s.get("close_reason")))


def run_node(script, plan, timeout=240):
    path = os.path.join(TMP, "plan-%s-%d.json" % (os.path.basename(script), time.monotonic_ns()))
    plan = dict(plan, timeout_ms=int(H.scaled(60) * 1000))
    with open(path, "w") as f:
        json.dump(plan, f)
    env = dict(os.environ, NODE_PATH=NODE_MODULES)
    p = subprocess.run(["node", os.path.join(JS, script), path], capture_output=True,
                       timeout=H.scaled(timeout), env=env)
    try:
        res = json.loads(p.stdout.decode().strip().split("\n")[-1])
    except (ValueError, IndexError):
        raise AssertionError("%s gave no JSON result (exit %d); stdout %r; stderr %s"
                             % (script, p.returncode, p.stdout[-2000:], p.stderr[-4000:]))
    if res.get("error"):
        raise AssertionError("%s: %s; stderr %s" % (script, res["error"], p.stderr[-2000:]))
    return res


def js_messages(route_cases):
    return [{"type": kind, "file": payload(kind, size)[1], "fragments": frags}
            for kind, size, frags in route_cases]


# --------------------------------------------------------------------------
# HTTP/1.1


class OverHTTP1(EchoChecks, unittest.TestCase):

    def py_matrix(self, scheme, port, ssl_ctx):
        """Four sessions: (/ws/echo, /ws/big) x (deflate off, on)."""
        base = "%s://127.0.0.1:%d" % (scheme, port)
        for deflate in (False, True):
            for route, sizes in ((ECHO, SMALL_SIZES), (BIG, (BIG_SIZE,))):
                label = "python3-websockets %s %s deflate %s" % (scheme, route,
                                                                  "on" if deflate else "off")
                res = run_async(py_session(base + route, cases(sizes), deflate=deflate,
                                           ssl_ctx=ssl_ctx))
                if deflate:
                    self.assertIsNotNone(res["extensions"], label + ": permessage-deflate offered"
                                         " but not accepted")
                    self.assertIn("permessage-deflate", res["extensions"], label)
                else:
                    self.assertIsNone(res["extensions"], label + ": an extension answered though "
                                      "none was offered")
                self.check_py_results(label, res)

    def expected_in(self):
        n = 2 * (len(cases(SMALL_SIZES)) + len(cases((BIG_SIZE,))))
        b = 2 * sum(size for _k, size, _f in cases(SMALL_SIZES) + cases((BIG_SIZE,)))
        return n, b

    def test_python_websockets_plain(self):
        m = MetricsDelta(self)
        self.py_matrix("ws", SRV.port, None)
        n, b = self.expected_in()
        m.check("h1", {"on": 2, "off": 2}, n, b)

    def test_python_websockets_tls(self):
        m = MetricsDelta(self)
        self.py_matrix("wss", SRV.ports[0], tls_context())
        n, b = self.expected_in()
        m.check("h1", {"on": 2, "off": 2}, n, b)

    def test_python_websockets_deflate_parameters(self):
        """server_no_context_takeover and server_max_window_bits=10 offered:
        the server must answer with both, and websockets then inflates with a
        10-bit window and a fresh context per message, so a server sending
        anything else fails the echo."""
        m = MetricsDelta(self)
        ext = [ClientPerMessageDeflateFactory(server_no_context_takeover=True,
                                              client_no_context_takeover=True,
                                              server_max_window_bits=10,
                                              client_max_window_bits=12)]
        route_cases = cases((125, 64 * 1024)) * 2  # repeats: context would help
        res = run_async(py_session("ws://127.0.0.1:%d%s" % (SRV.port, ECHO), route_cases,
                                   extensions=ext))
        answer = res["extensions"] or ""
        self.assertIn("server_no_context_takeover", answer, "answer %r" % answer)
        bits = re.search(r"server_max_window_bits=(\d+)", answer)
        self.assertTrue(bits and 8 <= int(bits.group(1)) <= 10,
                        "server_max_window_bits=10 offered, answer %r" % answer)
        self.check_py_results("python3-websockets deflate parameters", res)
        m.check("h1", {"on": 1})

    def test_npm_ws(self):
        m = MetricsDelta(self)
        sessions = []
        for deflate in (False, True):
            for route, sizes in ((ECHO, SMALL_SIZES), (BIG, (BIG_SIZE,))):
                sessions.append({"path": route, "deflate": deflate,
                                 "messages": js_messages(cases(sizes)),
                                 "cases": cases(sizes)})
        res = run_node("ws_client.js", {"url": "ws://127.0.0.1:%d" % SRV.port,
                                        "sessions": [{k: v for k, v in s.items() if k != "cases"}
                                                     for s in sessions]})
        for spec, s in zip(sessions, res["sessions"]):
            label = "npm ws %s deflate %s" % (spec["path"], "on" if spec["deflate"] else "off")
            self.assertEqual(s["status"], 101, "%s: %r" % (label, s))
            if spec["deflate"]:
                self.assertIn("permessage-deflate", s["negotiated"] or "", label)
            else:
                self.assertFalse(s["negotiated"], label)
            self.check_js_session(label, s, spec["cases"])
        n, b = self.expected_in()
        m.check("h1", {"on": 2, "off": 2}, n, b)

    def test_subprotocols(self):
        """subprotocols = chat superchat: the first client offer the route
        lists is chosen and echoed; no match, no offer or a route without
        subprotocols gives no Sec-WebSocket-Protocol."""
        m = MetricsDelta(self)
        base = "ws://127.0.0.1:%d" % SRV.port
        one = cases((125,))[:1]
        for route, offer, want in ((SUB, ["superchat", "chat"], "superchat"),
                                   (SUB, ["chat", "superchat"], "chat"),
                                   (SUB, ["foo", "chat"], "chat"),
                                   (SUB, ["foo", "bar"], None),
                                   (SUB, None, None),
                                   (ECHO, ["chat"], None)):
            label = "python3-websockets %s offering %r" % (route, offer)
            res = run_async(py_session(base + route, one, subprotocols=offer))
            self.assertEqual(res["subprotocol"], want, label)
            self.assertEqual(res["protocol_header"], [want] if want else [],
                             label + ": Sec-WebSocket-Protocol")
            self.check_py_results(label, res)
        # npm ws (it refuses a 101 without a protocol when it offered some,
        # so only matches here)
        res = run_node("ws_client.js", {"url": base, "sessions": [
            {"path": SUB, "deflate": False, "protocols": ["foo", "superchat"],
             "messages": js_messages(one)},
            {"path": SUB, "deflate": False, "protocols": ["chat"], "messages": js_messages(one)}]})
        for s, want in zip(res["sessions"], ("superchat", "chat")):
            self.assertEqual(s["protocol"], want, "npm ws: %r" % s)
            self.check_js_session("npm ws subprotocol " + want, s, one)
        m.check("h1", {"off": 8})


# --------------------------------------------------------------------------
# HTTP/2


class OverHTTP2(EchoChecks, unittest.TestCase):

    def node_matrix(self, url, ca, alpn):
        sessions = []
        for ext in (None, "permessage-deflate; client_max_window_bits"):
            for route, sizes in ((ECHO, SMALL_SIZES), (BIG, (BIG_SIZE,))):
                sessions.append({"path": route, "extensions": ext,
                                 "messages": js_messages(cases(sizes)), "cases": cases(sizes)})
        # the parameters: answered, and honoured (h2_ws_client.js inflates
        # each server message with a fresh inflater of the answered window)
        param_cases = cases((125, 64 * 1024)) * 2
        sessions.append({"path": ECHO, "extensions": PARAM_OFFER,
                         "messages": js_messages(param_cases), "cases": param_cases})
        plan = {"url": url, "sessions": [{k: v for k, v in s.items() if k != "cases"}
                                         for s in sessions]}
        if ca:
            plan["ca"] = ca
        res = run_node("h2_ws_client.js", plan)
        self.assertEqual(res["alpn"], alpn, "negotiated protocol")
        self.assertTrue(res["enable_connect_protocol"],
                        "the server's SETTINGS lack SETTINGS_ENABLE_CONNECT_PROTOCOL = 1")
        self.assertEqual(len(res["sessions"]), len(sessions))
        for spec, s in zip(sessions, res["sessions"]):
            label = "node http2 %s %s extensions %r" % (alpn, spec["path"], spec["extensions"])
            self.assertEqual(s["status"], 200, "%s: extended CONNECT answered %r (headers %r, %s)"
                             % (label, s["status"], s.get("headers"), s.get("error")))
            if spec["extensions"]:
                self.assertIsNotNone(s["negotiated"], label + ": permessage-deflate offered but "
                                     "not accepted")
            else:
                self.assertIsNone(s["negotiated"], label + ": an extension answered though none "
                                  "was offered")
            if spec["extensions"] == PARAM_OFFER:
                n = s["negotiated"]
                self.assertIn("server_no_context_takeover", n, "%s: answer %r" % (label, n))
                self.assertTrue(8 <= int(n.get("server_max_window_bits", 99)) <= 10,
                                "%s: answer %r" % (label, n))
            self.check_js_session(label, s, spec["cases"])
        n = 2 * (len(cases(SMALL_SIZES)) + len(cases((BIG_SIZE,))))
        b = 2 * sum(size for _k, size, _f in cases(SMALL_SIZES) + cases((BIG_SIZE,)))
        return n, b

    def test_node_http2_tls(self):
        m = MetricsDelta(self)
        cert, _key = C.test_cert()
        n, b = self.node_matrix("https://127.0.0.1:%d" % SRV.ports[0], cert, "h2")
        m.check("h2", {"on": 3, "off": 2}, n, b)

    def test_node_http2_h2c(self):
        m = MetricsDelta(self)
        n, b = self.node_matrix("http://127.0.0.1:%d" % SRV.port, None, "h2c")
        m.check("h2", {"on": 3, "off": 2}, n, b)

    def test_subprotocols(self):
        m = MetricsDelta(self)
        one = cases((125,))[:1]
        offers = ((SUB, ["foo", "superchat", "chat"], "superchat"), (SUB, ["chat"], "chat"),
                  (SUB, ["foo"], None), (SUB, None, None), (ECHO, ["chat"], None))
        res = run_node("h2_ws_client.js", {"url": "http://127.0.0.1:%d" % SRV.port, "sessions": [
            {"path": route, "protocols": offer, "messages": js_messages(one)}
            for route, offer, _want in offers]})
        for (route, offer, want), s in zip(offers, res["sessions"]):
            label = "node http2 %s offering %r" % (route, offer)
            self.assertEqual(s["status"], 200, "%s: %r" % (label, s))
            self.assertEqual(s["headers"].get("sec-websocket-protocol"), want, label)
            self.check_js_session(label, s, one)
        m.check("h2", {"off": len(offers)})


if __name__ == "__main__":
    unittest.main(verbosity=2)
