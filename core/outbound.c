/* outbound.c — TCP (and TLS) connections a module opens (SDK 1.4).
 *
 * One ir_outbound_t per connection, on the worker that opened it. Its life:
 * LOOKUP (uv_getaddrinfo on the thread pool; an IP literal skips it) ->
 * CONNECTING (each address in turn until one answers) -> HANDSHAKE (TLS
 * only) -> OPEN -> CLOSED (on_close reported, handles closing) -> freed once
 * the last handle's close callback and the lookup have come back. One timer
 * bounds the way to OPEN (connect_timeout_ms) and, after outbound_close, the
 * flush (the server's write_timeout).
 *
 * Bytes the module writes are copied into `out` (plaintext), at most the
 * server's max_queued_output of them queued at once: past that, writes give
 * IR_EAGAIN and on_writable follows once the queue drained below the bound.
 * With TLS, `out` is sealed into `wire` (ciphertext) just before each socket
 * write, so the bound covers both. Bytes the peer sends go to on_data
 * straight from the worker's read buffer, or, with TLS, are gathered in
 * `tls_in` and decrypted one record at a time while the module has not
 * paused. Pausing stops socket reads (the peer is held back by TCP) and the
 * decryption, so at most one read's worth of ciphertext waits.
 *
 * Callbacks run from the loop only: whatever is found inside a host call
 * (a failed write, outbound_close's end, a resume with records held) is left
 * to a deferred pump at the end of the loop turn. on_close is reported once,
 * by finish(); the worker closes every connection still open (IR_ECLOSED)
 * before its modules' worker_exit (irh_worker_close_outbound).
 */
#include "outbound.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bufq.h"
#include "config.h"
#include "generation.h"
#include "log.h"
#include "server.h"
#include "worker.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define MAX_HOST_LEN 255u      /* a DNS name, or an IP literal */
#define WRITE_IOVECS 16u       /* pieces of the queue per socket write */
#define TLS_RECORD_MAX 16384u  /* plaintext of one TLS record */
#define SEAL_CHUNK 16384u      /* plaintext handed to gnutls_record_send at once */

enum ob_state { OB_LOOKUP, OB_CONNECTING, OB_HANDSHAKE, OB_OPEN, OB_CLOSED };

struct ir_outbound {
  irh_closable owned; /* in worker->outbound while on_close is owed */
  ir_worker_t *worker;
  const ir_outbound_cbs *cbs; /* module-owned */
  void *data;
  enum ob_state state;
  int status;        /* what on_close will say, once failed or closed */
  int close_asked;   /* outbound_close came: flush, then IR_OK */
  int paused;        /* the module paused on_data */
  int reading;       /* uv_read_start is in force */
  int peer_eof;      /* the socket reached EOF (TLS: records may still wait) */
  int want_writable; /* a write was cut short: on_writable is owed */
  int writing;       /* write_req in flight */
  int shutting;      /* shutdown_req in flight */
  int bye_sent;      /* TLS: our close_notify is queued */
  size_t in_flight;  /* bytes of `wire` (or `out`) write_req covers */
  size_t max_queued; /* the server's max_queued_output */
  uint64_t write_timeout_ms;

  char *host;  /* NUL-terminated copy; owned */
  char *sni;   /* the name sent and verified, NULL for none; owned */
  char *ca_file; /* owned; NULL: the system store */
  int tls, verify;
  uint16_t port;
  struct sockaddr_storage literal; /* host as an IP address, when it is one */
  int is_literal;
  struct addrinfo *addrs, *next_addr; /* the lookup's answers (owned), the next to try */

  uv_getaddrinfo_t lookup;
  int lookup_busy;
  uv_tcp_t tcp;
  int tcp_open;    /* tcp was initialised and not yet closed */
  int tcp_closing; /* uv_close was called for it */
  uv_timer_t timer;
  int timer_open;
  uv_connect_t connect_req;
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  irh_deferred pump; /* the end-of-turn pass for work found inside host calls */

  irh_bufq out;    /* plaintext the module wrote, not yet sent (or sealed) */
  irh_bufq wire;   /* TLS: ciphertext to send */
  irh_bufq tls_in; /* TLS: ciphertext received, not yet decrypted */
  gnutls_session_t session;
  gnutls_certificate_credentials_t creds; /* owned when ca_file or NO_VERIFY */
  int creds_owned;
};

static void pump(ir_outbound_t *o);
static void try_next_address(ir_outbound_t *o);
static void handshake(ir_outbound_t *o);

/* ---- the system trust store, loaded once per process ---- */

static uv_once_t system_creds_once = UV_ONCE_INIT;
static gnutls_certificate_credentials_t system_creds; /* process-wide, read-only once set */

static void load_system_creds(void) {
  if (gnutls_certificate_allocate_credentials(&system_creds) < 0) {
    system_creds = NULL;
    return;
  }
  int n = gnutls_certificate_set_x509_system_trust(system_creds);
  if (n < 0) irh_log(IR_LOG_WARN, 0, -1, NULL, "outbound: no system CA store (%s)", gnutls_strerror(n));
}

/* ---- ending ---- */

static void maybe_free(ir_outbound_t *o) {
  if (o->state != OB_CLOSED || o->lookup_busy || o->tcp_open || o->timer_open || o->writing ||
      o->shutting)
    return;
  irh_bufq_free(&o->out);
  irh_bufq_free(&o->wire);
  irh_bufq_free(&o->tls_in);
  if (o->session) gnutls_deinit(o->session);
  if (o->creds_owned) gnutls_certificate_free_credentials(o->creds);
  if (o->addrs) uv_freeaddrinfo(o->addrs);
  free(o->host);
  free(o->sni);
  free(o->ca_file);
  free(o);
}

static void on_tcp_closed(uv_handle_t *h) {
  ir_outbound_t *o = h->data;
  o->tcp_open = o->tcp_closing = 0;
  if (o->state == OB_CONNECTING) { /* a failed address: the next one */
    try_next_address(o);
    return;
  }
  maybe_free(o);
}

static void on_timer_closed(uv_handle_t *h) {
  ir_outbound_t *o = h->data;
  o->timer_open = 0;
  maybe_free(o);
}

static void close_tcp(ir_outbound_t *o) {
  if (o->tcp_open && !o->tcp_closing) {
    o->tcp_closing = 1;
    uv_close((uv_handle_t *)&o->tcp, on_tcp_closed);
  }
}

/* Reports on_close(status) now, from the loop, and lets everything go. */
static void finish(ir_outbound_t *o, int status) {
  if (o->state == OB_CLOSED) return;
  o->state = OB_CLOSED;
  irh_deferred_cancel(&o->pump);
  irh_list_remove(&o->owned.link);
  if (o->lookup_busy) uv_cancel((uv_req_t *)&o->lookup);
  close_tcp(o);
  if (o->timer_open && !uv_is_closing((uv_handle_t *)&o->timer))
    uv_close((uv_handle_t *)&o->timer, on_timer_closed);
  if (o->cbs->on_close) o->cbs->on_close(o, status, o->data);
  maybe_free(o);
}

/* A failure found inside a host call: reported at the end of the turn. */
static void fail_later(ir_outbound_t *o, int status) {
  if (o->state == OB_CLOSED || o->status) return;
  o->status = status;
  irh_worker_defer_settle(o->worker, &o->pump);
}

static void fail_now(ir_outbound_t *o, int status) { finish(o, o->status ? o->status : status); }

static int status_of_uv(int err) {
  switch (err) {
  case UV_ECONNREFUSED: return IR_EREFUSED;
  case UV_ETIMEDOUT: return IR_ETIMEDOUT;
  case UV_EOF: return IR_ECLOSED;
  default: return IR_EIO;
  }
}

static void on_close_by_worker(irh_closable *c) {
  ir_outbound_t *o = irh_container_of(c, ir_outbound_t, owned);
  finish(o, o->status ? o->status : IR_ECLOSED);
}

/* ---- the timer: connect timeout, then the closing flush's bound ---- */

static void on_timer(uv_timer_t *t) {
  ir_outbound_t *o = t->data;
  if (o->state != OB_OPEN)
    irh_log(IR_LOG_INFO, 0, -1, NULL, "outbound %s:%u: connect timed out", o->host, o->port);
  else
    irh_log(IR_LOG_INFO, 0, -1, NULL, "outbound %s:%u: closing flush timed out", o->host,
            o->port);
  finish(o, IR_ETIMEDOUT); /* not what the last address answered: the time ran out */
}

static void arm_timer(ir_outbound_t *o, uint64_t ms) {
  if (o->timer_open) uv_timer_start(&o->timer, on_timer, ms, 0);
}

/* ---- writing ---- */

static size_t queued(const ir_outbound_t *o) { return o->out.len + o->wire.len; }

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int n) {
  ir_outbound_t *o = ptr;
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    if (irh_bufq_append(&o->wire, iov[i].iov_base, iov[i].iov_len) != 0) {
      gnutls_transport_set_errno(o->session, ENOMEM);
      return -1;
    }
    total += iov[i].iov_len;
  }
  return (ssize_t)total;
}

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len) {
  ir_outbound_t *o = ptr;
  size_t n = irh_bufq_read(&o->tls_in, buf, len);
  if (n) return (ssize_t)n;
  if (o->peer_eof) return 0;
  gnutls_transport_set_errno(o->session, EAGAIN);
  return -1;
}

/* Seals what the module wrote into TLS records. 0, or an IR_E* status. */
static int seal(ir_outbound_t *o) {
  char chunk[SEAL_CHUNK];
  while (o->out.len) {
    size_t n = irh_bufq_read(&o->out, chunk, sizeof chunk);
    size_t done = 0;
    while (done < n) {
      ssize_t r = gnutls_record_send(o->session, chunk + done, n - done);
      if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) continue; /* push never blocks */
      if (r < 0) return IR_ETLS;
      done += (size_t)r;
    }
  }
  return 0;
}

static void on_write(uv_write_t *req, int status);
static void want_pump(ir_outbound_t *o);

/* After the queue drained (either write path): on_writable if it is owed
 * and the module may write again. */
static void call_writable_if_owed(ir_outbound_t *o) {
  if (!o->want_writable || o->close_asked || queued(o) >= o->max_queued) return;
  o->want_writable = 0;
  if (o->cbs->on_writable) o->cbs->on_writable(o, o->data);
}
static void on_shutdown(uv_shutdown_t *req, int status);

/* Starts the next socket write when none is in flight. */
static void flush(ir_outbound_t *o) {
  if (o->writing || o->shutting || o->state != OB_OPEN) return;
  if (o->tls) {
    int rc = seal(o);
    if (rc) {
      fail_now(o, rc);
      return;
    }
  }
  irh_bufq *q = o->tls ? &o->wire : &o->out;
  if (!q->len && o->close_asked && o->tls && !o->bye_sent) { /* close_notify goes last */
    o->bye_sent = 1;
    gnutls_bye(o->session, GNUTLS_SHUT_WR); /* into `wire`: push never blocks */
  }
  if (!q->len) {
    if (o->close_asked) { /* everything sent: the end of our side */
      o->shutting = 1;
      if (uv_shutdown(&o->shutdown_req, (uv_stream_t *)&o->tcp, on_shutdown) != 0) {
        o->shutting = 0;
        fail_now(o, IR_OK);
      }
    }
    return;
  }
  /* As conn.c: what the socket takes at once goes without a request, so
   * libuv does not re-register the socket with epoll, as it does whenever
   * a uv_write's queue drains; only the rest waits in a uv_write. */
  uv_buf_t iov[WRITE_IOVECS];
  size_t bytes;
  for (;;) {
    unsigned n = irh_bufq_peek(q, iov, WRITE_IOVECS, &bytes);
    ssize_t done = uv_try_write((uv_stream_t *)&o->tcp, iov, n);
    if (done < 0 && done != UV_EAGAIN) {
      fail_now(o, status_of_uv((int)done));
      return;
    }
    if (done > 0) irh_bufq_consume(q, (size_t)done);
    if (done != (ssize_t)bytes) break;
    if (!q->len) { /* owed on_writable, then what it wrote, or the close */
      call_writable_if_owed(o);
      if (o->state == OB_OPEN && (queued(o) || o->close_asked)) want_pump(o);
      return;
    }
  }
  unsigned n = irh_bufq_peek(q, iov, WRITE_IOVECS, &bytes);
  int rc = uv_write(&o->write_req, (uv_stream_t *)&o->tcp, iov, n, on_write);
  if (rc != 0) {
    fail_now(o, status_of_uv(rc));
    return;
  }
  o->writing = 1;
  o->in_flight = bytes;
}

static void on_write(uv_write_t *req, int status) {
  ir_outbound_t *o = req->data;
  o->writing = 0;
  if (o->state == OB_CLOSED) {
    maybe_free(o);
    return;
  }
  if (status != 0) {
    fail_now(o, status_of_uv(status));
    return;
  }
  irh_bufq_consume(o->tls ? &o->wire : &o->out, o->in_flight);
  o->in_flight = 0;
  if (o->peer_eof && !o->tls) { /* the end on_read found, now that the write went out */
    fail_now(o, IR_ECLOSED);
    return;
  }
  if (o->state == OB_HANDSHAKE) { /* the rest of a flight */
    handshake(o);
    return;
  }
  call_writable_if_owed(o);
  if (o->state == OB_CLOSED) return;
  flush(o);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  ir_outbound_t *o = req->data;
  o->shutting = 0;
  if (o->state == OB_CLOSED) {
    maybe_free(o);
    return;
  }
  finish(o, status == 0 ? IR_OK : status_of_uv(status));
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  ir_outbound_t *o = h->data;
  buf->base = (char *)o->worker->read_buf;
  buf->len = o->worker->read_buf_size;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void set_reading(ir_outbound_t *o, int on) {
  if (on == o->reading || o->state == OB_CLOSED || !o->tcp_open) return;
  if (on) {
    if (o->peer_eof || uv_read_start((uv_stream_t *)&o->tcp, on_alloc, on_read) != 0) return;
  } else {
    uv_read_stop((uv_stream_t *)&o->tcp);
  }
  o->reading = on;
}

/* Hands decrypted records to on_data while the module takes them. */
static void decrypt(ir_outbound_t *o) {
  uint8_t plain[TLS_RECORD_MAX];
  while (o->state == OB_OPEN && !o->paused && !o->close_asked) {
    size_t had = o->tls_in.len;
    ssize_t n = gnutls_record_recv(o->session, plain, sizeof plain);
    if (n > 0) {
      if (o->cbs->on_data) o->cbs->on_data(o, plain, (size_t)n, o->data);
      continue;
    }
    if (n == 0) { /* close_notify: the peer's end; ours in answer, if the socket takes it */
      if (!o->bye_sent && gnutls_bye(o->session, GNUTLS_SHUT_WR) == GNUTLS_E_SUCCESS) {
        o->bye_sent = 1;
        uv_buf_t iov[WRITE_IOVECS];
        size_t bytes;
        unsigned k = irh_bufq_peek(&o->wire, iov, WRITE_IOVECS, &bytes);
        if (!o->writing && k) uv_try_write((uv_stream_t *)&o->tcp, iov, k);
      }
      fail_now(o, IR_ECLOSED);
      return;
    }
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
      /* also after a post-handshake message (a TLS 1.3 session ticket):
       * more records may wait behind it */
      if (o->tls_in.len && o->tls_in.len < had) continue;
      if (o->peer_eof) fail_now(o, IR_ECLOSED); /* ended without close_notify */
      return;
    }
    if (!gnutls_error_is_fatal((int)n)) continue; /* a warning alert */
    if (o->peer_eof && n == GNUTLS_E_PREMATURE_TERMINATION) {
      fail_now(o, IR_ECLOSED);
      return;
    }
    irh_log(IR_LOG_INFO, 0, -1, NULL, "outbound %s:%u: TLS: %s", o->host, o->port,
            gnutls_strerror((int)n));
    fail_now(o, IR_ETLS);
    return;
  }
}

static void on_open(ir_outbound_t *o);

static void handshake(ir_outbound_t *o) {
  int rc = gnutls_handshake(o->session);
  if (rc == GNUTLS_E_SUCCESS) {
    on_open(o);
  } else if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(rc)) {
    if (o->peer_eof) {
      fail_now(o, IR_ETLS);
      return;
    }
    /* flights go out through the raw write path while not yet OPEN */
    if (o->wire.len && !o->writing) {
      uv_buf_t iov[WRITE_IOVECS];
      size_t bytes;
      unsigned n = irh_bufq_peek(&o->wire, iov, WRITE_IOVECS, &bytes);
      if (uv_write(&o->write_req, (uv_stream_t *)&o->tcp, iov, n, on_write) != 0) {
        fail_now(o, IR_EIO);
        return;
      }
      o->writing = 1;
      o->in_flight = bytes;
    }
  } else {
    irh_log(IR_LOG_INFO, 0, -1, NULL, "outbound %s:%u: TLS handshake failed: %s", o->host,
            o->port, gnutls_strerror(rc));
    fail_now(o, IR_ETLS);
  }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  ir_outbound_t *o = st->data;
  if (nread == 0 || o->state == OB_CLOSED) return;
  if (nread < 0) {
    if (nread != UV_EOF) {
      fail_now(o, status_of_uv((int)nread));
      return;
    }
    o->peer_eof = 1;
    set_reading(o, 0);
    o->reading = 0;
    if (!o->tls) {
      /* A reset that a failed write already reported to the kernel reads
       * as an end: with a write in flight its callback tells which it was
       * (it comes this turn when it failed; write_timeout bounds the wait). */
      if (o->writing) arm_timer(o, o->write_timeout_ms);
      else fail_now(o, IR_ECLOSED);
      return;
    }
  } else if (o->tls) {
    if (irh_bufq_append(&o->tls_in, buf->base, (size_t)nread) != 0) {
      fail_now(o, IR_EIO);
      return;
    }
  } else {
    if (!o->close_asked && o->cbs->on_data)
      o->cbs->on_data(o, (const uint8_t *)buf->base, (size_t)nread, o->data);
    return;
  }
  if (o->state == OB_HANDSHAKE)
    handshake(o);
  else if (o->state == OB_OPEN) {
    /* held back while paused: stop reading more ciphertext too */
    if (o->paused) set_reading(o, 0);
    decrypt(o);
  }
}

/* ---- connecting ---- */

static void on_open(ir_outbound_t *o) {
  o->state = OB_OPEN;
  uv_timer_stop(&o->timer);
  if (o->close_asked) arm_timer(o, o->write_timeout_ms);
  if (o->addrs) {
    uv_freeaddrinfo(o->addrs);
    o->addrs = o->next_addr = NULL;
  }
  if (o->cbs->on_connect && !o->close_asked) o->cbs->on_connect(o, o->data);
  if (o->state != OB_OPEN) return;
  set_reading(o, !o->paused && !o->close_asked);
  if (o->tls && !o->paused) decrypt(o); /* records that came with the last flight */
  if (o->state != OB_OPEN) return;
  flush(o);
}

static int start_tls(ir_outbound_t *o) {
  if (gnutls_init(&o->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0) return -1;
  if (gnutls_set_default_priority(o->session) < 0) return -1;
  if (!o->ca_file && o->verify) {
    uv_once(&system_creds_once, load_system_creds);
    o->creds = system_creds;
  }
  if (!o->creds) return -1;
  if (gnutls_credentials_set(o->session, GNUTLS_CRD_CERTIFICATE, o->creds) < 0) return -1;
  if (o->sni && gnutls_server_name_set(o->session, GNUTLS_NAME_DNS, o->sni, strlen(o->sni)) < 0)
    return -1;
  if (o->verify) /* the name: sni, or the host itself (an IP literal: its address) */
    gnutls_session_set_verify_cert(o->session, o->sni ? o->sni : o->host, 0);
  gnutls_transport_set_ptr(o->session, o);
  gnutls_transport_set_pull_function(o->session, tls_pull);
  gnutls_transport_set_vec_push_function(o->session, tls_push);
  return 0;
}

static void on_connected(uv_connect_t *req, int status) {
  ir_outbound_t *o = req->data;
  if (o->state != OB_CONNECTING) return; /* closed meanwhile (the handle closes) */
  if (status != 0) {
    o->status = status_of_uv(status); /* the last address's answer is what is reported */
    close_tcp(o);                     /* on_tcp_closed tries the next address */
    return;
  }
  o->status = 0;
  if (!o->tls) {
    on_open(o);
    return;
  }
  o->state = OB_HANDSHAKE;
  if (start_tls(o) != 0) {
    fail_now(o, IR_ETLS);
    return;
  }
  set_reading(o, 1);
  handshake(o);
}

static int connect_to(ir_outbound_t *o, const struct sockaddr *addr) {
  if (uv_tcp_init(&o->worker->loop, &o->tcp) != 0) return IR_EIO;
  o->tcp.data = o;
  o->tcp_open = 1;
  uv_tcp_nodelay(&o->tcp, 1);
  int rc = uv_tcp_connect(&o->connect_req, &o->tcp, addr, on_connected);
  if (rc != 0) {
    o->status = status_of_uv(rc);
    close_tcp(o); /* the next address, from the close callback */
  }
  return 0;
}

/* Connects to the next address of the lookup, or reports the last failure. */
static void try_next_address(ir_outbound_t *o) {
  while (o->next_addr && o->next_addr->ai_family != AF_INET && o->next_addr->ai_family != AF_INET6)
    o->next_addr = o->next_addr->ai_next;
  if (!o->next_addr) {
    fail_now(o, o->status ? o->status : IR_EREFUSED);
    return;
  }
  struct addrinfo *a = o->next_addr;
  o->next_addr = a->ai_next;
  if (connect_to(o, a->ai_addr) != 0) fail_now(o, IR_EIO);
}

static void on_lookup(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  ir_outbound_t *o = req->data;
  o->lookup_busy = 0;
  if (o->state == OB_CLOSED) {
    if (res) uv_freeaddrinfo(res);
    maybe_free(o);
    return;
  }
  if (status != 0 || !res) {
    irh_log(IR_LOG_INFO, 0, -1, NULL, "outbound %s:%u: %s", o->host, o->port, uv_strerror(status));
    if (res) uv_freeaddrinfo(res);
    fail_now(o, IR_ENOTFOUND);
    return;
  }
  o->addrs = o->next_addr = res;
  o->state = OB_CONNECTING;
  try_next_address(o);
}

/* ---- the deferred pump: work found inside host calls ---- */

static void run_pump(irh_deferred *d) {
  ir_outbound_t *o = irh_container_of(d, ir_outbound_t, pump);
  if (o->status && o->state != OB_CONNECTING) { /* a failure found in a host call */
    finish(o, o->status);
    return;
  }
  if (o->state == OB_LOOKUP && o->is_literal) {
    o->state = OB_CONNECTING;
    if (connect_to(o, (const struct sockaddr *)&o->literal) != 0) fail_now(o, IR_EIO);
    return;
  }
  pump(o);
}

static void pump(ir_outbound_t *o) {
  if (o->state != OB_OPEN) return;
  if (o->tls && !o->paused && !o->close_asked) decrypt(o);
  if (o->state != OB_OPEN) return;
  set_reading(o, !o->paused && !o->close_asked);
  flush(o);
}

static void want_pump(ir_outbound_t *o) { irh_worker_defer_settle(o->worker, &o->pump); }

/* ---- the SDK calls ---- */

static int parse_literal(ir_outbound_t *o) {
  struct sockaddr_in *v4 = (struct sockaddr_in *)&o->literal;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&o->literal;
  if (uv_ip4_addr(o->host, o->port, v4) == 0) return 1;
  if (strchr(o->host, ':') && uv_ip6_addr(o->host, o->port, v6) == 0) return 1;
  return 0;
}

static char *dup_str(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* Fills the TLS settings from opts; -1 for bad ones or out of memory. */
static int take_tls_opts(ir_outbound_t *o, const ir_outbound_opts *opts) {
  o->tls = 1;
  o->verify = !(opts->flags & IR_OUTBOUND_NO_VERIFY);
  const char *sni = opts->sni ? opts->sni : (o->is_literal ? NULL : o->host);
  if (sni && (!*sni || strlen(sni) > MAX_HOST_LEN)) return -1;
  if ((sni && !(o->sni = dup_str(sni))) || (opts->ca_file && !(o->ca_file = dup_str(opts->ca_file))))
    return -1;
  if (o->ca_file || !o->verify) {
    if (gnutls_certificate_allocate_credentials(&o->creds) < 0) return -1;
    o->creds_owned = 1;
    if (o->ca_file &&
        gnutls_certificate_set_x509_trust_file(o->creds, o->ca_file, GNUTLS_X509_FMT_PEM) <= 0) {
      irh_log(IR_LOG_WARN, 0, -1, NULL, "outbound: no CA certificate in %s", o->ca_file);
      o->status = IR_ETLS; /* reported from the loop: the connection fails as unverifiable */
    }
  }
  return 0;
}

ir_outbound_t *irh_outbound_open(struct ir_worker *w, const char *host, size_t host_len,
                                 uint16_t port, const ir_outbound_opts *opts,
                                 const ir_outbound_cbs *cbs, void *data) {
  if (!w || !host || !host_len || host_len > MAX_HOST_LEN || memchr(host, '\0', host_len) ||
      !port || !cbs || cbs->struct_size < sizeof(uint32_t) || w->closed || w->outbound_refused)
    return NULL;
  ir_outbound_opts o_opts = {0};
  if (opts) { /* a shorter struct from an older SDK: the missing fields stay zero */
    size_t n = opts->struct_size < sizeof o_opts ? opts->struct_size : sizeof o_opts;
    memcpy(&o_opts, opts, n);
    if (o_opts.flags & ~(uint32_t)(IR_OUTBOUND_TLS | IR_OUTBOUND_NO_VERIFY)) return NULL;
  }
  ir_outbound_t *o = calloc(1, sizeof(*o));
  if (!o) return NULL;
  o->worker = w;
  o->cbs = cbs;
  o->data = data;
  o->port = port;
  o->max_queued = w->gen->config->max_queued_output;
  o->write_timeout_ms = w->gen->config->write_timeout_ms;
  irh_deferred_init(&o->pump, run_pump);
  o->state = OB_CLOSED; /* until everything is set: maybe_free may take it back */
  o->host = malloc(host_len + 1);
  if (!o->host) goto fail;
  memcpy(o->host, host, host_len);
  o->host[host_len] = '\0';
  o->is_literal = parse_literal(o);
  if ((o_opts.flags & IR_OUTBOUND_TLS) && take_tls_opts(o, &o_opts) != 0) goto fail;
  if (uv_timer_init(&w->loop, &o->timer) != 0) goto fail;
  o->timer.data = o;
  o->timer_open = 1;
  o->lookup.data = o->connect_req.data = o->write_req.data = o->shutdown_req.data = o;
  o->state = OB_LOOKUP;
  uv_timer_start(&o->timer, on_timer,
                 o_opts.connect_timeout_ms ? o_opts.connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS,
                 0);
  o->owned.close = on_close_by_worker;
  irh_worker_own(w, &o->owned);
  if (o->status) { /* a setting that cannot work: reported from the loop */
    want_pump(o);
    return o;
  }
  if (o->is_literal) {
    want_pump(o); /* connects from the loop: its errors come as callbacks */
    return o;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  char service[8];
  snprintf(service, sizeof service, "%u", (unsigned)port);
  int rc = uv_getaddrinfo(&w->loop, &o->lookup, on_lookup, o->host, service, &hints);
  if (rc == 0)
    o->lookup_busy = 1;
  else
    fail_later(o, IR_ENOTFOUND);
  return o;
fail:
  if (o->timer_open) {
    o->state = OB_CLOSED;
    uv_close((uv_handle_t *)&o->timer, on_timer_closed);
    return NULL;
  }
  o->state = OB_CLOSED;
  maybe_free(o);
  return NULL;
}

ssize_t irh_outbound_write(ir_outbound_t *o, const void *bytes, size_t len) {
  if (!o || o->state == OB_CLOSED || o->close_asked || o->status) return IR_ECLOSED;
  if (!len) return 0;
  if (!bytes) return IR_EINVAL;
  size_t q = queued(o);
  if (q >= o->max_queued) {
    o->want_writable = 1;
    return IR_EAGAIN;
  }
  size_t take = len < o->max_queued - q ? len : o->max_queued - q;
  if (irh_bufq_append(&o->out, bytes, take) != 0) return IR_ENOMEM;
  if (take < len) o->want_writable = 1;
  if (o->state == OB_OPEN) want_pump(o);
  return (ssize_t)take;
}

int irh_outbound_pause(ir_outbound_t *o, int paused) {
  if (!o || o->state == OB_CLOSED || o->close_asked) return IR_ECLOSED;
  o->paused = paused != 0;
  if (o->paused)
    set_reading(o, 0);
  else if (o->state == OB_OPEN)
    want_pump(o); /* records held, and reading again, from the loop */
  return IR_OK;
}

void irh_outbound_close(ir_outbound_t *o) {
  if (!o || o->state == OB_CLOSED || o->close_asked) return;
  o->close_asked = 1;
  o->want_writable = 0;
  set_reading(o, 0);
  if (o->state == OB_OPEN) {
    arm_timer(o, o->write_timeout_ms);
    want_pump(o);
  } /* not yet open: it connects, sends what was queued, then closes */
}
