/* test_http_rules.c — the shared HTTP rules (core/http_rules.c) on their
 * own: the request-target split in every form, Content-Length parsing at
 * its edges, the token table, field-value validation, and the small
 * helpers. Targets are copied into buffers of their exact size so that a
 * read past the end shows up under AddressSanitizer. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http_rules.h"

static ir_str S(const char *z) { return (ir_str){z, strlen(z)}; }

static int str_is(ir_str s, const char *z) {
  return z ? s.ptr && s.len == strlen(z) && memcmp(s.ptr, z, s.len) == 0 : s.ptr == NULL;
}

/* Splits target (copied to a malloc'd buffer of its exact length) for
 * method; checks the status and, when 0, each part (NULL: absent). */
static void split(const char *method, const char *target, int status, const char *path,
                  const char *query, const char *authority) {
  size_t len = strlen(target);
  char *exact = malloc(len ? len : 1);
  CHECK(exact);
  memcpy(exact, target, len);
  irh_target_parts p;
  int rc = irh_split_target(S(method), (ir_str){exact, len}, &p);
  if (rc != status) fprintf(stderr, "%s %s: %d, expected %d\n", method, target, rc, status);
  CHECK(rc == status);
  if (status == 0) {
    CHECK(str_is(p.path, path));
    CHECK(str_is(p.query, query));
    CHECK(str_is(p.authority, authority));
    /* Every part points into the target (or is the static "/"). */
    if (p.query.ptr) CHECK(p.query.ptr >= exact && p.query.ptr + p.query.len <= exact + len);
    if (p.authority.ptr) CHECK(p.authority.ptr > exact && p.authority.ptr < exact + len);
  }
  free(exact);
}

static void test_origin_form(void) {
  split("GET", "/", 0, "/", NULL, NULL);
  split("GET", "/a/b", 0, "/a/b", NULL, NULL);
  split("GET", "/a?x=1&y", 0, "/a", "x=1&y", NULL);
  split("GET", "/a?", 0, "/a", "", NULL);
  split("GET", "/a?b?c", 0, "/a", "b?c", NULL); /* the first '?' splits */
  split("POST", "/?q", 0, "/", "q", NULL);
  split("CONNECT", "/chat", 0, "/chat", NULL, NULL); /* extended CONNECT's :path */
}

static void test_absolute_form(void) {
  split("GET", "http://example.com/p?q", 0, "/p", "q", "example.com");
  split("GET", "https://example.com:8443/p", 0, "/p", NULL, "example.com:8443");
  split("GET", "HTTP://Example.com/p", 0, "/p", NULL, "Example.com"); /* scheme in any case */
  split("GET", "HtTpS://h/", 0, "/", NULL, "h");
  split("GET", "http://h", 0, "/", NULL, "h"); /* no path: "/" */
  split("GET", "https://h", 0, "/", NULL, "h");
  split("GET", "http://h?q=1", 0, "/", "q=1", "h");
  split("GET", "https://h?", 0, "/", "", "h");
  split("GET", "http://h/a?b", 0, "/a", "b", "h");
  /* an empty authority is no absolute-form target */
  split("GET", "http://", 400, NULL, NULL, NULL);
  split("GET", "https://", 400, NULL, NULL, NULL);
  split("GET", "http:///p", 400, NULL, NULL, NULL);
  split("GET", "https://?q", 400, NULL, NULL, NULL);
  /* Prefixes of a scheme are no absolute form; "https:/" is 7 bytes and
   * must not be compared as 8 (the old split read one byte past it). */
  split("GET", "https:/", 400, NULL, NULL, NULL);
  split("GET", "http:/", 400, NULL, NULL, NULL);
  split("GET", "http:/x", 400, NULL, NULL, NULL);
  split("GET", "ftp://h/p", 400, NULL, NULL, NULL);
}

static void test_asterisk_form(void) {
  split("OPTIONS", "*", 0, "*", NULL, NULL);
  split("GET", "*", 400, NULL, NULL, NULL);
  split("options", "*", 400, NULL, NULL, NULL); /* methods are case-sensitive */
  split("OPTIONS", "**", 400, NULL, NULL, NULL);
  split("OPTIONS", "*?", 400, NULL, NULL, NULL);
}

static void test_authority_form_and_others(void) {
  split("CONNECT", "example.com:443", 405, NULL, NULL, NULL); /* not a proxy */
  split("CONNECT", "", 405, NULL, NULL, NULL);
  split("connect", "example.com:443", 400, NULL, NULL, NULL);
  split("GET", "example.com:443", 400, NULL, NULL, NULL);
  split("GET", "", 400, NULL, NULL, NULL);
  split("GET", "a/b", 400, NULL, NULL, NULL);
  split("GET", "?q", 400, NULL, NULL, NULL);
}

static int cl(const char *v, int64_t *out) { return irh_parse_content_length(v, strlen(v), out); }

static void test_content_length(void) {
  int64_t n = -7;
  CHECK(cl("0", &n) && n == 0);
  CHECK(cl("5", &n) && n == 5);
  CHECK(cl("007", &n) && n == 7);                                   /* leading zeros are digits */
  CHECK(cl("999999999999999999", &n) && n == 999999999999999999ll); /* 18 digits */
  CHECK(cl("123456789012345678", &n) && n == 123456789012345678ll);
  n = -7;
  CHECK(!cl("1000000000000000000", &n) && n == -7); /* 19 digits: refused, *out untouched */
  CHECK(!cl("9223372036854775807", &n));            /* INT64_MAX: 19 digits */
  CHECK(!cl("99999999999999999999", &n));           /* would overflow */
  CHECK(!cl("", &n));
  CHECK(!cl("+5", &n));
  CHECK(!cl("-5", &n));
  CHECK(!cl("-0", &n));
  CHECK(!cl(" 5", &n));
  CHECK(!cl("5 ", &n));
  CHECK(!cl("5\t", &n));
  CHECK(!cl("5,5", &n)); /* a list is not one length */
  CHECK(!cl("5, 5", &n));
  CHECK(!cl("0x10", &n));
  CHECK(!cl("1e3", &n));
  CHECK(irh_parse_content_length("12", 1, &n) && n == 1);
  CHECK(!irh_parse_content_length("5\0", 2, &n)); /* a NUL is no digit */
  CHECK(n == 1);
}

static void test_token_table(void) {
  const char *tchar =
      "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (int ch = 0; ch < 256; ch++) {
    int expect = ch != 0 && strchr(tchar, ch) != NULL;
    CHECK(irh_is_token_char((unsigned char)ch) == expect);
    if (ch >= 'A' && ch <= 'Z')
      CHECK(irh_token_chars[ch] == IRH_TOKEN_UPPER);
    else
      CHECK(irh_token_chars[ch] == (expect ? IRH_TOKEN : 0));
  }
  /* the delimiters, space, controls and obs-text are no token */
  const char *not_tchar = "\"(),/:;<=>?@[\\]{} \t\r\n\x7f";
  for (const char *p = not_tchar; *p; p++) CHECK(!irh_is_token_char((unsigned char)*p));
  CHECK(!irh_is_token_char(0x80) && !irh_is_token_char(0xff));

  CHECK(irh_is_lower_token("content-type", 12));
  CHECK(irh_is_lower_token("x-a_b.c~1", 9));
  CHECK(!irh_is_lower_token("Content-Type", 12)); /* upper case */
  CHECK(!irh_is_lower_token("", 0));
  CHECK(!irh_is_lower_token("a b", 3));
  CHECK(!irh_is_lower_token("a:", 2));
}

static int value_ok(const char *v, size_t vl) { return irh_field_value_valid(v, vl); }

static void test_field_values(void) {
  CHECK(value_ok("", 0));
  CHECK(value_ok("text/html; charset=utf-8", 24));
  CHECK(value_ok("a\tb", 3));        /* HTAB is allowed */
  CHECK(value_ok("caf\xc3\xa9", 5)); /* obs-text */
  CHECK(value_ok("\x80\xff\xfe", 3));
  CHECK(value_ok("\x7f", 1)); /* DEL is not CR, LF or NUL */
  CHECK(!value_ok("a\rb", 3));
  CHECK(!value_ok("a\nb", 3));
  CHECK(!value_ok("a\0b", 3));
  CHECK(!value_ok("a\r\nX-Injected: 1", 16));
  /* every position of the word-at-a-time loop and its tail */
  char buf[40];
  const char bad[] = {'\r', '\n', '\0'};
  for (size_t len = 1; len <= sizeof buf; len++) {
    for (size_t at = 0; at < len; at++) {
      memset(buf, 'v', len);
      buf[at] = '\t';
      CHECK(value_ok(buf, len));
      buf[at] = (char)0x90;
      CHECK(value_ok(buf, len));
      for (size_t b = 0; b < sizeof bad; b++) {
        buf[at] = bad[b];
        CHECK(!value_ok(buf, len));
      }
    }
  }
  /* Only vl bytes are looked at. */
  CHECK(value_ok("ab\r\n", 2));
}

static void test_names_and_hop_by_hop(void) {
  CHECK(irh_name_is("Content-Length", 14, "content-length"));
  CHECK(!irh_name_is("content-lengths", 15, "content-length"));
  CHECK(!irh_name_is("content-lengt", 13, "content-length"));
  const char *hop[] = {"connection", "Keep-Alive", "PROXY-CONNECTION", "Transfer-Encoding"};
  for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
    CHECK(irh_is_hop_by_hop(hop[i], strlen(hop[i])));
  const char *not_hop[] = {
      "upgrade",      "te", "content-length", "connectionx", "keep-alivee", "transfer-encodin",
      "x-connection", ""};
  for (size_t i = 0; i < sizeof not_hop / sizeof not_hop[0]; i++)
    CHECK(!irh_is_hop_by_hop(not_hop[i], strlen(not_hop[i])));
}

static void test_status_and_methods(void) {
  CHECK(strcmp(irh_status_reason(200), "OK") == 0);
  CHECK(strcmp(irh_status_reason(404), "Not Found") == 0);
  CHECK(strcmp(irh_status_reason(413), "Content Too Large") == 0); /* RFC 9110's name */
  CHECK(strcmp(irh_status_reason(431), "Request Header Fields Too Large") == 0);
  CHECK(strcmp(irh_status_reason(299), "Unknown") == 0);
  CHECK(strcmp(irh_status_reason(-1), "Unknown") == 0);
  for (int st = 100; st < 200; st++) CHECK(irh_status_has_no_body(st));
  CHECK(irh_status_has_no_body(204) && irh_status_has_no_body(304));
  CHECK(!irh_status_has_no_body(200) && !irh_status_has_no_body(205));
  CHECK(!irh_status_has_no_body(404) && !irh_status_has_no_body(500));

  CHECK(irh_method_is(S("GET"), "GET"));
  CHECK(!irh_method_is(S("get"), "GET")); /* RFC 9110 9.1: case-sensitive */
  CHECK(!irh_method_is(S("GETX"), "GET"));
  CHECK(!irh_method_is(S("GE"), "GET"));
  CHECK(!irh_method_is((ir_str){"GET", 2}, "GET"));
  CHECK(!irh_method_is((ir_str){"", 0}, "GET"));
}

static void fmt(uint64_t n, const char *expect) {
  char out[24];
  memset(out, '#', sizeof out);
  size_t len = irh_format_u64(out, n);
  CHECK(len == strlen(expect) && memcmp(out, expect, len) == 0);
  CHECK(out[len] == '#'); /* no NUL, nothing past the digits */
}

static void test_format_u64(void) {
  fmt(0, "0");
  fmt(9, "9");
  fmt(10, "10");
  fmt(1234567890, "1234567890");
  fmt(UINT64_MAX, "18446744073709551615"); /* 20 digits */
}

int main(void) {
  test_origin_form();
  test_absolute_form();
  test_asterisk_form();
  test_authority_form_and_others();
  test_content_length();
  test_token_table();
  test_field_values();
  test_names_and_hop_by_hop();
  test_status_and_methods();
  test_format_u64();
  return 0;
}
