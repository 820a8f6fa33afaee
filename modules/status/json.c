/* json.c — mod_status's /json: the server's counters, the connections by
 * protocol and state, each listed connection with its streams, every
 * module's metrics, and the per-second history. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "status.h"

static void put_counts(st_text *t, const st_part *parts, unsigned nparts) {
  size_t h1 = 0, h2 = 0, other = 0, tls = 0, active = 0, idle = 0, handshake = 0, closing = 0;
  size_t listed = 0, seen = 0;
  for (unsigned i = 0; i < nparts; i++) {
    seen += parts[i].seen;
    for (size_t k = 0; k < parts[i].nconns; k++) {
      const st_conn *c = &parts[i].conns[k];
      listed++;
      if (!strcmp(c->protocol, "http/1.1")) h1++;
      else if (!strcmp(c->protocol, "h2")) h2++;
      else other++;
      tls += c->tls;
      if (!strcmp(c->state, "active")) active++;
      else if (!strcmp(c->state, "idle")) idle++;
      else if (!strcmp(c->state, "handshake")) handshake++;
      else closing++;
    }
  }
  st_put(t,
         "\"seen\":%zu,\"listed\":%zu,\"by_protocol\":{\"http/1.1\":%zu,\"h2\":%zu,\"none\":%zu},"
         "\"tls\":%zu,\"by_state\":{\"active\":%zu,\"idle\":%zu,\"handshake\":%zu,"
         "\"closing\":%zu}",
         seen, listed, h1, h2, other, tls, active, idle, handshake, closing);
}

static void put_conns(st_text *t, const st_part *parts, unsigned nparts) {
  const char *sep = "";
  for (unsigned i = 0; i < nparts; i++) {
    const st_part *p = &parts[i];
    for (size_t k = 0; k < p->nconns; k++) {
      const st_conn *c = &p->conns[k];
      st_put(t, "%s{\"id\":%llu,\"worker\":%u,\"peer\":", sep, (unsigned long long)c->id,
             c->worker);
      st_put_json_str(t, c->peer, strlen(c->peer));
      st_put(t, ",\"protocol\":");
      if (c->protocol[0]) st_put_json_str(t, c->protocol, strlen(c->protocol));
      else st_put(t, "null");
      st_put(t, ",\"tls\":%s,\"state\":\"%s\",\"age_ms\":%llu,\"bytes_in\":%llu,"
                "\"bytes_out\":%llu,\"streams_open\":%zu,\"streams\":[",
             c->tls ? "true" : "false", c->state, (unsigned long long)c->age_ms,
             (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out, c->nstreams_all);
      for (size_t j = 0; j < c->nstreams; j++) {
        const st_stream *s = &p->streams[c->first_stream + j];
        st_put(t, "%s{\"id\":%lld,\"method\":", j ? "," : "", (long long)s->id);
        st_put_json_str(t, s->method, strlen(s->method));
        st_put(t, ",\"path\":");
        st_put_json_str(t, s->path, strlen(s->path));
        st_put(t, ",\"module\":");
        if (s->module[0]) st_put_json_str(t, s->module, strlen(s->module));
        else st_put(t, "null");
        st_put(t, ",\"upgraded\":%s,\"age_ms\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu}",
               s->upgraded ? "true" : "false", (unsigned long long)s->age_ms,
               (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out);
      }
      st_put(t, "]}");
      sep = ",";
    }
  }
}

typedef struct metric_json {
  st_text *t;
  const char *sep;
} metric_json;

static void put_metric(const ir_metric_sample *m, void *data) {
  metric_json *mj = data;
  st_text *t = mj->t;
  st_put(t, "%s{\"module\":", mj->sep);
  st_put_json_str(t, m->module, strlen(m->module));
  st_put(t, ",\"name\":");
  st_put_json_str(t, m->name, strlen(m->name));
  st_put(t, ",\"type\":\"%s\",\"labels\":{", m->type == IR_METRIC_GAUGE ? "gauge" : "counter");
  for (size_t i = 0; i < m->nlabels; i++) {
    st_put(t, "%s", i ? "," : "");
    st_put_json_str(t, m->label_names[i], strlen(m->label_names[i]));
    st_put(t, ":");
    st_put_json_str(t, m->label_values[i].ptr, m->label_values[i].len);
  }
  st_put(t, "},\"value\":%lld}", (long long)m->value);
  mj->sep = ",";
}

/* Per second between samples: rates from the counters, the gauges as
 * they were, CPU as a fraction of one core. */
static void put_history(st_text *t) {
  st_sample *copy = malloc(sizeof(st_sample) * ST_HISTORY); /* 38 KiB: not on a worker's stack */
  if (!copy) {
    t->failed = 1;
    return;
  }
  size_t n = st_history_copy(copy, ST_HISTORY);
  long tck = sysconf(_SC_CLK_TCK);
  st_put(t, "[");
  for (size_t i = 1; i < n; i++) {
    const st_sample *a = &copy[i - 1], *b = &copy[i];
    double secs = b->t_ms > a->t_ms ? (double)(b->t_ms - a->t_ms) / 1000.0 : 1.0;
    st_put(t,
           "%s{\"t\":%llu,\"requests_per_s\":%.1f,\"bytes_in_per_s\":%.0f,"
           "\"bytes_out_per_s\":%.0f,\"connections\":%llu,\"streams\":%llu,\"cpu\":%.3f,"
           "\"rss_bytes\":%llu}",
           i > 1 ? "," : "", (unsigned long long)b->t_ms, (double)(b->requests - a->requests) / secs,
           (double)(b->bytes_in - a->bytes_in) / secs, (double)(b->bytes_out - a->bytes_out) / secs,
           (unsigned long long)b->connections, (unsigned long long)b->streams,
           tck > 0 ? (double)(b->cpu_ticks - a->cpu_ticks) / (double)tck / secs : 0.0,
           (unsigned long long)b->rss_bytes);
  }
  st_put(t, "]");
  free(copy);
}

void st_render_json(st_text *t, const st_route *r, const ir_server_info *info,
                    const st_part *parts, unsigned nparts) {
  (void)r;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint64_t now_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
  uint64_t cpu, rss;
  st_process_now(&cpu, &rss);
  long tck = sysconf(_SC_CLK_TCK);
  st_put(t, "{\"version\":");
  st_put_json_str(t, info->version, strlen(info->version));
  st_put(t, ",\"abi\":\"%d.%d\",\"started_ms\":%llu,\"uptime_s\":%.3f,\"workers\":%u,", IR_ABI_MAJOR,
         IR_ABI_MINOR, (unsigned long long)info->started_ms,
         now_ms > info->started_ms ? (double)(now_ms - info->started_ms) / 1000.0 : 0.0,
         info->workers);
  st_put(t, "\"connections\":{\"open\":%llu,\"accepted_total\":%llu,",
         (unsigned long long)info->connections_open, (unsigned long long)info->connections_total);
  put_counts(t, parts, nparts);
  st_put(t, "},\"streams_open\":%llu,\"requests\":{\"total\":%llu",
         (unsigned long long)info->streams_open, (unsigned long long)info->requests_total);
  for (int k = 0; k < 5; k++)
    st_put(t, ",\"%dxx\":%llu", k + 1, (unsigned long long)info->requests_by_class[k]);
  st_put(t, "},\"bytes\":{\"in\":%llu,\"out\":%llu},", (unsigned long long)info->bytes_in,
         (unsigned long long)info->bytes_out);
  st_put(t, "\"process\":{\"cpu_seconds\":%.2f,\"rss_bytes\":%llu},",
         tck > 0 ? (double)cpu / (double)tck : 0.0, (unsigned long long)rss);
  st_put(t, "\"connection_list\":[");
  put_conns(t, parts, nparts);
  st_put(t, "],\"metrics\":[");
  metric_json mj = {t, ""};
  ir_metric_list(put_metric, &mj);
  st_put(t, "],\"history\":");
  put_history(t);
  st_put(t, "}\n");
}
