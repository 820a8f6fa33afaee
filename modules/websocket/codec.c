/* codec.c — the WebSocket protocol engine over wslay's frame layer (see
 * codec.h). Input: wslay_frame_recv hands out unmasked pieces of frames;
 * each frame's first piece is checked (mask, RSV, opcode, sizes), data
 * pieces are UTF-8-checked (text) or inflated, control payloads collected.
 * Output: control frames first at every frame boundary, data messages in
 * frames of at most OUT_FRAME bytes, each compressed (when agreed) only
 * when it starts, so that dropping a queued message never breaks the
 * peer's inflate context. */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

#define OUT_FRAME 65536u   /* largest frame we send: pings can pass between */
#define DEFLATE_MIN 32u    /* smaller messages go uncompressed (RFC 7692 allows it) */
#define KEEP_BUFFER 4096u  /* receive/compress buffers larger than this are freed */

ws_buf *ws_buf_new(const void *data, size_t len) {
  ws_buf *b = malloc(sizeof(*b) + len);
  if (!b) return NULL;
  atomic_init(&b->refs, 1);
  b->room = 0;
  b->type = 0;
  b->len = len;
  if (len) memcpy(b->data, data, len);
  return b;
}

void ws_buf_unref(ws_buf *b) {
  if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) free(b);
}

int ws_close_code_valid(unsigned code) {
  return (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
         (code >= 3000 && code <= 4999);
}

/* ---- wslay's I/O callbacks ---- */

static ssize_t frames_recv(uint8_t *buf, size_t len, int flags, void *user) {
  ws_codec *c = user;
  (void)flags;
  size_t n = c->in_len < len ? c->in_len : len;
  if (!n) return 0; /* wslay: WANT_READ */
  memcpy(buf, c->in, n);
  c->in += n;
  c->in_len -= n;
  c->fed += n;
  return (ssize_t)n;
}

static ssize_t frames_send(const uint8_t *data, size_t len, int flags, void *user) {
  ws_codec *c = user;
  (void)flags;
  ssize_t n = c->cbs->write(c->user, data, len);
  if (n < 0) c->write_failed = 1;
  return n > 0 ? n : 0; /* wslay: WANT_WRITE */
}

static int frames_genmask(uint8_t *buf, size_t len, void *user) {
  (void)buf, (void)len, (void)user;
  return -1; /* a server never masks */
}

static const struct wslay_frame_callbacks frame_cbs = {frames_send, frames_recv, frames_genmask};

int ws_codec_init(ws_codec *c, const ws_pmd_params *pmd, uint64_t max_message,
                  uint64_t max_frame, const ws_codec_cbs *cbs, void *user) {
  memset(c, 0, sizeof(*c));
  c->cbs = cbs;
  c->user = user;
  c->max_message = max_message;
  c->max_frame = max_frame;
  c->ctrl_tail = &c->ctrl_head;
  c->data_tail = &c->data_head;
  ws_utf8_reset(&c->utf8);
  if (pmd && pmd->enabled) {
    c->pmd = malloc(sizeof(*c->pmd));
    if (!c->pmd) return -1;
    ws_pmd_init(c->pmd, pmd);
  }
  return 0;
}

/* wslay's context, made when first needed (and again after a release). */
static int frames_ready(ws_codec *c) {
  return c->frames || wslay_frame_context_init(&c->frames, &frame_cbs, c) == 0;
}

int ws_codec_release(ws_codec *c) {
  if (!c->frames || c->fed != c->framed || c->frame_active) return 0;
  wslay_frame_context_free(c->frames);
  c->frames = NULL;
  return 1;
}

static void out_free(ws_out *o) {
  ws_buf_unref(o->buf);
  free(o);
}

static void free_list(ws_out *o) {
  while (o) {
    ws_out *next = o->next;
    out_free(o);
    o = next;
  }
}

void ws_codec_free(ws_codec *c) {
  if (c->frames) wslay_frame_context_free(c->frames);
  c->frames = NULL;
  free_list(c->ctrl_head);
  free_list(c->data_head);
  if (c->cur) out_free(c->cur);
  c->ctrl_head = c->data_head = c->cur = NULL;
  if (c->pmd) ws_pmd_free(c->pmd);
  free(c->pmd);
  free(c->msg);
  free(c->zout);
  c->pmd = NULL;
  c->msg = c->zout = NULL;
}

/* ---- output queue ---- */

static ws_out *ctrl_frame(ws_codec *c, unsigned opcode, const uint8_t *p, size_t len) {
  ws_out *o = calloc(1, sizeof(*o) + WS_CTRL_MAX); /* a pong's payload may be replaced */
  if (!o) return NULL;
  o->opcode = (uint8_t)opcode;
  o->small_len = (uint8_t)len;
  if (len) memcpy(o->small, p, len);
  *c->ctrl_tail = o;
  c->ctrl_tail = &o->next;
  return o;
}

int ws_codec_send(ws_codec *c, unsigned opcode, ws_buf *buf) {
  if (c->close_queued) return -1;
  ws_out *o = calloc(1, sizeof(*o));
  if (!o) return -1;
  o->opcode = (uint8_t)opcode;
  o->buf = ws_buf_ref(buf);
  *c->data_tail = o;
  c->data_tail = &o->next;
  c->queued += buf->len;
  return 0;
}

int ws_codec_ping(ws_codec *c, const uint8_t *payload, size_t len) {
  if (c->close_queued || len > 125) return -1;
  return ctrl_frame(c, WS_OP_PING, payload, len) ? 0 : -1;
}

int ws_codec_close(ws_codec *c, unsigned code, const char *reason, size_t len) {
  if (c->close_queued) return -1;
  uint8_t p[125];
  size_t n = 0;
  if (code) {
    if (len > 123) len = 123;
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (len) memcpy(p + 2, reason, len);
    n = 2 + len;
  }
  c->close_queued = 1;
  c->code_sent = (uint16_t)(code ? code : 1005);
  /* Reading goes on, for the peer's close; its data is dropped. */
  return ctrl_frame(c, WS_OP_CLOSE, p, n) ? 0 : -1;
}

void ws_codec_fail(ws_codec *c, unsigned code, const char *reason) {
  c->read_stopped = 1;
  c->failed = 1;
  if (c->close_queued) return;
  /* Nothing more of ours: the close goes next (after a frame in flight). */
  free_list(c->data_head);
  c->data_head = NULL;
  c->data_tail = &c->data_head;
  c->queued = c->cur ? c->cur->buf->len : 0;
  ws_codec_close(c, code, reason, reason ? strlen(reason) : 0);
}

size_t ws_codec_drop_oldest(ws_codec *c, size_t keep) {
  size_t dropped = 0;
  while (c->data_head && c->queued > keep) {
    ws_out *o = c->data_head;
    c->data_head = o->next;
    if (!c->data_head) c->data_tail = &c->data_head;
    c->queued -= o->buf->len;
    out_free(o);
    dropped++;
  }
  return dropped;
}

/* ---- input ---- */

static void reset_msg(ws_codec *c) {
  c->msg_op = 0;
  c->msg_compressed = 0;
  c->msg_len = 0;
  c->msg_checked = 0;
  ws_utf8_reset(&c->utf8);
  if (c->msg_cap > KEEP_BUFFER) {
    free(c->msg);
    c->msg = NULL;
    c->msg_cap = 0;
  }
}

static void deliver(ws_codec *c, unsigned opcode, const uint8_t *p, size_t len) {
  if (c->close_queued) return; /* closing: only the peer's close matters */
  c->messages_in++;
  c->bytes_in += len;
  if (c->cbs->on_message) c->cbs->on_message(c->user, opcode, p, len);
}

/* The first piece of a frame: RFC 6455 5.2, 5.4, 5.5 and RFC 7692 6. */
static int frame_start(ws_codec *c, const struct wslay_frame_iocb *f) {
  unsigned op = f->opcode;
  c->frame_op = (uint8_t)op;
  c->frame_fin = f->fin;
  c->frame_rsv1 = (f->rsv >> 2) & 1;
  if (!f->mask) return ws_codec_fail(c, 1002, "client frames must be masked"), -1;
  if (f->rsv & 3) return ws_codec_fail(c, 1002, "reserved bits set"), -1;
  if (op >= WS_OP_CLOSE) {
    if (op > WS_OP_PONG) return ws_codec_fail(c, 1002, "unknown opcode"), -1;
    if (c->frame_rsv1) return ws_codec_fail(c, 1002, "RSV1 on a control frame"), -1;
    c->ctrl_len = 0;
    return 0;
  }
  if (op > WS_OP_BINARY) return ws_codec_fail(c, 1002, "unknown opcode"), -1;
  if (op == WS_OP_CONT) {
    if (!c->msg_op) return ws_codec_fail(c, 1002, "continuation without a message"), -1;
    if (c->frame_rsv1) return ws_codec_fail(c, 1002, "RSV1 on a continuation"), -1;
  } else {
    if (c->msg_op) return ws_codec_fail(c, 1002, "new message inside a fragmented one"), -1;
    if (c->frame_rsv1 && !c->pmd) return ws_codec_fail(c, 1002, "RSV1 without an extension"), -1;
    c->msg_op = (uint8_t)op;
    c->msg_compressed = c->frame_rsv1;
  }
  /* A compressed frame may be larger than its data (deflate of random
   * bytes); it is inflated as it comes, so only max_message bounds memory. */
  uint64_t max_frame = c->max_frame;
  if (c->msg_compressed) max_frame += (max_frame >> 4) + 1024;
  if (f->payload_length > max_frame) return ws_codec_fail(c, 1009, "frame too big"), -1;
  if (!c->msg_compressed && c->msg_len + f->payload_length > c->max_message)
    return ws_codec_fail(c, 1009, "message too big"), -1;
  return 0;
}

/* Inflated bytes past msg_checked must be UTF-8 (text). */
static int check_inflated(ws_codec *c) {
  if (c->msg_op != WS_OP_TEXT) return 0;
  int bad = ws_utf8_feed(&c->utf8, c->msg + c->msg_checked, c->msg_len - c->msg_checked);
  c->msg_checked = c->msg_len;
  if (bad) ws_codec_fail(c, 1007, "invalid UTF-8");
  return bad;
}

static int inflate_piece(ws_codec *c, const uint8_t *p, size_t n, int last) {
  int rc = ws_pmd_inflate(c->pmd, p, n, last, &c->msg, &c->msg_len, &c->msg_cap,
                          (size_t)c->max_message);
  if (rc == WS_PMD_TOO_BIG) return ws_codec_fail(c, 1009, "message too big"), -1;
  if (rc == WS_PMD_BAD) return ws_codec_fail(c, 1007, "bad compressed data"), -1;
  if (rc != WS_PMD_OK) return ws_codec_fail(c, 1011, "out of memory"), -1;
  return check_inflated(c);
}

static int data_piece(ws_codec *c, const uint8_t *p, size_t n) {
  if (c->msg_compressed) return inflate_piece(c, p, n, 0);
  if (c->msg_op == WS_OP_TEXT && ws_utf8_feed(&c->utf8, p, n))
    return ws_codec_fail(c, 1007, "invalid UTF-8"), -1;
  if (!n) return 0;
  if (ws_grow(&c->msg, &c->msg_cap, c->msg_len + n) < 0) return ws_codec_fail(c, 1011, "out of memory"), -1;
  memcpy(c->msg + c->msg_len, p, n);
  c->msg_len += n;
  return 0;
}

static void on_close_frame(ws_codec *c) {
  unsigned code = 1005;
  const uint8_t *reason = c->ctrl + 2;
  size_t rlen = c->ctrl_len > 2 ? c->ctrl_len - 2u : 0;
  if (c->ctrl_len == 1) return ws_codec_fail(c, 1002, "close frame of one byte");
  if (c->ctrl_len >= 2) {
    code = (unsigned)c->ctrl[0] << 8 | c->ctrl[1];
    if (!ws_close_code_valid(code)) return ws_codec_fail(c, 1002, "invalid close code");
    ws_utf8 u;
    ws_utf8_reset(&u);
    if (ws_utf8_feed(&u, reason, rlen) || !ws_utf8_complete(&u))
      return ws_codec_fail(c, 1007, "close reason is not UTF-8");
  }
  c->close_received = 1;
  c->code_received = (uint16_t)code;
  c->reason_len = (uint8_t)rlen;
  memcpy(c->reason_received, reason, rlen);
  c->read_stopped = 1;
  /* RFC 6455 5.5.1: answer with a close, echoing the code. */
  if (!c->close_queued) ws_codec_close(c, code == 1005 ? 0 : code, NULL, 0);
}

static void control_end(ws_codec *c) {
  switch (c->frame_op) {
  case WS_OP_PING:
    /* Only the newest ping needs its pong (RFC 6455 5.5.3). */
    for (ws_out *o = c->ctrl_head; o; o = o->next)
      if (o->opcode == WS_OP_PONG && !(o == c->ctrl_head && c->ctrl_active)) {
        o->small_len = c->ctrl_len;
        memcpy(o->small, c->ctrl, c->ctrl_len);
        return;
      }
    if (!c->close_queued && !ctrl_frame(c, WS_OP_PONG, c->ctrl, c->ctrl_len))
      ws_codec_fail(c, 1011, "out of memory");
    return;
  case WS_OP_PONG:
    if (c->cbs->on_pong) c->cbs->on_pong(c->user);
    return;
  default:
    on_close_frame(c);
  }
}

static void data_end(ws_codec *c) {
  if (!c->frame_fin) return;
  if (c->msg_compressed) {
    if (inflate_piece(c, NULL, 0, 1)) return;
  }
  if (c->msg_op == WS_OP_TEXT && !ws_utf8_complete(&c->utf8))
    return ws_codec_fail(c, 1007, "invalid UTF-8");
  unsigned op = c->msg_op;
  deliver(c, op, c->msg, c->msg_len);
  reset_msg(c);
}

/* One piece of a frame from wslay. */
static void on_piece(ws_codec *c, const struct wslay_frame_iocb *f) {
  int first = c->frame_off == 0;
  if (first) { /* wslay enforces the shortest length encoding */
    uint64_t n = f->payload_length;
    c->framed += 2u + (n < 126 ? 0u : n < 65536 ? 2u : 8u) + (f->mask ? 4u : 0u);
  }
  c->framed += f->data_length;
  if (first && frame_start(c, f)) return;
  c->wire_in += f->data_length;
  if (c->frame_op >= WS_OP_CLOSE) {
    memcpy(c->ctrl + c->ctrl_len, f->data, f->data_length); /* wslay keeps it <= 125 */
    c->ctrl_len = (uint8_t)(c->ctrl_len + f->data_length);
  } else if (first && c->frame_fin && f->data_length == f->payload_length && !c->msg_compressed &&
             c->msg_len == 0) {
    /* A whole unfragmented message in one piece: no copy. */
    if (c->msg_op == WS_OP_TEXT &&
        (ws_utf8_feed(&c->utf8, f->data, f->data_length) || !ws_utf8_complete(&c->utf8)))
      return ws_codec_fail(c, 1007, "invalid UTF-8");
    unsigned op = c->msg_op;
    deliver(c, op, f->data, f->data_length);
    reset_msg(c);
    c->frame_off = 0;
    return;
  } else if (data_piece(c, f->data, f->data_length)) {
    return;
  }
  c->frame_off += f->data_length;
  if (c->frame_off < f->payload_length) return;
  c->frame_off = 0;
  if (c->frame_op >= WS_OP_CLOSE)
    control_end(c);
  else
    data_end(c);
}

void ws_codec_feed(ws_codec *c, const uint8_t *bytes, size_t len) {
  c->in = bytes;
  c->in_len = len;
  if (!c->read_stopped && !frames_ready(c)) ws_codec_fail(c, 1011, "out of memory");
  while (!c->read_stopped) {
    struct wslay_frame_iocb f;
    memset(&f, 0, sizeof(f));
    ssize_t r = wslay_frame_recv(c->frames, &f);
    if (r == WSLAY_ERR_WANT_READ) break;
    if (r < 0) {
      ws_codec_fail(c, 1002, "malformed frame");
      break;
    }
    on_piece(c, &f);
  }
  c->in = NULL;
  c->in_len = 0;
}

/* ---- writing ---- */

/* Makes the head of the data queue the message being written, compressed
 * when agreed and worth it. */
static int start_message(ws_codec *c) {
  ws_out *o = c->data_head;
  c->data_head = o->next;
  if (!c->data_head) c->data_tail = &c->data_head;
  o->next = NULL;
  c->cur = o;
  c->cur_data = o->buf->data;
  c->cur_len = o->buf->len;
  c->cur_off = 0;
  c->cur_rsv1 = 0;
  c->frame_len = c->frame_sent = 0;
  if (c->pmd && o->buf->len >= DEFLATE_MIN) {
    if (ws_pmd_deflate(c->pmd, o->buf->data, o->buf->len, &c->zout, &c->zout_len,
                       &c->zout_cap) != WS_PMD_OK)
      return -1;
    c->cur_data = c->zout;
    c->cur_len = c->zout_len;
    c->cur_rsv1 = 1;
  }
  return 0;
}

static void finish_message(ws_codec *c) {
  c->queued -= c->cur->buf->len;
  c->messages_out++;
  c->bytes_out += c->cur->buf->len;
  out_free(c->cur);
  c->cur = NULL;
  if (c->zout_cap > KEEP_BUFFER) {
    free(c->zout);
    c->zout = NULL;
    c->zout_cap = 0;
  }
}

/* Sends one frame (or what of it fits): 0 sent whole, 1 blocked, -1 failed. */
static int send_frame(ws_codec *c, unsigned opcode, int fin, int rsv1, const uint8_t *p,
                      size_t frame_len) {
  while (1) {
    struct wslay_frame_iocb f;
    memset(&f, 0, sizeof(f));
    f.fin = (uint8_t)fin;
    f.rsv = rsv1 ? WSLAY_RSV1_BIT : 0;
    f.opcode = (uint8_t)opcode;
    f.payload_length = frame_len;
    f.data = p + c->frame_sent;
    f.data_length = frame_len - c->frame_sent;
    ssize_t r = wslay_frame_send(c->frames, &f);
    if (c->write_failed) return -1;
    if (r == WSLAY_ERR_WANT_WRITE) return 1;
    if (r < 0) return -1;
    c->frame_sent += (size_t)r;
    c->wire_out += (size_t)r;
    c->frame_active = 1;
    if (c->frame_sent == frame_len) {
      c->frame_sent = 0;
      c->frame_active = 0;
      return 0;
    }
  }
}

int ws_codec_flush(ws_codec *c) {
  if (!c->close_sent && (c->ctrl_head || c->data_head || c->cur) && !frames_ready(c)) return -1;
  while (!c->close_sent) {
    int mid = c->frame_active && !c->ctrl_active; /* a data frame is partly written */
    if (!mid && c->ctrl_head) {
      c->ctrl_active = 1;
      ws_out *o = c->ctrl_head;
      int rc = send_frame(c, o->opcode, 1, 0, o->small, o->small_len);
      if (rc) return rc;
      c->ctrl_active = 0;
      c->ctrl_head = o->next;
      if (!c->ctrl_head) c->ctrl_tail = &c->ctrl_head;
      if (o->opcode == WS_OP_CLOSE) c->close_sent = 1;
      out_free(o);
      continue;
    }
    if (!c->cur) {
      if (!c->data_head) return 0;
      if (c->close_sent) return 0;
      if (start_message(c) < 0) return -1;
    }
    if (!c->frame_active) {
      size_t left = c->cur_len - c->cur_off;
      c->frame_len = left < OUT_FRAME ? left : OUT_FRAME;
    }
    int first = c->cur_off == 0;
    int fin = c->cur_off + c->frame_len == c->cur_len;
    int rc = send_frame(c, first ? c->cur->opcode : WS_OP_CONT, fin, first && c->cur_rsv1,
                        c->cur_data + c->cur_off, c->frame_len);
    if (rc) return rc;
    c->cur_off += c->frame_len;
    c->frame_len = 0;
    if (c->cur_off == c->cur_len) finish_message(c);
  }
  return 0;
}
