/* mqtt.c — mod_mqtt: the module descriptor, its route keys, and the request
 * dispatch of a route: an upgrade becomes an MQTT-over-WebSocket bridge,
 * POST {route}/publish/{topic} an HTTP publish, GET {route}/subscribe an
 * event stream. Also registers the "mqtt" service. Built against the SDK
 * only; framing through mod_websocket's "websocket" service. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "mqttmod.h"

ir_module_t *mq_module;
static _Atomic(const ir_websocket_v1 *) websocket_service;

const ir_websocket_v1 *mq_websocket(void) {
  const ir_websocket_v1 *ws = atomic_load_explicit(&websocket_service, memory_order_acquire);
  if (!ws && (ws = ir_service_lookup(IR_WEBSOCKET_SERVICE, 1, NULL)))
    atomic_store_explicit(&websocket_service, ws, memory_order_release);
  return ws;
}

static const char *const mqtt_subprotocols[] = {"mqtt", "mqttv3.1", NULL};

#define KEY(type, name, def, help) {sizeof(ir_config_key), type, name, def, 0, help}
static const ir_config_key mq_keys[] = {
    KEY(IR_KEY_STRING, "broker", "127.0.0.1:1883", "the MQTT broker, HOST:PORT"),
    KEY(IR_KEY_STRING, "broker_tls", "off", "TLS to the broker: off, on, or noverify"),
    KEY(IR_KEY_PATH, "broker_ca", NULL, "CA bundle the broker's certificate is checked against"),
    KEY(IR_KEY_STRING, "publish", "#",
        "topic filters clients may publish to, space-separated ($SYS only when named)"),
    KEY(IR_KEY_STRING, "subscribe", "#",
        "topic filters clients may subscribe within, space-separated ($SYS only when named)"),
    KEY(IR_KEY_SIZE, "max_packet_size", "256k", "largest MQTT packet either way"),
    KEY(IR_KEY_STRING, "client_id", "", "fnmatch(3) pattern client ids must match; empty: any"),
    KEY(IR_KEY_STRING, "username_header", "",
        "request header (set by an authenticating front end) whose value is the MQTT username"),
    KEY(IR_KEY_STRING, "origins", "", "allowed Origin values, space-separated; empty: any"),
    KEY(IR_KEY_DURATION, "ping_interval", "0",
        "WebSocket pings from the server; 0: none (MQTT keepalive keeps sessions alive)"),
    KEY(IR_KEY_BOOL, "deflate", "off", "accept permessage-deflate"),
    KEY(IR_KEY_SIZE, "send_queue", "1m",
        "bytes queued toward one WebSocket client before the broker link is paused"),
    KEY(IR_KEY_DURATION, "connect_timeout", "5s", "reaching the broker"),
    KEY(IR_KEY_DURATION, "publish_timeout", "10s",
        "HTTP publish: waiting for the broker's acknowledgement (504 past it)"),
    KEY(IR_KEY_SIZE, "sse_queue", "256k",
        "bytes queued toward one event-stream subscriber before it is closed"),
    KEY(IR_KEY_DURATION, "sse_heartbeat", "15s", "comment line on an idle event stream; 0: none"),
    {0, 0, NULL, NULL, 0, NULL},
};
#undef KEY

mq_worker *mq_worker_of(ir_worker_t *w) { return ir_worker_data(mq_module, w); }

/* ---- route set-up ---- */

static const char *get_str(ir_instance_t *inst, const char *key) {
  ir_str v;
  return ir_instance_get_str(inst, key, &v) == IR_OK ? v.ptr : NULL;
}

static uint64_t get_u64(ir_instance_t *inst, const char *key) {
  int64_t v = 0;
  ir_instance_get_int(inst, key, &v);
  return v > 0 ? (uint64_t)v : 0;
}

/* A space-separated list of topic filters, each checked. NULL-ended. */
static char **parse_filters(const char *prefix, const char *key, const char *text, int *bad) {
  size_t n = 0, cap = 4;
  char **list = calloc(cap + 1, sizeof(*list));
  if (!list) return NULL;
  for (const char *p = text; *p;) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    const char *start = p;
    while (*p && *p != ' ' && *p != '\t' && *p != ',') p++;
    if (p == start) break;
    if (!mq_topic_valid(start, (size_t)(p - start), 1)) {
      ir_log(mq_module, NULL, IR_LOG_ERROR, "route %s: %s = %.*s: not an MQTT topic filter",
             prefix, key, (int)(p - start), start);
      *bad = 1;
      continue;
    }
    if (n == cap) {
      char **g = realloc(list, (cap * 2 + 1) * sizeof(*list));
      if (!g) break;
      list = g;
      cap *= 2;
    }
    if (!(list[n] = strndup(start, (size_t)(p - start)))) break;
    list[++n] = NULL;
  }
  return list;
}

static void free_list(char **list) {
  if (!list) return;
  for (char **p = list; *p; p++) free(*p);
  free(list);
}

int mq_broker_parse(mq_broker *b, const char *text) {
  const char *colon = strrchr(text, ':');
  if (!colon || colon == text || !colon[1]) return -1;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 1 || port > 65535) return -1;
  const char *host = text;
  size_t hlen = (size_t)(colon - text);
  if (host[0] == '[') {
    if (hlen < 3 || host[hlen - 1] != ']') return -1;
    host++;
    hlen -= 2;
  }
  b->name = strdup(text);
  b->host = strndup(host, hlen);
  b->port = (uint16_t)port;
  return b->name && b->host ? 0 : -1;
}

static void mq_instance_destroy(void *data) {
  mq_route *r = data;
  if (!r) return;
  free(r->broker.name);
  free(r->broker.host);
  free(r->broker.ca_file);
  free_list(r->rules.publish);
  free_list(r->rules.subscribe);
  free(r->client_id_pattern);
  free(r->username_header);
  free_list((char **)r->ws.origins);
  free(r);
}

/* Splits the origins list (space-separated) for the websocket service. */
static char **split_words(const char *text, size_t *count) {
  size_t n = 0, cap = 4;
  char **list = calloc(cap + 1, sizeof(*list));
  if (!list) return NULL;
  for (const char *p = text; *p;) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    const char *start = p;
    while (*p && *p != ' ' && *p != '\t' && *p != ',') p++;
    if (p == start) break;
    if (n == cap) {
      char **g = realloc(list, (cap * 2 + 1) * sizeof(*list));
      if (!g) break;
      list = g;
      cap *= 2;
    }
    if (!(list[n] = strndup(start, (size_t)(p - start)))) break;
    list[++n] = NULL;
  }
  *count = n;
  return list;
}

static int mq_instance_create(ir_instance_t *inst, void **data) {
  const char *prefix = ir_instance_prefix(inst);
  mq_route *r = calloc(1, sizeof(*r));
  if (!r) return IR_ENOMEM;
  *data = r;
  r->prefix = prefix;
  r->prefix_len = strlen(prefix);
  while (r->prefix_len && prefix[r->prefix_len - 1] == '/') r->prefix_len--;

  const char *broker = get_str(inst, "broker");
  if (!broker || mq_broker_parse(&r->broker, broker) < 0) {
    ir_log(mq_module, NULL, IR_LOG_ERROR, "route %s: broker = %s: not HOST:PORT", prefix,
           broker ? broker : "");
    return IR_EINVAL;
  }
  const char *tls = get_str(inst, "broker_tls");
  if (!strcmp(tls, "on")) r->broker.tls = r->broker.verify = 1;
  else if (!strcmp(tls, "noverify")) r->broker.tls = 1;
  else if (strcmp(tls, "off")) {
    ir_log(mq_module, NULL, IR_LOG_ERROR, "route %s: broker_tls = %s: not off, on or noverify",
           prefix, tls);
    return IR_EINVAL;
  }
  const char *ca = get_str(inst, "broker_ca");
  if (ca && *ca && !(r->broker.ca_file = strdup(ca))) return IR_ENOMEM;

  int bad = 0;
  r->rules.publish = parse_filters(prefix, "publish", get_str(inst, "publish"), &bad);
  r->rules.subscribe = parse_filters(prefix, "subscribe", get_str(inst, "subscribe"), &bad);
  if (!r->rules.publish || !r->rules.subscribe) return IR_ENOMEM;
  if (bad) return IR_EINVAL;

  r->max_packet_size = get_u64(inst, "max_packet_size");
  if (r->max_packet_size < 16 || r->max_packet_size > 268435460) {
    ir_log(mq_module, NULL, IR_LOG_ERROR,
           "route %s: max_packet_size = %llu: not 16 bytes to 256 MiB", prefix,
           (unsigned long long)r->max_packet_size);
    return IR_EINVAL;
  }
  const char *cid = get_str(inst, "client_id");
  if (cid && *cid && !(r->client_id_pattern = strdup(cid))) return IR_ENOMEM;
  const char *uh = get_str(inst, "username_header");
  if (uh && *uh && !(r->username_header = strdup(uh))) return IR_ENOMEM;

  ir_ws_options *o = &r->ws;
  o->struct_size = sizeof(*o);
  o->subprotocols = mqtt_subprotocols;
  o->nsubprotocols = 2;
  char **origins = split_words(get_str(inst, "origins"), &o->norigins);
  if (!origins) return IR_ENOMEM;
  o->origins = (const char *const *)origins;
  /* A message holds at least one packet's worth: a packet split over
   * messages is gathered by the bridge, bounded by max_packet_size. */
  o->max_message_size = r->max_packet_size + 5;
  o->max_frame_size = o->max_message_size;
  o->ping_interval_ms = get_u64(inst, "ping_interval");
  o->send_queue = get_u64(inst, "send_queue");
  o->deflate = get_u64(inst, "deflate") != 0;
  o->defer = 1; /* answered once the broker is reached */
  if (!o->send_queue) o->send_queue = 1 << 20;

  r->connect_timeout_ms = get_u64(inst, "connect_timeout");
  r->publish_timeout_ms = get_u64(inst, "publish_timeout");
  r->sse_queue = get_u64(inst, "sse_queue");
  r->sse_heartbeat_ms = get_u64(inst, "sse_heartbeat");
  if (!r->connect_timeout_ms || !r->publish_timeout_ms || r->sse_queue < 1024) {
    ir_log(mq_module, NULL, IR_LOG_ERROR,
           "route %s: connect_timeout and publish_timeout must not be 0, sse_queue at least 1k",
           prefix);
    return IR_EINVAL;
  }
  return IR_OK;
}

/* ---- request helpers ---- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int mq_percent_decode(const char *in, size_t len, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)in[i];
    if (c == '%') {
      int hi = i + 2 < len ? hexval(in[i + 1]) : -1, lo = i + 2 < len ? hexval(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) return -1;
      c = hi << 4 | lo;
      i += 2;
    }
    if (o + 1 >= cap) return -1;
    out[o++] = (char)c;
  }
  if (!cap) return -1;
  out[o] = '\0';
  return (int)o;
}

int mq_query_param(ir_str query, const char *name, char *out, size_t cap) {
  size_t nlen = strlen(name);
  const char *p = query.ptr, *end = query.ptr + query.len;
  while (p && p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    const char *kend = eq ? eq : stop;
    if ((size_t)(kend - p) == nlen && !memcmp(p, name, nlen)) {
      const char *v = eq ? eq + 1 : stop;
      int n = mq_percent_decode(v, (size_t)(stop - v), out, cap);
      return n < 0 ? -2 : n;
    }
    p = amp ? amp + 1 : NULL;
  }
  return -1;
}

/* ---- the stream callbacks ---- */

/* Streams that asked for an upgrade belong to the websocket service. */
static int is_session(ir_stream_t *s) { return ir_req_upgrade(s).len != 0; }

static int stream_kind(ir_stream_t *s) {
  const uint8_t *kind = ir_stream_data(s);
  return kind ? *kind : 0;
}

int mq_answer(ir_stream_t *s, int status, const char *allow, const char *text) {
  size_t len = strlen(text);
  char cl[24];
  int n = snprintf(cl, sizeof cl, "%zu", len);
  int rc = ir_resp_status(s, status);
  if (rc == IR_OK && allow) rc = ir_resp_header(s, "allow", allow);
  if (rc == IR_OK) rc = ir_resp_header(s, "content-type", "text/plain");
  if (rc == IR_OK) rc = ir_resp_header_n(s, "content-length", 14, cl, (size_t)n);
  if (rc == IR_OK) rc = ir_resp_send_head(s, 0);
  if (rc == IR_OK && ir_resp_write(s, text, len) < 0) rc = IR_ECLOSED;
  if (rc == IR_OK) rc = ir_resp_end(s);
  return rc;
}

static int path_is(ir_str rest, const char *what) {
  size_t n = strlen(what);
  return rest.len == n && !memcmp(rest.ptr, what, n);
}

static int mq_on_request(ir_stream_t *s, void *data) {
  const mq_route *r = data;
  ir_str path = ir_req_path(s);
  ir_str rest = {path.ptr + r->prefix_len, path.len - r->prefix_len};
  if (path.len < r->prefix_len) rest.len = 0;
  ir_str method = ir_req_method(s);
  int get = method.len == 3 && !memcmp(method.ptr, "GET", 3);
  int post = method.len == 4 && !memcmp(method.ptr, "POST", 4);

  if (is_session(s)) {
    if (rest.len && !path_is(rest, "/"))
      return mq_answer(s, 404, NULL, "no such MQTT endpoint\n");
    if (!mq_websocket()) return mq_answer(s, 503, NULL, "mod_websocket is not loaded\n");
    return mq_bridge_start(s, r);
  }
  if (rest.len > 9 && !memcmp(rest.ptr, "/publish/", 9)) {
    if (!post) return mq_answer(s, 405, "POST", "publish takes POST\n");
    return mq_publish_start(s, r, rest.ptr + 9, rest.len - 9);
  }
  if (path_is(rest, "/subscribe")) {
    if (!get) return mq_answer(s, 405, "GET", "subscribe takes GET\n");
    return mq_sse_start(s, r);
  }
  if (!rest.len || path_is(rest, "/"))
    return mq_answer(s, 426, NULL, "MQTT over WebSocket: upgrade with subprotocol mqtt\n");
  return mq_answer(s, 404, NULL, "no such MQTT endpoint\n");
}

static int mq_on_body(ir_stream_t *s, const uint8_t *bytes, size_t len) {
  if (is_session(s)) {
    const ir_websocket_v1 *ws = mq_websocket();
    return ws ? ws->stream_body(s, bytes, len) : IR_OK;
  }
  if (stream_kind(s) == MQ_STREAM_PUBLISH) return mq_publish_body(s, bytes, len);
  return ir_stream_consume(s, len);
}

static int mq_on_body_end(ir_stream_t *s) {
  if (is_session(s)) {
    const ir_websocket_v1 *ws = mq_websocket();
    return ws ? ws->stream_body_end(s) : IR_OK;
  }
  if (stream_kind(s) == MQ_STREAM_PUBLISH) return mq_publish_body_end(s);
  return IR_OK;
}

static void mq_on_writable(ir_stream_t *s) {
  if (is_session(s)) {
    const ir_websocket_v1 *ws = mq_websocket();
    if (ws) ws->stream_writable(s);
  } else if (stream_kind(s) == MQ_STREAM_SSE) {
    mq_sse_writable(s);
  }
}

static void mq_on_close(ir_stream_t *s, int reason) {
  if (is_session(s)) {
    const ir_websocket_v1 *ws = mq_websocket();
    if (ws) ws->stream_close(s, reason);
    return;
  }
  switch (stream_kind(s)) {
  case MQ_STREAM_PUBLISH: mq_publish_close(s, reason); break;
  case MQ_STREAM_SSE: mq_sse_close(s, reason); break;
  default: break;
  }
}

static void mq_on_stream_drain(ir_stream_t *s, uint64_t ms_left) {
  if (is_session(s)) {
    const ir_websocket_v1 *ws = mq_websocket();
    if (ws) ws->stream_drain(s, ms_left);
  } else if (stream_kind(s) == MQ_STREAM_SSE) {
    mq_sse_drain(s, ms_left);
  }
}

/* ---- module and workers ---- */

static int mq_worker_init(ir_module_t *m, ir_worker_t *w) {
  /* The registry is complete once every module's init ran; a reload that
   * loads mod_websocket later is seen at the next session (mq_websocket). */
  if (!mq_websocket())
    ir_log(m, NULL, IR_LOG_WARN, "the websocket service is missing ([module websocket]): MQTT "
                                 "over WebSocket answers 503 until it is loaded");
  mq_worker *mw = calloc(1, sizeof(*mw));
  if (!mw) return IR_ENOMEM;
  mw->w = w;
  ir_worker_set_data(m, w, mw);
  return IR_OK;
}

static void mq_on_worker_drain(ir_module_t *m, ir_worker_t *w, uint64_t ms_left) {
  (void)ms_left;
  mq_worker *mw = ir_worker_data(m, w);
  if (!mw) return;
  mw->draining = 1;
  mq_bridges_drain(mw);
  mq_clients_drain(mw);
}

static void mq_worker_exit(ir_module_t *m, ir_worker_t *w) {
  mq_worker *mw = ir_worker_data(m, w);
  if (!mw) return;
  mq_clients_worker_exit(mw);
  ir_worker_set_data(m, w, NULL);
  free(mw);
}

static int mq_init(ir_module_t *m) {
  mq_module = m;
  if (mq_metrics_register(m) != 0) return IR_ENOMEM;
  if (mq_clients_init() != 0) {
    ir_log(m, NULL, IR_LOG_ERROR, "libmosquitto failed to initialise");
    return IR_EINVAL;
  }
  return ir_service_register(m, IR_MQTT_SERVICE, 1, &mq_service);
}

static void mq_fini(ir_module_t *m) {
  (void)m;
  mq_clients_fini();
}

static const ir_module_desc mqtt_module = {
    IR_MODULE_DESC_HEADER,
    .name = "mqtt",
    .version = "1.0.0",
    .keys = mq_keys,
    .init = mq_init,
    .fini = mq_fini,
    .instance_create = mq_instance_create,
    .instance_destroy = mq_instance_destroy,
    .worker_init = mq_worker_init,
    .worker_exit = mq_worker_exit,
    .on_request = mq_on_request,
    .on_body = mq_on_body,
    .on_body_end = mq_on_body_end,
    .on_writable = mq_on_writable,
    .on_close = mq_on_close,
    .flags = IR_MODULE_UPGRADES | IR_MODULE_RELOADS, /* broker clients copy their settings */
    .on_worker_drain = mq_on_worker_drain,
    .on_stream_drain = mq_on_stream_drain,
};

IR_MODULE_DEFINE(mqtt_module)
