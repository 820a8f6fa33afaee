/* h1.h — HTTP/1.1 on a connection, parsed with llhttp.
 *
 * One request is active at a time. When a request's message is complete
 * while its response is still being produced, the parser pauses and the
 * unparsed bytes (pipelined requests) wait in `pending`; reading from the
 * socket stops until the response ends, so responses leave in request order
 * and a client cannot make the server buffer without bound. The same pause
 * holds back a body the module has not consumed.
 */
#ifndef IRIDIUM_CORE_H1_H
#define IRIDIUM_CORE_H1_H

#include <stddef.h>
#include <stdint.h>

#include <iridium/module.h>

#include "config.h"

struct irh_conn;

/* The h2c upgrade (RFC 7540 3.2), given by whoever starts HTTP/1.1
 * (negotiate.c) when the connection may switch: h1.c decodes the request's
 * HTTP2-Settings and answers 101, and hands the request over here. */
typedef struct irh_h1_upgrades {
  /* Whether a decoded HTTP2-Settings payload is acceptable (else 400). */
  int (*settings_ok)(const uint8_t *settings, size_t len);
  /* After the 101: starts HTTP/2 with s as stream 1. -1 on failure, s
   * still the caller's (h1.c finishes it and closes the connection). */
  int (*to_h2)(struct irh_conn *c, ir_stream_t *s, const uint8_t *settings, size_t len);
} irh_h1_upgrades;

/* Sets up HTTP/1.1 on a freshly accepted connection (or after ALPN or the
 * preface sniff) under limits; h2c is NULL where no upgrade is offered.
 * Its state (c->proto_state) comes from the worker's slab. -1 when out
 * of memory. */
int irh_h1_start(struct irh_conn *c, const irh_config *limits, const irh_h1_upgrades *h2c);

#endif /* IRIDIUM_CORE_H1_H */
