/* publish.c — SKELETON (helper mqclient replaces it): HTTP publish. */
#include "mqttmod.h"

int mq_publish_start(ir_stream_t *s, const mq_route *r, const char *topic, size_t len) {
  (void)r, (void)topic, (void)len;
  return ir_respond_simple(s, 501, "text/plain", "not yet\n", 8);
}
int mq_publish_body(ir_stream_t *s, const uint8_t *data, size_t len) {
  (void)data;
  return ir_stream_consume(s, len);
}
int mq_publish_body_end(ir_stream_t *s) { (void)s; return IR_OK; }
void mq_publish_close(ir_stream_t *s, int reason) { (void)s, (void)reason; }
