/* metrics.h — counters and gauges modules register (SDK 1.4 metric_*):
 * one slot per worker per series, written by that worker without locks and
 * summed when listed.
 */
#ifndef IRIDIUM_CORE_METRICS_H
#define IRIDIUM_CORE_METRICS_H

#include <iridium/host.h>

struct ir_worker;

/* Bounds (host.h's metric_register and metric_series say them too). */
#define IRH_METRIC_MAX_LABELS 8
#define IRH_METRIC_MAX_SERIES 1024 /* per metric: then metric_series says NULL */
#define IRH_METRIC_MAX_NAME 200    /* metric and label names, bytes */
#define IRH_METRIC_MAX_HELP 1024
#define IRH_METRIC_MAX_VALUE 1024 /* a label value, bytes */

/* The process's registry, with one slot per worker in every series: before
 * modules start (their init registers), after the worker count is known.
 * -1 when open already or out of memory. Main thread. */
int irh_metrics_open(unsigned nworkers);
/* Frees every metric and series, once no module or worker uses them. */
void irh_metrics_close(void);

/* The SDK calls (host_api.c forwards here); contracts in host.h. */
ir_metric_t *irh_metric_register(ir_module_t *m, const char *name, uint32_t type,
                                 const char *help, const char *const *label_names,
                                 size_t nlabels);
ir_series_t *irh_metric_series(ir_metric_t *mt, const ir_str *label_values, size_t nvalues);
void irh_metric_add(struct ir_worker *w, ir_series_t *se, int64_t delta);
void irh_metric_set(struct ir_worker *w, ir_series_t *se, int64_t value);
size_t irh_metric_list(ir_metric_visit_cb cb, void *data);

#endif /* IRIDIUM_CORE_METRICS_H */
