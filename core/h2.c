/* h2.c — HTTP/2 with nghttp2: sessions, streams, flow control, extended
 * CONNECT, graceful shutdown, and the limits against known attacks.
 *
 * Reading feeds nghttp2_session_mem_recv; its callbacks build streams
 * (stream.c) and hand them to modules. Writing happens in before_flush,
 * once per loop turn: nghttp2_session_send puts frames into the
 * connection's output queue (DATA through the no-copy path, straight from
 * the stream's body queue). Modules never make nghttp2 calls re-enter: they
 * only queue data and ask for a flush.
 *
 * Limits, each from the INI and counted in the error log:
 *   client RST_STREAMs (Rapid Reset, CVE-2023-44487) and RST_STREAMs the
 *   server sends because of client errors (MadeYouReset, CVE-2025-8671):
 *   token buckets; past them GOAWAY ENHANCE_YOUR_CALM.
 *   SETTINGS, PING, PRIORITY and empty DATA floods: a token bucket; past it
 *   GOAWAY ENHANCE_YOUR_CALM.
 *   CONTINUATION floods: nghttp2's max_continuations.
 *   header lists: max_header_size / max_header_count, answered 431; a
 *   list that decodes to more than twice a limit (an HPACK bomb) ends the
 *   connection: GOAWAY ENHANCE_YOUR_CALM, nothing more decoded.
 *   stalled streams: no progress while waiting on the client for
 *   h2_stream_idle_timeout: RST_STREAM CANCEL.
 *   slow readers: a response waiting on the client's window (or socket)
 *   must go at h2_min_send_rate after h2_min_send_rate_grace, counted in
 *   bytes: RST_STREAM CANCEL. File bodies: h2_max_file_bodies per
 *   connection (counted here, asked by filesend.c through file_begin),
 *   none started without window.
 *   idle connections: a PING after keepalive_timeout; no answer within
 *   h2_ping_timeout: GOAWAY and close.
 *   output for a client that does not read: bounded by max_queued_output
 *   (nghttp2 is told "would block"), then write_timeout closes.
 *   a request that goes on after its response ended: read and discarded
 *   (still checked by nghttp2) up to h2_discard_max_bytes and
 *   h2_discard_timeout, then RST_STREAM NO_ERROR (at once for a tunnel).
 *
 * Closed streams: nghttp2 forgets a stream once it closes and then drops
 * DATA and HEADERS on it without a word; the host remembers the last
 * H2_CLOSED_KEPT closed streams and answers such frames with STREAM_CLOSED
 * (RFC 9113 5.1), from a frame-header scan of the input (scan_frames).
 */
#include "h2.h"

#include <ctype.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "log.h"
#include "rate.h"
#include "recycler.h"
#include "stream.h"
#include "worker.h"

#define H2_STREAM_HIGH (128u * 1024u) /* body bytes a stream queues before "again" */
#define H2_STREAM_LOW (32u * 1024u)
#define H2_TICK_MS 1000 /* stalled-stream scan while streams are open */
#define H2_MIN_CONN_WINDOW (1u << 20)
#define H2_CLOSED_KEPT 32 /* closed streams remembered per connection */
#define H2_PAGE_BLOCKS 4  /* big buffers nghttp2 makes with a session, on pages of their own */
/* Response fields live in the stream's arena (or are static) until the
 * stream closes, after they were sent: nghttp2 need not copy them. */
#define NV_NO_COPY (NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE)

typedef struct irh_h2_stream {
  ir_stream_t *s;
  int32_t id;
  irh_bufq body;     /* response body waiting for the peer's window */
  ir_str ref;        /* module bytes (resp_write_ref) that go before body */
  irh_link link;     /* in irh_h2.streams */
  uint64_t progress; /* loop time of the last progress */
  size_t header_bytes;
  size_t header_count;
  ir_str protocol; /* :protocol of an extended CONNECT */
  /* Send rate while the response waits on the client (reset_slow_readers). */
  uint64_t rate_tick;    /* loop time of the last sample */
  uint64_t rate_wait_ms; /* time spent waiting on the client's window or socket */
  uint64_t rate_bytes;   /* body bytes sent meanwhile */
  unsigned too_large : 1;
  unsigned req_ended : 1;    /* the request (headers and body) was all received */
  unsigned has_provider : 1; /* the response has a body (data provider) */
  unsigned deferred : 1;     /* the data provider said "deferred" */
  unsigned eof : 1;          /* the module ended the response */
  unsigned peer_reset : 1;   /* the client sent RST_STREAM */
  unsigned server_reset : 1; /* the server sent RST_STREAM */
  unsigned discarding : 1;   /* the response ended first: the request's rest is dropped */
  unsigned discard_done : 1; /* ... past the bound: RST_STREAM NO_ERROR sent */
  uint64_t discarded;        /* body bytes dropped while discarding */
  uint64_t discard_since;    /* loop time the response ended */
  uint8_t file_slots;        /* file-body slots it holds (h2_file_begin) */
  unsigned file_waiting : 1; /* a file body waits for a slot or for window */
} irh_h2_stream;

/* How a remembered stream closed, which decides the answer to a DATA or
 * HEADERS frame on it (RFC 9113 5.1). */
enum {
  H2_CLOSED_UNKNOWN,   /* not remembered, or reset by the server: ignored */
  H2_CLOSED_ENDED,     /* END_STREAM both ways: connection error STREAM_CLOSED */
  H2_CLOSED_PEER_RESET /* the client's RST_STREAM: stream error STREAM_CLOSED */
};

typedef struct irh_h2 {
  nghttp2_session *session;
  irh_conn *conn;
  const irh_config *limits; /* the server's, handed down at start */
  irh_link streams;
  size_t nstreams;
  irh_h2_stream *in_headers; /* the stream whose request header block is being read */
  size_t max_header_size, max_header_count; /* from the config, read per field */
  size_t requests_open;                     /* streams whose request has not ended */
  irh_rate client_resets, server_resets, flood;
  int in_session;      /* inside an nghttp2 call: do not delete the session */
  int timer_phase;     /* H2_TIMER_* the connection timer is armed for */
  uint64_t idle_since; /* loop time the last stream closed */
  unsigned file_bodies;       /* file-body slots held, at most h2_max_file_bodies */
  unsigned slots_stalled : 1; /* every file-body slot is held by a stream waiting on the reader */
  unsigned first_tick : 1;    /* a new connection: one tick, to trim what the preface left */
  struct {
    int32_t id;
    uint8_t how;            /* H2_CLOSED_* */
  } closed[H2_CLOSED_KEPT]; /* a ring; older closed streams are forgotten */
  unsigned closed_next;
  /* The frame-header scan of the input (scan_frames). */
  uint32_t scan_skip;  /* bytes before the next frame header (the preface first) */
  int32_t scan_max_id; /* highest stream id a HEADERS frame named */
  uint8_t scan_hd[9];  /* a frame header split across reads */
  uint8_t scan_have;
  unsigned scan_closing : 1; /* a frame that may close a stream since the last check */
  unsigned read_stopped : 1; /* input is dropped: the session ended for abuse */
  unsigned dead : 1;
  unsigned goaway : 1;
  unsigned calmed : 1; /* ended for abuse */
  unsigned ping_outstanding : 1;
  unsigned making_session : 1; /* inside nghttp2_session_server_new3 (h2_mem_alloc) */
  /* nghttp2's allocations of a page or more (h2_mem_*): page-aligned, with
   * no head in front, so that a page nghttp2 never wrote costs nothing. */
  struct {
    void *p;
    size_t size;
  } pages[H2_PAGE_BLOCKS];
} irh_h2;

extern const irh_stream_ops irh_h2_stream_ops;

static inline irh_h2 *h2_of(const irh_conn *c) { return c->proto_state; }
static const irh_config *h2_config(const irh_h2 *h) { return h->limits; }
static uint64_t h2_now(const irh_h2 *h) { return uv_now(&h->conn->worker->loop); }

static irh_h2_stream *stream_of(irh_h2 *h, int32_t id) {
  return nghttp2_session_get_stream_user_data(h->session, id);
}

/* ---- limits ---- */

/* Ends the connection for abuse: GOAWAY ENHANCE_YOUR_CALM, counted. */
static void h2_calm_down(irh_h2 *h, const char *what) {
  if (h->calmed) return; /* frames after the GOAWAY in the same read are not counted again */
  h->calmed = 1;
  irh_log(IR_LOG_WARN, h->conn->id, -1, NULL, "HTTP/2 %s over the limit: GOAWAY ENHANCE_YOUR_CALM",
          what);
  nghttp2_session_terminate_session(h->session, NGHTTP2_ENHANCE_YOUR_CALM);
  h->goaway = 1;
}

static void h2_flood_check(irh_h2 *h, const char *what) {
  const irh_config *cfg = h2_config(h);
  if (!irh_rate_take(&h->flood, cfg->h2_flood_limit, cfg->h2_flood_limit, h2_now(h)))
    h2_calm_down(h, what);
}

/* Resets the server sends because the client did something wrong. */
static int reset_is_client_caused(uint32_t code) {
  return code == NGHTTP2_PROTOCOL_ERROR || code == NGHTTP2_FLOW_CONTROL_ERROR ||
         code == NGHTTP2_STREAM_CLOSED || code == NGHTTP2_FRAME_SIZE_ERROR ||
         code == NGHTTP2_REFUSED_STREAM || code == NGHTTP2_COMPRESSION_ERROR;
}

/* ---- streams ---- */

static void progress(irh_h2 *h, irh_h2_stream *hs) { hs->progress = h2_now(h); }

/* The connection timer has three phases: a 1 s tick while streams are open
 * (stalled-stream scan), the PING deadline, and the keep-alive idle time.
 * It is re-armed only when the phase changes (or force), not per stream. */
enum { H2_TIMER_NONE, H2_TIMER_TICK, H2_TIMER_PING, H2_TIMER_IDLE };

static void h2_arm(irh_h2 *h, int force) {
  const irh_config *cfg = h2_config(h);
  if (h->conn->closing || h->conn->close_when_flushed) return;
  int phase = h->nstreams || h->first_tick ? H2_TIMER_TICK
              : h->ping_outstanding         ? H2_TIMER_PING
                                            : H2_TIMER_IDLE;
  if (phase == h->timer_phase && !force) return;
  uint64_t ms = phase == H2_TIMER_TICK   ? H2_TICK_MS
                : phase == H2_TIMER_PING ? cfg->h2_ping_timeout_ms
                                         : cfg->keepalive_timeout_ms;
  if (phase == H2_TIMER_IDLE) {
    /* A busy connection runs out of streams many times a second: while
     * the tick is armed, that only notes the time, and the tick arms the
     * rest of the idle wait (h2_on_timeout). */
    if (!force) h->idle_since = h2_now(h);
    if (h->timer_phase == H2_TIMER_TICK && !force) return;
    uint64_t idle = h2_now(h) - h->idle_since;
    ms = idle < ms ? ms - idle : 0;
  }
  h->timer_phase = phase;
  irh_conn_set_timeout(h->conn, ms);
}

static void h2_rearm_timer(irh_h2 *h) { h2_arm(h, 0); }

static int on_begin_headers(nghttp2_session *ss, const nghttp2_frame *f, void *ud) {
  irh_h2 *h = ud;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  ir_stream_t *s = irh_stream_new(h->conn, &irh_h2_stream_ops, f->hd.stream_id);
  irh_h2_stream *hs = s ? irh_arena_alloc(&s->arena, sizeof(*hs)) : NULL;
  if (!hs) {
    if (s) irh_stream_finish(s, IR_CLOSE_ERROR);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM INTERNAL_ERROR */
  }
  hs->s = s;
  hs->id = f->hd.stream_id;
  irh_stream_bind(s, hs); /* allowed: new */
  s->protocol = (ir_str){"HTTP/2", 6};
  s->scheme = h->conn->tls ? (ir_str){"https", 5} : (ir_str){"http", 4};
  progress(h, hs);
  irh_list_push(&h->streams, &hs->link);
  h->nstreams++;
  nghttp2_session_set_stream_user_data(ss, f->hd.stream_id, hs);
  h->in_headers = hs;
  h->requests_open++;
  h2_rearm_timer(h);
  return 0;
}

/* The stream a HEADERS frame is for; header blocks do not interleave, so
 * the one begun last is the usual answer (no lookup per field). */
static irh_h2_stream *headers_stream(irh_h2 *h, int32_t id) {
  return h->in_headers && h->in_headers->id == id ? h->in_headers : stream_of(h, id);
}

static ir_str arena_str(ir_stream_t *s, const uint8_t *p, size_t len) {
  char *copy = irh_arena_strndup(&s->arena, (const char *)p, len);
  return copy ? (ir_str){copy, len} : (ir_str){"", 0};
}

/* Cookie crumbs (RFC 9113 8.2.3) are joined back into one field. */
static int add_cookie(ir_stream_t *s, const uint8_t *v, size_t vl) {
  for (size_t i = 0; i < s->nheaders; i++) {
    irh_header *f = &s->headers[i];
    if (f->name.len != 6 || memcmp(f->name.ptr, "cookie", 6) != 0) continue;
    char *joined = irh_arena_alloc(&s->arena, f->value.len + 2 + vl + 1);
    if (!joined) return -1;
    memcpy(joined, f->value.ptr, f->value.len);
    memcpy(joined + f->value.len, "; ", 2);
    memcpy(joined + f->value.len + 2, v, vl);
    f->value = (ir_str){joined, f->value.len + 2 + vl};
    return 0;
  }
  return irh_stream_add_req_header(s, "cookie", 6, (const char *)v, vl);
}

static void set_pseudo(ir_stream_t *s, irh_h2_stream *hs, const uint8_t *n, size_t nl,
                       const uint8_t *v, size_t vl, int value_static) {
  ir_str value = value_static ? (ir_str){(const char *)v, vl} : arena_str(s, v, vl);
  if (nl == 7 && memcmp(n, ":method", 7) == 0)
    s->method = value;
  else if (nl == 5 && memcmp(n, ":path", 5) == 0)
    s->target = value;
  else if (nl == 7 && memcmp(n, ":scheme", 7) == 0)
    s->scheme = value;
  else if (nl == 10 && memcmp(n, ":authority", 10) == 0)
    s->authority = value;
  else if (nl == 9 && memcmp(n, ":protocol", 9) == 0)
    hs->protocol = value;
}

/* A request field. Names and values from HPACK's static table live as
 * long as the program: they are referenced, not copied. */
static int on_header(nghttp2_session *ss, const nghttp2_frame *f, nghttp2_rcbuf *name_rc,
                     nghttp2_rcbuf *value_rc, uint8_t flags, void *ud) {
  irh_h2 *h = ud;
  nghttp2_vec nv = nghttp2_rcbuf_get_buf(name_rc), vv = nghttp2_rcbuf_get_buf(value_rc);
  const uint8_t *name = nv.base, *value = vv.base;
  size_t nl = nv.len, vl = vv.len;
  irh_h2_stream *hs = headers_stream(h, f->hd.stream_id);
  if (!hs) return 0;
  hs->header_bytes += nl + vl + 32; /* RFC 9113's accounting */
  hs->header_count++;
  if (hs->header_bytes > h->max_header_size || hs->header_count > h->max_header_count) {
    hs->too_large = 1; /* answered 431 once the block ends; nothing more kept */
    /* Each field costs decoding even when dropped, and a few wire bytes
     * can name a large table entry over and over (an HPACK bomb): past
     * twice a limit, decoding on is worth nothing, so the connection ends
     * here and the rest of the block is never decoded. */
    if (hs->header_bytes > 2 * h->max_header_size || hs->header_count > 2 * h->max_header_count) {
      h2_calm_down(h, "decoded header list (HPACK bomb)");
      h->read_stopped = 1;
      return NGHTTP2_ERR_CALLBACK_FAILURE; /* nghttp2 stops decoding at once */
    }
    return 0;
  }
  if (f->headers.cat != NGHTTP2_HCAT_REQUEST || hs->too_large)
    return 0; /* trailers: read, dropped */
  ir_stream_t *s = hs->s;
  int value_static = nghttp2_rcbuf_is_static(value_rc);
  if (nl && name[0] == ':') {
    set_pseudo(s, hs, name, nl, value, vl, value_static);
    return 0;
  }
  unsigned kept = (nghttp2_rcbuf_is_static(name_rc) ? IRH_KEPT_NAME : 0) |
                  (value_static ? IRH_KEPT_VALUE : 0);
  int rc = nl == 6 && memcmp(name, "cookie", 6) == 0
               ? add_cookie(s, value, vl)
               : irh_stream_add_req_header_kept(s, (ir_str){(const char *)name, nl},
                                                (ir_str){(const char *)value, vl}, kept);
  return rc == 0 ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

/* The request head is complete: check it and hand it to the module. */
static void request_ready(irh_h2 *h, irh_h2_stream *hs) {
  ir_stream_t *s = hs->s;
  if (hs->too_large) {
    irh_log(IR_LOG_WARN, h->conn->id, hs->id, NULL, "header list over the limit: 431");
    irh_stream_respond_status(s, 431);
    return;
  }
  if (irh_stream_method_is(s, "HEAD")) irh_stream_mark_head_request(s);
  int connect = irh_stream_method_is(s, "CONNECT");
  if (connect && !hs->protocol.len) { /* a tunnel: Iridium is not a proxy */
    irh_stream_respond_status(s, 405);
    return;
  }
  if (hs->protocol.len) {
    for (size_t i = 0; i < hs->protocol.len; i++)
      ((char *)hs->protocol.ptr)[i] = (char)tolower((unsigned char)hs->protocol.ptr[i]);
    s->upgrade = hs->protocol;
  }
  int status = irh_stream_split_target(s);
  if (status) {
    irh_stream_respond_status(s, status);
    return;
  }
  ir_str host;
  if (irh_stream_req_header(s, "host", 4, &host) == IR_OK) {
    /* RFC 9113 8.3.1: a host that names another entity than :authority
     * makes the request malformed; answered 400 as nginx does, so that
     * no layer picks one of the two. */
    if (!s->authority.len)
      s->authority = host;
    else if (host.len != s->authority.len || strncasecmp(host.ptr, s->authority.ptr, host.len)) {
      irh_log(IR_LOG_INFO, h->conn->id, hs->id, NULL, "host differs from :authority: 400");
      irh_stream_respond_status(s, 400);
      return;
    }
  }
  ir_str cl;
  int64_t n;
  if (irh_stream_req_header(s, "content-length", 14, &cl) == IR_OK &&
      irh_parse_content_length(cl.ptr, cl.len, &n)) { /* nghttp2 checked it against DATA */
    s->content_length = n;
    if ((uint64_t)n > h2_config(h)->max_body_size) {
      irh_stream_respond_status(s, 413);
      return;
    }
  }
  irh_stream_dispatch(s);
}

static void request_ended(irh_h2 *h, irh_h2_stream *hs) {
  if (!hs->req_ended) {
    hs->req_ended = 1;
    h->requests_open--;
  }
  irh_stream_body_end(hs->s);
}

static int on_frame_recv(nghttp2_session *ss, const nghttp2_frame *f, void *ud) {
  irh_h2 *h = ud;
  irh_h2_stream *hs = !f->hd.stream_id                 ? NULL
                      : f->hd.type == NGHTTP2_HEADERS ? headers_stream(h, f->hd.stream_id)
                                                      : stream_of(h, f->hd.stream_id);
  int end_stream = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (f->hd.type) {
  case NGHTTP2_HEADERS:
    if (!hs) break;
    progress(h, hs);
    if (f->headers.cat == NGHTTP2_HCAT_REQUEST) request_ready(h, hs);
    if (end_stream) request_ended(h, hs);
    break;
  case NGHTTP2_DATA:
    if (hs) progress(h, hs);
    if (end_stream && hs)
      request_ended(h, hs);
    else if (f->hd.length == 0 && !end_stream)
      h2_flood_check(h, "empty DATA frames");
    break;
  case NGHTTP2_SETTINGS:
    if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) h2_flood_check(h, "SETTINGS frames");
    break;
  case NGHTTP2_PING:
    if (f->hd.flags & NGHTTP2_FLAG_ACK) {
      h->ping_outstanding = 0;
      h2_rearm_timer(h);
    } else {
      h2_flood_check(h, "PING frames");
    }
    break;
  case NGHTTP2_PRIORITY: h2_flood_check(h, "PRIORITY frames"); break;
  case NGHTTP2_RST_STREAM: {
    if (hs) hs->peer_reset = 1;
    const irh_config *cfg = h2_config(h);
    if (!irh_rate_take(&h->client_resets, cfg->h2_reset_burst, cfg->h2_reset_rate, h2_now(h)))
      h2_calm_down(h, "client RST_STREAM rate (rapid reset)");
    break;
  }
  case NGHTTP2_WINDOW_UPDATE:
    if (hs) progress(h, hs);
    break;
  default: break;
  }
  return 0;
}

/* A request that went on after its response ended read past the discard
 * bound: it is told to stop (the response is complete, so NO_ERROR). */
static void stop_discarding(irh_h2 *h, irh_h2_stream *hs, const char *bound) {
  if (hs->discard_done) return;
  hs->discard_done = 1;
  irh_log(IR_LOG_DEBUG, h->conn->id, hs->id, NULL,
          "request body after the response: past the %s bound, RST_STREAM NO_ERROR", bound);
  nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, hs->id, NGHTTP2_NO_ERROR);
}

static int on_data_chunk_recv(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *data,
                              size_t len, void *ud) {
  irh_h2 *h = ud;
  irh_h2_stream *hs = stream_of(h, id);
  if (!hs) {
    nghttp2_session_consume(ss, id, len);
    return 0;
  }
  ir_stream_t *s = hs->s;
  progress(h, hs);
  if (hs->discarding) {
    hs->discarded += len;
    if (hs->discarded > h2_config(h)->h2_discard_max_bytes) stop_discarding(h, hs, "bytes");
  } else if (!(s->flags & IRH_STREAM_UPGRADED) &&
             s->body_received + len > h2_config(h)->max_body_size) {
    nghttp2_session_consume(ss, id, len);
    if (!(s->flags & IRH_STREAM_HEAD_SENT))
      irh_stream_respond_status(s, 413);
    else
      nghttp2_submit_rst_stream(ss, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    return 0;
  }
  irh_stream_body(s, data, len);
  return 0;
}

/* Drops hs from the connection; nghttp2 forgets it too unless it is
 * closing the stream itself (closed_by_nghttp2). */
static void forget_stream(irh_h2 *h, irh_h2_stream *hs, int closed_by_nghttp2) {
  irh_list_remove(&hs->link);
  h->nstreams--;
  if (!hs->req_ended) h->requests_open--;
  if (h->in_headers == hs) h->in_headers = NULL;
  irh_bufq_free(&hs->body);
  if (!closed_by_nghttp2) nghttp2_session_set_stream_user_data(h->session, hs->id, NULL);
}

/* ---- closed streams ---- */

static void remember_closed(irh_h2 *h, int32_t id, uint8_t how) {
  h->closed[h->closed_next].id = id;
  h->closed[h->closed_next].how = how;
  h->closed_next = (h->closed_next + 1) % H2_CLOSED_KEPT;
}

/* H2_CLOSED_* for stream id. A stream closed longer ago than the last
 * H2_CLOSED_KEPT closes is unknown and its frames are dropped as nghttp2
 * does: it cannot be told apart from one the server reset. */
static uint8_t closed_how(const irh_h2 *h, int32_t id) {
  for (unsigned i = 0; i < H2_CLOSED_KEPT; i++)
    if (h->closed[i].id == id) return h->closed[i].how;
  return H2_CLOSED_UNKNOWN;
}

/* A DATA or HEADERS frame header on stream id, before nghttp2 reads it. */
static void check_closed_stream(irh_h2 *h, uint8_t type, int32_t id) {
  if (nghttp2_session_find_stream(h->session, id)) return; /* still open */
  switch (closed_how(h, id)) {
  case H2_CLOSED_ENDED:
    if (h->goaway && h->calmed) break;
    irh_log(IR_LOG_INFO, h->conn->id, id, NULL, "%s on a closed stream: GOAWAY STREAM_CLOSED",
            type == NGHTTP2_DATA ? "DATA" : "HEADERS");
    nghttp2_session_terminate_session(h->session, NGHTTP2_STREAM_CLOSED);
    h->goaway = 1;
    break;
  case H2_CLOSED_PEER_RESET:
    nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, id, NGHTTP2_STREAM_CLOSED);
    break;
  default: break;
  }
}

/* Walks the frame headers of the input ahead of nghttp2. Returns 1 at the
 * next DATA or HEADERS header to check: on a stream closed already, or on
 * one that a frame before it in this read (RST_STREAM, END_STREAM) may
 * close. *start is where that header begins in data (0 when it began in an
 * earlier read), *pos just after it. Returns 0 at the end of data. */
static int scan_frames(irh_h2 *h, const uint8_t *data, size_t len, size_t *pos, size_t *start,
                       uint8_t *type, int32_t *id) {
  size_t i = *pos;
  while (i < len) {
    if (h->scan_skip) {
      size_t n = len - i < h->scan_skip ? len - i : h->scan_skip;
      h->scan_skip -= (uint32_t)n;
      i += n;
      continue;
    }
    size_t begin = h->scan_have ? 0 : i;
    while (i < len && h->scan_have < 9) h->scan_hd[h->scan_have++] = data[i++];
    if (h->scan_have < 9) break;
    h->scan_have = 0;
    const uint8_t *hd = h->scan_hd;
    h->scan_skip = (uint32_t)hd[0] << 16 | (uint32_t)hd[1] << 8 | hd[2];
    uint8_t t = hd[3];
    int32_t sid =
        (int32_t)(((uint32_t)hd[5] << 24 | (uint32_t)hd[6] << 16 | (uint32_t)hd[7] << 8 | hd[8]) &
                  0x7fffffffu);
    int on_stream = sid && (t == NGHTTP2_DATA || t == NGHTTP2_HEADERS);
    int closes = t == NGHTTP2_RST_STREAM || (on_stream && (hd[4] & NGHTTP2_FLAG_END_STREAM));
    /* A stream id above every HEADERS so far is new (or idle): not closed. */
    int check = on_stream && sid <= h->scan_max_id && (h->scan_closing || closed_how(h, sid));
    if (t == NGHTTP2_HEADERS && sid > h->scan_max_id) h->scan_max_id = sid;
    if (check) {
      h->scan_closing = closes; /* what came before is read when the check runs */
      *pos = i;
      *start = begin;
      *type = t;
      *id = sid;
      return 1;
    }
    h->scan_closing |= closes;
  }
  *pos = len;
  return 0;
}

/* Hands input to nghttp2, cut before each frame scan_frames picks so that
 * the frames before it have been read (and their streams closed). */
static ssize_t h2_feed(irh_h2 *h, const uint8_t *data, size_t len) {
  size_t pos = 0, fed = 0, start;
  uint8_t type;
  int32_t id;
  while (scan_frames(h, data, len, &pos, &start, &type, &id)) {
    if (start > fed) {
      ssize_t rv = nghttp2_session_mem_recv(h->session, data + fed, start - fed);
      if (rv < 0 || h->dead || h->read_stopped) return rv < 0 ? rv : 0;
      fed = start;
    }
    check_closed_stream(h, type, id);
  }
  if (fed == len) return 0;
  ssize_t rv = nghttp2_session_mem_recv(h->session, data + fed, len - fed);
  return rv < 0 ? rv : 0;
}

static int on_stream_close(nghttp2_session *ss, int32_t id, uint32_t code, void *ud) {
  irh_h2 *h = ud;
  irh_h2_stream *hs = stream_of(h, id);
  if (!hs) return 0;
  ir_stream_t *s = hs->s;
  int reason = code == NGHTTP2_NO_ERROR && (s->flags & IRH_STREAM_RESP_ENDED) ? IR_CLOSE_DONE
                                                                              : IR_CLOSE_ABORTED;
  if (code == NGHTTP2_NO_ERROR && !hs->peer_reset && !hs->server_reset)
    remember_closed(h, id, H2_CLOSED_ENDED);
  else if (hs->peer_reset)
    remember_closed(h, id, H2_CLOSED_PEER_RESET);
  /* reset by the server: the client's late frames are ignored (5.1) */
  forget_stream(h, hs, 1);
  irh_stream_finish(s, reason); /* frees hs with the arena */
  if (h->goaway && h->nstreams == 0) irh_conn_close_when_flushed(h->conn);
  h2_rearm_timer(h);
  return 0;
}

static int on_frame_send(nghttp2_session *ss, const nghttp2_frame *f, void *ud) {
  irh_h2 *h = ud;
  if (f->hd.type == NGHTTP2_RST_STREAM) {
    irh_h2_stream *hs = stream_of(h, f->hd.stream_id);
    if (hs) hs->server_reset = 1;
  }
  if (f->hd.type == NGHTTP2_RST_STREAM && reset_is_client_caused(f->rst_stream.error_code)) {
    const irh_config *cfg = h2_config(h);
    if (!irh_rate_take(&h->server_resets, cfg->h2_reset_burst, cfg->h2_reset_rate, h2_now(h)))
      h2_calm_down(h, "client-caused stream resets (MadeYouReset)");
  } else if (f->hd.type == NGHTTP2_GOAWAY) {
    irh_log(IR_LOG_INFO, h->conn->id, -1, NULL, "GOAWAY sent: %s, last stream %d",
            nghttp2_http2_strerror(f->goaway.error_code), f->goaway.last_stream_id);
  } else if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
             (f->hd.flags & NGHTTP2_FLAG_END_STREAM) && h->requests_open) {
    /* Answered before the request ended: the rest of the request is still
     * read (and checked by nghttp2: content-length, windows, frames after
     * END_STREAM) but dropped, up to the discard bounds. */
    irh_h2_stream *hs = stream_of(h, f->hd.stream_id);
    if (hs && !(hs->s->flags & IRH_STREAM_REQ_ENDED) && !hs->discarding) {
      hs->discarding = 1;
      hs->discard_since = h2_now(h);
      /* An upgraded stream's far end is gone: what the client sends on has
       * no request to check and nowhere to go, so it is told to stop now. */
      if (hs->s->flags & IRH_STREAM_UPGRADED) stop_discarding(h, hs, "tunnel");
    }
  }
  return 0;
}

static int on_invalid_frame(nghttp2_session *ss, const nghttp2_frame *f, int err, void *ud) {
  irh_h2 *h = ud;
  irh_log(IR_LOG_DEBUG, h->conn->id, f->hd.stream_id, NULL, "invalid frame: %s",
          nghttp2_strerror(err));
  return 0;
}

/* ---- writing ---- */

static ssize_t send_bytes(nghttp2_session *ss, const uint8_t *data, size_t len, int flags,
                          void *ud) {
  irh_h2 *h = ud;
  if (irh_conn_out_full(h->conn)) return NGHTTP2_ERR_WOULDBLOCK;
  if (irh_conn_write(h->conn, data, len) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
  return (ssize_t)len;
}

/* DATA frames without a copy into nghttp2: the frame header, then the
 * module's kept bytes (resp_write_ref) and the stream's queue, straight
 * into the connection's output; large queue blocks move without a copy
 * (irh_bufq_splice). */
/* Body bytes queued on a stream: a module's kept bytes, then copies. */
static size_t queued(const irh_h2_stream *hs) { return hs->ref.len + hs->body.len; }

static int send_data(nghttp2_session *ss, nghttp2_frame *f, const uint8_t *framehd, size_t length,
                     nghttp2_data_source *src, void *ud) {
  irh_h2 *h = ud;
  irh_h2_stream *hs = src->ptr;
  if (irh_conn_out_full(h->conn)) return NGHTTP2_ERR_WOULDBLOCK;
  size_t pad = f->data.padlen; /* 0: Iridium asks for no padding, a client cannot */
  char *p = irh_conn_reserve(h->conn, 10);
  if (!p) return NGHTTP2_ERR_CALLBACK_FAILURE;
  memcpy(p, framehd, 9);
  if (pad) p[9] = (char)(pad - 1);
  irh_conn_commit(h->conn, pad ? 10 : 9);
  size_t from_ref = hs->ref.len < length ? hs->ref.len : length;
  if (from_ref) {
    if (irh_conn_write(h->conn, hs->ref.ptr, from_ref) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    hs->ref.ptr += from_ref;
    hs->ref.len -= from_ref;
  }
  if (irh_conn_splice(h->conn, &hs->body, length - from_ref) != 0)
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (pad > 1) {
    p = irh_conn_reserve(h->conn, pad - 1);
    if (!p) return NGHTTP2_ERR_CALLBACK_FAILURE;
    memset(p, 0, pad - 1);
    irh_conn_commit(h->conn, pad - 1);
  }
  hs->rate_bytes += length;
  progress(h, hs);
  return 0;
}

static ssize_t data_read(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud) {
  irh_h2_stream *hs = src->ptr;
  size_t avail = queued(hs);
  size_t n = avail < length ? avail : length;
  int more = !hs->eof; /* stream.c ends a response only after its file body */
  if (n == 0 && more) {
    hs->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (n) *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (!more && n == avail) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    ir_stream_t *s = hs->s;
    if (s->ntrailers) {
      nghttp2_nv *nv = irh_arena_alloc(&s->arena, s->ntrailers * sizeof(*nv));
      if (nv) {
        for (size_t i = 0; i < s->ntrailers; i++)
          nv[i] =
              (nghttp2_nv){(uint8_t *)s->trailers[i].name.ptr, (uint8_t *)s->trailers[i].value.ptr,
                           s->trailers[i].name.len, s->trailers[i].value.len, NV_NO_COPY};
        if (nghttp2_submit_trailer(ss, id, nv, s->ntrailers) == 0)
          *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
  }
  return (ssize_t)n;
}

static int64_t h2_send_room(ir_stream_t *s);

/* Whether a file body waits for what is not there yet: a free slot or the
 * peer's window (on_writable would only hear "again"). */
static int file_blocked(irh_h2 *h, irh_h2_stream *hs) {
  return hs->file_waiting &&
         (h->file_bodies >= h2_config(h)->h2_max_file_bodies || h2_send_room(hs->s) <= 0);
}

/* Streams whose queue drained get on_writable; returns how many did. */
static int notify_writable(irh_h2 *h) {
  int n = 0;
  irh_link *l = h->streams.next;
  while (l != &h->streams && !irh_conn_out_full(h->conn)) {
    irh_link *next = l->next;
    irh_h2_stream *hs = irh_container_of(l, irh_h2_stream, link);
    if ((hs->s->flags & IRH_STREAM_WANT_WRITE) && queued(hs) < H2_STREAM_LOW &&
        !file_blocked(h, hs)) {
      irh_stream_writable(hs->s);
      n++;
    }
    l = next;
  }
  return n;
}

static void h2_free(irh_h2 *h) {
  nghttp2_session_del(h->session);
  free(h);
}

/* Leaves an nghttp2 call; frees the session if the connection closed in it. */
static int h2_leave(irh_h2 *h) {
  if (--h->in_session == 0 && h->dead) {
    h2_free(h);
    return 1;
  }
  return 0;
}

static void h2_before_flush(irh_conn *c) {
  irh_h2 *h = c->proto_state;
  h->in_session++;
  for (int round = 0; round < 8; round++) {
    int rv = nghttp2_session_send(h->session);
    if (rv != 0) {
      irh_log(IR_LOG_INFO, c->id, -1, NULL, "HTTP/2 send failed: %s", nghttp2_strerror(rv));
      irh_conn_close(c);
      break;
    }
    if (h->dead || !notify_writable(h)) break;
  }
  if (h2_leave(h)) return;
  if (!c->closing && !nghttp2_session_want_read(h->session) &&
      !nghttp2_session_want_write(h->session))
    irh_conn_close_when_flushed(c);
}

/* ---- stream ops ---- */

static int h2_send_head(ir_stream_t *s, int end_stream) {
  irh_h2 *h = h2_of(s->conn);
  irh_h2_stream *hs = s->proto;
  int status = s->status == 101 ? 200 : s->status; /* an accepted extended CONNECT */
  size_t max = s->nresp + 5;
  nghttp2_nv *nv = irh_arena_alloc_uninit(&s->arena, max * sizeof(*nv));
  char *num = irh_arena_alloc_uninit(&s->arena, 96); /* status, Content-Length, Date */
  if (!nv || !num) return IR_ENOMEM;
  size_t n = 0;
  num[0] = (char)('0' + status / 100 % 10);
  num[1] = (char)('0' + status / 10 % 10);
  num[2] = (char)('0' + status % 10);
  nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)num, 7, 3, NV_NO_COPY};
  nv[n++] = (nghttp2_nv){(uint8_t *)"server", (uint8_t *)"iridium", 6, 7, NV_NO_COPY};
  size_t dlen;
  const char *date = irh_worker_date(s->worker, &dlen); /* copied: the cache changes */
  memcpy(num + 32, date, dlen);
  nv[n++] = (nghttp2_nv){(uint8_t *)"date", (uint8_t *)num + 32, 4, dlen, NV_NO_COPY};
  int no_body = irh_status_has_no_body(status) || (s->flags & IRH_STREAM_IS_HEAD);
  if ((s->flags & IRH_STREAM_HAS_CL) && !irh_status_has_no_body(status)) {
    size_t cl = irh_format_u64(num + 4, (uint64_t)s->resp_content_length);
    nv[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)num + 4, 14, cl, NV_NO_COPY};
  }
  for (size_t i = 0; i < s->nresp; i++) {
    const irh_header *f = &s->resp_headers[i];
    if (f->name.len == 7 && memcmp(f->name.ptr, "upgrade", 7) == 0) continue; /* not in HTTP/2 */
    nv[n++] = (nghttp2_nv){(uint8_t *)f->name.ptr, (uint8_t *)f->value.ptr, f->name.len,
                           f->value.len, NV_NO_COPY};
  }
  nghttp2_data_provider prd = {.source.ptr = hs, .read_callback = data_read};
  hs->has_provider = !end_stream && !no_body;
  int rv = nghttp2_submit_response(h->session, hs->id, nv, n, hs->has_provider ? &prd : NULL);
  if (rv != 0) return IR_ECLOSED;
  irh_conn_want_flush(s->conn);
  return IR_OK;
}

/* Queues body bytes: kept (a pointer, while nothing else is queued) or
 * copied; send_data takes the kept bytes first. */
static ssize_t queue_body(ir_stream_t *s, const void *data, size_t len, int kept) {
  irh_h2 *h = h2_of(s->conn);
  irh_h2_stream *hs = s->proto;
  if (!hs->has_provider) return (ssize_t)len; /* HEAD, 204, 304: no body goes out */
  size_t n = len;
  if (!irh_stream_write_completes(s, len)) { /* the rest of a declared body goes whole */
    if (queued(hs) >= H2_STREAM_HIGH || irh_conn_out_full(s->conn)) return IR_EAGAIN;
    if (n > H2_STREAM_HIGH - queued(hs)) n = H2_STREAM_HIGH - queued(hs);
  }
  if (kept && queued(hs) == 0)
    hs->ref = (ir_str){data, n};
  else if (irh_bufq_append(&hs->body, data, n) != 0)
    return IR_ENOMEM;
  if (hs->deferred) {
    hs->deferred = 0;
    nghttp2_session_resume_data(h->session, hs->id);
  }
  irh_conn_want_flush(s->conn);
  return (ssize_t)n;
}

static ssize_t h2_write(ir_stream_t *s, const void *data, size_t len) {
  return queue_body(s, data, len, 0);
}

static ssize_t h2_write_ref(ir_stream_t *s, const void *data, size_t len) {
  return queue_body(s, data, len, 1);
}

static int h2_end(ir_stream_t *s) {
  irh_h2_stream *hs = s->proto;
  if (irh_stream_ends_short(s)) { /* no END_STREAM for a cut body (stream.c logged it) */
    nghttp2_submit_rst_stream(h2_of(s->conn)->session, NGHTTP2_FLAG_NONE, hs->id,
                              NGHTTP2_INTERNAL_ERROR);
    irh_conn_want_flush(s->conn);
    return IR_OK;
  }
  hs->eof = 1;
  if (hs->deferred) {
    hs->deferred = 0;
    nghttp2_session_resume_data(h2_of(s->conn)->session, hs->id);
  }
  irh_conn_want_flush(s->conn);
  return IR_OK;
}

static void h2_consume(ir_stream_t *s, size_t n) {
  irh_h2_stream *hs = s->proto;
  nghttp2_session_consume(h2_of(s->conn)->session, hs->id, n);
  irh_conn_want_flush(s->conn);
}

static void h2_settle(ir_stream_t *s) {
  irh_h2_stream *hs = s->proto;
  if (s->flags & IRH_STREAM_RESET) {
    nghttp2_submit_rst_stream(h2_of(s->conn)->session, NGHTTP2_FLAG_NONE, hs->id,
                              NGHTTP2_INTERNAL_ERROR);
    irh_conn_want_flush(s->conn);
  }
}

static int h2_can_trailer(ir_stream_t *s) { return !(s->flags & IRH_STREAM_IS_HEAD); }

/* The peer's window for this stream (and the connection) beyond what is
 * queued already. */
static int64_t h2_send_room(ir_stream_t *s) {
  irh_h2 *h = h2_of(s->conn);
  irh_h2_stream *hs = s->proto;
  int64_t w = nghttp2_session_get_stream_remote_window_size(h->session, hs->id);
  int64_t cw = nghttp2_session_get_remote_window_size(h->session);
  return (w < cw ? w : cw) - (int64_t)queued(hs);
}

/* A file range as body: a file block in the stream's queue, which
 * send_data splices into DATA frames like any other body bytes (the
 * connection sends the payload with sendfile, or reads it for TLS). */
static int h2_write_file(ir_stream_t *s, int fd, uint64_t offset, size_t len,
                         irh_bufq_release_fn release, void *user) {
  irh_h2_stream *hs = s->proto;
  if (!hs->has_provider) { /* HEAD, 204, 304: no body goes out */
    release(user);
    return IR_OK;
  }
  if (irh_bufq_append_file(&hs->body, fd, offset, len, release, user) != 0) return IR_ENOMEM;
  if (hs->deferred) {
    hs->deferred = 0;
    nghttp2_session_resume_data(h2_of(s->conn)->session, hs->id);
  }
  irh_conn_want_flush(s->conn);
  return IR_OK;
}

/* A file body holds an fd: at most h2_max_file_bodies per connection, and
 * none for a stream whose peer has no window for it. */
static int h2_file_begin(ir_stream_t *s) {
  irh_h2 *h = h2_of(s->conn);
  irh_h2_stream *hs = s->proto;
  if (h->file_bodies >= h2_config(h)->h2_max_file_bodies || h2_send_room(s) <= 0) {
    hs->file_waiting = 1; /* notify_writable tells it when it may */
    return IR_EAGAIN;
  }
  hs->file_waiting = 0;
  hs->file_slots++;
  h->file_bodies++;
  return IR_OK;
}

static void h2_file_end(ir_stream_t *s) {
  irh_h2 *h = h2_of(s->conn);
  irh_h2_stream *hs = s->proto;
  if (!hs->file_slots) return;
  hs->file_slots--;
  h->file_bodies--;
  irh_conn_want_flush(s->conn); /* a stream waiting for a slot may go on (notify_writable) */
}

const irh_stream_ops irh_h2_stream_ops = {
    .send_head = h2_send_head,
    .write = h2_write,
    .write_ref = h2_write_ref,
    .end = h2_end,
    .consume = h2_consume,
    .settle = h2_settle,
    .can_trailer = h2_can_trailer,
    .write_file = h2_write_file,
    .file_begin = h2_file_begin,
    .file_end = h2_file_end,
};

/* ---- connection events ---- */

static void h2_on_read(irh_conn *c, const char *data, size_t len) {
  irh_h2 *h = c->proto_state;
  if (h->read_stopped) return; /* the GOAWAY is on its way; nothing more is decoded */
  h->in_session++;
  ssize_t rv = h2_feed(h, (const uint8_t *)data, len);
  if (h2_leave(h)) return;
  if (rv < 0 && h->calmed) {
    h->read_stopped = 1; /* a callback ended the session (h2_calm_down said why) */
  } else if (rv < 0) {
    if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC) { /* not HTTP/2 at all */
      irh_conn_close(c);
      return;
    }
    /* nghttp2's own limits: outbound-ACK floods, CONTINUATION floods. */
    int abuse = rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
    irh_log(abuse ? IR_LOG_WARN : IR_LOG_INFO, c->id, -1, NULL, "HTTP/2 session ends: %s%s",
            nghttp2_strerror((int)rv), abuse ? " (flood): GOAWAY ENHANCE_YOUR_CALM" : "");
    nghttp2_session_terminate_session(h->session,
                                      abuse ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
    h->goaway = 1;
  }
  irh_conn_want_flush(c);
}

static void h2_on_drain(irh_conn *c) {
  if (nghttp2_session_want_write(h2_of(c)->session)) irh_conn_want_flush(c);
}

/* Whether the stream's response has body to send (queued, a file body,
 * or a module told "again") and the client keeps it from going: no window,
 * or a socket it does not read. */
static int has_body_to_send(irh_h2_stream *hs) {
  ir_stream_t *s = hs->s;
  return hs->has_provider && (queued(hs) || (s->flags & IRH_STREAM_WANT_WRITE));
}

static int waits_on_reader(irh_h2 *h, irh_h2_stream *hs) {
  if (!has_body_to_send(hs)) return 0;
  if (hs->file_waiting && h->file_bodies >= h2_config(h)->h2_max_file_bodies && h->slots_stalled)
    return 1;
  return nghttp2_session_get_stream_remote_window_size(h->session, hs->id) <= 0 ||
         nghttp2_session_get_remote_window_size(h->session) <= 0 || irh_conn_out_full(h->conn);
}

/* Byte-counted progress (Kestrel's MinResponseDataRate): a 1-byte
 * WINDOW_UPDATE now and then is progress to reset_stalled_streams but
 * keeps a stream's buffers and file open forever. While a response waits
 * on the reader, the bytes it sent must keep up with h2_min_send_rate over
 * the waiting time, once that passes h2_min_send_rate_grace. A fast start
 * earns at most one grace period of credit, so it cannot buy a long stall.
 * Returns 1 when it reset the stream. */
static int reset_slow_readers(irh_h2 *h, irh_h2_stream *hs, uint64_t now) {
  const irh_config *cfg = h2_config(h);
  uint64_t rate = cfg->h2_min_send_rate, grace = cfg->h2_min_send_rate_grace_ms;
  uint64_t since = hs->rate_tick ? now - hs->rate_tick : 0;
  hs->rate_tick = now;
  if (!rate || (hs->s->flags & IRH_STREAM_UPGRADED)) return 0;
  if (!waits_on_reader(h, hs)) {
    if (!has_body_to_send(hs))
      hs->rate_wait_ms = hs->rate_bytes = 0; /* nothing to send: a new measure later */
    return 0;
  }
  hs->rate_wait_ms += since;
  uint64_t credit = rate * (hs->rate_wait_ms + grace) / 1000;
  if (hs->rate_bytes > credit) hs->rate_bytes = credit;
  if (hs->rate_wait_ms < grace || hs->rate_bytes * 1000 >= rate * hs->rate_wait_ms) return 0;
  irh_log(IR_LOG_WARN, h->conn->id, hs->id, NULL,
          "client reads %llu bytes in %llu ms, under h2_min_send_rate: RST_STREAM CANCEL",
          (unsigned long long)hs->rate_bytes, (unsigned long long)hs->rate_wait_ms);
  hs->rate_wait_ms = hs->rate_bytes = 0; /* reset once */
  nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, hs->id, NGHTTP2_CANCEL);
  return 1;
}

/* A stream waiting for a file-body slot waits on the reader too when the
 * streams holding the slots all do: one slow client, not a busy server. */
static void note_stalled_slots(irh_h2 *h) {
  unsigned stalled = 0;
  for (irh_link *l = h->streams.next; l != &h->streams; l = l->next) {
    irh_h2_stream *hs = irh_container_of(l, irh_h2_stream, link);
    if (hs->file_slots && waits_on_reader(h, hs)) stalled++;
  }
  h->slots_stalled = stalled && stalled >= h->file_bodies;
}

/* Streams waiting on the client (headers, body or window) that made no
 * progress for h2_stream_idle_timeout are reset. Upgraded streams idle as
 * long as their module likes. */
static void reset_stalled_streams(irh_h2 *h) {
  const irh_config *cfg = h2_config(h);
  uint64_t now = h2_now(h);
  if (cfg->h2_min_send_rate) note_stalled_slots(h);
  for (irh_link *l = h->streams.next; l != &h->streams; l = l->next) {
    irh_h2_stream *hs = irh_container_of(l, irh_h2_stream, link);
    ir_stream_t *s = hs->s;
    if (reset_slow_readers(h, hs, now) || (s->flags & IRH_STREAM_UPGRADED)) continue;
    int waits_for_window =
        queued(hs) && (nghttp2_session_get_stream_remote_window_size(h->session, hs->id) <= 0 ||
                         nghttp2_session_get_remote_window_size(h->session) <= 0);
    int waits = !(s->flags & IRH_STREAM_REQ_ENDED) || waits_for_window;
    if (!waits || now - hs->progress < cfg->h2_stream_idle_timeout_ms) continue;
    irh_log(IR_LOG_WARN, h->conn->id, hs->id, NULL, "stream stalled for %llu ms: RST_STREAM CANCEL",
            (unsigned long long)(now - hs->progress));
    hs->progress = now; /* reset once */
    nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, hs->id, NGHTTP2_CANCEL);
  }
}

/* Requests still sending after their response ended, for longer than
 * h2_discard_timeout, are told to stop. */
static void end_late_discards(irh_h2 *h) {
  uint64_t now = h2_now(h), limit = h2_config(h)->h2_discard_timeout_ms;
  for (irh_link *l = h->streams.next; l != &h->streams; l = l->next) {
    irh_h2_stream *hs = irh_container_of(l, irh_h2_stream, link);
    if (hs->discarding && now - hs->discard_since >= limit) stop_discarding(h, hs, "time");
  }
}

static void h2_on_timeout(irh_conn *c) {
  irh_h2 *h = c->proto_state;
  c->close_reason = IR_CLOSE_ABORTED;
  if (h->nstreams) {
    reset_stalled_streams(h);
    end_late_discards(h);
  } else if (h->timer_phase == H2_TIMER_TICK &&
             h2_now(h) - h->idle_since < h2_config(h)->keepalive_timeout_ms) {
    /* idle since less than keepalive_timeout: h2_arm waits the rest. The
     * stream map is all zeros again: its pages go back (once per idle
     * spell, at the first tick without streams). */
    for (int i = 0; i < H2_PAGE_BLOCKS; i++)
      if (h->pages[i].p) irh_recycler_pages_trim(h->pages[i].p, h->pages[i].size);
    h->first_tick = 0;
  } else if (h->ping_outstanding) {
    irh_log(IR_LOG_INFO, c->id, -1, NULL, "idle connection did not answer PING: closing");
    nghttp2_session_terminate_session(h->session, NGHTTP2_NO_ERROR);
    h->goaway = 1;
    irh_conn_close_when_flushed(c);
  } else {
    nghttp2_submit_ping(h->session, NGHTTP2_FLAG_NONE, NULL);
    h->ping_outstanding = 1;
  }
  irh_conn_want_flush(c);
  h2_arm(h, 1); /* the timer is one-shot: arm it again */
}

static void h2_on_shutdown(irh_conn *c) {
  irh_h2 *h = c->proto_state;
  if (!h->goaway) {
    nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h->session), NGHTTP2_NO_ERROR,
                          NULL, 0);
    h->goaway = 1;
  }
  /* The drain notice for each open stream. A notice may close the
   * connection (a write that failed): then h is dead and stops the walk;
   * otherwise streams finish only in a later settle, so `next` holds. */
  h->in_session++;
  for (irh_link *l = h->streams.next; l != &h->streams && !h->dead;) {
    irh_link *next = l->next;
    irh_stream_drain_notice(irh_container_of(l, irh_h2_stream, link)->s);
    l = next;
  }
  if (h2_leave(h)) return;
  if (h->nstreams == 0)
    irh_conn_close_when_flushed(c);
  else
    irh_conn_want_flush(c);
}

static void h2_on_eof(irh_conn *c) { irh_conn_close(c); /* an HTTP/2 client that closes is gone */ }

static void h2_on_close(irh_conn *c, int reason) {
  irh_h2 *h = c->proto_state;
  if (!h) return;
  while (!irh_list_empty(&h->streams)) {
    irh_h2_stream *hs = irh_container_of(h->streams.next, irh_h2_stream, link);
    ir_stream_t *s = hs->s;
    forget_stream(h, hs, 0);
    irh_stream_finish(s, reason);
  }
  c->proto_state = NULL;
  if (h->in_session)
    h->dead = 1; /* freed when the nghttp2 call returns */
  else
    h2_free(h);
}

static void h2_visit_streams(irh_conn *c, void (*cb)(ir_stream_t *s, void *data), void *data) {
  irh_h2 *h = c->proto_state;
  for (irh_link *l = h->streams.next; l != &h->streams; l = l->next) {
    irh_h2_stream *hs = irh_container_of(l, irh_h2_stream, link);
    if (hs->s) cb(hs->s, data);
  }
}

static const irh_proto irh_h2_proto = {
    .name = "h2",
    .visit_streams = h2_visit_streams,
    .on_read = h2_on_read,
    .on_drain = h2_on_drain,
    .on_timeout = h2_on_timeout,
    .on_shutdown = h2_on_shutdown,
    .on_eof = h2_on_eof,
    .on_close = h2_on_close,
    .before_flush = h2_before_flush,
};

/* ---- starting ---- */

static nghttp2_session_callbacks *h2_callbacks; /* shared by all sessions, made once */

static void h2_callbacks_init(void) {
  nghttp2_session_callbacks_new(&h2_callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(h2_callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback2(h2_callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(h2_callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(h2_callbacks, on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(h2_callbacks, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(h2_callbacks, on_frame_send);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(h2_callbacks, on_invalid_frame);
  nghttp2_session_callbacks_set_send_callback(h2_callbacks, send_bytes);
  nghttp2_session_callbacks_set_send_data_callback(h2_callbacks, send_data);
}

/* nghttp2 allocates and frees the same few sizes for every stream: it
 * shares the worker's recycler with the output queues. The big buffers it
 * makes with the session live as long as the session and are mostly
 * unused: the 16 KiB frame buffer holds one frame at a time (DATA payloads
 * never enter it, they go out through send_data) and an idle connection
 * has written only its SETTINGS there; the 4 KiB stream map is written
 * only while streams are open. Those get page blocks of their own (the
 * session's `pages`), so a waiting connection pays for the pages nghttp2
 * wrote, not for 20 KiB, and the map's page goes back once it is all zeros
 * again (h2_on_timeout). Later big allocations (a long header value) use
 * the recycler: no system call per request. */
#define H2_PAGES_MIN 4096

static void *h2_mem_alloc(size_t size, irh_h2 *h, int zeroed) {
  if (size >= H2_PAGES_MIN && h->making_session) {
    for (int i = 0; i < H2_PAGE_BLOCKS; i++) {
      if (h->pages[i].p) continue;
      void *p = irh_recycler_pages(size);
      if (p) h->pages[i].p = p, h->pages[i].size = size;
      return p;
    }
  }
  return zeroed ? irh_recycler_calloc(1, size) : irh_recycler_alloc(size);
}

/* The page block at p, or -1 for a recycler piece. */
static int h2_page_block(const irh_h2 *h, const void *p) {
  for (int i = 0; i < H2_PAGE_BLOCKS; i++)
    if (h->pages[i].p == p) return i;
  return -1;
}

static void *h2_mem_malloc(size_t size, void *ud) { return h2_mem_alloc(size, ud, 0); }

static void h2_mem_free(void *p, void *ud) {
  irh_h2 *h = ud;
  if (!p) return;
  int i = h2_page_block(h, p);
  if (i < 0) {
    irh_recycler_free(p);
    return;
  }
  irh_recycler_pages_free(p, h->pages[i].size);
  h->pages[i].p = NULL;
}

static void *h2_mem_calloc(size_t n, size_t size, void *ud) {
  if (size && n > SIZE_MAX / size) return NULL;
  return h2_mem_alloc(n * size, ud, 1);
}

static void *h2_mem_realloc(void *p, size_t size, void *ud) {
  irh_h2 *h = ud;
  if (!p) return h2_mem_alloc(size, h, 0);
  int i = h2_page_block(h, p);
  size_t have = i >= 0 ? h->pages[i].size : irh_recycler_usable(p);
  if (size <= have) return p;
  if (i < 0) return irh_recycler_realloc(p, size);
  void *q = h2_mem_alloc(size, h, 0);
  if (!q) return NULL;
  memcpy(q, p, have);
  h2_mem_free(p, h);
  return q;
}

static int h2_new_session(irh_conn *c, const irh_config *cfg, int connect_protocol) {
  static uv_once_t once = UV_ONCE_INIT;
  uv_once(&once, h2_callbacks_init);
  irh_h2 *h = calloc(1, sizeof(*h));
  if (!h) return -1;
  h->conn = c;
  h->limits = cfg;
  h->scan_skip = NGHTTP2_CLIENT_MAGIC_LEN; /* the preface comes first */
  h->max_header_size = cfg->max_header_size;
  h->max_header_count = cfg->max_header_count;
  irh_list_init(&h->streams);
  uint64_t now = uv_now(&c->worker->loop);
  irh_rate_init(&h->client_resets, cfg->h2_reset_burst, now);
  irh_rate_init(&h->server_resets, cfg->h2_reset_burst, now);
  irh_rate_init(&h->flood, cfg->h2_flood_limit, now);
  nghttp2_option *opt;
  if (nghttp2_option_new(&opt) != 0) {
    free(h);
    return -1;
  }
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_server_fallback_rfc7540_priorities(opt, 1);
  /* Closed streams are not kept for RFC 7540's priority tree (which RFC
   * 9113 deprecates): less work per stream. */
  nghttp2_option_set_no_closed_streams(opt, 1);
  nghttp2_option_set_max_continuations(opt, cfg->h2_max_continuations);
  /* nghttp2's own reset limiter only as a backstop at twice ours: ours
   * answers ENHANCE_YOUR_CALM and logs why. */
  nghttp2_option_set_stream_reset_rate_limit(opt, cfg->h2_reset_burst * 2, cfg->h2_reset_rate * 2);
  nghttp2_mem mem = {h, h2_mem_malloc, h2_mem_free, h2_mem_calloc, h2_mem_realloc};
  h->making_session = 1;
  int rv = nghttp2_session_server_new3(&h->session, h2_callbacks, h, opt, &mem);
  h->making_session = 0;
  nghttp2_option_del(opt);
  if (rv != 0) {
    free(h);
    return -1;
  }
  /* NO_RFC7540_PRIORITIES = 1 turns on nghttp2's RFC 9218 scheduler: it
   * reads the priority header field and PRIORITY_UPDATE frames itself. */
  nghttp2_settings_entry iv[6] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)cfg->h2_max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)cfg->h2_initial_window_size},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, (uint32_t)cfg->h2_max_frame_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)cfg->max_header_size},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
  };
  size_t niv = connect_protocol ? 6 : 5;
  nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, niv);
  /* The connection window covers several streams' windows. */
  uint64_t conn_window = cfg->h2_initial_window_size * 4;
  if (conn_window < H2_MIN_CONN_WINDOW) conn_window = H2_MIN_CONN_WINDOW;
  if (conn_window > 0x7fffffff) conn_window = 0x7fffffff;
  nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0, (int32_t)conn_window);
  irh_conn_set_proto(c, &irh_h2_proto, h);
  /* Idle from now on; the first tick gives back the pages the preface
   * and SETTINGS left zeroed, as later ticks do after streams. */
  h->idle_since = h2_now(h);
  h->first_tick = 1;
  h2_rearm_timer(h);
  irh_conn_want_flush(c);
  return 0;
}

int irh_h2_start(irh_conn *c, const irh_config *limits, int connect_protocol) {
  return h2_new_session(c, limits, connect_protocol);
}

int irh_h2_upgrade_settings_ok(const uint8_t *settings, size_t len) {
  if (len % 6 || len / 6 > NGHTTP2_DEFAULT_MAX_SETTINGS) return 0; /* nghttp2's own bounds */
  for (size_t i = 0; i < len; i += 6) {
    const uint8_t *e = settings + i;
    uint32_t v = (uint32_t)e[2] << 24 | (uint32_t)e[3] << 16 | (uint32_t)e[4] << 8 | e[5];
    switch (e[0] << 8 | e[1]) { /* RFC 9113 6.5.2 and the extensions' ranges */
    case NGHTTP2_SETTINGS_ENABLE_PUSH:
    case NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL:
    case NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES:
      if (v > 1) return 0;
      break;
    case NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE:
      if (v > (uint32_t)NGHTTP2_MAX_WINDOW_SIZE) return 0;
      break;
    case NGHTTP2_SETTINGS_MAX_FRAME_SIZE:
      if (v < 16384 || v > 16777215) return 0; /* 2^14 .. 2^24-1 */
      break;
    default: break;
    }
  }
  return 1;
}

int irh_h2_start_upgrade(irh_conn *c, const irh_config *limits, int connect_protocol,
                         ir_stream_t *s, const uint8_t *settings, size_t len) {
  if (h2_new_session(c, limits, connect_protocol) != 0) return -1;
  irh_h2 *h = c->proto_state;
  irh_h2_stream *hs = irh_arena_alloc(&s->arena, sizeof(*hs));
  if (!hs) return -1;
  hs->s = s;
  hs->id = 1;
  hs->req_ended = 1; /* HTTP/1.1 read all of it (an upgrade has no body) */
  /* s becomes HTTP/2's only once nghttp2 took stream 1: until then it is
   * still the caller's to finish (hs lives in s's arena). */
  int head = irh_stream_method_is(s, "HEAD");
  if (nghttp2_session_upgrade2(h->session, settings, len, head, hs) != 0) return -1;
  irh_stream_rebind(s, &irh_h2_stream_ops, hs, 1); /* allowed: not dispatched yet */
  s->protocol = (ir_str){"HTTP/2", 6};
  progress(h, hs);
  irh_list_push(&h->streams, &hs->link);
  h->nstreams++;
  h2_rearm_timer(h);
  irh_stream_dispatch(s);
  irh_stream_body_end(s); /* an upgrade has no body: the request is complete */
  return 0;
}
