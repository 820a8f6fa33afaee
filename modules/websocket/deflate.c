/* deflate.c — permessage-deflate (RFC 7692) with zlib: negotiation of the
 * four parameters (section 7.1), raw deflate streams with or without
 * context takeover, and inflation bounded by the message size limit so
 * that a small compressed message cannot cost much memory (a "zip bomb"
 * stops at the limit, after at most limit bytes of output). */
#include "deflate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PMD_NAME "permessage-deflate"
#define INFLATE_CHUNK 16384u

static int is_space(char c) { return c == ' ' || c == '\t'; }

static int is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A cursor over the header value. */
typedef struct cursor {
  const char *p;
  const char *end;
} cursor;

static void skip_space(cursor *c) {
  while (c->p < c->end && is_space(*c->p)) c->p++;
}

/* A token into tok (up to size-1 bytes, NUL-terminated); 0 when none. */
static int take_token(cursor *c, char *tok, size_t size) {
  size_t n = 0;
  skip_space(c);
  while (c->p < c->end && is_tchar(*c->p)) {
    if (n + 1 < size) tok[n++] = *c->p;
    c->p++;
  }
  tok[n] = 0;
  return n > 0;
}

/* A parameter value: a token or a quoted string (RFC 7692 7.1: values are
 * tokens, possibly quoted). -1 when malformed. */
static int take_value(cursor *c, char *val, size_t size) {
  skip_space(c);
  if (c->p < c->end && *c->p == '"') {
    size_t n = 0;
    c->p++;
    while (c->p < c->end && *c->p != '"') {
      if (*c->p == '\\' && c->p + 1 < c->end) c->p++;
      if (n + 1 < size) val[n++] = *c->p;
      c->p++;
    }
    if (c->p >= c->end) return -1;
    c->p++;
    val[n] = 0;
    return n > 0 ? 0 : -1;
  }
  return take_token(c, val, size) ? 0 : -1;
}

/* "8".."15" as a number; -1 otherwise (RFC 7692 7.1.2: 1*DIGIT, no
 * leading zero, 8 to 15). */
static int window_bits(const char *v) {
  if (!v[0] || v[0] == '0' || strlen(v) > 2) return -1;
  int n = 0;
  for (const char *p = v; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    n = n * 10 + (*p - '0');
  }
  return n >= 8 && n <= 15 ? n : -1;
}

/* One offer's parameters, c after its name; *sbits_asked / *cbits_asked
 * say whether it carried the two window parameters (the response then
 * names them). 1: acceptable (*out filled),
 * 0: not acceptable (a parameter we cannot honour, or a repeated or
 * unknown one, which RFC 7692 says to decline), -1: malformed. Leaves c
 * at the ',' ending the offer or at the end. */
static int parse_offer(cursor *c, int max_bits, ws_pmd_params *out, int *sbits_asked,
                       int *cbits_asked) {
  int ok = 1, seen_snct = 0, seen_cnct = 0, seen_sbits = 0, seen_cbits = 0;
  int server_bits = max_bits, client_bits = 15, client_bits_offered = 0;
  memset(out, 0, sizeof(*out));
  for (;;) {
    skip_space(c);
    if (c->p >= c->end || *c->p == ',') break;
    if (*c->p != ';') return -1;
    c->p++;
    char name[40], val[16];
    if (!take_token(c, name, sizeof(name))) return -1;
    int has_value = 0;
    skip_space(c);
    if (c->p < c->end && *c->p == '=') {
      c->p++;
      if (take_value(c, val, sizeof(val)) < 0) return -1;
      has_value = 1;
    }
    if (!strcmp(name, "server_no_context_takeover")) {
      if (has_value || seen_snct++) ok = 0;
      out->server_no_context_takeover = 1;
    } else if (!strcmp(name, "client_no_context_takeover")) {
      if (has_value || seen_cnct++) ok = 0;
      out->client_no_context_takeover = 1;
    } else if (!strcmp(name, "server_max_window_bits")) {
      int b = has_value ? window_bits(val) : -1;
      if (b < 0 || seen_sbits++) ok = 0;
      /* zlib has no 8-bit raw deflate window: decline such an offer. */
      else if (b < 9) ok = 0;
      else if (b < server_bits) server_bits = b;
    } else if (!strcmp(name, "client_max_window_bits")) {
      int b = has_value ? window_bits(val) : 15;
      if (b < 0 || seen_cbits++) ok = 0;
      client_bits_offered = 1;
      client_bits = b > 0 ? b : 15;
    } else {
      ok = 0;
    }
  }
  *sbits_asked = seen_sbits > 0;
  *cbits_asked = client_bits_offered;
  if (!ok) return 0;
  /* When the client said it can limit its window, we ask it for ours:
   * the smaller window keeps our inflate memory down. */
  if (client_bits_offered && client_bits > max_bits) client_bits = max_bits;
  out->enabled = 1;
  out->server_bits = server_bits;
  out->client_bits = client_bits_offered ? client_bits : 15;
  return 1;
}

static void format_response(const ws_pmd_params *p, int server_bits_asked, int client_bits_asked,
                            char *resp, size_t size) {
  int n = snprintf(resp, size, PMD_NAME);
  if (p->server_no_context_takeover && n > 0 && (size_t)n < size)
    n += snprintf(resp + n, size - (size_t)n, "; server_no_context_takeover");
  if (p->client_no_context_takeover && n > 0 && (size_t)n < size)
    n += snprintf(resp + n, size - (size_t)n, "; client_no_context_takeover");
  if ((server_bits_asked || p->server_bits < 15) && n > 0 && (size_t)n < size)
    n += snprintf(resp + n, size - (size_t)n, "; server_max_window_bits=%d", p->server_bits);
  if (client_bits_asked && n > 0 && (size_t)n < size)
    snprintf(resp + n, size - (size_t)n, "; client_max_window_bits=%d", p->client_bits);
}

int ws_pmd_negotiate(const char *offer, size_t len, int max_bits, int context_takeover,
                     ws_pmd_params *out, char *resp, size_t resp_size) {
  if (max_bits < 9 || max_bits > 15) max_bits = 15;
  cursor c = {offer, offer + len};
  memset(out, 0, sizeof(*out));
  for (;;) {
    char name[40];
    skip_space(&c);
    if (c.p >= c.end) return 0;
    if (*c.p == ',') { /* empty list elements are allowed (RFC 9110 5.6.1) */
      c.p++;
      continue;
    }
    if (!take_token(&c, name, sizeof(name))) return -1;
    int sb, cb;
    if (strcmp(name, PMD_NAME) != 0) {
      ws_pmd_params ignored;
      if (parse_offer(&c, 15, &ignored, &sb, &cb) < 0) return -1;
    } else {
      int r = parse_offer(&c, max_bits, out, &sb, &cb);
      if (r < 0) return -1;
      if (r > 0) {
        if (!context_takeover) out->server_no_context_takeover = out->client_no_context_takeover = 1;
        format_response(out, sb, cb, resp, resp_size);
        return 1;
      }
    }
    skip_space(&c);
    if (c.p < c.end) c.p++; /* the ',' */
  }
}

/* Without server context takeover every message starts afresh, so the
 * sessions of a thread share one deflate stream per window size. */
static __thread z_stream *shared_out[16];

void ws_pmd_thread_free(void) {
  for (int i = 0; i < 16; i++) {
    if (!shared_out[i]) continue;
    deflateEnd(shared_out[i]);
    free(shared_out[i]);
    shared_out[i] = NULL;
  }
}

static int deflate_open(z_stream *zs, int bits) {
  memset(zs, 0, sizeof(*zs));
  return deflateInit2(zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, bits - 7,
                      Z_DEFAULT_STRATEGY) == Z_OK
             ? 0
             : -1;
}

/* The stream to compress the next message with. */
static z_stream *out_stream(ws_pmd *z) {
  int bits = z->p.server_bits;
  if (z->p.server_no_context_takeover) {
    if (!shared_out[bits]) {
      z_stream *zs = malloc(sizeof(*zs));
      if (!zs || deflate_open(zs, bits) < 0) {
        free(zs);
        return NULL;
      }
      shared_out[bits] = zs;
    }
    return shared_out[bits];
  }
  if (!z->out_ready) {
    if (deflate_open(&z->out, bits) < 0) return NULL;
    z->out_ready = 1;
  }
  return &z->out;
}

void ws_pmd_init(ws_pmd *z, const ws_pmd_params *p) {
  memset(z, 0, sizeof(*z));
  z->p = *p;
}

void ws_pmd_free(ws_pmd *z) {
  if (z->in_ready) inflateEnd(&z->in);
  if (z->out_ready) deflateEnd(&z->out);
  z->in_ready = z->out_ready = 0;
}

int ws_grow(uint8_t **buf, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 256;
  while (n < need) n *= 2;
  uint8_t *g = realloc(*buf, n);
  if (!g) return -1;
  *buf = g;
  *cap = n;
  return 0;
}

/* Runs inflate over in, appending to the buffer; more than limit bytes
 * of output is WS_PMD_TOO_BIG (one byte past the limit is room enough to
 * tell). */
static int inflate_some(ws_pmd *z, const uint8_t *in, size_t n, uint8_t **buf, size_t *len,
                        size_t *cap, size_t limit) {
  z->in.next_in = (Bytef *)in;
  z->in.avail_in = (uInt)n;
  for (;;) {
    size_t room = limit + 1 - *len;
    if (room > INFLATE_CHUNK) room = INFLATE_CHUNK;
    if (ws_grow(buf, cap, *len + room) < 0) return WS_PMD_NOMEM;
    z->in.next_out = *buf + *len;
    z->in.avail_out = (uInt)room;
    int rc = inflate(&z->in, Z_SYNC_FLUSH);
    *len += room - z->in.avail_out;
    if (*len > limit) return WS_PMD_TOO_BIG;
    if (rc == Z_STREAM_END) { /* a final block: what follows starts afresh */
      inflateReset(&z->in);
      if (z->in.avail_in == 0) return WS_PMD_OK;
      continue;
    }
    if (rc == Z_BUF_ERROR) {
      if (z->in.avail_in == 0) return WS_PMD_OK;
      if (z->in.avail_out == 0) continue;
      return WS_PMD_BAD;
    }
    if (rc != Z_OK) return rc == Z_MEM_ERROR ? WS_PMD_NOMEM : WS_PMD_BAD;
    if (z->in.avail_in == 0 && z->in.avail_out > 0) return WS_PMD_OK;
  }
}

int ws_pmd_inflate(ws_pmd *z, const uint8_t *in, size_t n, int last, uint8_t **buf, size_t *len,
                   size_t *cap, size_t limit) {
  static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
  if (!z->in_ready) {
    if (inflateInit2(&z->in, -z->p.client_bits) != Z_OK) return WS_PMD_NOMEM;
    z->in_ready = 1;
  }
  int rc = inflate_some(z, in, n, buf, len, cap, limit);
  if (rc == WS_PMD_OK && last) rc = inflate_some(z, tail, sizeof(tail), buf, len, cap, limit);
  if (last || rc != WS_PMD_OK) {
    /* Without client context takeover nothing is kept between messages:
     * an idle session holds no inflate state. */
    if (z->p.client_no_context_takeover || rc != WS_PMD_OK) {
      inflateEnd(&z->in);
      z->in_ready = 0;
    }
  }
  return rc;
}

int ws_pmd_deflate(ws_pmd *z, const uint8_t *in, size_t n, uint8_t **buf, size_t *len,
                   size_t *cap) {
  z_stream *zs = out_stream(z);
  if (!zs) return WS_PMD_NOMEM;
  *len = 0;
  size_t bound = deflateBound(zs, (uLong)n) + 16;
  if (ws_grow(buf, cap, bound) < 0) return WS_PMD_NOMEM;
  zs->next_in = (Bytef *)in;
  zs->avail_in = (uInt)n;
  int rc = WS_PMD_OK;
  for (;;) {
    zs->next_out = *buf + *len;
    zs->avail_out = (uInt)(*cap - *len);
    int zrc = deflate(zs, Z_SYNC_FLUSH);
    *len = *cap - zs->avail_out;
    if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
      rc = WS_PMD_BAD;
      break;
    }
    if (zs->avail_in == 0 && zs->avail_out > 0) break;
    if (ws_grow(buf, cap, *cap * 2) < 0) {
      rc = WS_PMD_NOMEM;
      break;
    }
  }
  /* RFC 7692 7.2.1: drop the 00 00 ff ff the sync flush ends with. */
  if (rc == WS_PMD_OK && *len >= 4) *len -= 4;
  if (z->p.server_no_context_takeover || rc != WS_PMD_OK) deflateReset(zs);
  return rc;
}
