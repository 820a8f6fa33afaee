/* wsmod.h — what mod_websocket's files share: the module handle, its
 * metrics, and the per-worker state (the worker's sessions, walked by one
 * keepalive timer, and its members of each broadcast room). */
#ifndef WS_MOD_H
#define WS_MOD_H

#include <iridium/websocket.h>

typedef struct ir_ws_session ws_session;
typedef struct ws_member ws_member;

/* The module's metric series, looked up once in init. */
typedef struct ws_metrics {
  ir_metric_t *closes; /* websocket_closes_total{code}: series made per code */
  ir_series_t *open[2]; /* websocket_sessions_open{protocol}: h1, h2 */
  ir_series_t *total[2][2]; /* websocket_sessions_total{protocol,deflate} */
  ir_series_t *messages[2]; /* websocket_messages_total{direction}: in, out */
  ir_series_t *bytes[2];    /* websocket_bytes_total{direction} */
  ir_series_t *wire[2];     /* websocket_wire_bytes_total{direction} */
  ir_series_t *slow[2];     /* websocket_slow_consumer_total{policy}: close, drop_oldest */
  ir_series_t *room_drops;  /* websocket_room_drops_total: not handed to a room's broker */
} ws_metrics;

/* A room's members on one worker. */
typedef struct ws_room_local {
  ws_member *head;
  size_t count;
  struct ws_worker *ww;        /* its worker, for the broker's callbacks */
  uint32_t id;
  struct ir_mqtt_sub *sub;     /* room_topic: the worker's subscription */
  const char *topic, *broker;  /* room_topic, room_broker (backbone.c's), or NULL */
} ws_room_local;

typedef struct ws_worker {
  ir_worker_t *w;
  ws_session *sessions; /* every session of the worker */
  size_t nsessions;
  ir_timer_t *tick;     /* keepalive and close deadlines, while there are sessions */
  ws_room_local **rooms; /* [nrooms], each allocated once (the broker's callbacks hold it) */
  size_t nrooms;         /* grows when a member joins a room a reload added (ws_rooms_grow) */
  ir_timer_t *subscribe; /* room_topic: subscribes once every worker_init ran */
} ws_worker;

extern ir_module_t *ws_module;
extern ws_metrics ws_metric;

/* The worker's state (set in worker_init). */
ws_worker *ws_worker_of(ir_worker_t *w);

/* metrics.c */
int ws_metrics_register(ir_module_t *m);
void ws_metrics_close(ir_worker_t *w, unsigned code);
int ws_metrics_answer(ir_stream_t *s);

/* session.c: the service table and the monotonic clock. */
extern const ir_websocket_v1 ws_service;
uint64_t ws_now_ms(void);

#endif /* WS_MOD_H */
