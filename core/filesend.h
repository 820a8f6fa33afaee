/* filesend.h — file bodies handed over with ir_resp_send_file: the range
 * goes to the protocol as file blocks (the connection writes them), read
 * ahead in cleartext, and bounded per connection by the protocol. */
#ifndef IRIDIUM_CORE_FILESEND_H
#define IRIDIUM_CORE_FILESEND_H

#include <stdint.h>

#include <iridium/module.h>

/* The SDK call (host_api.c forwards to it). Stream's worker. */
int irh_stream_resp_send_file(ir_stream_t *s, int fd, uint64_t offset, uint64_t len);

#endif /* IRIDIUM_CORE_FILESEND_H */
