/* server.h — the process-wide state and its start/stop sequence.
 *
 * The main thread loads the config and the modules, binds every listener,
 * creates the module instances, starts one worker thread per configured
 * worker, then waits on its own loop for SIGTERM/SIGINT. The first signal
 * asks every worker to drain; the second exits at once.
 */
#ifndef IRIDIUM_CORE_SERVER_H
#define IRIDIUM_CORE_SERVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"

struct irh_modules;
struct irh_router;
struct ir_worker;

typedef struct irh_server {
  irh_config *config;          /* owned */
  struct irh_modules *modules; /* owned */
  struct irh_router *router;   /* owned */
  struct ir_worker **workers;  /* owned; config->workers of them */
  unsigned nworkers;
  int *listen_fds;                  /* [listener * nworkers + worker], bound and listening */
  struct irh_tls_ctx **tls;         /* one per listener, NULL for cleartext; owned */
  int any_upgrades;                 /* some route's module takes upgraded streams */
  atomic_uint_fast64_t connections; /* open connections, all workers */
  atomic_uint_fast64_t next_conn_id;
  atomic_int stopping;
} irh_server;

/* Runs the server on a loaded config until it is stopped. Returns the
 * process exit status. */
int irh_server_run(irh_config *c);

/* Loads modules and checks routes and binds (then releases) listeners, for
 * `iridium -t`. Returns 0 when everything is valid. */
int irh_server_check(irh_config *c);

#endif /* IRIDIUM_CORE_SERVER_H */
