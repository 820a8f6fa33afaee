/* metrics.h — counters and gauges modules register (SDK 1.4 metric_*):
 * one slot per worker per series, written by that worker without locks and
 * summed when listed.
 */
#ifndef IRIDIUM_CORE_METRICS_H
#define IRIDIUM_CORE_METRICS_H

#include <iridium/host.h>

struct ir_worker;

/* The SDK calls (host_api.c forwards here); contracts in host.h. */
ir_metric_t *irh_metric_register(ir_module_t *m, const char *name, uint32_t type,
                                 const char *help, const char *const *label_names,
                                 size_t nlabels);
ir_series_t *irh_metric_series(ir_metric_t *mt, const ir_str *label_values, size_t nvalues);
void irh_metric_add(struct ir_worker *w, ir_series_t *se, int64_t delta);
void irh_metric_set(struct ir_worker *w, ir_series_t *se, int64_t value);
size_t irh_metric_list(ir_metric_visit_cb cb, void *data);

#endif /* IRIDIUM_CORE_METRICS_H */
