/* session.c — WebSocket sessions on upgraded streams (see session.h) and
 * the "websocket" service v1 table.
 *
 * Flow: the peer's bytes go to the codec as they come and are consumed at
 * once, unless the module paused the session or our own output toward the
 * peer is send_queue bytes behind (an echo of a peer that does not read):
 * then they are held unconsumed, and flow control (the HTTP/2 window, the
 * HTTP/1.1 socket) holds the peer back. Output goes through resp_write;
 * IR_EAGAIN waits for on_writable. One timer per worker walks its
 * sessions for pings, pong timeouts and close deadlines, so an idle
 * session costs no timer of its own. */
#include "session.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS 250u
#define DEFAULT_MESSAGE (1u << 20)
#define DEFAULT_PONG_TIMEOUT 20000u
#define DEFAULT_CLOSE_TIMEOUT 5000u
#define DEFAULT_SEND_QUEUE (1u << 20)

uint64_t ws_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the codec's callbacks ---- */

static ssize_t session_write(void *user, const uint8_t *bytes, size_t len) {
  ws_session *ws = user;
  if (ws->ended) return -1;
  ssize_t n = ir_resp_write(ws->s, bytes, len);
  if (n == IR_EAGAIN) return 0;
  return n;
}

static void session_message(void *user, unsigned opcode, const uint8_t *msg, size_t len) {
  ws_session *ws = user;
  if (ws->cbs->on_message)
    ws->cbs->on_message(ws, opcode == WS_OP_TEXT ? IR_WS_TEXT : IR_WS_BINARY, msg, len, ws->data);
}

static void session_pong(void *user) {
  ws_session *ws = user;
  ws->pong_deadline = 0;
}

static const ws_codec_cbs session_codec_cbs = {session_message, session_pong, session_write};

/* ---- metrics ---- */

static void report(ws_session *ws) {
  const ws_codec *c = &ws->codec;
  const uint64_t now[6] = {c->messages_in, c->messages_out, c->bytes_in,
                           c->bytes_out,   c->wire_in,      c->wire_out};
  ir_series_t *const series[6] = {ws_metric.messages[0], ws_metric.messages[1],
                                  ws_metric.bytes[0],    ws_metric.bytes[1],
                                  ws_metric.wire[0],     ws_metric.wire[1]};
  for (int i = 0; i < 6; i++) {
    if (now[i] != ws->reported[i] && series[i])
      ir_metric_add(ws->ww->w, series[i], (int64_t)(now[i] - ws->reported[i]));
    ws->reported[i] = now[i];
  }
}

/* ---- moving a session along ---- */

static void end_stream(ws_session *ws) {
  ws->ended = 1;
  if (ir_resp_end(ws->s) != IR_OK) ir_stream_reset(ws->s);
  /* on_close should follow; past this the stream is reset. */
  ws->close_deadline = ws_now_ms() + ws->close_timeout;
}

/* Ends our side once the close handshake is done, or the peer left. */
static void finish(ws_session *ws) {
  const ws_codec *c = &ws->codec;
  if (ws->ended) return;
  if ((c->close_sent && (c->close_received || ws->peer_ended || c->failed)) ||
      (ws->peer_ended && !c->close_queued)) {
    end_stream(ws);
    return;
  }
  if (c->close_sent && !ws->close_deadline) ws->close_deadline = ws_now_ms() + ws->close_timeout;
}

static int input_blocked(const ws_session *ws) {
  return ws->paused || !ws->opened || ws->codec.queued >= ws->send_queue;
}

static void drop_held(ws_session *ws) {
  if (ws->held_len) ir_stream_consume(ws->s, ws->held_len);
  free(ws->held);
  ws->held = NULL;
  ws->held_len = 0;
}

static void feed(ws_session *ws, const uint8_t *bytes, size_t len) {
  ws->in_feed = 1;
  ws_codec_feed(&ws->codec, bytes, len);
  ws->in_feed = 0;
}

void ws_session_kick(ws_session *ws) {
  for (int round = 0; round < 4 && !ws->ended; round++) {
    int rc = ws_codec_flush(&ws->codec);
    report(ws);
    if (rc < 0) {
      ws->ended = 1;
      ir_stream_reset(ws->s);
      return;
    }
    if (rc == 0 && ws->want_writable && ws->codec.queued < ws->send_queue) {
      ws->want_writable = 0;
      if (ws->cbs->on_writable) ws->cbs->on_writable(ws, ws->data);
    }
    if (ws->in_feed || !ws->held_len) break;
    if (ws->codec.read_stopped) {
      drop_held(ws);
      break;
    }
    if (input_blocked(ws)) break;
    /* Feed what was held, then flush what it produced. */
    uint8_t *held = ws->held;
    size_t n = ws->held_len;
    ws->held = NULL;
    ws->held_len = 0;
    feed(ws, held, n);
    free(held);
    ir_stream_consume(ws->s, n);
  }
  finish(ws);
}

/* ---- the worker's keepalive walk ---- */

static void session_tick(ws_session *ws, uint64_t now) {
  ws_codec *c = &ws->codec;
  /* Quiet since the last tick: give back the frame buffers. */
  if (c->fed == ws->fed_at_tick && c->wire_out == ws->sent_at_tick) ws_codec_release(c);
  ws->fed_at_tick = c->fed;
  ws->sent_at_tick = c->wire_out;
  if (ws->close_deadline && now >= ws->close_deadline) {
    ws->close_deadline = 0;
    if (ws->ended)
      ir_stream_reset(ws->s);
    else
      end_stream(ws);
    return;
  }
  if (!ws->opened || c->close_queued) return;
  if (ws->pong_deadline && now >= ws->pong_deadline) {
    ws->pong_deadline = 0;
    ws_codec_fail(c, IR_WS_CLOSE_INTERNAL, "no pong");
    ws_session_kick(ws);
    return;
  }
  if (ws->ping_interval && now >= ws->next_ping_at) {
    ws->next_ping_at = now + ws->ping_interval;
    if (!ws->pong_deadline) ws->pong_deadline = now + ws->pong_timeout;
    ws_codec_ping(c, (const uint8_t *)"iridium", 7);
    ws_session_kick(ws);
  }
}

static void worker_tick(ir_timer_t *t, void *data) {
  ws_worker *ww = data;
  if (!ww->nsessions) {
    ir_timer_stop(t);
    ww->tick = NULL;
    return;
  }
  uint64_t now = ws_now_ms();
  for (ws_session *ws = ww->sessions; ws; ws = ws->next) session_tick(ws, now);
}

static void link_session(ws_session *ws) {
  ws_worker *ww = ws->ww;
  ws->next = ww->sessions;
  if (ww->sessions) ww->sessions->prev = ws;
  ww->sessions = ws;
  ww->nsessions++;
  if (!ww->tick) ww->tick = ir_timer_start(ww->w, TICK_MS, TICK_MS, worker_tick, ww);
}

static void unlink_session(ws_session *ws) {
  ws_worker *ww = ws->ww;
  if (ws->prev) ws->prev->next = ws->next;
  else ww->sessions = ws->next;
  if (ws->next) ws->next->prev = ws->prev;
  ww->nsessions--;
}

void ws_sessions_worker_exit(ws_worker *ww) {
  if (ww->tick) ir_timer_stop(ww->tick);
  ww->tick = NULL;
}

/* ---- accepting ---- */

static int open_now(ws_session *ws, const ws_handshake *hs) {
  int rc = ws_handshake_accept(ws->s, hs);
  if (rc != IR_OK) return rc;
  ws->opened = 1;
  ws->subprotocol = hs->subprotocol;
  ws->next_ping_at = ws_now_ms() + ws->ping_interval;
  ir_worker_t *w = ws->ww->w;
  if (ws_metric.open[ws->h2]) ir_metric_add(w, ws_metric.open[ws->h2], 1);
  if (ws_metric.total[ws->h2][ws->deflate]) ir_metric_add(w, ws_metric.total[ws->h2][ws->deflate], 1);
  ir_log(ir_stream_module(ws->s), ws->s, IR_LOG_INFO,
         "websocket open: protocol=%s deflate=%s subprotocol=%.*s route=%.*s",
         ws->h2 ? "h2" : "h1", ws->deflate ? "on" : "off",
         hs->subprotocol.len ? (int)hs->subprotocol.len : 1,
         hs->subprotocol.len ? hs->subprotocol.ptr : "-", (int)ir_req_path(ws->s).len,
         ir_req_path(ws->s).ptr);
  ws_session_kick(ws);
  return IR_OK;
}

static uint64_t or_default(uint64_t v, uint64_t d) { return v ? v : d; }

static ws_session *service_accept(ir_stream_t *s, const ir_ws_options *opts,
                                  const ir_ws_callbacks *cbs, void *data) {
  ir_ws_options o;
  memset(&o, 0, sizeof(o));
  memcpy(&o, opts, opts->struct_size < sizeof(o) ? opts->struct_size : sizeof(o));
  ws_handshake hs;
  const char *reason = NULL;
  int status = ws_handshake_check(s, &o, &hs, &reason);
  if (status) {
    ws_handshake_refuse(s, status, reason);
    return NULL;
  }
  ws_session *ws = calloc(1, sizeof(*ws));
  if (!ws) {
    ws_handshake_refuse(s, 500, "out of memory");
    return NULL;
  }
  uint64_t max_message = or_default(o.max_message_size, DEFAULT_MESSAGE);
  if (ws_codec_init(&ws->codec, &hs.pmd, max_message, or_default(o.max_frame_size, max_message),
                    &session_codec_cbs, ws) != 0) {
    ws_codec_free(&ws->codec);
    free(ws);
    ws_handshake_refuse(s, 500, "out of memory");
    return NULL;
  }
  ws->s = s;
  ws->ww = ws_worker_of(ir_stream_worker(s));
  ws->cbs = cbs;
  ws->data = data;
  ws->h2 = (uint8_t)hs.h2;
  ws->deflate = (uint8_t)hs.pmd.enabled;
  ws->send_queue = or_default(o.send_queue, DEFAULT_SEND_QUEUE);
  ws->ping_interval = o.ping_interval_ms;
  ws->pong_timeout = or_default(o.pong_timeout_ms, DEFAULT_PONG_TIMEOUT);
  ws->close_timeout = or_default(o.close_timeout_ms, DEFAULT_CLOSE_TIMEOUT);
  ir_stream_set_data(s, ws);
  link_session(ws);
  if (o.defer) {
    ws->hs = malloc(sizeof(*ws->hs));
    if (ws->hs) {
      *ws->hs = hs;
      return ws;
    }
  } else if (open_now(ws, &hs) == IR_OK) {
    return ws;
  }
  /* Out of memory or the head could not go: the stream is reset; the
   * session lives until on_close (it owns the stream's data), which
   * reports 1006. */
  ws->ended = 1;
  ir_stream_reset(s);
  return ws;
}

static int service_open(ws_session *ws, int status, const char *reason) {
  if (ws->opened || !ws->hs || ws->ended) return IR_ESTATE;
  ws_handshake *hs = ws->hs;
  ws->hs = NULL;
  int rc;
  if (status >= 400) {
    rc = ws_handshake_refuse(ws->s, status, reason ? reason : "refused");
    ws->ended = 1;
    drop_held(ws);
  } else {
    rc = open_now(ws, hs);
  }
  free(hs);
  if (rc != IR_OK) {
    ws->ended = 1;
    ir_stream_reset(ws->s);
  }
  return rc;
}

static int is_closing(const ws_session *ws) {
  return !ws->opened || ws->ended || ws->codec.close_queued;
}

int ws_session_send_buf(ws_session *ws, unsigned type, ws_buf *buf) {
  if (is_closing(ws)) return IR_ECLOSED;
  if (ws_codec_send(&ws->codec, type == IR_WS_TEXT ? WS_OP_TEXT : WS_OP_BINARY, buf) != 0)
    return IR_ENOMEM;
  ws_session_kick(ws);
  return IR_OK;
}

static int service_send(ws_session *ws, unsigned type, const void *msg, size_t len) {
  if (type != IR_WS_TEXT && type != IR_WS_BINARY) return IR_EINVAL;
  if (is_closing(ws)) return IR_ECLOSED;
  if (type == IR_WS_TEXT) {
    ws_utf8 u;
    ws_utf8_reset(&u);
    if (ws_utf8_feed(&u, msg, len) || !ws_utf8_complete(&u)) return IR_EINVAL;
  }
  if (ws->codec.queued >= ws->send_queue) {
    ws->want_writable = 1;
    return IR_EAGAIN;
  }
  ws_buf *b = ws_buf_new(msg, len);
  if (!b) return IR_ENOMEM;
  int rc = ws_session_send_buf(ws, type, b);
  ws_buf_unref(b);
  return rc;
}

static int service_ping(ws_session *ws, const void *payload, size_t len) {
  if (len > 125) return IR_EINVAL;
  if (is_closing(ws)) return IR_ECLOSED;
  if (ws_codec_ping(&ws->codec, payload, len) != 0) return IR_ENOMEM;
  ws_session_kick(ws);
  return IR_OK;
}

static int service_close(ws_session *ws, unsigned code, const char *reason, size_t len) {
  if (!ws_close_code_valid(code) || len > 123) return IR_EINVAL;
  ws_utf8 u;
  ws_utf8_reset(&u);
  if (ws_utf8_feed(&u, (const uint8_t *)reason, len) || !ws_utf8_complete(&u)) return IR_EINVAL;
  if (is_closing(ws)) return IR_ECLOSED;
  ws_codec_close(&ws->codec, code, reason, len);
  ws_session_kick(ws);
  return IR_OK;
}

void ws_session_pause(ws_session *ws, int paused) {
  ws->paused = (uint8_t)(paused != 0);
  if (!paused) ws_session_kick(ws);
}

static int service_pause(ws_session *ws, int paused) {
  ws_session_pause(ws, paused);
  return IR_OK;
}

static ir_str service_subprotocol(ws_session *ws) { return ws->subprotocol; }
static void service_set_data(ws_session *ws, void *data) { ws->data = data; }
static void *service_data(ws_session *ws) { return ws->data; }
static ir_stream_t *service_stream(ws_session *ws) { return ws->s; }
static size_t service_queued(ws_session *ws) { return ws->codec.queued; }

/* ---- the stream callbacks a module forwards ---- */

int ws_service_stream_body(ir_stream_t *s, const uint8_t *bytes, size_t len) {
  ws_session *ws = ir_stream_data(s);
  if (!ws) return ir_stream_consume(s, len);
  if (ws->ended || ws->codec.read_stopped) return ir_stream_consume(s, len);
  if (ws->held_len || input_blocked(ws)) {
    uint8_t *grown = realloc(ws->held, ws->held_len + len);
    if (!grown) return IR_ENOMEM;
    memcpy(grown + ws->held_len, bytes, len);
    ws->held = grown;
    ws->held_len += len;
    return IR_OK;
  }
  feed(ws, bytes, len);
  int rc = ir_stream_consume(s, len);
  ws_session_kick(ws);
  return rc == IR_ECLOSED ? IR_OK : rc;
}

int ws_service_stream_body_end(ir_stream_t *s) {
  ws_session *ws = ir_stream_data(s);
  if (!ws) return IR_OK;
  ws->peer_ended = 1;
  if (!ws->opened && ws->hs) return IR_OK; /* open() answers */
  ws_session_kick(ws);
  return IR_OK;
}

void ws_service_stream_writable(ir_stream_t *s) {
  ws_session *ws = ir_stream_data(s);
  if (ws && ws->opened) ws_session_kick(ws);
}

void ws_service_stream_close(ir_stream_t *s, int reason) {
  ws_session *ws = ir_stream_data(s);
  (void)reason;
  if (!ws) return;
  ir_stream_set_data(s, NULL);
  report(ws);
  const ws_codec *c = &ws->codec;
  unsigned code = c->close_received ? c->code_received
                  : c->close_sent   ? c->code_sent
                                    : IR_WS_CLOSE_ABNORMAL;
  if (ws->opened) {
    ir_worker_t *w = ws->ww->w;
    if (ws_metric.open[ws->h2]) ir_metric_add(w, ws_metric.open[ws->h2], -1);
    ws_metrics_close(w, code);
    ir_log(ir_stream_module(s), s, IR_LOG_INFO, "websocket close: code=%u %s, %llu messages in, %llu out",
           code, c->close_received ? "received" : c->close_sent ? "sent" : "none",
           (unsigned long long)c->messages_in, (unsigned long long)c->messages_out);
  }
  if (!ws->closed) {
    ws->closed = 1;
    if (ws->cbs->on_close)
      ws->cbs->on_close(ws, code, c->close_received ? (const char *)c->reason_received : "",
                        c->close_received ? c->reason_len : 0, ws->data);
  }
  unlink_session(ws);
  free(ws->held);
  free(ws->hs);
  ws_codec_free(&ws->codec);
  free(ws);
}

void ws_service_stream_drain(ir_stream_t *s, uint64_t ms_left) {
  ws_session *ws = ir_stream_data(s);
  if (!ws) return;
  if (!ws->opened) {
    if (ws->hs) service_open(ws, 503, "the server is shutting down");
    return;
  }
  /* Leave time for the peer's close to come back before the deadline. */
  if (ws->close_timeout > ms_left / 2) ws->close_timeout = ms_left / 2 ? ms_left / 2 : 1;
  if (!ws->codec.close_queued) ws_codec_close(&ws->codec, IR_WS_CLOSE_GOING_AWAY, "server shutting down", 20);
  ws_session_kick(ws);
}

const ir_websocket_v1 ws_service = {
    .struct_size = sizeof(ir_websocket_v1),
    .accept = service_accept,
    .open = service_open,
    .send = service_send,
    .ping = service_ping,
    .close = service_close,
    .subprotocol = service_subprotocol,
    .set_data = service_set_data,
    .data = service_data,
    .stream = service_stream,
    .queued = service_queued,
    .pause = service_pause,
    .stream_body = ws_service_stream_body,
    .stream_body_end = ws_service_stream_body_end,
    .stream_writable = ws_service_stream_writable,
    .stream_close = ws_service_stream_close,
    .stream_drain = ws_service_stream_drain,
};
