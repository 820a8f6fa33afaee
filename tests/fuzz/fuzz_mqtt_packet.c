/* fuzz_mqtt_packet.c — libFuzzer target: mod_mqtt's packet inspector
 * (modules/mqtt/packet.c) and topic rules (topic.c), outside any server,
 * as the bridge uses them on either direction's bytes.
 *
 * Input: byte 0 picks the protocol level (3, 4 or 5, or 0: before
 * CONNECT), the direction (bit 2) and max_packet (bits 3-5: 64 << n, or
 * none); byte 1 seeds the split points; the rest is the byte stream. The
 * stream is framed three ways — whole, one byte per feed, and in pieces
 * whose sizes come from the seed — and every way must give the same
 * packets and the same ending (a packet split at any boundary is the same
 * packet). Each packet is checked (mq_check) and, when well-formed, parsed
 * as its type, with every field it reports inside the packet; topic names
 * and filters go through the topic rules; the builders' packets must pass
 * mq_check themselves.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"
#include "topic.h"

#define MAX_SEEN 4096

typedef struct seen {
  size_t n;
  size_t len[MAX_SEEN];
  uint64_t hash[MAX_SEEN];
} seen;

typedef struct ctx {
  unsigned level;
  int from_client;
  const uint8_t *pkt;
  size_t pkt_len;
} ctx;

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static void inside(const ctx *c, mq_bytes b) {
  if (!b.ptr) return;
  assert(b.ptr >= c->pkt && b.ptr + b.len <= c->pkt + c->pkt_len);
}

static char *allowed_publish[] = {"demo/#", "a/+/c", "$SYS/x", NULL};
static char *allowed_subscribe[] = {"demo/#", "a/+", "+/b/#", NULL};
static const mq_rules rules = {allowed_publish, allowed_subscribe};

static void topic_rules(const mq_bytes *t, int is_filter) {
  const char *s = (const char *)t->ptr;
  int valid = mq_topic_valid(s, t->len, is_filter);
  if (!valid) return;
  if (is_filter) {
    int may = mq_may_subscribe(&rules, s, t->len);
    /* a filter within an allowed one is allowed, and matches what it does */
    if (mq_filter_within("demo/#", 6, s, t->len)) assert(may);
    assert(mq_filter_within(s, t->len, s, t->len) || t->len == 0);
    mq_topic_match(s, t->len, "demo/a/b", 8);
  } else {
    (void)mq_may_publish(&rules, s, t->len);
    assert(mq_topic_match("#", 1, s, t->len) == (s[0] != '$'));
    /* a name matches itself as a filter, unless it reads as a shared
     * subscription ("$share/g/x" as a filter means "x" in group g) */
    if (t->len < 7 || memcmp(s, "$share/", 7) != 0) assert(mq_topic_match(s, t->len, s, t->len));
  }
}

static int on_filter(void *data, size_t index, mq_bytes filter, uint8_t options) {
  (void)index, (void)options;
  const ctx *c = data;
  inside(c, filter);
  topic_rules(&filter, 1);
  return 0;
}

static void inspect(const ctx *base, const uint8_t *pkt, size_t len) {
  ctx c = *base;
  c.pkt = pkt, c.pkt_len = len;
  if (mq_check(pkt, len, c.level, c.from_client) != MQ_OK) return;
  switch (mq_type(pkt)) {
  case MQ_CONNECT: {
    mq_connect k;
    if (mq_parse_connect(pkt, len, &k) != MQ_OK) break;
    assert(k.level >= 3 && k.level <= 5);
    inside(&c, k.client_id);
    inside(&c, k.username);
    assert(k.username_at < len && k.password_at < len);
    break;
  }
  case MQ_CONNACK: {
    mq_connack k;
    (void)mq_parse_connack(pkt, len, c.level, &k);
    break;
  }
  case MQ_PUBLISH: {
    mq_publish p;
    if (mq_parse_publish(pkt, len, c.level, &p) != MQ_OK) break;
    inside(&c, p.topic);
    inside(&c, p.payload);
    assert(p.qos <= 2);
    assert((p.qos == 0) == (p.packet_id == 0));
    if (p.topic.len) topic_rules(&p.topic, 0);
    break;
  }
  case MQ_SUBSCRIBE:
  case MQ_UNSUBSCRIBE: {
    uint16_t id;
    (void)mq_parse_subscribe(pkt, len, c.level, &id, on_filter, &c);
    break;
  }
  case MQ_SUBACK: {
    mq_suback k;
    if (mq_parse_suback(pkt, len, c.level, &k) != MQ_OK) break;
    assert(k.codes_at + k.ncodes <= len);
    break;
  }
  default:
    break;
  }
}

typedef struct run {
  ctx c;
  seen *s;
} run;

static int on_packet(void *data, const uint8_t *pkt, size_t len) {
  run *r = data;
  assert(len >= 2);
  if (r->s->n < MAX_SEEN) {
    r->s->len[r->s->n] = len;
    r->s->hash[r->s->n] = fnv1a(pkt, len);
  }
  r->s->n++;
  inspect(&r->c, pkt, len);
  return 0;
}

/* Frames stream in pieces: piece(i) gives each feed's size. The last
 * feed's result. */
static int frame(const ctx *c, uint64_t max_packet, const uint8_t *p, size_t n, seen *s,
                 size_t (*piece)(size_t i, uint8_t seed), uint8_t seed) {
  mq_framer f = {.max_packet = max_packet};
  run r = {*c, s};
  int rc = MQ_OK;
  for (size_t i = 0, at = 0; at < n && rc == MQ_OK; i++) {
    size_t k = piece(i, seed);
    if (k > n - at) k = n - at;
    rc = mq_framer_feed(&f, p + at, k, on_packet, &r);
    at += k;
  }
  if (rc == MQ_OK) assert(mq_framer_pending(&f) <= n);
  mq_framer_free(&f);
  return rc;
}

static size_t whole(size_t i, uint8_t seed) { return (void)i, (void)seed, SIZE_MAX; }
static size_t bytewise(size_t i, uint8_t seed) { return (void)i, (void)seed, 1; }
static size_t seeded(size_t i, uint8_t seed) {
  return 1 + ((seed * 31u + (unsigned)i * 17u) % (1u + (seed & 63u)));
}

static void same(const seen *a, const seen *b) {
  assert(a->n == b->n);
  size_t n = a->n < MAX_SEEN ? a->n : MAX_SEEN;
  for (size_t i = 0; i < n; i++) assert(a->len[i] == b->len[i] && a->hash[i] == b->hash[i]);
}

static void builders(unsigned level) {
  uint8_t out[64];
  unsigned lv = level ? level : 4;
  size_t n = mq_build_connack(out, sizeof out, lv, MQ_RC_NOT_AUTHORIZED);
  assert(n && mq_check(out, n, lv, 0) == MQ_OK);
  const uint8_t codes[] = {0, 1, 2, lv == 5 ? MQ_RC_NOT_AUTHORIZED : MQ_RC_UNSPECIFIED};
  n = mq_build_suback(out, sizeof out, lv, 7, codes, sizeof codes);
  assert(n && mq_check(out, n, lv, 0) == MQ_OK);
  n = mq_build_puback(out, sizeof out, MQ_PUBACK, lv, 9, MQ_RC_NOT_AUTHORIZED);
  assert(n && mq_check(out, n, lv, 0) == MQ_OK);
  n = mq_build_disconnect(out, sizeof out, lv, MQ_RC_MALFORMED);
  assert(lv != 5 || (n && mq_check(out, n, lv, 0) == MQ_OK));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  static const unsigned levels[4] = {0, 3, 4, 5};
  ctx c = {.level = levels[data[0] & 3], .from_client = (data[0] >> 2) & 1};
  unsigned sz = (data[0] >> 3) & 7;
  uint64_t max_packet = sz == 7 ? 0 : (uint64_t)64 << sz;
  uint8_t seed = data[1];
  const uint8_t *p = data + 2;
  size_t n = size - 2;

  static seen a, b, d;
  a.n = b.n = d.n = 0;
  int ra = frame(&c, max_packet, p, n, &a, whole, seed);
  int rb = frame(&c, max_packet, p, n, &b, bytewise, seed);
  int rd = frame(&c, max_packet, p, n, &d, seeded, seed);
  assert(ra == rb && ra == rd);
  same(&a, &b);
  same(&a, &d);
  builders(c.level);
  return 0;
}
