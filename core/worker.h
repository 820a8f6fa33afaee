/* worker.h — one worker thread: its libuv loop, its listeners, its
 * connections, and the per-loop services the SDK offers (timers, thread-pool
 * work, tasks posted from other threads).
 *
 * Everything a worker owns is touched only on its thread, except the posted
 * task queue (mutex) and the stop request (uv_async).
 */
#ifndef IRIDIUM_CORE_WORKER_H
#define IRIDIUM_CORE_WORKER_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include <iridium/module.h>

#include "list.h"
#include "listener.h"
#include "log.h"
#include "slab.h"

struct irh_server;
struct irh_generation;
typedef struct irh_task irh_task;

/* Plaintext bytes per TLS record: the worker's buffer for gathering them. */
#define IRH_WORKER_STAGE_SIZE 16384

/* Work a layer above queues for the end of this loop turn (a connection's
 * flush, a stream's settle): embedded in its owner; the worker unlinks it
 * and calls run(d). So the worker runs them without knowing their types. */
typedef struct irh_deferred {
  irh_link link; /* in one of the worker's queues while pending */
  void (*run)(struct irh_deferred *d);
} irh_deferred;

static inline void irh_deferred_init(irh_deferred *d, void (*run)(irh_deferred *d)) {
  irh_list_init(&d->link);
  d->run = run;
}
static inline int irh_deferred_pending(const irh_deferred *d) { return irh_list_linked(&d->link); }
static inline void irh_deferred_cancel(irh_deferred *d) {
  if (irh_list_linked(&d->link)) irh_list_remove(&d->link);
}

/* A deadline a layer above sets (a stream waiting for its response head):
 * embedded in its owner; the worker calls fire(d) on its loop once d is
 * due, unless it was cancelled first. Deadlines with the same timeout share
 * a lane, which is then in due order, so one timer serves them all and
 * adding or cancelling one costs no search. */
typedef struct irh_deadline {
  irh_link link; /* in one of the worker's lanes while pending */
  uint64_t due;  /* loop time (ms) */
  void (*fire)(struct irh_deadline *d);
} irh_deadline;

static inline void irh_deadline_init(irh_deadline *d, void (*fire)(irh_deadline *d)) {
  irh_list_init(&d->link);
  d->fire = fire;
}
static inline int irh_deadline_pending(const irh_deadline *d) { return irh_list_linked(&d->link); }
static inline void irh_deadline_cancel(irh_deadline *d) {
  if (irh_list_linked(&d->link)) irh_list_remove(&d->link);
}

typedef struct irh_deadline_lane {
  uint64_t timeout_ms;
  irh_link pending; /* irh_deadline, due order */
} irh_deadline_lane;

/* Something the worker holds open and drains on shutdown (a connection):
 * shutdown asks it to finish what it is doing and close; close(reason)
 * closes it now (and unlinks it). */
typedef struct irh_drainable irh_drainable;
typedef struct irh_drain_ops {
  void (*shutdown)(irh_drainable *d);
  void (*close)(irh_drainable *d, int reason);
} irh_drain_ops;
struct irh_drainable {
  irh_link link; /* in worker->conns */
  const irh_drain_ops *ops;
};

/* Something a module opened on this worker that must be reported closed
 * before the modules' worker_exit (an outbound connection, outbound.c):
 * close(c) reports it to its module and unlinks it. */
typedef struct irh_closable {
  irh_link link; /* in worker->owned */
  void (*close)(struct irh_closable *c);
} irh_closable;

/* What SDK 1.5's server_info sums over the workers: each written only on
 * its worker's thread (irh_count_add), read from any (relaxed). */
typedef struct irh_worker_counts {
  atomic_uint_fast64_t conns_total;
  atomic_uint_fast64_t streams_open;
  atomic_uint_fast64_t requests;
  atomic_uint_fast64_t by_class[5]; /* 1xx .. 5xx */
  atomic_uint_fast64_t bytes_in, bytes_out;
} irh_worker_counts;

/* One writer: a plain load and store, no locked add. */
static inline void irh_count_add(atomic_uint_fast64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}
static inline void irh_count_sub(atomic_uint_fast64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
                        memory_order_relaxed);
}

struct ir_worker {
  unsigned index;
  struct irh_server *server;
  uv_loop_t loop;
  uv_thread_t thread;

  uv_async_t wakeup; /* posted tasks and the stop request */
  uv_mutex_t post_lock;
  irh_task *posted;    /* guarded by post_lock; newest first */
  int accepting_posts; /* guarded by post_lock */

  uv_prepare_t before_poll; /* flushes writes, finishes streams */
  uv_check_t after_poll;    /* the same, after I/O callbacks */
  uv_idle_t more_work;      /* active while a pass left work queued */
  uv_timer_t shutdown_timer;
  uv_timer_t deadline_timer; /* the earliest pending irh_deadline */
  irh_deadline_lane **lanes; /* one per timeout in use, owned (each lane too) */
  size_t nlanes;

  struct irh_generation *gen;  /* what it accepts for (held); a reload moves it on */
  irh_listener_set *listeners; /* gen's sockets; NULL once draining */

  irh_slab conn_slab;
  irh_slab stream_slab;
  irh_slab proto_slab;   /* HTTP/1.1's per-connection state; sized by its first user */
  irh_link conns;        /* every open connection (irh_drainable) */
  irh_link flush_queue;  /* irh_deferred: connections with bytes to write */
  irh_link finish_queue; /* irh_deferred: streams whose end was asked for by a module */
  irh_link timers;       /* ir_timer_t handles modules started */
  irh_link watches;      /* irh_drainable: fd watches modules started (watch.c) */
  irh_link jobs;         /* ir_work_t: thread-pool jobs whose done is owed */
  int jobs_stopping;     /* draining ended: queued jobs dropped, no new ones */
  irh_link owned;        /* irh_closable: modules' outbound connections */
  int outbound_refused;  /* worker_exit is near: no new outbound connections */

  uint8_t *read_buf; /* shared by the worker's connections; owned */
  size_t read_buf_size;
  int read_buf_busy;
  char *tls_stage; /* IRH_WORKER_STAGE_SIZE bytes: plaintext gathered into a record; owned */

  char date[32]; /* "Sat, 21 Nov 2026 11:29:13 GMT": the value; each protocol frames it */
  size_t date_len;
  uint64_t date_sec;

  irh_access_buf access;
  void **module_data;       /* IRH_MAX_MODULES slots, by module slot (ir_worker_set_data), owned */
  uint64_t conns_alive;     /* accepted and not yet freed */
  irh_worker_counts counts; /* for server_info (SDK 1.5) */
  uint64_t last_reject_log; /* loop time of the last max_connections warning */
  int draining;
  uint64_t drain_due; /* loop time (ms) of the shutdown_timeout, once draining */
  atomic_int closed; /* handles closed: no new timers, work or posts */
  int exit_status;
  size_t modules_ready; /* modules whose worker_init succeeded here: worker_exit is owed them */
  int trial;            /* iridium -t: the module hooks only, no listeners (irh_worker_trial) */
  atomic_int started;   /* 1 once it serves, -1 when it could not start; 0 before */
};

/* Creates the worker (not started), serving gen (held). NULL on failure.
 * Main thread. */
struct ir_worker *irh_worker_new(struct irh_server *srv, unsigned index,
                                 struct irh_generation *gen);
/* Starts its thread. Main thread. */
int irh_worker_start(struct ir_worker *w);
/* Asks it to stop accepting and drain; nothing once its handles closed.
 * Main thread (any thread is safe). */
void irh_worker_request_stop(struct ir_worker *w);
/* For `iridium -t`: every module's worker_init on a throwaway worker (its
 * own thread and loop, no listeners), then worker_exit for those that
 * succeeded and the same drain as at shutdown. A failure is reported once
 * per server (as at start-up). Returns 0 when every worker_init succeeded.
 * Main thread. */
int irh_worker_trial(struct irh_server *srv, struct irh_generation *gen);
/* A reload's steps, posted to w by the main thread; each adds one to
 * gen->acks once done on w's thread. init: worker_init for the modules new
 * with gen (a failure sets gen->worker_failed); unwind: worker_exit for
 * those again (the reload failed); adopt: accept for gen from now on, and
 * stop accepting for the one before. -1 when w no longer takes posts. */
int irh_worker_reload_init(struct ir_worker *w, struct irh_generation *gen);
int irh_worker_reload_unwind(struct ir_worker *w, struct irh_generation *gen);
int irh_worker_reload_adopt(struct ir_worker *w, struct irh_generation *gen);
/* Joins the thread and frees it. Main thread. */
void irh_worker_join_and_free(struct ir_worker *w);

/* Queues d for this loop turn's end: settle passes (streams) run before
 * flush passes (connections' output), repeated while they queue more.
 * Queuing a pending d again does nothing. */
void irh_worker_defer_settle(struct ir_worker *w, irh_deferred *d);
void irh_worker_defer_flush(struct ir_worker *w, irh_deferred *d);
/* Arms d (not pending) to fire timeout_ms from now. -1 when the worker is
 * stopping or out of memory: then d never fires. Worker's thread. */
int irh_worker_deadline(struct ir_worker *w, irh_deadline *d, uint64_t timeout_ms);
/* Holds d (a connection) open: linked into the worker's list until its
 * close unlinks it (irh_worker_forget). */
void irh_worker_hold(struct ir_worker *w, irh_drainable *d);
static inline void irh_worker_forget(irh_drainable *d) { irh_list_remove(&d->link); }
/* Holds c until its close unlinks it; the worker calls c->close before
 * worker_exit for whatever is still held. */
static inline void irh_worker_own(struct ir_worker *w, irh_closable *c) {
  irh_list_push(&w->owned, &c->link);
}
/* The Date field's value for this second, as an IMF-fixdate (RFC 9110
 * 5.6.7): "Sat, 21 Nov 2026 11:29:13 GMT", 29 bytes, no NUL counted in
 * *len. Formatted once per second; valid until the next call on this worker
 * in a later second, so a caller that keeps it longer copies it. */
const char *irh_worker_date(struct ir_worker *w, size_t *len);
/* Milliseconds left until a draining worker closes what is still open
 * (for the drain notices); 0 when not draining or past it. */
static inline uint64_t irh_worker_drain_ms_left(const struct ir_worker *w) {
  uint64_t now = uv_now(&w->loop);
  return w->draining && w->drain_due > now ? w->drain_due - now : 0;
}
/* Called when a connection closed, to let a draining worker finish. */
void irh_worker_conn_closed(struct ir_worker *w);

/* SDK services (host_api.c forwards here). */
ir_timer_t *irh_timer_start(struct ir_worker *w, uint64_t timeout_ms, uint64_t repeat_ms,
                            void (*cb)(ir_timer_t *, void *), void *data);
void irh_timer_stop(ir_timer_t *t);
int irh_work_submit(struct ir_worker *w, void (*work)(void *), void (*done)(void *, int),
                    void *data);
int irh_worker_post(struct ir_worker *w, void (*cb)(void *), void *data);
/* A job for work_start (stream.c's irh_stream_work_start checks the
 * stream): owner, when not NULL, is the list of an object's jobs (a
 * stream's), which irh_work_owner_closed empties when the object closes:
 * jobs not started are dropped, and every done then gets IR_ECLOSED; gen,
 * when not NULL (the stream's connection's), is held until done ran, since
 * the work may still read its route's instance after the stream is gone. A
 * worker that stops waits for its jobs' done calls before worker_exit,
 * dropping those not started. NULL for a bad argument, a stopping worker
 * or no memory. */
ir_work_t *irh_work_start(struct ir_worker *w, irh_link *owner, struct irh_generation *gen,
                          void (*work)(void *), void (*done)(void *, int), void *data);
void irh_work_owner_closed(irh_link *owner);
int irh_work_cancel(ir_work_t *wk);
unsigned irh_worker_count(void);
struct ir_worker *irh_worker_at(unsigned index);

#endif /* IRIDIUM_CORE_WORKER_H */
