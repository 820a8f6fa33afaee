/* process.h — the state the whole process shares (irh_server): the
 * modules, the configuration generations, the workers and the counters
 * every worker updates. Data only, so that every layer may read it without depending on
 * the start-up sequence (server.c), which sits on top of all of them.
 */
#ifndef IRIDIUM_CORE_PROCESS_H
#define IRIDIUM_CORE_PROCESS_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"

struct irh_modules;
struct irh_generation;
struct irh_listener;
struct ir_worker;

/* What a listener does with an accepted fd (owned from then on): set by the
 * process's owner (server.c: irh_negotiate_accept), so that neither the
 * worker nor the listener knows connections or protocols. */
typedef void (*irh_accept_fn)(struct irh_listener *l, int fd);

typedef struct irh_server {
  struct irh_modules *modules;      /* every module loaded since start; owned */
  struct irh_generation *current;   /* what new connections get; held; main thread */
  struct irh_generation *old;       /* earlier ones, until their last holder lets go; main */
  struct ir_worker **workers;       /* owned; nworkers of them */
  unsigned nworkers;                /* the first config's workers: a reload keeps them */
  irh_accept_fn on_accept;          /* every listener's accepted connections */
  atomic_uint_fast64_t connections; /* open connections, all workers */
  atomic_uint_fast64_t next_conn_id;
  uint64_t started_ms; /* wall clock when the workers were made (server_info) */
  atomic_int stopping;
  atomic_int start_failed; /* a worker could not start; the first to fail reported it */
} irh_server;

/* The serving server, for the SDK calls that get no worker to start from
 * (worker_count, worker_at in worker.c). The only process-wide pointer to
 * the server (everything else gets it from its worker or its caller), set
 * only by server.c: once every worker of irh_server_run exists and before
 * any starts (so it is there from the first worker_init on), and back to
 * NULL once every worker's loop has ended (after the last worker_exit),
 * before the workers are freed. NULL under `iridium -t`, whose trial worker
 * serves nothing. Any thread reads it (acquire; set with release). */
extern _Atomic(irh_server *) irh_serving;

#endif /* IRIDIUM_CORE_PROCESS_H */
