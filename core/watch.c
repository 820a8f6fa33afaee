/* watch.c — fd watches for modules (SDK 1.4 watch_*): one uv_poll_t per
 * watch on the worker's loop, level-triggered (epoll without EPOLLET).
 *
 * A watch is linked into the worker's `watches` list (as an irh_drainable,
 * so the worker closes leftovers without knowing this type) from start
 * until stop. Stop unlinks it, stops the poll and closes the handle; the
 * memory goes when uv_close completes, so a stop from inside the callback
 * is safe and no callback follows it. libuv stops a poll by itself when the
 * fd reports an error: the callback then hears IR_WATCH_ERROR once and the
 * watch stays paused until watch_change asks again.
 */
#include "watch.h"

#include <stdlib.h>
#include <uv.h>

#include "log.h"
#include "worker.h"

#define WATCH_INTEREST (IR_WATCH_READ | IR_WATCH_WRITE)

struct ir_watch {
  uv_poll_t poll;
  irh_drainable member; /* in worker->watches until stopped */
  ir_worker_t *worker;
  ir_watch_cb cb;
  void *data;
  int fd;
  uint32_t interest; /* IR_WATCH_READ | IR_WATCH_WRITE, or 0 (paused) */
  int stopped;       /* watch_stop was called: the handle is closing */
};

static void on_watch_closed(uv_handle_t *h) { free(h->data); }

static void on_poll(uv_poll_t *p, int status, int uv_events) {
  ir_watch_t *wt = p->data;
  uint32_t events = 0;
  if (status < 0) {
    events = wt->interest | IR_WATCH_ERROR; /* libuv stopped the poll */
    wt->interest = 0;
  } else {
    if (uv_events & UV_READABLE) events |= IR_WATCH_READ;
    if (uv_events & UV_WRITABLE) events |= IR_WATCH_WRITE;
    if (uv_events & UV_DISCONNECT) events |= IR_WATCH_ERROR;
  }
  wt->cb(wt, wt->fd, events, wt->data);
}

/* Points the poll at the interest: stopped for 0. 0, or a libuv error. */
static int apply_interest(ir_watch_t *wt) {
  if (!wt->interest) return uv_poll_stop(&wt->poll);
  int ev = 0;
  if (wt->interest & IR_WATCH_READ) ev |= UV_READABLE | UV_DISCONNECT; /* hang-up: with reads */
  if (wt->interest & IR_WATCH_WRITE) ev |= UV_WRITABLE;
  return uv_poll_start(&wt->poll, ev, on_poll);
}

static void close_watch(ir_watch_t *wt) {
  wt->stopped = 1;
  irh_worker_forget(&wt->member);
  uv_poll_stop(&wt->poll);
  uv_close((uv_handle_t *)&wt->poll, on_watch_closed);
}

/* The worker stops (after worker_exit): a watch the module left open. */
static void drain_close(irh_drainable *d, int reason) {
  (void)reason;
  close_watch(irh_container_of(d, ir_watch_t, member));
}
static void drain_shutdown(irh_drainable *d) { (void)d; /* the module's on_worker_drain decides */ }
static const irh_drain_ops watch_drain_ops = {.shutdown = drain_shutdown, .close = drain_close};

ir_watch_t *irh_watch_start(ir_worker_t *w, int fd, uint32_t events, ir_watch_cb cb, void *data) {
  if (!w || w->closed || fd < 0 || (events & ~WATCH_INTEREST) || !cb) return NULL;
  ir_watch_t *wt = calloc(1, sizeof(*wt));
  if (!wt) return NULL;
  /* Fails for an fd that is not open, cannot be polled (a regular file) or
   * is watched on this loop already (a second watch, or the host's own). */
  int rc = uv_poll_init(&w->loop, &wt->poll, fd);
  if (rc != 0) {
    irh_log(IR_LOG_DEBUG, 0, -1, NULL, "watch_start on fd %d refused: %s", fd, uv_strerror(rc));
    free(wt);
    return NULL;
  }
  wt->poll.data = wt;
  wt->worker = w;
  wt->cb = cb;
  wt->data = data;
  wt->fd = fd;
  wt->interest = events;
  wt->member.ops = &watch_drain_ops;
  irh_list_push(&w->watches, &wt->member.link);
  if (apply_interest(wt) != 0) {
    close_watch(wt);
    return NULL;
  }
  return wt;
}

int irh_watch_change(ir_watch_t *wt, uint32_t events) {
  if (!wt || (events & ~WATCH_INTEREST)) return IR_EINVAL;
  if (wt->stopped) return IR_ECLOSED;
  wt->interest = events;
  return apply_interest(wt) == 0 ? IR_OK : IR_EINVAL;
}

void irh_watch_stop(ir_watch_t *wt) {
  if (!wt) return;
  if (wt->stopped) { /* a second stop inside the same callback: the handle is still ours */
    irh_log(IR_LOG_WARN, 0, -1, NULL, "watch_stop called twice on the watch of fd %d", wt->fd);
    return;
  }
  close_watch(wt);
}
