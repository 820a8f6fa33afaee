/* counters.c — the SDK metrics example (sdk/README.md, "Metrics").
 *
 *   mode = count  counts every request by method, and by ?user= (a label
 *                 taken from client data: the host caps its series);
 *                 ?hold=MS answers after MS ms, so the in-flight gauge is
 *                 seen going up and down
 *   mode = list   every module's metrics, as Prometheus text
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iridium/iridium.h>

static ir_metric_t *requests;  /* counters_requests_total{method} */
static ir_metric_t *visits;    /* counters_visits_total{user} */
static ir_series_t *in_flight; /* counters_in_flight: the gauge has one series */

static const ir_config_key counters_keys[] = {
    IR_KEY(IR_KEY_STRING, "mode", "count", 0, "count: count requests; list: show metrics"),
    IR_KEY_END,
};

static int counters_init(ir_module_t *m) {
  static const char *const by_method[] = {"method"};
  static const char *const by_user[] = {"user"};
  requests = ir_metric_register(m, "counters_requests_total", IR_METRIC_COUNTER,
                                "Requests, by method.", by_method, 1);
  visits = ir_metric_register(m, "counters_visits_total", IR_METRIC_COUNTER,
                              "Requests, by the ?user= they named.", by_user, 1);
  ir_metric_t *gauge = ir_metric_register(m, "counters_in_flight", IR_METRIC_GAUGE,
                                          "Requests being answered.", NULL, 0);
  in_flight = gauge ? ir_metric_series(gauge, NULL, 0) : NULL;
  if (!requests || !visits || !in_flight) return IR_EINVAL;
  /* What the host refuses (each NULL, with a line in the error log). */
  static const char *const nine[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
  int refused = !ir_metric_register(m, "2xx_total", IR_METRIC_COUNTER, "bad name", NULL, 0) +
                !ir_metric_register(m, "counters_in_flight", IR_METRIC_GAUGE, "taken", NULL, 0) +
                !ir_metric_register(m, "counters_odd", 7, "no such type", NULL, 0) +
                !ir_metric_register(m, "counters_wide", IR_METRIC_GAUGE, "9 labels", nine, 9);
  ir_log(m, NULL, IR_LOG_INFO, "%d of 4 bad registrations refused", refused);
  return IR_OK;
}

static int counters_instance_create(ir_instance_t *inst, void **data) {
  ir_str mode;
  ir_instance_get_str(inst, "mode", &mode);
  *data = (void *)(uintptr_t)(mode.len == 4 && memcmp(mode.ptr, "list", 4) == 0);
  return IR_OK;
}

/* The value of key in the query ("a=1&user=x"), or an empty string. */
static ir_str query_value(ir_stream_t *s, const char *key) {
  ir_str q = ir_req_query(s);
  size_t klen = strlen(key);
  for (size_t i = 0; i < q.len;) {
    size_t end = i;
    while (end < q.len && q.ptr[end] != '&') end++;
    if (end - i > klen && memcmp(q.ptr + i, key, klen) == 0 && q.ptr[i + klen] == '=')
      return (ir_str){q.ptr + i + klen + 1, end - i - klen - 1};
    i = end + 1;
  }
  return (ir_str){"", 0};
}

/* ---- mode = list: Prometheus text ---- */

typedef struct text {
  char *buf; /* malloc'd */
  size_t len, cap;
  const char *last_name; /* HELP and TYPE once per metric */
} text;

static void put(text *t, const char *bytes, size_t n) {
  if (t->len + n > t->cap) {
    size_t cap = (t->len + n) * 2;
    char *grown = realloc(t->buf, cap);
    if (!grown) return; /* the listing comes out short */
    t->buf = grown;
    t->cap = cap;
  }
  memcpy(t->buf + t->len, bytes, n);
  t->len += n;
}

static void put_str(text *t, const char *s) { put(t, s, strlen(s)); }

static void put_sample(const ir_metric_sample *sm, void *data) {
  text *t = data;
  char line[64];
  if (!t->last_name || strcmp(t->last_name, sm->name) != 0) {
    put_str(t, "# HELP "), put_str(t, sm->name), put_str(t, " "), put_str(t, sm->help);
    put_str(t, "\n# TYPE "), put_str(t, sm->name);
    put_str(t, sm->type == IR_METRIC_COUNTER ? " counter\n" : " gauge\n");
    t->last_name = sm->name;
  }
  put_str(t, sm->name);
  for (size_t i = 0; i < sm->nlabels; i++) {
    put_str(t, i ? "," : "{"), put_str(t, sm->label_names[i]);
    put_str(t, "=\"");
    for (size_t k = 0; k < sm->label_values[i].len; k++) { /* escape \ " and newline */
      char c = sm->label_values[i].ptr[k];
      if (c == '\\' || c == '"') put(t, "\\", 1);
      if (c == '\n') put(t, "\\n", 2);
      else put(t, &c, 1);
    }
    put_str(t, "\"");
  }
  snprintf(line, sizeof line, "%s %lld\n", sm->nlabels ? "}" : "", (long long)sm->value);
  put_str(t, line);
}

static int answer_list(ir_stream_t *s) {
  text t = {0};
  ir_metric_list(put_sample, &t);
  int rc = ir_respond_simple(s, 200, "text/plain; version=0.0.4", t.buf, t.len);
  free(t.buf);
  return rc;
}

/* ---- mode = count ---- */

static int answer_counted(ir_stream_t *s) {
  char worker[12];
  snprintf(worker, sizeof worker, "%u", ir_worker_index(ir_stream_worker(s)));
  ir_resp_header(s, "x-worker", worker); /* which worker's part it went to */
  return ir_respond_simple(s, 200, "text/plain", "counted\n", 8);
}

static void on_hold_done(ir_timer_t *t, void *data) {
  ir_timer_stop(t);
  ir_stream_set_data(data, in_flight); /* no timer any more */
  if (answer_counted(data) != IR_OK) ir_stream_reset(data);
}

static int counters_on_request(ir_stream_t *s, void *instance_data) {
  if (instance_data) return answer_list(s);
  ir_worker_t *w = ir_stream_worker(s);
  ir_str method = ir_req_method(s);
  ir_str user = query_value(s, "user");
  /* metric_series takes a lock: a module with a few known label values
   * would look them up once, in worker_init. */
  ir_metric_add(w, ir_metric_series(requests, &method, 1), 1);
  ir_series_t *visit = user.len ? ir_metric_series(visits, &user, 1) : NULL;
  if (visit) ir_metric_add(w, visit, 1);
  if (user.len && !visit) ir_resp_header(s, "x-counted", "no"); /* past the cap */
  ir_metric_add(w, in_flight, 1); /* on_close takes it down again */
  ir_str hold = query_value(s, "hold");
  uint64_t ms = hold.len ? strtoull(hold.ptr, NULL, 10) : 0;
  ir_stream_set_data(s, in_flight);
  if (ms == 0 || ms > 10000) return answer_counted(s);
  ir_timer_t *t = ir_timer_start(w, ms, 0, on_hold_done, s);
  ir_stream_set_data(s, t ? (void *)t : in_flight);
  return t ? IR_OK : IR_ENOMEM;
}

static void counters_on_close(ir_stream_t *s, int reason) {
  (void)reason;
  void *held = ir_stream_data(s); /* NULL: not counted (mode = list) */
  if (!held) return;
  if (held != in_flight) ir_timer_stop(held); /* the client left while held */
  ir_metric_add(ir_stream_worker(s), in_flight, -1);
}

static const ir_module_desc counters_module = {
    IR_MODULE_DESC_HEADER,
    .name = "counters",
    .version = "1.0.0",
    .keys = counters_keys,
    .init = counters_init,
    .instance_create = counters_instance_create,
    .on_request = counters_on_request,
    .on_close = counters_on_close,
};

IR_MODULE_DEFINE(counters_module)
