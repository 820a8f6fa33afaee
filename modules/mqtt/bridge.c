/* bridge.c — SKELETON (helper mqbridge replaces it): MQTT over WebSocket. */
#include "mqttmod.h"

int mq_bridge_start(ir_stream_t *s, const mq_route *r) {
  (void)r;
  return ir_respond_simple(s, 501, "text/plain", "not yet\n", 8);
}
void mq_bridges_drain(mq_worker *mw) { (void)mw; }
