/* test_log.c — unit tests for core/log.c: the error line format (on stderr
 * before irh_log_open, then in a file named by a config), level filtering,
 * the access line format and its escaping, the per-worker buffer, "off",
 * and the message when a log file cannot be opened.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
                            .duration_ns = ns};
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
  EXPECT_LINE(line, " 127.0.0.1:53312 \"GET /hello?x=1\" 200 18 0.000123 HTTP/1.1");
  line = strchr(line, '\n') + 1;
  EXPECT_LINE(line, " 127.0.0.1:53312 \"GE\\x22T /a\\x5cb\\x0a\\xff c\" 404 0 1.500000 HTTP/1.1");
  line = strchr(line, '\n') + 1;
  EXPECT_LINE(line, " 127.0.0.1:53312 \"PUT /x\\x00y\" 201 5 0.000000 HTTP/2");
  line = strchr(line, '\n') + 1;
  EXPECT_LINE(line, " - \"- -\" 400 0 0.000000 -");
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
  snprintf(want, sizeof want, " 127.0.0.1:53312 \"GET %.4096s...\" 414 0 0.000000 HTTP/1.1",
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
    CHECK(is_timestamp(line) && strstr(line, " 0.000001 HTTP/1.1\n") != NULL);
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
  unlink(in_tmp("log.ini"));
  CHECK(rmdir(tmpdir) == 0);
  printf("test_log: all passed\n");
  return 0;
}
