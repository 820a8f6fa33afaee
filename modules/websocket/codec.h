/* codec.h — one WebSocket endpoint's protocol engine (RFC 6455 server
 * side, with permessage-deflate): bytes from the peer in, whole messages
 * out; messages in, frames out. Framing and unmasking are wslay's frame
 * layer; this adds what RFC 6455 asks above it: opcodes, masking and RSV
 * rules, fragmentation with control frames in between, UTF-8 checked as
 * bytes arrive, the close handshake, size limits, and a send queue whose
 * oldest messages can be dropped. It knows no SDK: the session glues it to
 * a stream, and the fuzz target drives it alone. */
#ifndef WS_CODEC_H
#define WS_CODEC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <wslay/wslay.h>

#include "deflate.h"
#include "utf8.h"

/* A message body shared by every queue that holds it (one broadcast
 * reaches many sessions, on several workers): refcounted, immutable. */
typedef struct ws_buf {
  atomic_uint refs;
  uint32_t room; /* broadcast: the room it belongs to */
  uint32_t type; /* broadcast: IR_WS_TEXT or IR_WS_BINARY */
  size_t len;
  uint8_t data[];
} ws_buf;

ws_buf *ws_buf_new(const void *data, size_t len); /* refs 1; NULL out of memory */
static inline ws_buf *ws_buf_ref(ws_buf *b) {
  atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  return b;
}
void ws_buf_unref(ws_buf *b);

/* Opcodes (RFC 6455 5.2). */
enum { WS_OP_CONT = 0, WS_OP_TEXT = 1, WS_OP_BINARY = 2, WS_OP_CLOSE = 8, WS_OP_PING = 9,
       WS_OP_PONG = 10 };

typedef struct ws_codec_cbs {
  /* A whole data message (text is valid UTF-8), borrowed for the call. */
  void (*on_message)(void *user, unsigned opcode, const uint8_t *msg, size_t len);
  /* A pong came. */
  void (*on_pong)(void *user);
  /* Writes frame bytes: the count taken (0 when none can be now), or -1
   * when the stream is gone. */
  ssize_t (*write)(void *user, const uint8_t *bytes, size_t len);
} ws_codec_cbs;

#define WS_CTRL_MAX 125 /* largest control frame payload (RFC 6455 5.5) */

/* A queued frame or message. */
typedef struct ws_out {
  struct ws_out *next;
  ws_buf *buf; /* a data message's payload (shared) */
  uint8_t opcode;
  uint8_t small_len;
  uint8_t small[]; /* a control frame's own payload: WS_CTRL_MAX bytes allocated */
} ws_out;

typedef struct ws_codec {
  wslay_frame_context_ptr frames;
  const ws_codec_cbs *cbs;
  void *user;
  uint64_t max_message;
  uint64_t max_frame;
  ws_pmd *pmd; /* NULL unless permessage-deflate was agreed */

  /* input */
  const uint8_t *in;
  size_t in_len;
  uint64_t fed;    /* bytes handed to wslay */
  uint64_t framed; /* bytes of frames (headers and payload) it gave back */
  uint64_t frame_off; /* bytes of the current frame's payload seen */
  uint8_t frame_op;
  uint8_t frame_fin;
  uint8_t frame_rsv1;
  uint8_t msg_op;         /* the data message in progress: TEXT, BINARY or 0 */
  uint8_t msg_compressed; /* its first frame had RSV1 */
  ws_utf8 utf8;
  uint8_t *msg; /* the message so far */
  size_t msg_len;
  size_t msg_cap;
  size_t msg_checked; /* inflated bytes UTF-8-checked so far */
  uint8_t ctrl[125];
  uint8_t ctrl_len;

  /* output */
  ws_out *ctrl_head; /* control frames, sent first at a frame boundary */
  ws_out **ctrl_tail;
  ws_out *data_head; /* data messages, oldest first */
  ws_out **data_tail;
  size_t queued;     /* payload bytes of data messages not yet written */
  ws_out *cur;       /* the message being written */
  const uint8_t *cur_data; /* its payload as sent (compressed or not) */
  size_t cur_len;
  size_t cur_off;     /* payload bytes of cur written */
  size_t frame_len;   /* the frame being written */
  size_t frame_sent;
  uint8_t cur_rsv1;
  uint8_t *zout; /* compressed payload of cur */
  size_t zout_len;
  size_t zout_cap;
  uint8_t write_failed;
  uint8_t frame_active; /* wslay holds a partly written frame */
  uint8_t ctrl_active;  /* ... and it is ctrl_head */

  /* state */
  uint8_t close_sent;
  uint8_t close_queued;
  uint8_t close_received;
  uint8_t read_stopped; /* a close came, or the connection failed */
  uint8_t failed;       /* we failed it (RFC 6455 7.1.7): no close handshake */
  uint16_t code_sent;
  uint16_t code_received; /* 1005 when the peer's close had no code */
  uint8_t reason_received[123];
  uint8_t reason_len;

  /* counters for metrics: payload bytes as on the wire */
  uint64_t wire_in;
  uint64_t wire_out;
  uint64_t bytes_in; /* payload after inflation */
  uint64_t bytes_out;
  uint64_t messages_in;
  uint64_t messages_out;
} ws_codec;

/* pmd NULL: no extension. 0 or -1 out of memory. */
int ws_codec_init(ws_codec *c, const ws_pmd_params *pmd, uint64_t max_message,
                  uint64_t max_frame, const ws_codec_cbs *cbs, void *user);
void ws_codec_free(ws_codec *c);

/* Takes bytes from the peer (all of them; after a close or a protocol
 * failure the rest is dropped). Messages and pongs reach the callbacks;
 * pongs and close replies are queued: call ws_codec_flush after. */
void ws_codec_feed(ws_codec *c, const uint8_t *bytes, size_t len);

/* Queues a data message (takes a reference). 0; -1 once a close is queued. */
int ws_codec_send(ws_codec *c, unsigned opcode, ws_buf *buf);
/* Queues a ping (up to 125 bytes). 0, -1 (closing, or too long). */
int ws_codec_ping(ws_codec *c, const uint8_t *payload, size_t len);
/* Queues a close frame (code 0: none) and stops reading. 0; -1 when one
 * was queued already. Messages queued before it still go out first. */
int ws_codec_close(ws_codec *c, unsigned code, const char *reason, size_t len);
/* Fails the connection: a close with code, nothing else sent or read. */
void ws_codec_fail(ws_codec *c, unsigned code, const char *reason);

/* Drops queued data messages not yet started, oldest first, until at most
 * keep bytes are queued. Returns how many were dropped. */
size_t ws_codec_drop_oldest(ws_codec *c, size_t keep);

/* Writes what it can. 0: everything queued went out; 1: blocked (call
 * again when writable); -1: the stream failed. */
int ws_codec_flush(ws_codec *c);

/* Frees wslay's frame context (about 4 KiB) when it holds nothing: no
 * partial frame either way. The next feed or flush makes a new one. For
 * idle sessions. Returns 1 when it was freed. */
int ws_codec_release(ws_codec *c);

/* RFC 6455 7.4: a code an endpoint may send or receive in a close frame. */
int ws_close_code_valid(unsigned code);

#endif /* WS_CODEC_H */
