/* client.c — SKELETON (helper mqclient replaces it): the worker's broker clients. */
#include "client.h"
#include "mqttmod.h"

static ir_mqtt_sub_t *svc_subscribe(ir_worker_t *w, const char *broker, const char *filter,
                                    int qos, const ir_mqtt_sub_cbs *cbs, void *data) {
  (void)w, (void)broker, (void)filter, (void)qos, (void)cbs, (void)data;
  return NULL;
}
static void svc_unsubscribe(ir_mqtt_sub_t *sub) { (void)sub; }
static int svc_publish(ir_worker_t *w, const char *broker, const char *topic, const void *payload,
                       size_t len, const ir_mqtt_publish_opts *opts) {
  (void)w, (void)broker, (void)topic, (void)payload, (void)len, (void)opts;
  return IR_ECLOSED;
}
static int svc_connected(ir_worker_t *w, const char *broker) {
  (void)w, (void)broker;
  return 0;
}

const ir_mqtt_v1 mq_service = {
    .struct_size = sizeof(ir_mqtt_v1),
    .subscribe = svc_subscribe,
    .unsubscribe = svc_unsubscribe,
    .publish = svc_publish,
    .connected = svc_connected,
};

int mq_clients_init(void) { return 0; }
void mq_clients_fini(void) {}
void mq_clients_drain(mq_worker *mw) { (void)mw; }
void mq_clients_worker_exit(mq_worker *mw) { (void)mw; }
