/* listener.c — binding listening sockets and accepting on them; see
 * listener.h. */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "server.h"
#include "worker.h"

/* A socket bound to l's address (with SO_REUSEPORT when reuseport), or -1
 * with errno. */
static int bound_socket(const irh_listen_cfg *l, int reuseport) {
  int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
      (l->addr.ss_family == AF_INET6 &&
       setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) ||
      bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

static int bind_one(const irh_listen_cfg *l) {
  int fd = bound_socket(l, 1);
  if (fd >= 0 && listen(fd, l->backlog) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

/* Whether another socket already listens on l's address. The workers'
 * sockets share their port through SO_REUSEPORT, which would just as
 * silently share it with another process of the same user (a second
 * Iridium): a socket without SO_REUSEPORT cannot be bound next to a
 * listening one, so trying one first tells. Returns 0, or -1 with errno. */
static int port_taken(const irh_listen_cfg *l) {
  int fd = bound_socket(l, 0);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}

void irh_listeners_close_fds(int *fds, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (fds[i] >= 0) close(fds[i]);
    fds[i] = -1;
  }
}

int irh_listeners_bind(irh_config *c, unsigned count, int exclusive, int *fds) {
  size_t total = c->nlistens * count;
  for (size_t i = 0; i < total; i++) fds[i] = -1;
  for (size_t i = 0; i < c->nlistens; i++) {
    const irh_listen_cfg *l = &c->listens[i];
    for (unsigned k = 0; k < count; k++) {
      int fd = k == 0 && exclusive && port_taken(l) != 0 ? -1 : bind_one(l);
      if (fd < 0) {
        irh_config_error(c, l->section->line, "[listen %s] cannot listen: %s%s", l->section->arg,
                         strerror(errno),
                         errno == EADDRINUSE ? " (another process is using the port)" : "");
        irh_listeners_close_fds(fds, total);
        return -1;
      }
      fds[i * count + k] = fd;
    }
  }
  return 0;
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  irh_conn_accept(server->data);
}

int irh_listeners_start(ir_worker_t *w, const int *fds) {
  const irh_server *srv = w->server;
  const irh_config *c = srv->config;
  w->listeners = calloc(c->nlistens, sizeof(*w->listeners));
  if (!w->listeners) return -1;
  for (size_t i = 0; i < c->nlistens; i++) {
    irh_listener *l = &w->listeners[i];
    l->worker = w;
    l->cfg = &c->listens[i];
    l->tls = srv->tls[i];
    uv_tcp_init(&w->loop, &l->tcp);
    l->tcp.data = l;
    w->nlisteners++;
    if (uv_tcp_open(&l->tcp, fds[i * srv->nworkers]) != 0) return -1;
    if (uv_listen((uv_stream_t *)&l->tcp, l->cfg->backlog, on_connection) != 0) return -1;
  }
  return 0;
}

static void on_listener_closed(uv_handle_t *h) {
  ir_worker_t *w = ((irh_listener *)h->data)->worker;
  if (--w->nlisteners == 0) {
    free(w->listeners);
    w->listeners = NULL;
  }
}

void irh_listeners_stop(ir_worker_t *w) {
  for (size_t i = 0; i < w->server->config->nlistens && w->listeners; i++)
    if (!uv_is_closing((uv_handle_t *)&w->listeners[i].tcp))
      uv_close((uv_handle_t *)&w->listeners[i].tcp, on_listener_closed);
}
