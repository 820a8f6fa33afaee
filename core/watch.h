/* watch.h — fd watches for modules whose libraries own a socket (SDK 1.4
 * watch_*): a uv_poll_t on the worker's loop, stopped exactly once.
 */
#ifndef IRIDIUM_CORE_WATCH_H
#define IRIDIUM_CORE_WATCH_H

#include <iridium/host.h>

struct ir_worker;

/* The SDK calls (host_api.c forwards here); contracts in host.h. */
ir_watch_t *irh_watch_start(struct ir_worker *w, int fd, uint32_t events, ir_watch_cb cb,
                            void *data);
int irh_watch_change(ir_watch_t *wt, uint32_t events);
void irh_watch_stop(ir_watch_t *wt);

#endif /* IRIDIUM_CORE_WATCH_H */
