/* test_log.c — unit tests for core/log.c: the error line format (on stderr
 * before irh_log_open, then in a file named by a config), level filtering,
 * the access line formats (iridium, combined, json) and their escaping, the
 * per-worker buffer, "off", the message when a log file cannot be opened,
 * reopening after a rotation, and the -t check of the log paths.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "log.h"

#define TIME_LEN 24 /* "2026-11-21T11:29:13.123Z" */

static char tmpdir[] = "/tmp/iridium-test-log-XXXXXX";

/* ---- helpers ------------------------------------------------------------- */

static const char *in_tmp(const char *name) {
  static char buf[256];
  snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
  return buf;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  CHECK(fputs(text, f) >= 0);
  CHECK(fclose(f) == 0);
}

/* The whole file, or "" when it does not exist. Caller frees. */
static char *read_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return calloc(1, 1);
  CHECK(fseek(f, 0, SEEK_END) == 0);
  long size = ftell(f);
  CHECK(size >= 0);
  rewind(f);
  char *text = calloc(1, (size_t)size + 1);
  CHECK(text != NULL);
  CHECK(fread(text, 1, (size_t)size, f) == (size_t)size);
  fclose(f);
  return text;
}

static int capture_saved = -1;
static char capture_path[256];

static void capture_start(void) {
  fflush(stderr);
  snprintf(capture_path, sizeof capture_path, "%s/stderr.txt", tmpdir);
  FILE *f = fopen(capture_path, "w");
  CHECK(f != NULL);
  capture_saved = dup(STDERR_FILENO);
  CHECK(capture_saved >= 0);
  CHECK(dup2(fileno(f), STDERR_FILENO) >= 0);
  fclose(f);
}

/* Ends the capture; returns what was written to stderr. Caller frees. */
static char *capture_stop(void) {
  fflush(stderr);
  CHECK(dup2(capture_saved, STDERR_FILENO) >= 0);
  close(capture_saved);
  char *text = read_file(capture_path);
  unlink(capture_path);
  return text;
}

/* Whether s starts with a timestamp like 2026-11-21T11:29:13.123Z. */
static int is_timestamp(const char *s) {
  static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  for (size_t i = 0; i < TIME_LEN; i++) {
    if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i]) return 0;
  }
  return 1;
}

/* Checks that line (up to '\n') is a timestamp followed by rest + "\n". */
static void expect_line_at(int line, const char *text, const char *rest) {
  size_t rlen = strlen(rest);
  if (!is_timestamp(text) || strncmp(text + TIME_LEN, rest, rlen) != 0 ||
      text[TIME_LEN + rlen] != '\n') {
    fprintf(stderr, "%s:%d: expected TIMESTAMP%s\ngot: %s\n", __FILE__, line, rest, text);
    exit(1);
  }
}
#define EXPECT_LINE(text, rest) expect_line_at(__LINE__, text, rest)

static int count_lines(const char *text) {
  int n = 0;
  for (; *text; text++) n += *text == '\n';
  return n;
}

static irh_config *load_config(const char *server_keys) {
  char text[512];
  snprintf(text, sizeof text, "[server]\n%s[listen 127.0.0.1:8080]\n", server_keys);
  write_file(in_tmp("log.ini"), text);
  irh_config *c = irh_config_load(in_tmp("log.ini"));
  CHECK(c != NULL);
  return c;
}

/* ---- the error log ------------------------------------------------------- */

static void test_error_line_on_stderr(void) {
  CHECK(irh_log_enabled(IR_LOG_INFO));
  CHECK(!irh_log_enabled(IR_LOG_DEBUG));

  capture_start();
  errno = EPIPE;
  irh_log(IR_LOG_WARN, 12, 1, "hello", "x=%d", 5);
  int saved = errno;
  irh_log_info("plain %s", "message");
  irh_log_debug("not shown");
  irh_log(IR_LOG_ERROR, 0, 0, NULL, "stream zero");
  irh_log(IR_LOG_INFO, 7, -1, NULL, "two\nlines\rhere\tok");
  irh_log(IR_LOG_INFO, 0, -1, "m", "%s", "");
  char *out = capture_stop();

  CHECK(saved == EPIPE); /* logging keeps errno */
  CHECK(count_lines(out) == 5);
  const char *line = out;
  EXPECT_LINE(line, " [warn] conn=12 stream=1 module=hello: x=5");
  line = strchr(line, '\n') + 1;
  EXPECT_LINE(line, " [info] plain message");
  line = strchr(line, '\n') + 1;
  EXPECT_LINE(line, " [error] stream=0: stream zero");
  line = strchr(line, '\n') + 1;
  EXPECT_LINE(line, " [info] conn=7: two lines here\tok");
  line = strchr(line, '\n') + 1;
  EXPECT_LINE(line, " [info] module=m: ");
  free(out);
}

static void test_error_line_truncated(void) {
  char big[6000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  capture_start();
  irh_log_error("%s", big);
  char *out = capture_stop();
  size_t len = strlen(out);
  CHECK(len == 4096);
  CHECK(count_lines(out) == 1);
  CHECK(strcmp(out + len - 4, "...\n") == 0);
  CHECK(is_timestamp(out) && strncmp(out + TIME_LEN, " [error] aaaa", 13) == 0);
  free(out);
}

static void test_error_log_file_and_level(void) {
  irh_config *c = load_config("error_log = error.log\nlog_level = warn\n");
  CHECK(strcmp(c->error_log, in_tmp("error.log")) == 0);
  CHECK(irh_log_open(c) == 0);
  CHECK(!irh_log_enabled(IR_LOG_INFO));
  CHECK(irh_log_enabled(IR_LOG_WARN));
  CHECK(irh_log_enabled(IR_LOG_ERROR));
  CHECK(!irh_access_log_enabled()); /* access_log defaults to off */
  irh_log_info("filtered out");
  irh_log_warn("kept %d", 1);
  irh_log(IR_LOG_ERROR, 3, 4, "static", "kept %s", "too");
  irh_log_close();
  irh_config_free(c);

  char *text = read_file(in_tmp("error.log"));
  CHECK(count_lines(text) == 2);
  EXPECT_LINE(text, " [warn] kept 1");
  EXPECT_LINE(strchr(text, '\n') + 1, " [error] conn=3 stream=4 module=static: kept too");
  free(text);
  unlink(in_tmp("error.log"));

  /* After close: stderr at info again. */
  CHECK(irh_log_enabled(IR_LOG_INFO) && !irh_log_enabled(IR_LOG_DEBUG));
}

static void test_error_log_off(void) {
  irh_config *c = load_config("error_log = off\nlog_level = debug\n");
  CHECK(irh_log_open(c) == 0);
  CHECK(!irh_log_enabled(IR_LOG_ERROR));
  capture_start();
  irh_log_error("nowhere");
  char *out = capture_stop();
  CHECK(out[0] == '\0');
  free(out);
  irh_log_close();
  irh_config_free(c);
}

/* ---- the access log ------------------------------------------------------ */

static irh_access_entry entry(const char *method, const char *target, int status, uint64_t bytes,
                              uint64_t ns) {
  return (irh_access_entry){.peer = "127.0.0.1:53312",
                            .peer_len = strlen("127.0.0.1:53312"),
                            .method = method,
                            .method_len = strlen(method),
                            .target = target,
                            .target_len = strlen(target),
                            .protocol = "HTTP/1.1",
                            .status = status,
                            .body_bytes = bytes,
                            .duration_ns = ns,
                            .host = "localhost:8080",
                            .host_len = 14,
                            .referer = "http://r/",
                            .referer_len = 9,
                            .user_agent = "curl/7.88.1",
                            .user_agent_len = 11,
                            .module = "hello"};
}

static void test_access_lines(void) {
  irh_config *c = load_config("access_log = access.log\n");
  CHECK(irh_log_open(c) == 0);
  CHECK(irh_access_log_enabled());

  irh_access_buf b = {0};
  irh_access_entry e = entry("GET", "/hello?x=1", 200, 18, 123456);
  irh_access_log(&b, &e);
  e = entry("GE\"T", "/a\\b\n\xff c", 404, 0, UINT64_C(1500000999));
  irh_access_log(&b, &e);
  /* Bytes given by length: an embedded NUL is escaped, not an end. */
  e = entry("PUT", "/x", 201, 5, 0);
  e.target = "/x\0y";
  e.target_len = 4;
  e.protocol = "HTTP/2";
  e.host = "a\"b", e.host_len = 3;
  e.referer = NULL, e.referer_len = 0;
  e.user_agent = "x\n", e.user_agent_len = 2;
  e.module = NULL;
  irh_access_log(&b, &e);
  e = (irh_access_entry){.status = 400}; /* nothing known */
  irh_access_log(&b, &e);
  CHECK(b.len > 0);
  char *before_flush = read_file(in_tmp("access.log"));
  CHECK(before_flush[0] == '\0'); /* buffered until the flush */
  free(before_flush);
  irh_access_flush(&b);
  CHECK(b.len == 0);

  char *text = read_file(in_tmp("access.log"));
  CHECK(count_lines(text) == 4);
  const char *line = text;
  EXPECT_LINE(line, " 127.0.0.1:53312 \"GET /hello?x=1\" 200 18 0.000123 HTTP/1.1 "
                    "\"localhost:8080\" \"http://r/\" \"curl/7.88.1\" hello");
  line = strchr(line, '\n') + 1;
  EXPECT_LINE(line, " 127.0.0.1:53312 \"GE\\x22T /a\\x5cb\\x0a\\xff c\" 404 0 1.500000 HTTP/1.1 "
                    "\"localhost:8080\" \"http://r/\" \"curl/7.88.1\" hello");
  line = strchr(line, '\n') + 1;
  EXPECT_LINE(line, " 127.0.0.1:53312 \"PUT /x\\x00y\" 201 5 0.000000 HTTP/2 \"a\\x22b\" "
                    "\"-\" \"x\\x0a\" -");
  line = strchr(line, '\n') + 1;
  EXPECT_LINE(line, " - \"- -\" 400 0 0.000000 - \"-\" \"-\" \"-\" -");
  free(text);

  irh_access_buf_free(&b);
  CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
  irh_log_close();
  CHECK(!irh_access_log_enabled());
  irh_config_free(c);
  unlink(in_tmp("access.log"));
}

/* A very long target is cut at 4096 bytes and marked with "...". */
static void test_access_long_target(void) {
  irh_config *c = load_config("access_log = access.log\n");
  CHECK(irh_log_open(c) == 0);
  char target[10000];
  memset(target, 'a', sizeof target - 1);
  target[0] = '/';
  target[sizeof target - 1] = '\0';
  irh_access_buf b = {0};
  irh_access_entry e = entry("GET", target, 414, 0, 0);
  irh_access_log(&b, &e);
  irh_access_flush(&b);

  char *text = read_file(in_tmp("access.log"));
  char want[4200];
  snprintf(want, sizeof want,
           " 127.0.0.1:53312 \"GET %.4096s...\" 414 0 0.000000 HTTP/1.1 \"localhost:8080\" "
           "\"http://r/\" \"curl/7.88.1\" hello",
           target);
  EXPECT_LINE(text, want);
  free(text);
  irh_access_buf_free(&b);
  irh_log_close();
  irh_config_free(c);
  unlink(in_tmp("access.log"));
}

/* The buffer is written out before it passes 32 KiB and never holds more
 * than 64 KiB; no line is lost or split. */
static void test_access_buffer_limits(void) {
  irh_config *c = load_config("access_log = access.log\n");
  CHECK(irh_log_open(c) == 0);
  irh_access_buf b = {0};
  char target[2000];
  memset(target, 'b', sizeof target - 1);
  target[0] = '/';
  target[sizeof target - 1] = '\0';
  int flushed_early = 0;
  for (int i = 0; i < 500; i++) {
    size_t before = b.len;
    irh_access_entry e = entry("GET", i % 2 ? target : "/small", 200, (uint64_t)i, 1000);
    irh_access_log(&b, &e);
    CHECK(b.len <= 32 * 1024);
    CHECK(b.cap <= 64 * 1024);
    if (b.len < before) flushed_early = 1;
  }
  CHECK(flushed_early);
  irh_access_flush(&b);

  char *text = read_file(in_tmp("access.log"));
  CHECK(count_lines(text) == 500);
  for (const char *line = text; *line; line = strchr(line, '\n') + 1)
    CHECK(is_timestamp(line) && strstr(line, " 0.000001 HTTP/1.1 \"localhost:8080\"") != NULL);
  free(text);
  irh_access_buf_free(&b);
  irh_log_close();
  irh_config_free(c);
  unlink(in_tmp("access.log"));
}

static void test_access_off(void) {
  irh_config *c = load_config("access_log = off\n");
  CHECK(irh_log_open(c) == 0);
  CHECK(!irh_access_log_enabled());
  irh_access_buf b = {0};
  irh_access_entry e = entry("GET", "/", 200, 1, 1);
  irh_access_log(&b, &e);
  CHECK(b.len == 0 && b.data == NULL);
  irh_access_flush(&b);
  irh_access_buf_free(&b);
  irh_log_close();
  irh_config_free(c);
}

/* A log file that cannot be opened is named, and the logs stay as they were. */
static void test_open_failure(void) {
  irh_config *c = load_config("error_log = error.log\naccess_log = /nonexistent-dir/a.log\n");
  capture_start();
  int rc = irh_log_open(c);
  char *out = capture_stop();
  CHECK(rc == -1);
  CHECK(strcmp(out, "iridium: cannot open access log '/nonexistent-dir/a.log': No such file or "
                    "directory\n") == 0);
  free(out);
  CHECK(!irh_access_log_enabled());
  CHECK(irh_log_enabled(IR_LOG_INFO)); /* still stderr at info */

  capture_start();
  irh_log_info("still on stderr");
  out = capture_stop();
  EXPECT_LINE(out, " [info] still on stderr");
  free(out);
  irh_config_free(c);
  unlink(in_tmp("error.log"));
}

/* combined: the address without its port, the local time in brackets (UTC
 * here), the request line with its protocol, referer and user agent. */
static void test_access_combined(void) {
  irh_config *c = load_config("access_log = access.log\naccess_log_format = combined\n");
  CHECK(irh_log_open(c) == 0);
  irh_access_buf b = {0};
  irh_access_entry e = entry("GET", "/hello?x=1", 200, 18, 123456);
  irh_access_log(&b, &e);
  e.peer = "[::1]:40000", e.peer_len = 11, e.referer = NULL, e.referer_len = 0;
  e.user_agent = "q\"", e.user_agent_len = 2;
  irh_access_log(&b, &e);
  irh_access_flush(&b);
  char *text = read_file(in_tmp("access.log"));
  CHECK(count_lines(text) == 2);
  /* 127.0.0.1 - - [04/Dec/2026:18:07:15 +0000] "GET ..." */
  const char *l1 = text, *l2 = strchr(text, '\n') + 1;
  CHECK(strncmp(l1, "127.0.0.1 - - [", 15) == 0);
  CHECK(isdigit((unsigned char)l1[15]) && l1[17] == '/' && l1[21] == '/' && l1[26] == ':');
  CHECK(strncmp(l1 + 35, " +0000] ", 8) == 0);
  const char *rest1 = "\"GET /hello?x=1 HTTP/1.1\" 200 18 \"http://r/\" \"curl/7.88.1\"\n";
  CHECK(strncmp(l1 + 43, rest1, strlen(rest1)) == 0);
  CHECK(strncmp(l2, "::1 - - [", 9) == 0);
  const char *rest2 = "\"GET /hello?x=1 HTTP/1.1\" 200 18 \"-\" \"q\\x22\"\n";
  CHECK(strncmp(l2 + 37, rest2, strlen(rest2)) == 0);
  free(text);
  irh_access_buf_free(&b);
  irh_log_close();
  irh_config_free(c);
  unlink(in_tmp("access.log"));
}

/* json: stable names, numbers as numbers, absent fields null, every byte
 * outside printable ASCII as \u00HH. */
static void test_access_json(void) {
  irh_config *c = load_config("access_log = access.log\naccess_log_format = JSON\n");
  CHECK(irh_log_open(c) == 0);
  irh_access_buf b = {0};
  irh_access_entry e = entry("GET", "/a\"b\\c\n\xc3\xa9", 404, 7, UINT64_C(2000001000));
  e.referer = NULL, e.referer_len = 0, e.module = NULL;
  irh_access_log(&b, &e);
  irh_access_flush(&b);
  char *text = read_file(in_tmp("access.log"));
  CHECK(count_lines(text) == 1);
  CHECK(strncmp(text, "{\"time\":\"", 9) == 0 && is_timestamp(text + 9));
  const char *rest = "\",\"client\":\"127.0.0.1:53312\",\"method\":\"GET\","
                     "\"target\":\"/a\\\"b\\\\c\\u000a\\u00c3\\u00a9\",\"protocol\":\"HTTP/1.1\","
                     "\"status\":404,\"bytes\":7,\"duration\":2.000001,"
                     "\"host\":\"localhost:8080\",\"referer\":null,"
                     "\"user_agent\":\"curl/7.88.1\",\"module\":null}\n";
  if (strcmp(text + 9 + TIME_LEN, rest) != 0) {
    fprintf(stderr, "json line: %s", text);
    exit(1);
  }
  free(text);
  irh_access_buf_free(&b);
  irh_log_close();
  irh_config_free(c);
  unlink(in_tmp("access.log"));
}

static void test_access_format_refused(void) {
  write_file(in_tmp("log.ini"), "[server]\naccess_log_format = apache\n[listen 127.0.0.1:8080]\n");
  capture_start();
  irh_config *c = irh_config_load(in_tmp("log.ini"));
  char *out = capture_stop();
  CHECK(c == NULL);
  CHECK(strstr(out, "log.ini:2: bad value 'apache' for key 'access_log_format' (expected "
                    "iridium, combined or json)") != NULL);
  free(out);
}

/* rename(2) of two files of tmpdir (in_tmp's buffer holds one name). */
static void move_in_tmp(const char *from, const char *to) {
  char a[256];
  snprintf(a, sizeof a, "%s", in_tmp(from));
  CHECK(rename(a, in_tmp(to)) == 0);
}

/* After a rotation moved the files, irh_log_reopen writes to new ones at
 * the same paths; the moved files keep what came before. */
static void test_reopen(void) {
  irh_config *c = load_config("error_log = error.log\naccess_log = access.log\n");
  CHECK(irh_log_open(c) == 0);
  irh_access_buf b = {0};
  irh_access_entry e = entry("GET", "/before", 200, 1, 1);
  irh_access_log(&b, &e);
  irh_access_flush(&b);
  irh_log_info("before the rotation");
  move_in_tmp("error.log", "error.log.1");
  move_in_tmp("access.log", "access.log.1");
  CHECK(irh_log_reopen() == 0);
  e = entry("GET", "/after", 200, 1, 1);
  irh_access_log(&b, &e);
  irh_access_flush(&b);
  irh_log_info("after the rotation");

  char *old_a = read_file(in_tmp("access.log.1")), *new_a = read_file(in_tmp("access.log"));
  char *old_e = read_file(in_tmp("error.log.1")), *new_e = read_file(in_tmp("error.log"));
  CHECK(count_lines(old_a) == 1 && strstr(old_a, "/before"));
  CHECK(count_lines(new_a) == 1 && strstr(new_a, "/after"));
  CHECK(count_lines(old_e) == 1 && strstr(old_e, "before the rotation"));
  CHECK(count_lines(new_e) == 1 && strstr(new_e, "after the rotation"));
  free(old_a), free(new_a), free(old_e), free(new_e);

  /* A path that can no longer be opened: said, and the file in use stays. */
  move_in_tmp("access.log", "access.log.2");
  CHECK(mkdir(in_tmp("access.log"), 0755) == 0);
  CHECK(irh_log_reopen() == -1);
  char *said = read_file(in_tmp("error.log"));
  CHECK(strstr(said, "cannot reopen the access log") != NULL);
  free(said);
  e = entry("GET", "/kept", 200, 1, 1);
  irh_access_log(&b, &e);
  irh_access_flush(&b);
  char *kept = read_file(in_tmp("access.log.2"));
  CHECK(strstr(kept, "/kept") != NULL);
  free(kept);

  irh_access_buf_free(&b);
  irh_log_close();
  irh_config_free(c);
  CHECK(rmdir(in_tmp("access.log")) == 0);
  const char *files[] = {"error.log", "error.log.1", "access.log.1", "access.log.2"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(in_tmp(files[i]));
}

/* The -t check: a log in a missing folder, or a folder as a log, is
 * "INI:LINE: ..."; a file to be created in a writable folder passes and
 * is not created. */
static void test_log_check(void) {
  irh_config *c = load_config("error_log = /nonexistent-dir/e.log\naccess_log = .\n");
  capture_start();
  int rc = irh_log_check(c);
  char *out = capture_stop();
  CHECK(rc == -1 && c->errors == 2);
  CHECK(strstr(out, "log.ini:2: error_log '/nonexistent-dir/e.log': its folder "
                    "'/nonexistent-dir' does not exist") != NULL);
  CHECK(strstr(out, "log.ini:3: access_log '") != NULL && strstr(out, "' is a folder") != NULL);
  free(out);
  irh_config_free(c);

  c = load_config("error_log = new-error.log\naccess_log = stdout\n");
  CHECK(irh_log_check(c) == 0 && c->errors == 0);
  CHECK(access(in_tmp("new-error.log"), F_OK) != 0); /* not created */
  irh_config_free(c);
}

int main(void) {
  CHECK(mkdtemp(tmpdir) != NULL);
  test_error_line_on_stderr();
  test_error_line_truncated();
  test_error_log_file_and_level();
  test_error_log_off();
  test_access_lines();
  test_access_long_target();
  test_access_buffer_limits();
  test_access_off();
  test_open_failure();
  test_access_combined();
  test_access_json();
  test_access_format_refused();
  test_reopen();
  test_log_check();
  unlink(in_tmp("log.ini"));
  CHECK(rmdir(tmpdir) == 0);
  printf("test_log: all passed\n");
  return 0;
}
