/* server.h — the process's start/stop sequence (its state: process.h).
 *
 * The main thread makes the config's first generation (generation_make.h:
 * modules, listeners, instances), starts one worker thread per configured
 * worker, then waits on its own loop for signals: SIGHUP reloads
 * (reload.h), SIGUSR1 reopens the logs, and the first SIGTERM/SIGINT asks
 * every worker to drain; the second exits at once. A worker that
 * cannot start (a module's worker_init failed) says so in one line and the
 * others are stopped: exit status 1. "started" is logged once all serve.
 */
#ifndef IRIDIUM_CORE_SERVER_H
#define IRIDIUM_CORE_SERVER_H

#include "config.h"
#include "process.h"

/* Runs the server on a loaded config (taken: freed by the server) until it
 * is stopped. Returns the process exit status. */
int irh_server_run(irh_config *c);

/* Loads modules and checks routes, binds (then releases) listeners, runs
 * the modules' init, instance_create and worker_init (on a throwaway
 * worker), for `iridium -t`. Returns 0 when everything is valid. */
int irh_server_check(irh_config *c);

#endif /* IRIDIUM_CORE_SERVER_H */
