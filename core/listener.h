/* listener.h — listening sockets.
 *
 * The main thread binds one SO_REUSEPORT socket per worker per [listen]
 * section before any worker starts, so "address in use" is reported with
 * the config's file:line and the process exits before serving. Each worker
 * then wraps its own sockets in libuv handles; the kernel spreads incoming
 * connections across them. A reload's generation shares (dup) the sockets
 * of the addresses it keeps, so no connection waiting in a backlog is lost,
 * and binds only the new ones.
 */
#ifndef IRIDIUM_CORE_LISTENER_H
#define IRIDIUM_CORE_LISTENER_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "process.h"

struct ir_worker;
struct irh_tls_ctx;
struct irh_listener_set;
struct irh_generation;

/* One listening socket of one worker. The worker accepts itself (accept4
 * when the poll says readable) rather than through uv_listen, so that
 * running out of fds is seen, logged and answered by pausing: libuv would
 * hide EMFILE (it accepts and closes with a reserve fd) and cannot pause a
 * listener. Accepted fds go to the owner's callback (set->on_accept). */
typedef struct irh_listener {
  uv_poll_t poll;           /* readable: connections wait in the backlog */
  uv_timer_t backoff;       /* accepting paused after EMFILE/ENFILE */
  int fd;                   /* the listening socket; the generation's */
  int open_handles;         /* poll + backoff */
  struct ir_worker *worker; /* the owner's, for its connections; NULL until started */
  struct irh_listener_set *set;
  const irh_listen_cfg *cfg;
  struct irh_generation *gen; /* what its connections are accepted under */
  struct irh_tls_ctx *tls;    /* the generation's; NULL for cleartext */
} irh_listener;

/* A worker's listeners for one generation; freed once stopped and closed. */
typedef struct irh_listener_set {
  irh_listener *list; /* one per configured [listen], owned */
  size_t n, open;     /* open: not yet closed after irh_listeners_stop */
  uv_loop_t *loop;
  irh_accept_fn on_accept;
  uint64_t last_accept_log; /* loop time of the last accept() failure warning */
} irh_listener_set;

/* Binds and listens count sockets per listener into fds[listener * count +
 * i]. exclusive: first refuse an address another socket already listens on
 * (the server; `-t` checks a configuration while the server runs). On
 * failure reports through irh_config_error, closes what it opened and
 * returns -1. */
int irh_listeners_bind(irh_config *c, unsigned count, int exclusive, int *fds);
/* The same for listener i alone, into fds[0 .. count). */
int irh_listener_bind(irh_config *c, size_t i, unsigned count, int exclusive, int *fds);
void irh_listeners_close_fds(int *fds, size_t n);
/* Starts accepting on a worker's sockets of gen (owner: the worker
 * numbered index, on loop): gen->listen_fds[i * gen->nworkers + index] for
 * listener i; accepted fds go to on_accept. NULL when out of memory or a
 * handle cannot start (what started is stopped). */
irh_listener_set *irh_listeners_start(struct ir_worker *owner, uv_loop_t *loop, unsigned index,
                                      struct irh_generation *gen, irh_accept_fn on_accept);
/* Stops accepting (closes the handles; the set frees itself once they are
 * closed). The sockets stay open: they are the generation's. NULL: nothing. */
void irh_listeners_stop(irh_listener_set *set);

#endif /* IRIDIUM_CORE_LISTENER_H */
