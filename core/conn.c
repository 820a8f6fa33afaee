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
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "generation.h"
#include "listener.h"
#include "log.h"
#include "process.h"
#include "worker.h"

#define MAX_IOV 64
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (1u << 20)
#define NUDGE_MAX 16384u /* file bytes copied to learn when a full socket drains */
/* TLS: file bytes one thread-pool read takes, at most. HTTP/2 interleaves
 * its streams' 16 KiB DATA payloads, and only a file's consecutive payloads
 * in one read join into one preadv: 1 MiB (16 streams x 4 payloads) costs
 * a quarter of the preadv calls and thread-pool round trips of 256 KiB. The
 * room in the wire queue (max_queued_output) bounds it further. */
#define FILE_READ_MAX (1024u * 1024u)
#define FILE_READ_MIN 16384u /* ... and at least (one TLS record) */
#define FILE_READ_RANGES 256 /* ... in at most this many ranges (HTTP/2 DATA payloads) */

/* A thread-pool read of the file ranges at the front of a TLS connection's
 * plaintext queue; the connection seals no further until it returns. */
typedef struct irh_conn_read {
  irh_conn *conn;
  irh_bufq_file_range ranges[FILE_READ_RANGES];
  unsigned nranges;
  size_t len;  /* bytes asked for, all ranges */
  ssize_t got; /* bytes read, or -1 */
  int done;    /* the job returned (on the loop) */
  char buf[];  /* the ranges' bytes, one after the other */
} irh_conn_read;

static irh_conn *handle_conn(const uv_handle_t *h) { return h->data; }

/* ---- closing ---- */

/* One of what keeps the slot (the three handles, a file read in flight)
 * is done; the last one frees it. */
static void conn_unref(irh_conn *c) {
  if (--c->open_handles > 0) return;
  ir_worker_t *w = c->worker;
  irh_bufq_free(&c->out); /* releases file ranges: no read of theirs is in flight */
  irh_bufq_free(&c->wire);
  if (c->proto && c->proto->on_release) c->proto->on_release(c);
  free(c->reading_file);
  free(c->nudge);
  if (c->tls) c->crypto->release(c);
  irh_generation_release(c->gen);
  irh_slab_free(&w->conn_slab, c);
  atomic_fetch_sub(&w->server->connections, 1);
  irh_worker_conn_closed(w);
}

static void on_handle_closed(uv_handle_t *h) { conn_unref(handle_conn(h)); }

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
  c->bytes_in += (uint64_t)nread;
  irh_count_add(&c->worker->counts.bytes_in, (uint64_t)nread);
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

int irh_conn_write_file(irh_conn *c, int fd, uint64_t offset, size_t len,
                        irh_bufq_release_fn release, void *user) {
  if (c->closing) return -1;
  if (irh_bufq_append_file(&c->out, fd, offset, len, release, user) != 0) {
    irh_conn_close(c);
    return -1;
  }
  irh_conn_want_flush(c);
  return 0;
}

/* The socket took all the output a flush had (at once, or when a write
 * request completed): more output, the linger, or the protocol's on_drain.
 * More is flushed at the end of this turn, not from here (end_of_turn). */
static void count_out(irh_conn *c, size_t n) {
  c->bytes_out += n;
  irh_count_add(&c->worker->counts.bytes_out, n);
}

static void written_all(irh_conn *c) {
  if (c->wire.len || c->out.len || c->close_when_flushed) {
    irh_conn_want_flush(c);
    return;
  }
  if (c->proto) c->proto->on_drain(c);
}

static void on_write(uv_write_t *req, int status) {
  irh_conn *c = req->data;
  c->writing = 0;
  irh_bufq_consume(&c->wire, c->out_in_flight);
  if (status >= 0) count_out(c, c->out_in_flight);
  c->out_in_flight = 0;
  free(c->nudge);
  c->nudge = NULL;
  if (c->closing) return;
  if (status < 0) {
    irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "write failed: %s", uv_strerror(status));
    irh_conn_close(c);
    return;
  }
  uv_timer_stop(&c->write_timer); /* a write that goes on restarts it */
  written_all(c);
}

/* A write request for the n iovecs (bytes) at the front of the wire
 * queue: the socket is full, on_write goes on. */
static void write_later(irh_conn *c, uv_buf_t *iov, unsigned n, size_t bytes) {
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

static void log_short_file(irh_conn *c, const irh_bufq_file_range *r) {
  irh_log(IR_LOG_ERROR, c->id, -1, NULL,
          "file body: the file ends before offset %llu of its queued range: closing",
          (unsigned long long)(r->offset + r->len));
}

/* Memory bytes that more bytes follow (a file range): MSG_MORE lets the
 * kernel send them in one packet with the range's first bytes (a head, an
 * HTTP/2 frame header). Returns bytes sent or a libuv error, as
 * uv_try_write. */
static ssize_t send_before_file(irh_conn *c, uv_buf_t *iov, unsigned n) {
  _Static_assert(sizeof(uv_buf_t) == sizeof(struct iovec), "uv_buf_t is an iovec on Unix");
  uv_os_fd_t sock;
  if (uv_fileno((uv_handle_t *)&c->tcp, &sock) != 0) return UV_EBADF;
  struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
  for (;;) {
    ssize_t done = sendmsg(sock, &m, MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL);
    if (done >= 0) return done;
    if (errno != EINTR) return errno == EAGAIN || errno == EWOULDBLOCK ? UV_EAGAIN : -errno;
  }
}

/* sendfile(2) of the file range at the front of the wire queue until it
 * is gone (0) or the socket is full (1); -1 on an error, logged. */
static int send_front_file(irh_conn *c, const irh_bufq_file_range *r) {
  uv_os_fd_t sock;
  if (uv_fileno((uv_handle_t *)&c->tcp, &sock) != 0) return -1;
  size_t left = r->len;
  off_t off = (off_t)r->offset;
  while (left) { /* the range (and its fd) stays queued while bytes of it are left */
    ssize_t n = sendfile(sock, r->fd, &off, left);
    if (n > 0) {
      left -= (size_t)n;
      irh_bufq_consume(&c->wire, (size_t)n); /* the last piece releases the range */
      count_out(c, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
    if (n == 0)
      log_short_file(c, r);
    else
      irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "sendfile failed: %s", strerror(errno));
    return -1;
  }
  return 0;
}

/* The socket is full in front of a file range: a write request for its
 * next bytes (copied from pages the read-ahead made resident) tells when
 * it drains, and then sendfile goes on. */
static int nudge(irh_conn *c, const irh_bufq_file_range *r) {
  size_t len = r->len < NUDGE_MAX ? r->len : NUDGE_MAX;
  if (!(c->nudge = malloc(len))) return -1;
  ssize_t n;
  do {
    n = pread(r->fd, c->nudge, len, (off_t)r->offset);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    if (n == 0) log_short_file(c, r);
    return -1;
  }
  uv_buf_t buf = uv_buf_init(c->nudge, (unsigned)n);
  write_later(c, &buf, 1, (size_t)n);
  return 0;
}

/* Writes the wire queue until it is empty or the socket is full. */
static void write_wire(irh_conn *c) {
  while (c->wire.len) {
    uv_buf_t iov[MAX_IOV];
    size_t bytes;
    unsigned n = irh_bufq_peek(&c->wire, iov, MAX_IOV, &bytes);
    irh_bufq_file_range r;
    if (n == 0) { /* a file range is at the front */
      int rc = irh_bufq_front_file(&c->wire, &r) ? send_front_file(c, &r) : -1;
      if (rc == 0) continue;
      if (rc < 0 || !irh_bufq_front_file(&c->wire, &r) || nudge(c, &r) != 0) irh_conn_close(c);
      return;
    }
    /* Most output fits in the socket at once: written without a request,
     * it needs no write timer, and libuv does not re-register the socket
     * with epoll as it does whenever a uv_write's queue drains. Bytes
     * beyond these (a file range) follow at once: MSG_MORE. */
    ssize_t done = bytes < c->wire.len ? send_before_file(c, iov, n)
                                       : uv_try_write((uv_stream_t *)&c->tcp, iov, n);
    if (done < 0 && done != UV_EAGAIN) {
      irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "write failed: %s", uv_strerror((int)done));
      irh_conn_close(c);
      return;
    }
    if (done > 0) irh_bufq_consume(&c->wire, (size_t)done), count_out(c, (size_t)done);
    if (done == (ssize_t)bytes) continue;
    n = irh_bufq_peek(&c->wire, iov, MAX_IOV, &bytes);
    write_later(c, iov, n, bytes);
    return;
  }
  written_all(c);
}

/* ---- TLS: file ranges read off the loop ---- */

/* preadv until iov (n pieces) is full; whether it was (the file may end
 * first). Changes iov. */
static int preadv_all(int fd, struct iovec *iov, int n, off_t off) {
  while (n > 0) {
    ssize_t got = preadv(fd, iov, n, off);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return 0;
    off += got;
    while (n > 0 && (size_t)got >= iov->iov_len) {
      got -= (ssize_t)iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + got;
      iov->iov_len -= (size_t)got;
    }
  }
  return 1;
}

/* Reads every range into its place in rd->buf. Ranges that go on where
 * an earlier one of the same file ended (a file's HTTP/2 DATA payloads,
 * between other streams' frames) are read with one preadv. */
static void read_file_work(void *d) {
  irh_conn_read *rd = d;
  size_t at[FILE_READ_RANGES];
  unsigned char taken[FILE_READ_RANGES] = {0};
  for (unsigned i = 0, pos = 0; i < rd->nranges; pos += rd->ranges[i++].len) at[i] = pos;
  rd->got = (ssize_t)rd->len;
  for (unsigned i = 0; i < rd->nranges; i++) {
    if (taken[i]) continue;
    const irh_bufq_file_range *r = &rd->ranges[i];
    struct iovec iov[FILE_READ_RANGES];
    int n = 0;
    uint64_t end = r->offset;
    for (unsigned j = i; j < rd->nranges; j++) {
      const irh_bufq_file_range *q = &rd->ranges[j];
      if (taken[j] || q->fd != r->fd || q->offset != end) continue;
      iov[n++] = (struct iovec){rd->buf + at[j], q->len};
      end += q->len;
      taken[j] = 1;
    }
    if (!preadv_all(r->fd, iov, n, (off_t)r->offset)) {
      rd->got = -1; /* shorter than its ranges */
      return;
    }
  }
}

static void read_file_done(void *d, int status) {
  irh_conn_read *rd = d;
  irh_conn *c = rd->conn;
  rd->done = 1;
  if (status != IR_OK) rd->got = -1;
  irh_conn_want_flush(c); /* seal_tls takes the bytes */
  conn_unref(c);          /* freed here if the connection closed meanwhile */
}

/* A thread-pool read of the file ranges among the first bytes of `out`:
 * about as many bytes as the wire queue has room for, at least a record. */
static int start_file_read(irh_conn *c) {
  size_t room = c->wire.len < c->max_queued ? c->max_queued - c->wire.len : 0;
  size_t budget = room > FILE_READ_MAX   ? FILE_READ_MAX
                  : room < FILE_READ_MIN ? FILE_READ_MIN
                                         : room;
  irh_bufq_file_range ranges[FILE_READ_RANGES];
  unsigned n = irh_bufq_peek_files(&c->out, ranges, FILE_READ_RANGES, budget);
  if (n == 0) return 0;
  size_t len = 0;
  for (unsigned i = 0; i < n; i++) len += ranges[i].len;
  irh_conn_read *rd = malloc(sizeof(*rd) + len);
  if (!rd) return -1;
  rd->conn = c;
  memcpy(rd->ranges, ranges, n * sizeof ranges[0]);
  rd->nranges = n;
  rd->len = len;
  rd->got = 0;
  rd->done = 0;
  if (irh_work_submit(c->worker, read_file_work, read_file_done, rd) != IR_OK) {
    free(rd);
    return -1;
  }
  c->reading_file = rd;
  c->open_handles++; /* the slot and the ranges' fds stay until the read returns */
  return 0;
}

/* Records gathered in the worker's stage: IRH_WORKER_STAGE_SIZE bytes make one. */
typedef struct stage {
  char *buf;
  size_t len;
} stage;

static int stage_add(irh_conn *c, stage *st, const char *p, size_t n) {
  while (n) {
    size_t take = IRH_WORKER_STAGE_SIZE - st->len < n ? IRH_WORKER_STAGE_SIZE - st->len : n;
    memcpy(st->buf + st->len, p, take);
    st->len += take;
    p += take;
    n -= take;
    if (st->len == IRH_WORKER_STAGE_SIZE) {
      if (c->crypto->seal_bytes(c, st->buf, st->len) != 0) return -1;
      st->len = 0;
    }
  }
  return 0;
}

/* The memory at the front of `out`, up to a file range, into the stage. */
static int stage_memory(irh_conn *c, stage *st) {
  size_t n;
  while ((n = irh_bufq_read(&c->out, st->buf + st->len, IRH_WORKER_STAGE_SIZE - st->len)) > 0) {
    st->len += n;
    if (st->len < IRH_WORKER_STAGE_SIZE) break; /* a file range or the end */
    if (c->crypto->seal_bytes(c, st->buf, st->len) != 0) return -1;
    st->len = 0;
  }
  return 0;
}

/* Seals what a read brought: the memory before each range (HTTP/2 frame
 * headers) and the range's bytes as one stream of full records, as if
 * they had been memory all along; each range then leaves `out` (its last
 * piece releases the file). 0, or -1 when the connection must close. */
static int seal_read(irh_conn *c, const irh_conn_read *rd) {
  if (rd->got != (ssize_t)rd->len) {
    log_short_file(c, &rd->ranges[0]);
    return -1;
  }
  stage st = {c->worker->tls_stage, 0};
  const char *p = rd->buf;
  for (unsigned i = 0; i < rd->nranges; i++) {
    const irh_bufq_file_range *r = &rd->ranges[i];
    if (stage_memory(c, &st) != 0) return -1;
    irh_bufq_file_range front;
    if (!irh_bufq_front_file(&c->out, &front) || front.fd != r->fd || front.offset != r->offset ||
        front.len < r->len)
      return -1; /* nothing but this takes file ranges out of `out` */
    size_t left = r->len;
    const char *q = p;
    if (st.len) { /* top the record up */
      size_t take = IRH_WORKER_STAGE_SIZE - st.len < left ? IRH_WORKER_STAGE_SIZE - st.len : left;
      if (stage_add(c, &st, q, take) != 0) return -1;
      q += take;
      left -= take;
    }
    size_t whole = left - left % IRH_WORKER_STAGE_SIZE; /* full records straight from the buffer */
    if (whole && c->crypto->seal_bytes(c, q, whole) != 0) return -1;
    if (stage_add(c, &st, q + whole, left - whole) != 0) return -1;
    irh_bufq_consume(&c->out, r->len);
    p += r->len;
  }
  if (st.len && stage_memory(c, &st) != 0) return -1; /* what follows shares the last record */
  return st.len ? c->crypto->seal_bytes(c, st.buf, st.len) : 0;
}

/* Seals the plaintext queue: memory as it comes, file ranges once a
 * thread-pool read brought their bytes; a new read only while the wire
 * queue is under max_queued_output, so a client that does not read holds
 * about that much, plus one read. */
static void seal_tls(irh_conn *c) {
  for (;;) {
    c->crypto->seal(c);
    if (c->closing) return;
    irh_conn_read *rd = c->reading_file;
    if (rd && !rd->done) return;
    if (rd) {
      c->reading_file = NULL;
      int rc = seal_read(c, rd);
      free(rd);
      if (rc != 0) {
        irh_conn_close(c);
        return;
      }
      continue;
    }
    if (c->wire.len < c->max_queued && start_file_read(c) != 0) irh_conn_close(c);
    return;
  }
}

void irh_conn_flush(irh_conn *c) {
  if (c->closing) return;
  /* Also when closing: HTTP/2's last frames (GOAWAY) are made here. */
  if (c->proto && c->proto->before_flush) c->proto->before_flush(c);
  if (c->closing || c->writing) return;
  if (c->tls)
    seal_tls(c);
  else
    irh_bufq_move(&c->wire, &c->out);
  if (c->closing) return;
  if (c->wire.len == 0) {
    if (c->close_when_flushed && c->out.len == 0) start_lingering_close(c);
    return;
  }
  write_wire(c);
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
  const irh_config *limits = l->gen->config;
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
  c->gen = l->gen;
  irh_generation_hold(c->gen);
  c->listen = l->cfg;
  c->tls_ctx = l->tls;
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
  irh_count_add(&w->counts.conns_total, 1);
  c->accepted_ms = uv_now(&w->loop);
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
