#!/usr/bin/env node
// h2_ws_client.js — a WebSocket client over HTTP/2 (RFC 8441) built only on
// Node's own http2 module, for tests/websocket/test_ws_clients.py.
//
// It opens one HTTP/2 connection (https:// = TLS with ALPN h2, http:// = h2c
// with prior knowledge), waits for the server's SETTINGS, and runs each
// session of the plan as an extended CONNECT stream (:method CONNECT,
// :protocol websocket, sec-websocket-version 13), one after the other on the
// same connection. The RFC 6455 framing is done here: client frames masked
// with a fresh key each, fragmentation on demand (with a ping between the
// fragments), and permessage-deflate (RFC 7692) through zlib's raw deflate,
// honouring the parameters the server answered with.
//
//   node h2_ws_client.js PLAN.json      prints one JSON result on stdout
//
// PLAN: {"url": "https://localhost:PORT", "ca": "cert.pem" (TLS),
//        "timeout_ms": N,
//        "sessions": [{"path": "/ws/echo", "extensions": "permessage-deflate"
//                      or null, "protocols": ["chat"] or null,
//                      "messages": [{"type": "text"|"binary", "file": PATH,
//                                    "fragments": K (1 = one frame)}]}]}
// RESULT: {"alpn", "enable_connect_protocol", "sessions": [{"status",
//          "headers", "negotiated", "results": [{"type", "length", "sha256",
//          "frames", "compressed", "pongs", "first_diff"}], "close_code",
//          "close_reason", "error"}], "error"}
// The judge is the Python test: it compares each sha256 with its own file's.
// Every wait is bounded by timeout_ms; a failure is reported in "error" and
// the exit status is 1.

'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http2 = require('http2');
const zlib = require('zlib');

const OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9,
  OP_PONG = 0xa;
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

// ---------------------------------------------------------------- framing

function maskedFrame(fin, rsv1, opcode, payload) {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + 4);
  head[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (ext === 0) {
    head[1] = 0x80 | len;
  } else if (ext === 2) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const key = crypto.randomBytes(4);
  key.copy(head, 2 + ext);
  const body = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([head, body]);
}

// Bytes received but not yet parsed, kept as a list of chunks so a 16 MiB
// frame is concatenated once, not once per chunk.
class ByteQueue {
  constructor() { this.chunks = []; this.length = 0; }
  push(b) { if (b.length) { this.chunks.push(b); this.length += b.length; } }
  take(n) {
    const parts = [];
    let left = n;
    while (left > 0) {
      const c = this.chunks[0];
      if (c.length <= left) {
        parts.push(c);
        this.chunks.shift();
        left -= c.length;
      } else {
        parts.push(c.subarray(0, left));
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.length -= n;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }
  peek(n) {
    const b = this.take(n);
    this.chunks.unshift(b);
    this.length += n;
    return b;
  }
}

// Parses server frames; calls onFrame({fin, rsv1, rsv23, opcode, masked, payload}).
class FrameParser {
  constructor(onFrame) { this.q = new ByteQueue(); this.onFrame = onFrame; }
  feed(buf) {
    this.q.push(buf);
    for (;;) {
      if (this.q.length < 2) return;
      const h = this.q.peek(2);
      let len = h[1] & 0x7f;
      const masked = (h[1] & 0x80) !== 0;
      let hlen = 2;
      if (len === 126) hlen = 4;
      else if (len === 127) hlen = 10;
      if (masked) hlen += 4;
      if (this.q.length < hlen) return;
      const hd = this.q.peek(hlen);
      if (len === 126) len = hd.readUInt16BE(2);
      else if (len === 127) len = Number(hd.readBigUInt64BE(2));
      if (this.q.length < hlen + len) return;
      this.q.take(hlen);
      const payload = len ? this.q.take(len) : Buffer.alloc(0);
      this.onFrame({
        fin: (h[0] & 0x80) !== 0, rsv1: (h[0] & 0x40) !== 0, rsv23: (h[0] & 0x30) !== 0,
        opcode: h[0] & 0x0f, masked, payload,
      });
    }
  }
}

// ------------------------------------------------------ permessage-deflate

// The response's permessage-deflate parameters, or null when not accepted.
function parseExtensions(value) {
  if (!value) return null;
  for (const ext of String(value).split(',')) {
    const parts = ext.split(';').map((s) => s.trim()).filter((s) => s);
    if (parts[0] !== 'permessage-deflate') continue;
    const p = {};
    for (const kv of parts.slice(1)) {
      const i = kv.indexOf('=');
      if (i < 0) p[kv] = true;
      else p[kv.slice(0, i).trim()] = kv.slice(i + 1).trim().replace(/^"|"$/g, '');
    }
    return p;
  }
  return null;
}

// Feeds data through a zlib stream and collects what a Z_SYNC_FLUSH gives.
function zflush(stream, data) {
  return new Promise((resolve, reject) => {
    const out = [];
    const onData = (c) => out.push(c);
    const onError = (e) => { done(); reject(e); };
    const done = () => { stream.off('data', onData); stream.off('error', onError); };
    stream.on('data', onData);
    stream.on('error', onError);
    stream.write(data);
    stream.flush(zlib.constants.Z_SYNC_FLUSH, () => { done(); resolve(Buffer.concat(out)); });
  });
}

class Deflate {
  // params: the server's answer. client_* limit what we send, server_* what
  // we receive: with server_no_context_takeover every message is inflated by
  // a fresh inflater, with server_max_window_bits=N by one with an N-bit
  // window, so a server that ignored either would fail here.
  constructor(params) {
    this.params = params;
    const cbits = parseInt(params.client_max_window_bits, 10);
    this.cbits = Number.isFinite(cbits) ? cbits : 15;
    const sbits = parseInt(params.server_max_window_bits, 10);
    this.sbits = Number.isFinite(sbits) ? sbits : 15;
    this.clientReset = !!params.client_no_context_takeover;
    this.serverReset = !!params.server_no_context_takeover;
    this.def = null;
    this.inf = null;
  }
  async compress(data) {
    if (!this.def || this.clientReset) {
      if (this.def) this.def.close();
      this.def = zlib.createDeflateRaw({ windowBits: this.cbits, memLevel: 8 });
    }
    let out = await zflush(this.def, data);
    if (out.length >= 4 && out.subarray(out.length - 4).equals(TRAILER)) {
      out = out.subarray(0, out.length - 4);
    }
    return out;
  }
  async decompress(data) {
    if (!this.inf || this.serverReset) {
      if (this.inf) this.inf.close();
      this.inf = zlib.createInflateRaw({ windowBits: this.sbits });
    }
    return zflush(this.inf, Buffer.concat([data, TRAILER]));
  }
  close() {
    if (this.def) this.def.close();
    if (this.inf) this.inf.close();
  }
}

// --------------------------------------------------------------- a session

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout (' + ms + ' ms) ' + what)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Cut points for k fragments; the +1 puts them off any character boundary
// a text payload might line up with.
function cuts(len, k) {
  const out = [0];
  for (let i = 1; i < k; i++) out.push(Math.min(len, Math.floor((i * len) / k) + (len > k ? 1 : 0)));
  out.push(len);
  return out;
}

class Session {
  constructor(stream) {
    this.stream = stream;
    this.parser = new FrameParser((f) => this.onFrame(f));
    this.pending = null; // the message being reassembled
    this.waiters = []; // resolve functions waiting for the next message
    this.messages = [];
    this.closeFrame = null;
    this.closeWaiters = [];
    this.pongs = 0;
    this.error = null;
    this.deflate = null;
    stream.on('data', (d) => {
      try {
        this.parser.feed(d);
      } catch (e) {
        this.fail(e);
      }
    });
    stream.on('end', () => this.fail(new Error('stream ended by the server')));
    stream.on('error', (e) => this.fail(e));
    stream.on('close', () => this.fail(new Error('stream closed, rst code ' + stream.rstCode)));
  }
  fail(e) {
    if (!this.error) this.error = e;
    for (const w of this.waiters.splice(0)) w();
    for (const w of this.closeWaiters.splice(0)) w();
  }
  onFrame(f) {
    if (f.masked) throw new Error('server frame is masked (RFC 6455 5.1)');
    if (f.rsv23) throw new Error('server frame with RSV2/RSV3 set');
    if (f.opcode >= 0x8) {
      if (!f.fin || f.payload.length > 125) throw new Error('bad control frame from the server');
      if (f.opcode === OP_PING) this.stream.write(maskedFrame(true, false, OP_PONG, f.payload));
      else if (f.opcode === OP_PONG) this.pongs++;
      else if (f.opcode === OP_CLOSE) {
        this.closeFrame = f.payload;
        for (const w of this.closeWaiters.splice(0)) w();
        if (!this.closing) {
          const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 'none';
          this.fail(new Error('the server closed with code ' + code + ' reason ' +
            JSON.stringify(f.payload.subarray(2).toString('utf8'))));
        }
      } else throw new Error('unknown control opcode ' + f.opcode);
      return;
    }
    if (f.opcode === OP_CONT) {
      if (!this.pending) throw new Error('continuation without a start from the server');
      this.pending.parts.push(f.payload);
      this.pending.frames++;
      if (f.rsv1) throw new Error('RSV1 on a continuation frame');
    } else if (f.opcode === OP_TEXT || f.opcode === OP_BINARY) {
      if (this.pending) throw new Error('new message inside a fragmented one');
      if (f.rsv1 && !this.deflate) throw new Error('RSV1 without permessage-deflate');
      this.pending = {
        type: f.opcode === OP_TEXT ? 'text' : 'binary', parts: [f.payload], frames: 1,
        compressed: f.rsv1,
      };
    } else {
      throw new Error('unknown data opcode ' + f.opcode);
    }
    if (f.fin) {
      const m = this.pending;
      this.pending = null;
      m.data = Buffer.concat(m.parts);
      delete m.parts;
      this.messages.push(m);
      for (const w of this.waiters.splice(0)) w();
    }
  }
  nextMessage(ms) {
    return withTimeout(new Promise((resolve, reject) => {
      const check = () => {
        if (this.messages.length) return resolve(this.messages.shift());
        if (this.error) return reject(this.error);
        this.waiters.push(check);
      };
      check();
    }), ms, 'waiting for an echo');
  }
  async send(type, payload, fragments, ms) {
    const opcode = type === 'text' ? OP_TEXT : OP_BINARY;
    let body = payload;
    const compressed = !!this.deflate;
    if (compressed) body = await this.deflate.compress(payload);
    const k = Math.max(1, fragments | 0);
    const c = cuts(body.length, k);
    let pingsSent = 0;
    for (let i = 0; i < k; i++) {
      const piece = body.subarray(c[i], c[i + 1]);
      this.stream.write(maskedFrame(i === k - 1, compressed && i === 0, i === 0 ? opcode : OP_CONT,
        piece));
      if (k > 1 && i === 0) {
        // a control frame between the fragments of a message (RFC 6455 5.4)
        this.stream.write(maskedFrame(true, false, OP_PING, Buffer.from('between fragments')));
        pingsSent++;
      }
    }
    return pingsSent;
  }
  async waitPongs(n, ms) {
    const deadline = Date.now() + ms;
    while (this.pongs < n && !this.error && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  async close(ms) {
    this.closing = true;
    const reason = Buffer.from('bye');
    const p = Buffer.alloc(2 + reason.length);
    p.writeUInt16BE(1000, 0);
    reason.copy(p, 2);
    this.stream.write(maskedFrame(true, false, OP_CLOSE, p));
    await withTimeout(new Promise((resolve) => {
      const check = () => {
        if (this.closeFrame || this.error) return resolve();
        this.closeWaiters.push(check);
      };
      check();
    }), ms, 'waiting for the close frame');
    if (!this.closeFrame) throw this.error || new Error('no close frame');
    const code = this.closeFrame.length >= 2 ? this.closeFrame.readUInt16BE(0) : null;
    return { code, reason: this.closeFrame.subarray(2).toString('utf8') };
  }
}

function sha256(b) { return crypto.createHash('sha256').update(b).digest('hex'); }

function firstDiff(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

async function runSession(client, plan, spec, ms) {
  const out = { path: spec.path, status: null, headers: {}, negotiated: null, results: [],
    close_code: null, close_reason: null, error: null };
  const headers = {
    ':method': 'CONNECT', ':protocol': 'websocket', ':path': spec.path,
    ':scheme': plan.url.startsWith('https:') ? 'https' : 'http',
    ':authority': new URL(plan.url).host,
    'sec-websocket-version': '13',
  };
  if (spec.extensions) headers['sec-websocket-extensions'] = spec.extensions;
  if (spec.protocols && spec.protocols.length) headers['sec-websocket-protocol'] = spec.protocols.join(', ');
  if (spec.origin) headers.origin = spec.origin;
  const stream = client.request(headers, { endStream: false });
  const session = new Session(stream);
  let resp;
  try {
    resp = await withTimeout(new Promise((resolve, reject) => {
      stream.once('response', resolve);
      stream.once('error', reject);
      stream.once('close', () => reject(new Error('stream closed before a response')));
    }), ms, 'waiting for the CONNECT response');
  } catch (e) {
    out.error = String(e && e.message || e);
    return out;
  }
  out.status = resp[':status'];
  for (const [k, v] of Object.entries(resp)) if (!k.startsWith(':')) out.headers[k] = v;
  if (out.status !== 200) {
    stream.close();
    return out;
  }
  out.negotiated = parseExtensions(resp['sec-websocket-extensions']);
  if (out.negotiated) session.deflate = new Deflate(out.negotiated);
  try {
    for (const m of spec.messages || []) {
      const payload = fs.readFileSync(m.file);
      const pings = await session.send(m.type, payload, m.fragments || 1, ms);
      const echo = await session.nextMessage(ms);
      let data = echo.data;
      if (echo.compressed) data = await session.deflate.decompress(data);
      // the pong for the ping sent between fragments: waited for a little
      // after the echo, the test decides whether it came
      await session.waitPongs(pings, Math.min(ms, 2000));
      const r = { type: echo.type, length: data.length, sha256: sha256(data), frames: echo.frames,
        compressed: echo.compressed, pings, pongs: session.pongs, first_diff: firstDiff(data, payload) };
      session.pongs = 0;
      out.results.push(r);
    }
    const c = await session.close(ms);
    out.close_code = c.code;
    out.close_reason = c.reason;
    stream.end();
    await withTimeout(new Promise((resolve) => {
      if (stream.closed) return resolve();
      stream.once('close', resolve);
    }), ms, 'waiting for the stream to end after the close handshake').catch((e) => {
      out.error = String(e.message);
    });
  } catch (e) {
    out.error = String(e && e.message || e);
    stream.close(http2.constants.NGHTTP2_CANCEL);
  }
  if (session.deflate) session.deflate.close();
  return out;
}

async function main() {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const ms = plan.timeout_ms || 30000;
  const result = { alpn: null, enable_connect_protocol: null, sessions: [], error: null };
  const opts = {
    settings: { initialWindowSize: 64 * 1024 * 1024, maxFrameSize: 1 << 20 },
    maxSessionMemory: 256,
  };
  if (plan.ca) {
    opts.ca = fs.readFileSync(plan.ca);
  }
  const client = http2.connect(plan.url, opts);
  let failed = false;
  try {
    await withTimeout(new Promise((resolve, reject) => {
      client.once('remoteSettings', resolve);
      client.once('error', reject);
    }), ms, 'waiting for the server SETTINGS');
    client.setLocalWindowSize(128 * 1024 * 1024);
    result.alpn = client.alpnProtocol;
    result.enable_connect_protocol = !!client.remoteSettings.enableConnectProtocol;
    for (const spec of plan.sessions) {
      const s = await runSession(client, plan, spec, ms);
      result.sessions.push(s);
      if (s.error) failed = true;
    }
  } catch (e) {
    result.error = String(e && e.message || e);
    failed = true;
  }
  client.close();
  client.destroy();
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e && e.stack || e) }) + '\n');
  process.exitCode = 1;
});
