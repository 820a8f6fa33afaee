/* websocket.c — mod_websocket: the module descriptor, its route keys, the
 * modes (echo, broadcast, tunnel, metrics), and the "websocket" service v1
 * registered for other modules. Built against the SDK only. */
#include <stdlib.h>
#include <string.h>

#include "backbone.h"
#include "room.h"
#include "tunnel.h"

enum { MODE_ECHO, MODE_BROADCAST, MODE_TUNNEL, MODE_METRICS };

ir_module_t *ws_module;

typedef struct ws_route {
  int mode;
  ir_ws_options opts;
  char **subprotocols;
  char **origins;
  char *backend_host;
  uint16_t backend_port;
  uint32_t room;
  uint8_t policy;
} ws_route;

static const ir_config_key ws_keys[] = {
    {sizeof(ir_config_key), IR_KEY_STRING, "mode", "echo", 0,
     "echo, broadcast, tunnel or metrics"},
    {sizeof(ir_config_key), IR_KEY_STRING, "room", NULL, 0,
     "broadcast: the room's name (default: the route's prefix)"},
    {sizeof(ir_config_key), IR_KEY_STRING, "room_topic", NULL, 0,
     "broadcast: an MQTT topic that carries the room across instances (needs mod_mqtt)"},
    {sizeof(ir_config_key), IR_KEY_STRING, "room_broker", "127.0.0.1:1883", 0,
     "broadcast with room_topic: the MQTT broker, HOST:PORT"},
    {sizeof(ir_config_key), IR_KEY_STRING, "backend", NULL, 0, "tunnel: HOST:PORT to bridge to"},
    {sizeof(ir_config_key), IR_KEY_STRING, "origins", "", 0,
     "allowed Origin values, space-separated; empty: any"},
    {sizeof(ir_config_key), IR_KEY_STRING, "subprotocols", "", 0,
     "subprotocols offered, space-separated"},
    {sizeof(ir_config_key), IR_KEY_SIZE, "max_message_size", "1m", 0,
     "largest message taken (after inflation)"},
    {sizeof(ir_config_key), IR_KEY_SIZE, "max_frame_size", "1m", 0, "largest frame taken"},
    {sizeof(ir_config_key), IR_KEY_DURATION, "ping_interval", "30s", 0,
     "how often the server pings; 0: never"},
    {sizeof(ir_config_key), IR_KEY_DURATION, "pong_timeout", "20s", 0,
     "a ping without a pong for this long closes the session (1011)"},
    {sizeof(ir_config_key), IR_KEY_DURATION, "close_timeout", "5s", 0,
     "how long the server waits for the peer's close"},
    {sizeof(ir_config_key), IR_KEY_BOOL, "deflate", "on", 0, "accept permessage-deflate"},
    {sizeof(ir_config_key), IR_KEY_INT, "deflate_max_window_bits", "15", 0,
     "our deflate window, 9..15 (memory per session)"},
    {sizeof(ir_config_key), IR_KEY_BOOL, "deflate_context_takeover", "off", 0,
     "keep compression contexts between messages (better ratios, more memory)"},
    {sizeof(ir_config_key), IR_KEY_SIZE, "send_queue", "1m", 0,
     "bytes queued toward one client before backpressure or the slow-consumer policy"},
    {sizeof(ir_config_key), IR_KEY_STRING, "slow_consumer", "close", 0,
     "broadcast: close (1008) or drop_oldest"},
    {0, 0, NULL, NULL, 0, NULL},
};

/* ---- per worker ---- */

ws_worker *ws_worker_of(ir_worker_t *w) { return ir_worker_data(ws_module, w); }

static int ws_worker_init(ir_module_t *m, ir_worker_t *w) {
  ws_worker *ww = calloc(1, sizeof(*ww));
  if (!ww) return IR_ENOMEM;
  ww->w = w;
  ww->subscribe = NULL;
  int rc = ws_rooms_grow(ww) == 0 ? IR_OK : IR_ENOMEM; /* nothing subscribes yet: */
  ir_worker_set_data(m, w, ww);
  ws_room_set_thread_worker(ww);
  if (rc == IR_OK) rc = ws_backbone_worker_init(ww); /* on the loop's first turn */
  if (rc != IR_OK) {
    ws_room_set_thread_worker(NULL);
    ir_worker_set_data(m, w, NULL);
    ws_rooms_worker_free(ww);
    free(ww);
  }
  return rc;
}

static void ws_worker_exit(ir_module_t *m, ir_worker_t *w) {
  ws_worker *ww = ir_worker_data(m, w);
  if (!ww) return;
  ws_sessions_worker_exit(ww);
  ws_backbone_worker_exit(ww);
  ws_pmd_thread_free();
  ws_room_set_thread_worker(NULL);
  ir_worker_set_data(m, w, NULL);
  ws_rooms_worker_free(ww);
  free(ww);
}

/* ---- route set-up ---- */

/* Splits a space- or comma-separated list into a NULL-ended array. */
static char **split_list(const char *text, size_t *count) {
  size_t n = 0, cap = 4;
  char **list = calloc(cap + 1, sizeof(*list));
  if (!list) return NULL;
  const char *p = text;
  while (*p) {
    while (*p == ' ' || *p == ',' || *p == '\t') p++;
    const char *start = p;
    while (*p && *p != ' ' && *p != ',' && *p != '\t') p++;
    if (p == start) break;
    if (n == cap) {
      char **g = realloc(list, (cap * 2 + 1) * sizeof(*list));
      if (!g) break;
      list = g;
      cap *= 2;
    }
    list[n++] = strndup(start, (size_t)(p - start));
    list[n] = NULL;
  }
  *count = n;
  return list;
}

static void free_list(char **list) {
  if (!list) return;
  for (char **p = list; *p; p++) free(*p);
  free(list);
}

static const char *get_str(ir_instance_t *inst, const char *key) {
  ir_str v;
  return ir_instance_get_str(inst, key, &v) == IR_OK ? v.ptr : NULL;
}

static int64_t get_int(ir_instance_t *inst, const char *key) {
  int64_t v = 0;
  ir_instance_get_int(inst, key, &v);
  return v;
}

static void ws_instance_destroy(void *data) {
  ws_route *r = data;
  if (!r) return;
  free_list(r->subprotocols);
  free_list(r->origins);
  free(r->backend_host);
  free(r);
}

/* backend = HOST:PORT, or [IPv6]:PORT. */
static int parse_backend(ws_route *r, const char *text) {
  const char *colon = strrchr(text, ':');
  if (!colon || colon == text || !colon[1]) return -1;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 1 || port > 65535) return -1;
  const char *host = text;
  size_t hlen = (size_t)(colon - text);
  if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
    host++;
    hlen -= 2;
  }
  r->backend_host = strndup(host, hlen);
  r->backend_port = (uint16_t)port;
  return r->backend_host ? 0 : -1;
}

static int ws_instance_create(ir_instance_t *inst, void **data) {
  ir_module_t *m = ir_instance_module(inst);
  const char *prefix = ir_instance_prefix(inst);
  ws_route *r = calloc(1, sizeof(*r));
  if (!r) return IR_ENOMEM;
  *data = r;
  const char *mode = get_str(inst, "mode");
  if (!strcmp(mode, "echo")) r->mode = MODE_ECHO;
  else if (!strcmp(mode, "broadcast")) r->mode = MODE_BROADCAST;
  else if (!strcmp(mode, "tunnel")) r->mode = MODE_TUNNEL;
  else if (!strcmp(mode, "metrics")) r->mode = MODE_METRICS;
  else {
    ir_log(m, NULL, IR_LOG_ERROR, "route %s: mode = %s: not echo, broadcast, tunnel or metrics",
           prefix, mode);
    return IR_EINVAL;
  }
  const char *slow = get_str(inst, "slow_consumer");
  if (!strcmp(slow, "close")) r->policy = WS_SLOW_CLOSE;
  else if (!strcmp(slow, "drop_oldest")) r->policy = WS_SLOW_DROP_OLDEST;
  else {
    ir_log(m, NULL, IR_LOG_ERROR, "route %s: slow_consumer = %s: not close or drop_oldest",
           prefix, slow);
    return IR_EINVAL;
  }
  int64_t bits = get_int(inst, "deflate_max_window_bits");
  if (bits < 9 || bits > 15) {
    ir_log(m, NULL, IR_LOG_ERROR, "route %s: deflate_max_window_bits = %lld: not 9..15", prefix,
           (long long)bits);
    return IR_EINVAL;
  }
  ir_ws_options *o = &r->opts;
  o->struct_size = sizeof(*o);
  r->subprotocols = split_list(get_str(inst, "subprotocols"), &o->nsubprotocols);
  r->origins = split_list(get_str(inst, "origins"), &o->norigins);
  if (!r->subprotocols || !r->origins) return IR_ENOMEM;
  o->subprotocols = (const char *const *)r->subprotocols;
  o->origins = (const char *const *)r->origins;
  o->max_message_size = (uint64_t)get_int(inst, "max_message_size");
  o->max_frame_size = (uint64_t)get_int(inst, "max_frame_size");
  o->ping_interval_ms = (uint64_t)get_int(inst, "ping_interval");
  o->pong_timeout_ms = (uint64_t)get_int(inst, "pong_timeout");
  o->close_timeout_ms = (uint64_t)get_int(inst, "close_timeout");
  o->send_queue = (uint64_t)get_int(inst, "send_queue");
  o->deflate = get_int(inst, "deflate") != 0;
  o->deflate_max_window_bits = (int)bits;
  o->deflate_context_takeover = get_int(inst, "deflate_context_takeover") != 0;
  if (!o->max_message_size || !o->max_frame_size || !o->send_queue) {
    ir_log(m, NULL, IR_LOG_ERROR, "route %s: max_message_size, max_frame_size and send_queue "
                                  "must not be 0", prefix);
    return IR_EINVAL;
  }
  if (r->mode == MODE_BROADCAST) {
    const char *room = get_str(inst, "room");
    int id = ws_room_id(room ? room : prefix);
    if (id < 0) return IR_ENOMEM;
    r->room = (uint32_t)id;
    const char *topic = get_str(inst, "room_topic");
    if (topic && *topic && ws_backbone_set(r->room, topic, get_str(inst, "room_broker"), prefix))
      return IR_EINVAL;
  }
  if (r->mode == MODE_TUNNEL) {
    const char *backend = get_str(inst, "backend");
    if (!backend || parse_backend(r, backend) < 0) {
      ir_log(m, NULL, IR_LOG_ERROR, "route %s: mode = tunnel needs backend = HOST:PORT%s%s",
             prefix, backend ? ", not " : "", backend ? backend : "");
      return IR_EINVAL;
    }
  }
  return IR_OK;
}

/* ---- echo ---- */

static void echo_message(ir_ws_session_t *ws, unsigned type, const uint8_t *msg, size_t len,
                         void *data) {
  (void)data;
  ws_buf *b = ws_buf_new(msg, len);
  if (!b) {
    ws_service.close(ws, IR_WS_CLOSE_INTERNAL, "out of memory", 13);
    return;
  }
  /* Unbounded here, bounded by the session: input is held once the echo
   * queue reaches send_queue. */
  ws_session_send_buf(ws, type, b);
  ws_buf_unref(b);
}

static const ir_ws_callbacks echo_cbs = {
    .struct_size = sizeof(ir_ws_callbacks),
    .on_message = echo_message,
};

/* ---- broadcast ---- */

static void member_message(ir_ws_session_t *ws, unsigned type, const uint8_t *msg, size_t len,
                           void *data) {
  ws_member *m = data;
  ws_room_publish(ws->ww, m->room, type, msg, len);
}

static void member_close(ir_ws_session_t *ws, unsigned code, const char *reason, size_t len,
                         void *data) {
  ws_member *m = data;
  (void)code, (void)reason, (void)len;
  ws_room_leave(ws->ww, m);
  free(m);
}

static const ir_ws_callbacks member_cbs = {
    .struct_size = sizeof(ir_ws_callbacks),
    .on_message = member_message,
    .on_close = member_close,
};

static int join(ir_stream_t *s, const ws_route *r) {
  ws_member *m = calloc(1, sizeof(*m));
  if (!m) return IR_ENOMEM;
  m->room = r->room;
  m->policy = r->policy;
  m->limit = r->opts.send_queue;
  ir_ws_session_t *ws = ws_service.accept(s, &r->opts, &member_cbs, m);
  if (!ws) {
    free(m);
    return IR_OK; /* answered */
  }
  m->ws = ws;
  if (ws->opened) ws_room_join(ws->ww, m);
  return IR_OK;
}

/* ---- the stream callbacks ---- */

static int ws_on_request(ir_stream_t *s, void *data) {
  const ws_route *r = data;
  switch (r->mode) {
  case MODE_METRICS:
    return ws_metrics_answer(s);
  case MODE_BROADCAST:
    return join(s, r);
  case MODE_TUNNEL:
    return ws_tunnel_start(s, &r->opts, r->backend_host, r->backend_port);
  default:
    ws_service.accept(s, &r->opts, &echo_cbs, NULL);
    return IR_OK;
  }
}

static int ws_init(ir_module_t *m) {
  ws_module = m;
  if (ws_metrics_register(m) != 0) return IR_ENOMEM;
  return ir_service_register(m, IR_WEBSOCKET_SERVICE, 1, &ws_service);
}

static void ws_fini(ir_module_t *m) {
  (void)m;
  ws_backbone_free();
  ws_rooms_free();
}

static const ir_module_desc websocket_module = {
    IR_MODULE_DESC_HEADER,
    .name = "websocket",
    .version = "1.0.0",
    .keys = ws_keys,
    .init = ws_init,
    .fini = ws_fini,
    .instance_create = ws_instance_create,
    .instance_destroy = ws_instance_destroy,
    .worker_init = ws_worker_init,
    .worker_exit = ws_worker_exit,
    .on_request = ws_on_request,
    .on_body = ws_service_stream_body,
    .on_body_end = ws_service_stream_body_end,
    .on_writable = ws_service_stream_writable,
    .on_close = ws_service_stream_close,
    .flags = IR_MODULE_UPGRADES | IR_MODULE_RELOADS, /* rooms grow per worker (room.c) */
    .on_stream_drain = ws_service_stream_drain,
};

IR_MODULE_DEFINE(websocket_module)
