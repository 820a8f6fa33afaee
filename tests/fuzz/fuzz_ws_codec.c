/* fuzz_ws_codec.c — libFuzzer target: mod_websocket's protocol engine
 * (modules/websocket/codec.c over wslay's frame layer, deflate.c,
 * utf8.c) as a server sees client bytes, with and without
 * permessage-deflate.
 *
 * Input: byte 0 picks the extension parameters (bit 0: deflate agreed,
 * bit 1/2: server/client no context takeover, bits 4-7: the client's
 * window bits - 8 masked to 0..7), byte 1 the limits (max message 1 KiB
 * << (b & 7)), byte 2 how much each write call takes; the rest is the
 * client's byte stream, fed in pieces whose sizes come from the stream's
 * own bytes. Every message is echoed back (so deflate runs too), and what
 * the engine promises is checked: messages within the limit, text that is
 * UTF-8, nothing delivered after a close was queued.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

typedef struct fuzz_state {
  ws_codec *c;
  size_t write_budget; /* bytes each write call takes; 0: all */
  size_t written;
  int closed_seen;
} fuzz_state;

static void on_message(void *user, unsigned op, const uint8_t *msg, size_t len) {
  fuzz_state *f = user;
  assert(op == WS_OP_TEXT || op == WS_OP_BINARY);
  assert(len <= f->c->max_message);
  assert(!f->c->close_queued);
  if (op == WS_OP_TEXT) {
    ws_utf8 u;
    ws_utf8_reset(&u);
    assert(ws_utf8_feed(&u, msg, len) == 0 && ws_utf8_complete(&u));
  }
  ws_buf *b = ws_buf_new(msg, len);
  if (b) {
    ws_codec_send(f->c, op, b);
    ws_buf_unref(b);
  }
}

static void on_pong(void *user) { (void)user; }

static ssize_t on_write(void *user, const uint8_t *bytes, size_t len) {
  fuzz_state *f = user;
  (void)bytes;
  size_t n = f->write_budget && f->write_budget < len ? f->write_budget : len;
  f->written += n;
  return (ssize_t)n;
}

static const ws_codec_cbs cbs = {on_message, on_pong, on_write};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  ws_pmd_params p = {0};
  p.enabled = data[0] & 1;
  p.server_no_context_takeover = (data[0] >> 1) & 1;
  p.client_no_context_takeover = (data[0] >> 2) & 1;
  p.server_bits = 9 + ((data[0] >> 4) % 7);
  p.client_bits = 8 + ((data[0] >> 4) & 7);
  uint64_t max_message = 1024u << (data[1] & 7);
  fuzz_state f = {0};
  f.write_budget = data[2] & 0x3f;
  ws_codec c;
  if (ws_codec_init(&c, &p, max_message, max_message, &cbs, &f) != 0) {
    ws_codec_free(&c);
    return 0;
  }
  f.c = &c;
  data += 3;
  size -= 3;
  while (size) {
    /* Piece sizes from the stream itself: 1..64 bytes. */
    size_t n = (size_t)(data[0] & 0x3f) + 1;
    if (n > size) n = size;
    ws_codec_feed(&c, data, n);
    ws_codec_flush(&c);
    data += n;
    size -= n;
  }
  /* Whatever is queued can be written out. */
  for (int i = 0; i < 1000 && ws_codec_flush(&c) == 1; i++) {
  }
  ws_codec_free(&c);
  ws_pmd_thread_free();
  return 0;
}
