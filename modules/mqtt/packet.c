/* packet.c — the MQTT packet inspector (see packet.h): the framer that cuts
 * a byte stream into whole packets, the structural check of each packet for
 * MQTT 3.1, 3.1.1 and 5.0, the parsers the bridge's rules use and the
 * builders of the packets the bridge answers itself. One bounded reader
 * walks every field, so a check and a parse are the same code. */
#include <stdlib.h>
#include <string.h>

#include "packet.h"

#define MQ_MAX_REMAINING 268435455u /* four varint bytes */
#define MQ_SPENT 0xFF              /* head_len of a framer after an error */

/* ---- remaining length (variable byte integer) ---- */

/* 1: decoded (*val, *used); 0: needs more bytes; -1: over four bytes. */
static int varint_decode(const uint8_t *p, size_t n, uint32_t *val, size_t *used) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; i++) {
    if (i >= n) return 0;
    v |= (uint32_t)(p[i] & 0x7F) << (7 * i);
    if (!(p[i] & 0x80)) {
      *val = v, *used = i + 1;
      return 1;
    }
  }
  return -1;
}

static size_t varint_encode(uint8_t *out, uint32_t v) {
  size_t n = 0;
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    out[n++] = b | (v ? 0x80 : 0);
  } while (v);
  return n;
}

/* ---- framer ---- */

static uint64_t framer_limit(const mq_framer *f) {
  return f->max_packet ? f->max_packet : (uint64_t)MQ_MAX_REMAINING + 5;
}

/* Makes room for need bytes in f->buf, growing as bytes arrive (never past
 * the packet's announced size), so an announced size alone costs nothing. */
static int framer_reserve(mq_framer *f, size_t want) {
  if (want <= f->cap) return MQ_OK;
  size_t cap = f->cap ? f->cap : 256;
  while (cap < want) cap *= 2;
  if (cap > f->need) cap = f->need;
  uint8_t *nb = realloc(f->buf, cap);
  if (!nb) return MQ_E_NOMEM;
  f->buf = nb, f->cap = cap;
  return MQ_OK;
}

static int framer_fail(mq_framer *f, int rc) {
  f->head_len = MQ_SPENT;
  return rc;
}

int mq_framer_feed(mq_framer *f, const uint8_t *p, size_t n, mq_packet_cb cb, void *data) {
  if (f->head_len == MQ_SPENT) return MQ_E_MALFORMED;
  while (n > 0) {
    if (f->need) { /* the rest of a packet started in an earlier feed */
      size_t take = f->need - f->len < n ? f->need - f->len : n;
      if (framer_reserve(f, f->len + take) != MQ_OK) return framer_fail(f, MQ_E_NOMEM);
      memcpy(f->buf + f->len, p, take);
      f->len += take, p += take, n -= take;
      if (f->len < f->need) return MQ_OK;
      size_t whole = f->len;
      f->len = f->need = 0;
      if (cb(data, f->buf, whole)) return framer_fail(f, MQ_E_STOP);
      continue;
    }
    /* A fixed header: from the stream itself, or gathered in f->head. */
    const uint8_t *hp = p;
    size_t hn = n, from_head = f->head_len;
    if (from_head) {
      size_t add = sizeof f->head - from_head < n ? sizeof f->head - from_head : n;
      memcpy(f->head + from_head, p, add);
      hp = f->head, hn = from_head + add;
    }
    uint32_t rl = 0;
    size_t used = 0;
    int d = hn > 1 ? varint_decode(hp + 1, hn - 1, &rl, &used) : 0;
    if (d < 0) return framer_fail(f, MQ_E_MALFORMED);
    if (d == 0) { /* keep the partial header for the next feed */
      if (!from_head) memcpy(f->head, hp, hn);
      f->head_len = (uint8_t)hn;
      return MQ_OK;
    }
    size_t hlen = 1 + used;
    uint64_t total = (uint64_t)hlen + rl;
    if (total > framer_limit(f)) return framer_fail(f, MQ_E_TOO_BIG);
    size_t consumed = hlen - from_head; /* bytes of p in the header */
    f->head_len = 0;
    if (!from_head && total <= n) { /* whole in this feed: no copy */
      if (cb(data, p, (size_t)total)) return framer_fail(f, MQ_E_STOP);
      p += total, n -= total;
      continue;
    }
    f->need = (size_t)total;
    if (framer_reserve(f, hlen) != MQ_OK) return framer_fail(f, MQ_E_NOMEM);
    memcpy(f->buf, hp, hlen);
    f->len = hlen;
    p += consumed, n -= consumed;
    if (f->len == f->need) { /* a header-only packet that came in pieces */
      f->len = f->need = 0;
      if (cb(data, f->buf, hlen)) return framer_fail(f, MQ_E_STOP);
    }
  }
  return MQ_OK;
}

void mq_framer_free(mq_framer *f) {
  free(f->buf);
  f->buf = NULL, f->cap = f->len = f->need = 0;
}

size_t mq_framer_pending(const mq_framer *f) {
  return f->need ? f->len : f->head_len == MQ_SPENT ? 0 : f->head_len;
}

/* ---- a bounded reader ---- */

typedef struct rd {
  const uint8_t *p;
  size_t len, at;
  int bad;
} rd;

static int rd_left(const rd *r) { return !r->bad && r->at < r->len; }

static uint8_t rd_u8(rd *r) {
  if (r->bad || r->at + 1 > r->len) return r->bad = 1, 0;
  return r->p[r->at++];
}

static uint16_t rd_u16(rd *r) {
  if (r->bad || r->at + 2 > r->len) return r->bad = 1, 0;
  uint16_t v = (uint16_t)(r->p[r->at] << 8 | r->p[r->at + 1]);
  r->at += 2;
  return v;
}

static uint32_t rd_u32(rd *r) {
  uint32_t hi = rd_u16(r);
  return hi << 16 | rd_u16(r);
}

static uint32_t rd_varint(rd *r) {
  uint32_t v = 0;
  size_t used = 0;
  if (r->bad || varint_decode(r->p + r->at, r->len - r->at, &v, &used) != 1)
    return r->bad = 1, 0;
  r->at += used;
  return v;
}

/* Binary data: a two-byte length and the bytes. */
static mq_bytes rd_binary(rd *r) {
  mq_bytes b = {NULL, 0};
  size_t n = rd_u16(r);
  if (r->bad || r->at + n > r->len) return r->bad = 1, b;
  b.ptr = r->p + r->at, b.len = n;
  r->at += n;
  return b;
}

/* Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * past U+10FFFF) without U+0000, as MQTT requires of every string. */
int mq_utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c == 0) return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t more;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) more = 1, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) more = 2, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) more = 3, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (n - i - 1 < more) return 0;
    for (size_t k = 1; k <= more; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += more + 1;
  }
  return 1;
}

static mq_bytes rd_string(rd *r) {
  mq_bytes b = rd_binary(r);
  if (!r->bad && !mq_utf8_valid(b.ptr, b.len)) r->bad = 1;
  return b;
}

/* ---- 5.0 properties ---- */

/* The few property values the parsers hand out. */
typedef struct props_seen {
  uint32_t max_packet;
  uint16_t topic_alias_max, topic_alias;
} props_seen;

enum { P_BYTE, P_U16, P_U32, P_VARINT, P_STRING, P_BINARY, P_PAIR, P_UNKNOWN };

static int property_type(uint32_t id) {
  switch (id) {
  case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A:
    return P_BYTE;
  case 0x13: case 0x21: case 0x22: case 0x23: return P_U16;
  case 0x02: case 0x11: case 0x18: case 0x27: return P_U32;
  case 0x0B: return P_VARINT;
  case 0x03: case 0x08: case 0x12: case 0x15: case 0x1A: case 0x1C: case 0x1F: return P_STRING;
  case 0x09: case 0x16: return P_BINARY;
  case 0x26: return P_PAIR;
  default: return P_UNKNOWN;
  }
}

/* A property block (5.0 only; nothing at lower levels): its length, then
 * each property of a known id with a value of its type, ending exactly at
 * the block's end. */
static void rd_props(rd *r, unsigned level, props_seen *seen) {
  if (level < 5) return;
  size_t n = rd_varint(r);
  if (r->bad || n > r->len - r->at) {
    r->bad = 1;
    return;
  }
  rd in = {r->p, r->at + n, r->at, 0};
  while (rd_left(&in)) {
    uint32_t id = rd_varint(&in), v;
    switch (property_type(id)) {
    case P_BYTE: rd_u8(&in); break;
    case P_U16:
      v = rd_u16(&in);
      if (id == 0x22 && seen) seen->topic_alias_max = (uint16_t)v;
      if (id == 0x23 && seen) seen->topic_alias = (uint16_t)v;
      break;
    case P_U32:
      v = rd_u32(&in);
      if (id == 0x27 && seen) seen->max_packet = v;
      break;
    case P_VARINT: rd_varint(&in); break;
    case P_STRING: rd_string(&in); break;
    case P_BINARY: rd_binary(&in); break;
    case P_PAIR: rd_string(&in), rd_string(&in); break;
    default: in.bad = 1; break;
    }
  }
  if (in.bad) r->bad = 1;
  r->at += n;
}

/* ---- fixed header ---- */

/* Opens a whole packet: its remaining length must be what follows, exactly. */
static int rd_open(rd *r, const uint8_t *pkt, size_t len, unsigned *type, unsigned *flags) {
  uint32_t rl;
  size_t used;
  if (!pkt || len < 2 || varint_decode(pkt + 1, len - 1, &rl, &used) != 1) return MQ_E_MALFORMED;
  if ((uint64_t)1 + used + rl != len) return MQ_E_MALFORMED;
  *type = pkt[0] >> 4, *flags = pkt[0] & 0x0F;
  r->p = pkt, r->len = len, r->at = 1 + used, r->bad = 0;
  return MQ_OK;
}

/* The end of a packet whose fields are all read: nothing may follow. */
static int rd_close(const rd *r) { return r->bad || r->at != r->len ? MQ_E_MALFORMED : MQ_OK; }

/* A packet identifier: never 0. */
static uint16_t rd_packet_id(rd *r) {
  uint16_t id = rd_u16(r);
  if (!id) r->bad = 1;
  return id;
}

/* ---- per packet type ---- */

static int connect_body(rd *r, unsigned flags, mq_connect *out) {
  memset(out, 0, sizeof *out);
  if (flags) return MQ_E_MALFORMED;
  mq_bytes name = rd_string(r);
  out->level = rd_u8(r);
  if (r->bad) return MQ_E_MALFORMED;
  int mqisdp = name.len == 6 && !memcmp(name.ptr, "MQIsdp", 6);
  int mqtt = name.len == 4 && !memcmp(name.ptr, "MQTT", 4);
  if (!(out->level == 3 && mqisdp) && !((out->level == 4 || out->level == 5) && mqtt))
    return MQ_E_MALFORMED;
  uint8_t cf = out->flags = rd_u8(r);
  unsigned will = cf >> 2 & 1, will_qos = cf >> 3 & 3, will_retain = cf >> 5 & 1;
  unsigned has_password = cf >> 6 & 1, has_username = cf >> 7 & 1;
  if (cf & 1 || will_qos == 3 || (!will && (will_qos || will_retain))) return MQ_E_MALFORMED;
  if (out->level < 5 && has_password && !has_username) return MQ_E_MALFORMED;
  out->keepalive = rd_u16(r);
  props_seen seen = {0};
  rd_props(r, out->level, &seen);
  out->max_packet = seen.max_packet;
  out->client_id = rd_string(r);
  if (will) {
    rd_props(r, out->level, NULL);
    rd_string(r); /* will topic */
    rd_binary(r); /* will payload */
  }
  if (has_username) {
    out->username_at = r->at;
    out->username = rd_string(r);
  }
  if (has_password) {
    out->password_at = r->at;
    rd_binary(r);
  }
  return rd_close(r);
}

static int connack_body(rd *r, unsigned flags, unsigned level, mq_connack *out) {
  memset(out, 0, sizeof *out);
  uint8_t ack = rd_u8(r);
  out->code = rd_u8(r);
  if (flags || ack & 0xFE) return MQ_E_MALFORMED;
  out->session_present = ack & 1;
  props_seen seen = {0};
  rd_props(r, level, &seen);
  out->topic_alias_max = seen.topic_alias_max;
  return rd_close(r);
}

/* A topic name carries no wildcard. */
static int topic_name_ok(mq_bytes t) {
  return !memchr(t.ptr, '+', t.len) && !memchr(t.ptr, '#', t.len);
}

static int publish_body(rd *r, unsigned flags, unsigned level, mq_publish *out) {
  memset(out, 0, sizeof *out);
  out->dup = flags >> 3 & 1, out->qos = flags >> 1 & 3, out->retain = flags & 1;
  if (out->qos == 3 || (out->qos == 0 && out->dup && level >= 4)) return MQ_E_MALFORMED;
  out->topic = rd_string(r);
  if (out->qos) out->packet_id = rd_packet_id(r);
  props_seen seen = {0};
  rd_props(r, level, &seen);
  if (r->bad || !topic_name_ok(out->topic)) return MQ_E_MALFORMED;
  out->topic_alias = seen.topic_alias;
  if (!out->topic.len && !out->topic_alias) return MQ_E_MALFORMED;
  out->payload.ptr = r->p + r->at, out->payload.len = r->len - r->at;
  return MQ_OK;
}

/* Subscription options: QoS 0-2; 5.0 adds no-local, retain-as-published and
 * retain handling 0-2; every other bit is reserved. */
static int options_ok(uint8_t o, unsigned level) {
  if ((o & 3) == 3) return 0;
  if (level < 5) return !(o & 0xFC);
  return !(o & 0xC0) && (o >> 4 & 3) != 3;
}

static int subscribe_body(rd *r, unsigned type, unsigned flags, unsigned level,
                          uint16_t *packet_id, mq_filter_cb cb, void *data) {
  if (flags != 2) return MQ_E_MALFORMED;
  *packet_id = rd_packet_id(r);
  rd_props(r, level, NULL);
  if (r->bad) return MQ_E_MALFORMED;
  size_t index = 0;
  do {
    mq_bytes filter = rd_string(r);
    uint8_t options = type == MQ_SUBSCRIBE ? rd_u8(r) : 0;
    if (r->bad || !filter.len || !options_ok(options, level)) return MQ_E_MALFORMED;
    if (cb && cb(data, index, filter, options)) return MQ_E_STOP;
    index++;
  } while (rd_left(r));
  return rd_close(r);
}

static int suback_code_ok(uint8_t c, unsigned level) {
  if (c <= 2) return 1;
  /* 0x80 is 3.1.1's failure code; 3.1 has none, but brokers (Mosquitto)
   * and the bridge itself send it to 3.1 clients too */
  if (level < 5) return c == 0x80;
  switch (c) {
  case 0x80: case 0x83: case 0x87: case 0x8F: case 0x91: case 0x97: case 0x9E: case 0xA1:
  case 0xA2: return 1;
  default: return 0;
  }
}

static int suback_body(rd *r, unsigned flags, unsigned level, mq_suback *out) {
  memset(out, 0, sizeof *out);
  if (flags) return MQ_E_MALFORMED;
  out->packet_id = rd_packet_id(r);
  rd_props(r, level, NULL);
  if (!rd_left(r)) return MQ_E_MALFORMED;
  out->codes_at = r->at, out->ncodes = r->len - r->at;
  for (size_t i = r->at; i < r->len; i++)
    if (!suback_code_ok(r->p[i], level)) return MQ_E_MALFORMED;
  return MQ_OK;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP: a packet id; 5.0 may add a reason code
 * and then properties. */
static int ack_body(rd *r, unsigned level) {
  rd_packet_id(r);
  if (level >= 5 && rd_left(r)) {
    rd_u8(r);
    if (rd_left(r)) rd_props(r, level, NULL);
  }
  return rd_close(r);
}

static int unsuback_body(rd *r, unsigned level) {
  rd_packet_id(r);
  if (level >= 5) {
    rd_props(r, level, NULL);
    if (!rd_left(r)) return MQ_E_MALFORMED;
    r->at = r->len; /* one reason code per filter */
  }
  return rd_close(r);
}

/* DISCONNECT and AUTH (5.0): nothing, or a reason code and maybe properties. */
static int reason_body(rd *r, unsigned level) {
  if (level >= 5 && rd_left(r)) {
    rd_u8(r);
    if (rd_left(r)) rd_props(r, level, NULL);
  }
  return rd_close(r);
}

int mq_check(const uint8_t *pkt, size_t len, unsigned level, int from_client) {
  rd r;
  unsigned type, flags;
  if (rd_open(&r, pkt, len, &type, &flags) != MQ_OK) return MQ_E_MALFORMED;
  if (level == 0 && !(from_client && type == MQ_CONNECT)) return MQ_E_MALFORMED;
  if (level > 5 || (level && level < 3)) return MQ_E_MALFORMED;
  uint16_t id;
  switch (type) {
  case MQ_CONNECT: {
    mq_connect c;
    return from_client ? connect_body(&r, flags, &c) : MQ_E_MALFORMED;
  }
  case MQ_CONNACK: {
    mq_connack c;
    return from_client ? MQ_E_MALFORMED : connack_body(&r, flags, level, &c);
  }
  case MQ_PUBLISH: {
    mq_publish p;
    return publish_body(&r, flags, level, &p);
  }
  case MQ_PUBACK: case MQ_PUBREC: case MQ_PUBCOMP:
    return flags ? MQ_E_MALFORMED : ack_body(&r, level);
  case MQ_PUBREL: return flags != 2 ? MQ_E_MALFORMED : ack_body(&r, level);
  case MQ_SUBSCRIBE: case MQ_UNSUBSCRIBE:
    return from_client ? subscribe_body(&r, type, flags, level, &id, NULL, NULL) : MQ_E_MALFORMED;
  case MQ_SUBACK: {
    mq_suback s;
    return from_client ? MQ_E_MALFORMED : suback_body(&r, flags, level, &s);
  }
  case MQ_UNSUBACK:
    return from_client || flags ? MQ_E_MALFORMED : unsuback_body(&r, level);
  case MQ_PINGREQ: case MQ_PINGRESP:
    return flags || (type == MQ_PINGREQ) != !!from_client ? MQ_E_MALFORMED : rd_close(&r);
  case MQ_DISCONNECT:
    if (flags || (!from_client && level < 5)) return MQ_E_MALFORMED;
    return reason_body(&r, level);
  case MQ_AUTH: return flags || level < 5 ? MQ_E_MALFORMED : reason_body(&r, level);
  default: return MQ_E_MALFORMED; /* type 0 is reserved */
  }
}

/* ---- parsers ---- */

int mq_parse_connect(const uint8_t *pkt, size_t len, mq_connect *out) {
  rd r;
  unsigned type, flags;
  memset(out, 0, sizeof *out);
  if (rd_open(&r, pkt, len, &type, &flags) != MQ_OK || type != MQ_CONNECT) return MQ_E_MALFORMED;
  return connect_body(&r, flags, out);
}

int mq_parse_connack(const uint8_t *pkt, size_t len, unsigned level, mq_connack *out) {
  rd r;
  unsigned type, flags;
  memset(out, 0, sizeof *out);
  if (rd_open(&r, pkt, len, &type, &flags) != MQ_OK || type != MQ_CONNACK) return MQ_E_MALFORMED;
  return connack_body(&r, flags, level, out);
}

int mq_parse_publish(const uint8_t *pkt, size_t len, unsigned level, mq_publish *out) {
  rd r;
  unsigned type, flags;
  memset(out, 0, sizeof *out);
  if (rd_open(&r, pkt, len, &type, &flags) != MQ_OK || type != MQ_PUBLISH) return MQ_E_MALFORMED;
  return publish_body(&r, flags, level, out);
}

int mq_parse_subscribe(const uint8_t *pkt, size_t len, unsigned level, uint16_t *packet_id,
                       mq_filter_cb cb, void *data) {
  rd r;
  unsigned type, flags;
  *packet_id = 0;
  if (rd_open(&r, pkt, len, &type, &flags) != MQ_OK ||
      (type != MQ_SUBSCRIBE && type != MQ_UNSUBSCRIBE))
    return MQ_E_MALFORMED;
  return subscribe_body(&r, type, flags, level, packet_id, cb, data);
}

int mq_parse_suback(const uint8_t *pkt, size_t len, unsigned level, mq_suback *out) {
  rd r;
  unsigned type, flags;
  memset(out, 0, sizeof *out);
  if (rd_open(&r, pkt, len, &type, &flags) != MQ_OK || type != MQ_SUBACK) return MQ_E_MALFORMED;
  return suback_body(&r, flags, level, out);
}

/* ---- builders ---- */

/* A fixed header for a body of n bytes at out; its length, or 0. */
static size_t put_header(uint8_t *out, size_t cap, uint8_t first, size_t body) {
  uint8_t head[5];
  if (body > MQ_MAX_REMAINING) return 0;
  head[0] = first;
  size_t h = 1 + varint_encode(head + 1, (uint32_t)body);
  if (!out || cap < h + body) return 0;
  memcpy(out, head, h);
  return h;
}

/* A 5.0 reason code as a 3.1/3.1.1 CONNACK return code. */
static uint8_t connack_return_code(uint8_t code) {
  switch (code) {
  case 0x84: return 1;                    /* unsupported protocol version */
  case MQ_RC_CLIENT_ID_INVALID: return 2; /* identifier rejected */
  case MQ_RC_BAD_AUTH: return 4;
  case MQ_RC_NOT_AUTHORIZED: return 5;
  default: return code < 0x80 ? code : 3; /* server unavailable */
  }
}

size_t mq_build_connack(uint8_t *out, size_t cap, unsigned level, uint8_t code) {
  size_t h = put_header(out, cap, MQ_CONNACK << 4, level >= 5 ? 3 : 2);
  if (!h) return 0;
  out[h] = 0; /* no session present */
  out[h + 1] = level >= 5 ? code : connack_return_code(code);
  if (level >= 5) out[h + 2] = 0; /* no properties */
  return h + (level >= 5 ? 3 : 2);
}

size_t mq_build_suback(uint8_t *out, size_t cap, unsigned level, uint16_t packet_id,
                       const uint8_t *codes, size_t ncodes) {
  size_t props = level >= 5 ? 1 : 0;
  if (!ncodes || ncodes > MQ_MAX_REMAINING) return 0;
  size_t h = put_header(out, cap, MQ_SUBACK << 4, 2 + props + ncodes);
  if (!h) return 0;
  out[h] = packet_id >> 8, out[h + 1] = packet_id & 0xFF;
  if (props) out[h + 2] = 0;
  for (size_t i = 0; i < ncodes; i++) /* 3.1.1 knows one failure code */
    out[h + 2 + props + i] = level < 5 && codes[i] >= 0x80 ? 0x80 : codes[i];
  return h + 2 + props + ncodes;
}

size_t mq_build_puback(uint8_t *out, size_t cap, unsigned type, unsigned level,
                       uint16_t packet_id, uint8_t code) {
  if (type != MQ_PUBACK && type != MQ_PUBREC) return 0;
  size_t body = level >= 5 ? 3 : 2;
  size_t h = put_header(out, cap, (uint8_t)(type << 4), body);
  if (!h) return 0;
  out[h] = packet_id >> 8, out[h + 1] = packet_id & 0xFF;
  if (level >= 5) out[h + 2] = code;
  return h + body;
}

size_t mq_build_disconnect(uint8_t *out, size_t cap, unsigned level, uint8_t code) {
  if (level < 5) return 0;
  size_t h = put_header(out, cap, MQ_DISCONNECT << 4, 1);
  if (!h) return 0;
  out[h] = code;
  return h + 1;
}
