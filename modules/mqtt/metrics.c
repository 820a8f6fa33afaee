/* metrics.c — mod_mqtt's SDK metrics: registered once in init, every series
 * fixed then (no label value comes from a peer), plus the violation log
 * line every rule check shares. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mqttmod.h"

mq_metrics mq_metric;

static ir_series_t *series1(ir_metric_t *mt, const char *value) {
  ir_str v = {value, strlen(value)};
  return mt ? ir_metric_series(mt, &v, 1) : NULL;
}

static ir_series_t *series0(ir_metric_t *mt) { return mt ? ir_metric_series(mt, NULL, 0) : NULL; }

static const char *const rule_names[MQ_RULE_COUNT] = {
    "publish", "subscribe", "client_id", "username", "packet_size", "malformed"};
static const char *const drop_names[MQ_DROP_COUNT] = {"slow_subscriber", "broker_down"};
static const char *const http_names[MQ_HTTP_COUNT] = {"200", "400", "403", "413", "503", "504"};

int mq_metrics_register(ir_module_t *m) {
  static const char *const protocol[] = {"protocol"};
  static const char *const direction[] = {"direction"};
  static const char *const rule[] = {"rule"};
  static const char *const reason[] = {"reason"};
  static const char *const status[] = {"status"};
  ir_metric_t *open = ir_metric_register(m, "mqtt_sessions_open", IR_METRIC_GAUGE,
                                         "MQTT-over-WebSocket sessions open", protocol, 1);
  ir_metric_t *total = ir_metric_register(m, "mqtt_sessions_total", IR_METRIC_COUNTER,
                                          "MQTT-over-WebSocket sessions opened", protocol, 1);
  ir_metric_t *packets =
      ir_metric_register(m, "mqtt_packets_total", IR_METRIC_COUNTER,
                         "MQTT packets through the bridge (in: toward the broker)", direction, 1);
  ir_metric_t *bytes =
      ir_metric_register(m, "mqtt_bytes_total", IR_METRIC_COUNTER,
                         "MQTT bytes through the bridge (in: toward the broker)", direction, 1);
  ir_metric_t *violations = ir_metric_register(m, "mqtt_violations_total", IR_METRIC_COUNTER,
                                               "MQTT packets refused by a route's rules", rule, 1);
  ir_metric_t *drops = ir_metric_register(
      m, "mqtt_drops_total", IR_METRIC_COUNTER,
      "Subscribers closed for falling behind, and messages lost while the broker was down",
      reason, 1);
  ir_metric_t *reconnects =
      ir_metric_register(m, "mqtt_broker_reconnects_total", IR_METRIC_COUNTER,
                         "Worker broker clients connected again after losing the broker", NULL, 0);
  ir_metric_t *up = ir_metric_register(m, "mqtt_broker_connected", IR_METRIC_GAUGE,
                                       "Worker broker clients connected now", NULL, 0);
  ir_metric_t *http = ir_metric_register(m, "mqtt_http_publish_total", IR_METRIC_COUNTER,
                                         "HTTP publish requests, by status", status, 1);
  ir_metric_t *subs = ir_metric_register(m, "mqtt_subscribers_open", IR_METRIC_GAUGE,
                                         "Event-stream subscribers open", NULL, 0);
  ir_metric_t *events = ir_metric_register(m, "mqtt_events_total", IR_METRIC_COUNTER,
                                           "Messages sent to event-stream subscribers", NULL, 0);
  if (!open || !total || !packets || !bytes || !violations || !drops || !reconnects || !up ||
      !http || !subs || !events)
    return -1;
  mq_metric.sessions_open[0] = series1(open, "h1");
  mq_metric.sessions_open[1] = series1(open, "h2");
  mq_metric.sessions_total[0] = series1(total, "h1");
  mq_metric.sessions_total[1] = series1(total, "h2");
  mq_metric.packets[MQ_IN] = series1(packets, "in");
  mq_metric.packets[MQ_OUT] = series1(packets, "out");
  mq_metric.bytes[MQ_IN] = series1(bytes, "in");
  mq_metric.bytes[MQ_OUT] = series1(bytes, "out");
  for (int i = 0; i < MQ_RULE_COUNT; i++) mq_metric.violations[i] = series1(violations, rule_names[i]);
  for (int i = 0; i < MQ_DROP_COUNT; i++) mq_metric.drops[i] = series1(drops, drop_names[i]);
  for (int i = 0; i < MQ_HTTP_COUNT; i++) mq_metric.http_publish[i] = series1(http, http_names[i]);
  mq_metric.reconnects = series0(reconnects);
  mq_metric.broker_up = series0(up);
  mq_metric.subscribers_open = series0(subs);
  mq_metric.events = series0(events);
  return 0;
}

void mq_count(ir_worker_t *w, ir_series_t *se, int64_t delta) {
  if (se) ir_metric_add(w, se, delta);
}

void mq_violation(ir_stream_t *s, int rule, const char *fmt, ...) {
  char detail[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  if (rule >= 0 && rule < MQ_RULE_COUNT)
    mq_count(ir_stream_worker(s), mq_metric.violations[rule], 1);
  ir_log(mq_module, s, IR_LOG_WARN, "mqtt rule: %s: %s",
         rule >= 0 && rule < MQ_RULE_COUNT ? rule_names[rule] : "?", detail);
}
