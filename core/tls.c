/* tls.c — GnuTLS sessions over connection buffers; see tls.h.
 *
 * Reading: ciphertext from the socket is appended to `in`; GnuTLS pulls
 * from it (EAGAIN when empty). The handshake runs until done, then records
 * are decrypted into the worker's plaintext buffer and handed to the
 * protocol, stopping when the protocol pauses reading (the rest stays in
 * `in` and in GnuTLS until irh_tls_want_read).
 * Writing: GnuTLS pushes ciphertext straight into the connection's wire
 * queue. Sealing a loop turn's plaintext gathers the output queue's pieces
 * (frame headers, body blocks) into full-size records, one
 * gnutls_record_send each.
 */
#include "tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "recycler.h"
#include "worker.h"

#define TLS_IN_MAX (256u * 1024u) /* ciphertext held while the protocol waits */
#define TLS_RECORD_MAX IRH_WORKER_STAGE_SIZE /* plaintext per record (TLS's maximum) */
_Static_assert(IRH_WORKER_STAGE_SIZE == 16384, "the worker's stage holds one full TLS record");

/* One [certificate], for choosing by SNI. */
typedef struct irh_tls_cert {
  gnutls_certificate_credentials_t creds; /* this certificate alone */
  gnutls_x509_crt_t leaf;                 /* for matching the SNI name */
} irh_tls_cert;

struct irh_tls_ctx {
  gnutls_certificate_credentials_t creds; /* every certificate: when no SNI name matches */
  irh_tls_cert *certs;                    /* owned, ncerts of them */
  size_t ncerts;
  gnutls_priority_t priority;
  gnutls_datum_t ticket_key; /* owned (gnutls_free) */
  gnutls_datum_t alpn[IRH_MAX_ALPN];
  unsigned nalpn;
  uint64_t handshake_timeout_ms;
};

struct irh_tls_conn {
  gnutls_session_t session;
  const irh_tls_ctx *ctx;
  irh_tls_handshake_fn on_handshake; /* the owner's: picks the protocol by ALPN */
  char *in; /* ciphertext not yet pulled by GnuTLS; owned */
  size_t in_len, in_off, in_cap;
  unsigned handshake_done : 1;
  unsigned bye_sent : 1;
  unsigned decrypting : 1; /* guards against re-entry from the protocol */
};

/* ---- the listener's context ---- */

static int load_pair(irh_config *c, const irh_cert_cfg *cert,
                     gnutls_certificate_credentials_t creds) {
  int rc = gnutls_certificate_set_x509_key_file2(creds, cert->cert, cert->key, GNUTLS_X509_FMT_PEM,
                                                 NULL, 0);
  if (rc >= 0) return 0;
  const char *hint =
      rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH ? " (the key does not match the certificate)" : "";
  irh_config_error(c, cert->section->line, "[certificate %s] cannot load %s with key %s: %s%s",
                   cert->name, cert->cert, cert->key, gnutls_strerror(rc), hint);
  return -1;
}

/* The leaf certificate of a single-certificate credentials object. */
static int load_leaf(gnutls_certificate_credentials_t creds, gnutls_x509_crt_t *leaf) {
  gnutls_datum_t der;
  if (gnutls_certificate_get_crt_raw(creds, 0, 0, &der) < 0) return -1;
  if (gnutls_x509_crt_init(leaf) < 0) return -1;
  return gnutls_x509_crt_import(*leaf, &der, GNUTLS_X509_FMT_DER) < 0 ? -1 : 0;
}

static int load_certificates(irh_config *c, irh_tls_ctx *t) {
  t->certs = calloc(c->ncerts ? c->ncerts : 1, sizeof(*t->certs));
  if (!t->certs) return -1;
  for (size_t i = 0; i < c->ncerts; i++) {
    irh_tls_cert *one = &t->certs[i];
    t->ncerts++;
    if (gnutls_certificate_allocate_credentials(&one->creds) < 0) return -1;
    if (load_pair(c, &c->certs[i], one->creds) != 0 || load_pair(c, &c->certs[i], t->creds) != 0)
      return -1;
    if (load_leaf(one->creds, &one->leaf) != 0) return -1;
  }
  return 0;
}

/* Picks the certificate whose names match the client's SNI, so that the
 * name wins over cipher-suite preference (in TLS 1.2 the suite would
 * otherwise pick the key type, and with it the certificate). */
static int choose_certificate(gnutls_session_t session) {
  const irh_conn *c = gnutls_session_get_ptr(session);
  const irh_tls_ctx *t = c->tls->ctx;
  char name[256];
  size_t len = sizeof name;
  unsigned type;
  if (gnutls_server_name_get(session, name, &len, &type, 0) < 0 || type != GNUTLS_NAME_DNS)
    return 0;
  for (size_t i = 0; i < t->ncerts; i++)
    if (gnutls_x509_crt_check_hostname(t->certs[i].leaf, name)) {
      gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, t->certs[i].creds);
      break;
    }
  return 0;
}

irh_tls_ctx *irh_tls_ctx_new(irh_config *c, const irh_listen_cfg *l) {
  irh_tls_ctx *t = calloc(1, sizeof(*t));
  if (!t) return NULL;
  t->handshake_timeout_ms = c->header_timeout_ms;
  if (gnutls_certificate_allocate_credentials(&t->creds) < 0) goto fail;
  if (load_certificates(c, t) != 0) goto fail;
  const char *err_pos = NULL;
  int rc = gnutls_priority_init2(&t->priority, l->tls_priority, &err_pos, 0);
  if (rc < 0) {
    irh_config_error(c, l->section->line, "[listen %s] bad tls_priority near '%s': %s",
                     l->section->arg, err_pos ? err_pos : "", gnutls_strerror(rc));
    goto fail;
  }
  if (gnutls_session_ticket_key_generate(&t->ticket_key) < 0) goto fail;
  for (size_t i = 0; i < l->nalpn; i++) {
    t->alpn[i].data = (unsigned char *)l->alpn[i];
    t->alpn[i].size = (unsigned)strlen(l->alpn[i]);
  }
  t->nalpn = (unsigned)l->nalpn;
  return t;
fail:
  irh_tls_ctx_free(t);
  return NULL;
}

void irh_tls_ctx_free(irh_tls_ctx *t) {
  if (!t) return;
  if (t->creds) gnutls_certificate_free_credentials(t->creds);
  for (size_t i = 0; i < t->ncerts; i++) {
    if (t->certs[i].creds) gnutls_certificate_free_credentials(t->certs[i].creds);
    if (t->certs[i].leaf) gnutls_x509_crt_deinit(t->certs[i].leaf);
  }
  free(t->certs);
  if (t->priority) gnutls_priority_deinit(t->priority);
  if (t->ticket_key.data) {
    memset(t->ticket_key.data, 0, t->ticket_key.size);
    gnutls_free(t->ticket_key.data);
  }
  free(t);
}

/* ---- transport callbacks ---- */

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len) {
  irh_conn *c = ptr;
  irh_tls_conn *s = c->tls;
  size_t avail = s->in_len - s->in_off;
  if (avail == 0) {
    gnutls_transport_set_errno(s->session, EAGAIN);
    return -1;
  }
  if (len > avail) len = avail;
  memcpy(buf, s->in + s->in_off, len);
  s->in_off += len;
  if (s->in_off == s->in_len) s->in_off = s->in_len = 0;
  return (ssize_t)len;
}

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int n) {
  irh_conn *c = ptr;
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    if (irh_bufq_append(&c->wire, iov[i].iov_base, iov[i].iov_len) != 0) {
      gnutls_transport_set_errno(c->tls->session, ENOMEM);
      return -1;
    }
    total += iov[i].iov_len;
  }
  irh_conn_want_flush(c);
  return (ssize_t)total;
}

/* ---- a connection ---- */

static const irh_conn_crypto tls_crypto;

int irh_tls_conn_start(irh_conn *c, irh_tls_ctx *t, irh_tls_handshake_fn on_handshake) {
  irh_tls_conn *s = calloc(1, sizeof(*s));
  if (!s) return -1;
  s->ctx = t;
  s->on_handshake = on_handshake;
  irh_conn_set_crypto(c, &tls_crypto, s);
  if (gnutls_init(&s->session, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) < 0) return -1;
  gnutls_priority_set(s->session, t->priority);
  gnutls_credentials_set(s->session, GNUTLS_CRD_CERTIFICATE, t->creds);
  gnutls_session_ticket_enable_server(s->session, &t->ticket_key);
  /* MANDATORY: a client whose ALPN list has none of ours gets the fatal
   * no_application_protocol alert (RFC 7301 §3.2) instead of a protocol it
   * did not offer; a client sending no ALPN at all is not affected. */
  if (t->nalpn)
    gnutls_alpn_set_protocols(s->session, t->alpn, t->nalpn,
                              GNUTLS_ALPN_SERVER_PRECEDENCE | GNUTLS_ALPN_MANDATORY);
  gnutls_session_set_ptr(s->session, c);
  gnutls_handshake_set_post_client_hello_function(s->session, choose_certificate);
  gnutls_transport_set_ptr(s->session, c);
  gnutls_transport_set_pull_function(s->session, tls_pull);
  gnutls_transport_set_vec_push_function(s->session, tls_push);
  irh_conn_set_timeout(c, t->handshake_timeout_ms);
  return 0;
}

static int append_ciphertext(irh_tls_conn *s, const char *data, size_t len) {
  if (s->in_len + len > s->in_cap) {
    if (s->in_len - s->in_off + len > TLS_IN_MAX) return -1;
    if (s->in_off) { /* slide the unread part to the front first */
      memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
      s->in_len -= s->in_off;
      s->in_off = 0;
    }
    if (s->in_len + len > s->in_cap) {
      size_t cap = s->in_cap ? s->in_cap : 16384;
      while (cap < s->in_len + len) cap *= 2;
      char *grown = irh_recycler_realloc(s->in, cap);
      if (!grown) return -1;
      s->in = grown;
      s->in_cap = cap;
    }
  }
  memcpy(s->in + s->in_len, data, len);
  s->in_len += len;
  return 0;
}

/* The handshake is done: the owner picks the protocol by the ALPN result
 * (empty when the client offered none). */
static int report_alpn(irh_conn *c) {
  gnutls_datum_t proto;
  const char *alpn = "";
  size_t alpn_len = 0;
  if (gnutls_alpn_get_selected_protocol(c->tls->session, &proto) == 0) {
    alpn = (const char *)proto.data;
    alpn_len = proto.size;
  }
  irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "TLS handshake done: %s, ALPN %.*s",
          gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls->session)),
          alpn_len ? (int)alpn_len : 4, alpn_len ? alpn : "none");
  return c->tls->on_handshake(c, alpn, alpn_len);
}

static int do_handshake(irh_conn *c) {
  irh_tls_conn *s = c->tls;
  int rc = gnutls_handshake(s->session);
  if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) return 0;
  if (rc < 0) {
    irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "TLS handshake failed: %s", gnutls_strerror(rc));
    if (gnutls_error_is_fatal(rc)) {
      gnutls_alert_send_appropriate(s->session, rc);
      irh_conn_close_when_flushed(c);
      return -1;
    }
    return 0;
  }
  s->handshake_done = 1;
  irh_conn_set_timeout(c, 0);
  if (report_alpn(c) != 0) {
    irh_conn_close(c);
    return -1;
  }
  return 0;
}

/* Decrypts records for the protocol until GnuTLS needs more bytes or the
 * protocol stops reading. */
static void decrypt_records(irh_conn *c) {
  irh_tls_conn *s = c->tls;
  if (s->decrypting) return;
  s->decrypting = 1;
  /* The worker's read buffer is free here: the ciphertext was copied out. */
  uint8_t *buf = c->worker->read_buf;
  size_t cap = c->worker->read_buf_size;
  while (!c->closing && !c->read_paused && !c->close_when_flushed) {
    ssize_t n = gnutls_record_recv(s->session, buf, cap);
    if (n > 0) {
      irh_conn_deliver(c, (const char *)buf, (size_t)n);
      continue;
    }
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) break;
    if (n == GNUTLS_E_REHANDSHAKE) {
      /* A TLS 1.2 renegotiation: refused with the warning alert (RFC 5246
       * §7.2.2), then closed once flushed. GnuTLS keeps the ClientHello
       * buffered and fails the next record_recv with UNEXPECTED_PACKET,
       * so the connection cannot go on; closing at once, as that error
       * did, dropped the alert with the unwritten wire queue. */
      irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "TLS renegotiation refused");
      gnutls_alert_send(s->session, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
      irh_conn_close_when_flushed(c);
      break;
    }
    if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION) { /* close_notify, or just FIN */
      c->eof = 1;
      irh_conn_pause_reading(c);
      c->proto->on_eof(c);
      break;
    }
    irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "TLS record error: %s", gnutls_strerror((int)n));
    if (gnutls_error_is_fatal((int)n)) {
      irh_conn_close(c);
      break;
    }
  }
  s->decrypting = 0;
}

/* All ciphertext was pulled: the buffer goes back to the worker's
 * recycler, so an idle connection holds none (no malloc per read). */
static void release_empty_in(irh_tls_conn *s) {
  if (s->in && s->in_off == s->in_len) {
    irh_recycler_free(s->in);
    s->in = NULL;
    s->in_cap = s->in_len = s->in_off = 0;
  }
}

static void tls_on_read(irh_conn *c, const char *data, size_t len) {
  irh_tls_conn *s = c->tls;
  if (append_ciphertext(s, data, len) != 0) {
    irh_conn_close(c);
    return;
  }
  if (!s->handshake_done && do_handshake(c) != 0) return;
  if (s->handshake_done) decrypt_records(c);
  /* Too much held back while the protocol waits: stop reading the socket. */
  if (s->in_len - s->in_off > TLS_IN_MAX / 2) irh_conn_pause_reading(c);
  release_empty_in(s);
}

static void tls_want_read(irh_conn *c) {
  irh_tls_conn *s = c->tls;
  if (!s->handshake_done || c->closing) return;
  if (s->in_len > s->in_off || gnutls_record_check_pending(s->session) > 0) decrypt_records(c);
  release_empty_in(s);
}

/* One record of len plaintext bytes into the wire queue. */
static int seal_record(irh_conn *c, const char *from, size_t len) {
  ssize_t rc = gnutls_record_send(c->tls->session, from, len);
  if (rc == (ssize_t)len) return 0;
  /* the push never blocks: any other answer is an error */
  irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "TLS send failed: %s",
          rc < 0 ? gnutls_strerror((int)rc) : "short record");
  irh_conn_close(c);
  return -1;
}

static int tls_seal_bytes(irh_conn *c, const char *data, size_t len) {
  if (!c->tls->handshake_done || c->tls->bye_sent) return -1;
  while (len) {
    size_t n = len < TLS_RECORD_MAX ? len : TLS_RECORD_MAX;
    if (seal_record(c, data, n) != 0) return -1;
    data += n;
    len -= n;
  }
  return 0;
}

static void tls_seal(irh_conn *c) {
  irh_tls_conn *s = c->tls;
  if (!s->handshake_done || s->bye_sent) return;
  char *stage = c->worker->tls_stage;
  for (;;) {
    /* A piece that fills a record (or is all there is) goes as it is;
     * smaller ones are gathered first. A file range stops the sealing:
     * the connection reads it (off the loop) and seals its bytes. */
    uv_buf_t first;
    size_t bytes;
    if (irh_bufq_peek(&c->out, &first, 1, &bytes) == 0) break;
    const char *from = first.base;
    size_t len = first.len < TLS_RECORD_MAX ? first.len : TLS_RECORD_MAX;
    int gathered = len < TLS_RECORD_MAX && len < c->out.len;
    if (gathered) {
      len = irh_bufq_read(&c->out, stage, TLS_RECORD_MAX);
      from = stage;
    }
    if (seal_record(c, from, len) != 0) return;
    if (!gathered) irh_bufq_consume(&c->out, len);
  }
  if (c->close_when_flushed && !s->bye_sent && c->out.len == 0) {
    gnutls_bye(s->session, GNUTLS_SHUT_WR);
    s->bye_sent = 1;
  }
}

static void tls_release(irh_conn *c) {
  irh_tls_conn *s = c->tls;
  if (!s) return;
  if (s->session) gnutls_deinit(s->session);
  irh_recycler_free(s->in);
  free(s);
  c->tls = NULL;
}

static const irh_conn_crypto tls_crypto = {
    .on_read = tls_on_read,
    .want_read = tls_want_read,
    .seal = tls_seal,
    .seal_bytes = tls_seal_bytes,
    .release = tls_release,
};
