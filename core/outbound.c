/* outbound.c — TCP (and TLS) connections a module opens (SDK 1.4).
 * SKELETON: to be written (issue 9 §3). */
#include "outbound.h"

ir_outbound_t *irh_outbound_open(struct ir_worker *w, const char *host, size_t host_len,
                                 uint16_t port, const ir_outbound_opts *opts,
                                 const ir_outbound_cbs *cbs, void *data) {
  (void)w, (void)host, (void)host_len, (void)port, (void)opts, (void)cbs, (void)data;
  return NULL;
}
ssize_t irh_outbound_write(ir_outbound_t *o, const void *bytes, size_t len) {
  (void)o, (void)bytes, (void)len;
  return IR_ECLOSED;
}
int irh_outbound_pause(ir_outbound_t *o, int paused) {
  (void)o, (void)paused;
  return IR_ECLOSED;
}
void irh_outbound_close(ir_outbound_t *o) { (void)o; }
