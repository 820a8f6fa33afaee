/* mqttmod.h — what mod_mqtt's files share: a route's settings and rules,
 * the module's metric series, the per-worker state, and each part's entry
 * points (bridge.c: MQTT over WebSocket; publish.c: HTTP publish; sse.c:
 * event-stream subscriptions; client.c: the worker's broker clients). */
#ifndef MQ_MOD_H
#define MQ_MOD_H

#include <iridium/mqtt.h>
#include <iridium/websocket.h>

#include "packet.h"
#include "topic.h"

/* A broker address as a route names it (broker = HOST:PORT). */
typedef struct mq_broker {
  char *name;    /* "HOST:PORT" as written: the key of the worker's client */
  char *host;    /* without brackets */
  uint16_t port;
  int tls;       /* broker_tls = on / noverify */
  int verify;    /* check the broker's certificate (broker_tls = on) */
  char *ca_file; /* broker_ca: CA bundle for libmosquitto; NULL: the system's */
} mq_broker;

/* Fills b's name, host and port from HOST:PORT or [IPv6]:PORT (mqtt.c):
 * 0, or -1 for a bad address or out of memory. */
int mq_broker_parse(mq_broker *b, const char *text);

/* One route of the module (instance data), read-only once workers run. */
typedef struct mq_route {
  const char *prefix; /* the route's path prefix */
  size_t prefix_len;
  mq_broker broker;
  mq_rules rules;
  uint64_t max_packet_size;    /* MQTT packets either way, fixed header included */
  char *client_id_pattern;     /* fnmatch(3) pattern the CONNECT's client id must match; NULL: any */
  char *username_header;       /* request header whose value replaces the username; NULL: none */
  ir_ws_options ws;            /* subprotocols mqtt and mqttv3.1, limits */
  uint64_t connect_timeout_ms; /* broker connection of a session */
  uint64_t publish_timeout_ms; /* HTTP publish waiting for its acknowledgement */
  uint64_t sse_queue;          /* bytes queued toward one subscriber before it is closed */
  uint64_t sse_heartbeat_ms;   /* comment line on an idle event stream; 0: none */
} mq_route;

/* Per-worker state (ir_worker_data), on that worker only. Each part keeps
 * its own members. */
struct mq_worker {
  ir_worker_t *w;
  int draining;
  /* client.c */
  struct mq_client *clients;
  /* bridge.c */
  struct mq_bridge *bridges;
  size_t nbridges;
  /* publish.c */
  struct mq_pub *pubs;
  /* sse.c */
  struct mq_sse *sses;
  size_t nsses;
};
typedef struct mq_worker mq_worker;

extern ir_module_t *mq_module;
/* The "websocket" service, looked up until found (a reload may load
 * mod_websocket after this module), or NULL while it is not loaded. Any
 * worker. */
const ir_websocket_v1 *mq_websocket(void);

mq_worker *mq_worker_of(ir_worker_t *w);

/* ---- metrics.c ---- */
enum { MQ_IN = 0, MQ_OUT = 1 }; /* direction: in = client toward broker */
enum {
  MQ_RULE_PUBLISH, MQ_RULE_SUBSCRIBE, MQ_RULE_CLIENT_ID, MQ_RULE_USERNAME, MQ_RULE_PACKET_SIZE,
  MQ_RULE_MALFORMED, MQ_RULE_COUNT
};
enum { MQ_DROP_SLOW_SUBSCRIBER, MQ_DROP_BROKER_DOWN, MQ_DROP_COUNT };
enum { MQ_HTTP_200, MQ_HTTP_400, MQ_HTTP_403, MQ_HTTP_413, MQ_HTTP_503, MQ_HTTP_504, MQ_HTTP_COUNT };

typedef struct mq_metrics {
  ir_series_t *sessions_open[2];  /* mqtt_sessions_open{protocol="h1|h2"} (WebSocket sessions) */
  ir_series_t *sessions_total[2]; /* mqtt_sessions_total{protocol} */
  ir_series_t *packets[2];        /* mqtt_packets_total{direction="in|out"} through bridges */
  ir_series_t *bytes[2];          /* mqtt_bytes_total{direction} through bridges */
  ir_series_t *violations[MQ_RULE_COUNT]; /* mqtt_violations_total{rule} */
  ir_series_t *drops[MQ_DROP_COUNT];      /* mqtt_drops_total{reason} */
  ir_series_t *reconnects;        /* mqtt_broker_reconnects_total (worker clients) */
  ir_series_t *broker_up;         /* mqtt_broker_connected: worker clients connected now */
  ir_series_t *http_publish[MQ_HTTP_COUNT]; /* mqtt_http_publish_total{status} */
  ir_series_t *subscribers_open;  /* mqtt_subscribers_open: event streams open */
  ir_series_t *events;            /* mqtt_events_total: messages sent on event streams */
} mq_metrics;

extern mq_metrics mq_metric;
int mq_metrics_register(ir_module_t *m);
/* Adds delta to a series (NULL-safe). */
void mq_count(ir_worker_t *w, ir_series_t *se, int64_t delta);
/* Counts a violation and logs it: "mqtt rule: RULE: detail". */
void mq_violation(ir_stream_t *s, int rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- mqtt.c: request helpers ---- */
/* The query parameter name's first value, percent-decoded into out (cap
 * bytes, NUL-terminated; `+` stays `+`, an MQTT wildcard). Its length, or
 * -1 when absent, -2 when longer than cap-1 or badly escaped. */
int mq_query_param(ir_str query, const char *name, char *out, size_t cap);
/* Percent-decodes in into out (cap bytes, NUL-terminated): the length, or -1. */
int mq_percent_decode(const char *in, size_t len, char *out, size_t cap);
/* A complete short text/plain answer; allow (or NULL) names the methods
 * taken, for a 405. */
int mq_answer(ir_stream_t *s, int status, const char *allow, const char *text);

/* ---- bridge.c: MQTT over WebSocket (an upgrade request on the route) ---- */
int mq_bridge_start(ir_stream_t *s, const mq_route *r);
void mq_bridges_drain(mq_worker *mw);

/* ---- publish.c: POST {route}/publish/{topic} ---- */
/* A non-upgrade stream's own data starts with this kind byte. */
enum { MQ_STREAM_PUBLISH = 1, MQ_STREAM_SSE = 2 };
int mq_publish_start(ir_stream_t *s, const mq_route *r, const char *topic, size_t len);
int mq_publish_body(ir_stream_t *s, const uint8_t *data, size_t len);
int mq_publish_body_end(ir_stream_t *s);
void mq_publish_close(ir_stream_t *s, int reason);

/* ---- sse.c: GET {route}/subscribe?topic={filter} ---- */
int mq_sse_start(ir_stream_t *s, const mq_route *r);
void mq_sse_writable(ir_stream_t *s);
void mq_sse_close(ir_stream_t *s, int reason);
void mq_sse_drain(ir_stream_t *s, uint64_t ms_left);

#endif /* MQ_MOD_H */
