/* prom.c — mod_status's /metrics: the Prometheus text exposition format
 * (0.0.4) of the server's counters, its connections by protocol, TLS and
 * state, the process's CPU and memory, and every module's metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "status.h"

static void family(st_text *t, const char *name, const char *type, const char *help) {
  st_put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: \, " and newline escaped. */
static void put_label_value(st_text *t, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\\' || p[i] == '"') st_put(t, "\\%c", p[i]);
    else if (p[i] == '\n') st_put(t, "\\n");
    else st_put_bytes(t, &p[i], 1);
  }
}

static void put_connections(st_text *t, const st_part *parts, unsigned nparts) {
  static const char *const protocols[] = {"http/1.1", "h2", ""};
  static const char *const states[] = {"active", "idle", "handshake", "closing"};
  size_t counts[3][2][4] = {{{0}}};
  for (unsigned i = 0; i < nparts; i++)
    for (size_t k = 0; k < parts[i].nconns; k++) {
      const st_conn *c = &parts[i].conns[k];
      size_t p = 2, s = 3;
      for (size_t j = 0; j < 2; j++)
        if (!strcmp(c->protocol, protocols[j])) p = j;
      for (size_t j = 0; j < 4; j++)
        if (!strcmp(c->state, states[j])) s = j;
      counts[p][c->tls ? 1 : 0][s]++;
    }
  family(t, "iridium_connections", "gauge",
         "Listed open connections by protocol (none: not chosen yet), TLS and state.");
  for (size_t p = 0; p < 3; p++)
    for (size_t tls = 0; tls < 2; tls++)
      for (size_t s = 0; s < 4; s++)
        if (counts[p][tls][s])
          st_put(t, "iridium_connections{protocol=\"%s\",tls=\"%s\",state=\"%s\"} %zu\n",
                 p == 2 ? "none" : protocols[p], tls ? "yes" : "no", states[s], counts[p][tls][s]);
}

typedef struct metric_prom {
  st_text *t;
  char last[208]; /* the family whose HELP and TYPE went out */
} metric_prom;

static void put_metric(const ir_metric_sample *m, void *data) {
  metric_prom *mp = data;
  st_text *t = mp->t;
  if (strcmp(mp->last, m->name) != 0) {
    family(t, m->name, m->type == IR_METRIC_GAUGE ? "gauge" : "counter", m->help);
    snprintf(mp->last, sizeof mp->last, "%s", m->name);
  }
  st_put(t, "%s", m->name);
  for (size_t i = 0; i < m->nlabels; i++) {
    st_put(t, "%s%s=\"", i ? "," : "{", m->label_names[i]);
    put_label_value(t, m->label_values[i].ptr, m->label_values[i].len);
    st_put(t, "\"%s", i + 1 == m->nlabels ? "}" : "");
  }
  st_put(t, " %lld\n", (long long)m->value);
}

void st_render_prometheus(st_text *t, const ir_server_info *info, const st_part *parts,
                          unsigned nparts) {
  family(t, "iridium_build_info", "gauge", "The running release and SDK ABI (always 1).");
  st_put(t, "iridium_build_info{version=\"");
  put_label_value(t, info->version, strlen(info->version));
  st_put(t, "\",abi=\"%d.%d\"} 1\n", IR_ABI_MAJOR, IR_ABI_MINOR);
  family(t, "iridium_start_time_seconds", "gauge", "When the server started, Unix time.");
  st_put(t, "iridium_start_time_seconds %.3f\n", (double)info->started_ms / 1000.0);
  family(t, "iridium_workers", "gauge", "Worker threads.");
  st_put(t, "iridium_workers %u\n", info->workers);
  family(t, "iridium_connections_open", "gauge", "Open client connections.");
  st_put(t, "iridium_connections_open %llu\n", (unsigned long long)info->connections_open);
  family(t, "iridium_connections_accepted_total", "counter", "Client connections accepted.");
  st_put(t, "iridium_connections_accepted_total %llu\n",
         (unsigned long long)info->connections_total);
  put_connections(t, parts, nparts);
  family(t, "iridium_streams_open", "gauge", "Requests begun and not finished.");
  st_put(t, "iridium_streams_open %llu\n", (unsigned long long)info->streams_open);
  family(t, "iridium_requests_total", "counter",
         "Finished requests by status class (other: none sent, or 499).");
  uint64_t classed = 0;
  for (int k = 0; k < 5; k++) {
    st_put(t, "iridium_requests_total{class=\"%dxx\"} %llu\n", k + 1,
           (unsigned long long)info->requests_by_class[k]);
    classed += info->requests_by_class[k];
  }
  st_put(t, "iridium_requests_total{class=\"other\"} %llu\n",
         (unsigned long long)(info->requests_total - classed));
  family(t, "iridium_socket_bytes_total", "counter", "Bytes on client sockets, by direction.");
  st_put(t, "iridium_socket_bytes_total{direction=\"in\"} %llu\n",
         (unsigned long long)info->bytes_in);
  st_put(t, "iridium_socket_bytes_total{direction=\"out\"} %llu\n",
         (unsigned long long)info->bytes_out);
  uint64_t cpu, rss;
  st_process_now(&cpu, &rss);
  long tck = sysconf(_SC_CLK_TCK);
  family(t, "process_cpu_seconds_total", "counter", "User and system CPU time of the process.");
  st_put(t, "process_cpu_seconds_total %.2f\n", tck > 0 ? (double)cpu / (double)tck : 0.0);
  family(t, "process_resident_memory_bytes", "gauge", "Resident memory of the process.");
  st_put(t, "process_resident_memory_bytes %llu\n", (unsigned long long)rss);
  metric_prom mp = {t, ""};
  ir_metric_list(put_metric, &mp);
}
