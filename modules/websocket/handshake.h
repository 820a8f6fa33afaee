/* handshake.h — the opening handshake of a WebSocket session: RFC 6455
 * section 4 over HTTP/1.1 (GET + Upgrade, answered 101 with
 * Sec-WebSocket-Accept) and RFC 8441 over HTTP/2 (extended CONNECT,
 * answered 200), with origins, subprotocols and permessage-deflate. */
#ifndef WS_HANDSHAKE_H
#define WS_HANDSHAKE_H

#include <iridium/websocket.h>

#include "deflate.h"

typedef struct ws_handshake {
  int h2;            /* RFC 8441 extended CONNECT */
  ir_str key;        /* HTTP/1.1: Sec-WebSocket-Key */
  ir_str subprotocol; /* chosen, or empty (points into the request) */
  ws_pmd_params pmd;
  char pmd_response[160];
} ws_handshake;

/* Checks s's request against opts. 0 and *hs filled; or the HTTP status
 * to refuse with (400, 403, 426) and *reason, a static one-liner. */
int ws_handshake_check(ir_stream_t *s, const ir_ws_options *opts, ws_handshake *hs,
                       const char **reason);

/* Sends the upgrade's answer (101 / 200 and its fields). An ir_error. */
int ws_handshake_accept(ir_stream_t *s, const ws_handshake *hs);

/* Answers status with a one-line text/plain reason (and, for 426, the
 * fields that say what to send). An ir_error. */
int ws_handshake_refuse(ir_stream_t *s, int status, const char *reason);

#endif /* WS_HANDSHAKE_H */
