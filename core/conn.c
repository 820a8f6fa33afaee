/* conn.c — a client connection's bytes and lifetime; see conn.h.
 *
 * Lifetime: accepted into the worker's slab and counted against
 * max_connections; irh_conn_close() closes the three libuv handles and the
 * slot is freed when the last close callback runs. A close "when flushed"
 * writes what is queued (with TLS, then a close_notify), shuts down the
 * sending side and then reads and drops what the client still sends for a
 * short while (a lingering close), so the client sees the answer instead of
 * a reset.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filesend.h" /* irh_conn_flush's sendfile until file blocks are the queue's (helper B) */
#include "listener.h"
#include "log.h"
#include "process.h"
#include "worker.h"

#define MAX_IOV 64
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (1u << 20)

static irh_conn *handle_conn(const uv_handle_t *h) { return h->data; }

/* ---- closing ---- */

static void on_handle_closed(uv_handle_t *h) {
  irh_conn *c = handle_conn(h);
  if (--c->open_handles > 0) return;
  ir_worker_t *w = c->worker;
  irh_bufq_free(&c->out);
  irh_bufq_free(&c->wire);
  if (c->proto && c->proto->on_release) c->proto->on_release(c);
  if (c->tls) c->crypto->release(c);
  irh_slab_free(&w->conn_slab, c);
  atomic_fetch_sub(&w->server->connections, 1);
  irh_worker_conn_closed(w);
}

void irh_conn_close(irh_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  irh_deferred_cancel(&c->flush);
  irh_worker_forget(&c->member);
  if (c->proto) c->proto->on_close(c, c->close_reason);
  /* A client that stopped reading gets a reset, so the kernel frees the
   * unsent bytes now instead of retrying them for minutes. */
  if (!c->abortive || uv_tcp_close_reset(&c->tcp, on_handle_closed) != 0)
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
  if (c->lingering) return;
  c->lingering = 1;
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown_done) != 0)
    irh_conn_close(c);
}

void irh_conn_close_when_flushed(irh_conn *c) {
  if (c->closing || c->close_when_flushed) return;
  c->close_when_flushed = 1;
  irh_conn_set_timeout(c, 0);
  /* The flush writes what is queued (with TLS, then a close_notify) and
   * starts the linger once all of it is out. */
  irh_conn_want_flush(c);
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t) {
  irh_conn *c = handle_conn((uv_handle_t *)t);
  if (c->close_when_flushed || !c->proto) { /* linger over, or a stuck handshake */
    irh_conn_close(c);
    return;
  }
  c->close_reason = IR_CLOSE_TIMEOUT;
  c->proto->on_timeout(c);
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
  c->abortive = 1;
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
    if (nread != UV_EOF || c->close_when_flushed || !c->proto) {
      irh_conn_close(c);
      return;
    }
    c->eof = 1;
    irh_conn_pause_reading(c);
    c->proto->on_eof(c);
    return;
  }
  if (c->close_when_flushed) { /* lingering: drop, up to a bound */
    if ((size_t)nread > LINGER_MAX_BYTES - c->lingered) { /* the bound, without overflow */
      irh_conn_close(c);
      return;
    }
    c->lingered += (uint32_t)nread;
    return;
  }
  if (c->tls)
    c->crypto->on_read(c, buf->base, (size_t)nread);
  else
    irh_conn_deliver(c, buf->base, (size_t)nread);
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
  if (c->closing) return;
  if (c->tls && !c->close_when_flushed) c->crypto->want_read(c); /* records it may still hold */
  if (c->reading || c->eof || c->closing) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
}

/* ---- writing ---- */

void irh_conn_want_flush(irh_conn *c) {
  if (!c->closing) irh_worker_defer_flush(c->worker, &c->flush);
}

char *irh_conn_reserve(irh_conn *c, size_t n) {
  if (c->closing) return NULL;
  char *p = irh_bufq_reserve(&c->out, n);
  if (!p) irh_conn_close(c);
  return p;
}

void irh_conn_commit(irh_conn *c, size_t used) {
  irh_bufq_commit(&c->out, used);
  irh_conn_want_flush(c);
}

int irh_conn_write(irh_conn *c, const void *data, size_t len) {
  if (c->closing) return -1;
  if (len == 0) return 0;
  char *p = irh_conn_reserve(c, len);
  if (!p) return -1;
  memcpy(p, data, len);
  irh_conn_commit(c, len);
  return 0;
}

int irh_conn_splice(irh_conn *c, irh_bufq *src, size_t len) {
  if (c->closing) return -1;
  if (irh_bufq_splice(&c->out, src, len) != 0) {
    irh_conn_close(c);
    return -1;
  }
  irh_conn_want_flush(c);
  return 0;
}

/* The socket took all the output a flush had (at once, or when a write
 * request completed): more output, the linger, or the protocol's on_drain.
 * More is flushed at the end of this turn, not from here (end_of_turn). */
static void written_all(irh_conn *c) {
  if (c->wire.len || c->out.len || c->file_stream || c->close_when_flushed) {
    irh_conn_want_flush(c);
    return;
  }
  if (c->proto) c->proto->on_drain(c);
}

static void on_write(uv_write_t *req, int status) {
  irh_conn *c = req->data;
  c->writing = 0;
  irh_bufq_consume(&c->wire, c->out_in_flight);
  c->out_in_flight = 0;
  if (c->closing) return;
  if (status < 0) {
    irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "write failed: %s", uv_strerror(status));
    irh_conn_close(c);
    return;
  }
  uv_timer_stop(&c->write_timer); /* a write that goes on restarts it */
  written_all(c);
}

void irh_conn_flush(irh_conn *c) {
  if (c->closing) return;
  /* Also when closing: HTTP/2's last frames (GOAWAY) are made here. */
  if (c->proto && c->proto->before_flush) c->proto->before_flush(c);
  if (c->closing || c->writing) return;
  if (c->tls)
    c->crypto->seal(c);
  else
    irh_bufq_move(&c->wire, &c->out);
  if (c->wire.len == 0 && c->file_stream) {
    int rc = irh_filesend_flush(c);
    if (rc == 1) rc = irh_filesend_nudge(c); /* socket full: a write tells when it drains */
    if (rc < 0) {
      irh_conn_close(c);
      return;
    }
  }
  if (c->wire.len == 0) {
    if (c->close_when_flushed && !c->file_stream) start_lingering_close(c);
    return;
  }
  uv_buf_t iov[MAX_IOV];
  size_t bytes;
  unsigned n = irh_bufq_peek(&c->wire, iov, MAX_IOV, &bytes);
  /* Most output fits in the socket at once: written without a request, it
   * needs no write timer, and libuv does not re-register the socket with
   * epoll as it does whenever a uv_write's queue drains. */
  int done = uv_try_write((uv_stream_t *)&c->tcp, iov, n);
  if (done < 0 && done != UV_EAGAIN) {
    irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "write failed: %s", uv_strerror(done));
    irh_conn_close(c);
    return;
  }
  if (done > 0) {
    irh_bufq_consume(&c->wire, (size_t)done);
    if ((size_t)done == bytes) {
      written_all(c);
      return;
    }
    n = irh_bufq_peek(&c->wire, iov, MAX_IOV, &bytes);
  }
  c->out_in_flight = bytes;
  c->writing = 1;
  c->write_req.data = c;
  if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, iov, n, on_write) != 0) {
    c->writing = 0;
    c->out_in_flight = 0;
    irh_conn_close(c);
    return;
  }
  uv_timer_start(&c->write_timer, on_write_stalled, c->limits->write_timeout_ms, 0);
}

/* ---- accepting ---- */

/* Over max_connections (or out of memory): close at once, which the client
 * sees as a clean FIN rather than a hang in the backlog. */
static void reject(ir_worker_t *w, int fd, const irh_config *limits) {
  close(fd);
  uint64_t now = uv_now(&w->loop);
  if (now - w->last_reject_log >= 1000 || w->last_reject_log == 0) {
    w->last_reject_log = now;
    irh_log_warn("max_connections (%llu) reached: closing new connections",
                 (unsigned long long)limits->max_connections);
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
      c->peer_len = (uint8_t)snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, port);
      return;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    port = ntohs(a->sin_port);
  }
  c->peer_len = (uint8_t)snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
}

static void run_flush(irh_deferred *d) { irh_conn_flush(irh_container_of(d, irh_conn, flush)); }

/* The worker drains: the protocol finishes its exchange, or the
 * connection closes (still in its TLS handshake). */
static void drain_shutdown(irh_drainable *d) {
  irh_conn *c = irh_container_of(d, irh_conn, member);
  if (c->proto)
    c->proto->on_shutdown(c);
  else
    irh_conn_close(c);
}

static void drain_close(irh_drainable *d, int reason) {
  irh_conn *c = irh_container_of(d, irh_conn, member);
  c->close_reason = reason;
  irh_conn_close(c);
}

static const irh_drain_ops conn_drain_ops = {.shutdown = drain_shutdown, .close = drain_close};

irh_conn *irh_conn_accept(irh_listener *l, int fd) {
  ir_worker_t *w = l->worker;
  irh_server *srv = w->server;
  const irh_config *limits = l->limits;
  if (atomic_fetch_add(&srv->connections, 1) >= limits->max_connections || w->draining) {
    atomic_fetch_sub(&srv->connections, 1);
    reject(w, fd, limits);
    return NULL;
  }
  if (!w->conn_slab.obj_size) irh_slab_init(&w->conn_slab, sizeof(irh_conn), 64); /* the first */
  irh_conn *c = irh_slab_alloc(&w->conn_slab);
  if (!c) {
    atomic_fetch_sub(&srv->connections, 1);
    reject(w, fd, limits);
    return NULL;
  }
  c->worker = w;
  c->listener = l;
  c->limits = limits;
  c->max_queued = limits->max_queued_output;
  c->close_reason = IR_CLOSE_ABORTED;
  uv_tcp_init(&w->loop, &c->tcp);
  uv_timer_init(&w->loop, &c->timer);
  uv_timer_init(&w->loop, &c->write_timer);
  c->tcp.data = c->timer.data = c->write_timer.data = c;
  c->open_handles = 3;
  irh_deferred_init(&c->flush, run_flush);
  c->member.ops = &conn_drain_ops;
  irh_worker_hold(w, &c->member);
  w->conns_alive++;
  c->id = atomic_fetch_add(&srv->next_conn_id, 1) + 1;
  if (uv_tcp_open(&c->tcp, fd) != 0) {
    close(fd); /* not the handle's yet */
    irh_conn_close(c);
    return NULL;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  format_peer(c);
  return c;
}

void irh_conn_start(irh_conn *c) { irh_conn_resume_reading(c); }
