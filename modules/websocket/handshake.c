/* handshake.c — checks and answers of the opening handshake (RFC 6455
 * 4.2, RFC 8441 4-5). SHA-1 and base64 of Sec-WebSocket-Accept come from
 * nettle. */
#include "handshake.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int str_eq(ir_str s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static int str_ieq(ir_str s, const char *lit) {
  return s.len == strlen(lit) && strncasecmp(s.ptr, lit, s.len) == 0;
}

/* Sec-WebSocket-Key: base64 of 16 bytes (RFC 6455 4.1). */
static int key_valid(ir_str key) {
  if (key.len != 24) return 0;
  struct base64_decode_ctx ctx;
  uint8_t out[BASE64_DECODE_LENGTH(24)];
  size_t n = sizeof(out);
  base64_decode_init(&ctx);
  if (!base64_decode_update(&ctx, &n, out, key.len, key.ptr)) return 0;
  return base64_decode_final(&ctx) && n == 16;
}

static int origin_allowed(ir_stream_t *s, const ir_ws_options *o) {
  if (!o->norigins) return 1;
  ir_str origin;
  /* Only browsers send Origin, and they always do (RFC 6455 10.2): a
   * client without one is not a page of another site. */
  if (ir_req_header(s, "origin", &origin) != IR_OK) return 1;
  for (size_t i = 0; i < o->norigins; i++)
    if (str_ieq(origin, o->origins[i])) return 1;
  return 0;
}

static int offered(const ir_ws_options *o, const char *p, size_t n) {
  for (size_t i = 0; i < o->nsubprotocols; i++)
    if (strlen(o->subprotocols[i]) == n && memcmp(o->subprotocols[i], p, n) == 0) return 1;
  return 0;
}

/* The client's first offer (in its order, over every
 * Sec-WebSocket-Protocol field) that we offer too. */
static ir_str choose_subprotocol(ir_stream_t *s, const ir_ws_options *o) {
  ir_str none = {NULL, 0};
  size_t count = ir_req_header_count(s);
  for (size_t i = 0; i < count && o->nsubprotocols; i++) {
    ir_str name, value;
    if (ir_req_header_at(s, i, &name, &value) != IR_OK) break;
    if (!str_eq(name, "sec-websocket-protocol")) continue;
    const char *p = value.ptr, *end = value.ptr + value.len;
    while (p < end) {
      while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
      const char *start = p;
      while (p < end && *p != ',' && *p != ' ' && *p != '\t') p++;
      if (p > start && offered(o, start, (size_t)(p - start))) {
        ir_str chosen = {start, (size_t)(p - start)};
        return chosen;
      }
    }
  }
  return none;
}

/* permessage-deflate from the Sec-WebSocket-Extensions fields; -1 for one
 * that does not parse. */
static int negotiate_deflate(ir_stream_t *s, const ir_ws_options *o, ws_handshake *hs) {
  size_t count = ir_req_header_count(s);
  for (size_t i = 0; i < count; i++) {
    ir_str name, value;
    if (ir_req_header_at(s, i, &name, &value) != IR_OK) break;
    if (!str_eq(name, "sec-websocket-extensions")) continue;
    int r = ws_pmd_negotiate(value.ptr, value.len, o->deflate_max_window_bits,
                             o->deflate_context_takeover, &hs->pmd,
                             hs->pmd_response, sizeof(hs->pmd_response));
    if (r < 0) return -1;
    if (r > 0) return 0;
  }
  return 0;
}

int ws_handshake_check(ir_stream_t *s, const ir_ws_options *o, ws_handshake *hs,
                       const char **reason) {
  memset(hs, 0, sizeof(*hs));
  if (!str_eq(ir_req_upgrade(s), "websocket")) {
    *reason = "this resource speaks WebSocket only";
    return 426;
  }
  hs->h2 = str_eq(ir_req_protocol(s), "HTTP/2");
  ir_str method = ir_req_method(s);
  if (!str_eq(method, hs->h2 ? "CONNECT" : "GET")) {
    *reason = "a WebSocket handshake is a GET (HTTP/1.1) or a CONNECT (HTTP/2)";
    return 400;
  }
  ir_str version;
  if (ir_req_header(s, "sec-websocket-version", &version) != IR_OK || !str_eq(version, "13")) {
    *reason = "only WebSocket version 13 is supported";
    return 426;
  }
  if (!hs->h2) {
    if (ir_req_header(s, "sec-websocket-key", &hs->key) != IR_OK || !key_valid(hs->key)) {
      *reason = "Sec-WebSocket-Key must be 16 bytes in base64";
      return 400;
    }
  }
  if (!origin_allowed(s, o)) {
    *reason = "this Origin may not open WebSocket sessions here";
    return 403;
  }
  hs->subprotocol = choose_subprotocol(s, o);
  if (o->deflate && negotiate_deflate(s, o, hs) < 0) {
    *reason = "Sec-WebSocket-Extensions does not parse";
    return 400;
  }
  return 0;
}

int ws_handshake_accept(ir_stream_t *s, const ws_handshake *hs) {
  int rc = ir_resp_status(s, 101);
  if (rc == IR_OK && !hs->h2) {
    struct sha1_ctx sha;
    uint8_t digest[SHA1_DIGEST_SIZE];
    char accept[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) + 1];
    sha1_init(&sha);
    sha1_update(&sha, hs->key.len, (const uint8_t *)hs->key.ptr);
    sha1_update(&sha, strlen(WS_GUID), (const uint8_t *)WS_GUID);
    sha1_digest(&sha, sizeof(digest), digest);
    base64_encode_raw(accept, sizeof(digest), digest);
    accept[sizeof(accept) - 1] = 0;
    rc = ir_resp_header(s, "sec-websocket-accept", accept);
  }
  if (rc == IR_OK && hs->subprotocol.len)
    rc = ir_resp_header_n(s, "sec-websocket-protocol", 22, hs->subprotocol.ptr,
                          hs->subprotocol.len);
  if (rc == IR_OK && hs->pmd.enabled)
    rc = ir_resp_header(s, "sec-websocket-extensions", hs->pmd_response);
  if (rc == IR_OK) rc = ir_resp_send_head(s, 0);
  return rc;
}

int ws_handshake_refuse(ir_stream_t *s, int status, const char *reason) {
  char body[160];
  int n = snprintf(body, sizeof(body), "%s\n", reason);
  int rc = IR_OK;
  if (status == 426) {
    /* RFC 9110 15.5.22 names the protocol; RFC 6455 4.4 the version. An
     * HTTP/2 response carries no Upgrade field (RFC 9113 8.2.2). */
    if (!str_eq(ir_req_protocol(s), "HTTP/2")) rc = ir_resp_header(s, "upgrade", "websocket");
    if (rc == IR_OK) rc = ir_resp_header(s, "sec-websocket-version", "13");
  }
  if (rc != IR_OK) return rc;
  return ir_respond_simple(s, status, "text/plain; charset=utf-8", body, (size_t)n);
}
