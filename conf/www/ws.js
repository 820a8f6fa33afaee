// conf/www/ws.js: the script of ws.html. Two WebSockets on the page's own
// origin: /ws/echo (mode echo) measures round trips for text, binary and a
// large compressible message; /ws/chat (mode broadcast) is a chat room whose
// first message, sent on open, must come back to this page too. When both
// are settled (each passed, failed or timed out) #result gets a JSON summary
// and data-state="done"; every wait here is bounded.
'use strict';

(function () {
  const STEP_TIMEOUT_MS = 5000;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const base = scheme + '//' + location.host;
  const $ = (id) => document.getElementById(id);

  const nav = performance.getEntriesByType('navigation')[0];
  const result = {
    origin: location.origin,
    page_protocol: (nav && nav.nextHopProtocol) || '',
    echo: null,
    chat: null,
  };
  $('origin').textContent = base;
  $('page-protocol').textContent = result.page_protocol || 'unknown';

  function setStatus(id, ok, text) {
    const el = $(id);
    el.textContent = text;
    el.className = 'status ' + (ok ? 'ok' : 'bad');
  }

  function median(xs) {
    const s = xs.slice().sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length / 2)] : null;
  }

  function round2(ms) {
    return Math.round(ms * 100) / 100;
  }

  function fmtMs(ms) {
    return ms === null ? '-' : ms.toFixed(2) + ' ms';
  }

  // --- echo ---------------------------------------------------------------

  // One socket, one outstanding message at a time: next() resolves with the
  // next message (or rejects after STEP_TIMEOUT_MS or when the socket ends).
  function openSocket(path) {
    const ws = new WebSocket(base + path);
    ws.binaryType = 'arraybuffer';
    const queue = [];
    const waiters = [];
    let ended = null;
    ws.addEventListener('message', (ev) => {
      const w = waiters.shift();
      if (w) w.resolve(ev.data);
      else queue.push(ev.data);
    });
    ws.addEventListener('close', (ev) => {
      ended = 'closed with code ' + ev.code + (ev.reason ? ' (' + ev.reason + ')' : '');
      while (waiters.length) waiters.shift().reject(new Error(ended));
    });
    const opened = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no open within ' + STEP_TIMEOUT_MS + ' ms')),
                           STEP_TIMEOUT_MS);
      ws.addEventListener('open', () => { clearTimeout(t); resolve(); });
      ws.addEventListener('close', (ev) => {
        clearTimeout(t);
        reject(new Error('closed before open, code ' + ev.code));
      });
    });
    function next() {
      if (queue.length) return Promise.resolve(queue.shift());
      if (ended) return Promise.reject(new Error(ended));
      return new Promise((resolve, reject) => {
        const w = { resolve: null, reject: null };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error('no message within ' + STEP_TIMEOUT_MS + ' ms'));
        }, STEP_TIMEOUT_MS);
        w.resolve = (d) => { clearTimeout(t); resolve(d); };
        w.reject = (e) => { clearTimeout(t); reject(e); };
        waiters.push(w);
      });
    }
    return { ws, opened, next };
  }

  function sameBytes(a, b) {
    if (!(a instanceof ArrayBuffer) || a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a);
    for (let i = 0; i < x.length; i++) if (x[i] !== b[i]) return false;
    return true;
  }

  let echo = null;

  async function measureEcho() {
    const out = { ok: false, extensions: echo.ws.extensions, subprotocol: echo.ws.protocol,
                  text_rtt_ms: [], binary_ok: false, large_ok: false, large_bytes: 0 };
    for (let i = 0; i < 5; i++) {
      const msg = 'ping ' + i + ' \u00e9\u20ac\u{1F600}';  // non-ASCII: UTF-8 on the wire
      const t0 = performance.now();
      echo.ws.send(msg);
      const got = await echo.next();
      out.text_rtt_ms.push(round2(performance.now() - t0));
      if (got !== msg) throw new Error('text echo differs: ' + String(got).slice(0, 80));
    }
    out.text_rtt_median_ms = median(out.text_rtt_ms);
    $('echo-rtt').textContent = fmtMs(out.text_rtt_median_ms);

    const bin = new Uint8Array(256);
    for (let i = 0; i < bin.length; i++) bin[i] = i;
    let t0 = performance.now();
    echo.ws.send(bin);
    const gotBin = await echo.next();
    out.binary_rtt_ms = round2(performance.now() - t0);
    out.binary_ok = sameBytes(gotBin, bin);
    if (!out.binary_ok) throw new Error('binary echo differs or came back as text');
    $('echo-binary').textContent = 'same bytes, binary, ' + fmtMs(out.binary_rtt_ms);

    const large = 'Iridium WebSocket echo, compressible. '.repeat(1725).slice(0, 65536);
    t0 = performance.now();
    echo.ws.send(large);
    const gotLarge = await echo.next();
    out.large_rtt_ms = round2(performance.now() - t0);
    out.large_bytes = large.length;
    out.large_ok = gotLarge === large;
    if (!out.large_ok) throw new Error('large echo differs');
    $('echo-large').textContent = 'same text, ' + fmtMs(out.large_rtt_ms);

    out.ok = true;
    return out;
  }

  async function runEcho() {
    $('echo-again').disabled = true;
    try {
      if (!echo) {
        echo = openSocket('/ws/echo');
        await echo.opened;
        $('echo-extensions').textContent = echo.ws.extensions || '(none)';
      }
      const out = await measureEcho();
      setStatus('echo-status', true, 'round trips OK');
      $('echo-again').disabled = false;
      return out;
    } catch (e) {
      setStatus('echo-status', false, 'failed: ' + e.message);
      return { ok: false, error: e.message };
    }
  }

  $('echo-again').addEventListener('click', () => { runEcho(); });

  // --- chat ---------------------------------------------------------------

  const nick = 'guest-' + Math.floor(Math.random() * 1e6).toString(36);
  $('chat-nick').textContent = nick;

  function chatLine(from, text) {
    const log = $('chat-log');
    const li = document.createElement('li');
    const who = document.createElement('span');
    who.className = 'nick';
    who.textContent = from + ': ';
    li.appendChild(who);
    li.appendChild(document.createTextNode(text));
    log.appendChild(li);
    while (log.children.length > 200) log.removeChild(log.firstChild);
    log.scrollTop = log.scrollHeight;
  }

  function runChat() {
    return new Promise((resolve) => {
      const ws = new WebSocket(base + '/ws/chat');
      const id = nick + '-' + Date.now().toString(36);
      const first = { nick, id, text: 'hello from ' + nick };
      let t0 = 0;
      let settled = false;
      const finish = (out) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        setStatus('chat-status', out.ok, out.ok ? 'connected' : 'failed: ' + out.error);
        resolve(out);
      };
      const timer = setTimeout(() => finish({ ok: false, error: 'first message not back within ' +
                                                               2 * STEP_TIMEOUT_MS + ' ms' }),
                               2 * STEP_TIMEOUT_MS);
      ws.addEventListener('open', () => {
        $('chat-input').disabled = false;
        $('chat-send').disabled = false;
        t0 = performance.now();
        ws.send(JSON.stringify(first));
      });
      ws.addEventListener('message', (ev) => {
        let m = null;
        try { m = JSON.parse(ev.data); } catch (e) { m = null; }
        if (m && typeof m.text === 'string') chatLine(String(m.nick || '?'), m.text);
        else chatLine('?', String(ev.data));
        if (m && m.id === id) {
          finish({ ok: true, text: m.text, rtt_ms: round2(performance.now() - t0),
                   extensions: ws.extensions });
        }
      });
      ws.addEventListener('close', (ev) => {
        $('chat-input').disabled = true;
        $('chat-send').disabled = true;
        chatLine('*', 'disconnected (code ' + ev.code + ')');
        finish({ ok: false, error: 'closed with code ' + ev.code });
      });
      $('chat-form').addEventListener('submit', (ev) => {
        ev.preventDefault();
        const text = $('chat-input').value.trim();
        if (!text || ws.readyState !== WebSocket.OPEN) return;
        ws.send(JSON.stringify({ nick, id: nick + '-' + Date.now().toString(36), text }));
        $('chat-input').value = '';
      });
    });
  }

  // --- metrics ------------------------------------------------------------

  async function showMetrics() {
    try {
      const ctl = new AbortController();
      const t = setTimeout(() => ctl.abort(), STEP_TIMEOUT_MS);
      const r = await fetch('/ws/metrics', { cache: 'no-store', signal: ctl.signal });
      clearTimeout(t);
      const text = await r.text();
      const lines = text.split('\n').filter((l) => l.startsWith('websocket_'));
      $('metrics').textContent = lines.join('\n') || '(no websocket_ lines; HTTP ' + r.status + ')';
    } catch (e) {
      $('metrics').textContent = 'could not fetch /ws/metrics: ' + e.message;
    }
  }

  // --- run ----------------------------------------------------------------

  Promise.all([runEcho(), runChat()]).then(async ([e, c]) => {
    result.echo = e;
    result.chat = c;
    await showMetrics();
    const pre = $('result');
    pre.textContent = JSON.stringify(result, null, 2);
    pre.dataset.state = 'done';
  });
})();
