#!/usr/bin/env node
// ws_client.js — the npm `ws` WebSocket client over HTTP/1.1, for
// tests/websocket/test_ws_clients.py. Same plan and result shapes as
// h2_ws_client.js, with the library doing the protocol: each session is one
// connection (ws:// or wss://), each message is sent (fragmented with
// ws.send(..., {fin: false}) and a ping after the first fragment when asked)
// and its echo awaited, then a close 1000.
//
//   NODE_PATH=tests/js/node_modules node ws_client.js PLAN.json
//
// PLAN: {"url": "ws://127.0.0.1:PORT", "ca": PATH (wss), "timeout_ms": N,
//        "sessions": [{"path": "/ws/echo", "deflate": true|false,
//                      "protocols": [..] or null,
//                      "messages": [{"type", "file", "fragments"}]}]}
// RESULT: {"sessions": [{"status", "headers", "negotiated" (the extensions
//          header), "protocol", "results": [{"type", "length", "sha256",
//          "pings", "pongs", "first_diff"}], "close_code", "close_reason",
//          "error"}], "error"}
// With deflate, threshold 0 makes ws compress every message, the small ones
// too. Every wait is bounded by timeout_ms; failures end in "error" and exit 1.

'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

let WebSocket;
try {
  WebSocket = require('ws');
} catch (e) {
  WebSocket = require(path.join(__dirname, 'node_modules', 'ws'));
}

function sha256(b) { return crypto.createHash('sha256').update(b).digest('hex'); }

function firstDiff(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function cuts(len, k) {
  const out = [0];
  for (let i = 1; i < k; i++) out.push(Math.min(len, Math.floor((i * len) / k) + (len > k ? 1 : 0)));
  out.push(len);
  return out;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout (' + ms + ' ms) ' + what)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function runSession(plan, spec, ms) {
  const out = { path: spec.path, status: null, headers: {}, negotiated: null, protocol: null,
    results: [], close_code: null, close_reason: null, error: null };
  const opts = {
    perMessageDeflate: spec.deflate ? { threshold: 0 } : false,
    maxPayload: 64 * 1024 * 1024,
    handshakeTimeout: ms,
  };
  if (plan.ca) {
    opts.ca = fs.readFileSync(plan.ca);
  }
  const ws = new WebSocket(plan.url + spec.path, spec.protocols || [], opts);
  const inbox = [];
  let waiter = null;
  let pongs = 0;
  let closed = null;
  let error = null;
  const wake = () => { if (waiter) { const w = waiter; waiter = null; w(); } };
  ws.on('upgrade', (res) => {
    out.status = res.statusCode;
    out.headers = res.headers;
  });
  ws.on('unexpected-response', (req, res) => {
    out.status = res.statusCode;
    out.headers = res.headers;
    error = new Error('handshake answered ' + res.statusCode);
    req.destroy();
    wake();
  });
  ws.on('message', (data, isBinary) => {
    inbox.push({ type: isBinary ? 'binary' : 'text', data: Buffer.isBuffer(data) ? data : Buffer.concat(data) });
    wake();
  });
  ws.on('open', wake);
  ws.on('pong', () => { pongs++; wake(); });
  ws.on('close', (code, reason) => { closed = { code, reason: reason.toString() }; wake(); });
  ws.on('error', (e) => { error = error || e; wake(); });
  const until = (pred, what) => withTimeout(new Promise((resolve) => {
    const check = () => (pred() ? resolve() : (waiter = check));
    check();
  }), ms, what);
  try {
    await until(() => ws.readyState === WebSocket.OPEN || error || closed, 'waiting for the handshake');
    if (error) throw error;
    if (closed) throw new Error('closed during the handshake: ' + closed.code);
    out.negotiated = ws.extensions || null;
    out.protocol = ws.protocol || null;
    for (const m of spec.messages || []) {
      const payload = fs.readFileSync(m.file);
      const binary = m.type === 'binary';
      const k = Math.max(1, m.fragments | 0);
      const c = cuts(payload.length, k);
      let pings = 0;
      pongs = 0;
      for (let i = 0; i < k; i++) {
        ws.send(payload.subarray(c[i], c[i + 1]), { binary, fin: i === k - 1, compress: !!spec.deflate });
        if (k > 1 && i === 0) {
          ws.ping('between fragments');
          pings++;
        }
      }
      await until(() => inbox.length || error || closed, 'waiting for an echo');
      if (!inbox.length) throw error || new Error('closed before the echo: ' + JSON.stringify(closed));
      const echo = inbox.shift();
      await until(() => pongs >= pings || error || closed, 'waiting for the pong').catch(() => {});
      out.results.push({ type: echo.type, length: echo.data.length, sha256: sha256(echo.data),
        pings, pongs, first_diff: firstDiff(echo.data, payload) });
    }
    ws.close(1000, 'bye');
    await until(() => closed || error, 'waiting for the close handshake');
    if (!closed) throw error;
    out.close_code = closed.code;
    out.close_reason = closed.reason;
  } catch (e) {
    out.error = String(e && e.message || e);
    ws.terminate();
  }
  return out;
}

async function main() {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const ms = plan.timeout_ms || 30000;
  const result = { sessions: [], error: null };
  let failed = false;
  for (const spec of plan.sessions) {
    const s = await runSession(plan, spec, ms);
    result.sessions.push(s);
    if (s.error) failed = true;
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e && e.stack || e) }) + '\n');
  process.exitCode = 1;
});
