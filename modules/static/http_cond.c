/* http_cond.c — the HTTP semantics of a file response that need no I/O:
 * ETag and HTTP-date formatting and parsing, entity-tag lists, the order
 * of preconditions (RFC 9110 §13.2.2), Range and If-Range (§14).
 *
 * Everything here is a pure function of its arguments, so that the unit
 * tests drive it directly. Dates are handled as seconds since the epoch,
 * converted with the proleptic Gregorian calendar (no time zone, no locale,
 * no libc state), which keeps the functions usable on any thread.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "static.h"

static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const long_day_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                              "Thursday", "Friday", "Saturday"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* ---- the calendar ---- */

/* Days since 1970-01-01 of a Gregorian date (month 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

#define LAST_FOUR_DIGIT_YEAR 253402300799LL /* 9999-12-31 23:59:59 */

size_t st_http_date_format(char *out, int64_t t) {
  if (t < 0) t = 0;
  if (t > LAST_FOUR_DIGIT_YEAR) t = LAST_FOUR_DIGIT_YEAR;
  int64_t days = t / 86400, secs = t % 86400, y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  int n = snprintf(out, ST_DATE_LEN + 1, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                   day_names[(days + 4) % 7], d, month_names[m - 1], (int)y, (int)(secs / 3600),
                   (int)(secs / 60 % 60), (int)(secs % 60));
  return (size_t)n;
}

/* splitmix64's finaliser: every input bit moves about half the output. */
static uint64_t mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

size_t st_etag_format(char *out, uint64_t size, uint64_t mtime_ns, uint64_t ino,
                      const char *suffix) {
  static const char digits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint64_t h = mix64(mix64(mix64(size) ^ mtime_ns) ^ ino);
  size_t n = 0;
  out[n++] = '"';
  for (int i = 0; i < 11; i++, h >>= 6) out[n++] = digits[h & 63];
  if (suffix) {
    out[n++] = '-';
    size_t sl = strlen(suffix);
    memcpy(out + n, suffix, sl);
    n += sl;
  }
  out[n++] = '"';
  out[n] = '\0';
  return n;
}

/* ---- parsing HTTP-dates ---- */

typedef struct cursor {
  const char *p, *end;
} cursor;

static int eat(cursor *c, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) return 0;
  c->p += n;
  return 1;
}

static int eat_digits(cursor *c, int n, int *v) {
  if (c->end - c->p < n) return 0;
  *v = 0;
  for (int i = 0; i < n; i++) {
    if (c->p[i] < '0' || c->p[i] > '9') return 0;
    *v = *v * 10 + (c->p[i] - '0');
  }
  c->p += n;
  return 1;
}

static int eat_month(cursor *c, int *m) {
  for (int i = 0; i < 12; i++)
    if (eat(c, month_names[i])) {
      *m = i + 1;
      return 1;
    }
  return 0;
}

static int eat_day_name(cursor *c, int long_form) {
  for (int i = 0; i < 7; i++)
    if (eat(c, long_form ? long_day_names[i] : day_names[i])) return 1;
  return 0;
}

/* "08:49:37" */
static int eat_time(cursor *c, int *h, int *mi, int *s) {
  return eat_digits(c, 2, h) && eat(c, ":") && eat_digits(c, 2, mi) && eat(c, ":") &&
         eat_digits(c, 2, s) && *h < 24 && *mi < 60 && *s <= 60;
}

static int finish(int64_t y, int m, int d, int h, int mi, int s, int64_t *t) {
  if (d < 1 || d > 31) return -1;
  *t = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + s;
  return 0;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static int parse_imf(cursor c, int64_t *t) {
  int d, m, y, h, mi, s;
  if (eat_day_name(&c, 0) && eat(&c, ", ") && eat_digits(&c, 2, &d) && eat(&c, " ") &&
      eat_month(&c, &m) && eat(&c, " ") && eat_digits(&c, 4, &y) && eat(&c, " ") &&
      eat_time(&c, &h, &mi, &s) && eat(&c, " GMT") && c.p == c.end)
    return finish(y, m, d, h, mi, s, t);
  return -1;
}

/* "Sunday, 06-Nov-94 08:49:37 GMT": a two-digit year is taken as 19xx
 * from 70 on and 20xx below, the most recent past year with those digits
 * for any date a client could mean (RFC 9110 §5.6.7). */
static int parse_rfc850(cursor c, int64_t *t) {
  int d, m, y, h, mi, s;
  if (eat_day_name(&c, 1) && eat(&c, ", ") && eat_digits(&c, 2, &d) && eat(&c, "-") &&
      eat_month(&c, &m) && eat(&c, "-") && eat_digits(&c, 2, &y) && eat(&c, " ") &&
      eat_time(&c, &h, &mi, &s) && eat(&c, " GMT") && c.p == c.end)
    return finish(y < 70 ? 2000 + y : 1900 + y, m, d, h, mi, s, t);
  return -1;
}

/* "Sun Nov  6 08:49:37 1994" */
static int parse_asctime(cursor c, int64_t *t) {
  int d, m, y, h, mi, s;
  if (!(eat_day_name(&c, 0) && eat(&c, " ") && eat_month(&c, &m) && eat(&c, " "))) return -1;
  if (eat(&c, " ")) {
    if (!eat_digits(&c, 1, &d)) return -1;
  } else if (!eat_digits(&c, 2, &d)) {
    return -1;
  }
  if (eat(&c, " ") && eat_time(&c, &h, &mi, &s) && eat(&c, " ") && eat_digits(&c, 4, &y) &&
      c.p == c.end)
    return finish(y, m, d, h, mi, s, t);
  return -1;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

static ir_str trim(ir_str v) {
  while (v.len && is_ows(v.ptr[0])) {
    v.ptr++;
    v.len--;
  }
  while (v.len && is_ows(v.ptr[v.len - 1])) v.len--;
  return v;
}

int st_http_date_parse(const char *s, size_t len, int64_t *t) {
  ir_str v = trim((ir_str){s, len});
  cursor c = {v.ptr, v.ptr + v.len};
  if (parse_imf(c, t) == 0 || parse_rfc850(c, t) == 0 || parse_asctime(c, t) == 0) return 0;
  return -1;
}

/* ---- entity tags ---- */

int st_etag_list_match(ir_str list, ir_str etag, int weak) {
  const char *p = list.ptr, *end = list.ptr + list.len;
  while (p < end) {
    while (p < end && (is_ows(*p) || *p == ',')) p++;
    if (p == end) break;
    if (*p == '*') return 1;
    int is_weak = 0;
    if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
      is_weak = 1;
      p += 2;
    }
    const char *tag = p;
    const char *close = p < end && *p == '"' ? memchr(p + 1, '"', (size_t)(end - p - 1)) : NULL;
    if (close) {
      size_t n = (size_t)(close + 1 - tag);
      if ((weak || !is_weak) && n == etag.len && memcmp(tag, etag.ptr, n) == 0) return 1;
      p = close + 1;
    }
    while (p < end && *p != ',') p++; /* the rest of a malformed member */
  }
  return 0;
}

/* ---- preconditions ---- */

int st_preconditions(const st_cond *c, ir_str etag, int64_t last_modified) {
  int64_t t;
  /* 1. If-Match; 2. If-Unmodified-Since only without If-Match. */
  if (c->if_match.ptr) {
    if (!st_etag_list_match(c->if_match, etag, 0)) return ST_PRE_FAILED;
  } else if (c->if_unmodified_since.ptr &&
             st_http_date_parse(c->if_unmodified_since.ptr, c->if_unmodified_since.len, &t) == 0) {
    if (last_modified > t) return ST_PRE_FAILED;
  }
  /* 3. If-None-Match; 4. If-Modified-Since only without If-None-Match, and
   * only for GET and HEAD. */
  if (c->if_none_match.ptr) {
    if (st_etag_list_match(c->if_none_match, etag, 1))
      return c->get_or_head ? ST_PRE_NOT_MODIFIED : ST_PRE_FAILED;
  } else if (c->get_or_head && c->if_modified_since.ptr &&
             st_http_date_parse(c->if_modified_since.ptr, c->if_modified_since.len, &t) == 0) {
    if (last_modified <= t) return ST_PRE_NOT_MODIFIED;
  }
  return ST_PRE_PASS;
}

/* ---- ranges ---- */

/* Decimal digits at *p, at most 18 of them (no overflow); -1 when none. */
static int64_t eat_number(const char **p, const char *end) {
  int64_t v = 0;
  int n = 0;
  while (*p < end && **p >= '0' && **p <= '9') {
    if (++n > 18) return -1;
    v = v * 10 + (**p - '0');
    (*p)++;
  }
  return n ? v : -1;
}

int st_range_parse(ir_str value, uint64_t size, uint64_t *first, uint64_t *last) {
  ir_str v = trim(value);
  if (v.len < 6 || strncasecmp(v.ptr, "bytes=", 6) != 0) return ST_RANGE_IGNORE;
  const char *p = v.ptr + 6, *end = v.ptr + v.len;
  int64_t a = -1, b = -1;
  int members = 0;
  while (p < end) {
    while (p < end && (is_ows(*p) || *p == ',')) p++;
    if (p == end) break;
    if (++members > 1) return ST_RANGE_IGNORE; /* several ranges: the whole file */
    if (*p != '-') {
      a = eat_number(&p, end);
      if (a < 0 || p == end || *p != '-') return ST_RANGE_IGNORE;
    }
    p++; /* '-' */
    if (p < end && *p >= '0' && *p <= '9') {
      b = eat_number(&p, end);
      if (b < 0) return ST_RANGE_IGNORE;
    } else if (a < 0) {
      return ST_RANGE_IGNORE; /* "-" alone */
    }
    while (p < end && is_ows(*p)) p++;
    if (p < end && *p != ',') return ST_RANGE_IGNORE;
  }
  if (members != 1) return ST_RANGE_IGNORE;
  if (a < 0) { /* a suffix: the last b bytes */
    if (b == 0) return ST_RANGE_UNSATISFIABLE;
    if (size == 0) return ST_RANGE_IGNORE; /* nothing to cut: the (empty) whole */
    *first = (uint64_t)b >= size ? 0 : size - (uint64_t)b;
    *last = size - 1;
    return ST_RANGE_PARTIAL;
  }
  if (b >= 0 && b < a) return ST_RANGE_IGNORE; /* invalid: last before first */
  if ((uint64_t)a >= size) return ST_RANGE_UNSATISFIABLE;
  *first = (uint64_t)a;
  *last = b < 0 || (uint64_t)b >= size ? size - 1 : (uint64_t)b;
  return ST_RANGE_PARTIAL;
}

int st_if_range_ok(ir_str value, ir_str etag, int64_t last_modified) {
  ir_str v = trim(value);
  if (v.len == 0) return 0;
  if (v.ptr[0] == '"') return v.len == etag.len && memcmp(v.ptr, etag.ptr, v.len) == 0;
  if (v.len >= 2 && v.ptr[0] == 'W' && v.ptr[1] == '/') return 0; /* weak: never */
  int64_t t;
  return st_http_date_parse(v.ptr, v.len, &t) == 0 && t == last_modified;
}
