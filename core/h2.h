/* h2.h — HTTP/2 on a connection, with nghttp2.
 *
 * The session reads with nghttp2_session_mem_recv and writes through its
 * send callbacks into the connection's output queue, once per loop turn
 * (the protocol's before_flush hook), so a turn's frames leave in one
 * writev. Response bodies wait in each stream's queue and are framed with
 * nghttp2's no-copy data path as the peer's window allows; request bodies
 * open the window only as modules consume them. The limits against known
 * HTTP/2 attacks (flood and reset rates, stalled streams, idle PINGs) live
 * here too; see h2.c.
 */
#ifndef IRIDIUM_CORE_H2_H
#define IRIDIUM_CORE_H2_H

#include <stddef.h>
#include <stdint.h>

#include <iridium/module.h>

#include "config.h"

struct irh_conn;

/* Starts HTTP/2 on c (cleartext prior knowledge or ALPN h2) under limits;
 * connect_protocol: offer SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441), as
 * some module takes upgraded streams. Its state is c->proto_state. */
int irh_h2_start(struct irh_conn *c, const irh_config *limits, int connect_protocol);
/* Whether a decoded HTTP2-Settings payload is one nghttp2 takes as a
 * SETTINGS frame: whole entries, not too many, values in range. Checked
 * before the 101, so a bad one gets a 400 (RFC 9113 3.2.1). */
int irh_h2_upgrade_settings_ok(const uint8_t *settings, size_t len);
/* Starts HTTP/2 after "101 Switching Protocols" to h2c: the HTTP/1.1
 * request's stream becomes stream 1; settings/len are the decoded
 * HTTP2-Settings header. On failure (-1) upgraded is untouched and still
 * the caller's, which finishes it; on success HTTP/2 owns it. */
int irh_h2_start_upgrade(struct irh_conn *c, const irh_config *limits, int connect_protocol,
                         ir_stream_t *upgraded, const uint8_t *settings, size_t len);

#endif /* IRIDIUM_CORE_H2_H */
