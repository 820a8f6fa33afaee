/* status.h — mod_status's shared pieces: the route, the snapshot the
 * workers gather (gather.c), the history of the last minutes (history.c),
 * the client allow-list (allow.c), a growing text buffer (text.c), the
 * two renderings (json.c, prom.c) and the dashboard page (dashboard.html,
 * embedded at build time). Built against the SDK only. */
#ifndef IRIDIUM_MOD_STATUS_H
#define IRIDIUM_MOD_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include <iridium/iridium.h>

extern ir_module_t *st_module;

/* ---- allow.c: client addresses allowed to see the status ---- */
typedef struct st_net {
  int family; /* AF_INET or AF_INET6 */
  uint8_t addr[16];
  unsigned bits; /* prefix length */
} st_net;

typedef struct st_allow {
  st_net *nets;
  size_t n;
} st_allow;

/* "127.0.0.1, ::1, 10.0.0.0/8" (commas or spaces). 0, or -1 with *bad set
 * to the entry that does not parse. */
int st_allow_parse(st_allow *a, const char *text, const char **bad, size_t *bad_len);
/* Whether the peer ("127.0.0.1:5000", "[::1]:5000") is in the list. */
int st_allow_match(const st_allow *a, ir_str peer);
void st_allow_free(st_allow *a);

/* ---- the route ---- */
typedef struct st_route {
  st_allow allow;
  size_t prefix_len; /* the route's prefix, 0 for "/" */
  size_t max_listed; /* connections listed in /json (the counts cover all) */
} st_route;

/* ---- gather.c: every worker's connections, copied on its own thread ---- */
typedef struct st_stream {
  int64_t id;
  int upgraded;
  char method[16];
  char path[256];
  char module[48];
  uint64_t age_ms, bytes_in, bytes_out;
} st_stream;

typedef struct st_conn {
  uint64_t id;
  unsigned worker;
  int tls;
  char peer[56];
  char protocol[16]; /* "" before one was chosen */
  char state[16];
  uint64_t age_ms, bytes_in, bytes_out;
  size_t first_stream, nstreams; /* in the part's streams; nstreams_all may be more */
  size_t nstreams_all;
} st_conn;

/* One worker's share. */
typedef struct st_part {
  st_conn *conns;
  size_t nconns, conns_cap;
  st_stream *streams;
  size_t nstreams, streams_cap;
  size_t seen; /* connections the worker has, listed or not */
  int failed;  /* out of memory: what is listed is less than seen */
} st_part;

typedef enum { ST_JSON, ST_PROMETHEUS } st_format;

/* Gathers every worker's part on its thread, then answers s (on its own
 * worker) in format. */
int st_gather_answer(ir_stream_t *s, const st_route *r, st_format format);
/* {route}/events: a text/event-stream with one "status" event (the JSON
 * snapshot) per second, for the dashboard. */
int st_events_start(ir_stream_t *s, const st_route *r);
/* The stream's on_writable, on_stream_drain (an event stream ends) and
 * on_close (a gathering still under way drops its answer). */
void st_req_writable(ir_stream_t *s);
void st_req_drain(ir_stream_t *s);
void st_req_closed(ir_stream_t *s);

/* ---- dashboard.c (generated from dashboard.html at build time) ---- */
extern const unsigned char st_dashboard_html[];
extern const size_t st_dashboard_html_len;

/* ---- history.c: one sample per second, the last ST_HISTORY of them ---- */
#define ST_HISTORY 600

typedef struct st_sample {
  uint64_t t_ms; /* wall clock */
  uint64_t requests, bytes_in, bytes_out;
  uint64_t connections, streams;
  uint64_t cpu_ticks; /* utime + stime of the process (sysconf(_SC_CLK_TCK) per second) */
  uint64_t rss_bytes;
} st_sample;

/* The process's CPU ticks and RSS now; 0 when /proc cannot be read. */
void st_process_now(uint64_t *cpu_ticks, uint64_t *rss_bytes);
/* Starts the sampler on w (the first worker's worker_init), stops it. */
void st_history_start(ir_worker_t *w);
void st_history_stop(void);
/* Copies up to max samples, oldest first; returns how many. Any thread. */
size_t st_history_copy(st_sample *out, size_t max);

/* ---- text.c: a growing buffer ---- */
typedef struct st_text {
  char *p;
  size_t len, cap;
  int failed;
} st_text;

void st_put(st_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void st_put_bytes(st_text *t, const char *p, size_t n);
/* A JSON string (quotes included); bytes outside printable ASCII as \u00XX. */
void st_put_json_str(st_text *t, const char *p, size_t n);

/* ---- json.c, prom.c: the renderings of a gathered snapshot ---- */
void st_render_json(st_text *t, const st_route *r, const ir_server_info *info,
                    const st_part *parts, unsigned nparts);
void st_render_prometheus(st_text *t, const ir_server_info *info, const st_part *parts,
                          unsigned nparts);

#endif /* IRIDIUM_MOD_STATUS_H */
