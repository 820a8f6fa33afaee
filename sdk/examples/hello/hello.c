/* hello.c — the example module: a greeting for GET, an echo for POST.
 *
 *   GET/HEAD  answers the route's `greeting` key plus a newline;
 *             ?delay=MS answers after MS milliseconds (a worker timer)
 *   POST/PUT  echoes the request body as it streams in, with the request's
 *             Content-Length when it had one, chunked otherwise
 *   other     405 with Allow
 *
 * It uses only the SDK (iridium/iridium.h) and is built in the tree and, in
 * the tests, out of tree against the installed SDK. It shows the parts most
 * modules need: INI keys, per-route instance data, per-stream state from
 * the arena, body consumption, write backpressure and on_close.
 */
#include <stdlib.h>
#include <string.h>

#include <iridium/iridium.h>

#define MAX_DELAY_MS 10000

typedef struct hello_route {
  ir_str greeting; /* host-owned, lives as long as the instance */
} hello_route;

/* An echo in progress: bytes accepted from on_body that the response could
 * not take yet (backpressure), kept until on_writable. */
typedef struct hello_echo {
  uint8_t *held; /* malloc'd, module-owned */
  size_t held_len;
  int body_done;
  ir_timer_t *timer; /* a delayed GET */
  hello_route *route;
} hello_echo;

static const ir_config_key hello_keys[] = {
    IR_KEY(IR_KEY_STRING, "greeting", "Hello from Iridium", 0, "the text GET answers with"),
    IR_KEY_END,
};

static int hello_instance_create(ir_instance_t *inst, void **data) {
  hello_route *r = calloc(1, sizeof(*r));
  if (!r) return IR_ENOMEM;
  ir_instance_get_str(inst, "greeting", &r->greeting); /* has a default */
  *data = r;
  return IR_OK;
}

static void hello_instance_destroy(void *data) { free(data); }

static int method_is(ir_stream_t *s, const char *m) {
  ir_str got = ir_req_method(s);
  return got.len == strlen(m) && memcmp(got.ptr, m, got.len) == 0;
}

static int answer_greeting(ir_stream_t *s, hello_route *r) {
  size_t len = r->greeting.len + 1;
  char *body = ir_stream_alloc(s, len);
  if (!body) return IR_ENOMEM;
  memcpy(body, r->greeting.ptr, r->greeting.len);
  body[len - 1] = '\n';
  return ir_respond_simple(s, 200, "text/plain; charset=utf-8", body, len);
}

static void on_delay_done(ir_timer_t *t, void *data) {
  ir_stream_t *s = data;
  hello_echo *e = ir_stream_data(s);
  ir_timer_stop(t);
  e->timer = NULL;
  if (answer_greeting(s, e->route) != IR_OK) ir_stream_reset(s);
}

/* ?delay=MS, clamped; 0 when absent or malformed. */
static uint64_t requested_delay(ir_stream_t *s) {
  ir_str q = ir_req_query(s);
  if (q.len < 7 || memcmp(q.ptr, "delay=", 6) != 0) return 0;
  uint64_t ms = 0;
  for (size_t i = 6; i < q.len && q.ptr[i] >= '0' && q.ptr[i] <= '9'; i++) {
    ms = ms * 10 + (uint64_t)(q.ptr[i] - '0');
    if (ms > MAX_DELAY_MS) return MAX_DELAY_MS;
  }
  return ms;
}

static int start_echo(ir_stream_t *s) {
  ir_str ctype = {"application/octet-stream", 24};
  ir_req_header(s, "content-type", &ctype);
  int rc = ir_resp_header_n(s, "content-type", 12, ctype.ptr, ctype.len);
  int64_t cl = ir_req_content_length(s);
  ir_str clv;
  if (rc == IR_OK && cl >= 0 && ir_req_header(s, "content-length", &clv) == IR_OK)
    rc = ir_resp_header_n(s, "content-length", 14, clv.ptr, clv.len);
  return rc;
}

static int hello_on_request(ir_stream_t *s, void *instance_data) {
  hello_route *r = instance_data;
  hello_echo *e = ir_stream_alloc(s, sizeof(*e));
  if (!e) return IR_ENOMEM;
  e->route = r;
  ir_stream_set_data(s, e);
  if (method_is(s, "GET") || method_is(s, "HEAD")) {
    uint64_t delay = requested_delay(s);
    if (!delay) return answer_greeting(s, r);
    e->timer = ir_timer_start(ir_stream_worker(s), delay, 0, on_delay_done, s);
    return e->timer ? IR_OK : IR_ENOMEM;
  }
  if (method_is(s, "POST") || method_is(s, "PUT")) return start_echo(s);
  ir_resp_header(s, "allow", "GET, HEAD, POST, PUT");
  return ir_respond_simple(s, 405, "text/plain; charset=utf-8", "method not allowed\n", 19);
}

/* Writes what it can of data; keeps the rest for on_writable. Consumes the
 * bytes the response took, which lets more body in. */
static int echo_write(ir_stream_t *s, hello_echo *e, const uint8_t *data, size_t len) {
  ssize_t n = ir_resp_write(s, data, len);
  if (n == IR_EAGAIN) n = 0;
  if (n < 0) return (int)n;
  size_t rest = len - (size_t)n;
  if (rest) {
    uint8_t *grown = realloc(e->held, e->held_len + rest);
    if (!grown) return IR_ENOMEM;
    memcpy(grown + e->held_len, data + n, rest);
    e->held = grown;
    e->held_len += rest;
  }
  return IR_OK;
}

static int hello_on_body(ir_stream_t *s, const uint8_t *data, size_t len) {
  hello_echo *e = ir_stream_data(s);
  if (!method_is(s, "POST") && !method_is(s, "PUT")) return ir_stream_consume(s, len);
  if (e->held_len) { /* keep order: queue behind what is already held */
    uint8_t *grown = realloc(e->held, e->held_len + len);
    if (!grown) return IR_ENOMEM;
    memcpy(grown + e->held_len, data, len);
    e->held = grown;
    e->held_len += len;
    return IR_OK; /* consumed once written, in on_writable */
  }
  size_t before = e->held_len;
  int rc = echo_write(s, e, data, len);
  if (rc != IR_OK) return rc;
  return ir_stream_consume(s, len - (e->held_len - before));
}

static int hello_on_body_end(ir_stream_t *s) {
  hello_echo *e = ir_stream_data(s);
  e->body_done = 1;
  if ((method_is(s, "POST") || method_is(s, "PUT")) && e->held_len == 0) return ir_resp_end(s);
  return IR_OK;
}

static void hello_on_writable(ir_stream_t *s) {
  hello_echo *e = ir_stream_data(s);
  if (!e->held_len) return;
  ssize_t n = ir_resp_write(s, e->held, e->held_len);
  if (n == IR_EAGAIN) return;
  if (n < 0) {
    ir_stream_reset(s);
    return;
  }
  memmove(e->held, e->held + n, e->held_len - (size_t)n);
  e->held_len -= (size_t)n;
  ir_stream_consume(s, (size_t)n);
  if (e->held_len == 0 && e->body_done) ir_resp_end(s);
}

static void hello_on_close(ir_stream_t *s, int reason) {
  hello_echo *e = ir_stream_data(s);
  if (!e) return;
  if (e->timer) ir_timer_stop(e->timer);
  free(e->held);
}

static const ir_module_desc hello_module = {
    IR_MODULE_DESC_HEADER,
    .name = "hello",
    .version = "1.0.0",
    .keys = hello_keys,
    .instance_create = hello_instance_create,
    .instance_destroy = hello_instance_destroy,
    .on_request = hello_on_request,
    .on_body = hello_on_body,
    .on_body_end = hello_on_body_end,
    .on_writable = hello_on_writable,
    .on_close = hello_on_close,
#if IR_ABI_TARGET_MINOR >= 6
    /* A route's greeting lives in its instance alone, so routes may come
     * and go while it serves (a reload). */
    .flags = IR_MODULE_RELOADS,
#endif
};

IR_MODULE_DEFINE(hello_module)
