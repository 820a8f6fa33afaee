/* http_rules.c — the shared HTTP rules; see http_rules.h.
 *
 * Tables and pure functions only: nothing here knows a stream, a
 * connection or a protocol, so every rule can be tested on its own.
 */
#include "http_rules.h"

/* RFC 9110 tchar: visible ASCII but the delimiters "(),/:;<=>?@[\]{}. */
const unsigned char irh_token_chars[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 2, ['B'] = 2, ['C'] = 2, ['D'] = 2, ['E'] = 2,  ['F'] = 2, ['G'] = 2,
    ['H'] = 2, ['I'] = 2, ['J'] = 2, ['K'] = 2, ['L'] = 2, ['M'] = 2,  ['N'] = 2, ['O'] = 2,
    ['P'] = 2, ['Q'] = 2, ['R'] = 2, ['S'] = 2, ['T'] = 2, ['U'] = 2,  ['V'] = 2, ['W'] = 2,
    ['X'] = 2, ['Y'] = 2, ['Z'] = 2, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

int irh_is_lower_token(const char *n, size_t nl) {
  if (nl == 0) return 0;
  for (size_t i = 0; i < nl; i++)
    if (irh_token_chars[(unsigned char)n[i]] != IRH_TOKEN) return 0;
  return 1;
}

static int valid_value_byte(unsigned char ch) {
  return ch >= 0x20 || (ch != '\r' && ch != '\n' && ch != 0);
}

/* Eight bytes at a time: only a word with a byte below 0x20 in it (rare: a
 * tab) is looked at byte by byte. */
int irh_field_value_valid(const char *v, size_t vl) {
  size_t i = 0;
  for (; i + 8 <= vl; i += 8) {
    uint64_t x;
    memcpy(&x, v + i, 8);
    if (((x - 0x2020202020202020ull) & ~x & 0x8080808080808080ull) == 0) continue;
    for (size_t k = i; k < i + 8; k++)
      if (!valid_value_byte((unsigned char)v[k])) return 0;
  }
  for (; i < vl; i++)
    if (!valid_value_byte((unsigned char)v[i])) return 0;
  return 1;
}

int irh_is_hop_by_hop(const char *n, size_t nl) {
  switch (nl) { /* by length first: most fields are none of these */
  case 10: return irh_name_is(n, nl, "connection") || irh_name_is(n, nl, "keep-alive");
  case 16: return irh_name_is(n, nl, "proxy-connection");
  case 17: return irh_name_is(n, nl, "transfer-encoding");
  default: return 0;
  }
}

int irh_parse_content_length(const char *v, size_t vl, int64_t *out) {
  if (vl == 0 || vl > 18) return 0;
  int64_t n = 0;
  for (size_t i = 0; i < vl; i++) {
    if (v[i] < '0' || v[i] > '9') return 0;
    n = n * 10 + (v[i] - '0');
  }
  *out = n;
  return 1;
}

size_t irh_format_u64(char *out, uint64_t n) {
  char tmp[20];
  size_t len = 0;
  do {
    tmp[len++] = (char)('0' + n % 10);
    n /= 10;
  } while (n);
  for (size_t i = 0; i < len; i++) out[i] = tmp[len - 1 - i];
  return len;
}

int irh_status_has_no_body(int status) { return status < 200 || status == 204 || status == 304; }

int irh_method_is(ir_str method, const char *m) {
  return method.len == strlen(m) && memcmp(method.ptr, m, method.len) == 0;
}

/* "http://" or "https://" in any case at the start of t: the length of the
 * prefix, or 0. Each length is checked before its bytes are read: the
 * target is not NUL-terminated. */
static size_t absolute_prefix(const char *t, size_t len) {
  if (len >= 7 && strncasecmp(t, "http://", 7) == 0) return 7;
  if (len >= 8 && strncasecmp(t, "https://", 8) == 0) return 8;
  return 0;
}

/* Origin-form from t on: path up to the first '?', query after it. */
static void split_path_query(const char *t, size_t len, irh_target_parts *out) {
  const char *q = memchr(t, '?', len);
  if (q) {
    out->path = (ir_str){t, (size_t)(q - t)};
    out->query = (ir_str){q + 1, len - (size_t)(q - t) - 1};
  } else {
    out->path = (ir_str){t, len};
  }
}

int irh_split_target(ir_str method, ir_str target, irh_target_parts *out) {
  const char *t = target.ptr;
  size_t len = target.len;
  *out = (irh_target_parts){{NULL, 0}, {NULL, 0}, {NULL, 0}};
  size_t skip = absolute_prefix(t, len);
  if (skip) {
    const char *auth = t + skip, *end = t + len, *stop = auth;
    while (stop < end && *stop != '/' && *stop != '?') stop++;
    out->authority = (ir_str){auth, (size_t)(stop - auth)};
    if (out->authority.len == 0) return 400;
    if (stop == end || *stop == '?') { /* no path: the origin's "/" */
      out->path = (ir_str){"/", 1};
      if (stop < end) out->query = (ir_str){stop + 1, (size_t)(end - stop - 1)};
      return 0;
    }
    split_path_query(stop, (size_t)(end - stop), out);
    return 0;
  }
  if (len == 1 && t[0] == '*') {
    out->path = (ir_str){t, 1};
    return irh_method_is(method, "OPTIONS") ? 0 : 400;
  }
  if (len == 0 || t[0] != '/') return irh_method_is(method, "CONNECT") ? 405 : 400;
  split_path_query(t, len, out);
  return 0;
}

const char *irh_status_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 411: return "Length Required";
  case 412: return "Precondition Failed";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 416: return "Range Not Satisfiable";
  case 417: return "Expectation Failed";
  case 421: return "Misdirected Request";
  case 426: return "Upgrade Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}
