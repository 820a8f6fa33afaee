/* test_static_path.c — unit tests for modules/static/path.c: decoding the
 * request path exactly once, normalising it, refusing the hostile forms
 * (malformed escapes, NUL, backslash, encoded slash, ".." above the root),
 * the directory hint, URL encoding and log escaping. */
#include <string.h>

#include "check.h"
#include "static.h"

static char out[512];
static size_t out_len;
static int dir_hint;

static int norm(const char *raw) {
  return st_path_normalise(raw, strlen(raw), out, &out_len, &dir_hint);
}

/* raw normalises to want (with the given directory hint). */
static int gives(const char *raw, const char *want, int hint) {
  return norm(raw) == ST_PATH_OK && out_len == strlen(want) && strcmp(out, want) == 0 &&
         dir_hint == hint;
}

static void test_normalise(void) {
  CHECK(gives("", "", 0)); /* the root without its slash: redirected */
  CHECK(gives("/", "", 1));
  CHECK(gives("/a", "a", 0));
  CHECK(gives("/a/", "a", 1));
  CHECK(gives("/a/b/c.txt", "a/b/c.txt", 0));
  CHECK(gives("//a///b//", "a/b", 1));
  CHECK(gives("/./a/./b/.", "a/b", 1));
  CHECK(gives("/a/../b", "b", 0));
  CHECK(gives("/a/b/..", "a", 1));
  CHECK(gives("/a/b/../../c", "c", 0));
  CHECK(gives("/a/..", "", 1));
  CHECK(gives("/a/b/../..", "", 1));
  CHECK(gives("/.hidden", ".hidden", 0));
  CHECK(gives("/...", "...", 0)); /* not a dot segment */
  CHECK(gives("/..a/b..", "..a/b..", 0));
  CHECK(gives("/a%20b", "a b", 0));
  CHECK(gives("/%41%62c", "Abc", 0));
  CHECK(gives("/%e2%82%ac", "\xe2\x82\xac", 0));
  CHECK(gives("/%2e%2e/x", "", 0) == 0); /* decoded ".." above the root: refused */
  CHECK(gives("/a/%2e%2e/b", "b", 0));
  CHECK(gives("/a/%2E", "a", 1));
  CHECK(gives("/100%25", "100%", 0));
  CHECK(gives("/%2525", "%25", 0)); /* decoded once only */
  CHECK(gives("/a+b", "a+b", 0));
}

static void test_refused(void) {
  CHECK(norm("a") == ST_PATH_NOT_ABSOLUTE);
  CHECK(norm("*") == ST_PATH_NOT_ABSOLUTE);
  CHECK(norm("/..") == ST_PATH_ABOVE_ROOT);
  CHECK(norm("/../") == ST_PATH_ABOVE_ROOT);
  CHECK(norm("/../etc/passwd") == ST_PATH_ABOVE_ROOT);
  CHECK(norm("/a/../../etc/passwd") == ST_PATH_ABOVE_ROOT);
  CHECK(norm("/%2e%2e/etc/passwd") == ST_PATH_ABOVE_ROOT);
  CHECK(norm("/.%2e/etc/passwd") == ST_PATH_ABOVE_ROOT);
  CHECK(norm("/a/%2e%2e/%2e%2e/x") == ST_PATH_ABOVE_ROOT);
  CHECK(norm("/%2f") == ST_PATH_ENCODED_SLASH);
  CHECK(norm("/%2F") == ST_PATH_ENCODED_SLASH);
  CHECK(norm("/..%2f..%2fetc/passwd") == ST_PATH_ENCODED_SLASH);
  CHECK(norm("/a%2fb") == ST_PATH_ENCODED_SLASH);
  CHECK(norm("/%00") == ST_PATH_NUL);
  CHECK(norm("/a%00.html") == ST_PATH_NUL);
  CHECK(norm("/a\\b") == ST_PATH_BACKSLASH);
  CHECK(norm("/..\\..\\x") == ST_PATH_BACKSLASH);
  CHECK(norm("/%5c") == ST_PATH_BACKSLASH);
  CHECK(norm("/%5C..%5C") == ST_PATH_BACKSLASH);
  CHECK(norm("/%") == ST_PATH_BAD_ESCAPE);
  CHECK(norm("/%4") == ST_PATH_BAD_ESCAPE);
  CHECK(norm("/%zz") == ST_PATH_BAD_ESCAPE);
  CHECK(norm("/%g1") == ST_PATH_BAD_ESCAPE);
  CHECK(norm("/a%") == ST_PATH_BAD_ESCAPE);
  CHECK(norm("/%%32%65") == ST_PATH_BAD_ESCAPE);
  CHECK(norm("/%c0%ae%c0%ae/x") == ST_PATH_OK); /* overlong UTF-8 is just bytes, not ".." */
  CHECK(strcmp(out, "\xc0\xae\xc0\xae/x") == 0);
  /* a NUL byte in the raw path (not escaped) is refused too */
  CHECK(st_path_normalise("/a\0b", 4, out, &out_len, &dir_hint) == ST_PATH_NUL);
  CHECK(strcmp(st_path_strerror(ST_PATH_ENCODED_SLASH), "encoded slash (%2F)") == 0);
}

static void test_encode(void) {
  char buf[256];
  size_t n = st_url_encode(buf, "a b/c?d#e%f", 11, 1);
  CHECK(n == strlen("a%20b/c%3Fd%23e%25f") && memcmp(buf, "a%20b/c%3Fd%23e%25f", n) == 0);
  n = st_url_encode(buf, "x/y", 3, 0);
  CHECK(n == 5 && memcmp(buf, "x%2Fy", 5) == 0);
  n = st_url_encode(buf, "javascript:alert(1)", 19, 0);
  CHECK(n == strlen("javascript%3Aalert%281%29") &&
        memcmp(buf, "javascript%3Aalert%281%29", n) == 0);
  n = st_url_encode(buf, "\xe2\x82\xac-._~", 7, 0);
  CHECK(n == 13 && memcmp(buf, "%E2%82%AC-._~", n) == 0);
  n = st_log_escape(buf, "a\r\nb\\\x7f", 6);
  CHECK(strcmp(buf, "a\\x0d\\x0ab\\x5c\\x7f") == 0 && n == strlen(buf));
}

int main(void) {
  test_normalise();
  test_refused();
  test_encode();
  puts("test_static_path: all passed");
  return 0;
}
