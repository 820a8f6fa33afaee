/* h1.c — HTTP/1.1 with llhttp: parse requests into streams, frame
 * responses, keep-alive, pipelining, 100-continue and the limits that answer
 * bad input with the right status and a close.
 *
 * Parsing runs in h1_parse(). Parser callbacks collect the request target
 * and header bytes in head_buf (bounded by max_header_size), build the stream
 * at headers-complete and hand body pieces to it. A request whose response
 * is not finished when its message ends pauses the parser; the rest of the
 * read waits in `pending` and the socket is not read until the stream
 * settles (stream.h), which resumes parsing. llhttp is never re-entered:
 * module calls only schedule work for the worker's next settle pass.
 */
#include "h1.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>

#include <llhttp.h>

#include "conn.h"
#include "log.h"
#include "recycler.h"
#include "stream.h"
#include "worker.h"

/* Unconsumed request body bytes before the parser pauses. */
#define H1_BODY_WINDOW (256u * 1024u)
/* Bytes read ahead while the parser is paused before reading stops. */
#define H1_PENDING_MAX (64u * 1024u)
/* Chunk-extension bytes allowed on one chunk line (nobody needs more; H2O
 * and nginx bound them too). Each extension piece counts one extra byte so
 * that a line of bare ';' is bounded as well. */
#define H1_CHUNK_EXT_MAX 4096u

typedef struct irh_h1_field {
  uint32_t name_off, name_len, value_off, value_len;
} irh_h1_field;

/* One connection's HTTP/1.1 state (c->proto_state): allocated when
 * HTTP/1.1 starts, freed with the connection's slot (on_release) or when
 * HTTP/2 takes over. */
typedef struct irh_h1 {
  llhttp_t parser;
  const irh_config *limits;   /* the server's, handed down at start */
  const irh_h1_upgrades *h2c; /* NULL: no h2c upgrade here */
  ir_stream_t *stream;        /* the request being served, or NULL */
  char *pending;              /* unparsed bytes saved while paused; owned */
  size_t pending_len;
  char *head_buf; /* target + header bytes of the current request; owned */
  size_t head_len, head_cap;
  uint32_t target_len;
  irh_h1_field *fields; /* owned */
  size_t nfields, fields_cap;
  uint64_t exec_count;               /* llhttp_execute calls so far */
  uint64_t value_exec;               /* the call that last gave a value piece ... */
  size_t value_field;                /* ... and for which field (1-based) */
  const char *exec_start, *exec_end; /* the bytes of the current llhttp_execute call */
  const char *lf_from;       /* line breaks after the current field's name: counted from here ... */
  uint32_t value_lf;         /* ... plus those of earlier reads */
  uint32_t chunk_ext_len;    /* chunk-extension bytes on the current chunk line */
  uint8_t crlf_left;         /* bytes of the CRLF after chunk data still unchecked */
  unsigned value_at_end : 1; /* the last value piece ended where its execute call's bytes did */
  unsigned tail_fold : 1;    /* the bytes parsed so far end in LF then only SP/HT */
  uint64_t requests;
  int error_status;         /* status a callback chose for the error it raised */
  unsigned paused : 1;      /* llhttp is paused; resume before parsing */
  unsigned keep_alive : 1;  /* the current exchange allows another */
  unsigned chunked_out : 1; /* the current response is chunked */
  unsigned close_out : 1;   /* the current response is close-delimited */
  unsigned saw_bytes : 1;   /* some bytes of a request arrived */
  unsigned h2c_upgrade : 1; /* answered 101 to h2c: HTTP/2 takes over after this request */
  unsigned tunnel : 1;      /* accepted an Upgrade: bytes now flow raw to the stream */
  unsigned upgrade_parsed : 1; /* an upgrade request's message is complete (llhttp paused) */
  uint8_t *h2c_settings;    /* decoded HTTP2-Settings (in the stream's arena) */
  size_t h2c_settings_len;
} irh_h1;

extern const irh_stream_ops irh_h1_stream_ops;
static const irh_proto irh_h1_proto;

static inline irh_h1 *h1_of(const irh_conn *c) { return c->proto_state; }
static inline const irh_config *conn_config(const irh_conn *c) { return h1_of(c)->limits; }

/* ---- failing a connection with a status ---- */

/* Writes a complete error response with Connection: close. */
static void h1_write_error(irh_conn *c, int status) {
  char buf[512];
  const char *reason = irh_status_reason(status);
  char body[96];
  int blen = snprintf(body, sizeof body, "%d %s\n", status, reason);
  size_t dlen;
  const char *date = irh_worker_date(c->worker, &dlen);
  int n = snprintf(buf, sizeof buf,
                   "HTTP/1.1 %d %s\r\ndate: %.*s\r\nserver: iridium\r\ncontent-type: text/plain; "
                   "charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s",
                   status, reason, (int)dlen, date, blen, body);
  irh_conn_write(c, buf, (size_t)n);
}

/* An access-log line for a request refused before it became a stream
 * (400, 414, 431, ...): what was read of the target, the status. */
static void h1_log_rejected(irh_conn *c, int status) {
  if (!irh_access_log_enabled()) return;
  const irh_h1 *h = h1_of(c);
  irh_access_entry e = {
      .peer = c->peer,
      .peer_len = c->peer_len,
      .method = "-",
      .method_len = 1,
      .target = h->target_len ? h->head_buf : "-",
      .target_len = h->target_len ? h->target_len : 1,
      .protocol = "HTTP/1.1",
      .status = status,
  };
  irh_access_log(&c->worker->access, &e);
}

/* The request cannot go on: answer status (when nothing was sent yet),
 * abort the stream and close once the answer is written. */
static void h1_fail(irh_conn *c, int status, const char *why) {
  irh_h1 *h = h1_of(c);
  ir_stream_t *s = h->stream;
  irh_log(IR_LOG_INFO, c->id, s ? s->id : -1, NULL, "closing: %s (%d)", why, status);
  int can_answer = !s || !(s->flags & IRH_STREAM_HEAD_SENT);
  if (s) {
    h->stream = NULL;
    if (can_answer && status) irh_stream_answered(s, status); /* what the access log shows */
    irh_stream_finish(s, IR_CLOSE_ERROR);
  }
  if (can_answer && status) {
    h1_write_error(c, status);
    if (!s) h1_log_rejected(c, status);
  }
  h->keep_alive = 0;
  irh_conn_close_when_flushed(c);
}

/* ---- parser callbacks ---- */

static irh_conn *parser_conn(llhttp_t *p) { return p->data; }

static int h1_fail_in_parser(llhttp_t *p, int status) {
  h1_of(parser_conn(p))->error_status = status;
  return -1;
}

/* Appends to head_buf; the total of target + fields is bounded. */
static int head_append(irh_conn *c, const char *at, size_t len) {
  irh_h1 *h = h1_of(c);
  if (len == 0) return 0; /* head_buf may be NULL: nothing to add to it */
  if (h->head_len + len > conn_config(c)->max_header_size) return -1;
  if (h->head_len + len > h->head_cap) {
    size_t cap = h->head_cap ? h->head_cap : 1024;
    while (cap < h->head_len + len) cap *= 2;
    char *grown = irh_recycler_realloc(h->head_buf, cap);
    if (!grown) return -1;
    h->head_buf = grown;
    h->head_cap = cap;
  }
  memcpy(h->head_buf + h->head_len, at, len);
  h->head_len += len;
  return 0;
}

/* The head's bytes are in the stream's arena now (or the request is
 * over): an idle keep-alive connection holds no head buffers. They come
 * from the recycler, so the next request gets them back without malloc. */
static void head_release(irh_h1 *h) {
  irh_recycler_free(h->head_buf);
  irh_recycler_free(h->fields);
  h->head_buf = NULL;
  h->fields = NULL;
  h->head_len = h->head_cap = h->nfields = h->fields_cap = 0;
  h->target_len = 0;
}

static int on_message_begin(llhttp_t *p) {
  irh_conn *c = parser_conn(p);
  irh_h1 *h = h1_of(c);
  if (!h->saw_bytes) irh_conn_set_timeout(c, conn_config(c)->header_timeout_ms);
  h->saw_bytes = 1;
  h->head_len = 0;
  h->target_len = 0;
  h->nfields = 0;
  h->value_field = 0; /* no value piece of the new fields yet */
  h->error_status = 0;
  h->crlf_left = 0;
  h->chunk_ext_len = 0;
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  irh_conn *c = parser_conn(p);
  if (h1_of(c)->target_len + len > conn_config(c)->max_uri_length) return h1_fail_in_parser(p, 414);
  if (head_append(c, at, len) != 0) return h1_fail_in_parser(p, 414);
  h1_of(c)->target_len += (uint32_t)len;
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  irh_conn *c = parser_conn(p);
  irh_h1 *h = h1_of(c);
  /* A new field starts once the previous field's name is complete. */
  if (h->nfields == 0 || h->fields[h->nfields - 1].value_off != UINT32_MAX) {
    if (h->nfields >= conn_config(c)->max_header_count) return h1_fail_in_parser(p, 431);
    if (h->nfields == h->fields_cap) {
      size_t cap = h->fields_cap ? h->fields_cap * 2 : 16;
      irh_h1_field *grown = irh_recycler_realloc(h->fields, cap * sizeof(*grown));
      if (!grown) return h1_fail_in_parser(p, 500);
      h->fields = grown;
      h->fields_cap = cap;
    }
    h->fields[h->nfields++] = (irh_h1_field){(uint32_t)h->head_len, 0, UINT32_MAX, 0};
    h->value_exec = 0; /* no value piece seen for this field yet */
  }
  /* llhttp 8 lets spaces through in names ("Host :", "X Y:"); RFC 9112
   * says a field name is a token and anything else gets 400. */
  for (size_t i = 0; i < len; i++)
    if (!irh_is_token_char((unsigned char)at[i])) return h1_fail_in_parser(p, 400);
  if (head_append(c, at, len) != 0) return h1_fail_in_parser(p, 431);
  h->fields[h->nfields - 1].name_len += (uint32_t)len;
  h->lf_from = at + len; /* line breaks before its value are counted from here */
  h->value_lf = 0;
  return 0;
}

static int on_header_field_complete(llhttp_t *p) {
  irh_h1 *h = h1_of(parser_conn(p));
  h->fields[h->nfields - 1].value_off = (uint32_t)h->head_len;
  return 0;
}

/* Whether the value piece at `at` follows a line break: only SP/HT lie
 * between the last LF and it (looking back into earlier reads if needed). */
static int follows_line_break(const irh_h1 *h, const char *at) {
  const char *q = at;
  while (q > h->exec_start && (q[-1] == ' ' || q[-1] == '\t')) q--;
  return q > h->exec_start ? q[-1] == '\n' : h->tail_fold;
}

static uint32_t count_lf(const char *from, const char *to) {
  uint32_t n = 0;
  for (; from < to; from++) n += *from == '\n';
  return n;
}

/* Whether the current field's name is complete and no value piece came. */
static int awaiting_value(const irh_h1 *h) {
  return h->nfields && h->fields[h->nfields - 1].value_off != UINT32_MAX &&
         h->value_field != h->nfields;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  irh_conn *c = parser_conn(p);
  irh_h1 *h = h1_of(c);
  /* llhttp reports an empty value as an empty piece at the start of the
   * next line: folded when more than one line break came after the name. */
  if (len == 0) return h->value_lf + count_lf(h->lf_from, at) > 1 ? h1_fail_in_parser(p, 400) : 0;
  /* llhttp joins obsolete line folding into the value, silently when the
   * first line's value is empty. RFC 9112 5.2 lets a server reject any
   * obs-fold with 400, which is what we do, wherever the reads split it: a
   * value piece is a fold when it starts a line, or when it is a second
   * piece that does not simply go on where the previous read ended. */
  int more = h->value_field == h->nfields && h->value_exec + 1 == h->exec_count &&
             h->value_at_end && at == h->exec_start;
  if (h->value_field == h->nfields ? !more : follows_line_break(h, at))
    return h1_fail_in_parser(p, 400);
  h->value_exec = h->exec_count;
  h->value_field = h->nfields;
  h->value_at_end = at + len == h->exec_end;
  if (head_append(c, at, len) != 0) return h1_fail_in_parser(p, 431);
  h->fields[h->nfields - 1].value_len += (uint32_t)len;
  return 0;
}

/* Counts fields named name; *value gets the last one. */
static int field_count(ir_stream_t *s, const char *name, ir_str *value) {
  size_t len = strlen(name);
  int n = 0;
  for (size_t i = 0; i < s->nheaders; i++) {
    if (s->headers[i].name.len == len && memcmp(s->headers[i].name.ptr, name, len) == 0) {
      if (value) *value = s->headers[i].value;
      n++;
    }
  }
  return n;
}

static int str_eq_nocase(ir_str a, const char *b) {
  return a.len == strlen(b) && strncasecmp(a.ptr, b, a.len) == 0;
}

/* Copies target and fields from head_buf into the stream's arena. */
static int build_request(irh_conn *c, ir_stream_t *s) {
  irh_h1 *h = h1_of(c);
  char *block = irh_arena_alloc(&s->arena, h->head_len + 1);
  s->headers = irh_arena_alloc(&s->arena, (h->nfields ? h->nfields : 1) * sizeof(irh_header));
  if (!block || !s->headers) return -1;
  memcpy(block, h->head_buf, h->head_len);
  for (size_t i = 0; i < h->nfields; i++) {
    const irh_h1_field *f = &h->fields[i];
    char *name = block + f->name_off;
    for (uint32_t k = 0; k < f->name_len; k++) name[k] = (char)tolower((unsigned char)name[k]);
    uint32_t voff = f->value_off == UINT32_MAX ? f->name_off + f->name_len : f->value_off;
    s->headers[i] = (irh_header){{name, f->name_len}, {block + voff, f->value_len}};
  }
  s->nheaders = h->nfields;
  s->target = (ir_str){block, h->target_len};
  const char *m = llhttp_method_name((llhttp_method_t)h->parser.method);
  s->method = (ir_str){m, strlen(m)};
  s->scheme = c->tls ? (ir_str){"https", 5} : (ir_str){"http", 4};
  s->protocol = h->parser.http_minor == 0 ? (ir_str){"HTTP/1.0", 8} : (ir_str){"HTTP/1.1", 8};
  return 0;
}

/* Transfer-Encoding other than exactly "chunked" is refused with 501, as
 * nginx does; Content-Length alongside it is smuggling and gets 400. */
static int check_framing(irh_conn *c, ir_stream_t *s) {
  ir_str te, cl;
  int nte = field_count(s, "transfer-encoding", &te);
  int ncl = field_count(s, "content-length", &cl);
  if (nte && ncl) return 400;
  if (nte > 1) return 501;
  if (nte) {
    while (te.len && (te.ptr[te.len - 1] == ' ' || te.ptr[te.len - 1] == '\t')) te.len--;
    while (te.len && (te.ptr[0] == ' ' || te.ptr[0] == '\t')) te.ptr++, te.len--;
    if (!str_eq_nocase(te, "chunked")) return 501;
    if (h1_of(c)->parser.http_minor == 0) return 400; /* chunked is not HTTP/1.0 */
  }
  if (ncl) {
    s->content_length = (int64_t)h1_of(c)->parser.content_length;
    if ((uint64_t)s->content_length > conn_config(c)->max_body_size) return 413;
  }
  return 0;
}

/* reg-name characters of RFC 3986 (unreserved, sub-delims; '%' checked
 * apart); IPv4 addresses are reg-names to this test. */
static int is_reg_name_char(unsigned char ch) {
  return isalnum(ch) || (ch && strchr("-._~!$&'()*+,;=", ch));
}

/* IPv6address or IPvFuture between the brackets of an IP-literal. */
static int valid_ip_literal(const char *p, size_t len) {
  if (len >= 3 && (p[0] == 'v' || p[0] == 'V')) { /* IPvFuture: "v" 1*HEXDIG "." 1*(...) */
    size_t i = 1;
    while (i < len && isxdigit((unsigned char)p[i])) i++;
    if (i == 1 || i + 1 >= len || p[i] != '.') return 0;
    for (i++; i < len; i++)
      if (!is_reg_name_char((unsigned char)p[i]) && p[i] != ':') return 0;
    return 1;
  }
  char buf[INET6_ADDRSTRLEN];
  struct in6_addr a;
  if (len == 0 || len >= sizeof buf) return 0;
  memcpy(buf, p, len);
  buf[len] = 0;
  return inet_pton(AF_INET6, buf, &a) == 1;
}

/* Host = uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): an
 * IP-literal in brackets or a reg-name (pct-encoded allowed), then an
 * optional port of 1 to 5 digits up to 65535. An empty port ("host:") is
 * refused: RFC 3986 only tolerates it and no client sends it. */
static int valid_host(ir_str v) {
  const char *p = v.ptr, *end = v.ptr + v.len, *host_end;
  if (p < end && *p == '[') {
    const char *close = memchr(p, ']', v.len);
    if (!close || !valid_ip_literal(p + 1, (size_t)(close - p - 1))) return 0;
    host_end = close + 1;
  } else {
    host_end = p;
    while (host_end < end && *host_end != ':') {
      unsigned char ch = (unsigned char)*host_end;
      if (ch == '%') {
        if (end - host_end < 3 || !isxdigit((unsigned char)host_end[1]) ||
            !isxdigit((unsigned char)host_end[2]))
          return 0;
        host_end += 3;
        continue;
      }
      if (!is_reg_name_char(ch)) return 0;
      host_end++;
    }
  }
  if (host_end == end) return 1;
  if (*host_end != ':') return 0;
  size_t digits = (size_t)(end - host_end - 1);
  if (digits == 0 || digits > 5) return 0;
  unsigned port = 0;
  for (const char *d = host_end + 1; d < end; d++) {
    if (!isdigit((unsigned char)*d)) return 0;
    port = port * 10 + (unsigned)(*d - '0');
  }
  return port <= 65535;
}

/* Validates the head; returns 0 or the status to answer. */
static int check_request(irh_conn *c, ir_stream_t *s, int *expect_continue) {
  llhttp_t *p = &h1_of(c)->parser;
  if (p->http_major != 1) return 505;
  int status = irh_stream_split_target(s);
  if (status) return status;
  ir_str host;
  int nhost = field_count(s, "host", &host);
  if (nhost > 1 || (nhost == 0 && p->http_minor == 1)) return 400;
  if (nhost) {
    while (host.len && (host.ptr[host.len - 1] == ' ' || host.ptr[host.len - 1] == '\t'))
      host.len--;
    /* RFC 9112 3.2: 400 for an invalid Host. An empty one only stands
     * for "no authority", which an origin-form target cannot do without. */
    if (!valid_host(host) || (!host.len && s->target.len && s->target.ptr[0] == '/')) return 400;
  }
  if (nhost && !s->authority.len) s->authority = host;
  status = check_framing(c, s);
  if (status) return status;
  ir_str expect;
  if (field_count(s, "expect", &expect)) {
    if (!str_eq_nocase(expect, "100-continue")) return 417;
    *expect_continue = p->http_minor == 1;
  }
  return 0;
}

static int body_expected(const irh_conn *c) {
  const llhttp_t *p = &h1_of(c)->parser;
  return (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
}

/* Whether a comma-separated header value lists token (case-insensitive). */
static int list_has_token(ir_str v, const char *token) {
  size_t tl = strlen(token);
  size_t i = 0;
  while (i < v.len) {
    while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t' || v.ptr[i] == ',')) i++;
    size_t start = i;
    while (i < v.len && v.ptr[i] != ',') i++;
    size_t end = i;
    while (end > start && (v.ptr[end - 1] == ' ' || v.ptr[end - 1] == '\t')) end--;
    if (end - start == tl && strncasecmp(v.ptr + start, token, tl) == 0) return 1;
  }
  return 0;
}

/* HTTP2-Settings is base64url without padding; GnuTLS decodes base64. */
static int decode_h2_settings(ir_stream_t *s, ir_str v, uint8_t **out, size_t *out_len) {
  size_t padded = (v.len + 3) / 4 * 4;
  char *b64 = irh_arena_alloc(&s->arena, padded + 1);
  if (!b64 || v.len % 4 == 1) return -1;
  for (size_t i = 0; i < v.len; i++)
    b64[i] = v.ptr[i] == '-' ? '+' : v.ptr[i] == '_' ? '/' : v.ptr[i];
  for (size_t i = v.len; i < padded; i++) b64[i] = '=';
  gnutls_datum_t in = {(unsigned char *)b64, (unsigned)padded}, res = {NULL, 0};
  if (padded == 0) {
    *out = NULL;
    *out_len = 0;
    return 0;
  }
  if (gnutls_base64_decode2(&in, &res) < 0) return -1;
  *out = irh_arena_alloc(&s->arena, res.size ? res.size : 1);
  if (*out) memcpy(*out, res.data, res.size);
  *out_len = res.size;
  gnutls_free(res.data);
  return *out ? 0 : -1;
}

/* An HTTP/1.1 request without a body that asks for h2c (RFC 7540 3.2) on a
 * listener that serves it. Returns 1 to upgrade, 0 not to, or a status. */
static int wants_h2c(irh_conn *c, ir_stream_t *s) {
  ir_str upgrade, connection, settings;
  const irh_h1_upgrades *up = h1_of(c)->h2c;
  if (!up || h1_of(c)->parser.http_minor != 1) return 0;
  if (field_count(s, "upgrade", &upgrade) != 1 || !list_has_token(upgrade, "h2c")) return 0;
  if (field_count(s, "connection", &connection) != 1 || !list_has_token(connection, "upgrade") ||
      !list_has_token(connection, "http2-settings"))
    return 0;
  if (body_expected(c)) return 0; /* served over HTTP/1.1, the upgrade ignored */
  if (field_count(s, "http2-settings", &settings) != 1) return 400;
  if (decode_h2_settings(s, settings, &h1_of(c)->h2c_settings, &h1_of(c)->h2c_settings_len) != 0 ||
      !up->settings_ok(h1_of(c)->h2c_settings, h1_of(c)->h2c_settings_len))
    return 400;
  return 1;
}

/* Upgrade: websocket (or any protocol but h2c) with Connection: upgrade on
 * a GET. The module decides: 101 accepts, anything else is a normal answer
 * after which the connection closes. */
static void note_upgrade(irh_conn *c, ir_stream_t *s) {
  ir_str upgrade, connection;
  if (field_count(s, "upgrade", &upgrade) != 1 || field_count(s, "connection", &connection) != 1 ||
      !list_has_token(connection, "upgrade") || !irh_stream_method_is(s, "GET") ||
      h1_of(c)->parser.http_minor != 1 || body_expected(c)) /* RFC 9110 7.8: not on HTTP/1.0 */
    return;
  size_t n = 0;
  while (n < upgrade.len && upgrade.ptr[n] != ',' && upgrade.ptr[n] != ' ') n++;
  char *lower = irh_arena_strndup(&s->arena, upgrade.ptr, n);
  if (!lower || n == 0) return;
  for (size_t i = 0; i < n; i++) lower[i] = (char)tolower((unsigned char)lower[i]);
  s->upgrade = (ir_str){lower, n};
}

static int on_headers_complete(llhttp_t *p) {
  irh_conn *c = parser_conn(p);
  irh_h1 *h = h1_of(c);
  if (h->stream) { /* trailers of a chunked body end here */
    return 0;
  }
  ir_stream_t *s = irh_stream_new(c, &irh_h1_stream_ops, (int64_t)++h->requests);
  if (!s || build_request(c, s) != 0) {
    if (s) irh_stream_finish(s, IR_CLOSE_ERROR);
    return h1_fail_in_parser(p, 500);
  }
  h->stream = s;
  head_release(h); /* trailers, if any, start a new one */
  int expect_continue = 0;
  int status = check_request(c, s, &expect_continue);
  if (status) return h1_fail_in_parser(p, status);

  const irh_config *cfg = conn_config(c);
  h->keep_alive =
      llhttp_should_keep_alive(p) && h->requests < cfg->keepalive_requests && !c->worker->draining;
  h->chunked_out = h->close_out = 0;
  h->head_len = 0; /* head_buf now collects trailers, if any */
  h->nfields = 0;
  h->value_field = 0; /* no value piece of the new fields yet */
  if (p->method == HTTP_HEAD) irh_stream_mark_head_request(s);
  irh_conn_set_timeout(c, body_expected(c) ? cfg->body_timeout_ms : 0);
  int h2c = wants_h2c(c, s);
  if (h2c > 1) return h1_fail_in_parser(p, h2c);
  if (h2c) { /* stream 1 of HTTP/2 once this request's message is complete */
    h->h2c_upgrade = 1;
    irh_conn_write(
        c, "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n", 71);
    return 0;
  }
  note_upgrade(c, s);
  irh_stream_dispatch(s); /* clears s->upgrade when the route's module takes none */
  /* llhttp stops at the end of an upgrade request's head; other requests
   * asking for an upgrade nobody takes are served as they are. */
  p->upgrade = s->upgrade.len != 0;
  if (expect_continue && body_expected(c) &&
      !(s->flags & (IRH_STREAM_HEAD_SENT | IRH_STREAM_RESET)))
    irh_conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
  return 0;
}

/* llhttp 8 skips any two bytes after chunk data, strict mode or not, so
 * "5\r\nhelloXX0\r\n\r\n" passes and a chunk size can hide in the skipped
 * bytes. The CRLF is checked here instead: from `from` up to the end of
 * the current read, the rest (crlf_left) at the start of the next one. */
static int check_chunk_crlf(irh_h1 *h, const char *from) {
  while (h->crlf_left && from < h->exec_end) {
    if (*from++ != "\r\n"[2 - h->crlf_left]) return -1;
    h->crlf_left--;
  }
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  irh_conn *c = parser_conn(p);
  irh_h1 *h = h1_of(c);
  ir_stream_t *s = h->stream;
  const irh_config *cfg = conn_config(c);
  if (s->body_received + len > cfg->max_body_size) return h1_fail_in_parser(p, 413);
  int chunk_done = (p->flags & F_CHUNKED) && p->content_length == 0;
  if (chunk_done) { /* before the module sees the data, so the answer can be a 400 */
    h->crlf_left = 2;
    if (check_chunk_crlf(h, at + len) != 0) return h1_fail_in_parser(p, 400);
  }
  irh_conn_set_timeout(c, cfg->body_timeout_ms);
  irh_stream_body(s, (const uint8_t *)at, len);
  if (s->unconsumed <= H1_BODY_WINDOW) return 0;
  if (chunk_done) h->crlf_left = 2; /* parsing resumes at at + len: check again from there */
  return HPE_PAUSED;
}

static int on_chunk_extension(llhttp_t *p, const char *at, size_t len) {
  (void)at;
  irh_h1 *h = h1_of(parser_conn(p));
  h->chunk_ext_len += (uint32_t)len + 1;
  return h->chunk_ext_len > H1_CHUNK_EXT_MAX ? h1_fail_in_parser(p, 400) : 0;
}

static int on_chunk_header(llhttp_t *p) {
  h1_of(parser_conn(p))->chunk_ext_len = 0; /* the next chunk line starts afresh */
  return 0;
}

static void h1_exchange_done(irh_conn *c);

static int on_message_complete(llhttp_t *p) {
  irh_conn *c = parser_conn(p);
  irh_h1 *h = h1_of(c);
  ir_stream_t *s = h->stream;
  irh_conn_set_timeout(c, 0);
  /* An h2c upgrade: h1_parse hands the connection to HTTP/2, which
   * dispatches the request as stream 1 and then ends its body. */
  if (h->h2c_upgrade) return HPE_PAUSED;
  if (s->upgrade.len) { /* what follows belongs to the upgraded stream, if accepted */
    h->upgrade_parsed = 1;
    return HPE_PAUSED;
  }
  irh_stream_body_end(s);
  if (s->flags & IRH_STREAM_RESET) return HPE_PAUSED; /* settle closes */
  if (!(s->flags & IRH_STREAM_RESP_ENDED)) return HPE_PAUSED;
  /* Answered already (the common case for GET): finish here and go on with
   * the next pipelined request unless the output is piling up. */
  h1_exchange_done(c);
  if (c->close_when_flushed || c->closing) return HPE_PAUSED;
  return irh_conn_out_full(c) ? HPE_PAUSED : 0;
}

static llhttp_settings_t h1_settings;

static void h1_settings_init(void) {
  llhttp_settings_init(&h1_settings);
  h1_settings.on_message_begin = on_message_begin;
  h1_settings.on_url = on_url;
  h1_settings.on_header_field = on_header_field;
  h1_settings.on_header_field_complete = on_header_field_complete;
  h1_settings.on_header_value = on_header_value;
  h1_settings.on_headers_complete = on_headers_complete;
  h1_settings.on_body = on_body;
  h1_settings.on_chunk_extension_name = on_chunk_extension;
  h1_settings.on_chunk_extension_value = on_chunk_extension;
  h1_settings.on_chunk_header = on_chunk_header;
  h1_settings.on_message_complete = on_message_complete;
}

/* ---- driving the parser ---- */

/* llhttp says HPE_INVALID_VERSION both for a version it does not support
 * (HTTP/3.0: 505) and for a malformed line after a good version
 * ("HTTP/1.1 extra": 400); the version it read tells them apart. */
static int status_for_parse_error(const llhttp_t *p, llhttp_errno_t err) {
  if (err == HPE_INVALID_TRANSFER_ENCODING) return 501;
  if (err == HPE_INVALID_VERSION && !(p->http_major == 1 && p->http_minor <= 1)) return 505;
  return 400;
}

/* Keeps bytes that arrive while parsing is paused. Reading goes on (so a
 * client that leaves is noticed at once) until H1_PENDING_MAX bytes wait;
 * then the socket is left unread, which holds back a pipelining client. */
static void h1_hold(irh_conn *c, const char *data, size_t len) {
  irh_h1 *h = h1_of(c);
  if (len == 0) return;
  char *grown = realloc(h->pending, h->pending_len + len);
  if (!grown) {
    irh_conn_close(c);
    return;
  }
  memcpy(grown + h->pending_len, data, len);
  h->pending = grown;
  h->pending_len += len;
  if (h->pending_len >= H1_PENDING_MAX) irh_conn_pause_reading(c);
}

/* Frees the parser's buffers (on close, or when HTTP/2 takes over). */
static void h1_release(irh_conn *c) {
  irh_h1 *h = h1_of(c);
  free(h->pending);
  h->pending = NULL;
  h->pending_len = 0;
  head_release(h);
}

/* After "101 Switching Protocols" to h2c: the request becomes stream 1 of
 * a new HTTP/2 session, which gets the bytes that followed it. */
static void h1_switch_to_h2(irh_conn *c, const char *rest, size_t len) {
  irh_h1 *h = h1_of(c);
  ir_stream_t *s = h->stream;
  h->stream = NULL;
  h->h2c_upgrade = 0;
  uint8_t *settings = h->h2c_settings;
  size_t settings_len = h->h2c_settings_len;
  h->h2c_settings = NULL;
  char *copy = len ? malloc(len) : NULL; /* rest may point into `pending` */
  if (len && !copy) {
    irh_stream_finish(s, IR_CLOSE_ERROR);
    irh_conn_close(c);
    return;
  }
  if (len) memcpy(copy, rest, len);
  const irh_h1_upgrades *up = h->h2c;
  h1_release(c);
  irh_slab_free(&c->worker->proto_slab, h); /* HTTP/1.1 is over on this connection */
  irh_conn_set_proto(c, NULL, NULL);
  if (up->to_h2(c, s, settings, settings_len) != 0) {
    free(copy);
    irh_stream_finish(s, IR_CLOSE_ERROR); /* still ours: HTTP/2 did not take it */
    irh_conn_close(c);
    return;
  }
  if (len && !c->closing) c->proto->on_read(c, copy, len);
  free(copy);
}

/* Bytes of an upgraded (tunnelled) stream go to the module as body. */
static void h1_tunnel_in(irh_conn *c, const char *data, size_t len) {
  ir_stream_t *s = h1_of(c)->stream;
  if (!s) return;
  irh_stream_body(s, (const uint8_t *)data, len);
  if (s->unconsumed > H1_BODY_WINDOW) h1_of(c)->paused = 1; /* later bytes wait in pending */
}

/* Feeds bytes to llhttp; saves what is left when it pauses. */
/* Remembers whether the parsed bytes [data, end) end in LF and SP/HT (a
 * possible obs-fold that the next read goes on with). */
static void note_tail(irh_h1 *h, const char *data, const char *end) {
  if (awaiting_value(h)) h->value_lf += count_lf(h->lf_from, end);
  while (end > data && (end[-1] == ' ' || end[-1] == '\t')) end--;
  if (end > data) h->tail_fold = end[-1] == '\n';
}

static void h1_parse(irh_conn *c, const char *data, size_t len) {
  irh_h1 *h = h1_of(c);
  h->exec_count++;
  h->exec_start = h->lf_from = data;
  h->exec_end = data + len;
  if (h->crlf_left && check_chunk_crlf(h, data) != 0) {
    h1_fail(c, 400, "chunk data not followed by CRLF");
    return;
  }
  llhttp_errno_t err = llhttp_execute(&h->parser, data, len);
  if (err == HPE_OK) {
    note_tail(h, data, data + len);
    return;
  }
  if (err == HPE_PAUSED_UPGRADE && !h->stream) {
    /* The upgrade request before was refused (h1_settle): llhttp still
     * stops where that request ended; HTTP goes on from here. */
    const char *pos = llhttp_get_error_pos(&h->parser);
    llhttp_resume_after_upgrade(&h->parser);
    h1_parse(c, pos, (size_t)(data + len - pos));
    return;
  }
  if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
    const char *pos = llhttp_get_error_pos(&h->parser);
    note_tail(h, data, pos); /* what follows pos is parsed again on resume */
    if (h->h2c_upgrade) {
      h1_switch_to_h2(c, pos, (size_t)(data + len - pos));
      return;
    }
    h->paused = 1;
    h1_hold(c, pos, (size_t)(data + len - pos));
    return;
  }
  int status = h->error_status ? h->error_status : status_for_parse_error(&h->parser, err);
  h1_fail(c, status, llhttp_get_error_reason(&h->parser));
}

/* Parsing may go on between requests (once output has drained) or inside a
 * body the module has consumed enough of; not while a response is owed. */
static int h1_can_resume(const irh_conn *c) {
  const ir_stream_t *s = h1_of(c)->stream;
  if (!s) return !irh_conn_out_full(c);
  return !(s->flags & IRH_STREAM_REQ_ENDED) && s->unconsumed <= H1_BODY_WINDOW / 2;
}

/* Takes up parsing where it paused, then reading from the socket. */
static void h1_resume(irh_conn *c) {
  irh_h1 *h = h1_of(c);
  if (!h->paused || c->closing || c->close_when_flushed || !h1_can_resume(c)) return;
  h->paused = 0;
  char *buf = h->pending;
  size_t len = h->pending_len;
  h->pending = NULL;
  h->pending_len = 0;
  if (h->tunnel) {
    if (buf) h1_tunnel_in(c, buf, len);
  } else {
    if (llhttp_get_errno(&h->parser) == HPE_PAUSED_UPGRADE)
      llhttp_resume_after_upgrade(&h->parser);
    else
      llhttp_resume(&h->parser);
    if (buf) h1_parse(c, buf, len);
  }
  free(buf);
  if (c->proto != &irh_h1_proto) return; /* HTTP/2 took over */
  if (h->tunnel && c->eof && !h->paused && h->stream) {
    irh_stream_body_end(h->stream); /* the peer's side ended after its last bytes */
    return;
  }
  if (h->paused || c->closing || c->close_when_flushed) return;
  if (c->eof && !h->stream && !h->saw_bytes) {
    irh_conn_close(c); /* the peer is gone and nothing is left to answer */
    return;
  }
  irh_conn_resume_reading(c);
}

/* The current exchange is complete on both sides. */
static void h1_exchange_done(irh_conn *c) {
  irh_h1 *h = h1_of(c);
  ir_stream_t *s = h->stream;
  h->stream = NULL;
  h->upgrade_parsed = 0;
  int keep = h->keep_alive && !c->worker->draining && !(c->eof && !h->pending_len);
  irh_stream_finish(s, IR_CLOSE_DONE);
  head_release(h); /* what trailers used */
  if (!keep) {
    irh_conn_close_when_flushed(c);
    return;
  }
  h->saw_bytes = 0;
  irh_conn_set_timeout(c, conn_config(c)->keepalive_timeout_ms);
}

/* ---- stream ops: framing the response ---- */

static int h1_send_head(ir_stream_t *s, int end_stream) {
  irh_conn *c = s->conn;
  irh_h1 *h = h1_of(c);
  size_t need = 160;
  for (size_t i = 0; i < s->nresp; i++)
    need += s->resp_headers[i].name.len + s->resp_headers[i].value.len + 4;
  size_t dlen;
  const char *date = irh_worker_date(c->worker, &dlen);
  need += dlen + 8 + s->upgrade.len; /* "date: " value "\r\n" */
  char *out = irh_conn_reserve(c, need);
  if (!out) return IR_ENOMEM;
  char *o = out;
  o += sprintf(o, "HTTP/1.1 %d %s\r\n", s->status, irh_status_reason(s->status));
  /* The date and server lines are copied, not formatted: every response has them. */
  memcpy(o, "date: ", 6);
  memcpy(o + 6, date, dlen);
  memcpy(o + 6 + dlen, "\r\nserver: iridium\r\n", 19);
  o += 6 + dlen + 19;
  int offers_upgrade = 0; /* an Upgrade field (426, 101) needs the connection option */
  for (size_t i = 0; i < s->nresp; i++) {
    const irh_header *f = &s->resp_headers[i];
    if (f->name.len == 7 && memcmp(f->name.ptr, "upgrade", 7) == 0) {
      if (s->flags & IRH_STREAM_UPGRADED) continue; /* the host writes it for a 101 */
      offers_upgrade = 1;
    }
    memcpy(o, f->name.ptr, f->name.len);
    o += f->name.len;
    *o++ = ':';
    *o++ = ' ';
    memcpy(o, f->value.ptr, f->value.len);
    o += f->value.len;
    *o++ = '\r';
    *o++ = '\n';
  }
  if (s->flags & IRH_STREAM_UPGRADED) { /* 101: the tunnel starts after this head */
    o += sprintf(o, "connection: upgrade\r\nupgrade: %.*s\r\n\r\n", (int)s->upgrade.len,
                 s->upgrade.ptr);
    irh_conn_commit(c, (size_t)(o - out));
    h->tunnel = 1;
    h->keep_alive = 0;
    irh_conn_set_timeout(c, 0);
    irh_stream_schedule_settle(s); /* delivers bytes the client already sent */
    return IR_OK;
  }
  if (!irh_status_has_no_body(s->status)) {
    if (s->flags & IRH_STREAM_HAS_CL)
      o += sprintf(o, "content-length: %lld\r\n", (long long)s->resp_content_length);
    else if (end_stream)
      o += sprintf(o, "content-length: 0\r\n");
    else if (s->flags & IRH_STREAM_IS_HEAD)
      ; /* no body will follow; the length is unknown */
    else if (h->parser.http_minor >= 1) {
      o += sprintf(o, "transfer-encoding: chunked\r\n");
      h->chunked_out = 1;
    } else {
      h->close_out = 1;
      h->keep_alive = 0;
    }
  }
  if (c->worker->draining) h->keep_alive = 0;
  const char *upgrade = offers_upgrade ? ", upgrade" : "";
  if (!h->keep_alive)
    o += sprintf(o, "connection: close%s\r\n", upgrade);
  else if (h->parser.http_minor == 0)
    o += sprintf(o, "connection: keep-alive%s\r\n", upgrade);
  else if (offers_upgrade)
    o += sprintf(o, "connection: upgrade\r\n");
  *o++ = '\r';
  *o++ = '\n';
  irh_conn_commit(c, (size_t)(o - out));
  return IR_OK;
}

static ssize_t h1_write(ir_stream_t *s, const void *data, size_t len) {
  irh_conn *c = s->conn;
  if (irh_status_has_no_body(s->status) && !(s->flags & IRH_STREAM_UPGRADED)) return (ssize_t)len;
  size_t queued = irh_conn_out_bytes(c), n = len;
  if (!irh_stream_write_completes(s, len)) { /* the rest of a declared body goes whole */
    if (queued >= c->max_queued) return IR_EAGAIN;
    if (n > c->max_queued - queued) n = c->max_queued - queued;
  }
  if (h1_of(c)->chunked_out) {
    char line[24];
    int ll = snprintf(line, sizeof line, "%zx\r\n", n);
    if (irh_conn_write(c, line, (size_t)ll) != 0) return IR_ECLOSED;
  }
  if (irh_conn_write(c, data, n) != 0) return IR_ECLOSED;
  if (h1_of(c)->chunked_out && irh_conn_write(c, "\r\n", 2) != 0) return IR_ECLOSED;
  return (ssize_t)n;
}

static int h1_end(ir_stream_t *s) {
  irh_conn *c = s->conn;
  irh_h1 *h = h1_of(c);
  if (h->chunked_out) {
    irh_conn_write(c, "0\r\n", 3);
    for (size_t i = 0; i < s->ntrailers; i++) {
      const irh_header *f = &s->trailers[i];
      irh_conn_write(c, f->name.ptr, f->name.len);
      irh_conn_write(c, ": ", 2);
      irh_conn_write(c, f->value.ptr, f->value.len);
      irh_conn_write(c, "\r\n", 2);
    }
    irh_conn_write(c, "\r\n", 2);
  }
  if (irh_stream_ends_short(s)) h->keep_alive = 0; /* the client sees it cut (stream.c logged it) */
  if (h->close_out) h->keep_alive = 0;
  return IR_OK;
}

/* Trailers need chunked framing: an HTTP/1.1 client, a body, no
 * Content-Length. */
static int h1_can_trailer(ir_stream_t *s) {
  if (s->flags & IRH_STREAM_HEAD_SENT) return h1_of(s->conn)->chunked_out;
  return h1_of(s->conn)->parser.http_minor >= 1 && !(s->flags & IRH_STREAM_IS_HEAD) &&
         !irh_status_has_no_body(s->status);
}

/* A file range as body: a file block in the connection's queue, framed as
 * one chunk when the response is chunked. */
static int h1_write_file(ir_stream_t *s, int fd, uint64_t offset, size_t len,
                         irh_bufq_release_fn release, void *user) {
  irh_conn *c = s->conn;
  int chunked = h1_of(c)->chunked_out;
  if (irh_status_has_no_body(s->status) && !(s->flags & IRH_STREAM_UPGRADED)) {
    release(user); /* no body goes out */
    return IR_OK;
  }
  if (chunked) {
    char line[24];
    int ll = snprintf(line, sizeof line, "%zx\r\n", len);
    if (irh_conn_write(c, line, (size_t)ll) != 0) return IR_ECLOSED;
  }
  if (irh_conn_write_file(c, fd, offset, len, release, user) != 0) return IR_ECLOSED;
  if (chunked && irh_conn_write(c, "\r\n", 2) != 0) return IR_OK; /* closing: released */
  return IR_OK;
}

static void h1_consume(ir_stream_t *s, size_t n) {
  (void)n;
  if (h1_of(s->conn)->paused && s->unconsumed <= H1_BODY_WINDOW / 2) irh_stream_schedule_settle(s);
}

/* Runs from the worker's settle pass, never inside llhttp or a module. */
static void h1_settle(ir_stream_t *s) {
  irh_conn *c = s->conn;
  irh_h1 *h = h1_of(c);
  if (h->stream != s) return;
  if (s->flags & IRH_STREAM_RESET) {
    irh_conn_close(c);
    return;
  }
  if ((s->flags & IRH_STREAM_RESP_ENDED) && !(s->flags & IRH_STREAM_REQ_ENDED) &&
      h->upgrade_parsed && !h->tunnel) {
    /* An upgrade answered with something else than 101 (a WebSocket
     * handshake refused with 400, 403, 426, 502): the request was whole,
     * so it ends now and the connection goes on to the next one, whose
     * bytes llhttp parses after its upgrade pause. */
    h->upgrade_parsed = 0;
    irh_stream_body_end(s);
    if (h->stream != s) return;
    if (s->flags & IRH_STREAM_RESET) {
      irh_conn_close(c);
      return;
    }
    h1_exchange_done(c);
    h1_resume(c);
    return;
  }
  if ((s->flags & IRH_STREAM_RESP_ENDED) && !(s->flags & IRH_STREAM_REQ_ENDED) &&
      irh_stream_drops_body(s)) {
    /* Answered by a module that reads no body (or by the host): like
     * nginx, the rest is read and dropped (up to max_body_size, within
     * body_timeout) and the connection goes on; on_message_complete ends
     * the exchange. */
    h1_resume(c);
    return;
  }
  if (s->flags & IRH_STREAM_RESP_ENDED) {
    if (!(s->flags & IRH_STREAM_REQ_ENDED)) {
      /* Answered before a module read the body it takes: stop here; the
       * lingering close drains what the client still sends. */
      h->keep_alive = 0;
    }
    h1_exchange_done(c);
  }
  h1_resume(c);
}

const irh_stream_ops irh_h1_stream_ops = {
    .send_head = h1_send_head,
    .write = h1_write,
    .end = h1_end,
    .consume = h1_consume,
    .settle = h1_settle,
    .can_trailer = h1_can_trailer,
    .write_file = h1_write_file,
};

/* ---- connection events ---- */

int irh_h1_start(irh_conn *c, const irh_config *limits, const irh_h1_upgrades *h2c) {
  static uv_once_t once = UV_ONCE_INIT;
  uv_once(&once, h1_settings_init);
  irh_slab *slab = &c->worker->proto_slab;
  if (!slab->obj_size) irh_slab_init(slab, sizeof(irh_h1), 64); /* the worker's first */
  irh_h1 *h = irh_slab_alloc(slab);
  if (!h) return -1;
  llhttp_init(&h->parser, HTTP_REQUEST, &h1_settings);
  h->parser.data = c;
  h->limits = limits;
  h->h2c = h2c;
  irh_conn_set_proto(c, &irh_h1_proto, h);
  irh_conn_set_timeout(c, limits->header_timeout_ms);
  return 0;
}

static void h1_on_read(irh_conn *c, const char *data, size_t len) {
  if (h1_of(c)->paused)
    h1_hold(c, data, len);
  else if (h1_of(c)->tunnel)
    h1_tunnel_in(c, data, len);
  else
    h1_parse(c, data, len);
}

static void h1_on_drain(irh_conn *c) {
  ir_stream_t *s = h1_of(c)->stream;
  if (s) irh_stream_writable(s);
  h1_resume(c);
}

/* The client closed its side. Like nginx, a client that leaves while its
 * response is still owed has aborted the request: the module hears
 * on_close(ABORTED) now, not at the next failed write. A response that is
 * already complete still goes out before the close. */
static void h1_on_eof(irh_conn *c) {
  if (h1_of(c)->tunnel && h1_of(c)->stream) { /* the peer closed its side of the byte stream */
    if (!h1_of(c)->paused) irh_stream_body_end(h1_of(c)->stream);
    return; /* else h1_resume ends it after the held bytes */
  }
  irh_h1 *h = h1_of(c);
  ir_stream_t *s = h->stream;
  if (s && !(s->flags & (IRH_STREAM_RESP_ENDED | IRH_STREAM_END_OWED))) {
    irh_conn_close(c);
    return;
  }
  if (s)
    h->keep_alive = 0; /* h1_exchange_done closes once the stream settles */
  else if (!h->pending_len)
    irh_conn_close(c);
  /* else: pipelined requests wait in pending; h1_resume serves them first */
}

static void h1_on_timeout(irh_conn *c) {
  irh_h1 *h = h1_of(c);
  if (!h->saw_bytes && !h->stream) {
    irh_log(IR_LOG_DEBUG, c->id, -1, NULL, "idle timeout");
    irh_conn_close(c);
    return;
  }
  h1_fail(c, 408, "request timed out");
}

static void h1_on_shutdown(irh_conn *c) {
  irh_h1 *h = h1_of(c);
  if (!h->stream && !h->saw_bytes && !h->pending_len) {
    irh_conn_close(c);
    return;
  }
  h->keep_alive = 0;
  if (h->stream) irh_stream_drain_notice(h->stream); /* h stays until on_release */
}

static void h1_on_close(irh_conn *c, int reason) {
  irh_h1 *h = h1_of(c);
  if (h->stream) {
    ir_stream_t *s = h->stream;
    h->stream = NULL;
    irh_stream_finish(s, reason);
  }
  h1_release(c);
}

/* The connection's slot is freed: so is the state (kept until here, as
 * code up the stack may still look at it after a close). */
static void h1_on_release(irh_conn *c) {
  irh_slab_free(&c->worker->proto_slab, c->proto_state);
  c->proto_state = NULL;
}

static void h1_visit_streams(irh_conn *c, void (*cb)(ir_stream_t *s, void *data), void *data) {
  if (h1_of(c)->stream) cb(h1_of(c)->stream, data);
}

static const irh_proto irh_h1_proto = {
    .name = "http/1.1",
    .visit_streams = h1_visit_streams,
    .on_read = h1_on_read,
    .on_drain = h1_on_drain,
    .on_timeout = h1_on_timeout,
    .on_shutdown = h1_on_shutdown,
    .on_eof = h1_on_eof,
    .on_close = h1_on_close,
    .on_release = h1_on_release,
};
