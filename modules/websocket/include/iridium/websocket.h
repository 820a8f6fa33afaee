/* iridium/websocket.h — the "websocket" service, version 1, that
 * mod_websocket offers other modules through the service registry:
 * message-level WebSocket sessions on upgraded streams, over HTTP/1.1
 * Upgrade (RFC 6455) and HTTP/2 extended CONNECT (RFC 8441) alike.
 *
 *   const ir_websocket_v1 *ws = ir_service_lookup(IR_WEBSOCKET_SERVICE, 1, NULL);
 *
 * A module whose route takes upgraded streams (IR_MODULE_UPGRADES) calls
 * ws->accept() from on_request, and forwards its stream callbacks
 * (on_body, on_body_end, on_writable, on_close, on_stream_drain) to the
 * service's stream_* entries for streams that became sessions. Everything
 * runs on the stream's worker. The struct only grows at the end; read an
 * entry only when struct_size covers it.
 */
#ifndef IRIDIUM_WEBSOCKET_H
#define IRIDIUM_WEBSOCKET_H

#include <iridium/iridium.h>

#define IR_WEBSOCKET_SERVICE "websocket"

typedef struct ir_ws_session ir_ws_session_t;

/* Message types. */
#define IR_WS_TEXT 1u   /* UTF-8, validated before on_message */
#define IR_WS_BINARY 2u /* any bytes */

/* Close codes (RFC 6455 7.4.1) the service sends itself. */
#define IR_WS_CLOSE_NORMAL 1000
#define IR_WS_CLOSE_GOING_AWAY 1001     /* server shutdown */
#define IR_WS_CLOSE_PROTOCOL 1002       /* a frame broke RFC 6455 */
#define IR_WS_CLOSE_UNSUPPORTED 1003    /* a message type the endpoint takes not */
#define IR_WS_CLOSE_ABNORMAL 1006       /* reported only: no close frame came */
#define IR_WS_CLOSE_BAD_DATA 1007       /* text that is not UTF-8 */
#define IR_WS_CLOSE_POLICY 1008         /* e.g. a consumer too slow */
#define IR_WS_CLOSE_TOO_BIG 1009        /* over max_message_size */
#define IR_WS_CLOSE_INTERNAL 1011       /* no pong, backend gone */

/* A session's callbacks (module-owned, unchanged until on_close returned).
 * NULL entries are skipped. */
typedef struct ir_ws_callbacks {
  uint32_t struct_size; /* sizeof(ir_ws_callbacks) */
  /* A whole message (reassembled, inflated, UTF-8 checked for text),
   * borrowed for the call. */
  void (*on_message)(ir_ws_session_t *ws, unsigned type, const uint8_t *msg, size_t len,
                     void *data);
  /* A send that returned IR_EAGAIN may be tried again. */
  void (*on_writable)(ir_ws_session_t *ws, void *data);
  /* Exactly once, when the session ends: the close code received from the
   * peer (or sent, when the service closed first; 1006 when no close frame
   * came). reason is borrowed. The session handle is invalid afterwards;
   * the stream's on_close follows or is in progress. */
  void (*on_close)(ir_ws_session_t *ws, unsigned code, const char *reason, size_t reason_len,
                   void *data);
} ir_ws_callbacks;

/* How to accept (module-owned, read during accept only; zeros take the
 * defaults). */
typedef struct ir_ws_options {
  uint32_t struct_size;
  const char *const *subprotocols; /* offered, NUL-terminated; the client's first offer
                                    * that is here is chosen */
  size_t nsubprotocols;
  const char *const *origins;      /* allowed Origin values; none: any origin */
  size_t norigins;
  uint64_t max_message_size;       /* 0: 1 MiB */
  uint64_t max_frame_size;         /* 0: max_message_size */
  uint64_t ping_interval_ms;       /* 0: no pings */
  uint64_t pong_timeout_ms;        /* 0: 20 s */
  uint64_t close_timeout_ms;       /* waiting for the peer's close; 0: 5 s */
  uint64_t send_queue;             /* bytes queued toward the peer before send says
                                    * IR_EAGAIN; 0: 1 MiB */
  int deflate;                     /* accept permessage-deflate (RFC 7692) */
  int deflate_max_window_bits;     /* 9..15; 0: 15 */
  int deflate_context_takeover;    /* keep deflate contexts between messages (better
                                    * ratios, up to ~300 KiB per session); 0: none kept */
  int defer;                       /* 1: check now, answer the upgrade later (open) */
} ir_ws_options;

typedef struct ir_websocket_v1 {
  uint32_t struct_size; /* sizeof(ir_websocket_v1) of the service */
  /* Checks s's handshake (method, version, key, origin, extensions) and
   * answers the upgrade (101, or 200 on HTTP/2) unless opts->defer. On a
   * bad handshake it answers the error itself (400, 403 or 426 with a
   * one-line reason) and returns NULL: the stream then ends as usual. NULL
   * too out of memory (then the module answers). */
  ir_ws_session_t *(*accept)(ir_stream_t *s, const ir_ws_options *opts,
                             const ir_ws_callbacks *cbs, void *data);
  /* A deferred session's answer: IR_OK and the upgrade goes out; or, with
   * a status >= 400, that status and reason instead (the session's on_close
   * then follows with 1006). */
  int (*open)(ir_ws_session_t *ws, int status, const char *reason);
  /* Queues a message (copied). IR_OK; IR_EAGAIN when send_queue bytes are
   * queued already (on_writable follows); IR_EINVAL for a type that is
   * neither, or text that is not UTF-8; IR_ECLOSED once closing. */
  int (*send)(ir_ws_session_t *ws, unsigned type, const void *msg, size_t len);
  /* A ping with up to 125 bytes of payload. IR_OK, IR_EINVAL, IR_ECLOSED. */
  int (*ping)(ir_ws_session_t *ws, const void *payload, size_t len);
  /* Starts the close handshake with code (1000..4999 that may be sent)
   * and a reason of up to 123 bytes. IR_OK; IR_EINVAL; IR_ECLOSED when
   * closing already. */
  int (*close)(ir_ws_session_t *ws, unsigned code, const char *reason, size_t reason_len);
  /* The chosen subprotocol, empty when none. Valid for the session. */
  ir_str (*subprotocol)(ir_ws_session_t *ws);
  /* The session's user data (accept's data until changed). */
  void (*set_data)(ir_ws_session_t *ws, void *data);
  void *(*data)(ir_ws_session_t *ws);
  /* The upgraded stream under the session. */
  ir_stream_t *(*stream)(ir_ws_session_t *ws);
  /* Bytes queued toward the peer and not yet written. */
  size_t (*queued)(ir_ws_session_t *ws);
  /* paused non-zero: no on_message until called with 0; the peer's bytes
   * wait unconsumed, so flow control holds it back. IR_OK. */
  int (*pause)(ir_ws_session_t *ws, int paused);

  /* The module's stream callbacks, forwarded for a stream that accept
   * turned into a session (ir_stream_data(s) belongs to the service then;
   * keep per-session state with set_data). */
  int (*stream_body)(ir_stream_t *s, const uint8_t *bytes, size_t len);
  int (*stream_body_end)(ir_stream_t *s);
  void (*stream_writable)(ir_stream_t *s);
  void (*stream_close)(ir_stream_t *s, int reason);
  void (*stream_drain)(ir_stream_t *s, uint64_t ms_left);
} ir_websocket_v1;

#endif /* IRIDIUM_WEBSOCKET_H */
