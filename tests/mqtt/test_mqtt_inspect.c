/* test_mqtt_inspect.c — unit test of mod_mqtt's packet inspector and topic
 * rules (modules/mqtt/packet.c, topic.c), linked directly: packets built
 * byte by byte from the MQTT 3.1, 3.1.1 and 5.0 specifications, framed
 * whole and split at every byte boundary, malformed and oversize packets,
 * the parsers' fields, the builders' bytes, and the topic tables of MQTT
 * 5.0 section 4.7. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"
#include "topic.h"

static int failures;
#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                          \
    }                                                                      \
  } while (0)

/* Hex (spaces ignored) to bytes; returns the length. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap) {
  size_t n = 0;
  for (const char *h = hex; *h;) {
    if (*h == ' ') {
      h++;
      continue;
    }
    unsigned v;
    if (sscanf(h, "%2x", &v) != 1 || n >= cap) abort();
    out[n++] = (uint8_t)v, h += 2;
  }
  return n;
}

typedef struct pkt_case {
  unsigned level;
  int from_client;
  const char *hex;
} pkt_case;

/* Well-formed packets, each legal in its direction at its level. */
static const pkt_case good[] = {
  /* 3.1.1 CONNECT, clean session, keepalive 60, client id "abc" */
  {4, 1, "10 0f 0004 4d515454 04 02 003c 0003 616263"},
  /* 5.0 CONNECT: session expiry 60, maximum packet size 4096, id "c1", username "u" */
  {5, 1, "10 1c 0004 4d515454 05 82 003c 0a 11 0000003c 27 00001000 0002 6331 0001 75"},
  /* 3.1 CONNECT (MQIsdp, level 3) */
  {3, 1, "10 10 0006 4d5149736470 03 02 003c 0002 6331"},
  /* 3.1.1 CONNECT with a will (QoS 1, topic "w", payload "x"), username and password */
  {4, 1, "10 1a 0004 4d515454 04 ce 003c 0001 63 0001 77 0001 78 0001 75 0002 7077"},
  /* 5.0 PUBLISH QoS 1 "a/b" id 1, payload format indicator 1, "hi" */
  {5, 1, "32 0c 0003 612f62 0001 02 01 01 6869"},
  /* 3.1.1 PUBLISH QoS 0 "a/b" "hello" */
  {4, 1, "30 0a 0003 612f62 68656c6c6f"},
  /* 5.0 PUBLISH with a topic alias and no topic name; user property */
  {5, 1, "30 0e 0000 0a 23 0001 26 0001 6b 0001 76 21"},
  /* 5.0 SUBSCRIBE id 2: "a/+" QoS 1, "#" QoS 0 */
  {5, 1, "82 0d 0002 00 0003 612f2b 01 0001 23 00"},
  /* 3.1.1 SUBSCRIBE id 1: "x/#" QoS 1 */
  {4, 1, "82 08 0001 0003 782f23 01"},
  /* 3.1.1 UNSUBSCRIBE id 1: "a" */
  {4, 1, "a2 05 0001 0001 61"},
  /* PUBREL, PUBACK with a 5.0 reason code, PINGREQ, DISCONNECT */
  {4, 1, "62 02 0001"},
  {5, 1, "40 03 0001 10"},
  {4, 1, "c0 00"},
  {5, 1, "e0 00"},
  /* 5.0 DISCONNECT with a reason and a reason string "bye" */
  {5, 1, "e0 08 04 06 1f 0003 627965"},
  /* broker to client: CONNACKs, SUBACKs, PINGRESP, UNSUBACK */
  {4, 0, "20 02 00 00"},
  {5, 0, "20 06 00 00 03 22 000a"},
  {4, 0, "90 03 0001 80"},
  {5, 0, "90 05 0002 00 01 87"},
  {4, 0, "d0 00"},
  {5, 0, "b0 04 0001 00 00"},
  {5, 0, "e0 01 8e"},
  {3, 0, "90 03 0003 80"}, /* 3.1 SUBACK failure, as Mosquitto sends it (found by fuzz_mqtt_packet) */
};

/* Malformed packets (each must be refused by mq_check). */
static const pkt_case bad[] = {
  {4, 1, "30 ff ff ff ff 01"},                       /* remaining length over four bytes */
  {4, 1, "30 05 0009 612f62"},                       /* string past the end */
  {4, 1, "30 06 0003 612f62"},                       /* remaining length past the end */
  {4, 1, "30 04 0003 612f62"},                       /* bytes after the remaining length */
  {5, 1, "30 06 0001 61 09 01 01"},                  /* property length past the end */
  {5, 1, "30 06 0001 61 02 7f 00"},                  /* unknown property id */
  {5, 1, "30 07 0001 61 03 02 0000"},                /* u32 property truncated */
  {4, 1, "30 04 0002 c080"},                         /* overlong U+0000 */
  {4, 1, "30 05 0003 eda080"},                       /* surrogate U+D800 */
  {4, 1, "30 03 0001 00"},                           /* U+0000 */
  {4, 1, "30 05 0003 f4908080"},                     /* past U+10FFFF (and truncated) */
  {4, 1, "30 03 0001 ff"},                           /* not UTF-8 at all */
  {4, 1, "36 05 0001 61 0001"},                      /* QoS 3 */
  {4, 1, "38 03 0001 61"},                           /* DUP at QoS 0 */
  {4, 1, "32 05 0001 61 0000"},                      /* packet id 0 */
  {4, 1, "30 04 0001 2b 61"},                        /* wildcard in a topic name */
  {4, 1, "30 02 0000"},                              /* empty topic without an alias */
  {4, 1, "80 08 0001 0003 782f23 01"},               /* SUBSCRIBE flags 0 */
  {4, 1, "82 02 0001"},                              /* SUBSCRIBE without a filter */
  {4, 1, "82 06 0001 0001 61 04"},                   /* 3.1.1 reserved option bits */
  {5, 1, "82 07 0001 00 0001 61 30"},                /* 5.0 retain handling 3 */
  {5, 1, "82 07 0001 00 0001 61 c0"},                /* 5.0 reserved option bits */
  {4, 1, "82 05 0001 0001 61"},                      /* options byte missing */
  {4, 1, "a0 05 0001 0001 61"},                      /* UNSUBSCRIBE flags 0 */
  {4, 1, "60 02 0001"},                              /* PUBREL flags 0 */
  {4, 1, "10 0f 0004 4d515454 04 03 003c 0003 616263"}, /* CONNECT reserved flag */
  {4, 1, "10 0f 0004 4d515454 04 42 003c 0003 616263"}, /* 3.1.1 password without username */
  {4, 1, "10 0f 0004 4d515454 04 12 003c 0003 616263"}, /* will QoS without a will */
  {4, 1, "10 0f 0004 4d515454 07 02 003c 0003 616263"}, /* unknown level */
  {4, 1, "10 0f 0004 4d515453 04 02 003c 0003 616263"}, /* protocol name */
  {0, 1, "30 0a 0003 612f62 68656c6c6f"},            /* PUBLISH before CONNECT */
  {4, 1, "20 02 00 00"},                             /* CONNACK from a client */
  {4, 0, "82 08 0001 0003 782f23 01"},               /* SUBSCRIBE from the broker */
  {4, 1, "d0 00"},                                   /* PINGRESP from a client */
  {4, 1, "c0 01 00"},                                /* PINGREQ with a body */
  {4, 1, "00 00"},                                   /* reserved type 0 */
  {4, 1, "f0 00"},                                   /* AUTH before 5.0 */
  {4, 0, "20 02 02 00"},                             /* CONNACK reserved flags */
  {4, 0, "90 02 0001"},                              /* SUBACK without codes */
  {4, 0, "90 03 0001 87"},                           /* 3.1.1 SUBACK code 0x87 */
  {5, 0, "e0 05 00 03 02 0000"},                     /* truncated property in DISCONNECT */
};

/* ---- framing ---- */

typedef struct seen {
  uint8_t bytes[4096];
  size_t len, count;
  const uint8_t *last_ptr;
} seen;

static int collect(void *data, const uint8_t *pkt, size_t len) {
  seen *s = data;
  if (s->len + len + 4 > sizeof s->bytes) abort();
  /* each packet's length then its bytes, so boundaries are compared too */
  memcpy(s->bytes + s->len, &len, sizeof len > 4 ? 4 : sizeof len);
  s->len += 4;
  memcpy(s->bytes + s->len, pkt, len);
  s->len += len, s->count++, s->last_ptr = pkt;
  return 0;
}

static void test_framing(void) {
  uint8_t stream[4096];
  size_t n = 0, count = 0;
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    n += unhex(good[i].hex, stream + n, sizeof stream - n), count++;
  /* a PUBLISH with a two-byte remaining length (200) */
  static const uint8_t big_head[] = {0x30, 0xc8, 0x01, 0x00, 0x01, 't'};
  memcpy(stream + n, big_head, sizeof big_head);
  memset(stream + n + sizeof big_head, 'p', 197);
  n += sizeof big_head + 197, count++;

  seen whole = {0};
  mq_framer f = {.max_packet = 1024};
  CHECK(mq_framer_feed(&f, stream, n, collect, &whole) == MQ_OK);
  CHECK(whole.count == count);
  CHECK(mq_framer_pending(&f) == 0);
  CHECK(f.buf == NULL); /* whole packets in one feed are not copied */
  CHECK(whole.last_ptr == stream + n - 203);
  mq_framer_free(&f);

  /* split in two at every byte boundary */
  for (size_t cut = 0; cut <= n; cut++) {
    seen s = {0};
    mq_framer g = {.max_packet = 1024};
    CHECK(mq_framer_feed(&g, stream, cut, collect, &s) == MQ_OK);
    CHECK(mq_framer_feed(&g, stream + cut, n - cut, collect, &s) == MQ_OK);
    CHECK(s.len == whole.len && !memcmp(s.bytes, whole.bytes, s.len));
    CHECK(mq_framer_pending(&g) == 0);
    mq_framer_free(&g);
  }
  /* one byte at a time */
  seen s = {0};
  mq_framer g = {.max_packet = 1024};
  for (size_t i = 0; i < n; i++) {
    CHECK(mq_framer_feed(&g, stream + i, 1, collect, &s) == MQ_OK);
    if (i == 2) CHECK(mq_framer_pending(&g) == 3);
  }
  CHECK(s.len == whole.len && !memcmp(s.bytes, whole.bytes, s.len));
  mq_framer_free(&g);
}

static int stop_at_first(void *data, const uint8_t *pkt, size_t len) {
  (void)pkt, (void)len;
  ++*(int *)data;
  return 1;
}

static void test_framer_errors(void) {
  uint8_t b[64];
  size_t n = unhex("30 ff ff ff ff 01", b, sizeof b);
  seen s = {0};
  mq_framer f = {0};
  CHECK(mq_framer_feed(&f, b, n, collect, &s) == MQ_E_MALFORMED);
  CHECK(s.count == 0);
  mq_framer_free(&f);

  /* five-byte length one byte at a time: refused at the fifth byte */
  mq_framer g = {0};
  for (size_t i = 0; i < 4; i++) CHECK(mq_framer_feed(&g, b + i, 1, collect, &s) == MQ_OK);
  CHECK(mq_framer_feed(&g, b + 4, 1, collect, &s) == MQ_E_MALFORMED);
  CHECK(mq_framer_feed(&g, b + 5, 1, collect, &s) != MQ_OK); /* spent */
  mq_framer_free(&g);

  /* oversize: refused from the fixed header alone, nothing buffered */
  n = unhex("30 c8 01", b, sizeof b); /* remaining length 200 */
  mq_framer h = {.max_packet = 100};
  CHECK(mq_framer_feed(&h, b, 1, collect, &s) == MQ_OK);
  CHECK(mq_framer_feed(&h, b + 1, 1, collect, &s) == MQ_OK);
  CHECK(mq_framer_feed(&h, b + 2, 1, collect, &s) == MQ_E_TOO_BIG);
  CHECK(h.buf == NULL && s.count == 0);
  mq_framer_free(&h);
  /* 268435455, the largest length, with the default limit is not too big */
  n = unhex("30 ff ff ff 7f", b, sizeof b);
  mq_framer d = {0};
  CHECK(mq_framer_feed(&d, b, n, collect, &s) == MQ_OK);
  CHECK(mq_framer_pending(&d) == 5 && d.cap < 4096); /* grows as bytes come */
  mq_framer_free(&d);
  /* exactly max_packet is fine */
  n = unhex("30 03 0001 61", b, sizeof b);
  mq_framer e = {.max_packet = 5};
  CHECK(mq_framer_feed(&e, b, n, collect, &s) == MQ_OK && s.count == 1);
  mq_framer_free(&e);
  mq_framer e2 = {.max_packet = 4};
  CHECK(mq_framer_feed(&e2, b, n, collect, &s) == MQ_E_TOO_BIG);
  mq_framer_free(&e2);

  /* the callback stops the feed */
  n = unhex("c0 00 c0 00", b, sizeof b);
  int calls = 0;
  mq_framer st = {0};
  CHECK(mq_framer_feed(&st, b, n, stop_at_first, &calls) == MQ_E_STOP && calls == 1);
  mq_framer_free(&st);
}

/* ---- check, parsers, builders ---- */

static void test_check(void) {
  uint8_t b[512];
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    size_t n = unhex(good[i].hex, b, sizeof b);
    int rc = mq_check(b, n, good[i].level, good[i].from_client);
    if (rc != MQ_OK) fprintf(stderr, "good[%zu] %s refused\n", i, good[i].hex);
    CHECK(rc == MQ_OK);
    if (mq_type(b) == MQ_CONNECT) CHECK(mq_check(b, n, 0, 1) == MQ_OK);
    /* every shorter prefix is malformed */
    for (size_t k = 0; k < n; k++) CHECK(mq_check(b, k, good[i].level, good[i].from_client) != MQ_OK);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t n = unhex(bad[i].hex, b, sizeof b);
    int rc = mq_check(b, n, bad[i].level, bad[i].from_client);
    if (rc != MQ_E_MALFORMED) fprintf(stderr, "bad[%zu] %s accepted\n", i, bad[i].hex);
    CHECK(rc == MQ_E_MALFORMED);
  }
}

static int list_filters(void *data, size_t index, mq_bytes filter, uint8_t options) {
  char *out = data;
  size_t at = strlen(out);
  snprintf(out + at, 128 - at, "%zu:%.*s:%u;", index, (int)filter.len, (const char *)filter.ptr,
           options);
  return 0;
}

static void test_parsers(void) {
  uint8_t b[512];
  size_t n = unhex(good[1].hex, b, sizeof b);
  mq_connect c;
  CHECK(mq_parse_connect(b, n, &c) == MQ_OK);
  CHECK(c.level == 5 && c.keepalive == 60 && c.flags == 0x82 && c.max_packet == 4096);
  CHECK(c.client_id.len == 2 && !memcmp(c.client_id.ptr, "c1", 2));
  CHECK(c.username.len == 1 && c.username.ptr[0] == 'u' && c.username_at == 27);
  CHECK(c.password_at == 0);
  n = unhex(good[3].hex, b, sizeof b);
  CHECK(mq_parse_connect(b, n, &c) == MQ_OK);
  CHECK(c.level == 4 && c.username_at == 21 && c.password_at == 24 && c.max_packet == 0);
  n = unhex(good[2].hex, b, sizeof b);
  CHECK(mq_parse_connect(b, n, &c) == MQ_OK && c.level == 3);

  mq_publish p;
  n = unhex(good[4].hex, b, sizeof b);
  CHECK(mq_parse_publish(b, n, 5, &p) == MQ_OK);
  CHECK(p.qos == 1 && p.packet_id == 1 && p.topic.len == 3 && !memcmp(p.topic.ptr, "a/b", 3));
  CHECK(p.payload.len == 2 && !memcmp(p.payload.ptr, "hi", 2) && !p.retain && !p.dup);
  n = unhex(good[6].hex, b, sizeof b);
  CHECK(mq_parse_publish(b, n, 5, &p) == MQ_OK);
  CHECK(p.topic.len == 0 && p.topic_alias == 1 && p.payload.len == 1 && p.payload.ptr[0] == '!');
  CHECK(mq_parse_publish(b, n, 4, &p) == MQ_E_MALFORMED); /* no properties in 3.1.1 */

  char list[128] = "";
  uint16_t id;
  n = unhex(good[7].hex, b, sizeof b);
  CHECK(mq_parse_subscribe(b, n, 5, &id, list_filters, list) == MQ_OK);
  CHECK(id == 2 && !strcmp(list, "0:a/+:1;1:#:0;"));
  list[0] = 0;
  n = unhex(good[9].hex, b, sizeof b);
  CHECK(mq_parse_subscribe(b, n, 4, &id, list_filters, list) == MQ_OK);
  CHECK(id == 1 && !strcmp(list, "0:a:0;"));

  mq_suback sa;
  n = unhex(good[18].hex, b, sizeof b);
  CHECK(mq_parse_suback(b, n, 5, &sa) == MQ_OK);
  CHECK(sa.packet_id == 2 && sa.ncodes == 2 && sa.codes_at == 5 && b[sa.codes_at + 1] == 0x87);

  mq_connack ca;
  n = unhex(good[16].hex, b, sizeof b);
  CHECK(mq_parse_connack(b, n, 5, &ca) == MQ_OK && ca.topic_alias_max == 10 && ca.code == 0);
  CHECK(mq_parse_connack(b, n, 4, &ca) == MQ_E_MALFORMED);
  CHECK(mq_parse_publish(b, n, 5, &p) == MQ_E_MALFORMED); /* wrong type */
}

static void expect_bytes(const uint8_t *got, size_t n, const char *hex) {
  uint8_t want[64];
  size_t wn = unhex(hex, want, sizeof want);
  CHECK(n == wn && !memcmp(got, want, n));
}

static void test_builders(void) {
  uint8_t b[64];
  size_t n = mq_build_connack(b, sizeof b, 4, MQ_RC_CLIENT_ID_INVALID);
  expect_bytes(b, n, "20 02 00 02");
  n = mq_build_connack(b, sizeof b, 4, MQ_RC_UNAVAILABLE);
  expect_bytes(b, n, "20 02 00 03");
  CHECK(mq_check(b, n, 4, 0) == MQ_OK);
  n = mq_build_connack(b, sizeof b, 5, MQ_RC_CLIENT_ID_INVALID);
  expect_bytes(b, n, "20 03 00 85 00");
  CHECK(mq_check(b, n, 5, 0) == MQ_OK);
  CHECK(mq_build_connack(b, 3, 4, 0) == 0);

  const uint8_t codes[] = {MQ_RC_NOT_AUTHORIZED, 1};
  n = mq_build_suback(b, sizeof b, 4, 7, codes, 2);
  expect_bytes(b, n, "90 04 0007 80 01");
  CHECK(mq_check(b, n, 4, 0) == MQ_OK);
  n = mq_build_suback(b, sizeof b, 5, 7, codes, 2);
  expect_bytes(b, n, "90 05 0007 00 87 01");
  CHECK(mq_check(b, n, 5, 0) == MQ_OK);
  CHECK(mq_build_suback(b, 6, 5, 7, codes, 2) == 0);
  /* 200 codes: a two-byte remaining length */
  uint8_t many[200], big[256];
  memset(many, 1, sizeof many);
  n = mq_build_suback(big, sizeof big, 5, 1, many, sizeof many);
  CHECK(n == 206 && big[1] == 0xcb && big[2] == 0x01 && mq_check(big, n, 5, 0) == MQ_OK);

  n = mq_build_puback(b, sizeof b, MQ_PUBACK, 5, 9, MQ_RC_NOT_AUTHORIZED);
  expect_bytes(b, n, "40 03 0009 87");
  CHECK(mq_check(b, n, 5, 0) == MQ_OK);
  n = mq_build_puback(b, sizeof b, MQ_PUBREC, 4, 9, MQ_RC_NOT_AUTHORIZED);
  expect_bytes(b, n, "50 02 0009");
  CHECK(mq_check(b, n, 4, 0) == MQ_OK);

  n = mq_build_disconnect(b, sizeof b, 5, MQ_RC_MALFORMED);
  expect_bytes(b, n, "e0 01 81");
  CHECK(mq_check(b, n, 5, 0) == MQ_OK);
  CHECK(mq_build_disconnect(b, sizeof b, 4, MQ_RC_MALFORMED) == 0);
}

/* ---- topics ---- */

#define S(x) x, strlen(x)

static void test_topics(void) {
  static const struct { const char *filter, *topic; int match; } m[] = {
    {"sport/tennis/player1/#", "sport/tennis/player1", 1},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", 1},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", 1},
    {"sport/#", "sport", 1},
    {"#", "sport/tennis", 1},
    {"sport/tennis/+", "sport/tennis/player1", 1},
    {"sport/tennis/+", "sport/tennis/player1/ranking", 0},
    {"sport/+", "sport", 0},
    {"sport/+", "sport/", 1},
    {"+/+", "/finance", 1},
    {"/+", "/finance", 1},
    {"+", "/finance", 0},
    {"#", "$SYS/broker/uptime", 0},
    {"+/monitor/Clients", "$SYS/monitor/Clients", 0},
    {"$SYS/#", "$SYS/monitor/Clients", 1},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", 1},
    {"a/b", "a/b", 1},
    {"a/b", "a/bc", 0},
    {"a/b", "A/b", 0},
    {"a/b/c", "a/b", 0},
    {"$share/g/a/+", "a/b", 1},
    {"$share/g/#", "$SYS/x", 0},
  };
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
    int got = mq_topic_match(S(m[i].filter), S(m[i].topic));
    if (got != m[i].match) fprintf(stderr, "match %s %s\n", m[i].filter, m[i].topic);
    CHECK(got == m[i].match);
  }

  static const struct { const char *t; int filter, valid; } v[] = {
    {"sport/tennis/#", 1, 1}, {"sport/tennis#", 1, 0}, {"sport/tennis/#/ranking", 1, 0},
    {"+", 1, 1}, {"+/tennis/#", 1, 1}, {"sport+", 1, 0}, {"sport/+/player1", 1, 1},
    {"#", 1, 1}, {"", 1, 0}, {"", 0, 0}, {"a/+", 0, 0}, {"a/#", 0, 0}, {"/", 0, 1},
    {"$share/g/a/#", 1, 1}, {"$share/g", 1, 0}, {"$share//a", 1, 0}, {"$share/g+/a", 1, 0},
    {"$share/g/", 1, 0},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    int got = mq_topic_valid(S(v[i].t), v[i].filter);
    if (got != v[i].valid) fprintf(stderr, "valid %s\n", v[i].t);
    CHECK(got == v[i].valid);
  }
  CHECK(!mq_topic_valid("a\0b", 3, 0));

  static const struct { const char *allowed, *sub; int within; } w[] = {
    {"a/#", "a/+", 1}, {"a/+", "a/#", 0}, {"#", "$SYS/#", 0}, {"$SYS/#", "$SYS/x", 1},
    {"#", "a/b/c", 1}, {"a/#", "a", 1}, {"a/+", "a", 0}, {"+/b", "a/b", 1}, {"a/b", "+/b", 0},
    {"#", "#", 1}, {"+", "#", 0}, {"a/+/c", "a/b/c", 1}, {"a/#", "$share/g/a/x", 1},
    {"+", "$x", 0}, {"a/+", "a/+/c", 0}, {"a/+", "a/+", 1}, {"a/b", "a/b", 1}, {"a/b", "a/c", 0},
    {"#", "+/x", 1}, {"$SYS/#", "#", 0}, {"a/#", "b/#", 0}, {"sensors/+/temp", "sensors/#", 0},
  };
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
    int got = mq_filter_within(S(w[i].allowed), S(w[i].sub));
    if (got != w[i].within) fprintf(stderr, "within %s %s\n", w[i].allowed, w[i].sub);
    CHECK(got == w[i].within);
  }

  char *pub[] = {"chat/#", "status/+", NULL}, *sub[] = {"chat/#", "$SYS/broker/+", NULL};
  mq_rules r = {pub, sub};
  CHECK(mq_may_publish(&r, S("chat/room1")));
  CHECK(mq_may_publish(&r, S("status/x")));
  CHECK(!mq_may_publish(&r, S("status/x/y")));
  CHECK(!mq_may_publish(&r, S("chat/+"))); /* not a topic name */
  CHECK(!mq_may_publish(&r, S("other")));
  CHECK(mq_may_subscribe(&r, S("chat/+/msg")));
  CHECK(mq_may_subscribe(&r, S("$SYS/broker/uptime")));
  CHECK(!mq_may_subscribe(&r, S("#")));
  CHECK(!mq_may_subscribe(&r, S("chat/#/x"))); /* not a filter */
  CHECK(!mq_may_subscribe(&r, S("$SYS/#")));
}

int main(void) {
  test_framing();
  test_framer_errors();
  test_check();
  test_parsers();
  test_builders();
  test_topics();
  if (failures) fprintf(stderr, "%d failures\n", failures);
  else printf("mqtt_inspect: all checks passed\n");
  return failures != 0;
}
