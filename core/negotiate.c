/* negotiate.c — starting a connection's protocol; see negotiate.h.
 *
 * TLS listener: the TLS session starts at accept; its handshake hook gets
 * the ALPN result: "h2" (or none on an h2-only listener) starts HTTP/2,
 * anything else HTTP/1.1. Cleartext: "http/1.1, h2c" sniffs the first 24
 * bytes (the sniff is the connection's protocol until it decides, so the
 * bytes never reach HTTP/1.1 twice); "http/1.1" starts HTTP/1.1 at once;
 * "h2c" alone starts HTTP/2 at once (nghttp2 checks the preface itself).
 * HTTP/1.1 on cleartext with h2c gets the upgrade hooks (irh_h1_upgrades).
 */
#include "negotiate.h"

#include <string.h>

#include "conn.h"
#include "generation.h"
#include "h1.h"
#include "h2.h"
#include "listener.h"
#include "log.h"
#include "process.h"
#include "recycler.h"
#include "tls.h"
#include "worker.h"

static const char h2_preface[24] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* ---- starting a protocol ---- */

/* SETTINGS_ENABLE_CONNECT_PROTOCOL only when some module takes upgrades. */
static int connect_protocol(const irh_conn *c) { return c->gen->any_upgrades; }

static int start_h2(irh_conn *c) { return irh_h2_start(c, c->limits, connect_protocol(c)); }

static int upgrade_to_h2(irh_conn *c, ir_stream_t *s, const uint8_t *settings, size_t len) {
  return irh_h2_start_upgrade(c, c->limits, connect_protocol(c), s, settings, len);
}

static const irh_h1_upgrades h2c_upgrade = {
    .settings_ok = irh_h2_upgrade_settings_ok,
    .to_h2 = upgrade_to_h2,
};

static int start_h1(irh_conn *c) {
  int h2c = !c->tls && (c->listen->protocols & IRH_PROTO_H2C);
  return irh_h1_start(c, c->limits, h2c ? &h2c_upgrade : NULL);
}

/* ---- TLS: the ALPN result ---- */

static int on_tls_handshake(irh_conn *c, const char *alpn, size_t len) {
  int h2 = len == 2 && memcmp(alpn, "h2", 2) == 0;
  if (!h2 && !(c->listen->protocols & IRH_PROTO_HTTP1)) h2 = 1; /* h2-only listener */
  return h2 ? start_h2(c) : start_h1(c);
}

/* ---- cleartext: the preface sniff ---- */

typedef struct sniff_state {
  char bytes[sizeof h2_preface];
  uint8_t len;
} sniff_state;

/* Collects the first bytes until they tell an h2c client (its preface)
 * from an HTTP/1.1 one, then hands them and the rest to the protocol. */
static void sniff_on_read(irh_conn *c, const char *data, size_t len) {
  sniff_state *st = c->proto_state;
  size_t take = sizeof h2_preface - st->len;
  if (take > len) take = len;
  memcpy(st->bytes + st->len, data, take);
  st->len += (uint8_t)take;
  data += take;
  len -= take;
  int matches = memcmp(st->bytes, h2_preface, st->len) == 0;
  if (matches && st->len < sizeof h2_preface) return;
  sniff_state first = *st;
  irh_recycler_free(st);
  irh_conn_set_proto(c, NULL, NULL);
  if ((matches ? start_h2(c) : start_h1(c)) != 0) {
    irh_conn_close(c);
    return;
  }
  c->proto->on_read(c, first.bytes, first.len);
  /* The sniffed bytes may already have failed the connection (a 400 for
   * a non-HTTP first line); what came with them is not parsed again. */
  if (len && !c->closing && !c->close_when_flushed) c->proto->on_read(c, data, len);
}

/* Before the first bytes decided: a timeout, the peer's FIN or a drain
 * close the connection, as HTTP/1.1 does for a connection that sent no
 * request. */
static void sniff_on_timeout(irh_conn *c) {
  irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "idle timeout");
  irh_conn_close(c);
}

static void sniff_on_drain(irh_conn *c) { (void)c; }

static void sniff_on_close(irh_conn *c, int reason) {
  (void)reason;
  irh_recycler_free(c->proto_state);
  c->proto_state = NULL;
}

static const irh_proto sniff_proto = {
    .name = "sniff",
    .on_read = sniff_on_read,
    .on_drain = sniff_on_drain,
    .on_timeout = sniff_on_timeout,
    .on_shutdown = irh_conn_close,
    .on_eof = irh_conn_close,
    .on_close = sniff_on_close,
};

static int start_sniffing(irh_conn *c) {
  sniff_state *st = irh_recycler_calloc(1, sizeof(*st));
  if (!st) return -1;
  irh_conn_set_proto(c, &sniff_proto, st);
  irh_conn_set_timeout(c, c->limits->header_timeout_ms);
  return 0;
}

/* ---- accepting ---- */

static int start_first_layer(irh_conn *c) {
  if (c->tls_ctx) return irh_tls_conn_start(c, c->tls_ctx, on_tls_handshake);
  unsigned protocols = c->listen->protocols;
  if ((protocols & IRH_PROTO_HTTP1) && (protocols & IRH_PROTO_H2C)) return start_sniffing(c);
  if (protocols & IRH_PROTO_HTTP1) return start_h1(c);
  if (protocols & IRH_PROTO_H2C) return start_h2(c); /* h2c only: the preface must follow */
  return -1;
}

void irh_negotiate_accept(irh_listener *l, int fd) {
  irh_conn *c = irh_conn_accept(l, fd);
  if (!c) return;
  if (start_first_layer(c) != 0) {
    irh_conn_close(c);
    return;
  }
  irh_conn_start(c);
}
