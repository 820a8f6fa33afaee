/* session.h — one WebSocket session on an upgraded stream: the codec
 * glued to the SDK (writes with backpressure, input held while the peer
 * outruns us, keepalive, the close handshake, the drain), and the
 * "websocket" service v1 built on it. Internal calls the modes use beside
 * the service table. */
#ifndef WS_SESSION_H
#define WS_SESSION_H

#include "codec.h"
#include "handshake.h"
#include "wsmod.h"

struct ir_ws_session {
  ws_codec codec;
  ir_stream_t *s;
  ws_worker *ww;
  const ir_ws_callbacks *cbs;
  void *data;
  ws_session *prev, *next; /* the worker's sessions */
  ir_str subprotocol;
  ws_handshake *hs; /* deferred sessions only, until open */
  uint64_t send_queue;
  uint64_t ping_interval;
  uint64_t pong_timeout;
  uint64_t close_timeout;
  uint64_t next_ping_at; /* ms, 0: none */
  uint64_t pong_deadline;
  uint64_t close_deadline;
  uint8_t *held; /* peer bytes not fed yet (paused, or our output too far behind) */
  size_t held_len;
  uint64_t fed_at_tick; /* codec input and output at the last tick */
  uint64_t sent_at_tick;
  uint64_t reported[6]; /* codec counters already added to the metrics */
  uint8_t h2;
  uint8_t deflate;
  uint8_t opened;
  uint8_t ended;      /* resp_end called */
  uint8_t peer_ended; /* on_body_end came */
  uint8_t paused;     /* no on_message wanted (backpressure from the module) */
  uint8_t want_writable;
  uint8_t closed; /* on_close reported */
  uint8_t in_feed;
};

/* Queues a shared message without the send_queue check (the caller
 * bounds it: a broadcast member or an echo whose input is held). */
int ws_session_send_buf(ws_session *ws, unsigned type, ws_buf *buf);
/* Stops or resumes on_message (the peer is held back by flow control). */
void ws_session_pause(ws_session *ws, int paused);
/* Writes what is queued and moves the session along (ends it when the
 * close handshake is done). */
void ws_session_kick(ws_session *ws);
/* The stream callbacks of a module whose streams are sessions (the
 * service's stream_* entries). */
int ws_service_stream_body(ir_stream_t *s, const uint8_t *bytes, size_t len);
int ws_service_stream_body_end(ir_stream_t *s);
void ws_service_stream_writable(ir_stream_t *s);
void ws_service_stream_close(ir_stream_t *s, int reason);
void ws_service_stream_drain(ir_stream_t *s, uint64_t ms_left);
/* Per worker: the list and the keepalive timer. */
void ws_sessions_worker_exit(ws_worker *ww);

#endif /* WS_SESSION_H */
