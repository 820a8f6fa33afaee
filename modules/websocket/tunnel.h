/* tunnel.h — the `tunnel` mode: each session bridges binary messages to a
 * backend TCP address through the SDK's outbound connections (like
 * websockify or lighttpd's mod_wstunnel). */
#ifndef WS_TUNNEL_H
#define WS_TUNNEL_H

#include "session.h"

/* Starts a tunnel for s: the upgrade is answered once the backend
 * connected (502 when it cannot be reached). An ir_error. */
int ws_tunnel_start(ir_stream_t *s, const ir_ws_options *opts, const char *host, uint16_t port);

#endif /* WS_TUNNEL_H */
