/* test_conn_write.c — a connection's write path (core/conn.c) with file
 * blocks, on a real worker and a real accepted connection (the in-process
 * server of tests/fuzz/fuzz_server.c), cleartext.
 *
 * Memory, then a file range, then memory again must reach the client in
 * that order and complete; writes the socket takes only in part (a small
 * send buffer, a client that reads late) resume at the right byte; a file
 * range's release callback runs exactly once, also when the connection
 * closes with the range still queued; and a file shorter than its queued
 * range closes the connection instead of leaving it hanging. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "conn.h"
#include "fuzz_server.h"

#define FILE_SIZE (3u << 20)
#define RECEIVE_SECONDS 20 /* for all of one test's bytes, under the sanitizers too */

static int file_fd = -1;
static unsigned char *file_bytes; /* what the file holds */

static void make_file(void) {
  char path[] = "/tmp/iridium-conn-write-XXXXXX";
  file_fd = mkstemp(path);
  CHECK(file_fd >= 0);
  unlink(path);
  file_bytes = malloc(FILE_SIZE);
  CHECK(file_bytes);
  for (size_t i = 0; i < FILE_SIZE; i++) file_bytes[i] = (unsigned char)(i * 131 + (i >> 11));
  CHECK(write(file_fd, file_bytes, FILE_SIZE) == (ssize_t)FILE_SIZE);
}

static int releases;
static void count_release(void *user) { (*(int *)user)++; }

/* What the client should receive, built up as the test queues it. */
typedef struct expected {
  unsigned char *bytes;
  size_t len;
} expected;

static void expect_bytes(expected *e, const void *p, size_t n) {
  e->bytes = realloc(e->bytes, e->len + n);
  CHECK(e->bytes);
  memcpy(e->bytes + e->len, p, n);
  e->len += n;
}

static void queue_mem(irh_conn *c, expected *e, const char *fill, size_t n) {
  char *p = malloc(n);
  CHECK(p);
  for (size_t i = 0; i < n; i++) p[i] = fill[i % strlen(fill)];
  CHECK(irh_conn_write(c, p, n) == 0);
  expect_bytes(e, p, n);
  free(p);
}

static void queue_file(irh_conn *c, expected *e, uint64_t off, size_t n) {
  CHECK(irh_conn_write_file(c, file_fd, off, n, count_release, &releases) == 0);
  expect_bytes(e, file_bytes + off, n);
}

/* Turns the loop and reads what arrives (at most chunk bytes per turn, to
 * be a slow reader when chunk is small) until want bytes came or the
 * server closed. Returns the bytes received (malloc'd) and their count. */
static unsigned char *receive(int fd, size_t want, size_t chunk, size_t *got, int *eof) {
  unsigned char *buf = malloc(want + 1);
  CHECK(buf);
  *got = 0;
  *eof = 0;
  time_t deadline = time(NULL) + RECEIVE_SECONDS;
  while (*got < want && !*eof && time(NULL) < deadline) {
    fz_turn();
    size_t room = want + 1 - *got;
    ssize_t n = recv(fd, buf + *got, room < chunk ? room : chunk, MSG_DONTWAIT);
    if (n > 0) {
      *got += (size_t)n;
    } else if (n == 0 || errno == ECONNRESET) {
      *eof = 1;
    } else {
      CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
      struct pollfd p = {.fd = fd, .events = POLLIN};
      poll(&p, 1, 1); /* nothing yet: the kernel's turn (ACKs, the server's socket) */
    }
  }
  return buf;
}

/* Turns until the server let the connection go (freed it). */
static void wait_closed(void) {
  time_t deadline = time(NULL) + RECEIVE_SECONDS;
  while (fz_conn_alive() && time(NULL) < deadline) fz_turn();
  CHECK(!fz_conn_alive());
}

static void close_client(int fd, irh_conn *c) {
  if (fz_conn_alive()) irh_conn_close(c);
  wait_closed();
  close(fd);
}

static void check_received(const expected *e, const unsigned char *got, size_t n) {
  if (n != e->len) fprintf(stderr, "received %zu of %zu bytes\n", n, e->len);
  CHECK(n == e->len);
  for (size_t i = 0; i < n; i++) {
    if (got[i] != e->bytes[i]) fprintf(stderr, "byte %zu differs\n", i);
    CHECK(got[i] == e->bytes[i]);
  }
}

/* Memory, a file range, memory: in order, complete, released once. */
static void test_order(void) {
  int fd;
  irh_conn *c = fz_accept(&fd);
  expected e = {0};
  releases = 0;
  queue_mem(c, &e, "HTTP/1.1 200 OK\r\n\r\n", 19); /* a head before its body */
  queue_file(c, &e, 1000, 200000);
  queue_mem(c, &e, "tail", 4);
  queue_file(c, &e, 0, 1); /* two ranges, a one-byte one */
  queue_mem(c, &e, "!", 1);
  size_t n;
  int eof;
  unsigned char *got = receive(fd, e.len, 1 << 20, &n, &eof);
  check_received(&e, got, n);
  CHECK(!eof && releases == 2);
  CHECK(irh_conn_out_bytes(c) == 0);
  free(got);
  free(e.bytes);
  close_client(fd, c);
  CHECK(releases == 2);
}

/* A small send buffer and a client that reads 4 KiB per turn: memory
 * writes and sendfile stop part-way again and again and must go on at the
 * right byte (memory through uv_write, a file through the write that
 * learns when the socket drains). */
static void test_partial_writes_resume(void) {
  int fd;
  irh_conn *c = fz_accept(&fd);
  uv_os_fd_t sock;
  CHECK(uv_fileno((uv_handle_t *)&c->tcp, &sock) == 0);
  int small = 8192; /* the client's receive buffer stays: loopback segments are 64 KiB */
  CHECK(setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  expected e = {0};
  releases = 0;
  queue_mem(c, &e, "0123456789abcdef", 300000); /* more than one socket buffer of memory */
  queue_file(c, &e, 12345, FILE_SIZE - 12345);
  queue_mem(c, &e, "after the file", 50000);
  queue_file(c, &e, 7, 100000);
  size_t n;
  int eof;
  unsigned char *got = receive(fd, e.len, 4096, &n, &eof);
  if (n != e.len)
    fprintf(stderr, "stalled: writing %d in flight %zu wire %zu out %zu closing %d\n", c->writing,
            c->out_in_flight, c->wire.len, c->out.len, c->closing);
  check_received(&e, got, n);
  CHECK(!eof && releases == 2);
  free(got);
  free(e.bytes);
  close_client(fd, c);
}

/* A range still queued when the connection closes is released once. */
static void test_release_on_close(void) {
  int fd;
  irh_conn *c = fz_accept(&fd);
  uv_os_fd_t sock;
  CHECK(uv_fileno((uv_handle_t *)&c->tcp, &sock) == 0);
  int small = 4096;
  CHECK(setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
  releases = 0;
  int other = 0;
  CHECK(irh_conn_write_file(c, file_fd, 0, FILE_SIZE, count_release, &releases) == 0);
  CHECK(irh_conn_write_file(c, file_fd, 0, 10, count_release, &other) == 0);
  for (int i = 0; i < 50; i++) fz_turn(); /* some of it goes; the client reads nothing */
  CHECK(releases == 0 && other == 0);
  irh_conn_close(c);
  wait_closed();
  CHECK(releases == 1 && other == 1);
  close(fd);
}

/* A file that ends before its range: the connection closes (the client
 * sees what the file had, then the end), and the range is released. */
static void test_short_file(void) {
  char path[] = "/tmp/iridium-conn-short-XXXXXX";
  int shortfd = mkstemp(path);
  CHECK(shortfd >= 0);
  unlink(path);
  CHECK(write(shortfd, "only this", 9) == 9);
  int fd;
  irh_conn *c = fz_accept(&fd);
  releases = 0;
  CHECK(irh_conn_write(c, "head:", 5) == 0);
  CHECK(irh_conn_write_file(c, shortfd, 0, 5000, count_release, &releases) == 0);
  size_t n;
  int eof;
  unsigned char *got = receive(fd, 5 + 5000, 1 << 16, &n, &eof);
  CHECK(eof);
  CHECK(n == 14 && memcmp(got, "head:only this", 14) == 0);
  wait_closed();
  CHECK(releases == 1);
  free(got);
  close(fd);
  close(shortfd);
}

int main(void) {
  fz_server_init("", "http/1.1");
  make_file();
  test_order();
  test_partial_writes_resume();
  test_release_on_close();
  test_short_file();
  free(file_bytes);
  close(file_fd);
  return 0;
}
