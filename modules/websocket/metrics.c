/* metrics.c — mod_websocket's SDK metrics: registered once in init, their
 * fixed series looked up then, close codes made on first use (at most the
 * SDK's 1024 series: codes come from peers). The `metrics` mode answers
 * them as Prometheus text. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsmod.h"

ws_metrics ws_metric;

static ir_series_t *series1(ir_metric_t *mt, const char *value) {
  ir_str v = {value, strlen(value)};
  return mt ? ir_metric_series(mt, &v, 1) : NULL;
}

int ws_metrics_register(ir_module_t *m) {
  static const char *const protocol[] = {"protocol"};
  static const char *const protocol_deflate[] = {"protocol", "deflate"};
  static const char *const direction[] = {"direction"};
  static const char *const code[] = {"code"};
  static const char *const policy[] = {"policy"};
  static const char *const protos[2] = {"h1", "h2"};
  static const char *const onoff[2] = {"off", "on"};
  ir_metric_t *open = ir_metric_register(m, "websocket_sessions_open", IR_METRIC_GAUGE,
                                         "WebSocket sessions open", protocol, 1);
  ir_metric_t *total = ir_metric_register(m, "websocket_sessions_total", IR_METRIC_COUNTER,
                                          "WebSocket sessions opened", protocol_deflate, 2);
  ir_metric_t *messages = ir_metric_register(m, "websocket_messages_total", IR_METRIC_COUNTER,
                                             "WebSocket data messages", direction, 1);
  ir_metric_t *bytes = ir_metric_register(m, "websocket_bytes_total", IR_METRIC_COUNTER,
                                          "WebSocket message payload bytes, uncompressed",
                                          direction, 1);
  ir_metric_t *wire = ir_metric_register(
      m, "websocket_wire_bytes_total", IR_METRIC_COUNTER,
      "WebSocket frame payload bytes as sent or received (compressed when deflated)", direction, 1);
  ws_metric.closes = ir_metric_register(m, "websocket_closes_total", IR_METRIC_COUNTER,
                                        "WebSocket sessions ended, by close code", code, 1);
  ir_metric_t *slow =
      ir_metric_register(m, "websocket_slow_consumer_total", IR_METRIC_COUNTER,
                         "Broadcast messages a slow member cost: sessions closed, or messages dropped",
                         policy, 1);
  ir_metric_t *drops =
      ir_metric_register(m, "websocket_room_drops_total", IR_METRIC_COUNTER,
                         "Messages of rooms with a room_topic dropped: the broker was unreachable",
                         NULL, 0);
  if (!open || !total || !messages || !bytes || !wire || !ws_metric.closes || !slow || !drops)
    return -1;
  ws_metric.room_drops = ir_metric_series(drops, NULL, 0);
  for (int p = 0; p < 2; p++) {
    ws_metric.open[p] = series1(open, protos[p]);
    for (int d = 0; d < 2; d++) {
      ir_str v[2] = {{protos[p], 2}, {onoff[d], strlen(onoff[d])}};
      ws_metric.total[p][d] = ir_metric_series(total, v, 2);
    }
  }
  ws_metric.messages[0] = series1(messages, "in");
  ws_metric.messages[1] = series1(messages, "out");
  ws_metric.bytes[0] = series1(bytes, "in");
  ws_metric.bytes[1] = series1(bytes, "out");
  ws_metric.wire[0] = series1(wire, "in");
  ws_metric.wire[1] = series1(wire, "out");
  ws_metric.slow[0] = series1(slow, "close");
  ws_metric.slow[1] = series1(slow, "drop_oldest");
  return 0;
}

void ws_metrics_close(ir_worker_t *w, unsigned code) {
  char text[8];
  snprintf(text, sizeof(text), "%u", code);
  ir_series_t *se = series1(ws_metric.closes, text);
  if (se) ir_metric_add(w, se, 1);
}

/* ---- the metrics route ---- */

typedef struct text {
  char *p;
  size_t len;
  size_t cap;
  char last_name[208]; /* the metric whose HELP and TYPE went out */
  int failed;
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      t->failed = 1;
      return;
    }
    if (t->p && t->len + (size_t)n < t->cap) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = t->cap ? t->cap * 2 : 4096;
    while (cap < t->len + (size_t)n + 1) cap *= 2;
    char *g = realloc(t->p, cap);
    if (!g) {
      t->failed = 1;
      return;
    }
    t->p = g;
    t->cap = cap;
  }
}

/* A label value in the exposition format: \, " and newline escaped. */
static void put_value(text *t, ir_str v) {
  for (size_t i = 0; i < v.len; i++) {
    char c = v.ptr[i];
    if (c == '\\' || c == '"') put(t, "\\%c", c);
    else if (c == '\n') put(t, "\\n");
    else put(t, "%c", c);
  }
}

static void visit(const ir_metric_sample *m, void *data) {
  text *t = data;
  if (strcmp(m->module, ir_module_name(ws_module)) != 0) return;
  if (strcmp(t->last_name, m->name) != 0) {
    put(t, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
        m->type == IR_METRIC_GAUGE ? "gauge" : "counter");
    snprintf(t->last_name, sizeof(t->last_name), "%s", m->name);
  }
  put(t, "%s", m->name);
  for (size_t i = 0; i < m->nlabels; i++) {
    put(t, "%s%s=\"", i ? "," : "{", m->label_names[i]);
    put_value(t, m->label_values[i]);
    put(t, "\"%s", i + 1 == m->nlabels ? "}" : "");
  }
  put(t, " %lld\n", (long long)m->value);
}

int ws_metrics_answer(ir_stream_t *s) {
  text t;
  memset(&t, 0, sizeof(t));
  ir_metric_list(visit, &t);
  int rc = t.failed ? IR_ENOMEM
                    : ir_respond_simple(s, 200, "text/plain; version=0.0.4", t.p ? t.p : "", t.len);
  free(t.p);
  return rc;
}
