/* bridge.c — MQTT over WebSocket: each session has its own outbound
 * connection to the broker. The client's bytes are framed into whole MQTT
 * packets (a packet may span messages, a message may hold many), checked,
 * held to the route's rules (CONNECT client id and username, SUBSCRIBE
 * filters, PUBLISH topics, topic aliases) and written to the broker; the
 * broker's packets go back one binary message per packet, SUBACKs patched
 * where the bridge removed filters. Backpressure both ways: a broker that
 * cannot take a message pauses the session, a client queue that is full
 * pauses the broker link; neither side is buffered past one read. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "mqttmod.h"

#define MAX_ALIAS 1024u  /* client topic aliases the bridge tracks (broker max is 10 by default) */
#define MAX_PATCHES 16u  /* SUBSCRIBEs with removed filters awaiting their SUBACK */

/* A SUBSCRIBE whose refused filters the broker never saw: its SUBACK gets
 * failure codes put back at those positions. */
typedef struct sub_patch {
  uint16_t packet_id;
  size_t nfilters;
  uint8_t *refused; /* nfilters flags */
} sub_patch;

typedef struct mq_bridge {
  struct mq_bridge *prev, *next; /* the worker's sessions */
  mq_worker *mw;
  const mq_route *r;
  ir_stream_t *s;
  ir_ws_session_t *ws; /* NULL once the session closed */
  ir_outbound_t *o;    /* NULL once the broker link closed */
  mq_framer up, down;  /* client → broker, broker → client */
  unsigned level;      /* 0 until CONNECT */
  uint8_t h2, opened, connect_seen, connack_seen, ending, broker_closing;
  uint8_t ws_paused, broker_paused;
  char *username;      /* username_header's value */
  uint8_t *to_broker;  /* bytes the broker link has not taken yet */
  size_t to_broker_len;
  uint8_t *to_client;  /* whole packets the session's queue has not taken yet */
  size_t to_client_len;
  uint8_t alias_set[MAX_ALIAS / 8], alias_ok[MAX_ALIAS / 8];
  sub_patch patches[MAX_PATCHES];
  size_t npatches;
} mq_bridge;

/* ---- small helpers ---- */

static int append(uint8_t **buf, size_t *len, const uint8_t *p, size_t n) {
  uint8_t *g = realloc(*buf, *len + n);
  if (!g) return -1;
  memcpy(g + *len, p, n);
  *buf = g;
  *len += n;
  return 0;
}

static size_t put_varint(uint8_t *out, size_t v) {
  size_t n = 0;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    out[n++] = b | (v ? 0x80 : 0);
  } while (v);
  return n;
}

/* The fixed header's length and the remaining length of a whole packet. */
static size_t header_len(const uint8_t *pkt, size_t len, size_t *remaining) {
  size_t v = 0, i = 1;
  for (unsigned shift = 0; i < len && i < 5; shift += 7) {
    v |= (size_t)(pkt[i] & 0x7f) << shift;
    if (!(pkt[i++] & 0x80)) break;
  }
  if (remaining) *remaining = v;
  return i;
}

static void count_packet(mq_bridge *b, int dir, size_t len) {
  ir_worker_t *w = b->mw->w;
  mq_count(w, mq_metric.packets[dir], 1);
  mq_count(w, mq_metric.bytes[dir], (int64_t)len);
}

/* Reading from a side stops while bytes for the other wait: the client
 * while the broker link or the client's own queue holds anything (so the
 * bridge's own answers cannot pile up either), the broker while the
 * client's queue is full. */
static void sync_pause(mq_bridge *b) {
  uint8_t ws_pause = b->to_broker_len || b->to_client_len;
  if (b->ws && !b->ending && ws_pause != b->ws_paused) {
    b->ws_paused = ws_pause;
    mq_websocket()->pause(b->ws, ws_pause);
  }
  uint8_t broker_pause = b->to_client_len != 0;
  if (b->o && !b->broker_closing && broker_pause != b->broker_paused) {
    b->broker_paused = broker_pause;
    ir_outbound_pause(b->o, broker_pause);
  }
}

/* Closes the broker link once (its on_close follows). */
static void close_broker(mq_bridge *b) {
  if (!b->o || b->broker_closing) return;
  b->broker_closing = 1;
  ir_outbound_close(b->o);
}

/* Ends the session with code; the broker link closes with it. */
static void end_session(mq_bridge *b, unsigned code, const char *reason) {
  b->ending = 1;
  if (b->ws) mq_websocket()->close(b->ws, code, reason, strlen(reason));
  close_broker(b);
}

static void free_if_done(mq_bridge *b) {
  if (b->ws || b->o) return;
  mq_worker *mw = b->mw;
  if (b->prev) b->prev->next = b->next;
  else mw->bridges = b->next;
  if (b->next) b->next->prev = b->prev;
  mw->nbridges--;
  mq_framer_free(&b->up);
  mq_framer_free(&b->down);
  for (size_t i = 0; i < b->npatches; i++) free(b->patches[i].refused);
  free(b->username);
  free(b->to_broker);
  free(b->to_client);
  free(b);
}

/* ---- toward the client ---- */

/* Sends one packet the bridge made or passed on; queued when the session's
 * queue is full (the broker link is paused then). */
static void to_client(mq_bridge *b, const uint8_t *pkt, size_t len) {
  if (!b->ws || !len) return;
  int rc = b->to_client_len ? IR_EAGAIN : mq_websocket()->send(b->ws, IR_WS_BINARY, pkt, len);
  if (rc == IR_OK) {
    count_packet(b, MQ_OUT, len);
    return;
  }
  if (rc != IR_EAGAIN) return; /* closing */
  if (append(&b->to_client, &b->to_client_len, pkt, len) < 0) {
    end_session(b, IR_WS_CLOSE_INTERNAL, "out of memory");
    return;
  }
  sync_pause(b);
}

static void flush_to_client(mq_bridge *b) {
  size_t at = 0;
  while (b->ws && at < b->to_client_len) {
    size_t remaining, hl = header_len(b->to_client + at, b->to_client_len - at, &remaining);
    size_t n = hl + remaining;
    int rc = mq_websocket()->send(b->ws, IR_WS_BINARY, b->to_client + at, n);
    if (rc == IR_EAGAIN) break;
    if (rc == IR_OK) count_packet(b, MQ_OUT, n);
    at += n;
  }
  memmove(b->to_client, b->to_client + at, b->to_client_len - at);
  b->to_client_len -= at;
  sync_pause(b);
}

/* A protocol violation by the client: (5.0) DISCONNECT with code, then
 * close 1002 and the broker link. */
static void refuse_malformed(mq_bridge *b, int rule, uint8_t code, const char *why) {
  mq_violation(b->s, rule, "%s", why);
  uint8_t d[8];
  size_t n = mq_build_disconnect(d, sizeof d, b->level, code);
  if (n) to_client(b, d, n);
  end_session(b, IR_WS_CLOSE_PROTOCOL, why);
}

/* ---- toward the broker ---- */

static void to_broker(mq_bridge *b, const uint8_t *p, size_t len) {
  if (!b->o) return;
  count_packet(b, MQ_IN, len);
  ssize_t n = b->to_broker_len ? 0 : ir_outbound_write(b->o, p, len);
  if (n == IR_EAGAIN) n = 0;
  if (n < 0) return; /* the link's on_close follows */
  if ((size_t)n == len) return;
  if (append(&b->to_broker, &b->to_broker_len, p + n, len - (size_t)n) < 0)
    end_session(b, IR_WS_CLOSE_INTERNAL, "out of memory");
  sync_pause(b);
}

/* CONNECT: the level, the client id rule, the username from the header. */
static int on_connect_packet(mq_bridge *b, const uint8_t *pkt, size_t len) {
  mq_connect c;
  if (mq_parse_connect(pkt, len, &c) != MQ_OK) {
    refuse_malformed(b, MQ_RULE_MALFORMED, MQ_RC_MALFORMED, "malformed CONNECT");
    return -1;
  }
  b->level = c.level;
  b->connect_seen = 1;
  const mq_route *r = b->r;
  if (r->client_id_pattern) {
    char id[256];
    int fits = c.client_id.len < sizeof id;
    if (fits) memcpy(id, c.client_id.ptr, c.client_id.len), id[c.client_id.len] = '\0';
    if (!fits || fnmatch(r->client_id_pattern, id, 0) != 0) {
      mq_violation(b->s, MQ_RULE_CLIENT_ID, "client id \"%.*s\" outside %s",
                   (int)(c.client_id.len > 64 ? 64 : c.client_id.len),
                   (const char *)c.client_id.ptr, r->client_id_pattern);
      uint8_t a[8];
      size_t n = mq_build_connack(a, sizeof a, b->level, MQ_RC_CLIENT_ID_INVALID);
      to_client(b, a, n);
      end_session(b, IR_WS_CLOSE_POLICY, "client id refused");
      return -1;
    }
  }
  if (!r->username_header) {
    to_broker(b, pkt, len);
    return 0;
  }
  if (!b->username) {
    mq_violation(b->s, MQ_RULE_USERNAME, "no %s header", r->username_header);
    uint8_t a[8];
    size_t n = mq_build_connack(a, sizeof a, b->level, MQ_RC_BAD_AUTH);
    to_client(b, a, n);
    end_session(b, IR_WS_CLOSE_POLICY, "no username");
    return -1;
  }
  /* The packet rebuilt: the username field replaced (or put before the
   * password, or at the end), the flag set, the remaining length anew. */
  size_t hl = header_len(pkt, len, NULL);
  size_t name_len = (size_t)pkt[hl] << 8 | pkt[hl + 1];
  size_t flags_at = hl + 2 + name_len + 1;
  size_t cut_from, cut_to;
  if (c.username_at) {
    cut_from = c.username_at;
    cut_to = c.username_at + 2 + c.username.len;
  } else {
    cut_from = cut_to = c.password_at ? c.password_at : len;
  }
  size_t ulen = strlen(b->username);
  size_t body = (len - hl) - (cut_to - cut_from) + 2 + ulen;
  uint8_t *out = malloc(body + 5);
  if (!out) {
    end_session(b, IR_WS_CLOSE_INTERNAL, "out of memory");
    return -1;
  }
  size_t o = 0;
  out[o++] = pkt[0];
  o += put_varint(out + o, body);
  size_t start = o;
  memcpy(out + o, pkt + hl, cut_from - hl), o += cut_from - hl;
  out[o++] = (uint8_t)(ulen >> 8), out[o++] = (uint8_t)ulen;
  memcpy(out + o, b->username, ulen), o += ulen;
  memcpy(out + o, pkt + cut_to, len - cut_to), o += len - cut_to;
  out[start + (flags_at - hl)] |= 0x80;
  to_broker(b, out, o);
  free(out);
  return 0;
}

typedef struct sub_scan {
  mq_bridge *b;
  uint8_t *refused; /* a flag per filter */
  size_t cap, n, nrefused;
} sub_scan;

static int scan_filter(void *data, size_t index, mq_bytes f, uint8_t options) {
  sub_scan *sc = data;
  (void)options;
  if (index >= sc->cap) return 1;
  int ok = mq_may_subscribe(&sc->b->r->rules, (const char *)f.ptr, f.len);
  sc->refused[index] = !ok;
  if (!ok) {
    sc->nrefused++;
    mq_violation(sc->b->s, MQ_RULE_SUBSCRIBE, "subscribe to \"%.*s\" refused",
                 (int)(f.len > 200 ? 200 : f.len), (const char *)f.ptr);
  }
  sc->n = index + 1;
  return 0;
}

typedef struct sub_copy {
  const uint8_t *refused;
  uint8_t *out;
  size_t o;
} sub_copy;

static int copy_filter(void *data, size_t index, mq_bytes f, uint8_t options) {
  sub_copy *c = data;
  (void)options;
  if (c->refused[index]) return 0;
  memcpy(c->out + c->o, f.ptr - 2, f.len + 3); /* length prefix, filter, options */
  c->o += f.len + 3;
  return 0;
}

static uint8_t failure_code(const mq_bridge *b) {
  return b->level == 5 ? MQ_RC_NOT_AUTHORIZED : MQ_RC_UNSPECIFIED;
}

/* SUBSCRIBE: filters outside the rules are taken out and their SUBACK
 * codes put back when the broker answers (or answered here when none is
 * left, or when too many such SUBSCRIBEs are outstanding). */
static int on_subscribe_packet(mq_bridge *b, const uint8_t *pkt, size_t len) {
  /* Each filter takes at least 3 bytes (length prefix, options). */
  sub_scan sc = {b, malloc(len / 3 + 1), len / 3 + 1, 0, 0};
  uint16_t id = 0;
  if (!sc.refused) {
    end_session(b, IR_WS_CLOSE_INTERNAL, "out of memory");
    return -1;
  }
  if (mq_parse_subscribe(pkt, len, b->level, &id, scan_filter, &sc) != MQ_OK || !sc.n) {
    free(sc.refused);
    refuse_malformed(b, MQ_RULE_MALFORMED, MQ_RC_MALFORMED, "malformed SUBSCRIBE");
    return -1;
  }
  if (!sc.nrefused) {
    free(sc.refused);
    to_broker(b, pkt, len);
    return 0;
  }
  if (sc.nrefused == sc.n || b->npatches == MAX_PATCHES) {
    uint8_t *codes = malloc(sc.n), *ack = malloc(sc.n + 16);
    size_t n = 0;
    if (codes && ack) {
      memset(codes, failure_code(b), sc.n);
      n = mq_build_suback(ack, sc.n + 16, b->level, id, codes, sc.n);
    }
    if (n) to_client(b, ack, n);
    else end_session(b, IR_WS_CLOSE_INTERNAL, "out of memory");
    free(codes), free(ack), free(sc.refused);
    return n ? 0 : -1;
  }
  /* Packet id, (5.0) properties, then the allowed filters only. */
  size_t hl = header_len(pkt, len, NULL), props_end = hl + 2;
  if (b->level == 5) {
    size_t plen, pl = header_len(pkt + hl + 1, len - hl - 1, &plen) - 1;
    props_end += pl + plen;
  }
  uint8_t *out = malloc(len + 5); /* the body from out + 5, its fixed header just before */
  sub_copy c = {sc.refused, out ? out + 5 : NULL, 0};
  if (!out) {
    free(sc.refused);
    end_session(b, IR_WS_CLOSE_INTERNAL, "out of memory");
    return -1;
  }
  memcpy(c.out, pkt + hl, props_end - hl);
  c.o = props_end - hl;
  mq_parse_subscribe(pkt, len, b->level, &id, copy_filter, &c);
  uint8_t head[5];
  head[0] = pkt[0];
  size_t h = 1 + put_varint(head + 1, c.o);
  memcpy(out + 5 - h, head, h);
  sub_patch *p = &b->patches[b->npatches++];
  p->packet_id = id, p->nfilters = sc.n, p->refused = sc.refused;
  to_broker(b, out + 5 - h, h + c.o);
  free(out);
  return 0;
}

static int alias_bit(const uint8_t *set, unsigned a) { return set[a / 8] >> (a % 8) & 1; }
static void alias_put(uint8_t *set, unsigned a, int v) {
  if (v) set[a / 8] |= (uint8_t)(1u << (a % 8));
  else set[a / 8] &= (uint8_t) ~(1u << (a % 8));
}

/* PUBLISH: the topic (or the topic its alias stands for) within the rules. */
static int on_publish_packet(mq_bridge *b, const uint8_t *pkt, size_t len) {
  mq_publish p;
  if (mq_parse_publish(pkt, len, b->level, &p) != MQ_OK) {
    refuse_malformed(b, MQ_RULE_MALFORMED, MQ_RC_MALFORMED, "malformed PUBLISH");
    return -1;
  }
  int ok;
  if (p.topic_alias >= MAX_ALIAS) {
    refuse_malformed(b, MQ_RULE_MALFORMED, MQ_RC_PROTOCOL_ERROR, "topic alias out of range");
    return -1;
  }
  if (p.topic.len) {
    ok = mq_may_publish(&b->r->rules, (const char *)p.topic.ptr, p.topic.len);
    if (p.topic_alias) {
      alias_put(b->alias_set, p.topic_alias, 1);
      alias_put(b->alias_ok, p.topic_alias, ok);
    }
  } else if (p.topic_alias && alias_bit(b->alias_set, p.topic_alias)) {
    ok = alias_bit(b->alias_ok, p.topic_alias);
  } else {
    refuse_malformed(b, MQ_RULE_MALFORMED, MQ_RC_PROTOCOL_ERROR, "unknown topic alias");
    return -1;
  }
  if (ok) {
    to_broker(b, pkt, len);
    return 0;
  }
  mq_violation(b->s, MQ_RULE_PUBLISH, "publish to \"%.*s\" (alias %u) refused",
               (int)(p.topic.len > 200 ? 200 : p.topic.len), (const char *)p.topic.ptr,
               p.topic_alias);
  if (b->level < 5) {
    end_session(b, IR_WS_CLOSE_POLICY, "publish outside the allowed topics");
    return -1;
  }
  if (p.qos) {
    uint8_t a[8];
    size_t n = mq_build_puback(a, sizeof a, p.qos == 1 ? MQ_PUBACK : MQ_PUBREC, b->level,
                               p.packet_id, MQ_RC_NOT_AUTHORIZED);
    to_client(b, a, n);
  }
  return 0;
}

/* Each whole packet from the client. */
static int client_packet(void *data, const uint8_t *pkt, size_t len) {
  mq_bridge *b = data;
  if (b->ending) return 1;
  if (mq_check(pkt, len, b->level, 1) != MQ_OK) {
    refuse_malformed(b, MQ_RULE_MALFORMED, MQ_RC_MALFORMED, "malformed packet");
    return 1;
  }
  int rc;
  switch (mq_type(pkt)) {
  case MQ_CONNECT:
    if (b->connect_seen) {
      refuse_malformed(b, MQ_RULE_MALFORMED, MQ_RC_PROTOCOL_ERROR, "second CONNECT");
      return 1;
    }
    rc = on_connect_packet(b, pkt, len);
    break;
  case MQ_SUBSCRIBE: rc = on_subscribe_packet(b, pkt, len); break;
  case MQ_PUBLISH: rc = on_publish_packet(b, pkt, len); break;
  default: to_broker(b, pkt, len), rc = 0; break;
  }
  return rc < 0 || b->ending;
}

/* ---- the WebSocket side ---- */

static void ws_message(ir_ws_session_t *ws, unsigned type, const uint8_t *msg, size_t len,
                       void *data) {
  mq_bridge *b = data;
  (void)ws;
  if (b->ending) return;
  if (type != IR_WS_BINARY) {
    end_session(b, IR_WS_CLOSE_UNSUPPORTED, "MQTT takes binary messages");
    return;
  }
  int rc = mq_framer_feed(&b->up, msg, len, client_packet, b);
  if (rc == MQ_E_TOO_BIG)
    refuse_malformed(b, MQ_RULE_PACKET_SIZE, MQ_RC_PACKET_TOO_LARGE, "packet over max_packet_size");
  else if (rc == MQ_E_MALFORMED)
    refuse_malformed(b, MQ_RULE_MALFORMED, MQ_RC_MALFORMED, "bad remaining length");
  else if (rc == MQ_E_NOMEM)
    end_session(b, IR_WS_CLOSE_INTERNAL, "out of memory");
  sync_pause(b);
}

static void ws_writable(ir_ws_session_t *ws, void *data) {
  (void)ws;
  flush_to_client(data);
}

static void ws_closed(ir_ws_session_t *ws, unsigned code, const char *reason, size_t len,
                      void *data) {
  mq_bridge *b = data;
  (void)ws, (void)code, (void)reason, (void)len;
  b->ws = NULL;
  if (b->opened) mq_count(b->mw->w, mq_metric.sessions_open[b->h2], -1);
  b->ending = 1;
  close_broker(b);
  free_if_done(b);
}

static const ir_ws_callbacks ws_cbs = {
    .struct_size = sizeof(ir_ws_callbacks),
    .on_message = ws_message,
    .on_writable = ws_writable,
    .on_close = ws_closed,
};

/* ---- the broker side ---- */

static void broker_connected(ir_outbound_t *o, void *data) {
  mq_bridge *b = data;
  (void)o;
  if (!b->ws) return;
  if (mq_websocket()->open(b->ws, 101, NULL) != IR_OK) return;
  b->opened = 1;
  mq_count(b->mw->w, mq_metric.sessions_open[b->h2], 1);
  mq_count(b->mw->w, mq_metric.sessions_total[b->h2], 1);
}

/* A SUBACK for a SUBSCRIBE the bridge cut: the refused filters' failure
 * codes put back in their places. */
static int patched_suback(mq_bridge *b, const uint8_t *pkt, size_t len) {
  mq_suback sa;
  if (mq_parse_suback(pkt, len, b->level, &sa) != MQ_OK) return 0;
  for (size_t i = 0; i < b->npatches; i++) {
    sub_patch *p = &b->patches[i];
    if (p->packet_id != sa.packet_id) continue;
    uint8_t *codes = malloc(p->nfilters);
    size_t cap = len + p->nfilters + 8, n = 0;
    uint8_t *out = malloc(cap);
    if (codes && out) {
      size_t from = 0;
      for (size_t k = 0; k < p->nfilters; k++)
        codes[k] = p->refused[k] ? failure_code(b)
                   : from < sa.ncodes ? pkt[sa.codes_at + from++] : failure_code(b);
      /* 5.0: the broker's properties are dropped; the codes are what counts. */
      n = mq_build_suback(out, cap, b->level, sa.packet_id, codes, p->nfilters);
    }
    if (n) to_client(b, out, n);
    free(codes), free(out), free(p->refused);
    memmove(p, p + 1, (size_t)(b->patches + --b->npatches - p) * sizeof(*p));
    return 1;
  }
  return 0;
}

static int broker_packet(void *data, const uint8_t *pkt, size_t len) {
  mq_bridge *b = data;
  if (!b->ws) return 1;
  switch (mq_type(pkt)) {
  case MQ_CONNACK: b->connack_seen = 1; break;
  case MQ_SUBACK:
    if (b->npatches && patched_suback(b, pkt, len)) return 0;
    break;
  default: break;
  }
  to_client(b, pkt, len);
  return 0;
}

static void broker_data(ir_outbound_t *o, const uint8_t *bytes, size_t len, void *data) {
  mq_bridge *b = data;
  (void)o;
  if (!b->ws || b->ending) return;
  int rc = mq_framer_feed(&b->down, bytes, len, broker_packet, b);
  if (rc != MQ_OK && rc != MQ_E_STOP) {
    ir_log(mq_module, b->s, IR_LOG_WARN, "mqtt bridge: the broker sent a %s packet",
           rc == MQ_E_TOO_BIG ? "too large" : "malformed");
    end_session(b, IR_WS_CLOSE_INTERNAL, "broker protocol error");
  }
}

static void broker_writable(ir_outbound_t *o, void *data) {
  mq_bridge *b = data;
  if (!b->to_broker_len) return;
  ssize_t n = ir_outbound_write(o, b->to_broker, b->to_broker_len);
  if (n < 0) return;
  memmove(b->to_broker, b->to_broker + n, b->to_broker_len - (size_t)n);
  b->to_broker_len -= (size_t)n;
  sync_pause(b);
}

static void broker_closed(ir_outbound_t *o, int status, void *data) {
  mq_bridge *b = data;
  (void)o;
  b->o = NULL;
  if (b->ws && !b->ending) {
    if (!b->opened) {
      mq_count(b->mw->w, mq_metric.drops[MQ_DROP_BROKER_DOWN], 1);
      mq_websocket()->open(b->ws, status == IR_ETIMEDOUT ? 504 : 503, "the MQTT broker cannot be reached");
    } else {
      if (b->connect_seen && !b->connack_seen) {
        uint8_t a[8];
        size_t n = mq_build_connack(a, sizeof a, b->level, MQ_RC_UNAVAILABLE);
        to_client(b, a, n);
      }
      end_session(b, IR_WS_CLOSE_INTERNAL, "the MQTT broker went away");
    }
  }
  free_if_done(b);
}

static const ir_outbound_cbs broker_cbs = {
    .struct_size = sizeof(ir_outbound_cbs),
    .on_connect = broker_connected,
    .on_data = broker_data,
    .on_writable = broker_writable,
    .on_close = broker_closed,
};

/* ---- entry points ---- */

int mq_bridge_start(ir_stream_t *s, const mq_route *r) {
  mq_worker *mw = mq_worker_of(ir_stream_worker(s));
  if (!mw || mw->draining) return ir_respond_simple(s, 503, "text/plain", "shutting down\n", 14);
  mq_bridge *b = calloc(1, sizeof(*b));
  if (!b) return IR_ENOMEM;
  b->mw = mw, b->r = r, b->s = s;
  b->h2 = ir_req_protocol(s).len == 6 && !memcmp(ir_req_protocol(s).ptr, "HTTP/2", 6);
  b->up.max_packet = b->down.max_packet = r->max_packet_size;
  ir_str v;
  if (r->username_header && ir_req_header(s, r->username_header, &v) == IR_OK && v.len &&
      v.len <= 65535 && !memchr(v.ptr, '\0', v.len))
    b->username = strndup(v.ptr, v.len);
  b->ws = mq_websocket()->accept(s, &r->ws, &ws_cbs, b);
  if (!b->ws) { /* answered, or out of memory */
    free(b->username);
    free(b);
    return IR_OK;
  }
  b->next = mw->bridges;
  if (mw->bridges) mw->bridges->prev = b;
  mw->bridges = b;
  mw->nbridges++;
  ir_outbound_opts oo = {.struct_size = sizeof oo, .connect_timeout_ms = r->connect_timeout_ms};
  if (r->broker.tls) {
    oo.flags = IR_OUTBOUND_TLS | (r->broker.verify ? 0 : IR_OUTBOUND_NO_VERIFY);
    oo.ca_file = r->broker.ca_file;
  }
  b->o = ir_outbound_open(mw->w, r->broker.host, r->broker.port, &oo, &broker_cbs, b);
  if (!b->o) {
    mq_count(mw->w, mq_metric.drops[MQ_DROP_BROKER_DOWN], 1);
    if (b->ws) mq_websocket()->open(b->ws, 503, "the MQTT broker cannot be reached");
  }
  return IR_OK;
}

/* Server drain: 5.0 sessions are told DISCONNECT 0x8B (server shutting
 * down), then every session closes with 1001. */
void mq_bridges_drain(mq_worker *mw) {
  for (mq_bridge *b = mw->bridges, *next; b; b = next) {
    next = b->next;
    if (!b->ws || b->ending) continue;
    if (!b->opened) {
      mq_websocket()->open(b->ws, 503, "shutting down");
      continue;
    }
    uint8_t d[8];
    size_t n = mq_build_disconnect(d, sizeof d, b->level, 0x8B);
    if (n) to_client(b, d, n);
    end_session(b, IR_WS_CLOSE_GOING_AWAY, "server shutting down");
  }
}
