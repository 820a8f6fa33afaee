/* gather.c — a status answer needs every worker's connections, and each
 * worker may only look at its own: the request's worker posts a task to
 * every worker, each copies its connections into its part on its own
 * thread, and the last one to finish posts the answer back to the
 * request's worker, which renders it (unless the client went meanwhile).
 * The gathering is owned by the request's worker from then on. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

/* A status request: the stream's data while it is open. */
typedef struct st_req {
  ir_stream_t *s;
  const st_route *r;
  st_format format;
  int events;                 /* an event stream: a gathering per second, never ended */
  ir_timer_t *timer;          /* events: the next gathering */
  struct gathering *inflight; /* at most one at a time */
  st_text pending;            /* events: the end of an event the stream did not take yet */
} st_req;

typedef struct gathering {
  st_req *req; /* NULL once the stream closed */
  ir_worker_t *origin;
  unsigned nparts;
  atomic_uint left; /* workers still copying */
  st_part *parts;
  size_t listed_budget; /* the route's max_listed, shared out first come */
  atomic_size_t listed;
} gathering;

static void copy_str(char *dst, size_t cap, const char *p, size_t n) {
  if (!p) n = 0;
  if (n >= cap) n = cap - 1;
  memcpy(dst, p ? p : "", n);
  dst[n] = '\0';
}

typedef struct visit {
  gathering *g;
  st_part *part;
  unsigned worker;
} visit;

static int grow(void **items, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap * 2 : 16;
  while (c < need) c *= 2;
  void *g = realloc(*items, c * size);
  if (!g) return -1;
  *items = g, *cap = c;
  return 0;
}

static void copy_conn(const ir_conn_info *ci, void *data) {
  visit *v = data;
  st_part *p = v->part;
  p->seen++;
  if (atomic_fetch_add(&v->g->listed, 1) >= v->g->listed_budget) return; /* counted only */
  size_t nstreams = ci->nstreams < 64 ? ci->nstreams : 64; /* listed per connection */
  if (grow((void **)&p->conns, &p->conns_cap, p->nconns + 1, sizeof(st_conn)) != 0 ||
      grow((void **)&p->streams, &p->streams_cap, p->nstreams + nstreams, sizeof(st_stream))) {
    p->failed = 1;
    return;
  }
  st_conn *c = &p->conns[p->nconns++];
  memset(c, 0, sizeof *c);
  c->id = ci->id;
  c->worker = v->worker;
  c->tls = ci->tls != 0;
  copy_str(c->peer, sizeof c->peer, ci->peer.ptr, ci->peer.len);
  copy_str(c->protocol, sizeof c->protocol, ci->protocol, ci->protocol ? strlen(ci->protocol) : 0);
  copy_str(c->state, sizeof c->state, ci->state, ci->state ? strlen(ci->state) : 0);
  c->age_ms = ci->age_ms, c->bytes_in = ci->bytes_in, c->bytes_out = ci->bytes_out;
  c->first_stream = p->nstreams;
  c->nstreams = nstreams;
  c->nstreams_all = ci->nstreams;
  for (size_t i = 0; i < nstreams; i++) {
    const ir_stream_info *si = &ci->streams[i];
    st_stream *s = &p->streams[p->nstreams++];
    s->id = si->id;
    s->upgraded = si->upgraded != 0;
    copy_str(s->method, sizeof s->method, si->method.ptr, si->method.len);
    copy_str(s->path, sizeof s->path, si->path.ptr, si->path.len);
    copy_str(s->module, sizeof s->module, si->module, si->module ? strlen(si->module) : 0);
    s->age_ms = si->age_ms, s->bytes_in = si->bytes_in, s->bytes_out = si->bytes_out;
  }
}

static void free_gathering(gathering *g) {
  for (unsigned i = 0; i < g->nparts; i++) free(g->parts[i].conns), free(g->parts[i].streams);
  free(g->parts);
  free(g);
}

/* Writes what pending holds; the rest waits for on_writable. */
static void flush_pending(st_req *q) {
  while (q->pending.len) {
    ssize_t n = ir_resp_write(q->s, q->pending.p, q->pending.len);
    if (n <= 0) return; /* IR_EAGAIN: on_writable; an error: on_close follows */
    memmove(q->pending.p, q->pending.p + n, q->pending.len - (size_t)n);
    q->pending.len -= (size_t)n;
  }
}

/* One event: "event: status", the snapshot as one data line. */
static void send_event(st_req *q, const st_text *json) {
  size_t len = json->len;
  while (len && json->p[len - 1] == '\n') len--;
  st_put(&q->pending, "event: status\ndata: ");
  st_put_bytes(&q->pending, json->p, len);
  st_put(&q->pending, "\n\n");
  if (q->pending.failed) {
    ir_stream_reset(q->s);
    return;
  }
  flush_pending(q);
}

/* On the request's worker, once every part is in. */
static void answer(void *data) {
  gathering *g = data;
  st_req *q = g->req;
  if (!q) { /* the client went */
    free_gathering(g);
    return;
  }
  q->inflight = NULL;
  ir_server_info info;
  int rc = ir_server_info_get(&info);
  st_text t = {0};
  if (rc == IR_OK && q->format == ST_JSON) st_render_json(&t, q->r, &info, g->parts, g->nparts);
  if (rc == IR_OK && q->format == ST_PROMETHEUS)
    st_render_prometheus(&t, &info, g->parts, g->nparts);
  free_gathering(g);
  if (q->events) {
    if (rc == IR_OK && !t.failed) send_event(q, &t);
  } else if (rc != IR_OK || t.failed) {
    ir_respond_simple(q->s, 500, "text/plain", "status unavailable\n", 19);
  } else if (q->format == ST_JSON) {
    ir_respond_simple(q->s, 200, "application/json", t.p, t.len);
  } else {
    ir_respond_simple(q->s, 200, "text/plain; version=0.0.4; charset=utf-8", t.p, t.len);
  }
  free(t.p);
}

static void part_done(gathering *g) {
  if (atomic_fetch_sub(&g->left, 1) != 1) return;
  /* A worker refuses posts once it stopped, after its streams closed:
   * nobody is left to answer. */
  if (ir_worker_post(g->origin, answer, g) != IR_OK) free_gathering(g);
}

/* On each worker. */
static void copy_part(void *data) {
  visit *v = data;
  gathering *g = v->g;
  ir_worker_connections(ir_worker_at(v->worker), copy_conn, v);
  free(v);
  part_done(g);
}

/* Posts a copy task to every worker for q. */
static int gather(st_req *q) {
  unsigned n = ir_worker_count();
  gathering *g = calloc(1, sizeof *g);
  if (!g || !n || !(g->parts = calloc(n, sizeof(st_part)))) {
    free(g);
    return IR_ENOMEM;
  }
  g->req = q, g->origin = ir_stream_worker(q->s), g->nparts = n;
  g->listed_budget = q->r->max_listed;
  atomic_init(&g->listed, 0);
  atomic_init(&g->left, n);
  q->inflight = g;
  for (unsigned i = 0; i < n; i++) {
    visit *v = malloc(sizeof *v);
    ir_worker_t *w = ir_worker_at(i);
    if (v) *v = (visit){g, &g->parts[i], i};
    if (!v || !w || ir_worker_post(w, copy_part, v) != IR_OK) { /* that worker's part stays empty */
      free(v);
      g->parts[i].failed = 1;
      part_done(g);
    }
  }
  return IR_OK;
}

static st_req *new_req(ir_stream_t *s, const st_route *r, st_format format) {
  st_req *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  q->s = s, q->r = r, q->format = format;
  ir_stream_set_data(s, q);
  return q;
}

int st_gather_answer(ir_stream_t *s, const st_route *r, st_format format) {
  st_req *q = new_req(s, r, format);
  if (!q || gather(q) != IR_OK)
    return ir_respond_simple(s, 500, "text/plain", "out of memory\n", 14);
  return IR_OK;
}

/* Each second: the next snapshot, unless one is on its way or the client
 * has not taken the last one (a slow reader gets fewer events, never a
 * growing queue). */
static void tick(ir_timer_t *t, void *data) {
  (void)t;
  st_req *q = data;
  if (!q->inflight && !q->pending.len && gather(q) != IR_OK) ir_stream_reset(q->s);
}

int st_events_start(ir_stream_t *s, const st_route *r) {
  st_req *q = new_req(s, r, ST_JSON);
  if (!q) return IR_ENOMEM;
  q->events = 1;
  int rc = ir_resp_status(s, 200);
  if (rc == IR_OK) rc = ir_resp_header(s, "content-type", "text/event-stream");
  if (rc == IR_OK) rc = ir_resp_header(s, "cache-control", "no-cache");
  if (rc == IR_OK) rc = ir_resp_send_head(s, 0);
  if (rc != IR_OK) return rc;
  st_put(&q->pending, "retry: 2000\n\n");
  flush_pending(q);
  if (!(q->timer = ir_timer_start(ir_stream_worker(s), 0, 1000, tick, q))) return IR_ENOMEM;
  return IR_OK;
}

void st_req_writable(ir_stream_t *s) {
  st_req *q = ir_stream_data(s);
  if (q && q->events) flush_pending(q);
}

void st_req_drain(ir_stream_t *s) {
  st_req *q = ir_stream_data(s);
  if (!q || !q->events) return;
  ir_timer_stop(q->timer);
  q->timer = NULL;
  ir_resp_end(s); /* the client's EventSource comes back to another server */
}

void st_req_closed(ir_stream_t *s) {
  st_req *q = ir_stream_data(s);
  if (!q) return;
  ir_stream_set_data(s, NULL);
  ir_timer_stop(q->timer);
  if (q->inflight) q->inflight->req = NULL; /* answer() frees it */
  free(q->pending.p);
  free(q);
}
