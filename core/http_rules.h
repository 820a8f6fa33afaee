/* http_rules.h — the HTTP rules every protocol shares, as pure functions.
 *
 * What RFC 9110 and 9112 say about tokens, field values, Content-Length,
 * status codes and request targets, in one place, with no stream, no
 * connection and no allocation: h1.c, h2.c and stream.c call these, and
 * tests/unit/test_http_rules.c checks them alone. Any thread.
 */
#ifndef IRIDIUM_CORE_HTTP_RULES_H
#define IRIDIUM_CORE_HTTP_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <iridium/abi.h>

/* irh_token_chars[ch]: 0 when ch is no RFC 9110 tchar, IRH_TOKEN_UPPER for
 * 'A'..'Z' (lower-cased in field names), IRH_TOKEN for the rest. A table
 * rather than a call because field names are checked and lower-cased one
 * byte at a time on every request. */
enum { IRH_TOKEN = 1, IRH_TOKEN_UPPER = 2 };
extern const unsigned char irh_token_chars[256];

/* Whether ch may appear in a field name or method (an RFC 9110 token). */
static inline int irh_is_token_char(unsigned char ch) { return irh_token_chars[ch] != 0; }
/* Whether n is a non-empty token in lower case (a response field name the
 * module promises to keep alive, which is not copied and so not folded). */
int irh_is_lower_token(const char *n, size_t nl);

/* Whether v may be a field value: no CR, LF or NUL (RFC 9110 5.5). Tab and
 * obs-text (0x80-0xff) are allowed. */
int irh_field_value_valid(const char *v, size_t vl);

/* Whether a field name is connection-level (Connection, Keep-Alive,
 * Proxy-Connection, Transfer-Encoding; any case): the host frames the body
 * itself, so a module may not send these. Upgrade is not among them: a
 * module may send it (a 426 must), and the protocol adds the matching
 * connection option or drops it on HTTP/2. */
int irh_is_hop_by_hop(const char *n, size_t nl);

/* Whether n (nl bytes, any case) is the lower-case name lower. Inline so
 * that strlen of a literal is folded at the call. */
static inline int irh_name_is(const char *n, size_t nl, const char *lower) {
  return nl == strlen(lower) && strncasecmp(n, lower, nl) == 0;
}

/* Parses a Content-Length value: digits only (no sign, no space, no list),
 * 1 to 18 of them, so the result always fits an int64_t. Returns 1 and sets
 * *out, or 0 (and leaves *out alone). */
int irh_parse_content_length(const char *v, size_t vl, int64_t *out);

/* Writes n in decimal (no NUL); returns the length (at most 20). */
size_t irh_format_u64(char *out, uint64_t n);

/* The reason phrase for a status ("Not Found"), or "Unknown". */
const char *irh_status_reason(int status);
/* Whether a response with this status never has a body (1xx, 204, 304). */
int irh_status_has_no_body(int status);

/* Whether method is exactly m ("GET"; methods are case-sensitive, RFC 9110
 * 9.1, so "get" is not GET). */
int irh_method_is(ir_str method, const char *m);

/* The parts of a request target. Each points into the target given to
 * irh_split_target (borrowed: valid as long as it is), or at a static "/".
 * A part the target does not have is {NULL, 0}. */
typedef struct irh_target_parts {
  ir_str path;
  ir_str query;     /* after the first '?', without it */
  ir_str authority; /* absolute-form only ("http://host/p" gives "host") */
} irh_target_parts;

/* Splits a request target (RFC 9112 3.2) for method:
 * - origin-form "/p?q": path "/p", query "q";
 * - absolute-form "http://a/p?q" or "https://..." (scheme in any case):
 *   authority "a" (400 when empty), path "/p" ("/" when none), query "q";
 * - asterisk-form "*": path "*", only for OPTIONS (else 400);
 * - authority-form ("host:443", CONNECT's): 405, Iridium is not a proxy;
 *   any other target (empty, "p", "host:443" with another method): 400.
 * Returns 0 and fills *out, or the status to answer (then *out is partly
 * filled and means nothing). */
int irh_split_target(ir_str method, ir_str target, irh_target_parts *out);

#endif /* IRIDIUM_CORE_HTTP_RULES_H */
