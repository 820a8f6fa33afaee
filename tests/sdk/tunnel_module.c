/* tunnel_module.c — an "echo" upgrade for tests/sdk/test_tunnel.py: one
 * module code path that serves HTTP/1.1 Upgrade and HTTP/2 extended CONNECT
 * (RFC 8441) alike, built like a third party's module (SDK only, hidden
 * visibility, no link to the host). It never looks at the protocol: the
 * host's ABI 1.1 contract (host.h, req_upgrade) is what it relies on.
 *
 * Under the route's prefix (the test uses /t):
 *   upgrade "echo"     status 101 plus `x-tunnel: accepted`; then every byte
 *                      the peer sends is written back (IR_EAGAIN and partial
 *                      writes wait for on_writable; bytes are consumed only
 *                      once written). The peer ending its side (on_body_end)
 *                      ends ours once everything is echoed. ?close_after=N
 *                      ends the tunnel from our side after N echoed bytes
 *                      (later bytes are consumed and dropped).
 *                      ?accept_after=MS sends the 101 only MS ms later
 *                      (from a timer): an upgrade request owes no head
 *                      within handler_timeout.
 *   /stats             counters as "key=value" lines (no upgrade needed)
 *   /hang              never answers: handler_timeout's 504 ends it
 *   anything else      426 Upgrade Required, asking for `upgrade: echo`
 *
 * Counters are atomics (the server has several workers). on_close is counted
 * per reason for accepted tunnels, so the test can check it came exactly
 * once per tunnel and with which reason.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iridium/iridium.h>

#define NREASONS 5 /* IR_CLOSE_DONE .. IR_CLOSE_SHUTDOWN */
#define CLOSE_AFTER_MAX (1u << 30)
#define ACCEPT_AFTER_MAX 60000u /* ms */

/* ---- module-wide counters ---- */

static atomic_long g_requests; /* on_request calls */
static atomic_long g_closes;   /* on_close calls, any stream */
static atomic_long g_tunnels;  /* 101 sent */
static atomic_long g_tunnel_closes[NREASONS];
static atomic_long g_tunnel_closes_other;  /* a reason outside the enum */
static atomic_long g_refused;              /* 426 answers */
static atomic_long g_echoed;               /* bytes written back, all tunnels */
static atomic_long g_writable;             /* on_writable calls that wrote held bytes */
static atomic_long g_misordered;           /* on_body/on_body_end after on_body_end */
static atomic_long g_write_errors;         /* resp_write/resp_end/consume failures */
static atomic_int g_upgrade_header_rc = 1; /* last ir_resp_header("upgrade") on a 426 */

static const char *const reason_names[NREASONS] = {"done", "aborted", "error", "timeout",
                                                   "shutdown"};

/* ---- per-stream state (arena; the held bytes are malloc'd) ---- */

typedef struct tunnel {
  int is_tunnel;        /* 101 was sent */
  int peer_done;        /* on_body_end came */
  int ended;            /* resp_end was called */
  int limited;          /* ?close_after given */
  uint64_t close_after; /* bytes to echo before ending */
  uint64_t taken;       /* bytes accepted for echoing (written or held) */
  uint8_t *held;        /* accepted, not yet written (module-owned) */
  size_t held_len;
  ir_timer_t *accept_timer; /* ?accept_after: the 101 is still to come */
} tunnel;

static int str_is(ir_str s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* ?KEY=N (decimal, at most max); 0 when absent or malformed, *given
 * tells. key includes the '='. */
static uint64_t query_number(ir_stream_t *s, const char *key, uint64_t max, int *given) {
  const size_t kl = strlen(key);
  ir_str q = ir_req_query(s);
  *given = 0;
  for (size_t i = 0; i + kl <= q.len; i++) {
    if ((i && q.ptr[i - 1] != '&') || memcmp(q.ptr + i, key, kl) != 0) continue;
    uint64_t v = 0;
    size_t k = i + kl;
    if (k >= q.len || q.ptr[k] < '0' || q.ptr[k] > '9') return 0;
    for (; k < q.len && q.ptr[k] >= '0' && q.ptr[k] <= '9'; k++) {
      v = v * 10u + (uint64_t)(q.ptr[k] - '0');
      if (v > max) v = max;
    }
    *given = 1;
    return v;
  }
  return 0;
}

/* The request path below the route's prefix ("/stats"), or the whole path
 * when it does not start with the prefix. */
static ir_str sub_path(ir_stream_t *s, void *instance_data) {
  const char *prefix = instance_data;
  size_t pl = strlen(prefix);
  ir_str p = ir_req_path(s);
  if (pl > 1 && p.len >= pl && memcmp(p.ptr, prefix, pl) == 0) {
    p.ptr += pl;
    p.len -= pl;
  }
  return p;
}

/* Formats a text body into the arena and answers it. */
__attribute__((format(printf, 3, 4))) static int answer(ir_stream_t *s, int status, const char *fmt,
                                                        ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return IR_EINVAL;
  char *body = ir_stream_alloc(s, (size_t)n + 1);
  if (!body) return IR_ENOMEM;
  va_start(ap, fmt);
  vsnprintf(body, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return ir_respond_simple(s, status, "text/plain", body, (size_t)n);
}

static int answer_stats(ir_stream_t *s) {
  long r[NREASONS];
  long sum = 0;
  for (int i = 0; i < NREASONS; i++) sum += r[i] = atomic_load(&g_tunnel_closes[i]);
  long other = atomic_load(&g_tunnel_closes_other);
  return answer(s, 200,
                "requests=%ld\ncloses=%ld\ntunnels=%ld\ntunnel_closes=%ld\n"
                "close_%s=%ld\nclose_%s=%ld\nclose_%s=%ld\nclose_%s=%ld\nclose_%s=%ld\n"
                "close_other=%ld\nrefused=%ld\nechoed=%ld\nwritable=%ld\nmisordered=%ld\n"
                "write_errors=%ld\nupgrade_header_rc=%d\n",
                atomic_load(&g_requests), atomic_load(&g_closes), atomic_load(&g_tunnels),
                sum + other, reason_names[0], r[0], reason_names[1], r[1], reason_names[2], r[2],
                reason_names[3], r[3], reason_names[4], r[4], other, atomic_load(&g_refused),
                atomic_load(&g_echoed), atomic_load(&g_writable), atomic_load(&g_misordered),
                atomic_load(&g_write_errors), atomic_load(&g_upgrade_header_rc));
}

/* Ends our side once nothing is held and the peer ended its side or the
 * close_after budget is spent. */
static int maybe_end(ir_stream_t *s, tunnel *t) {
  if (t->ended || t->held_len) return IR_OK;
  if (!t->peer_done && !(t->limited && t->taken >= t->close_after)) return IR_OK;
  t->ended = 1;
  int rc = ir_resp_end(s);
  if (rc != IR_OK) atomic_fetch_add(&g_write_errors, 1);
  return rc;
}

static int hold(tunnel *t, const uint8_t *data, size_t len) {
  if (!len) return IR_OK;
  uint8_t *grown = realloc(t->held, t->held_len + len);
  if (!grown) return IR_ENOMEM;
  memcpy(grown + t->held_len, data, len);
  t->held = grown;
  t->held_len += len;
  return IR_OK;
}

/* Writes what the response takes now; returns the count or an error. */
static ssize_t write_some(ir_stream_t *s, const uint8_t *data, size_t len) {
  ssize_t n = ir_resp_write(s, data, len);
  if (n == IR_EAGAIN) return 0;
  if (n < 0) {
    atomic_fetch_add(&g_write_errors, 1);
    return n;
  }
  atomic_fetch_add(&g_echoed, n);
  return n;
}

/* Sends the 101: from here on the stream echoes. */
static int accept_tunnel(ir_stream_t *s, tunnel *t) {
  int rc = ir_resp_status(s, 101);
  if (rc == IR_OK) rc = ir_resp_header(s, "x-tunnel", "accepted");
  if (rc == IR_OK) rc = ir_resp_send_head(s, 0);
  if (rc != IR_OK) return rc;
  t->is_tunnel = 1;
  atomic_fetch_add(&g_tunnels, 1);
  return maybe_end(s, t); /* close_after=0 */
}

static void accept_late(ir_timer_t *timer, void *data) {
  ir_stream_t *s = data;
  tunnel *t = ir_stream_data(s);
  ir_timer_stop(timer);
  t->accept_timer = NULL;
  if (accept_tunnel(s, t) != IR_OK) ir_stream_reset(s);
}

static int tunnel_on_request(ir_stream_t *s, void *instance_data) {
  atomic_fetch_add(&g_requests, 1);
  tunnel *t = ir_stream_alloc(s, sizeof(*t));
  if (!t) return IR_ENOMEM;
  memset(t, 0, sizeof(*t));
  ir_stream_set_data(s, t);

  if (str_is(ir_req_upgrade(s), "echo")) {
    t->close_after = query_number(s, "close_after=", CLOSE_AFTER_MAX, &t->limited);
    int later;
    uint64_t ms = query_number(s, "accept_after=", ACCEPT_AFTER_MAX, &later);
    if (!later) return accept_tunnel(s, t);
    t->accept_timer = ir_timer_start(ir_stream_worker(s), ms, 0, accept_late, s);
    return t->accept_timer ? IR_OK : IR_ENOMEM;
  }
  if (str_is(sub_path(s, instance_data), "/stats")) return answer_stats(s);
  if (str_is(sub_path(s, instance_data), "/hang")) return IR_OK;

  atomic_fetch_add(&g_refused, 1);
  /* RFC 9110 15.5.22: a 426 names the protocol to upgrade to. */
  atomic_store(&g_upgrade_header_rc, ir_resp_header(s, "upgrade", "echo"));
  return answer(s, 426, "this route only speaks the echo upgrade\n");
}

static int tunnel_on_body(ir_stream_t *s, const uint8_t *data, size_t len) {
  tunnel *t = ir_stream_data(s);
  if (!t || !t->is_tunnel) return ir_stream_consume(s, len);
  if (t->peer_done) atomic_fetch_add(&g_misordered, 1);
  size_t take = len;
  if (t->ended) take = 0;
  if (t->limited && t->taken + take > t->close_after) take = (size_t)(t->close_after - t->taken);
  t->taken += take;
  size_t written = 0;
  if (!t->held_len && take) { /* in order: nothing older is waiting */
    ssize_t n = write_some(s, data, take);
    if (n < 0) return (int)n;
    written = (size_t)n;
  }
  int rc = hold(t, data + written, take - written);
  if (rc != IR_OK) return rc;
  /* Done with what went out and with what is dropped past close_after;
   * held bytes are consumed once on_writable writes them. */
  size_t done = written + (len - take);
  if (done) {
    rc = ir_stream_consume(s, done);
    if (rc != IR_OK) {
      atomic_fetch_add(&g_write_errors, 1);
      return rc;
    }
  }
  return maybe_end(s, t);
}

static int tunnel_on_body_end(ir_stream_t *s) {
  tunnel *t = ir_stream_data(s);
  if (!t || !t->is_tunnel) return IR_OK;
  if (t->peer_done) atomic_fetch_add(&g_misordered, 1);
  t->peer_done = 1;
  return maybe_end(s, t);
}

static void tunnel_on_writable(ir_stream_t *s) {
  tunnel *t = ir_stream_data(s);
  if (!t || !t->is_tunnel || !t->held_len) return;
  ssize_t n = write_some(s, t->held, t->held_len);
  if (n < 0) {
    ir_stream_reset(s);
    return;
  }
  if (n == 0) return;
  atomic_fetch_add(&g_writable, 1);
  memmove(t->held, t->held + n, t->held_len - (size_t)n);
  t->held_len -= (size_t)n;
  if (ir_stream_consume(s, (size_t)n) != IR_OK) {
    atomic_fetch_add(&g_write_errors, 1);
    ir_stream_reset(s);
    return;
  }
  if (maybe_end(s, t) != IR_OK) ir_stream_reset(s);
}

static void tunnel_on_close(ir_stream_t *s, int reason) {
  atomic_fetch_add(&g_closes, 1);
  tunnel *t = ir_stream_data(s);
  if (!t) return;
  if (t->accept_timer) ir_timer_stop(t->accept_timer);
  if (t->is_tunnel) {
    ir_log(NULL, s, IR_LOG_INFO, "tunnel closed: %s, %llu bytes taken",
           reason >= 0 && reason < NREASONS ? reason_names[reason] : "?",
           (unsigned long long)t->taken);
    if (reason >= 0 && reason < NREASONS)
      atomic_fetch_add(&g_tunnel_closes[reason], 1);
    else
      atomic_fetch_add(&g_tunnel_closes_other, 1);
  }
  free(t->held);
  t->held = NULL;
}

/* The route's prefix is the instance data (host-owned, lives as long as the
 * module is loaded). */
static int tunnel_instance_create(ir_instance_t *inst, void **data) {
  *data = (void *)ir_instance_prefix(inst);
  return IR_OK;
}

static const ir_module_desc tunnel_module = {
    IR_MODULE_DESC_HEADER,
    .name = "tunnel",
    .version = "1.0.0",
    .instance_create = tunnel_instance_create,
    .on_request = tunnel_on_request,
    .on_body = tunnel_on_body,
    .on_body_end = tunnel_on_body_end,
    .on_writable = tunnel_on_writable,
    .on_close = tunnel_on_close,
    .flags = IR_MODULE_UPGRADES,
};

IR_MODULE_DEFINE(tunnel_module)
