/* tunnel.c — WebSocket-to-TCP tunnels. Backpressure both ways: bytes
 * from the backend are sent as binary messages until the session's queue
 * is full, then the backend is paused until the session drains; a message
 * the backend cannot take whole is held and the session paused until the
 * backend is writable. The backend closing ends the session with 1011;
 * the session ending closes the backend. The tunnel state lives until
 * both sides have reported their close. */
#include "tunnel.h"

#include <stdlib.h>
#include <string.h>

typedef struct tunnel {
  ws_session *ws;   /* NULL once the session closed */
  ir_outbound_t *o; /* NULL once the backend closed */
  uint8_t *held;    /* a message's tail the backend has not taken */
  size_t held_len;
  uint8_t backend_paused;
} tunnel;

static void tunnel_free_if_done(tunnel *t) {
  if (t->ws || t->o) return;
  free(t->held);
  free(t);
}

/* ---- the backend side ---- */

static void backend_connect(ir_outbound_t *o, void *data) {
  tunnel *t = data;
  (void)o;
  if (t->ws) ws_service.open(t->ws, 101, NULL);
}

static void backend_data(ir_outbound_t *o, const uint8_t *bytes, size_t len, void *data) {
  tunnel *t = data;
  if (!t->ws) return;
  ws_buf *b = ws_buf_new(bytes, len);
  if (!b) {
    ws_service.close(t->ws, IR_WS_CLOSE_INTERNAL, "out of memory", 13);
    return;
  }
  ws_session_send_buf(t->ws, IR_WS_BINARY, b);
  ws_buf_unref(b);
  if (t->ws->codec.queued >= t->ws->send_queue) {
    t->backend_paused = 1;
    t->ws->want_writable = 1;
    ir_outbound_pause(o, 1);
  }
}

static void backend_writable(ir_outbound_t *o, void *data) {
  tunnel *t = data;
  if (!t->held_len) return;
  ssize_t n = ir_outbound_write(o, t->held, t->held_len);
  if (n == IR_EAGAIN) return;
  if (n < 0) return; /* on_close follows */
  memmove(t->held, t->held + n, t->held_len - (size_t)n);
  t->held_len -= (size_t)n;
  if (!t->held_len && t->ws) ws_session_pause(t->ws, 0);
}

static void backend_close(ir_outbound_t *o, int status, void *data) {
  tunnel *t = data;
  (void)o;
  t->o = NULL;
  if (t->ws) {
    if (!t->ws->opened)
      ws_service.open(t->ws, 502, status == IR_OK || status == IR_ECLOSED
                                      ? "the backend closed the connection"
                                      : "the backend cannot be reached");
    else
      ws_service.close(t->ws, IR_WS_CLOSE_INTERNAL, "backend closed", 14);
  }
  tunnel_free_if_done(t);
}

static const ir_outbound_cbs backend_cbs = {
    .struct_size = sizeof(ir_outbound_cbs),
    .on_connect = backend_connect,
    .on_data = backend_data,
    .on_writable = backend_writable,
    .on_close = backend_close,
};

/* ---- the WebSocket side ---- */

static void client_message(ir_ws_session_t *ws, unsigned type, const uint8_t *msg, size_t len,
                           void *data) {
  tunnel *t = data;
  if (type != IR_WS_BINARY) {
    ws_service.close(ws, IR_WS_CLOSE_UNSUPPORTED, "this tunnel carries binary messages only", 40);
    return;
  }
  if (!t->o || !len) return;
  ssize_t n = t->held_len ? 0 : ir_outbound_write(t->o, msg, len);
  if (n == IR_EAGAIN) n = 0;
  if (n < 0) return; /* the backend's on_close follows */
  if ((size_t)n == len) return;
  uint8_t *grown = realloc(t->held, t->held_len + len - (size_t)n);
  if (!grown) {
    ws_service.close(ws, IR_WS_CLOSE_INTERNAL, "out of memory", 13);
    return;
  }
  memcpy(grown + t->held_len, msg + n, len - (size_t)n);
  t->held = grown;
  t->held_len += len - (size_t)n;
  ws_session_pause(ws, 1);
}

static void client_writable(ir_ws_session_t *ws, void *data) {
  tunnel *t = data;
  (void)ws;
  if (t->backend_paused && t->o) {
    t->backend_paused = 0;
    ir_outbound_pause(t->o, 0);
  }
}

static void client_close(ir_ws_session_t *ws, unsigned code, const char *reason, size_t len,
                         void *data) {
  tunnel *t = data;
  (void)ws, (void)code, (void)reason, (void)len;
  t->ws = NULL;
  if (t->o) ir_outbound_close(t->o); /* its on_close frees t */
  else tunnel_free_if_done(t);
}

static const ir_ws_callbacks client_cbs = {
    .struct_size = sizeof(ir_ws_callbacks),
    .on_message = client_message,
    .on_writable = client_writable,
    .on_close = client_close,
};

int ws_tunnel_start(ir_stream_t *s, const ir_ws_options *opts, const char *host, uint16_t port) {
  tunnel *t = calloc(1, sizeof(*t));
  if (!t) return IR_ENOMEM;
  ir_ws_options o = *opts;
  o.defer = 1;
  t->ws = ws_service.accept(s, &o, &client_cbs, t);
  if (!t->ws) { /* refused (answered) or out of memory */
    free(t);
    return IR_OK;
  }
  if (t->ws->ended) return IR_OK; /* reset: client_close frees t */
  t->o = ir_outbound_open(ir_stream_worker(s), host, port, NULL, &backend_cbs, t);
  if (!t->o) ws_service.open(t->ws, 502, "the backend cannot be reached");
  return IR_OK;
}
