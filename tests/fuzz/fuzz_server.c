/* fuzz_server.c — the in-process server behind the protocol fuzz targets;
 * see fuzz_server.h.
 *
 * Determinism matters to a fuzzer more than speed: every send is followed by
 * loop turns until the server has read all of it (or stopped reading, as h1
 * does while a response is owed), so one input always gives the server the
 * same pieces. Nothing waits for real time: timers of seconds never fire
 * during an input, and a connection still open at the end is closed the way
 * a worker's shutdown_timeout closes it.
 */
#define _GNU_SOURCE /* memmem */
#include "fuzz_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "generation_make.h"
#include "listener.h"
#include "log.h"
#include "module.h"
#include "negotiate.h"
#include "process.h"
#include "worker.h"

#define PUMP_MAX_TURNS 64   /* per send: turns while the server has unread bytes */
#define CLOSE_MAX_TURNS 256 /* after the reset: turns until the server lets go */
#define SETTLE_TURNS 32     /* fz_exchange_2: turns for the answer and a close to go out */

static irh_server srv;
static ir_worker_t *worker;
static ir_worker_t *workers[1];
static struct sockaddr_in server_addr;
static fz_reply *capture; /* fz_exchange_2's reply, or NULL: what is read is dropped */

static void fail(const char *what) {
  fprintf(stderr, "fuzz_server: %s\n", what);
  abort();
}

/* A port nobody listens on now: the config needs a number, not 0. */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0)
    fail("no free port");
  close(fd);
  return ntohs(a.sin_port);
}

static irh_config *load_config(const char *server_keys, const char *protocols, int port) {
  char path[] = "/tmp/iridium-fuzz-XXXXXX.ini";
  int fd = mkstemps(path, 4);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) fail("cannot write the config");
  fprintf(f,
          "[server]\nworkers = 1\nmodules_dir = %s\nerror_log = off\naccess_log = off\n%s\n"
          "[listen 127.0.0.1:%d]\nprotocols = %s\n"
          "[module hello]\n"
          "[route /]\nmodule = hello\ngreeting = fuzz\n",
          IRIDIUM_FUZZ_MODULES_DIR, server_keys, port, protocols);
  fclose(f);
  irh_config *c = irh_config_load(path);
  unlink(path);
  if (!c) fail("config refused");
  return c;
}

void fz_server_init(const char *server_keys, const char *protocols) {
  if (worker) return;
  signal(SIGPIPE, SIG_IGN);
  int port = free_port();
  irh_config *c = load_config(server_keys, protocols, port);
  /* The steps of irh_server_run(), with the worker kept on this thread. */
  srv = (irh_server){.nworkers = 1, .on_accept = irh_negotiate_accept};
  if (irh_log_open(c) != 0) fail("log");
  if (!(srv.modules = irh_modules_new())) fail("modules");
  irh_generation *g = irh_generation_open(&srv, c, NULL, IRH_GEN_EXCLUSIVE);
  if (!g || irh_generation_start(&srv, g, NULL) != 0) fail("generation");
  srv.current = g;
  irh_generation_hold(g);
  if (!(worker = irh_worker_new(&srv, 0, g))) fail("worker");
  workers[0] = worker;
  srv.workers = workers;
  if (irh_modules_worker_init(srv.modules, worker, &worker->modules_ready, g->modules_upto) != 0 ||
      !(worker->listeners = irh_listeners_start(worker, &worker->loop, 0, g, srv.on_accept)))
    fail("worker start");
  server_addr = (struct sockaddr_in){.sin_family = AF_INET,
                                     .sin_port = htons((uint16_t)port),
                                     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

/* Keeps n more bytes of the server's in the capture. */
static void keep(const char *p, size_t n) {
  char *grown = realloc(capture->bytes, capture->len + n + 1);
  if (!grown) fail("out of memory");
  memcpy(grown + capture->len, p, n);
  capture->bytes = grown;
  capture->len += n;
  grown[capture->len] = 0;
}

/* Reads what the server sent, so its writes never stall: dropped, or kept
 * for fz_exchange_2 (with the server's EOF). */
static void drain_client(int fd) {
  static char sink[64 * 1024];
  for (int i = 0; i < 64; i++) {
    ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n == 0 && capture) capture->closed = 1;
    if (n <= 0) return;
    if (capture) keep(sink, (size_t)n);
  }
}

static void turn(int fd) {
  uv_run(&worker->loop, UV_RUN_NOWAIT);
  if (fd >= 0) drain_client(fd);
}

/* Whether the server's side of the connection holds bytes it will read. */
static int server_has_unread(void) {
  if (irh_list_empty(&worker->conns)) return 0;
  irh_conn *c = irh_container_of(worker->conns.next, irh_conn, member.link);
  uv_os_fd_t sfd;
  int n = 0;
  if (!c->reading || uv_fileno((uv_handle_t *)&c->tcp, &sfd) != 0) return 0;
  return ioctl(sfd, FIONREAD, &n) == 0 && n > 0;
}

static void pump(int fd) {
  turn(fd);
  for (int i = 0; i < PUMP_MAX_TURNS && server_has_unread(); i++) turn(fd);
  turn(fd); /* what the last read queued (a drain, a resumed parse) */
}

static void send_all(int fd, const uint8_t *p, size_t len) {
  for (int tries = 0; len > 0 && tries < PUMP_MAX_TURNS; tries++) {
    ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return; /* the server closed */
    if (n > 0) {
      p += n;
      len -= (size_t)n;
    }
    pump(fd); /* also when the socket was full: the server reads, room comes back */
  }
}

/* What a worker's shutdown_timeout does to a connection that is left. */
static void close_leftovers(void) {
  while (!irh_list_empty(&worker->conns)) {
    irh_conn *c = irh_container_of(worker->conns.next, irh_conn, member.link);
    c->close_reason = IR_CLOSE_SHUTDOWN;
    irh_conn_close(c); /* unlinks c */
  }
}

/* A client socket from the next source address in 127.0.0.0/8. When the
 * server closes first its side waits in TIME_WAIT for a minute, and
 * thousands of inputs a second would use up one address's ports. A failed
 * connect is the machine's trouble, not the server's: it is retried from
 * other addresses before the target gives up. */
static int client_socket(void) {
  static uint32_t next;
  for (int attempt = 0; attempt < 16; attempt++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(0x7f000002u + next++ % 0xfffff0u)};
    if (fd < 0) break;
    if (bind(fd, (struct sockaddr *)&src, sizeof src) == 0 &&
        connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) == 0)
      return fd;
    fprintf(stderr, "fuzz_server: connect from %s: %s (retrying)\n", inet_ntoa(src.sin_addr),
            strerror(errno));
    close(fd);
    uv_run(&worker->loop, UV_RUN_NOWAIT); /* let the listener take what waits */
  }
  fail("cannot connect");
  return -1;
}

static void exchange(const uint8_t *prefix, size_t prefix_len, const uint8_t *data, size_t size) {
  uint64_t alive = worker->conns_alive;
  int fd = client_socket();
  for (int i = 0; i < PUMP_MAX_TURNS && worker->conns_alive == alive; i++) turn(fd);
  if (worker->conns_alive == alive) fail("the listener did not accept");
  if (prefix_len) send_all(fd, prefix, prefix_len);
  const size_t mlen = sizeof FZ_SPLIT - 1;
  while (size > 0 && worker->conns_alive > alive) {
    const uint8_t *cut = memmem(data, size, FZ_SPLIT, mlen);
    size_t piece = cut ? (size_t)(cut - data) : size;
    send_all(fd, data, piece);
    piece += cut ? mlen : 0;
    data += piece;
    size -= piece;
  }
  for (int i = 0; capture && i < SETTLE_TURNS && !capture->closed; i++) turn(fd);
  int closed_first = capture && capture->closed;
  shutdown(fd, SHUT_WR); /* the client's EOF: on_eof */
  pump(fd);
  if (capture) capture->closed = closed_first; /* not the EOF that answers ours */
  struct linger reset = {.l_onoff = 1, .l_linger = 0}; /* no TIME_WAIT per input */
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  close(fd);
  for (int i = 0; i < CLOSE_MAX_TURNS && worker->conns_alive > alive; i++) {
    turn(-1);
    if (i == CLOSE_MAX_TURNS / 2) close_leftovers();
  }
  if (worker->conns_alive > alive) fail("a connection outlived its reset and a forced close");
}

static uint64_t accepted_alive; /* conns_alive just before fz_accept's connection */

struct irh_conn *fz_accept(int *client_fd) {
  uint64_t alive = worker->conns_alive;
  int fd = client_socket();
  for (int i = 0; i < PUMP_MAX_TURNS && worker->conns_alive == alive; i++) turn(-1);
  if (worker->conns_alive == alive) fail("the listener did not accept");
  accepted_alive = alive;
  *client_fd = fd;
  return irh_container_of(worker->conns.prev, irh_conn, member.link); /* the newest */
}

void fz_turn(void) { turn(-1); }

int fz_conn_alive(void) { return worker->conns_alive > accepted_alive; }
void fz_exchange(const uint8_t *prefix, size_t prefix_len, const uint8_t *data, size_t size) {
  exchange(prefix, prefix_len, data, size);
}

void fz_exchange_2(const uint8_t *prefix, size_t prefix_len, const uint8_t *data, size_t size,
                   fz_reply *reply) {
  *reply = (fz_reply){0};
  capture = reply;
  exchange(prefix, prefix_len, data, size);
  if (!reply->bytes) keep("", 0); /* always a string, even when nothing came */
  capture = NULL;
}
