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

/* Module init/fini: libmosquitto's library state. */
int mq_clients_init(void);
void mq_clients_fini(void);
/* Drain (every client disconnects cleanly) and worker_exit (frees them). */
void mq_clients_drain(mq_worker *mw);
void mq_clients_worker_exit(mq_worker *mw);

#endif /* MQ_CLIENT_H */
