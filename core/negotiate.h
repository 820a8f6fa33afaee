/* negotiate.h — which protocol a connection speaks, decided in one place.
 *
 * An accepted connection starts here: TLS (whose handshake reports the
 * ALPN result back here), the cleartext preface sniff (h2c prior
 * knowledge on an "http/1.1, h2c" listener), and the h2c upgrade that
 * HTTP/1.1 asks for (irh_h1_upgrades) all end in starting h1.c or h2.c
 * with the limits the connection runs under. Nothing below this file
 * (conn.c, tls.c) knows a protocol.
 */
#ifndef IRIDIUM_CORE_NEGOTIATE_H
#define IRIDIUM_CORE_NEGOTIATE_H

struct irh_listener;

/* A listener's accepted fd (owned from now on): makes the connection,
 * starts TLS or a protocol and reads. The listeners' callback
 * (irh_server.on_accept). Worker's thread. */
void irh_negotiate_accept(struct irh_listener *l, int fd);

#endif /* IRIDIUM_CORE_NEGOTIATE_H */
