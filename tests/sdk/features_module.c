/* features_module.c — a test module that exercises every SDK service the
 * host offers, for tests/sdk/test_features.py. Built like a third party's
 * module: only <iridium/iridium.h>, hidden visibility, no link to the host.
 *
 * Routes, under the route's prefix (the test uses /f):
 *   /work?n=N&sleep=MS  ir_work_submit: FNV-1a of N pattern bytes on the
 *                       thread pool (after sleeping MS), answered from done
 *   /post               a plain pthread sleeps 50 ms, then ir_worker_post
 *   /service            service registry lookups (registered in init)
 *   /workers            worker_init/worker_exit counts and per-worker ticks
 *   /stats              on_request / on_close counters, arena checks
 *   /hang               never answers; only on_close ends it
 *   /reset              half a response, then ir_stream_reset
 *   /trailers           chunked "abc" with two trailers
 *   /cltrailer          ir_resp_trailer after Content-Length (IR_ESTATE)
 *   /big?mb=N           N MiB of a pattern with Content-Length, honouring
 *                       IR_EAGAIN and partial writes (on_writable)
 *   /misuse             wrong SDK calls, each answered with an error code
 *   /fail               on_request returns IR_EIO (the host answers 500)
 *   /info               module, instance and request accessors
 *   /ref                ir_resp_header_ref (ABI 1.3): x-ref from a buffer
 *                       freed in on_close, x-lit from a literal, and the
 *                       codes for an upper-case name and a CR LF value
 *   /refbody            ir_resp_write_ref (ABI 1.3): kept, copied, kept
 *                       pieces ("A" * 3000, "b" * 100, "C" * 5000 + "\n")
 *                       from a buffer freed in on_close, in that order
 *   /body (POST)        FNV-1a and length of the request body
 *   /late?ms=N          the head at once, "late\n" and the end N ms later
 *   /short?head=1       Content-Length 10, 5 bytes, ir_resp_end (IR_EINVAL)
 *   /simple?mb=N        N MiB in one ir_respond_simple (the host keeps the rest)
 * Key fail_worker_init = N makes worker_init fail on worker N; fini's log
 * line counts worker_exit calls for a worker whose worker_init failed.
 * Answers are "key=value" text, easy to parse in Python.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iridium/iridium.h>

#define MAX_WORKERS 64
#define BIG_MAX_WRITE (64u * 1024u)
#define POST_DELAY_MS 50
#define FIELD_WIDTH 4 /* "%4d": every misuse code takes the same room */

/* ---- module-wide state ---- */

static ir_module_t *g_module; /* set in init, read-only afterwards */
static uint8_t g_pattern[BIG_MAX_WRITE + 256];
static int g_register_rc = 1;  /* first service_register */
static int g_duplicate_rc = 1; /* the same name + version again */
static int g_module_data_tag;  /* module_set_data points here */

static atomic_long g_requests, g_closes, g_aborted, g_done_closes, g_orphans, g_misaligned;
static atomic_long g_error_closes, g_timeout_closes;
static atomic_long g_writable, g_ticks, g_body_chunks;
static atomic_int g_workers_init, g_workers_exit;

/* Each slot is touched only by its worker's thread. */
static ir_timer_t *g_worker_timers[MAX_WORKERS];
static int g_worker_ok[MAX_WORKERS]; /* worker_init succeeded there */
static uint64_t g_tick_ms = 10;
static int64_t g_fail_worker_init = -1; /* worker_init fails on this worker (key) */
static atomic_int g_exit_without_init;  /* worker_exit where worker_init failed */

/* Poster threads, joined in fini so that none outlives the module's code. */
typedef struct poster {
  pthread_t thread;
  struct poster *next;
} poster;
static pthread_mutex_t g_posters_lock = PTHREAD_MUTEX_INITIALIZER;
static poster *g_posters;

/* The service this module offers to others. */
typedef struct features_counter {
  uint32_t struct_size;
  int (*value)(void);
} features_counter;

static int counter_value(void) { return 42; }
static const features_counter g_counter = {sizeof(features_counter), counter_value};

/* One route's settings (instance data). */
typedef struct froute {
  const char *prefix; /* host-owned */
  size_t prefix_len;
  ir_module_t *module;
  ir_str label;
  int64_t write_size;
  int get_str_on_int_rc; /* instance_get_int on a STRING key */
  int get_unknown_rc;    /* instance_get_str on an unknown key */
  int get_optional_rc;   /* instance_get_str on an unset key without default */
} froute;

/* Work or a post in flight: module-owned (malloc), outlives the stream if
 * the client goes away; on_close clears s. */
typedef struct job {
  ir_stream_t *s;
  ir_worker_t *w;
  pthread_t loop_thread;
  long loop_tid;
  uint64_t n, sleep_ms, start_ms;
  uint64_t result;
  long side_tid;     /* the thread pool or poster thread */
  int side_off_loop; /* side thread != loop thread */
} job;

/* Per-stream state, from the stream's arena. */
typedef struct fstream {
  job *job;
  uint64_t big_total, big_sent;
  int big_done;
  int closed;
  int is_body; /* POST /body */
  uint64_t body_len, body_fnv;
  int over_consume_rc;
  char *ref_value; /* /ref: handed to ir_resp_header_ref, freed in on_close */
  char *ref_body;  /* /refbody: handed to ir_resp_write_ref, freed in on_close */
  ir_timer_t *late; /* /late: the timer that ends the body; stopped in on_close */
} fstream;

/* ---- small helpers ---- */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(uint64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static uint8_t pattern_byte(uint64_t i) { return (uint8_t)((i * 31u + 7u) & 0xffu); }

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

#define FNV_OFFSET 14695981039346656037ull

/* FNV-1a of the first n pattern bytes: the thread pool's "real work". */
static uint64_t fnv1a_pattern(uint64_t n) {
  uint64_t h = FNV_OFFSET;
  for (uint64_t i = 0; i < n; i++) h = (h ^ pattern_byte(i)) * 1099511628211ull;
  return h;
}

static int str_is(ir_str s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* A decimal query parameter, clamped to max; def when absent or bad. */
static uint64_t query_u64(ir_stream_t *s, const char *key, uint64_t def, uint64_t max) {
  ir_str q = ir_req_query(s);
  size_t kl = strlen(key);
  for (size_t i = 0; i + kl < q.len; i++) {
    if ((i && q.ptr[i - 1] != '&') || memcmp(q.ptr + i, key, kl) != 0 || q.ptr[i + kl] != '=')
      continue;
    uint64_t v = 0;
    size_t k = i + kl + 1;
    if (k >= q.len || q.ptr[k] < '0' || q.ptr[k] > '9') return def;
    for (; k < q.len && q.ptr[k] >= '0' && q.ptr[k] <= '9'; k++) {
      v = v * 10u + (uint64_t)(q.ptr[k] - '0');
      if (v > max) return max;
    }
    return v;
  }
  return def;
}

/* Formats a text body into the arena and answers it with Content-Length. */
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

/* Sends the head (the module set Content-Length), the body and the end. */
static int send_whole(ir_stream_t *s, const char *body, size_t len) {
  int rc = ir_resp_send_head(s, 0);
  if (rc != IR_OK) return rc;
  ssize_t w = ir_resp_write(s, body, len);
  if (w < 0) return (int)w;
  if ((size_t)w != len) return IR_EIO;
  return ir_resp_end(s);
}

static job *job_new(ir_stream_t *s) {
  job *j = calloc(1, sizeof(*j));
  if (!j) return NULL;
  j->s = s;
  j->w = ir_stream_worker(s);
  j->loop_thread = pthread_self();
  j->loop_tid = (long)gettid();
  j->start_ms = now_ms();
  return j;
}

/* The job finished on the loop: detach it from its stream, if still open. */
static ir_stream_t *job_finish(job *j) {
  ir_stream_t *s = j->s;
  if (s) ((fstream *)ir_stream_data(s))->job = NULL;
  return s;
}

/* ---- /work: the thread pool ---- */

static void work_run(void *data) {
  job *j = data;
  j->side_tid = (long)gettid();
  j->side_off_loop = !pthread_equal(pthread_self(), j->loop_thread);
  if (j->sleep_ms) sleep_ms(j->sleep_ms);
  j->result = fnv1a_pattern(j->n);
}

static void work_done(void *data, int status) {
  job *j = data;
  ir_stream_t *s = job_finish(j);
  if (s) {
    int on_loop = pthread_equal(pthread_self(), j->loop_thread);
    int rc = answer(s, 200,
                    "fnv=%016" PRIx64 " n=%" PRIu64 " status=%d loop_tid=%ld work_tid=%ld "
                    "done_tid=%ld off_loop=%d done_on_loop=%d worker=%u\n",
                    j->result, j->n, status, j->loop_tid, j->side_tid, (long)gettid(),
                    j->side_off_loop, on_loop, ir_worker_index(j->w));
    if (rc != IR_OK) ir_stream_reset(s);
  }
  free(j);
}

static int route_work(ir_stream_t *s, fstream *st) {
  job *j = job_new(s);
  if (!j) return IR_ENOMEM;
  j->n = query_u64(s, "n", 1000, 1u << 30);
  j->sleep_ms = query_u64(s, "sleep", 0, 5000);
  int rc = ir_work_submit(j->w, work_run, work_done, j);
  if (rc != IR_OK) {
    free(j);
    return rc;
  }
  st->job = j;
  ir_log(g_module, s, IR_LOG_INFO, "work submitted: n=%" PRIu64, j->n);
  return IR_OK;
}

/* ---- /post: another thread posts back to the worker ---- */

static void post_cb(void *data) {
  job *j = data;
  ir_stream_t *s = job_finish(j);
  if (s) {
    int on_loop = pthread_equal(pthread_self(), j->loop_thread);
    int rc = answer(s, 200,
                    "posted=1 loop_tid=%ld poster_tid=%ld cb_tid=%ld poster_off_loop=%d "
                    "cb_on_loop=%d waited_ms=%" PRIu64 "\n",
                    j->loop_tid, j->side_tid, (long)gettid(), j->side_off_loop, on_loop,
                    now_ms() - j->start_ms);
    if (rc != IR_OK) ir_stream_reset(s);
  }
  free(j);
}

static void *poster_main(void *arg) {
  job *j = arg;
  sleep_ms(POST_DELAY_MS);
  j->side_tid = (long)gettid();
  j->side_off_loop = !pthread_equal(pthread_self(), j->loop_thread);
  /* IR_ECLOSED only once the worker stopped, after this stream's on_close. */
  if (ir_worker_post(j->w, post_cb, j) != IR_OK) free(j);
  return NULL;
}

static int start_poster(job *j) {
  poster *p = calloc(1, sizeof(*p));
  if (!p) return IR_ENOMEM;
  if (pthread_create(&p->thread, NULL, poster_main, j) != 0) {
    free(p);
    return IR_ENOMEM;
  }
  pthread_mutex_lock(&g_posters_lock);
  p->next = g_posters;
  g_posters = p;
  pthread_mutex_unlock(&g_posters_lock);
  return IR_OK;
}

static int route_post(ir_stream_t *s, fstream *st) {
  job *j = job_new(s);
  if (!j) return IR_ENOMEM;
  st->job = j; /* before the thread starts: on_close may need it */
  int rc = start_poster(j);
  if (rc != IR_OK) {
    st->job = NULL;
    free(j);
  }
  return rc;
}

static void join_posters(void) {
  pthread_mutex_lock(&g_posters_lock);
  poster *p = g_posters;
  g_posters = NULL;
  pthread_mutex_unlock(&g_posters_lock);
  while (p) {
    poster *next = p->next;
    pthread_join(p->thread, NULL);
    free(p);
    p = next;
  }
}

/* ---- /service ---- */

static int route_service(ir_stream_t *s, fstream *st) {
  uint32_t found = 0, found2 = 0;
  const features_counter *c = ir_service_lookup("features.counter", 1, &found);
  const features_counter *c2 = ir_service_lookup("features.counter", 2, &found2);
  const void *min3 = ir_service_lookup("features.counter", 3, NULL);
  const void *unknown = ir_service_lookup("features.nope", 0, NULL);
  return answer(s, 200,
                "value=%d found=%u same=%d found2=%u iface_size=%u min3_null=%d unknown_null=%d "
                "register=%d duplicate=%d\n",
                c ? c->value() : -1, found, c == c2, found2, c ? c->struct_size : 0, min3 == NULL,
                unknown == NULL, g_register_rc, g_duplicate_rc);
}

/* ---- worker hooks and /workers ---- */

static void on_tick(ir_timer_t *t, void *data) { atomic_fetch_add(&g_ticks, 1); }

static int f_worker_init(ir_module_t *m, ir_worker_t *w) {
  unsigned i = ir_worker_index(w);
  if (i >= MAX_WORKERS) return IR_EINVAL;
  if ((int64_t)i == g_fail_worker_init) {
    ir_log(m, NULL, IR_LOG_INFO, "worker_init fails on worker %u (fail_worker_init)", i);
    return IR_EIO;
  }
  g_worker_timers[i] = ir_timer_start(w, g_tick_ms, g_tick_ms, on_tick, NULL);
  if (!g_worker_timers[i]) return IR_ENOMEM;
  g_worker_ok[i] = 1;
  atomic_fetch_add(&g_workers_init, 1);
  return IR_OK;
}

static void f_worker_exit(ir_module_t *m, ir_worker_t *w) {
  unsigned i = ir_worker_index(w);
  if (i >= MAX_WORKERS || !g_worker_ok[i]) atomic_fetch_add(&g_exit_without_init, 1);
  if (i < MAX_WORKERS) g_worker_ok[i] = 0;
  if (i < MAX_WORKERS && g_worker_timers[i]) ir_timer_stop(g_worker_timers[i]);
  if (i < MAX_WORKERS) g_worker_timers[i] = NULL;
  atomic_fetch_add(&g_workers_exit, 1);
}

static int route_workers(ir_stream_t *s, fstream *st) {
  return answer(s, 200, "workers_init=%d workers_exit=%d ticks=%ld worker=%u\n",
                atomic_load(&g_workers_init), atomic_load(&g_workers_exit), atomic_load(&g_ticks),
                ir_worker_index(ir_stream_worker(s)));
}

/* ---- /stats, /hang, /reset ---- */

static int route_stats(ir_stream_t *s, fstream *st) {
  return answer(s, 200,
                "requests=%ld closes=%ld aborted=%ld done=%ld errors=%ld timeouts=%ld "
                "orphans=%ld misaligned=%ld writable=%ld\n",
                atomic_load(&g_requests), atomic_load(&g_closes), atomic_load(&g_aborted),
                atomic_load(&g_done_closes), atomic_load(&g_error_closes),
                atomic_load(&g_timeout_closes), atomic_load(&g_orphans), atomic_load(&g_misaligned),
                atomic_load(&g_writable));
}

static int route_hang(ir_stream_t *s, fstream *st) { return IR_OK; }

/* Half a body, then an abort; on_close must not run inside ir_stream_reset. */
static int route_reset(ir_stream_t *s, fstream *st) {
  int rc = ir_resp_header(s, "content-length", "10");
  if (rc == IR_OK) rc = ir_resp_send_head(s, 0);
  if (rc != IR_OK) return rc;
  if (ir_resp_write(s, "12345", 5) != 5) return IR_EIO;
  rc = ir_stream_reset(s);
  ir_log(g_module, s, IR_LOG_INFO, "reset rc=%d closed_inside=%d", rc, st->closed);
  return IR_OK;
}

/* /late?ms=N: the head at once, the body N ms later. */
static void late_end(ir_timer_t *t, void *data) {
  ir_stream_t *s = data;
  fstream *st = ir_stream_data(s);
  ir_timer_stop(t);
  st->late = NULL;
  if (ir_resp_write(s, "late\n", 5) != 5 || ir_resp_end(s) != IR_OK) ir_stream_reset(s);
}

static int route_late(ir_stream_t *s, fstream *st) {
  int rc = ir_resp_header(s, "content-type", "text/plain");
  if (rc == IR_OK) rc = ir_resp_send_head(s, 0);
  if (rc != IR_OK) return rc;
  st->late = ir_timer_start(ir_stream_worker(s), query_u64(s, "ms", 100, 60000), 0, late_end, s);
  return st->late ? IR_OK : IR_ENOMEM;
}

/* /simple?mb=N: N MiB of the pattern in one ir_respond_simple, from a
 * buffer freed right after the call (resp_write copies). */
static int route_simple(ir_stream_t *s, fstream *st) {
  size_t len = (size_t)query_u64(s, "mb", 1, 256) << 20;
  uint8_t *body = malloc(len);
  if (!body) return IR_ENOMEM;
  for (size_t i = 0; i < len; i += 256) memcpy(body + i, g_pattern, 256);
  int rc = ir_respond_simple(s, 200, "application/octet-stream", body, len);
  free(body);
  ir_log(g_module, s, IR_LOG_INFO, "simple rc=%d bytes=%zu", rc, len);
  return rc;
}

/* /short?head=0|1: Content-Length 10, 5 bytes (head=1, the default) or
 * none before the head (head=0), then resp_end, which must refuse. */
static int route_short(ir_stream_t *s, fstream *st) {
  int rc = ir_resp_header(s, "content-length", "10");
  if (rc != IR_OK) return rc;
  if (query_u64(s, "head", 1, 1)) {
    rc = ir_resp_send_head(s, 0);
    if (rc == IR_OK && ir_resp_write(s, "12345", 5) != 5) rc = IR_EIO;
    if (rc != IR_OK) return rc;
  }
  int end = ir_resp_end(s);
  int again = ir_resp_end(s);
  ir_log(g_module, s, IR_LOG_INFO, "short end rc=%d again=%d", end, again);
  return IR_OK;
}

/* ---- /trailers, /cltrailer ---- */

static int route_trailers(ir_stream_t *s, fstream *st) {
  int rc = ir_resp_header(s, "content-type", "text/plain");
  if (rc == IR_OK) rc = ir_resp_header(s, "trailer", "x-checksum, x-count");
  if (rc != IR_OK) return rc;
  ssize_t n = ir_resp_write(s, "abc", 3);
  if (n != 3) return n < 0 ? (int)n : IR_EIO;
  int t1 = ir_resp_trailer(s, "x-checksum", "900150983cd24fb0d6963f7d28e17f72");
  int t2 = ir_resp_trailer(s, "x-count", "3");
  ir_log(g_module, s, IR_LOG_INFO, "trailers rc=%d,%d", t1, t2);
  return ir_resp_end(s);
}

static int route_cltrailer(ir_stream_t *s, fstream *st) {
  char body[64];
  size_t len = (size_t)snprintf(body, sizeof body, "trailer_rc=%*d\n", FIELD_WIDTH, 0);
  char cl[24];
  snprintf(cl, sizeof cl, "%zu", len);
  int rc = ir_resp_header(s, "content-length", cl);
  if (rc != IR_OK) return rc;
  int trc = ir_resp_trailer(s, "x-late", "1");
  snprintf(body, sizeof body, "trailer_rc=%*d\n", FIELD_WIDTH, trc);
  return send_whole(s, body, len);
}

/* ---- /big: backpressure ---- */

/* Writes until the host says "again" (or takes only part); on_writable
 * picks it up. Never holds more than the pattern table. */
static int big_pump(ir_stream_t *s, fstream *st) {
  while (st->big_sent < st->big_total) {
    uint64_t left = st->big_total - st->big_sent;
    size_t want = left < BIG_MAX_WRITE ? (size_t)left : BIG_MAX_WRITE;
    ssize_t n = ir_resp_write(s, g_pattern + (st->big_sent & 255u), want);
    if (n == IR_EAGAIN) return IR_OK;
    if (n < 0) return (int)n;
    st->big_sent += (uint64_t)n;
    if ((size_t)n < want) return IR_OK;
  }
  st->big_done = 1;
  return ir_resp_end(s);
}

static int route_big(ir_stream_t *s, fstream *st) {
  st->big_total = query_u64(s, "mb", 1, 1024) << 20;
  char cl[24];
  snprintf(cl, sizeof cl, "%" PRIu64, st->big_total);
  int rc = ir_resp_header(s, "content-type", "application/octet-stream");
  if (rc == IR_OK) rc = ir_resp_header(s, "content-length", cl);
  if (rc == IR_OK) rc = ir_resp_send_head(s, 0);
  if (rc != IR_OK) return rc;
  return big_pump(s, st);
}

static void f_on_writable(ir_stream_t *s) {
  fstream *st = ir_stream_data(s);
  atomic_fetch_add(&g_writable, 1);
  if (!st || !st->big_total || st->big_done) return;
  if (big_pump(s, st) != IR_OK) ir_stream_reset(s);
}

/* ---- /misuse ---- */

/* The codes, in the order the body reports them. */
enum {
  M_STATUS42,
  M_STATUS1000,
  M_CRLF,
  M_TE,
  M_BADNAME,
  M_CONSUME,
  M_HEAD_TWICE,
  M_HEADER_AFTER_HEAD,
  M_STATUS_AFTER_HEAD,
  M_OVER_CL,
  M_COUNT
};
static const char *const misuse_names[M_COUNT] = {
    "status42",          "status1000",        "crlf",   "te", "badname", "consume", "head_twice",
    "header_after_head", "status_after_head", "over_cl"};

static size_t misuse_line(char *out, size_t cap, int i, int rc) {
  return (size_t)snprintf(out, cap, "%s=%*d\n", misuse_names[i], FIELD_WIDTH, rc);
}

/* All calls made before the head goes out. */
static void misuse_before_head(ir_stream_t *s, int *rc) {
  rc[M_STATUS42] = ir_resp_status(s, 42);
  rc[M_STATUS1000] = ir_resp_status(s, 1000);
  rc[M_CRLF] = ir_resp_header(s, "x-bad", "a\r\nx-injected: 1");
  rc[M_TE] = ir_resp_header(s, "transfer-encoding", "chunked");
  rc[M_BADNAME] = ir_resp_header(s, "bad name:", "v");
  rc[M_CONSUME] = ir_stream_consume(s, 1); /* a GET has no body bytes */
}

/* Every line has the same width, so the body length is known up front. */
static size_t misuse_body_len(void) {
  char line[96];
  size_t len = 0;
  for (int i = 0; i < M_COUNT; i++) len += misuse_line(line, sizeof line, i, 0);
  return len;
}

static int misuse_write_lines(ir_stream_t *s, const int *rc, int from, int to) {
  char line[96];
  for (int i = from; i < to; i++) {
    size_t n = misuse_line(line, sizeof line, i, rc[i]);
    if (ir_resp_write(s, line, n) != (ssize_t)n) return IR_EIO;
  }
  return IR_OK;
}

/* After the end: every call must be refused, nothing may crash. */
static void misuse_after_end(ir_stream_t *s) {
  int end2 = ir_resp_end(s);
  ssize_t w = ir_resp_write(s, "x", 1);
  int tr = ir_resp_trailer(s, "x-t", "1");
  int hd = ir_resp_header(s, "x-h", "1");
  ir_log(g_module, s, IR_LOG_INFO,
         "misuse after end: end_twice=%d write_after_end=%zd trailer_after_end=%d "
         "header_after_end=%d",
         end2, w, tr, hd);
}

static int route_misuse(ir_stream_t *s, fstream *st) {
  int rc[M_COUNT];
  misuse_before_head(s, rc);
  size_t len = misuse_body_len();
  char cl[24];
  snprintf(cl, sizeof cl, "%zu", len);
  int r = ir_resp_header(s, "content-length", cl);
  if (r == IR_OK) r = ir_resp_send_head(s, 0);
  if (r != IR_OK) return r;
  rc[M_HEAD_TWICE] = ir_resp_send_head(s, 0);
  rc[M_HEADER_AFTER_HEAD] = ir_resp_header(s, "x-late", "1");
  rc[M_STATUS_AFTER_HEAD] = ir_resp_status(s, 201);
  r = misuse_write_lines(s, rc, 0, M_OVER_CL);
  if (r != IR_OK) return r;
  char line[96];
  size_t last = misuse_line(line, sizeof line, M_OVER_CL, 0);
  char over[128] = {0};
  rc[M_OVER_CL] = (int)ir_resp_write(s, over, last + 1); /* one byte too many */
  r = misuse_write_lines(s, rc, M_OVER_CL, M_COUNT);
  if (r == IR_OK) r = ir_resp_end(s);
  if (r == IR_OK) misuse_after_end(s);
  return r;
}

/* ---- /ref ---- */

/* The host keeps the pointers until on_close (freed there; under ASan a
 * later read would be caught). */
static int route_ref(ir_stream_t *s, fstream *st) {
  static atomic_uint serial;
  st->ref_value = malloc(32);
  if (!st->ref_value) return IR_ENOMEM;
  int n = snprintf(st->ref_value, 32, "kept-%u", atomic_fetch_add(&serial, 1));
  int rc = ir_resp_header_ref(s, "x-ref", 5, st->ref_value, (size_t)n);
  if (rc == IR_OK) rc = ir_resp_header_ref(s, "x-lit", 5, "literal value", 13);
  if (rc != IR_OK) return rc;
  int upper = ir_resp_header_ref(s, "X-Upper", 7, "v", 1);
  int crlf = ir_resp_header_ref(s, "x-crlf", 6, "a\r\nx-injected: 1", 17);
  return answer(s, 200, "value=%s\nupper=%d\ncrlf=%d\n", st->ref_value, upper, crlf);
}

/* Kept, copied and kept again: the body keeps the order of the calls. All
 * fit under the host's per-stream queue limit, so each call takes all. */
static int route_refbody(ir_stream_t *s, fstream *st) {
  enum { A = 3000, B = 100, C = 5001 };
  st->ref_body = malloc(A + C);
  if (!st->ref_body) return IR_ENOMEM;
  memset(st->ref_body, 'A', A);
  memset(st->ref_body + A, 'C', C - 1);
  st->ref_body[A + C - 1] = '\n';
  char copied[B];
  memset(copied, 'b', B);
  char cl[24];
  snprintf(cl, sizeof cl, "%d", A + B + C);
  int rc = ir_resp_header(s, "content-length", cl);
  if (rc != IR_OK) return rc;
  if (ir_resp_write_ref(s, st->ref_body, A) != A || ir_resp_write(s, copied, B) != B ||
      ir_resp_write_ref(s, st->ref_body + A, C) != C)
    return IR_EIO;
  memset(copied, 'x', B); /* the copy was taken: this must not show */
  return ir_resp_end(s);
}

/* ---- /fail, /info, /body ---- */

static int route_fail(ir_stream_t *s, fstream *st) { return IR_EIO; }

static int route_info(ir_stream_t *s, fstream *st, froute *r) {
  ir_str m = ir_req_method(s), p = ir_req_path(s), q = ir_req_query(s);
  ir_str a = ir_req_authority(s), sc = ir_req_scheme(s), pr = ir_req_protocol(s);
  ir_str peer = ir_req_peer(s), xt = {"", 0}, hn = {"", 0}, hv = {"", 0};
  int xrc = ir_req_header(s, "X-TEST", &xt);
  int absent = ir_req_header(s, "x-absent", &hv);
  size_t nh = ir_req_header_count(s);
  int atrc = nh ? ir_req_header_at(s, nh - 1, &hn, &hv) : IR_ENOTFOUND;
  int past = ir_req_header_at(s, nh, &hn, &hv);
  return answer(
      s, 200,
      "module=%s data_ok=%d prefix=%s label=%.*s write_size=%" PRId64 " get_int_on_str=%d "
      "get_unknown=%d get_optional=%d method=%.*s path=%.*s query=%.*s authority=%.*s "
      "scheme=%.*s protocol=%.*s peer=%.*s x_test_rc=%d x_test=%.*s absent=%d headers=%zu "
      "last=%.*s:%.*s at_last_rc=%d past_end=%d content_length=%" PRId64 " worker=%u "
      "strerror=%s\n",
      ir_module_name(r->module), ir_module_data(r->module) == &g_module_data_tag, r->prefix,
      (int)r->label.len, r->label.ptr, r->write_size, r->get_str_on_int_rc, r->get_unknown_rc,
      r->get_optional_rc, (int)m.len, m.ptr, (int)p.len, p.ptr, (int)q.len, q.ptr, (int)a.len,
      a.ptr, (int)sc.len, sc.ptr, (int)pr.len, pr.ptr, (int)peer.len, peer.ptr, xrc, (int)xt.len,
      xt.ptr, absent, nh, (int)hn.len, hn.ptr, (int)hv.len, hv.ptr, atrc, past,
      ir_req_content_length(s), ir_worker_index(ir_stream_worker(s)), ir_strerror(IR_EAGAIN));
}

static int f_on_body(ir_stream_t *s, const uint8_t *data, size_t len) {
  fstream *st = ir_stream_data(s);
  atomic_fetch_add(&g_body_chunks, 1);
  st->body_fnv = fnv1a(st->body_len ? st->body_fnv : FNV_OFFSET, data, len);
  st->body_len += len;
  if (st->is_body && st->body_len == len) st->over_consume_rc = ir_stream_consume(s, len + 1);
  return ir_stream_consume(s, len);
}

static int f_on_body_end(ir_stream_t *s) {
  fstream *st = ir_stream_data(s);
  if (!st->is_body) return IR_OK; /* other routes answered already */
  if (!st->body_len) st->body_fnv = FNV_OFFSET;
  return answer(s, 200, "bytes=%" PRIu64 " fnv=%016" PRIx64 " over_consume=%d\n", st->body_len,
                st->body_fnv, st->over_consume_rc);
}

/* ---- dispatch ---- */

typedef int (*route_fn)(ir_stream_t *s, fstream *st);

static const struct {
  const char *name;
  route_fn fn;
} g_routes[] = {
    {"/work", route_work},       {"/post", route_post},         {"/service", route_service},
    {"/workers", route_workers}, {"/stats", route_stats},       {"/hang", route_hang},
    {"/reset", route_reset},     {"/trailers", route_trailers}, {"/cltrailer", route_cltrailer},
    {"/big", route_big},         {"/misuse", route_misuse},     {"/fail", route_fail},
    {"/ref", route_ref},         {"/refbody", route_refbody},   {"/late", route_late},
    {"/short", route_short},     {"/simple", route_simple},
};

/* Arena contract: 16-byte aligned, usable up to the size asked, any size. */
static void check_arena(ir_stream_t *s) {
  static const size_t sizes[] = {1, 24, 3000, 70000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char *p = ir_stream_alloc(s, sizes[i]);
    if (!p || ((uintptr_t)p & 15u)) {
      atomic_fetch_add(&g_misaligned, 1);
      continue;
    }
    memset(p, 0xa5, sizes[i]);
  }
}

static ir_str sub_path(ir_stream_t *s, const froute *r) {
  ir_str p = ir_req_path(s);
  if (p.len >= r->prefix_len) {
    p.ptr += r->prefix_len;
    p.len -= r->prefix_len;
  }
  return p;
}

static int f_on_request(ir_stream_t *s, void *instance_data) {
  froute *r = instance_data;
  atomic_fetch_add(&g_requests, 1);
  fstream *st = ir_stream_alloc(s, sizeof(*st));
  if (!st) return IR_ENOMEM;
  memset(st, 0, sizeof(*st));
  ir_stream_set_data(s, st);
  check_arena(s);
  ir_str sub = sub_path(s, r);
  if (str_is(sub, "/info")) return route_info(s, st, r);
  if (str_is(sub, "/body")) {
    st->is_body = 1; /* answered at on_body_end */
    return IR_OK;
  }
  for (size_t i = 0; i < sizeof g_routes / sizeof g_routes[0]; i++)
    if (str_is(sub, g_routes[i].name)) return g_routes[i].fn(s, st);
  return answer(s, 404, "no such feature\n");
}

static void f_on_close(ir_stream_t *s, int reason) {
  fstream *st = ir_stream_data(s);
  atomic_fetch_add(&g_closes, 1);
  if (reason == IR_CLOSE_ABORTED) atomic_fetch_add(&g_aborted, 1);
  if (reason == IR_CLOSE_DONE) atomic_fetch_add(&g_done_closes, 1);
  if (reason == IR_CLOSE_ERROR) atomic_fetch_add(&g_error_closes, 1);
  if (reason == IR_CLOSE_TIMEOUT) atomic_fetch_add(&g_timeout_closes, 1);
  if (!st) {
    atomic_fetch_add(&g_orphans, 1);
    return;
  }
  st->closed = 1;
  if (st->job) st->job->s = NULL; /* its callback must not touch s */
  if (st->late) ir_timer_stop(st->late);
  st->late = NULL;
  free(st->ref_value);
  free(st->ref_body);
  st->ref_value = st->ref_body = NULL;
}

/* ---- module and instances ---- */

static const ir_config_key f_keys[] = {
    IR_KEY(IR_KEY_STRING, "label", "features", 0, "echoed by /info"),
    IR_KEY(IR_KEY_SIZE, "write_size", "64k", 0, "echoed by /info"),
    IR_KEY(IR_KEY_DURATION, "tick", "10ms", 0, "period of the per-worker timer"),
    IR_KEY(IR_KEY_STRING, "optional", NULL, 0, "never set: /info reports IR_ENOTFOUND"),
    IR_KEY(IR_KEY_INT, "fail_worker_init", "-1", 0, "worker_init fails on this worker index"),
    IR_KEY_END,
};

static int f_init(ir_module_t *m) {
  g_module = m;
  for (size_t i = 0; i < sizeof g_pattern; i++) g_pattern[i] = pattern_byte(i);
  ir_module_set_data(m, &g_module_data_tag);
  g_register_rc = ir_service_register(m, "features.counter", 2, &g_counter);
  g_duplicate_rc = ir_service_register(m, "features.counter", 2, &g_counter);
  return g_register_rc;
}

static void f_fini(ir_module_t *m) {
  join_posters();
  ir_log(m, NULL, IR_LOG_INFO,
         "fini: requests=%ld closes=%ld workers_init=%d workers_exit=%d body_chunks=%ld "
         "exit_without_init=%d",
         atomic_load(&g_requests), atomic_load(&g_closes), atomic_load(&g_workers_init),
         atomic_load(&g_workers_exit), atomic_load(&g_body_chunks),
         atomic_load(&g_exit_without_init));
}

static int f_instance_create(ir_instance_t *inst, void **data) {
  froute *r = calloc(1, sizeof(*r));
  if (!r) return IR_ENOMEM;
  r->module = ir_instance_module(inst);
  r->prefix = ir_instance_prefix(inst);
  r->prefix_len = strlen(r->prefix);
  if (r->prefix_len && r->prefix[r->prefix_len - 1] == '/') r->prefix_len--;
  ir_instance_get_str(inst, "label", &r->label);
  ir_instance_get_int(inst, "write_size", &r->write_size);
  int64_t tick = 0;
  if (ir_instance_get_int(inst, "tick", &tick) == IR_OK && tick > 0) g_tick_ms = (uint64_t)tick;
  ir_instance_get_int(inst, "fail_worker_init", &g_fail_worker_init);
  int64_t dummy;
  ir_str unused;
  r->get_str_on_int_rc = ir_instance_get_int(inst, "label", &dummy);
  r->get_unknown_rc = ir_instance_get_str(inst, "no-such-key", &unused);
  r->get_optional_rc = ir_instance_get_str(inst, "optional", &unused);
  *data = r;
  return IR_OK;
}

static void f_instance_destroy(void *data) { free(data); }

static const ir_module_desc features_module = {
    IR_MODULE_DESC_HEADER,
    .name = "features",
    .version = "1.0.0",
    .keys = f_keys,
    .init = f_init,
    .fini = f_fini,
    .instance_create = f_instance_create,
    .instance_destroy = f_instance_destroy,
    .worker_init = f_worker_init,
    .worker_exit = f_worker_exit,
    .on_request = f_on_request,
    .on_body = f_on_body,
    .on_body_end = f_on_body_end,
    .on_writable = f_on_writable,
    .on_close = f_on_close,
};

IR_MODULE_DEFINE(features_module)
