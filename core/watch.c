/* watch.c — fd watches for modules (SDK 1.4).
 * SKELETON: to be written (issue 9 §3). */
#include "watch.h"

ir_watch_t *irh_watch_start(struct ir_worker *w, int fd, uint32_t events, ir_watch_cb cb,
                            void *data) {
  (void)w, (void)fd, (void)events, (void)cb, (void)data;
  return NULL;
}
int irh_watch_change(ir_watch_t *wt, uint32_t events) {
  (void)wt, (void)events;
  return IR_EINVAL;
}
void irh_watch_stop(ir_watch_t *wt) { (void)wt; }
