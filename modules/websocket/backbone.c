/* backbone.c — rooms across instances. Every worker of every instance
 * subscribes to the room's topic; a member's message is only published
 * (QoS 1) and comes back from the broker to each subscribed worker, which
 * hands it to its own members: so each member everywhere gets it once,
 * the sender's own included (as in a local room), and a sender's messages
 * keep their order (one connection per worker, QoS 1 in order). */
#include "backbone.h"

#include <iridium/mqtt.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

typedef struct backbone {
  char *topic;  /* NULL: a local room */
  char *broker;
} backbone;

static backbone *links; /* [nlinks], indexed by room id; main thread */
static size_t nlinks;
static const ir_mqtt_v1 *mq;

int ws_backbone_set(uint32_t room, const char *topic, const char *broker, const char *prefix) {
  if (room >= nlinks) {
    backbone *grown = realloc(links, (room + 1) * sizeof(*grown));
    if (!grown) return -1;
    memset(grown + nlinks, 0, (room + 1 - nlinks) * sizeof(*grown));
    links = grown;
    nlinks = room + 1;
  }
  backbone *b = &links[room];
  if (b->topic) {
    if (!strcmp(b->topic, topic) && !strcmp(b->broker, broker)) return 0;
    ir_log(ws_module, NULL, IR_LOG_ERROR,
           "route %s: room_topic = %s at %s: its room already uses %s at %s", prefix, topic,
           broker, b->topic, b->broker);
    return -1;
  }
  b->topic = strdup(topic);
  b->broker = strdup(broker);
  return b->topic && b->broker ? 0 : -1;
}

int ws_backbone_has(uint32_t room) { return room < nlinks && links[room].topic; }

void ws_backbone_free(void) {
  for (size_t i = 0; i < nlinks; i++) {
    free(links[i].topic);
    free(links[i].broker);
  }
  free(links);
  links = NULL;
  nlinks = 0;
}

/* A message from the broker: to the worker's members of the room. Text
 * only when the publisher marked it UTF-8 and it is (RFC 6455 text must
 * be), binary otherwise. Retained messages are old news: skipped. */
static void on_message(const ir_mqtt_message *msg, void *data) {
  ws_room_local *r = data;
  if (msg->retain) return;
  unsigned type = IR_WS_BINARY;
  if (msg->utf8) {
    ws_utf8 u;
    ws_utf8_reset(&u);
    if (ws_utf8_feed(&u, msg->payload, msg->len) == 0 && ws_utf8_complete(&u)) type = IR_WS_TEXT;
  }
  ws_room_deliver_local(r->ww, r->id, type, msg->payload, msg->len);
}

static void on_state(int up, void *data) {
  ws_room_local *r = data;
  ir_log(ws_module, NULL, up ? IR_LOG_INFO : IR_LOG_WARN, "room topic %s: broker %s",
         links[r->id].topic, up ? "subscribed" : "down (messages are dropped until it is back)");
}

static const ir_mqtt_sub_cbs sub_cbs = {
    .struct_size = sizeof(ir_mqtt_sub_cbs),
    .on_message = on_message,
    .on_state = on_state,
};

static void subscribe_all(ir_timer_t *t, void *data) {
  ws_worker *ww = data;
  ir_timer_stop(t);
  ww->subscribe = NULL;
  for (uint32_t i = 0; i < ww->nrooms && i < nlinks; i++) {
    ws_room_local *r = &ww->rooms[i];
    if (!links[i].topic || r->sub) continue;
    r->sub = mq->subscribe(ww->w, links[i].broker, links[i].topic, 1, &sub_cbs, r);
    if (!r->sub)
      ir_log(ws_module, NULL, IR_LOG_ERROR, "room topic %s at %s: subscribe failed",
             links[i].topic, links[i].broker);
  }
}

int ws_backbone_worker_init(ws_worker *ww) {
  int needed = 0;
  for (uint32_t i = 0; i < ww->nrooms; i++) {
    ww->rooms[i].ww = ww;
    ww->rooms[i].id = i;
    if (ws_backbone_has(i)) needed = 1;
  }
  if (!needed) return IR_OK;
  const ir_mqtt_v1 *found = ir_service_lookup(IR_MQTT_SERVICE, 1, NULL);
  if (!found || found->struct_size < sizeof(ir_mqtt_v1)) {
    ir_log(ws_module, NULL, IR_LOG_ERROR,
           "room_topic needs mod_mqtt: add [module mqtt] to the config");
    return IR_EINVAL;
  }
  mq = found;
  /* mod_mqtt's own worker_init may not have run yet: subscribe on the
   * loop's first turn. */
  ww->subscribe = ir_timer_start(ww->w, 0, 0, subscribe_all, ww);
  if (!ww->subscribe) /* a stopping (or `iridium -t`'s throwaway) worker */
    ir_log(ws_module, NULL, IR_LOG_WARN, "room_topic: worker stopping, not subscribing");
  return IR_OK;
}

void ws_backbone_worker_exit(ws_worker *ww) {
  if (ww->subscribe) ir_timer_stop(ww->subscribe);
  ww->subscribe = NULL;
  for (uint32_t i = 0; i < ww->nrooms; i++) {
    if (ww->rooms[i].sub) mq->unsubscribe(ww->rooms[i].sub);
    ww->rooms[i].sub = NULL;
  }
}

void ws_backbone_publish(ws_worker *ww, uint32_t room, unsigned type, const uint8_t *msg,
                         size_t len) {
  ir_mqtt_publish_opts o = {.struct_size = sizeof(o), .qos = 1, .utf8 = type == IR_WS_TEXT};
  if (mq->publish(ww->w, links[room].broker, links[room].topic, msg, len, &o) != IR_OK &&
      ws_metric.room_drops)
    ir_metric_add(ww->w, ws_metric.room_drops, 1);
}
