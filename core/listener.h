/* listener.h — listening sockets.
 *
 * The main thread binds one SO_REUSEPORT socket per worker per [listen]
 * section before any worker starts, so "address in use" is reported with
 * the config's file:line and the process exits before serving. Each worker
 * then wraps its own sockets in libuv handles; the kernel spreads incoming
 * connections across them.
 */
#ifndef IRIDIUM_CORE_LISTENER_H
#define IRIDIUM_CORE_LISTENER_H

#include "config.h"

struct ir_worker;

/* Binds and listens count sockets per listener into fds[listener * count +
 * i]. On failure reports through irh_config_error, closes what it opened and
 * returns -1. */
int irh_listeners_bind(irh_config *c, unsigned count, int *fds);
void irh_listeners_close_fds(int *fds, size_t n);
/* Starts accepting on the worker's sockets. */
int irh_listeners_start(struct ir_worker *w, const int *fds);
/* Stops accepting (closes the handles). */
void irh_listeners_stop(struct ir_worker *w);

#endif /* IRIDIUM_CORE_LISTENER_H */
