/* tls.h — GnuTLS over a connection's buffers.
 *
 * A TLS listener has an irh_tls_ctx (made on the main thread before the
 * workers start): the credentials of every [certificate] section (GnuTLS
 * picks one per handshake by SNI and the client's algorithms), the
 * listener's priority string, its ALPN list and a session-ticket key shared
 * by all workers so that resumption works whichever worker a client lands
 * on. A connection's session reads ciphertext from a buffer the socket
 * fills and writes ciphertext into the connection's wire queue; no call
 * ever blocks. After the handshake, the session reports the ALPN result to
 * its owner's hook (negotiate.c), which starts a protocol: tls.c knows none.
 */
#ifndef IRIDIUM_CORE_TLS_H
#define IRIDIUM_CORE_TLS_H

#include <stddef.h>

#include "config.h"

struct irh_conn;

typedef struct irh_tls_ctx irh_tls_ctx;
typedef struct irh_tls_conn irh_tls_conn;

/* Loads the certificates and checks the listener's TLS settings; problems
 * go through irh_config_error (file:line) and give NULL. Main thread. */
irh_tls_ctx *irh_tls_ctx_new(irh_config *c, const irh_listen_cfg *l);
void irh_tls_ctx_free(irh_tls_ctx *t);

/* Called once the handshake is done with the protocol ALPN selected (not
 * NUL-terminated; len 0 when the client offered none): starts a protocol
 * on c, or returns -1 to close it. */
typedef int (*irh_tls_handshake_fn)(struct irh_conn *c, const char *alpn, size_t len);

/* Starts a server session on a freshly accepted connection and puts it
 * between the socket and the protocol (irh_conn_crypto: ciphertext in,
 * handshake, then decryption for the protocol; sealing c->out into c->wire
 * up to its first file range, and the bytes the connection read for a
 * range; a close_notify on a connection closing when flushed, once
 * nothing is left). */
int irh_tls_conn_start(struct irh_conn *c, irh_tls_ctx *t, irh_tls_handshake_fn on_handshake);

#endif /* IRIDIUM_CORE_TLS_H */
