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

/* [nlinks], indexed by room id: set on the main thread under
 * ws_rooms_lock, which workers take to copy a room's link (ws_backbone_copy);
 * the strings stay until the module's fini. */
static backbone *links;
static size_t nlinks;
static _Atomic(const ir_mqtt_v1 *) mq;

static int set_link(uint32_t room, const char *topic, const char *broker, const char *prefix) {
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

int ws_backbone_set(uint32_t room, const char *topic, const char *broker, const char *prefix) {
  pthread_mutex_lock(&ws_rooms_lock);
  int rc = set_link(room, topic, broker, prefix);
  pthread_mutex_unlock(&ws_rooms_lock);
  return rc;
}

void ws_backbone_copy(ws_room_local *r) {
  pthread_mutex_lock(&ws_rooms_lock);
  if (r->id < nlinks && links[r->id].topic) {
    r->topic = links[r->id].topic;
    r->broker = links[r->id].broker;
  }
  pthread_mutex_unlock(&ws_rooms_lock);
}

/* The "mqtt" service, looked up once it is needed (IR_EINVAL logged when
 * mod_mqtt is not loaded). */
static const ir_mqtt_v1 *service(void) {
  const ir_mqtt_v1 *found = atomic_load(&mq);
  if (found) return found;
  found = ir_service_lookup(IR_MQTT_SERVICE, 1, NULL);
  if (!found || found->struct_size < sizeof(ir_mqtt_v1)) {
    ir_log(ws_module, NULL, IR_LOG_ERROR,
           "room_topic needs mod_mqtt: add [module mqtt] to the config");
    return NULL;
  }
  atomic_store(&mq, found);
  return found;
}

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
  ir_log(ws_module, NULL, up ? IR_LOG_INFO : IR_LOG_WARN, "room topic %s: broker %s", r->topic,
         up ? "subscribed" : "down (messages are dropped until it is back)");
}

static const ir_mqtt_sub_cbs sub_cbs = {
    .struct_size = sizeof(ir_mqtt_sub_cbs),
    .on_message = on_message,
    .on_state = on_state,
};

/* Each room with a topic from `from` on that the worker has not subscribed. */
void ws_backbone_subscribe(ws_worker *ww, size_t from) {
  if (ww->subscribe) return; /* the first turn's subscribe_all does it */
  for (size_t i = from; i < ww->nrooms; i++) {
    ws_room_local *r = ww->rooms[i];
    if (!r->topic || r->sub) continue;
    const ir_mqtt_v1 *m = service();
    if (!m) return;
    r->sub = m->subscribe(ww->w, r->broker, r->topic, 1, &sub_cbs, r);
    if (!r->sub)
      ir_log(ws_module, NULL, IR_LOG_ERROR, "room topic %s at %s: subscribe failed", r->topic,
             r->broker);
  }
}

static void subscribe_all(ir_timer_t *t, void *data) {
  ws_worker *ww = data;
  ir_timer_stop(t);
  ww->subscribe = NULL;
  ws_backbone_subscribe(ww, 0);
}

int ws_backbone_worker_init(ws_worker *ww) {
  int needed = 0;
  for (size_t i = 0; i < ww->nrooms; i++)
    if (ww->rooms[i]->topic) needed = 1;
  if (!needed) return IR_OK;
  if (!service()) return IR_EINVAL;
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
  const ir_mqtt_v1 *m = atomic_load(&mq);
  for (size_t i = 0; i < ww->nrooms; i++) {
    if (ww->rooms[i]->sub && m) m->unsubscribe(ww->rooms[i]->sub);
    ww->rooms[i]->sub = NULL;
  }
}

void ws_backbone_publish(ws_worker *ww, uint32_t room, unsigned type, const uint8_t *msg,
                         size_t len) {
  ir_mqtt_publish_opts o = {.struct_size = sizeof(o), .qos = 1, .utf8 = type == IR_WS_TEXT};
  const ws_room_local *r = ww->rooms[room];
  const ir_mqtt_v1 *m = service();
  if ((!m || m->publish(ww->w, r->broker, r->topic, msg, len, &o) != IR_OK) &&
      ws_metric.room_drops)
    ir_metric_add(ww->w, ws_metric.room_drops, 1);
}
