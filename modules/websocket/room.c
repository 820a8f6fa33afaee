/* room.c — broadcast rooms across workers. A message is one refcounted
 * ws_buf: the sender's worker delivers it to its own members at once and
 * posts it to every other worker (worker_post keeps each poster's order,
 * so every member sees a sender's messages in order). Each member's queue
 * is bounded: past its limit the member is closed with 1008, or its
 * oldest queued messages are dropped, as the route says. A room with a
 * room_topic goes through the broker instead (backbone.c). */
#include "room.h"

#include "backbone.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Set up on the main thread (route set-up, also while a reload adds
 * routes); workers read only the count, and the backbone's links under
 * ws_rooms_lock when they grow their own table. */
static char **room_names; /* [room_total] */
static _Atomic size_t room_total;
static __thread ws_worker *thread_worker;
pthread_mutex_t ws_rooms_lock = PTHREAD_MUTEX_INITIALIZER;

int ws_room_id(const char *name) {
  size_t n = atomic_load(&room_total);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(room_names[i], name)) return (int)i;
  char **grown = realloc(room_names, (n + 1) * sizeof(*grown));
  if (!grown) return -1;
  room_names = grown;
  if (!(room_names[n] = strdup(name))) return -1;
  atomic_store(&room_total, n + 1);
  return (int)n;
}

size_t ws_room_count(void) { return atomic_load(&room_total); }

int ws_rooms_grow(ws_worker *ww) {
  size_t n = ws_room_count();
  if (n <= ww->nrooms) return 0;
  ws_room_local **grown = realloc(ww->rooms, n * sizeof(*grown));
  if (!grown) return -1;
  ww->rooms = grown;
  for (; ww->nrooms < n; ww->nrooms++) {
    ws_room_local *r = calloc(1, sizeof(*r));
    if (!r) break;
    r->ww = ww;
    r->id = (uint32_t)ww->nrooms;
    ws_backbone_copy(r);
    ww->rooms[ww->nrooms] = r;
  }
  return ww->nrooms == n ? 0 : -1;
}

void ws_rooms_worker_free(ws_worker *ww) {
  for (size_t i = 0; i < ww->nrooms; i++) free(ww->rooms[i]);
  free(ww->rooms);
  ww->rooms = NULL;
  ww->nrooms = 0;
}

void ws_rooms_free(void) {
  for (size_t i = 0; i < atomic_load(&room_total); i++) free(room_names[i]);
  free(room_names);
  room_names = NULL;
  room_total = 0;
}

void ws_room_set_thread_worker(ws_worker *ww) { thread_worker = ww; }

void ws_room_join(ws_worker *ww, ws_member *m) {
  if (m->room >= ww->nrooms) { /* a room a reload added */
    size_t from = ww->nrooms;
    int rc = ws_rooms_grow(ww);
    ws_backbone_subscribe(ww, from);
    if (rc != 0 || m->room >= ww->nrooms) return;
  }
  ws_room_local *r = ww->rooms[m->room];
  m->prev = NULL;
  m->next = r->head;
  if (r->head) r->head->prev = m;
  r->head = m;
  r->count++;
  m->joined = 1;
}

void ws_room_leave(ws_worker *ww, ws_member *m) {
  if (!m->joined) return;
  ws_room_local *r = ww->rooms[m->room];
  if (m->prev) m->prev->next = m->next;
  else r->head = m->next;
  if (m->next) m->next->prev = m->prev;
  r->count--;
  m->joined = 0;
}

/* One member's share of a message. */
static void deliver_one(ws_worker *ww, ws_member *m, ws_buf *b) {
  ws_session *ws = m->ws;
  if (ws->codec.queued + b->len > m->limit) {
    if (m->policy == WS_SLOW_CLOSE) {
      if (ws_metric.slow[0]) ir_metric_add(ww->w, ws_metric.slow[0], 1);
      ws_room_leave(ww, m);
      ws_codec_fail(&ws->codec, IR_WS_CLOSE_POLICY, "too slow for this room");
      ws_session_kick(ws);
      return;
    }
    size_t keep = m->limit > b->len ? (size_t)m->limit - b->len : 0;
    size_t dropped = ws_codec_drop_oldest(&ws->codec, keep);
    if (dropped && ws_metric.slow[1]) ir_metric_add(ww->w, ws_metric.slow[1], (int64_t)dropped);
  }
  ws_session_send_buf(ws, b->type, b);
}

static void deliver(ws_worker *ww, ws_buf *b) {
  if (!ww || b->room >= ww->nrooms) return;
  ws_member *m = ww->rooms[b->room]->head;
  while (m) {
    ws_member *next = m->next; /* m may leave */
    deliver_one(ww, m, b);
    m = next;
  }
}

static void deliver_posted(void *data) {
  ws_buf *b = data;
  deliver(thread_worker, b);
  ws_buf_unref(b);
}

void ws_room_deliver_local(ws_worker *ww, uint32_t room, unsigned type, const uint8_t *msg,
                           size_t len) {
  ws_buf *b = ws_buf_new(msg, len);
  if (!b) return;
  b->room = room;
  b->type = type;
  deliver(ww, b);
  ws_buf_unref(b);
}

void ws_room_publish(ws_worker *ww, uint32_t room, unsigned type, const uint8_t *msg, size_t len) {
  if (room < ww->nrooms && ww->rooms[room]->topic) {
    ws_backbone_publish(ww, room, type, msg, len);
    return;
  }
  ws_buf *b = ws_buf_new(msg, len);
  if (!b) return;
  b->room = room;
  b->type = type;
  unsigned n = ir_worker_count();
  for (unsigned i = 0; i < n; i++) {
    ir_worker_t *w = ir_worker_at(i);
    if (!w || w == ww->w) continue;
    if (ir_worker_post(w, deliver_posted, ws_buf_ref(b)) != IR_OK) ws_buf_unref(b);
  }
  deliver(ww, b);
  ws_buf_unref(b);
}
