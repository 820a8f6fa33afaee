/* listener.c — binding listening sockets and accepting on them; see
 * listener.h. */
#define _GNU_SOURCE /* accept4(2) */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "generation.h"
#include "log.h"

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

int irh_listener_bind(irh_config *c, size_t i, unsigned count, int exclusive, int *fds) {
  const irh_listen_cfg *l = &c->listens[i];
  for (unsigned k = 0; k < count; k++) fds[k] = -1;
  for (unsigned k = 0; k < count; k++) {
    int fd = k == 0 && exclusive && port_taken(l) != 0 ? -1 : bind_one(l);
    if (fd < 0) {
      irh_config_error(c, l->section->line, "[listen %s] cannot listen: %s%s", l->section->arg,
                       strerror(errno),
                       errno == EADDRINUSE ? " (another process is using the port)" : "");
      irh_listeners_close_fds(fds, count);
      return -1;
    }
    fds[k] = fd;
  }
  return 0;
}

int irh_listeners_bind(irh_config *c, unsigned count, int exclusive, int *fds) {
  size_t total = c->nlistens * count;
  for (size_t i = 0; i < total; i++) fds[i] = -1;
  for (size_t i = 0; i < c->nlistens; i++)
    if (irh_listener_bind(c, i, count, exclusive, fds + i * count) != 0) {
      irh_listeners_close_fds(fds, total);
      return -1;
    }
  return 0;
}

/* Connections taken per readable event; the rest wait for the next loop
 * turn (the poll is level-triggered), so one busy listener cannot starve
 * the worker's connections. */
#define ACCEPT_BATCH 128
/* How long a listener stops accepting once the process (or the system) is
 * out of fds: long enough not to spin on accept(), short enough that the
 * clients waiting in the backlog are served soon after fds free up. */
#define ACCEPT_BACKOFF_MS 250

static void on_acceptable(uv_poll_t *p, int status, int events);

static void on_backoff_over(uv_timer_t *t) {
  irh_listener *l = t->data;
  uv_poll_start(&l->poll, UV_READABLE, on_acceptable);
}

/* accept() failed for want of a resource: say so (at most once a second
 * per worker) and stop accepting on l for a while. The connections wait in
 * the backlog meanwhile, rather than being accepted and closed at once. */
static void back_off(irh_listener *l, int err) {
  irh_listener_set *set = l->set;
  uint64_t now = uv_now(set->loop);
  if (set->last_accept_log == 0 || now - set->last_accept_log >= 1000) {
    set->last_accept_log = now;
    const char *what = err == EMFILE   ? "too many open files (EMFILE)"
                       : err == ENFILE ? "too many open files in the system (ENFILE)"
                                       : strerror(err);
    irh_log_warn("accept: %s on [listen %s]; not accepting for %d ms", what, l->cfg->section->arg,
                 ACCEPT_BACKOFF_MS);
  }
  uv_poll_stop(&l->poll);
  uv_timer_start(&l->backoff, on_backoff_over, ACCEPT_BACKOFF_MS, 0);
}

static void on_acceptable(uv_poll_t *p, int status, int events) {
  (void)events;
  irh_listener *l = p->data;
  if (status < 0) {
    irh_log_warn("[listen %s]: %s", l->cfg->section->arg, uv_strerror(status));
    return;
  }
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      l->set->on_accept(l, fd);
      continue;
    }
    switch (errno) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
      return;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM: back_off(l, errno); return;
    default:
      /* EINTR, ECONNABORTED, and the pending network errors Linux passes
       * on (accept(2)): this connection is gone, the next may not be. */
      continue;
    }
  }
}

static void on_probe_closed(uv_handle_t *h) { free(h); }

static void on_listener_closed(uv_handle_t *h) {
  irh_listener *l = h->data;
  if (--l->open_handles > 0) return;
  irh_listener_set *set = l->set;
  if (--set->open == 0) {
    free(set->list);
    free(set);
  }
}

irh_listener_set *irh_listeners_start(struct ir_worker *owner, uv_loop_t *loop, unsigned index,
                                      irh_generation *gen, irh_accept_fn on_accept) {
  const irh_config *c = gen->config;
  /* libuv opens a reserve fd per loop (for the EMFILE trick of its own
   * accept loop, unused here) when the loop's first stream is made: make
   * one now, so that happens at start and not at the worker's first
   * client, and the worker's fd count is steady from then on. */
  uv_tcp_t *probe = malloc(sizeof(*probe));
  if (!probe || uv_tcp_init(loop, probe) != 0) {
    free(probe);
    return NULL;
  }
  uv_close((uv_handle_t *)probe, on_probe_closed);
  irh_listener_set *set = calloc(1, sizeof(*set));
  if (!set || !(set->list = calloc(c->nlistens ? c->nlistens : 1, sizeof(*set->list)))) {
    free(set);
    return NULL;
  }
  set->loop = loop;
  set->on_accept = on_accept;
  set->n = c->nlistens;
  set->open = 1; /* ours, until every listener is set up */
  int failed = 0;
  for (size_t i = 0; i < c->nlistens && !failed; i++) {
    irh_listener *l = &set->list[i];
    l->worker = owner;
    l->set = set;
    l->cfg = &c->listens[i];
    l->gen = gen;
    l->tls = gen->tls[i];
    l->fd = gen->listen_fds[i * gen->nworkers + index];
    set->open++;
    uv_timer_init(loop, &l->backoff);
    l->backoff.data = l;
    l->open_handles = 1;
    if (uv_poll_init(loop, &l->poll, l->fd) != 0) {
      failed = 1;
      break;
    }
    l->poll.data = l;
    l->open_handles++;
    if (uv_poll_start(&l->poll, UV_READABLE, on_acceptable) != 0) failed = 1;
  }
  if (!failed) {
    set->open--;
    return set;
  }
  irh_listeners_stop(set);
  if (--set->open == 0) {
    free(set->list);
    free(set);
  }
  return NULL;
}

void irh_listeners_stop(irh_listener_set *set) {
  for (size_t i = 0; set && i < set->n; i++) {
    irh_listener *l = &set->list[i];
    if (!l->worker || uv_is_closing((uv_handle_t *)&l->backoff)) continue; /* not started */
    uv_close((uv_handle_t *)&l->backoff, on_listener_closed);
    if (l->open_handles > 1) uv_close((uv_handle_t *)&l->poll, on_listener_closed);
  }
}
