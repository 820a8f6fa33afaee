/* tls.h — GnuTLS over a connection's buffers.
 *
 * A TLS listener has an irh_tls_ctx (made on the main thread before the
 * workers start): the credentials of every [certificate] section (GnuTLS
 * picks one per handshake by SNI and the client's algorithms), the
 * listener's priority string, its ALPN list and a session-ticket key shared
 * by all workers so that resumption works whichever worker a client lands
 * on. A connection's session reads ciphertext from a buffer the socket
 * fills and writes ciphertext into the connection's wire queue; no call
 * ever blocks. After the handshake, ALPN picks HTTP/2 or HTTP/1.1.
 */
#ifndef IRIDIUM_CORE_TLS_H
#define IRIDIUM_CORE_TLS_H

#include <stddef.h>

#include "config.h"

struct irh_conn;
/* Plaintext bytes per record: the worker's buffer for gathering them. */
#define IRH_TLS_STAGE_SIZE 16384

typedef struct irh_tls_ctx irh_tls_ctx;
typedef struct irh_tls_conn irh_tls_conn;

/* Loads the certificates and checks the listener's TLS settings; problems
 * go through irh_config_error (file:line) and give NULL. Main thread. */
irh_tls_ctx *irh_tls_ctx_new(irh_config *c, const irh_listen_cfg *l);
void irh_tls_ctx_free(irh_tls_ctx *t);

/* Starts a server session on a freshly accepted connection. */
int irh_tls_conn_start(struct irh_conn *c, irh_tls_ctx *t);
/* Ciphertext arrived (borrowed): handshake, then decrypt for the protocol. */
void irh_tls_on_read(struct irh_conn *c, const char *data, size_t len);
/* The protocol reads again: decrypt what was held back meanwhile. */
void irh_tls_want_read(struct irh_conn *c);
/* Encrypts the queued plaintext (c->out) into c->wire, up to the first
 * file range; on a connection closing when flushed, ends with a
 * close_notify alert once nothing is left. */
void irh_tls_seal(struct irh_conn *c);
/* Encrypts len bytes (borrowed) into c->wire: a file range the connection
 * read. 0, or -1 when TLS failed (which closed the connection). */
int irh_tls_seal_bytes(struct irh_conn *c, const char *data, size_t len);
void irh_tls_conn_free(struct irh_conn *c);

#endif /* IRIDIUM_CORE_TLS_H */
