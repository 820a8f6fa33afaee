/* conn.c — a client connection's bytes and lifetime; see conn.h.
 *
 * Lifetime: accepted into the worker's slab and counted against
 * max_connections; irh_conn_close() closes the three libuv handles and the
 * slot is freed when the last close callback runs. A close "when flushed"
 * writes what is queued, shuts down the sending side and then reads and
 * drops what the client still sends for a short while (a lingering close),
 * so the client sees the answer instead of a reset.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"
#include "worker.h"

#define OUTBUF_BLOCK 16384
#define MAX_IOV 64
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (1u << 20)

struct irh_outbuf {
  irh_outbuf *next;
  size_t len, cap;
  char data[];
};

static irh_conn *handle_conn(const uv_handle_t *h) { return h->data; }

/* ---- closing ---- */

static void free_outbufs(irh_outbuf *b) {
  while (b) {
    irh_outbuf *next = b->next;
    free(b);
    b = next;
  }
}

static void on_handle_closed(uv_handle_t *h) {
  irh_conn *c = handle_conn(h);
  if (--c->open_handles > 0) return;
  ir_worker_t *w = c->worker;
  free_outbufs(c->out_head);
  free_outbufs(c->in_flight);
  irh_slab_free(&w->conn_slab, c);
  atomic_fetch_sub(&w->server->connections, 1);
  irh_worker_conn_closed(w);
}

void irh_conn_close(irh_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  if (irh_list_linked(&c->flush_link)) irh_list_remove(&c->flush_link);
  irh_list_remove(&c->link);
  irh_h1_on_close(c, c->close_reason);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->write_timer, on_handle_closed);
}

static void on_shutdown_done(uv_shutdown_t *req, int status) {
  irh_conn *c = req->data;
  if (c->closing) return;
  if (status < 0 || c->eof) {
    irh_conn_close(c);
    return;
  }
  irh_conn_set_timeout(c, LINGER_MS);
  irh_conn_resume_reading(c);
}

/* Everything queued is written: half-close and linger. */
static void start_lingering_close(irh_conn *c) {
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown_done) != 0)
    irh_conn_close(c);
}

void irh_conn_close_when_flushed(irh_conn *c) {
  if (c->closing || c->close_when_flushed) return;
  c->close_when_flushed = 1;
  irh_conn_set_timeout(c, 0);
  if (irh_conn_out_bytes(c) == 0) start_lingering_close(c);
  /* else on_write starts it once the queue is empty */
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t) {
  irh_conn *c = handle_conn((uv_handle_t *)t);
  if (c->close_when_flushed) { /* the linger period is over */
    irh_conn_close(c);
    return;
  }
  c->close_reason = IR_CLOSE_TIMEOUT;
  irh_h1_on_timeout(c);
}

void irh_conn_set_timeout(irh_conn *c, uint64_t ms) {
  if (c->closing) return;
  if (ms == 0)
    uv_timer_stop(&c->timer);
  else
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_write_stalled(uv_timer_t *t) {
  irh_conn *c = handle_conn((uv_handle_t *)t);
  irh_log(IR_LOG_INFO, c->id, -1, NULL, "write timeout: the client stopped reading");
  c->close_reason = IR_CLOSE_TIMEOUT;
  irh_conn_close(c);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  ir_worker_t *w = handle_conn(h)->worker;
  buf->base = (char *)w->read_buf;
  buf->len = w->read_buf_size;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  irh_conn *c = handle_conn((uv_handle_t *)st);
  if (nread == 0) return;
  if (nread < 0) {
    if (nread != UV_EOF || c->close_when_flushed) {
      irh_conn_close(c);
      return;
    }
    c->eof = 1;
    irh_conn_pause_reading(c);
    irh_h1_on_eof(c);
    return;
  }
  if (c->close_when_flushed) { /* lingering: drop, up to a bound */
    c->lingered += (size_t)nread;
    if (c->lingered > LINGER_MAX_BYTES) irh_conn_close(c);
    return;
  }
  irh_h1_on_read(c, buf->base, (size_t)nread);
}

void irh_conn_pause_reading(irh_conn *c) {
  c->read_paused = 1;
  if (c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

void irh_conn_resume_reading(irh_conn *c) {
  c->read_paused = 0;
  if (c->reading || c->closing || c->eof) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
}

/* ---- writing ---- */

static void schedule_flush(irh_conn *c) {
  if (!irh_list_linked(&c->flush_link)) irh_worker_schedule_flush(c->worker, &c->flush_link);
}

char *irh_conn_reserve(irh_conn *c, size_t n) {
  if (c->closing) return NULL;
  irh_outbuf *t = c->out_tail;
  if (!t || t->cap - t->len < n) {
    size_t cap = n > OUTBUF_BLOCK ? n : OUTBUF_BLOCK;
    irh_outbuf *b = malloc(sizeof(*b) + cap);
    if (!b) {
      irh_conn_close(c);
      return NULL;
    }
    b->next = NULL;
    b->len = 0;
    b->cap = cap;
    if (t)
      t->next = b;
    else
      c->out_head = b;
    c->out_tail = t = b;
  }
  return t->data + t->len;
}

void irh_conn_commit(irh_conn *c, size_t used) {
  c->out_tail->len += used;
  c->out_queued += used;
  schedule_flush(c);
}

int irh_conn_write(irh_conn *c, const void *data, size_t len) {
  if (len == 0) return c->closing ? -1 : 0;
  char *p = irh_conn_reserve(c, len);
  if (!p) return -1;
  memcpy(p, data, len);
  irh_conn_commit(c, len);
  return 0;
}

static void on_write(uv_write_t *req, int status) {
  irh_conn *c = req->data;
  c->writing = 0;
  free_outbufs(c->in_flight);
  c->in_flight = NULL;
  c->out_in_flight = 0;
  if (c->closing) return;
  if (status < 0) {
    irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "write failed: %s", uv_strerror(status));
    irh_conn_close(c);
    return;
  }
  if (c->out_queued) {
    irh_conn_flush(c);
    return;
  }
  uv_timer_stop(&c->write_timer);
  if (c->close_when_flushed) {
    start_lingering_close(c);
    return;
  }
  irh_h1_on_drain(c);
}

void irh_conn_flush(irh_conn *c) {
  if (c->writing || c->closing || c->out_queued == 0) return;
  uv_buf_t iov[MAX_IOV];
  unsigned n = 0;
  size_t bytes = 0;
  irh_outbuf *last = NULL;
  for (irh_outbuf *b = c->out_head; b && n < MAX_IOV; b = b->next) {
    iov[n++] = uv_buf_init(b->data, (unsigned)b->len);
    bytes += b->len;
    last = b;
  }
  c->in_flight = c->out_head;
  c->out_head = last->next;
  last->next = NULL;
  if (!c->out_head) c->out_tail = NULL;
  c->out_queued -= bytes;
  c->out_in_flight = bytes;
  c->writing = 1;
  c->write_req.data = c;
  int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, iov, n, on_write);
  if (rc != 0) {
    c->writing = 0;
    irh_conn_close(c);
    return;
  }
  uv_timer_start(&c->write_timer, on_write_stalled, c->worker->server->config->write_timeout_ms, 0);
}

/* ---- accepting ---- */

static void on_rejected_closed(uv_handle_t *h) { free(h); }

/* Over max_connections (or out of memory): accept and close at once, which
 * the client sees as a clean FIN rather than a hang in the backlog. */
static void reject(ir_worker_t *w, uv_stream_t *listener) {
  uv_tcp_t *t = malloc(sizeof(*t));
  if (!t) return;
  uv_tcp_init(&w->loop, t);
  uv_accept(listener, (uv_stream_t *)t);
  uv_close((uv_handle_t *)t, on_rejected_closed);
  uint64_t now = uv_now(&w->loop);
  if (now - w->last_reject_log >= 1000 || w->last_reject_log == 0) {
    w->last_reject_log = now;
    irh_log_warn("max_connections (%llu) reached: closing new connections",
                 (unsigned long long)w->server->config->max_connections);
  }
}

static void format_peer(irh_conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
      port = ntohs(a->sin6_port);
      c->peer_len = (size_t)snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, port);
      return;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    port = ntohs(a->sin_port);
  }
  c->peer_len = (size_t)snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
}

void irh_conn_accept(ir_worker_t *w, uv_stream_t *listener) {
  irh_server *srv = w->server;
  if (atomic_fetch_add(&srv->connections, 1) >= srv->config->max_connections || w->draining) {
    atomic_fetch_sub(&srv->connections, 1);
    reject(w, listener);
    return;
  }
  irh_conn *c = irh_slab_alloc(&w->conn_slab);
  if (!c) {
    atomic_fetch_sub(&srv->connections, 1);
    reject(w, listener);
    return;
  }
  c->worker = w;
  c->close_reason = IR_CLOSE_ABORTED;
  uv_tcp_init(&w->loop, &c->tcp);
  uv_timer_init(&w->loop, &c->timer);
  uv_timer_init(&w->loop, &c->write_timer);
  c->tcp.data = c->timer.data = c->write_timer.data = c;
  c->open_handles = 3;
  irh_list_init(&c->flush_link);
  irh_list_push(&w->conns, &c->link);
  w->conns_alive++;
  c->id = atomic_fetch_add(&srv->next_conn_id, 1) + 1;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    irh_conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  format_peer(c);
  irh_h1_init(c);
  irh_conn_resume_reading(c);
}
