/* test_h1_parser.c — HTTP/1.1 at the parser boundary, through a real
 * connection: the fuzz targets' in-process server (tests/fuzz/fuzz_server.h:
 * a real listener, conn.c, h1.c, stream.c and the hello module, on a
 * loopback socket, the loop turned by the test) gets the request bytes and
 * the test checks the exact status lines that come back and whether the
 * server kept the connection or closed it.
 *
 * Cases: a request split at every byte (the same answer as in one piece),
 * pipelined requests in one read, obs-fold wherever the reads split it,
 * chunk data not followed by CRLF, chunk extensions at their 4 KiB bound and
 * one byte over, a head at max_header_size and one byte over, Content-Length
 * with Transfer-Encoding, two different Content-Lengths, HTTP/1.0 and 1.1
 * keep-alive rules, a NUL in a field value, an absolute-form target.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fuzz_server.h"

/* max_header_size counts the target and the fields' names and values. */
#define MAX_HEADER_SIZE 2048
#define CHUNK_EXT_MAX 4096 /* h1.c's H1_CHUNK_EXT_MAX */

static fz_reply send_pieces(const char *first, size_t first_len, const char *rest,
                            size_t rest_len) {
  fz_reply r;
  fz_exchange_2((const uint8_t *)first, first_len, (const uint8_t *)rest, rest_len, &r);
  return r;
}

/* One connection; "@@@" in req cuts it into separate sends (FZ_SPLIT). */
static fz_reply exchange(const char *req) { return send_pieces(NULL, 0, req, strlen(req)); }

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

/* The status lines of every response, in order, joined by '|'. */
static void status_lines(const fz_reply *r, char *out, size_t cap) {
  out[0] = 0;
  size_t used = 0;
  for (const char *p = strstr(r->bytes, "HTTP/1.1 "); p; p = strstr(p + 1, "HTTP/1.1 ")) {
    if (strspn(p + 9, "0123456789") != 3) continue; /* a body's text, not a status line */
    const char *eol = strstr(p, "\r\n");
    size_t n = eol ? (size_t)(eol - p) : strlen(p);
    if (used + n + 2 > cap) break;
    if (used) out[used++] = '|';
    memcpy(out + used, p, n);
    used += n;
    out[used] = 0;
  }
}

/* Checks the status lines and whether the connection stayed open. */
#define EXPECT(r, statuses, kept)                                                                  \
  do {                                                                                             \
    char got_[512];                                                                                \
    status_lines(&(r), got_, sizeof got_);                                                         \
    if (strcmp(got_, (statuses)) != 0 || (r).closed == (kept)) {                                   \
      fprintf(stderr, "%s:%d: wanted [%s] %s, got [%s] %s:\n%s\n", __FILE__, __LINE__, (statuses), \
              (kept) ? "kept" : "closed", got_, (r).closed ? "closed" : "kept", (r).bytes);        \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

/* The reply without its date line, which may change between two runs. */
static char *without_date(const fz_reply *r) {
  char *copy = strdup(r->bytes);
  CHECK(copy != NULL);
  char *d = strstr(copy, "\r\ndate: ");
  if (d) {
    char *end = strstr(d + 2, "\r\n");
    CHECK(end != NULL);
    memmove(d, end, strlen(end) + 1);
  }
  return copy;
}

/* The body of a single chunked response, decoded; NULL if malformed. */
static char *dechunk(const fz_reply *r) {
  const char *p = strstr(r->bytes, "\r\n\r\n");
  if (!p) return NULL;
  p += 4;
  char *out = calloc(1, r->len + 1);
  size_t used = 0;
  for (;;) {
    char *end;
    unsigned long n = strtoul(p, &end, 16);
    if (end == p || strncmp(end, "\r\n", 2) != 0) break;
    p = end + 2;
    if (n == 0) return strncmp(p, "\r\n", 2) == 0 ? out : NULL;
    if (strlen(p) < n + 2 || strncmp(p + n, "\r\n", 2) != 0) break;
    memcpy(out + used, p, n);
    used += n;
    p += n + 2;
  }
  free(out);
  return NULL;
}

static void test_split_at_every_byte(void) {
  const char *get = "GET /split?q=1 HTTP/1.1\r\nHost: example.test\r\nX-Long: some value\r\n\r\n";
  fz_reply whole = exchange(get);
  EXPECT(whole, "HTTP/1.1 200 OK", 1);
  char *want = without_date(&whole);
  for (size_t i = 1; i < strlen(get); i++) {
    fz_reply r = send_pieces(get, i, get + i, strlen(get) - i);
    char *got = without_date(&r);
    if (strcmp(got, want) != 0 || r.closed) {
      fprintf(stderr, "split at %zu: got %s\n", i, r.bytes);
      exit(1);
    }
    free(got);
    free(r.bytes);
  }
  free(want);
  free(whole.bytes);

  /* A chunked body, echoed: the framing of the echo may follow the reads,
   * the bytes and the status may not. */
  const char *post = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-A: b\r\n\r\n";
  for (size_t i = 1; i < strlen(post); i++) {
    fz_reply r = send_pieces(post, i, post + i, strlen(post) - i);
    EXPECT(r, "HTTP/1.1 200 OK", 1);
    char *body = dechunk(&r);
    if (!body || strcmp(body, "hello world") != 0) {
      fprintf(stderr, "chunked body split at %zu: got %s\n", i, r.bytes);
      exit(1);
    }
    free(body);
    free(r.bytes);
  }
}

static void test_pipelined_in_one_read(void) {
  fz_reply r = exchange("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                        "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                        "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT(r, "HTTP/1.1 200 OK|HTTP/1.1 200 OK|HTTP/1.1 200 OK", 1);
  CHECK(strstr(r.bytes, "\r\n\r\nabc") != NULL); /* the echo, between the two greetings */
  free(r.bytes);
  /* The last one asks to close: answered, then closed. */
  r = exchange("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n"
               "Connection: close\r\n\r\n");
  EXPECT(r, "HTTP/1.1 200 OK|HTTP/1.1 200 OK", 0);
  free(r.bytes);
}

static void test_obs_fold_at_split_points(void) {
  const char *cases[] = {
      "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",          /* one read */
      "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n@@@ c\r\n\r\n",       /* before the fold's space */
      "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n @@@c\r\n\r\n",       /* after it */
      "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r@@@\n c\r\n\r\n",       /* inside the CRLF */
      "GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\n@@@ c\r\n\r\n",         /* empty first line */
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n 0\r\n\r\n", /* folded framing */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    fz_reply r = exchange(cases[i]);
    EXPECT(r, "HTTP/1.1 400 Bad Request", 0);
    free(r.bytes);
  }
}

static void test_chunk_data_needs_crlf(void) {
  const char *head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const char *bodies[] = {
      "5\r\nhelloXX0\r\n\r\n",  /* two other bytes */
      "5\r\nhello\nX0\r\n\r\n", /* LF alone */
      "5\r\nhello\rX0\r\n\r\n", /* CR alone */
  };
  char req[256];
  for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
    snprintf(req, sizeof req, "%s%s", head, bodies[i]);
    fz_reply r = exchange(req);
    EXPECT(r, "HTTP/1.1 400 Bad Request", 0);
    free(r.bytes);
  }
  /* The read ends right after the chunk data: the echo has begun (200)
   * before the next read shows the bad bytes, so no 400 can follow; the
   * response is cut off (no last chunk) and the connection closed. */
  const char *split[] = {"5\r\nhello@@@XX0\r\n\r\n", "5\r\nhello\r@@@X0\r\n\r\n"};
  for (size_t i = 0; i < sizeof split / sizeof *split; i++) {
    snprintf(req, sizeof req, "%s%s", head, split[i]);
    fz_reply r = exchange(req);
    EXPECT(r, "HTTP/1.1 200 OK", 0);
    CHECK(strstr(r.bytes, "\r\n0\r\n\r\n") == NULL);
    free(r.bytes);
  }
  snprintf(req, sizeof req, "%s5\r\nhello\r@@@\n0\r\n\r\n", head); /* good CRLF, split */
  fz_reply r = exchange(req);
  EXPECT(r, "HTTP/1.1 200 OK", 1);
  free(r.bytes);
}

/* A chunk line whose extension name is name_len bytes (it counts one more). */
static fz_reply chunk_extension_of(size_t name_len) {
  const char *head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;";
  size_t hl = strlen(head);
  char *req = malloc(hl + name_len + 32);
  memcpy(req, head, hl);
  memset(req + hl, 'e', name_len);
  strcpy(req + hl + name_len, "\r\nA\r\n0\r\n\r\n");
  fz_reply r = exchange(req);
  free(req);
  return r;
}

static void test_chunk_extension_bound(void) {
  fz_reply r = chunk_extension_of(CHUNK_EXT_MAX - 1); /* exactly the bound */
  EXPECT(r, "HTTP/1.1 200 OK", 1);
  free(r.bytes);
  r = chunk_extension_of(CHUNK_EXT_MAX); /* one over */
  EXPECT(r, "HTTP/1.1 400 Bad Request", 0);
  free(r.bytes);
}

/* A GET whose head (target, names, values) is total bytes long. */
static fz_reply head_of_size(size_t total) {
  /* "/" + "host" + "x" + "x-pad" = 11 bytes besides the padding value */
  size_t pad = total - 11;
  char *req = malloc(pad + 64);
  int n = sprintf(req, "GET / HTTP/1.1\r\nhost: x\r\nx-pad: ");
  memset(req + n, 'p', pad);
  strcpy(req + n + pad, "\r\n\r\n");
  fz_reply r = exchange(req);
  free(req);
  return r;
}

static void test_header_size_limit(void) {
  fz_reply r = head_of_size(MAX_HEADER_SIZE);
  EXPECT(r, "HTTP/1.1 200 OK", 1);
  free(r.bytes);
  r = head_of_size(MAX_HEADER_SIZE + 1);
  EXPECT(r, "HTTP/1.1 431 Request Header Fields Too Large", 0);
  free(r.bytes);
}

static void test_framing_conflicts(void) {
  fz_reply r = exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT(r, "HTTP/1.1 400 Bad Request", 0);
  free(r.bytes);
  r = exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"
               "abcd");
  EXPECT(r, "HTTP/1.1 400 Bad Request", 0);
  free(r.bytes);
}

static void test_keep_alive_rules(void) {
  fz_reply r = exchange("GET / HTTP/1.0\r\n\r\n"); /* 1.0: closes by default */
  EXPECT(r, "HTTP/1.1 200 OK", 0);
  CHECK(strstr(r.bytes, "connection: keep-alive") == NULL);
  free(r.bytes);
  r = exchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"); /* asked for */
  EXPECT(r, "HTTP/1.1 200 OK", 1);
  CHECK(count(r.bytes, "\r\nconnection: keep-alive\r\n") == 1);
  free(r.bytes);
  r = exchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n");
  EXPECT(r, "HTTP/1.1 200 OK|HTTP/1.1 200 OK", 0); /* the second did not ask */
  free(r.bytes);
  r = exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); /* 1.1: kept by default */
  EXPECT(r, "HTTP/1.1 200 OK", 1);
  CHECK(strstr(r.bytes, "connection:") == NULL);
  free(r.bytes);
  r = exchange("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT(r, "HTTP/1.1 200 OK", 0);
  CHECK(count(r.bytes, "\r\nconnection: close\r\n") == 1);
  free(r.bytes);
}

static void test_nul_in_field_value(void) {
  static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n";
  fz_reply r = send_pieces(NULL, 0, req, sizeof req - 1);
  EXPECT(r, "HTTP/1.1 400 Bad Request", 0);
  free(r.bytes);
}

static void test_absolute_form_target(void) {
  fz_reply r = exchange("GET http://example.test/hello?x=1 HTTP/1.1\r\nHost: example.test\r\n\r\n");
  EXPECT(r, "HTTP/1.1 200 OK", 1);
  CHECK(strstr(r.bytes, "\r\n\r\nfuzz\n") != NULL); /* the route's greeting */
  free(r.bytes);
}

int main(void) {
  fz_server_init("max_header_size = 2k\nmax_header_count = 16\nkeepalive_timeout = 60s\n",
                 "http/1.1");
  test_split_at_every_byte();
  test_pipelined_in_one_read();
  test_obs_fold_at_split_points();
  test_chunk_data_needs_crlf();
  test_chunk_extension_bound();
  test_header_size_limit();
  test_framing_conflicts();
  test_keep_alive_rules();
  test_nul_in_field_value();
  test_absolute_form_target();
  puts("test_h1_parser: all passed");
  return 0;
}
