/* packet.h — the MQTT packet inspector: finds packet boundaries in a byte
 * stream (either direction; a packet may span many reads and a read may
 * hold many packets) and decodes what the bridge's rules need from
 * CONNECT, CONNACK, PUBLISH, SUBSCRIBE, SUBACK and UNSUBSCRIBE, for MQTT
 * 3.1 (level 3), 3.1.1 (level 4) and 5.0 (level 5). It also builds the few
 * packets the bridge answers itself. No SDK, no allocation but the
 * framer's one bounded buffer, so the fuzz target drives it alone. */
#ifndef MQ_PACKET_H
#define MQ_PACKET_H

#include <stddef.h>
#include <stdint.h>

/* Control packet types (the fixed header's high nibble). */
enum {
  MQ_CONNECT = 1, MQ_CONNACK = 2, MQ_PUBLISH = 3, MQ_PUBACK = 4, MQ_PUBREC = 5,
  MQ_PUBREL = 6, MQ_PUBCOMP = 7, MQ_SUBSCRIBE = 8, MQ_SUBACK = 9, MQ_UNSUBSCRIBE = 10,
  MQ_UNSUBACK = 11, MQ_PINGREQ = 12, MQ_PINGRESP = 13, MQ_DISCONNECT = 14, MQ_AUTH = 15
};

/* Results. */
enum {
  MQ_OK = 0,
  MQ_E_MALFORMED = -1, /* bad remaining length, reserved flags, truncated or overlong fields */
  MQ_E_TOO_BIG = -2,   /* a packet over the framer's max_packet */
  MQ_E_NOMEM = -3,
  MQ_E_STOP = -4       /* the packet callback asked to stop */
};

/* A borrowed byte range inside a packet. */
typedef struct mq_bytes {
  const uint8_t *ptr;
  size_t len;
} mq_bytes;

/* Gathers packets from a byte stream. Zero it, set max_packet, feed it;
 * mq_framer_free gives its buffer back. */
typedef struct mq_framer {
  uint64_t max_packet; /* largest whole packet (fixed header included); 0: 268435460 */
  uint8_t *buf;        /* a packet split across feeds, gathered here */
  size_t len, cap, need;
  uint8_t head[5];     /* a fixed header split across feeds */
  uint8_t head_len;
} mq_framer;

/* Called for each whole packet, contiguous (fixed header + rest), borrowed
 * for the call. Return 0 to go on, non-zero to stop (feed returns MQ_E_STOP). */
typedef int (*mq_packet_cb)(void *data, const uint8_t *pkt, size_t len);

/* Feeds n bytes. MQ_OK; MQ_E_MALFORMED for a remaining length over four
 * bytes; MQ_E_TOO_BIG; MQ_E_NOMEM; MQ_E_STOP. After an error the framer is
 * spent (free it). */
int mq_framer_feed(mq_framer *f, const uint8_t *p, size_t n, mq_packet_cb cb, void *data);
void mq_framer_free(mq_framer *f);
/* Bytes of an unfinished packet held now. */
size_t mq_framer_pending(const mq_framer *f);

/* Well-formed UTF-8 (RFC 3629) without U+0000, as MQTT strings must be. */
int mq_utf8_valid(const uint8_t *s, size_t n);

/* A whole packet's type (high nibble of its first byte). */
static inline unsigned mq_type(const uint8_t *pkt) { return pkt[0] >> 4; }

/* Checks a whole packet's structure for the protocol level (3, 4 or 5; 0
 * before CONNECT, when only CONNECT is acceptable): fixed-header flags,
 * every length-prefixed field and property inside the remaining length,
 * UTF-8 strings valid and without U+0000. from_client picks which
 * direction's packets are legal. MQ_OK or MQ_E_MALFORMED. */
int mq_check(const uint8_t *pkt, size_t len, unsigned level, int from_client);

typedef struct mq_connect {
  uint8_t level;        /* 3, 4 or 5 */
  uint8_t flags;        /* connect flags byte */
  uint16_t keepalive;   /* seconds */
  mq_bytes client_id;
  mq_bytes username;    /* ptr NULL when absent */
  size_t username_at;   /* offset of the username's length prefix in the packet, 0 when absent */
  size_t password_at;   /* likewise the password's */
  uint32_t max_packet;  /* 5.0 Maximum Packet Size property, 0 when absent */
} mq_connect;
int mq_parse_connect(const uint8_t *pkt, size_t len, mq_connect *out);

typedef struct mq_connack {
  uint8_t session_present;
  uint8_t code;               /* return code (3.1.1) or reason code (5.0) */
  uint16_t topic_alias_max;   /* 5.0 Topic Alias Maximum, 0 when absent */
} mq_connack;
int mq_parse_connack(const uint8_t *pkt, size_t len, unsigned level, mq_connack *out);

typedef struct mq_publish {
  mq_bytes topic;       /* empty with a topic alias (5.0) */
  uint8_t qos, retain, dup;
  uint16_t packet_id;   /* 0 at QoS 0 */
  uint16_t topic_alias; /* 5.0, 0 when absent */
  mq_bytes payload;
} mq_publish;
int mq_parse_publish(const uint8_t *pkt, size_t len, unsigned level, mq_publish *out);

/* SUBSCRIBE and UNSUBSCRIBE: the packet id, then each topic filter in
 * turn. options is the subscription options byte (0 for UNSUBSCRIBE). */
typedef int (*mq_filter_cb)(void *data, size_t index, mq_bytes filter, uint8_t options);
int mq_parse_subscribe(const uint8_t *pkt, size_t len, unsigned level, uint16_t *packet_id,
                       mq_filter_cb cb, void *data);

/* SUBACK: the packet id and where its return/reason codes start. */
typedef struct mq_suback {
  uint16_t packet_id;
  size_t codes_at; /* offset of the first code in the packet */
  size_t ncodes;
} mq_suback;
int mq_parse_suback(const uint8_t *pkt, size_t len, unsigned level, mq_suback *out);

/* Builders: write into out (cap bytes), return the packet's length or 0
 * when cap is too small. */
size_t mq_build_connack(uint8_t *out, size_t cap, unsigned level, uint8_t code);
size_t mq_build_suback(uint8_t *out, size_t cap, unsigned level, uint16_t packet_id,
                       const uint8_t *codes, size_t ncodes);
/* PUBACK or PUBREC (type) with a reason code (5.0; 3.1.1 has none). */
size_t mq_build_puback(uint8_t *out, size_t cap, unsigned type, unsigned level,
                       uint16_t packet_id, uint8_t code);
/* DISCONNECT with a reason code (5.0 only; 0 for other levels). */
size_t mq_build_disconnect(uint8_t *out, size_t cap, unsigned level, uint8_t code);

/* Reason codes used here (3.1.1 CONNACK return codes in the comments). */
enum {
  MQ_RC_UNSPECIFIED = 0x80,       /* 3.1.1 SUBACK failure */
  MQ_RC_MALFORMED = 0x81,
  MQ_RC_PROTOCOL_ERROR = 0x82,
  MQ_RC_CLIENT_ID_INVALID = 0x85, /* 3.1.1 CONNACK 2 */
  MQ_RC_BAD_AUTH = 0x86,          /* 3.1.1 CONNACK 4 */
  MQ_RC_NOT_AUTHORIZED = 0x87,    /* 3.1.1 CONNACK 5 */
  MQ_RC_UNAVAILABLE = 0x88,       /* 3.1.1 CONNACK 3 */
  MQ_RC_TOPIC_INVALID = 0x90,
  MQ_RC_PACKET_TOO_LARGE = 0x95,
  MQ_RC_FILTER_INVALID = 0x8F
};

#endif /* MQ_PACKET_H */
