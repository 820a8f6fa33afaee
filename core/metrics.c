/* metrics.c — module metrics (SDK 1.4).
 * SKELETON: to be written (issue 9 §3). */
#include "metrics.h"

ir_metric_t *irh_metric_register(ir_module_t *m, const char *name, uint32_t type,
                                 const char *help, const char *const *label_names,
                                 size_t nlabels) {
  (void)m, (void)name, (void)type, (void)help, (void)label_names, (void)nlabels;
  return NULL;
}
ir_series_t *irh_metric_series(ir_metric_t *mt, const ir_str *label_values, size_t nvalues) {
  (void)mt, (void)label_values, (void)nvalues;
  return NULL;
}
void irh_metric_add(struct ir_worker *w, ir_series_t *se, int64_t delta) {
  (void)w, (void)se, (void)delta;
}
void irh_metric_set(struct ir_worker *w, ir_series_t *se, int64_t value) {
  (void)w, (void)se, (void)value;
}
size_t irh_metric_list(ir_metric_visit_cb cb, void *data) {
  (void)cb, (void)data;
  return 0;
}
