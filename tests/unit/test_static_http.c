/* test_static_http.c — unit tests for modules/static/http_cond.c and
 * encoding.c: HTTP-dates in all three forms, ETags, entity-tag lists, the
 * RFC 9110 §13.2.2 order of preconditions, Range and If-Range, and the
 * choice of a precompressed variant from Accept-Encoding. */
#include <string.h>

#include "check.h"
#include "static.h"

#define S(lit) ((ir_str){(lit), sizeof(lit) - 1})
#define NONE ((ir_str){NULL, 0})

static const int64_t T1994 = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

static void test_dates(void) {
  char buf[ST_DATE_LEN + 1];
  CHECK(st_http_date_format(buf, T1994) == ST_DATE_LEN);
  CHECK(strcmp(buf, "Sun, 06 Nov 1994 08:49:37 GMT") == 0);
  st_http_date_format(buf, 0);
  CHECK(strcmp(buf, "Thu, 01 Jan 1970 00:00:00 GMT") == 0);
  st_http_date_format(buf, 951782400); /* a leap day */
  CHECK(strcmp(buf, "Tue, 29 Feb 2000 00:00:00 GMT") == 0);
  st_http_date_format(buf, 1735689599);
  CHECK(strcmp(buf, "Tue, 31 Dec 2024 23:59:59 GMT") == 0);
  st_http_date_format(buf, -5); /* before the epoch: clamped */
  CHECK(strcmp(buf, "Thu, 01 Jan 1970 00:00:00 GMT") == 0);
  st_http_date_format(buf, INT64_MAX / 2); /* past year 9999: clamped */
  CHECK(strcmp(buf, "Fri, 31 Dec 9999 23:59:59 GMT") == 0);

  int64_t t;
  const char *imf = "Sun, 06 Nov 1994 08:49:37 GMT";
  CHECK(st_http_date_parse(imf, strlen(imf), &t) == 0 && t == T1994);
  const char *rfc850 = "Sunday, 06-Nov-94 08:49:37 GMT";
  CHECK(st_http_date_parse(rfc850, strlen(rfc850), &t) == 0 && t == T1994);
  const char *asc = "Sun Nov  6 08:49:37 1994";
  CHECK(st_http_date_parse(asc, strlen(asc), &t) == 0 && t == T1994);
  const char *asc2 = "Thu Dec 31 23:59:59 2020";
  CHECK(st_http_date_parse(asc2, strlen(asc2), &t) == 0 && t == 1609459199);
  const char *rfc850_20xx = "Friday, 01-Jan-21 00:00:00 GMT";
  CHECK(st_http_date_parse(rfc850_20xx, strlen(rfc850_20xx), &t) == 0 && t == 1609459200);
  const char *padded = "  Sun, 06 Nov 1994 08:49:37 GMT ";
  CHECK(st_http_date_parse(padded, strlen(padded), &t) == 0 && t == T1994);

  static const char *const bad[] = {
      "",
      "yesterday",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 06 Nov 1994 08:49:37",
      "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun, 06 Foo 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 08:60:00 GMT",
      "Sun, 00 Nov 1994 08:49:37 GMT",
      "Sun, 32 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMTx",
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "784111777",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(st_http_date_parse(bad[i], strlen(bad[i]), &t) != 0);
}

static void test_etags(void) {
  char tag[ST_ETAG_MAX];
  size_t n = st_etag_format(tag, 0x1234, 0x17a0b0c0d0e0f001ull, 0x42, NULL);
  CHECK(n == 13 && tag[0] == '"' && tag[12] == '"' && strlen(tag) == n);
  CHECK(strspn(tag + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 11);
  char again[ST_ETAG_MAX];
  CHECK(st_etag_format(again, 0x1234, 0x17a0b0c0d0e0f001ull, 0x42, NULL) == n &&
        strcmp(again, tag) == 0); /* the same file, the same tag */
  /* Any one of size, mtime (down to the nanosecond) and inode changes it. */
  const uint64_t other[3][3] = {{0x1235, 0x17a0b0c0d0e0f001ull, 0x42},
                                {0x1234, 0x17a0b0c0d0e0f002ull, 0x42},
                                {0x1234, 0x17a0b0c0d0e0f001ull, 0x43}};
  for (int i = 0; i < 3; i++) {
    st_etag_format(again, other[i][0], other[i][1], other[i][2], NULL);
    CHECK(strcmp(again, tag) != 0);
  }
  n = st_etag_format(tag, UINT64_MAX, UINT64_MAX, UINT64_MAX, "zst");
  CHECK(n == 17 && n < ST_ETAG_MAX && tag[n - 1] == '"' && strstr(tag, "-zst\"") != NULL);

  ir_str e = S("\"abc\"");
  CHECK(st_etag_list_match(S("\"abc\""), e, 0));
  CHECK(st_etag_list_match(S("*"), e, 0));
  CHECK(st_etag_list_match(S("  *  "), e, 1));
  CHECK(st_etag_list_match(S("\"x\", \"abc\""), e, 0));
  CHECK(st_etag_list_match(S("\"x\",\"abc\" , \"y\""), e, 0));
  CHECK(!st_etag_list_match(S("\"x\", \"y\""), e, 1));
  CHECK(!st_etag_list_match(S("W/\"abc\""), e, 0)); /* strong: a weak tag never matches */
  CHECK(st_etag_list_match(S("W/\"abc\""), e, 1));  /* weak: W/ ignored */
  CHECK(!st_etag_list_match(S("abc"), e, 1));       /* unquoted: malformed */
  CHECK(!st_etag_list_match(S("\"abc"), e, 1));
  CHECK(st_etag_list_match(S("garbage, \"abc\""), e, 1));
  CHECK(!st_etag_list_match(S("\"ab\""), e, 1));
  CHECK(!st_etag_list_match(S(""), e, 1));
}

static int pre(st_cond c, ir_str etag, int64_t lm) { return st_preconditions(&c, etag, lm); }

static void test_preconditions(void) {
  ir_str e = S("\"v1\"");
  const int64_t lm = T1994;
  st_cond c = {NONE, NONE, NONE, NONE, 1};
  CHECK(pre(c, e, lm) == ST_PRE_PASS);

  /* If-Match: strong comparison */
  c.if_match = S("\"v1\"");
  CHECK(pre(c, e, lm) == ST_PRE_PASS);
  c.if_match = S("*");
  CHECK(pre(c, e, lm) == ST_PRE_PASS);
  c.if_match = S("W/\"v1\"");
  CHECK(pre(c, e, lm) == ST_PRE_FAILED);
  c.if_match = S("\"v0\"");
  CHECK(pre(c, e, lm) == ST_PRE_FAILED);
  /* If-Match wins over If-Unmodified-Since (which is not evaluated) */
  c.if_match = S("\"v1\"");
  c.if_unmodified_since = S("Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(pre(c, e, lm) == ST_PRE_PASS);
  c.if_match = NONE;
  CHECK(pre(c, e, lm) == ST_PRE_FAILED); /* modified since */
  c.if_unmodified_since = S("Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(pre(c, e, lm) == ST_PRE_PASS); /* equal: not modified */
  c.if_unmodified_since = S("not a date");
  CHECK(pre(c, e, lm) == ST_PRE_PASS); /* ignored */
  c.if_unmodified_since = NONE;

  /* If-None-Match: weak comparison */
  c.if_none_match = S("\"v1\"");
  CHECK(pre(c, e, lm) == ST_PRE_NOT_MODIFIED);
  c.if_none_match = S("W/\"v1\"");
  CHECK(pre(c, e, lm) == ST_PRE_NOT_MODIFIED);
  c.if_none_match = S("\"a\", \"v1\"");
  CHECK(pre(c, e, lm) == ST_PRE_NOT_MODIFIED);
  c.if_none_match = S("*");
  CHECK(pre(c, e, lm) == ST_PRE_NOT_MODIFIED);
  c.get_or_head = 0;
  CHECK(pre(c, e, lm) == ST_PRE_FAILED); /* other methods: 412 */
  c.get_or_head = 1;
  /* If-None-Match that does not match: If-Modified-Since is not evaluated */
  c.if_none_match = S("\"v0\"");
  c.if_modified_since = S("Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(pre(c, e, lm) == ST_PRE_PASS);
  c.if_none_match = NONE;
  CHECK(pre(c, e, lm) == ST_PRE_NOT_MODIFIED);
  c.if_modified_since = S("Sun, 06 Nov 1994 08:49:36 GMT");
  CHECK(pre(c, e, lm) == ST_PRE_PASS);
  c.if_modified_since = S("Sunday, 06-Nov-94 08:49:38 GMT");
  CHECK(pre(c, e, lm) == ST_PRE_NOT_MODIFIED);
  c.if_modified_since = S("garbage");
  CHECK(pre(c, e, lm) == ST_PRE_PASS);
  c.if_modified_since = S("Sun, 06 Nov 1994 08:49:37 GMT");
  c.get_or_head = 0;
  CHECK(pre(c, e, lm) == ST_PRE_PASS); /* only GET and HEAD */
  c.get_or_head = 1;

  /* If-Match fails before If-None-Match is looked at */
  c.if_match = S("\"other\"");
  c.if_none_match = S("\"v1\"");
  CHECK(pre(c, e, lm) == ST_PRE_FAILED);
  c.if_match = S("\"v1\"");
  CHECK(pre(c, e, lm) == ST_PRE_NOT_MODIFIED);
}

static int range(const char *v, uint64_t size, uint64_t *a, uint64_t *b) {
  return st_range_parse((ir_str){v, strlen(v)}, size, a, b);
}

static void test_ranges(void) {
  uint64_t a = 99, b = 99;
  CHECK(range("bytes=0-0", 100, &a, &b) == ST_RANGE_PARTIAL && a == 0 && b == 0);
  CHECK(range("bytes=0-99", 100, &a, &b) == ST_RANGE_PARTIAL && a == 0 && b == 99);
  CHECK(range("bytes=10-19", 100, &a, &b) == ST_RANGE_PARTIAL && a == 10 && b == 19);
  CHECK(range("bytes=10-1000", 100, &a, &b) == ST_RANGE_PARTIAL && a == 10 && b == 99);
  CHECK(range("bytes=90-", 100, &a, &b) == ST_RANGE_PARTIAL && a == 90 && b == 99);
  CHECK(range("bytes=-10", 100, &a, &b) == ST_RANGE_PARTIAL && a == 90 && b == 99);
  CHECK(range("bytes=-1000", 100, &a, &b) == ST_RANGE_PARTIAL && a == 0 && b == 99);
  CHECK(range("BYTES=1-2", 100, &a, &b) == ST_RANGE_PARTIAL && a == 1 && b == 2);
  CHECK(range(" bytes=1-2 ", 100, &a, &b) == ST_RANGE_PARTIAL && a == 1 && b == 2);
  CHECK(range("bytes= 1-2 ,", 100, &a, &b) == ST_RANGE_PARTIAL && a == 1 && b == 2);
  CHECK(range("bytes=99-99", 100, &a, &b) == ST_RANGE_PARTIAL && a == 99 && b == 99);

  CHECK(range("bytes=100-", 100, &a, &b) == ST_RANGE_UNSATISFIABLE);
  CHECK(range("bytes=100-200", 100, &a, &b) == ST_RANGE_UNSATISFIABLE);
  CHECK(range("bytes=-0", 100, &a, &b) == ST_RANGE_UNSATISFIABLE);
  CHECK(range("bytes=0-", 0, &a, &b) == ST_RANGE_UNSATISFIABLE);
  CHECK(range("bytes=-5", 0, &a, &b) == ST_RANGE_IGNORE); /* empty file: the whole */

  /* several ranges: the whole file (a documented choice) */
  CHECK(range("bytes=0-1,5-6", 100, &a, &b) == ST_RANGE_IGNORE);
  CHECK(range("bytes=0-1, -5", 100, &a, &b) == ST_RANGE_IGNORE);
  CHECK(range("bytes=200-300,400-500", 100, &a, &b) == ST_RANGE_IGNORE);
  /* syntactically invalid: ignored */
  static const char *const bad[] = {
      "",           "bytes",       "bytes=",      "bytes=-",   "bytes=a-b",
      "bytes=5-4",  "bytes=1-2-3", "items=0-1",   "bytes 0-1", "bytes=0x1-2",
      "bytes=1 2",  "bytes=--1",   "bytes=1-2;x", "bytes=,",   "bytes=99999999999999999999-",
      "bytes=+1-2", "bytes=-+1",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(range(bad[i], 100, &a, &b) == ST_RANGE_IGNORE);

  ir_str e = S("\"v1\"");
  CHECK(st_if_range_ok(S("\"v1\""), e, T1994));
  CHECK(!st_if_range_ok(S("\"v2\""), e, T1994));
  CHECK(!st_if_range_ok(S("W/\"v1\""), e, T1994)); /* weak: never */
  CHECK(st_if_range_ok(S("Sun, 06 Nov 1994 08:49:37 GMT"), e, T1994));
  CHECK(!st_if_range_ok(S("Sun, 06 Nov 1994 08:49:38 GMT"), e, T1994)); /* only equal */
  CHECK(!st_if_range_ok(S("Sun, 06 Nov 1994 08:49:36 GMT"), e, T1994));
  CHECK(!st_if_range_ok(S("junk"), e, T1994));
  CHECK(!st_if_range_ok(S(""), e, T1994));
}

#define BR (1u << ST_REP_BR)
#define ZSTD (1u << ST_REP_ZSTD)
#define GZIP (1u << ST_REP_GZIP)
#define ALL (BR | ZSTD | GZIP | 1u)

static void test_encoding(void) {
  CHECK(st_accept_encoding(S("")) == 0);
  CHECK(st_accept_encoding(S("gzip")) == GZIP);
  CHECK(st_accept_encoding(S("gzip, deflate, br, zstd")) == (BR | ZSTD | GZIP));
  CHECK(st_accept_encoding(S("GZIP;q=0.5, Br;Q=1")) == (BR | GZIP));
  CHECK(st_accept_encoding(S("x-gzip")) == GZIP);
  CHECK(st_accept_encoding(S("br;q=0, gzip")) == GZIP);
  CHECK(st_accept_encoding(S("br;q=0.000, gzip;q=0.001")) == GZIP);
  CHECK(st_accept_encoding(S("br ; q=0.0")) == 0);
  CHECK(st_accept_encoding(S("*")) == (BR | ZSTD | GZIP));
  CHECK(st_accept_encoding(S("*;q=0")) == 0);
  CHECK(st_accept_encoding(S("*, br;q=0")) == (ZSTD | GZIP));
  CHECK(st_accept_encoding(S("gzip;q=0, *;q=0.5")) == (BR | ZSTD));
  CHECK(st_accept_encoding(S("identity")) == 0);
  CHECK(st_accept_encoding(S("br;q=2")) == 0); /* malformed q: says nothing */
  CHECK(st_accept_encoding(S("br;q=abc")) == 0);
  CHECK(st_accept_encoding(S("br;q=0.1234")) == 0);
  CHECK(st_accept_encoding(S("br;q=1.000, gzip")) == (BR | GZIP));
  CHECK(st_accept_encoding(S("brotli, gzipx")) == 0);
  CHECK(st_accept_encoding(S(",,, gzip ,")) == GZIP);

  /* preference br, zstd, gzip among what exists and is accepted */
  CHECK(st_choose_rep(BR | ZSTD | GZIP, ALL) == ST_REP_BR);
  CHECK(st_choose_rep(ZSTD | GZIP, ALL) == ST_REP_ZSTD);
  CHECK(st_choose_rep(BR | ZSTD | GZIP, 1u | GZIP) == ST_REP_GZIP);
  CHECK(st_choose_rep(BR, 1u | GZIP) == ST_REP_IDENTITY);
  CHECK(st_choose_rep(0, ALL) == ST_REP_IDENTITY);
  CHECK(strcmp(st_rep_coding(ST_REP_ZSTD), "zstd") == 0);
  CHECK(strcmp(st_rep_file_suffix(ST_REP_ZSTD), ".zst") == 0);
  CHECK(st_rep_coding(ST_REP_IDENTITY) == NULL);
}

int main(void) {
  test_dates();
  test_etags();
  test_preconditions();
  test_ranges();
  test_encoding();
  puts("test_static_http: all passed");
  return 0;
}
