/* client.h — the worker's broker clients: one libmosquitto connection per
 * worker and broker, never a thread of its own, driven by an SDK fd watch
 * on the worker's loop and a 1 s timer (keepalive, reconnect with backoff),
 * with the subscriptions of every event stream and room on that worker
 * counted per filter. The "mqtt" service (iridium/mqtt.h) is this file's
 * table; publish.c and sse.c use the same entries. */
#ifndef MQ_CLIENT_H
#define MQ_CLIENT_H

#include <iridium/mqtt.h>

typedef struct mq_worker mq_worker;

/* The service table (registered in init). */
extern const ir_mqtt_v1 mq_service;

typedef struct mq_broker mq_broker;

/* The same entries for a route's own broker settings (TLS, CA): the
 * worker's client for b->name, made on first use. */
ir_mqtt_sub_t *mq_client_subscribe(mq_worker *mw, const mq_broker *b, const char *filter, int qos,
                                   const ir_mqtt_sub_cbs *cbs, void *data);
void mq_client_unsubscribe(ir_mqtt_sub_t *sub);
int mq_client_publish(mq_worker *mw, const mq_broker *b, const char *topic, const void *payload,
                      size_t len, const ir_mqtt_publish_opts *opts);
int mq_client_connected(mq_worker *mw, const mq_broker *b);

/* Module init/fini: libmosquitto's library state. */
int mq_clients_init(void);
void mq_clients_fini(void);
/* Drain (every client disconnects cleanly) and worker_exit (frees them). */
void mq_clients_drain(mq_worker *mw);
void mq_clients_worker_exit(mq_worker *mw);

#endif /* MQ_CLIENT_H */
