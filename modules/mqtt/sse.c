/* sse.c — GET {route}/subscribe?topic=FILTER[&qos=0|1|2]: a subscription
 * through the worker's broker client, answered as Server-Sent Events
 * (text/event-stream). Each message is one event:
 *
 *   id: 7
 *   data: {"topic":"demo/a","payload":"hi","retain":false,"qos":0}
 *
 * with "encoding":"base64" when the payload is not UTF-8 text. A request
 * with Last-Event-ID: N gets `event: missed` first (the bridge keeps no
 * history) and ids go on from N+1. `event: status` says the broker went
 * down, `event: missed` that it came back (messages in between are lost).
 * What the host will not take yet (max_queued_output) waits here, up to
 * sse_queue bytes: past that the subscriber is ended with `event: overflow`
 * (reset if it has not read that within MQ_SSE_LINGER_MS). Drain sends
 * `event: closing` and ends the response. `: ping` every sse_heartbeat. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

#include "client.h"
#include "mqttmod.h"

#define MQ_SSE_RETRY_MS 2000       /* EventSource's reconnect delay, sent first */
#define MQ_SSE_LINGER_MS 5000      /* an ended subscriber's last bytes may take this long */
#define MQ_SSE_DOWN_GRACE_MS 1000  /* a new stream's broker connection may take this long */

typedef struct mq_sse {
  uint8_t kind;          /* MQ_STREAM_SSE: first, see mqtt.c */
  ir_stream_t *s;
  const mq_route *r;
  mq_worker *mw;
  ir_mqtt_sub_t *sub;    /* NULL once ending */
  ir_timer_t *heartbeat; /* repeating, sse_heartbeat */
  ir_timer_t *once;      /* the broker-down grace, then the linger of an ending stream */
  uint64_t next_id;
  int up;                /* the subscription is live at the broker */
  int told_down;         /* `event: status` went: `event: missed` follows when up */
  int quiet;             /* nothing sent since the last heartbeat tick */
  int ending;            /* resp_end once the queue is written */
  int ended;             /* resp_end called (or the stream was reset) */
  uint8_t *q;            /* bytes the host did not take yet */
  size_t qlen, qcap;
  char filter[];
} mq_sse;

/* ---- output ---- */

static void sse_finish(mq_sse *x) {
  if (x->ended || !x->ending || x->qlen) return;
  x->ended = 1;
  if (ir_resp_end(x->s) != IR_OK) ir_stream_reset(x->s);
}

/* Hands queued bytes to the host: 0, or -1 when the stream is gone. */
static int sse_flush(mq_sse *x) {
  while (x->qlen) {
    ssize_t n = ir_resp_write(x->s, x->q, x->qlen);
    if (n == IR_EAGAIN) return 0;
    if (n < 0) {
      x->ended = 1;
      ir_stream_reset(x->s);
      return -1;
    }
    memmove(x->q, x->q + n, x->qlen - (size_t)n);
    x->qlen -= (size_t)n;
    if (!n) return 0;
  }
  sse_finish(x);
  return 0;
}

static int sse_queue_bytes(mq_sse *x, const char *p, size_t n) {
  if (x->qlen + n > x->qcap) {
    size_t cap = x->qcap ? x->qcap : 4096;
    while (cap < x->qlen + n) cap *= 2;
    uint8_t *grown = realloc(x->q, cap);
    if (!grown) return -1;
    x->q = grown, x->qcap = cap;
  }
  memcpy(x->q + x->qlen, p, n);
  x->qlen += n;
  return 0;
}

static void sse_end(mq_sse *x, const char *event);

/* Sends (or queues) one event's bytes. force: past sse_queue too (the
 * stream's last event). */
static void sse_emit(mq_sse *x, const char *p, size_t n, int force) {
  if (x->ended) return;
  x->quiet = 0;
  if (!x->qlen) { /* straight to the host while it takes bytes */
    ssize_t w = ir_resp_write(x->s, p, n);
    if (w < 0 && w != IR_EAGAIN) {
      x->ended = 1;
      ir_stream_reset(x->s);
      return;
    }
    if (w > 0) p += w, n -= (size_t)w;
    if (!n) {
      sse_finish(x);
      return;
    }
  }
  if (!force && x->qlen + n > x->r->sse_queue) {
    mq_count(x->mw->w, mq_metric.drops[MQ_DROP_SLOW_SUBSCRIBER], 1);
    ir_log(mq_module, x->s, IR_LOG_WARN,
           "mqtt subscriber to %s fell %zu bytes behind (sse_queue %" PRIu64 "): ending it",
           x->filter, x->qlen + n, x->r->sse_queue);
    char ev[96];
    snprintf(ev, sizeof ev, "event: overflow\ndata: {\"queued\":%zu,\"limit\":%" PRIu64
                       "}\n\n", x->qlen + n, x->r->sse_queue);
    sse_end(x, ev);
    return;
  }
  if (sse_queue_bytes(x, p, n) < 0) {
    x->ended = 1;
    ir_stream_reset(x->s);
  }
}

static void sse_emit_str(mq_sse *x, const char *text) { sse_emit(x, text, strlen(text), 0); }

static void sse_linger_cb(ir_timer_t *t, void *data) {
  mq_sse *x = data;
  ir_timer_stop(t);
  x->once = NULL;
  if (x->ended) return;
  x->ended = 1;
  ir_log(mq_module, x->s, IR_LOG_INFO, "mqtt subscriber to %s did not read its last event: reset",
         x->filter);
  ir_stream_reset(x->s);
}

/* Ends the subscription; the response ends once event (if any) and what
 * is queued before it are written, or is reset after MQ_SSE_LINGER_MS. */
static void sse_end(mq_sse *x, const char *event) {
  if (x->ending) return;
  x->ending = 1;
  if (x->sub) {
    mq_client_unsubscribe(x->sub);
    x->sub = NULL;
  }
  if (x->heartbeat) {
    ir_timer_stop(x->heartbeat);
    x->heartbeat = NULL;
  }
  if (x->once) ir_timer_stop(x->once);
  x->once = ir_timer_start(x->mw->w, MQ_SSE_LINGER_MS, 0, sse_linger_cb, x);
  if (event) sse_emit(x, event, strlen(event), 1);
  sse_finish(x);
}

/* ---- one message as an event ---- */

/* Appends a JSON string of p (UTF-8) to out: the bytes written. out has
 * room for 6 bytes per input byte plus 2. */
static size_t json_string(char *out, const uint8_t *p, size_t n) {
  static const char hex[] = "0123456789abcdef";
  char *o = out;
  *o++ = '"';
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c == '"' || c == '\\') {
      *o++ = '\\', *o++ = (char)c;
    } else if (c == '\n') {
      *o++ = '\\', *o++ = 'n';
    } else if (c == '\r') {
      *o++ = '\\', *o++ = 'r';
    } else if (c == '\t') {
      *o++ = '\\', *o++ = 't';
    } else if (c < 0x20 || c == 0x7f) {
      memcpy(o, "\\u00", 4);
      o[4] = hex[c >> 4], o[5] = hex[c & 15];
      o += 6;
    } else {
      *o++ = (char)c;
    }
  }
  *o++ = '"';
  return (size_t)(o - out);
}

static void sse_on_message(const ir_mqtt_message *m, void *data) {
  mq_sse *x = data;
  if (x->ending) return;
  int text = mq_utf8_valid(m->payload, m->len);
  size_t plen = text ? m->len * 6 + 2 : BASE64_ENCODE_RAW_LENGTH(m->len) + 2;
  size_t cap = 64 + m->topic.len * 6 + plen + 64;
  char *ev = malloc(cap);
  if (!ev) {
    mq_count(x->mw->w, mq_metric.drops[MQ_DROP_SLOW_SUBSCRIBER], 1);
    return;
  }
  int n = snprintf(ev, cap, "id: %" PRIu64 "\ndata: {\"topic\":", x->next_id++);
  size_t len = (size_t)n;
  len += json_string(ev + len, (const uint8_t *)m->topic.ptr, m->topic.len);
  memcpy(ev + len, ",\"payload\":", 11);
  len += 11;
  if (text) {
    len += json_string(ev + len, m->payload, m->len);
  } else {
    ev[len++] = '"';
    base64_encode_raw((char *)ev + len, m->len, m->payload);
    len += BASE64_ENCODE_RAW_LENGTH(m->len);
    ev[len++] = '"';
  }
  len += (size_t)snprintf(ev + len, cap - len, ",\"retain\":%s,\"qos\":%d%s}\n\n",
                          m->retain ? "true" : "false", m->qos,
                          text ? "" : ",\"encoding\":\"base64\"");
  mq_count(x->mw->w, mq_metric.events, 1);
  sse_emit(x, ev, len, 0);
  free(ev);
}

/* ---- the broker's state ---- */

static void sse_tell_down(mq_sse *x) {
  if (x->told_down || x->ending) return;
  x->told_down = 1;
  sse_emit_str(x, "event: status\ndata: {\"broker\":\"down\"}\n\n");
}

static void sse_on_state(int up, void *data) {
  mq_sse *x = data;
  x->up = up;
  if (!up) {
    sse_tell_down(x);
  } else if (x->told_down && !x->ending) {
    x->told_down = 0;
    sse_emit_str(x, "event: missed\ndata: {\"reason\":\"broker\"}\n\n");
  }
}

static void sse_once_cb(ir_timer_t *t, void *data) {
  mq_sse *x = data;
  ir_timer_stop(t);
  x->once = NULL;
  if (!x->up) sse_tell_down(x);
}

static void sse_heartbeat_cb(ir_timer_t *t, void *data) {
  (void)t;
  mq_sse *x = data;
  if (x->quiet) sse_emit_str(x, ": ping\n\n");
  x->quiet = 1;
}

/* ---- the stream ---- */

/* Last-Event-ID as a number: 1 and *id, or 0 when absent or not one. */
static int last_event_id(ir_stream_t *s, uint64_t *id) {
  ir_str v;
  if (ir_req_header(s, "last-event-id", &v) != IR_OK || !v.len || v.len > 19) return 0;
  uint64_t n = 0;
  for (size_t i = 0; i < v.len; i++) {
    if (v.ptr[i] < '0' || v.ptr[i] > '9') return 0;
    n = n * 10 + (uint64_t)(v.ptr[i] - '0');
  }
  *id = n;
  return 1;
}

int mq_sse_start(ir_stream_t *s, const mq_route *r) {
  mq_worker *mw = ir_stream_worker_data(s);
  if (!mw) return mq_answer(s, 503, NULL, "out of memory\n");
  if (mw->draining) return mq_answer(s, 503, NULL, "the server is shutting down\n");
  ir_str query = ir_req_query(s);
  char filter[1024], qv[4];
  int flen = mq_query_param(query, "topic", filter, sizeof filter);
  if (flen <= 0 || !mq_topic_valid(filter, (size_t)flen, 1) || memchr(filter, 0, (size_t)flen))
    return mq_answer(s, 400, NULL, "topic= takes a valid MQTT topic filter\n");
  int qn = mq_query_param(query, "qos", qv, sizeof qv);
  int qos = qn == -1 ? 0 : qn == 1 && qv[0] >= '0' && qv[0] <= '2' ? qv[0] - '0' : -1;
  if (qos < 0) return mq_answer(s, 400, NULL, "qos takes 0, 1 or 2\n");
  if (!mq_may_subscribe(&r->rules, filter, (size_t)flen)) {
    mq_violation(s, MQ_RULE_SUBSCRIBE, "event stream on %s", filter);
    return mq_answer(s, 403, NULL, "subscribing to this filter is not allowed\n");
  }

  mq_sse *x = calloc(1, sizeof(*x) + (size_t)flen + 1);
  if (!x) return mq_answer(s, 503, NULL, "out of memory\n");
  x->kind = MQ_STREAM_SSE;
  x->s = s;
  x->r = r;
  x->mw = mw;
  x->next_id = 1;
  memcpy(x->filter, filter, (size_t)flen);
  uint64_t last;
  int resumed = last_event_id(s, &last);
  if (resumed) x->next_id = last + 1;

  static const ir_mqtt_sub_cbs cbs = {.struct_size = sizeof(cbs),
                                      .on_message = sse_on_message,
                                      .on_state = sse_on_state};
  x->sub = mq_client_subscribe(mw, &r->broker, x->filter, qos, &cbs, x);
  if (!x->sub) {
    free(x);
    return mq_answer(s, 503, NULL, "the subscription could not be made\n");
  }
  ir_stream_set_data(s, x);
  mq_count(mw->w, mq_metric.subscribers_open, 1);
  x->up = mq_client_connected(mw, &r->broker);

  int rc = ir_resp_status(s, 200);
  if (rc == IR_OK) rc = ir_resp_header(s, "content-type", "text/event-stream");
  if (rc == IR_OK) rc = ir_resp_header(s, "cache-control", "no-cache");
  if (rc == IR_OK) rc = ir_resp_header(s, "x-accel-buffering", "no");
  if (rc == IR_OK) rc = ir_resp_send_head(s, 0);
  if (rc != IR_OK) return rc; /* on_close frees x */
  char first[64];
  int n = snprintf(first, sizeof first, "retry: %d\n\n", MQ_SSE_RETRY_MS);
  sse_emit(x, first, (size_t)n, 0);
  if (resumed) sse_emit_str(x, "event: missed\ndata: {\"reason\":\"reconnect\"}\n\n");
  if (r->sse_heartbeat_ms)
    x->heartbeat = ir_timer_start(mw->w, r->sse_heartbeat_ms, r->sse_heartbeat_ms,
                                  sse_heartbeat_cb, x);
  if (!x->up) x->once = ir_timer_start(mw->w, MQ_SSE_DOWN_GRACE_MS, 0, sse_once_cb, x);
  return IR_OK;
}

void mq_sse_writable(ir_stream_t *s) {
  mq_sse *x = ir_stream_data(s);
  if (x && !x->ended) sse_flush(x);
}

void mq_sse_drain(ir_stream_t *s, uint64_t ms_left) {
  (void)ms_left;
  mq_sse *x = ir_stream_data(s);
  if (x) sse_end(x, "event: closing\ndata: {\"reason\":\"shutdown\"}\n\n");
}

void mq_sse_close(ir_stream_t *s, int reason) {
  (void)reason;
  mq_sse *x = ir_stream_data(s);
  if (!x) return;
  ir_stream_set_data(s, NULL);
  if (x->sub) mq_client_unsubscribe(x->sub);
  if (x->heartbeat) ir_timer_stop(x->heartbeat);
  if (x->once) ir_timer_stop(x->once);
  mq_count(x->mw->w, mq_metric.subscribers_open, -1);
  free(x->q);
  free(x);
}
