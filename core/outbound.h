/* outbound.h — TCP (and TLS) connections a module opens from a worker
 * (SDK 1.4 outbound_*): name lookup off the loop, connect timeout, GnuTLS
 * client sessions, backpressure both ways, one on_close per connection.
 */
#ifndef IRIDIUM_CORE_OUTBOUND_H
#define IRIDIUM_CORE_OUTBOUND_H

#include <sys/types.h>

#include <iridium/host.h>

struct ir_worker;

/* The SDK calls (host_api.c forwards here); contracts in host.h. */
ir_outbound_t *irh_outbound_open(struct ir_worker *w, const char *host, size_t host_len,
                                 uint16_t port, const ir_outbound_opts *opts,
                                 const ir_outbound_cbs *cbs, void *data);
ssize_t irh_outbound_write(ir_outbound_t *o, const void *bytes, size_t len);
int irh_outbound_pause(ir_outbound_t *o, int paused);
void irh_outbound_close(ir_outbound_t *o);

#endif /* IRIDIUM_CORE_OUTBOUND_H */
