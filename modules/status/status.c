/* status.c — mod_status: the running server as JSON ({route}/json), as
 * Prometheus text ({route}/metrics), as an event stream ({route}/events)
 * and the live dashboard that reads it ({route}/), for clients on the
 * route's allow-list (loopback by default). The module descriptor, its keys, and
 * which answer a request gets. Built against the SDK only (1.5's
 * server_info and worker_connections). */
#include <stdlib.h>
#include <string.h>

#include "status.h"

ir_module_t *st_module;

static const ir_config_key st_keys[] = {
    IR_KEY(IR_KEY_STRING, "allow", "127.0.0.1, ::1", 0,
           "client addresses or CIDR prefixes that may see the status; others get 403"),
    IR_KEY(IR_KEY_INT, "max_listed", "1000", 0,
           "connections listed in /json (counts always cover all of them)"),
    IR_KEY_END,
};

static int st_instance_create(ir_instance_t *inst, void **data) {
  st_route *r = calloc(1, sizeof *r);
  if (!r) return IR_ENOMEM;
  ir_str allow = {0};
  int64_t max_listed = 1000;
  ir_instance_get_str(inst, "allow", &allow);
  ir_instance_get_int(inst, "max_listed", &max_listed);
  const char *bad = NULL;
  size_t bad_len = 0;
  if (max_listed < 0 || max_listed > 1000000) {
    ir_log(st_module, NULL, IR_LOG_ERROR, "route %s: max_listed must be 0 to 1000000",
           ir_instance_prefix(inst));
    free(r);
    return IR_EINVAL;
  }
  if (st_allow_parse(&r->allow, allow.ptr ? allow.ptr : "", &bad, &bad_len) != 0) {
    ir_log(st_module, NULL, IR_LOG_ERROR, "route %s: allow: '%.*s' is not an address or prefix",
           ir_instance_prefix(inst), (int)bad_len, bad ? bad : "");
    free(r);
    return IR_EINVAL;
  }
  r->max_listed = (size_t)max_listed;
  const char *prefix = ir_instance_prefix(inst);
  r->prefix_len = strcmp(prefix, "/") == 0 ? 0 : strlen(prefix);
  *data = r;
  return IR_OK;
}

static void st_instance_destroy(void *data) {
  st_route *r = data;
  st_allow_free(&r->allow);
  free(r);
}

/* The path after the route's prefix: "/json", "/metrics", "/", "". */
static ir_str tail_of(ir_stream_t *s, const st_route *r) {
  ir_str path = ir_req_path(s);
  if (path.len < r->prefix_len) return (ir_str){"", 0};
  return (ir_str){path.ptr + r->prefix_len, path.len - r->prefix_len};
}

static int is(ir_str s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static int st_on_request(ir_stream_t *s, void *data) {
  const st_route *r = data;
  ir_str method = ir_req_method(s);
  if (!st_allow_match(&r->allow, ir_req_peer(s))) {
    ir_str peer = ir_req_peer(s);
    ir_log(st_module, s, IR_LOG_INFO, "status refused to %.*s (not in allow)", (int)peer.len,
           peer.ptr);
    return ir_respond_simple(s, 403, "text/plain", "forbidden\n", 10);
  }
  if (!is(method, "GET") && !is(method, "HEAD")) {
    ir_resp_header(s, "allow", "GET, HEAD");
    return ir_respond_simple(s, 405, "text/plain", "method not allowed\n", 19);
  }
  ir_str tail = tail_of(s, r);
  if (is(tail, "/json")) return st_gather_answer(s, r, ST_JSON);
  if (is(tail, "/metrics")) return st_gather_answer(s, r, ST_PROMETHEUS);
  if (is(tail, "/events")) return st_events_start(s, r);
  if (is(tail, "/")) {
    ir_resp_header(s, "cache-control", "no-cache");
    return ir_respond_simple(s, 200, "text/html; charset=utf-8", (const char *)st_dashboard_html,
                             st_dashboard_html_len);
  }
  if (is(tail, "")) { /* the page's relative URLs need the slash */
    ir_str path = ir_req_path(s);
    char *to = malloc(path.len + 2);
    if (!to) return IR_ENOMEM;
    memcpy(to, path.ptr, path.len);
    memcpy(to + path.len, "/", 2);
    ir_resp_header(s, "location", to);
    free(to);
    return ir_respond_simple(s, 301, "text/plain", "moved\n", 6);
  }
  return ir_respond_simple(s, 404, "text/plain", "not found\n", 10);
}

static void st_on_writable(ir_stream_t *s) { st_req_writable(s); }

static void st_on_drain(ir_stream_t *s, uint64_t ms_left) {
  (void)ms_left;
  st_req_drain(s);
}

static void st_on_close(ir_stream_t *s, int reason) {
  (void)reason;
  st_req_closed(s);
}

static int st_worker_init(ir_module_t *m, ir_worker_t *w) {
  (void)m;
  if (ir_worker_index(w) == 0) st_history_start(w);
  return IR_OK;
}

static void st_worker_exit(ir_module_t *m, ir_worker_t *w) {
  (void)m;
  if (ir_worker_index(w) == 0) st_history_stop();
}

static int st_init(ir_module_t *m) {
  st_module = m;
  return IR_OK;
}

static const ir_module_desc status_module = {
    IR_MODULE_DESC_HEADER,
    .name = "status",
    .version = "1.0.0",
    .keys = st_keys,
    .init = st_init,
    .instance_create = st_instance_create,
    .instance_destroy = st_instance_destroy,
    .worker_init = st_worker_init,
    .worker_exit = st_worker_exit,
    .on_request = st_on_request,
    .on_writable = st_on_writable,
    .on_close = st_on_close,
    .on_stream_drain = st_on_drain,
    .flags = IR_MODULE_RELOADS, /* a route holds only its settings */
};

IR_MODULE_DEFINE(status_module)
