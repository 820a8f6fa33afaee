/* lifecycle_module.c — SDK 1.4's fd watches and drain notice, for
 * tests/sdk/test_lifecycle.py, built like a third party's module (SDK only).
 * sdk/README.md's "Watching a library's socket" and "When the server
 * drains" quote it (the test checks that they still do).
 *
 * Under the route's prefix (the test uses /l):
 *   /watch?port=P&rounds=N  connects (plain socket(), non-blocking) to a
 *                  line server on 127.0.0.1:P and plays N rounds of
 *                  "ping i" / "pong i" through one watch: write interest
 *                  only while output waits, paused for 100 ms after ping 2
 *                  (its pong arrives meanwhile), stopped from inside the
 *                  callback after the last pong; the fd is closed 200 ms
 *                  later, so a watch that was not really stopped would fire
 *                  on the bytes the peer sends after the last pong. Answers
 *                  "watch ok rounds=N" once done (502 on a failure).
 *   /refusals      watch_start / watch_change on bad arguments; answers
 *                  "refusals passed=K of T".
 *   /leave         starts a watch on a socketpair and never stops it (the
 *                  host frees it after worker_exit).
 *   /stats         counters, "key=value" lines.
 *   upgrade "bye"  a 101 tunnel that drops what it reads; on_stream_drain
 *                  writes "bye\n" and ends it.
 *   upgrade "ignore"  the same, but the drain is ignored (closed at the
 *                  shutdown_timeout).
 *   /events        an event stream: "data: hello\n\n" now; on_stream_drain
 *                  sends "data: bye\n\n" and ends the response.
 * The drain hooks and on_close of the tunnels and event streams log lines
 * the test counts ("worker drain", "stream drain", "closed kind=...").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iridium/iridium.h>

#define MAX_PEERS 64 /* exchanges per server run; their slots are never reused */
#define PAUSE_MS 100
#define CLOSE_DELAY_MS 200

static atomic_long g_watch_starts, g_watch_stops, g_watch_left;
static atomic_long g_after_stop;    /* callbacks for a watch already stopped */
static atomic_long g_while_paused;  /* callbacks while the interest was 0 */
static atomic_long g_idle_writable; /* WRITE reported with no output waiting */
static atomic_long g_exchanges_ok;
static atomic_long g_worker_drains, g_stream_drains;

/* ---- a "ping i" / "pong i" exchange through a watch ---- */

typedef struct peer {
  ir_stream_t *s; /* the request waiting for the outcome; NULL once it closed */
  ir_worker_t *w;
  ir_watch_t *wt;
  int fd;
  int connected, paused, stopped;
  uint32_t interest;
  int rounds, want_rounds;
  char out[32];
  size_t out_len, out_off;
  char in[256];
  size_t in_len;
} peer;

static peer g_peers[MAX_PEERS]; /* static: a callback after stop is counted, not a crash */
static atomic_int g_npeers;

/* Formats a text body into the stream's arena and answers it. */
__attribute__((format(printf, 3, 4))) static int answer(ir_stream_t *s, int status, const char *fmt,
                                                        ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof buf) return IR_EINVAL;
  char *body = ir_stream_alloc(s, (size_t)n);
  if (!body) return IR_ENOMEM;
  memcpy(body, buf, (size_t)n);
  return ir_respond_simple(s, status, "text/plain", body, (size_t)n);
}

static void close_fd_later(ir_timer_t *t, void *data) {
  peer *p = data;
  close(p->fd);
  ir_timer_stop(t);
}

static void finish(peer *p, const char *failure) {
  ir_watch_stop(p->wt); /* from inside the callback: no callback follows */
  p->stopped = 1;
  atomic_fetch_add(&g_watch_stops, 1);
  if (!ir_timer_start(p->w, CLOSE_DELAY_MS, 0, close_fd_later, p)) close(p->fd);
  if (!failure) atomic_fetch_add(&g_exchanges_ok, 1);
  if (!p->s) return;
  if (failure)
    answer(p->s, 502, "watch failed after %d rounds: %s\n", p->rounds, failure);
  else
    answer(p->s, 200, "watch ok rounds=%d\n", p->rounds);
  p->s = NULL;
}

static void queue_ping(peer *p) {
  p->out_len = (size_t)snprintf(p->out, sizeof p->out, "ping %d\n", p->rounds + 1);
  p->out_off = 0;
}

/* Whatever the library has to say now: read always, write only while
 * output waits. */
static void update_interest(peer *p) {
  uint32_t want = IR_WATCH_READ;
  if (p->out_off < p->out_len || !p->connected) want |= IR_WATCH_WRITE;
  if (want != p->interest && ir_watch_change(p->wt, want) == IR_OK) p->interest = want;
}

static void resume(ir_timer_t *t, void *data) {
  peer *p = data;
  ir_timer_stop(t);
  if (p->stopped) return;
  p->paused = 0;
  update_interest(p);
}

static const char *on_writable_fd(peer *p) {
  if (!p->connected) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
      return "connect failed";
    p->connected = 1;
  }
  if (p->out_off == p->out_len) {
    atomic_fetch_add(&g_idle_writable, 1);
    return NULL;
  }
  ssize_t n = send(p->fd, p->out + p->out_off, p->out_len - p->out_off, MSG_NOSIGNAL);
  if (n < 0) return errno == EAGAIN ? NULL : "send failed";
  p->out_off += (size_t)n;
  if (p->out_off == p->out_len && p->rounds == 1 && !p->paused) {
    /* ping 2 is out: pause while its pong arrives, then look again */
    if (ir_watch_change(p->wt, 0) != IR_OK) return "pause refused";
    if (!ir_timer_start(p->w, PAUSE_MS, 0, resume, p)) return "no timer";
    p->paused = 1;
    p->interest = 0;
  }
  return NULL;
}

/* Reads pongs; returns a failure, or NULL (p->stopped once all are in). */
static const char *on_readable_fd(peer *p) {
  ssize_t n = recv(p->fd, p->in + p->in_len, sizeof p->in - p->in_len, 0);
  if (n == 0) return "the peer closed";
  if (n < 0) return errno == EAGAIN ? NULL : "recv failed";
  p->in_len += (size_t)n;
  char *nl;
  while ((nl = memchr(p->in, '\n', p->in_len))) {
    int round;
    if (sscanf(p->in, "pong %d", &round) != 1 || round != p->rounds + 1) return "bad pong";
    p->rounds = round;
    size_t line = (size_t)(nl - p->in) + 1;
    memmove(p->in, p->in + line, p->in_len - line);
    p->in_len -= line;
    if (p->rounds == p->want_rounds) {
      finish(p, NULL); /* what the peer sends after this must never reach us */
      return NULL;
    }
    queue_ping(p);
  }
  return p->in_len == sizeof p->in ? "line too long" : NULL;
}

static void on_peer_ready(ir_watch_t *wt, int fd, uint32_t events, void *data) {
  (void)wt, (void)fd;
  peer *p = data;
  if (p->stopped) {
    atomic_fetch_add(&g_after_stop, 1);
    return;
  }
  if (p->paused) atomic_fetch_add(&g_while_paused, 1);
  const char *failure = NULL;
  if (events & IR_WATCH_WRITE) failure = on_writable_fd(p);
  if (!failure && !p->stopped && (events & (IR_WATCH_READ | IR_WATCH_ERROR)))
    failure = on_readable_fd(p);
  if (failure) {
    finish(p, failure);
    return;
  }
  if (!p->stopped && !p->paused) update_interest(p);
}

static int query_int(ir_stream_t *s, const char *key) {
  ir_str q = ir_req_query(s);
  size_t kl = strlen(key);
  for (size_t i = 0; i + kl < q.len; i++) {
    if ((i && q.ptr[i - 1] != '&') || memcmp(q.ptr + i, key, kl) || q.ptr[i + kl] != '=') continue;
    int v = 0;
    for (size_t k = i + kl + 1; k < q.len && q.ptr[k] >= '0' && q.ptr[k] <= '9' && v < 100000; k++)
      v = v * 10 + (q.ptr[k] - '0');
    return v;
  }
  return 0;
}

static int start_exchange(ir_stream_t *s) {
  int port = query_int(s, "port"), rounds = query_int(s, "rounds");
  if (port <= 0 || port > 65535 || rounds < 2 || rounds > 1000)
    return answer(s, 400, "need port and rounds (2..1000)\n");
  int slot = atomic_fetch_add(&g_npeers, 1);
  if (slot >= MAX_PEERS) return answer(s, 503, "no exchange slots left\n");
  peer *p = &g_peers[slot];
  memset(p, 0, sizeof *p);
  p->s = s;
  p->w = ir_stream_worker(s);
  p->want_rounds = rounds;
  p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (p->fd < 0) return answer(s, 500, "socket: %s\n", strerror(errno));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(p->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
    close(p->fd);
    return answer(s, 502, "connect: %s\n", strerror(errno));
  }
  queue_ping(p);
  p->interest = IR_WATCH_WRITE; /* connecting, and ping 1 waits */
  p->wt = ir_watch_start(p->w, p->fd, p->interest, on_peer_ready, p);
  if (!p->wt) {
    close(p->fd);
    return answer(s, 500, "watch_start refused\n");
  }
  atomic_fetch_add(&g_watch_starts, 1);
  ir_stream_set_data(s, p);
  return IR_OK; /* answered from the watch's callback */
}

static void ignore_ready(ir_watch_t *wt, int fd, uint32_t events, void *data) {
  (void)wt, (void)fd, (void)events, (void)data;
}

/* Each refusal the contract (host.h) promises, counted when it holds. */
static int check_refusals(ir_stream_t *s) {
  ir_worker_t *w = ir_stream_worker(s);
  int sv[2], passed = 0, total = 0;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return answer(s, 500, "socketpair: %s\n", strerror(errno));
  int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* cannot be polled */
  total++, passed += ir_watch_start(w, -1, IR_WATCH_READ, ignore_ready, NULL) == NULL;
  total++, passed += ir_watch_start(w, 1 << 30, IR_WATCH_READ, ignore_ready, NULL) == NULL;
  total++, passed += ir_watch_start(w, sv[0], 0x8, ignore_ready, NULL) == NULL;
  total++, passed += ir_watch_start(w, sv[0], IR_WATCH_READ, NULL, NULL) == NULL;
  total++, passed += dir >= 0 && ir_watch_start(w, dir, IR_WATCH_READ, ignore_ready, NULL) == NULL;
  ir_watch_t *wt = ir_watch_start(w, sv[0], IR_WATCH_READ, ignore_ready, NULL);
  total++, passed += wt != NULL;
  if (wt) {
    atomic_fetch_add(&g_watch_starts, 1);
    total++, passed += ir_watch_start(w, sv[0], IR_WATCH_WRITE, ignore_ready, NULL) == NULL;
    total++, passed += ir_watch_change(wt, IR_WATCH_ERROR) == IR_EINVAL;
    total++, passed += ir_watch_change(wt, 0) == IR_OK;
    total++, passed += ir_watch_change(wt, IR_WATCH_READ | IR_WATCH_WRITE) == IR_OK;
    ir_watch_stop(wt);
    atomic_fetch_add(&g_watch_stops, 1);
  }
  if (dir >= 0) close(dir);
  close(sv[0]);
  close(sv[1]);
  return answer(s, 200, "refusals passed=%d of %d\n", passed, total);
}

static int leave_a_watch(ir_stream_t *s) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return answer(s, 500, "socketpair: %s\n", strerror(errno));
  if (!ir_watch_start(ir_stream_worker(s), sv[0], IR_WATCH_READ, ignore_ready, NULL)) {
    close(sv[0]);
    close(sv[1]);
    return answer(s, 500, "watch_start refused\n");
  }
  atomic_fetch_add(&g_watch_left, 1); /* both fds stay open until the process ends */
  return answer(s, 200, "left a watch\n");
}

/* ---- the drain notice ---- */

enum kind { KIND_NONE, KIND_BYE, KIND_IGNORE, KIND_EVENTS };
static const char *const kind_names[] = {"none", "bye", "ignore", "events"};
static const char *const reason_names[] = {"done", "aborted", "error", "timeout", "shutdown"};

typedef struct held_stream {
  enum kind kind;
} held_stream;

typedef struct worker_state {
  int drained; /* on_worker_drain came */
} worker_state;

static int lifecycle_worker_init(ir_module_t *m, ir_worker_t *w) {
  worker_state *ws = calloc(1, sizeof *ws);
  if (!ws) return IR_ENOMEM;
  ir_worker_set_data(m, w, ws);
  return IR_OK;
}

static void lifecycle_worker_exit(ir_module_t *m, ir_worker_t *w) {
  free(ir_worker_data(m, w));
  ir_worker_set_data(m, w, NULL);
}

static void lifecycle_on_worker_drain(ir_module_t *m, ir_worker_t *w, uint64_t ms_left) {
  worker_state *ws = ir_worker_data(m, w);
  ws->drained = 1;
  atomic_fetch_add(&g_worker_drains, 1);
  ir_log(m, NULL, IR_LOG_INFO, "worker drain: worker %u, ms_left=%llu", ir_worker_index(w),
         (unsigned long long)ms_left);
}

static void lifecycle_on_stream_drain(ir_stream_t *s, uint64_t ms_left) {
  held_stream *h = ir_stream_data(s);
  worker_state *ws = ir_stream_worker_data(s);
  atomic_fetch_add(&g_stream_drains, 1);
  ir_log(NULL, s, IR_LOG_INFO, "stream drain: kind=%s, ms_left=%llu, after worker drain=%d",
         kind_names[h->kind], (unsigned long long)ms_left, ws && ws->drained);
  if (h->kind == KIND_BYE) {
    ir_resp_write(s, "bye\n", 4);
    ir_resp_end(s);
  } else if (h->kind == KIND_EVENTS) {
    ir_resp_write(s, "data: bye\n\n", 11);
    ir_resp_end(s);
  } /* KIND_IGNORE: left to the shutdown_timeout */
}

static int hold_stream(ir_stream_t *s, enum kind kind) {
  held_stream *h = ir_stream_alloc(s, sizeof *h);
  if (!h) return IR_ENOMEM;
  h->kind = kind;
  ir_stream_set_data(s, h);
  int upgrade = kind != KIND_EVENTS;
  int rc = ir_resp_status(s, upgrade ? 101 : 200);
  if (rc == IR_OK && !upgrade) rc = ir_resp_header(s, "content-type", "text/event-stream");
  if (rc == IR_OK) rc = ir_resp_send_head(s, 0);
  if (rc == IR_OK && !upgrade) rc = ir_resp_write(s, "data: hello\n\n", 13) < 0 ? IR_EIO : IR_OK;
  if (rc == IR_OK) ir_log(NULL, s, IR_LOG_INFO, "held kind=%s", kind_names[kind]);
  return rc;
}

/* ---- routing ---- */

static int str_is(ir_str s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static int answer_stats(ir_stream_t *s) {
  return answer(s, 200,
                "watch_starts=%ld\nwatch_stops=%ld\nwatch_left=%ld\ncallbacks_after_stop=%ld\n"
                "callbacks_while_paused=%ld\nidle_writable=%ld\nexchanges_ok=%ld\n",
                atomic_load(&g_watch_starts), atomic_load(&g_watch_stops),
                atomic_load(&g_watch_left), atomic_load(&g_after_stop),
                atomic_load(&g_while_paused), atomic_load(&g_idle_writable),
                atomic_load(&g_exchanges_ok));
}

static int lifecycle_on_request(ir_stream_t *s, void *instance_data) {
  const char *prefix = instance_data;
  ir_str path = ir_req_path(s);
  size_t pl = strlen(prefix);
  if (path.len >= pl && memcmp(path.ptr, prefix, pl) == 0) path.ptr += pl, path.len -= pl;
  ir_str up = ir_req_upgrade(s);
  if (str_is(up, "bye")) return hold_stream(s, KIND_BYE);
  if (str_is(up, "ignore")) return hold_stream(s, KIND_IGNORE);
  if (str_is(path, "/events")) return hold_stream(s, KIND_EVENTS);
  if (str_is(path, "/watch")) return start_exchange(s);
  if (str_is(path, "/refusals")) return check_refusals(s);
  if (str_is(path, "/leave")) return leave_a_watch(s);
  if (str_is(path, "/stats")) return answer_stats(s);
  return answer(s, 404, "no such lifecycle route\n");
}

static int lifecycle_on_body(ir_stream_t *s, const uint8_t *data, size_t len) {
  (void)data;
  return ir_stream_consume(s, len); /* tunnels drop what they read */
}

/* The stream's tunnel or event stream; NULL for an exchange (a peer). */
static held_stream *held_of(ir_stream_t *s) {
  void *data = ir_stream_data(s);
  if (data >= (void *)g_peers && data < (void *)(g_peers + MAX_PEERS)) return NULL;
  return data;
}

static int lifecycle_on_body_end(ir_stream_t *s) {
  held_stream *h = held_of(s);
  if (h && h->kind != KIND_EVENTS) {
    int rc = ir_resp_end(s); /* the peer ended its side: so do we */
    return rc == IR_ESTATE ? IR_OK : rc;
  }
  return IR_OK;
}

static void lifecycle_on_close(ir_stream_t *s, int reason) {
  held_stream *h = held_of(s);
  if (!h) {
    peer *p = ir_stream_data(s);
    if (p) p->s = NULL; /* the exchange goes on without its request */
    return;
  }
  ir_log(NULL, s, IR_LOG_INFO, "closed kind=%s reason=%s", kind_names[h->kind],
         reason >= 0 && reason <= IR_CLOSE_SHUTDOWN ? reason_names[reason] : "?");
}

static int lifecycle_instance_create(ir_instance_t *inst, void **data) {
  *data = (void *)ir_instance_prefix(inst);
  return IR_OK;
}

static const ir_module_desc lifecycle_module = {
    IR_MODULE_DESC_HEADER,
    .name = "lifecycle",
    .version = "1.0.0",
    .instance_create = lifecycle_instance_create,
    .worker_init = lifecycle_worker_init,
    .worker_exit = lifecycle_worker_exit,
    .on_request = lifecycle_on_request,
    .on_body = lifecycle_on_body,
    .on_body_end = lifecycle_on_body_end,
    .on_close = lifecycle_on_close,
    .flags = IR_MODULE_UPGRADES,
    .on_worker_drain = lifecycle_on_worker_drain,
    .on_stream_drain = lifecycle_on_stream_drain,
};

IR_MODULE_DEFINE(lifecycle_module)
