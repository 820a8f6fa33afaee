/* generation.h — one configuration as the server serves it: the INI, the
 * route instances, the router, the TLS contexts and the listening sockets
 * made from it. Start-up makes the first; each reload makes the next from
 * the new INI and the one before it.
 *
 * A generation is held by the server while it is the current one, by each
 * worker that accepts for it, and by each connection accepted under it (a
 * connection keeps the generation it was accepted under to its end, so its
 * requests keep their routes, limits and certificate across reloads). The
 * last release leaves it to the main thread, which frees it
 * (generation_make.h); the modules themselves are the process's
 * (irh_server.modules) and stay loaded. Data only, like process.h, so the
 * connection layer reads it without depending on what makes it.
 */
#ifndef IRIDIUM_CORE_GENERATION_H
#define IRIDIUM_CORE_GENERATION_H

#include <stdatomic.h>
#include <stddef.h>

#include <iridium/module.h>

#include "config.h"

struct irh_router;
struct irh_tls_ctx;

typedef struct irh_generation {
  atomic_uint refs;
  unsigned number;           /* 1 at start, one more per reload */
  irh_config *config;        /* owned, unless borrows_config */
  int borrows_config;        /* `iridium -t`'s: the caller frees it */
  ir_instance_t **instances; /* one per route, held */
  size_t ninstances;
  struct irh_router *router; /* owned */
  struct irh_tls_ctx **tls;  /* one per listener, NULL for cleartext; owned */
  int *listen_fds;           /* [listener * nworkers + worker], owned until retired */
  unsigned nworkers;
  int any_upgrades;            /* some route's module takes upgraded streams */
  size_t modules_upto;         /* the process's modules [0, upto) serve it */
  size_t modules_first_new;    /* ... of which [first_new, upto) came with it */
  ir_module_t **module_map;    /* config->modules[i]'s, between open and start */
  atomic_uint acks;            /* workers done with the step the main thread posted */
  atomic_int worker_failed;    /* a worker_init for a new module failed */
  struct irh_generation *next; /* in the server's list of old ones (main thread) */
} irh_generation;

static inline void irh_generation_hold(irh_generation *g) { atomic_fetch_add(&g->refs, 1); }
/* Any thread. The main thread frees it once refs is 0. */
static inline void irh_generation_release(irh_generation *g) { atomic_fetch_sub(&g->refs, 1); }
#endif /* IRIDIUM_CORE_GENERATION_H */
