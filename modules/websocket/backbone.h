/* backbone.h — rooms across instances: a broadcast room whose route names
 * room_topic is carried by an MQTT topic through mod_mqtt's "mqtt"
 * service instead of worker posts. */
#ifndef WS_BACKBONE_H
#define WS_BACKBONE_H

#include "room.h"

/* Names room's topic and broker (main thread, route set-up). 0, or -1 when
 * the room already has another backbone (logged) or out of memory. */
int ws_backbone_set(uint32_t room, const char *topic, const char *broker, const char *prefix);
/* Copies r's topic and broker (when its room has them) into r: a worker
 * growing its table. */
void ws_backbone_copy(ws_room_local *r);
/* Subscribes the worker to the topics of its rooms from `from` on that it
 * has not subscribed (none while its first-turn subscribe is pending). */
void ws_backbone_subscribe(ws_worker *ww, size_t from);
/* Worker start: looks the "mqtt" service up (IR_EINVAL, logged, when a
 * room needs it and mod_mqtt is not loaded) and subscribes every room's
 * topic at QoS 1 on the first loop turn. */
int ws_backbone_worker_init(ws_worker *ww);
void ws_backbone_worker_exit(ws_worker *ww);
/* Publishes a member's message to the room's topic (QoS 1, marked UTF-8
 * for text); it reaches local members when the broker sends it back. A
 * message the broker cannot take now is dropped and counted. */
void ws_backbone_publish(ws_worker *ww, uint32_t room, unsigned type, const uint8_t *msg,
                         size_t len);
void ws_backbone_free(void);

#endif /* WS_BACKBONE_H */
