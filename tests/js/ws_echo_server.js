// ws_echo_server.js — the npm `ws` echo server that tests/bench/ws_bench.py
// measures beside Iridium: every message comes back with the same type.
//
//   node tests/js/ws_echo_server.js [--port 0] [--deflate] [--h2]
//
// Listens on 127.0.0.1 (port 0 = any) and prints "port N" once listening
// (with --h2: "port N h2port M", M being the h2c listener).
// HTTP/1.1 Upgrade through ws's own WebSocketServer. --deflate turns on
// permessage-deflate with threshold 0 (ws's default threshold of 1024 bytes
// would leave the benchmark's 64-byte messages uncompressed, so the two
// servers would not do the same work; a client that offers no
// extension gets none). --h2 also serves RFC 8441 extended
// CONNECT on h2c (prior knowledge) through Node's http2 module: the stream
// is handed to ws with WebSocket#setSocket, which ws documents as internal,
// so that column is marked as such in the benchmark's table.
'use strict';

const path = require('path');
const http = require('http');
const http2 = require('http2');
const ws = require(path.join(__dirname, 'node_modules', 'ws'));

const args = process.argv.slice(2);
let port = 0;
let deflate = false;
let h2 = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--port') port = Number(args[++i]);
  else if (args[i] === '--deflate') deflate = true;
  else if (args[i] === '--h2') h2 = true;
  else {
    console.error('usage: node ws_echo_server.js [--port N] [--deflate] [--h2]');
    process.exit(2);
  }
}

const perMessageDeflate = deflate ? { threshold: 0 } : false;

function echo(sock) {
  sock.on('message', (data, isBinary) => sock.send(data, { binary: isBinary }));
  sock.on('error', () => {});
}

function h1Server() {
  const wss = new ws.WebSocketServer({ noServer: true, perMessageDeflate, maxPayload: 1 << 20 });
  const server = http.createServer((req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    res.end('WebSocket only\n');
  });
  server.on('upgrade', (req, socket, head) => {
    socket.setNoDelay(true);
    wss.handleUpgrade(req, socket, head, echo);
  });
  return server;
}

// RFC 8441 on Node's http2: the extension is negotiated here by hand
// (ws's PerMessageDeflate class does the work, as in its own handshake).
function h2Server() {
  const PerMessageDeflate = require(path.join(__dirname, 'node_modules', 'ws', 'lib',
    'permessage-deflate.js'));
  const extension = require(path.join(__dirname, 'node_modules', 'ws', 'lib', 'extension.js'));
  const server = http2.createServer({ settings: { enableConnectProtocol: true,
    maxConcurrentStreams: 100000 } });
  server.on('stream', (stream, headers) => {
    if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
      stream.respond({ ':status': 426, 'content-type': 'text/plain', upgrade: 'websocket' });
      stream.end('WebSocket only\n');
      return;
    }
    const out = { ':status': 200 };
    const extensions = {};
    const offer = headers['sec-websocket-extensions'];
    if (deflate && offer) {
      try {
        const pmd = new PerMessageDeflate({ ...perMessageDeflate, isServer: true, maxPayload: 1 << 20 });
        const offers = extension.parse(offer);
        if (offers[PerMessageDeflate.extensionName]) {
          pmd.accept(offers[PerMessageDeflate.extensionName]);
          out['sec-websocket-extensions'] = extension.format({
            [PerMessageDeflate.extensionName]: [pmd.params] });
          extensions[PerMessageDeflate.extensionName] = pmd;
        }
      } catch (e) {
        if (process.env.WS_ECHO_DEBUG) console.error(e);
        stream.respond({ ':status': 400 });
        stream.end();
        return;
      }
    }
    stream.respond(out);
    // A server-side WebSocket (address null) on the stream, as ws's own
    // WebSocketServer#completeUpgrade makes one on a net.Socket; setSocket
    // takes any Duplex.
    const sock = new ws.WebSocket(null, undefined, { maxPayload: 1 << 20 });
    sock._extensions = extensions;
    sock.setSocket(stream, Buffer.alloc(0), { maxPayload: 1 << 20, skipUTF8Validation: false,
      allowSynchronousEvents: true });
    echo(sock);
  });
  return server;
}

// The HTTP/1.1 server on --port; with --h2 also the h2c one on any port.
const server = h1Server();
server.listen(port, '127.0.0.1', () => {
  if (!h2) {
    console.log('port ' + server.address().port);
    return;
  }
  const s2 = h2Server();
  s2.listen(0, '127.0.0.1', () => {
    console.log('port ' + server.address().port + ' h2port ' + s2.address().port);
  });
});
process.on('SIGTERM', () => process.exit(0));
