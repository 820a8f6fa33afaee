/* service_module.c — "upper", a third party's module for
 * tests/websocket/test_ws_service.py: built against the SDK only (plus
 * mod_websocket's public header iridium/websocket.h), it serves WebSocket
 * sessions through the "websocket" service v1 it looks up in the registry,
 * never through mod_websocket's routes. Over HTTP/1.1 Upgrade and HTTP/2
 * extended CONNECT alike (the service hides which).
 *
 * Under the route's prefix (the test uses /up):
 *   a WebSocket handshake  accepted with subprotocols "upper.v2 upper.v1"
 *                          and permessage-deflate; then per message:
 *     text "close CODE REASON"  the module calls close(CODE, REASON);
 *     text "subprotocol?"       answered "subprotocol=NAME" (or "=-"), the
 *                               service's subprotocol() as the module sees it;
 *     text "burst N SIZE"       N binary messages of SIZE bytes sent at once
 *                               (each: its index as 8 decimal digits, then
 *                               the byte index % 256), to meet IR_EAGAIN;
 *     other text                sent back upper-cased (ASCII letters);
 *     binary                    sent back unchanged.
 *     Sends that meet IR_EAGAIN are held (in order) until on_writable.
 *   /stats                 counters as "key=value" lines (no upgrade):
 *                          sessions accepted, on_close calls and the last
 *                          code on_close reported, messages, EAGAINs.
 *   no service             503 (mod_websocket not loaded).
 *
 * The stream callbacks of a session are forwarded to the service's
 * stream_* entries, as websocket.h asks; a stream that is not a session
 * carries the PLAIN marker as its stream data.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iridium/iridium.h>
#include <iridium/websocket.h>

static const ir_websocket_v1 *_Atomic g_ws; /* the service, found in worker_init */

static atomic_long g_sessions;    /* accept() returned a session */
static atomic_long g_refused;     /* accept() returned NULL */
static atomic_long g_closes;      /* session on_close calls */
static atomic_long g_last_code;   /* the code of the latest session on_close */
static atomic_long g_messages;    /* on_message calls */
static atomic_long g_eagain;      /* sends that returned IR_EAGAIN */
static atomic_long g_send_errors; /* sends that failed otherwise */
static atomic_long g_close_calls; /* close() calls made by the module */

static char PLAIN; /* stream data of streams that are not sessions */

/* A message held back by IR_EAGAIN (module-owned, malloc'd). */
typedef struct held {
  struct held *next;
  unsigned type;
  size_t len;
  uint8_t bytes[];
} held;

/* Per session (malloc'd in on_request, freed in the session's on_close). */
typedef struct upper {
  held *head, *tail;
} upper;

static int str_is(ir_str s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static int has_prefix(const uint8_t *m, size_t len, const char *lit) {
  size_t n = strlen(lit);
  return len >= n && memcmp(m, lit, n) == 0;
}

/* Sends, or holds when earlier messages wait or the queue is full. */
static void send_or_hold(ir_ws_session_t *ws, upper *u, unsigned type, const void *msg,
                         size_t len) {
  const ir_websocket_v1 *svc = atomic_load(&g_ws);
  if (!u->head) {
    int rc = svc->send(ws, type, msg, len);
    if (rc == IR_OK) return;
    if (rc != IR_EAGAIN) {
      atomic_fetch_add(&g_send_errors, 1);
      return;
    }
    atomic_fetch_add(&g_eagain, 1);
  }
  held *h = malloc(sizeof(*h) + len);
  if (!h) {
    atomic_fetch_add(&g_send_errors, 1);
    return;
  }
  h->next = NULL;
  h->type = type;
  h->len = len;
  memcpy(h->bytes, msg, len);
  if (u->tail)
    u->tail->next = h;
  else
    u->head = h;
  u->tail = h;
}

static void on_writable(ir_ws_session_t *ws, void *data) {
  const ir_websocket_v1 *svc = atomic_load(&g_ws);
  upper *u = data;
  while (u->head) {
    held *h = u->head;
    int rc = svc->send(ws, h->type, h->bytes, h->len);
    if (rc == IR_EAGAIN) {
      atomic_fetch_add(&g_eagain, 1);
      return;
    }
    if (rc != IR_OK) atomic_fetch_add(&g_send_errors, 1);
    u->head = h->next;
    if (!u->head) u->tail = NULL;
    free(h);
  }
}

/* Reads a decimal number at m[*i] (skipping one leading space), capped. */
static size_t number_at(const uint8_t *m, size_t len, size_t *i, size_t cap) {
  size_t v = 0;
  if (*i < len && m[*i] == ' ') (*i)++;
  for (; *i < len && m[*i] >= '0' && m[*i] <= '9'; (*i)++) {
    v = v * 10 + (size_t)(m[*i] - '0');
    if (v > cap) v = cap;
  }
  return v;
}

/* "burst N SIZE": many messages from one callback, more than send_queue. */
static void burst(ir_ws_session_t *ws, upper *u, const uint8_t *m, size_t len) {
  size_t i = 5; /* after "burst" */
  size_t n = number_at(m, len, &i, 4096);
  size_t size = number_at(m, len, &i, 1u << 20);
  if (size < 8) size = 8;
  uint8_t *buf = malloc(size);
  if (!buf) {
    atomic_fetch_add(&g_send_errors, 1);
    return;
  }
  for (size_t k = 0; k < n; k++) {
    char head[9];
    snprintf(head, sizeof head, "%08zu", k % 100000000u);
    memcpy(buf, head, 8);
    memset(buf + 8, (int)(k % 256), size - 8);
    send_or_hold(ws, u, IR_WS_BINARY, buf, size);
  }
  free(buf);
}

/* "close CODE REASON": the module ends the session itself. */
static void close_from_text(ir_ws_session_t *ws, const uint8_t *m, size_t len) {
  const ir_websocket_v1 *svc = atomic_load(&g_ws);
  size_t i = 6; /* after "close " */
  unsigned code = 0;
  for (; i < len && m[i] >= '0' && m[i] <= '9' && code < 100000; i++)
    code = code * 10 + (m[i] - '0');
  if (i < len && m[i] == ' ') i++;
  atomic_fetch_add(&g_close_calls, 1);
  if (svc->close(ws, code, (const char *)m + i, len - i) != IR_OK)
    atomic_fetch_add(&g_send_errors, 1);
}

static void on_message(ir_ws_session_t *ws, unsigned type, const uint8_t *msg, size_t len,
                       void *data) {
  const ir_websocket_v1 *svc = atomic_load(&g_ws);
  upper *u = data;
  atomic_fetch_add(&g_messages, 1);
  if (type == IR_WS_BINARY) {
    send_or_hold(ws, u, type, msg, len);
    return;
  }
  if (has_prefix(msg, len, "close ")) {
    close_from_text(ws, msg, len);
    return;
  }
  if (has_prefix(msg, len, "burst ")) {
    burst(ws, u, msg, len);
    return;
  }
  if (len == 12 && memcmp(msg, "subprotocol?", 12) == 0) {
    ir_str sp = svc->subprotocol(ws);
    char out[160];
    int n = snprintf(out, sizeof out, "subprotocol=%.*s", sp.len ? (int)sp.len : 1,
                     sp.len ? sp.ptr : "-");
    if (n > 0)
      send_or_hold(ws, u, IR_WS_TEXT, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
    return;
  }
  uint8_t *up = malloc(len ? len : 1);
  if (!up) {
    atomic_fetch_add(&g_send_errors, 1);
    return;
  }
  for (size_t i = 0; i < len; i++) up[i] = (msg[i] >= 'a' && msg[i] <= 'z') ? msg[i] - 32 : msg[i];
  send_or_hold(ws, u, IR_WS_TEXT, up, len);
  free(up);
}

static void on_ws_close(ir_ws_session_t *ws, unsigned code, const char *reason, size_t reason_len,
                        void *data) {
  (void)ws;
  upper *u = data;
  ir_log(NULL, NULL, IR_LOG_INFO, "upper: session closed with %u %.*s", code, (int)reason_len,
         reason);
  atomic_store(&g_last_code, (long)code);
  atomic_fetch_add(&g_closes, 1);
  while (u->head) {
    held *h = u->head;
    u->head = h->next;
    free(h);
  }
  free(u);
}

static const ir_ws_callbacks callbacks = {
    .struct_size = sizeof(ir_ws_callbacks),
    .on_message = on_message,
    .on_writable = on_writable,
    .on_close = on_ws_close,
};

static const char *const subprotocols[] = {"upper.v2", "upper.v1"};

__attribute__((format(printf, 3, 4))) static int answer(ir_stream_t *s, int status, const char *fmt,
                                                        ...) {
  char body[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  if (n < 0) return IR_EINVAL;
  if ((size_t)n >= sizeof body) n = sizeof body - 1;
  char *copy = ir_stream_alloc(s, (size_t)n + 1);
  if (!copy) return IR_ENOMEM;
  memcpy(copy, body, (size_t)n + 1);
  return ir_respond_simple(s, status, "text/plain", copy, (size_t)n);
}

static int upper_on_request(ir_stream_t *s, void *instance_data) {
  const char *prefix = instance_data;
  ir_str p = ir_req_path(s);
  size_t pl = strlen(prefix);
  if (p.len >= pl && memcmp(p.ptr, prefix, pl) == 0) {
    p.ptr += pl;
    p.len -= pl;
  }
  const ir_websocket_v1 *svc = atomic_load(&g_ws);
  if (str_is(p, "/stats")) {
    ir_stream_set_data(s, &PLAIN);
    return answer(s, 200,
                  "sessions=%ld\nrefused=%ld\ncloses=%ld\nlast_code=%ld\nmessages=%ld\n"
                  "eagain=%ld\nsend_errors=%ld\nclose_calls=%ld\n",
                  atomic_load(&g_sessions), atomic_load(&g_refused), atomic_load(&g_closes),
                  atomic_load(&g_last_code), atomic_load(&g_messages), atomic_load(&g_eagain),
                  atomic_load(&g_send_errors), atomic_load(&g_close_calls));
  }
  if (!svc) {
    ir_stream_set_data(s, &PLAIN);
    return answer(s, 503, "the websocket service is not loaded\n");
  }
  upper *u = calloc(1, sizeof(*u));
  if (!u) return IR_ENOMEM;
  ir_ws_options opts = {
      .struct_size = sizeof(ir_ws_options),
      .subprotocols = subprotocols,
      .nsubprotocols = sizeof subprotocols / sizeof subprotocols[0],
      .deflate = 1,
  };
  ir_ws_session_t *ws = svc->accept(s, &opts, &callbacks, u);
  if (!ws) {
    /* The service answered the bad handshake itself; the stream ends as a
     * plain one. */
    free(u);
    atomic_fetch_add(&g_refused, 1);
    ir_stream_set_data(s, &PLAIN);
    return IR_OK;
  }
  atomic_fetch_add(&g_sessions, 1);
  return IR_OK;
}

static int is_session(ir_stream_t *s) { return atomic_load(&g_ws) && ir_stream_data(s) != &PLAIN; }

static int upper_on_body(ir_stream_t *s, const uint8_t *data, size_t len) {
  if (!is_session(s)) return ir_stream_consume(s, len);
  return atomic_load(&g_ws)->stream_body(s, data, len);
}

static int upper_on_body_end(ir_stream_t *s) {
  if (!is_session(s)) return IR_OK;
  return atomic_load(&g_ws)->stream_body_end(s);
}

static void upper_on_writable(ir_stream_t *s) {
  if (is_session(s)) atomic_load(&g_ws)->stream_writable(s);
}

static void upper_on_close(ir_stream_t *s, int reason) {
  if (is_session(s)) atomic_load(&g_ws)->stream_close(s, reason);
}

static void upper_on_stream_drain(ir_stream_t *s, uint64_t ms_left) {
  if (is_session(s)) atomic_load(&g_ws)->stream_drain(s, ms_left);
}

/* The registry is complete once every module's init ran: look up here. */
static int upper_worker_init(ir_module_t *m, ir_worker_t *w) {
  (void)w;
  uint32_t version = 0;
  const ir_websocket_v1 *svc = ir_service_lookup(IR_WEBSOCKET_SERVICE, 1, &version);
  if (svc && svc->struct_size < sizeof(ir_websocket_v1)) {
    ir_log(m, NULL, IR_LOG_ERROR, "upper: websocket service v%u is older than this module's",
           (unsigned)version);
    svc = NULL;
  }
  atomic_store(&g_ws, svc);
  return IR_OK;
}

/* The route's prefix is the instance data (host-owned). */
static int upper_instance_create(ir_instance_t *inst, void **data) {
  *data = (void *)ir_instance_prefix(inst);
  return IR_OK;
}

static const ir_module_desc upper_module = {
    IR_MODULE_DESC_HEADER,
    .name = "upper",
    .version = "1.0.0",
    .instance_create = upper_instance_create,
    .worker_init = upper_worker_init,
    .on_request = upper_on_request,
    .on_body = upper_on_body,
    .on_body_end = upper_on_body_end,
    .on_writable = upper_on_writable,
    .on_close = upper_on_close,
    .flags = IR_MODULE_UPGRADES,
    .on_stream_drain = upper_on_stream_drain,
};

IR_MODULE_DEFINE(upper_module)
