/* reload.h — reloading the configuration (SIGHUP, `iridium -s reload`)
 * without dropping a connection.
 *
 * The main thread reads and checks the INI again and makes its generation
 * (generation.h) next to the serving one; any problem is logged with its
 * file:line and the server keeps what it had. Then, in steps posted to
 * every worker and polled here: worker_init for the modules the reload
 * loaded (a failure undoes them all), then each worker accepts for the new
 * generation and stops accepting for the old. Connections already open
 * finish under the generation they were accepted under; it is freed once
 * the last of them has closed. A reload asked for while one runs follows
 * it.
 */
#ifndef IRIDIUM_CORE_RELOAD_H
#define IRIDIUM_CORE_RELOAD_H

#include "process.h"

typedef struct irh_reload {
  irh_server *srv;
  struct irh_generation *pending; /* being taken up by the workers, held */
  int step;                       /* what the workers were last posted */
  int again;                      /* asked for while one ran (or before all served) */
} irh_reload;

/* SIGHUP: reload now, or once the running reload is done. Main thread. */
void irh_reload_request(irh_reload *r);
/* From the main loop's poll: the next step once every worker did the last,
 * and frees the old generations no one holds any more. */
void irh_reload_poll(irh_reload *r);
/* Once every worker has ended: frees every generation. */
void irh_reload_end(irh_reload *r);

#endif /* IRIDIUM_CORE_RELOAD_H */
