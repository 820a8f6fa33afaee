/* iridium/mqtt.h — the "mqtt" service, version 1, that mod_mqtt offers other
 * modules through the service registry: publish to and subscribe at an
 * MQTT broker through the worker's own broker client (one libmosquitto
 * connection per worker and broker, driven by the worker's loop).
 *
 *   const ir_mqtt_v1 *mq = ir_service_lookup(IR_MQTT_SERVICE, 1, NULL);
 *
 * Look it up once every module's init ran (worker_init). Every call runs
 * on the worker passed in, and every callback on that worker. A broker is
 * named "HOST:PORT" (or "[IPv6]:PORT"). The struct only grows at the end;
 * read an entry only when struct_size covers it.
 */
#ifndef IRIDIUM_MQTT_H
#define IRIDIUM_MQTT_H

#include <iridium/iridium.h>

#define IR_MQTT_SERVICE "mqtt"

typedef struct ir_mqtt_sub ir_mqtt_sub_t;

/* A message that arrived, borrowed for the callback. */
typedef struct ir_mqtt_message {
  uint32_t struct_size;
  ir_str topic;
  const uint8_t *payload;
  size_t len;
  int qos;
  int retain; /* sent because the subscription is new (a retained message) */
  int utf8;   /* 1: the publisher marked the payload UTF-8 (MQTT 5 payload format
               * indicator); 0: not marked */
} ir_mqtt_message;

/* A subscription's callbacks (module-owned, unchanged until unsubscribe). */
typedef struct ir_mqtt_sub_cbs {
  uint32_t struct_size;
  void (*on_message)(const ir_mqtt_message *msg, void *data);
  /* The broker connection went down (up = 0: nothing arrives until it
   * comes back), or came back with the subscription restored (up = 1:
   * messages published in between may have been missed). */
  void (*on_state)(int up, void *data);
} ir_mqtt_sub_cbs;

/* Publish options (zeros: QoS 0, not retained, payload not marked). */
typedef struct ir_mqtt_publish_opts {
  uint32_t struct_size;
  int qos;    /* 0, 1 or 2 */
  int retain;
  int utf8;   /* mark the payload UTF-8 (payload format indicator) */
  /* Called once on w: IR_OK when sent (QoS 0) or acknowledged (QoS 1, 2);
   * IR_ECLOSED when the connection went down first; IR_ETIMEDOUT. NULL: no
   * report. */
  void (*done)(int status, void *data);
  void *data;
} ir_mqtt_publish_opts;

typedef struct ir_mqtt_v1 {
  uint32_t struct_size; /* sizeof(ir_mqtt_v1) of the service */
  /* Subscribes at broker through w's client (made and connected on first
   * use, reconnecting with backoff) to filter at qos. The handle, or NULL
   * for an invalid filter or broker name, or out of memory. While the
   * broker is down the subscription waits and on_state(1) follows when it
   * is made. */
  ir_mqtt_sub_t *(*subscribe)(ir_worker_t *w, const char *broker, const char *filter, int qos,
                              const ir_mqtt_sub_cbs *cbs, void *data);
  /* Ends a subscription; no callback follows. */
  void (*unsubscribe)(ir_mqtt_sub_t *sub);
  /* Publishes payload (copied) to topic. IR_OK (queued; done follows);
   * IR_EINVAL for a bad topic, broker or qos; IR_ECLOSED while the broker is
   * unreachable (done is not called); IR_ENOMEM. */
  int (*publish)(ir_worker_t *w, const char *broker, const char *topic, const void *payload,
                 size_t len, const ir_mqtt_publish_opts *opts);
  /* 1 when w's client for broker is connected now. */
  int (*connected)(ir_worker_t *w, const char *broker);
} ir_mqtt_v1;

#endif /* IRIDIUM_MQTT_H */
