/* introspect.c — what SDK 1.5 shows of the running server: the counters
 * of every worker summed (server_info), and a worker's open connections
 * with their streams (worker_connections), for status modules. Read-only:
 * nothing here changes a connection or a stream. */
#include "introspect.h"

#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "process.h"
#include "stream.h"
#include "worker.h"

static uint64_t load(const atomic_uint_fast64_t *v) {
  return atomic_load_explicit(v, memory_order_relaxed);
}

int irh_server_info(ir_server_info *out) {
  if (!out || out->struct_size < offsetof(ir_server_info, bytes_out) + sizeof(uint64_t))
    return IR_EINVAL;
  irh_server *srv = atomic_load_explicit(&irh_serving, memory_order_acquire);
  if (!srv) return IR_ESTATE;
  ir_server_info all = {.struct_size = out->struct_size,
                        .workers = srv->nworkers,
                        .version = IRIDIUM_VERSION,
                        .started_ms = srv->started_ms,
                        .connections_open = load(&srv->connections)};
  for (unsigned i = 0; i < srv->nworkers; i++) {
    const irh_worker_counts *n = &srv->workers[i]->counts;
    all.connections_total += load(&n->conns_total);
    all.streams_open += load(&n->streams_open);
    all.requests_total += load(&n->requests);
    for (int k = 0; k < 5; k++) all.requests_by_class[k] += load(&n->by_class[k]);
    all.bytes_in += load(&n->bytes_in);
    all.bytes_out += load(&n->bytes_out);
  }
  memcpy(out, &all, out->struct_size < sizeof all ? out->struct_size : sizeof all);
  return IR_OK;
}

/* The streams of one connection, gathered for its ir_conn_info. */
typedef struct stream_list {
  ir_stream_info *items;
  size_t n, cap;
  uint64_t now;
  int failed;
} stream_list;

static void add_stream(ir_stream_t *s, void *data) {
  stream_list *l = data;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    ir_stream_info *grown = realloc(l->items, cap * sizeof(*grown));
    if (!grown) {
      l->failed = 1;
      return;
    }
    l->items = grown, l->cap = cap;
  }
  l->items[l->n++] = (ir_stream_info){
      .struct_size = sizeof(ir_stream_info),
      .upgraded = (s->flags & IRH_STREAM_UPGRADED) || s->upgrade.len,
      .id = s->id,
      .method = s->method,
      .path = s->path,
      .module = irh_stream_module_name(s),
      .age_ms = l->now - s->start_ms,
      .bytes_in = s->body_received,
      .bytes_out = s->body_sent,
  };
}

static const char *conn_state(const irh_conn *c, size_t nstreams) {
  if (c->closing || c->close_when_flushed) return "closing";
  if (!c->proto) return "handshake";
  return nstreams ? "active" : "idle";
}

size_t irh_worker_connections(ir_worker_t *w, ir_conn_visit_cb cb, void *data) {
  if (!w || !cb) return 0;
  uint64_t now = uv_now(&w->loop);
  stream_list l = {.now = now};
  size_t count = 0;
  for (irh_link *k = w->conns.next; k != &w->conns; k = k->next) {
    irh_conn *c = irh_container_of(k, irh_conn, member.link);
    l.n = 0, l.failed = 0;
    if (c->proto && c->proto->visit_streams) c->proto->visit_streams(c, add_stream, &l);
    ir_conn_info info = {
        .struct_size = sizeof(ir_conn_info),
        .tls = c->tls != NULL,
        .id = c->id,
        .peer = {c->peer, c->peer_len},
        .protocol = c->proto ? c->proto->name : NULL,
        .state = conn_state(c, l.n),
        .age_ms = now - c->accepted_ms,
        .bytes_in = c->bytes_in,
        .bytes_out = c->bytes_out,
        .streams = l.items,
        .nstreams = l.n, /* out of memory: the streams gathered so far */
    };
    cb(&info, data);
    count++;
  }
  free(l.items);
  return count;
}
