/* sse.c — SKELETON (helper mqsse replaces it): event-stream subscriptions. */
#include "mqttmod.h"

int mq_sse_start(ir_stream_t *s, const mq_route *r) {
  (void)r;
  return ir_respond_simple(s, 501, "text/plain", "not yet\n", 8);
}
void mq_sse_writable(ir_stream_t *s) { (void)s; }
void mq_sse_close(ir_stream_t *s, int reason) { (void)s, (void)reason; }
void mq_sse_drain(ir_stream_t *s, uint64_t ms_left) { (void)s, (void)ms_left; }
