/* outbound_module.c — a streaming TCP proxy through ABI 1.4 outbound
 * connections, for tests/sdk/test_outbound.py and sdk/README.md's
 * "Outbound connections" section (the README's code is this file's). Built
 * like a third party's module: SDK only, hidden visibility.
 *
 * Each request opens a connection to the route's backend (backend_host,
 * backend_port; TLS with `tls = on`, verified against ca_file or the system
 * store, `sni` naming the name to verify). The request body goes to the
 * backend, the backend's bytes come back as the response body (200, once
 * connected), and the response ends when the backend closes. Both ways are
 * held back: a body chunk the backend cannot take yet stays unconsumed (the
 * client's window stays shut), a backend chunk the client cannot take yet
 * pauses the backend. A connection that fails before the response started
 * answers 502; later, the response is reset.
 *
 * Any path ending in "/stats" answers counters as "key=value" lines: on_close
 * per status, plus opens, failed opens and pauses (atomics: several workers).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iridium/iridium.h>

/* ---- counters (the stats route) ---- */

static atomic_long g_opened, g_open_failed, g_pauses, g_closes_ok, g_closes_closed,
    g_closes_refused, g_closes_timedout, g_closes_notfound, g_closes_tls, g_closes_io,
    g_closes_other;

static void count_close(int status) {
  switch (status) {
  case IR_OK: atomic_fetch_add(&g_closes_ok, 1); break;
  case IR_ECLOSED: atomic_fetch_add(&g_closes_closed, 1); break;
  case IR_EREFUSED: atomic_fetch_add(&g_closes_refused, 1); break;
  case IR_ETIMEDOUT: atomic_fetch_add(&g_closes_timedout, 1); break;
  case IR_ENOTFOUND: atomic_fetch_add(&g_closes_notfound, 1); break;
  case IR_ETLS: atomic_fetch_add(&g_closes_tls, 1); break;
  case IR_EIO: atomic_fetch_add(&g_closes_io, 1); break;
  default: atomic_fetch_add(&g_closes_other, 1); break;
  }
}

static int answer_stats(ir_stream_t *s) {
  char *body = ir_stream_alloc(s, 512);
  if (!body) return IR_ENOMEM;
  int n = snprintf(body, 512,
                   "opened=%ld\nopen_failed=%ld\npauses=%ld\nclose_ok=%ld\nclose_closed=%ld\n"
                   "close_refused=%ld\nclose_timedout=%ld\nclose_notfound=%ld\nclose_tls=%ld\n"
                   "close_io=%ld\nclose_other=%ld\n",
                   atomic_load(&g_opened), atomic_load(&g_open_failed), atomic_load(&g_pauses),
                   atomic_load(&g_closes_ok), atomic_load(&g_closes_closed),
                   atomic_load(&g_closes_refused), atomic_load(&g_closes_timedout),
                   atomic_load(&g_closes_notfound), atomic_load(&g_closes_tls),
                   atomic_load(&g_closes_io), atomic_load(&g_closes_other));
  return ir_respond_simple(s, 200, "text/plain", body, (size_t)n);
}

/* ---- a route: where its backend is ---- */

static const ir_config_key proxy_keys[] = {
    IR_KEY(IR_KEY_STRING, "backend_host", "127.0.0.1", 0, "a name or an IP address"),
    IR_KEY(IR_KEY_INT, "backend_port", NULL, 1, "the backend's TCP port"),
    IR_KEY(IR_KEY_BOOL, "tls", "off", 0, "TLS to the backend"),
    IR_KEY(IR_KEY_PATH, "ca_file", NULL, 0, "PEM CAs to verify the backend (empty: the system's)"),
    IR_KEY(IR_KEY_STRING, "sni", "", 0, "the name to send and verify (empty: backend_host)"),
    IR_KEY(IR_KEY_DURATION, "connect_timeout", "10s", 0, "lookup + connect + handshake"),
    IR_KEY_END,
};

typedef struct proxy_route {
  const char *host; /* host-owned, NUL-terminated */
  uint16_t port;
  ir_outbound_opts opts;
} proxy_route;

static const char *key_str(ir_instance_t *inst, const char *key) {
  ir_str v = {"", 0};
  return ir_instance_get_str(inst, key, &v) == IR_OK && v.len ? v.ptr : NULL;
}

static int proxy_instance_create(ir_instance_t *inst, void **data) {
  proxy_route *r = calloc(1, sizeof(*r));
  if (!r) return IR_ENOMEM;
  int64_t port = 0, tls = 0, timeout_ms = 0;
  ir_instance_get_int(inst, "backend_port", &port);
  ir_instance_get_int(inst, "tls", &tls);
  ir_instance_get_int(inst, "connect_timeout", &timeout_ms);
  if (port < 1 || port > 65535) {
    free(r);
    return IR_EINVAL;
  }
  r->host = key_str(inst, "backend_host");
  r->port = (uint16_t)port;
  r->opts.struct_size = sizeof r->opts;
  r->opts.flags = tls ? IR_OUTBOUND_TLS : 0;
  r->opts.connect_timeout_ms = (uint64_t)timeout_ms;
  r->opts.ca_file = key_str(inst, "ca_file");
  r->opts.sni = key_str(inst, "sni");
  *data = r;
  return IR_OK;
}

static void proxy_instance_destroy(void *data) { free(data); }

/* ---- one proxied request: the stream and its backend connection ---- */

typedef struct proxy {
  ir_stream_t *s;    /* NULL once the stream closed */
  ir_outbound_t *o;  /* NULL once the connection's on_close came */
  uint8_t *up;       /* body bytes the backend did not take yet (unconsumed) */
  size_t up_len;
  uint8_t *down;     /* backend bytes the response did not take yet */
  size_t down_len;
  int head_sent;     /* the 200 went out */
  int backend_done;  /* the backend closed: end once `down` is written */
  int closing;       /* ir_outbound_close was called */
} proxy;

static int keep(uint8_t **buf, size_t *len, const uint8_t *bytes, size_t n) {
  if (!n) return IR_OK;
  uint8_t *grown = realloc(*buf, *len + n);
  if (!grown) return IR_ENOMEM;
  memcpy(grown + *len, bytes, n);
  *buf = grown;
  *len += n;
  return IR_OK;
}

static void drop_front(uint8_t *buf, size_t *len, size_t n) {
  memmove(buf, buf + n, *len - n);
  *len -= n;
}

static void free_if_done(proxy *p) {
  if (p->s || p->o) return;
  free(p->up);
  free(p->down);
  free(p);
}

static void close_backend(proxy *p) {
  if (p->o && !p->closing) {
    p->closing = 1;
    ir_outbound_close(p->o); /* its on_close comes later, from the loop */
  }
}

/* The stream failed: let it and the backend go. */
static void abandon(proxy *p) {
  if (p->s) ir_stream_reset(p->s);
  close_backend(p);
}

/* Backend -> client: what the response takes now; the rest waits, with the
 * backend paused, for the stream's on_writable. */
static int send_down(proxy *p, const uint8_t *bytes, size_t len) {
  ssize_t n = ir_resp_write(p->s, bytes, len);
  if (n == IR_EAGAIN) n = 0;
  if (n < 0) return (int)n;
  if ((size_t)n < len) {
    if (keep(&p->down, &p->down_len, bytes + n, len - (size_t)n) != IR_OK) return IR_ENOMEM;
    if (p->o && !p->closing) {
      ir_outbound_pause(p->o, 1);
      atomic_fetch_add(&g_pauses, 1);
    }
  }
  return IR_OK;
}

/* Client -> backend: what the backend takes now; consumed only once taken. */
static int send_up(proxy *p, const uint8_t *bytes, size_t len) {
  ssize_t n = p->o && !p->closing ? ir_outbound_write(p->o, bytes, len) : IR_ECLOSED;
  if (n == IR_EAGAIN) n = 0;
  if (n < 0) return (int)n;
  if (n > 0 && ir_stream_consume(p->s, (size_t)n) != IR_OK) return IR_ECLOSED;
  return keep(&p->up, &p->up_len, bytes + n, len - (size_t)n);
}

static void backend_connected(ir_outbound_t *o, void *data) {
  (void)o;
  proxy *p = data;
  if (!p->s) return;
  int rc = ir_resp_status(p->s, 200);
  if (rc == IR_OK) rc = ir_resp_header(p->s, "content-type", "application/octet-stream");
  if (rc == IR_OK) rc = ir_resp_send_head(p->s, 0);
  if (rc != IR_OK) abandon(p);
  p->head_sent = rc == IR_OK;
}

static void backend_data(ir_outbound_t *o, const uint8_t *bytes, size_t len, void *data) {
  (void)o;
  proxy *p = data;
  if (p->s && send_down(p, bytes, len) != IR_OK) abandon(p);
}

static void backend_writable(ir_outbound_t *o, void *data) {
  (void)o;
  proxy *p = data;
  if (!p->s || !p->up_len) return;
  size_t held = p->up_len;
  p->up_len = 0; /* send_up keeps what is still not taken */
  uint8_t *old = p->up;
  p->up = NULL;
  int rc = send_up(p, old, held);
  free(old);
  if (rc != IR_OK) abandon(p);
}

static void backend_closed(ir_outbound_t *o, int status, void *data) {
  (void)o;
  proxy *p = data;
  count_close(status);
  p->o = NULL;
  if (p->s) {
    if (status != IR_OK && status != IR_ECLOSED && !p->head_sent) {
      if (ir_respond_simple(p->s, 502, "text/plain", "bad gateway\n", 12) != IR_OK)
        ir_stream_reset(p->s);
    } else if (status != IR_ECLOSED || !p->head_sent) {
      ir_stream_reset(p->s);
    } else {
      p->backend_done = 1; /* ends once `down` is written */
      if (!p->down_len && ir_resp_end(p->s) != IR_OK) ir_stream_reset(p->s);
    }
  }
  free_if_done(p);
}

static const ir_outbound_cbs backend_cbs = {
    .struct_size = sizeof(ir_outbound_cbs),
    .on_connect = backend_connected,
    .on_data = backend_data,
    .on_writable = backend_writable,
    .on_close = backend_closed,
};

/* ---- the stream's side ---- */

static int ends_with(ir_str s, const char *lit) {
  size_t n = strlen(lit);
  return s.len >= n && memcmp(s.ptr + s.len - n, lit, n) == 0;
}

static int proxy_on_request(ir_stream_t *s, void *instance_data) {
  proxy_route *r = instance_data;
  if (ends_with(ir_req_path(s), "/stats")) return answer_stats(s);
  proxy *p = calloc(1, sizeof(*p));
  if (!p) return IR_ENOMEM;
  p->s = s;
  p->o = ir_outbound_open(ir_stream_worker(s), r->host, r->port, &r->opts, &backend_cbs, p);
  if (!p->o) {
    atomic_fetch_add(&g_open_failed, 1);
    free(p);
    return ir_respond_simple(s, 502, "text/plain", "bad gateway\n", 12);
  }
  atomic_fetch_add(&g_opened, 1);
  ir_stream_set_data(s, p);
  return IR_OK;
}

static int proxy_on_body(ir_stream_t *s, const uint8_t *data, size_t len) {
  proxy *p = ir_stream_data(s);
  if (!p || p->closing || !p->o) return ir_stream_consume(s, len); /* nobody to take it */
  if (p->up_len) return keep(&p->up, &p->up_len, data, len);   /* behind what waits */
  return send_up(p, data, len);
}

static void proxy_on_writable(ir_stream_t *s) {
  proxy *p = ir_stream_data(s);
  if (!p || !p->down_len) return;
  ssize_t n = ir_resp_write(s, p->down, p->down_len);
  if (n == IR_EAGAIN) return;
  if (n < 0) {
    abandon(p);
    return;
  }
  drop_front(p->down, &p->down_len, (size_t)n);
  if (p->down_len) return;
  if (p->backend_done) {
    if (ir_resp_end(s) != IR_OK) ir_stream_reset(s);
  } else if (p->o && !p->closing) {
    ir_outbound_pause(p->o, 0);
  }
}

static void proxy_on_close(ir_stream_t *s, int reason) {
  (void)reason;
  proxy *p = ir_stream_data(s);
  if (!p) return;
  p->s = NULL;
  close_backend(p);
  free_if_done(p);
}

static const ir_module_desc proxy_module = {
    IR_MODULE_DESC_HEADER,
    .name = "proxy",
    .version = "1.0.0",
    .keys = proxy_keys,
    .instance_create = proxy_instance_create,
    .instance_destroy = proxy_instance_destroy,
    .on_request = proxy_on_request,
    .on_body = proxy_on_body,
    .on_writable = proxy_on_writable,
    .on_close = proxy_on_close,
};

IR_MODULE_DEFINE(proxy_module)
