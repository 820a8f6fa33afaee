/* conn.h — one client connection: bytes in, bytes out, timeouts.
 *
 * Bytes read land in the worker's shared read buffer and go straight to the
 * protocol. Output is copied into a chain of blocks and written with one
 * writev per loop turn (the worker flushes every connection it queued).
 * Above a high-water mark of queued output, writers are told "again" and
 * the protocol hears on_drain once the queue falls below the low-water mark.
 * One timer per connection carries whichever timeout the protocol's phase
 * calls for. Connections come from the worker's slab and are counted
 * against max_connections across all workers.
 */
#ifndef IRIDIUM_CORE_CONN_H
#define IRIDIUM_CORE_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "h1.h"
#include "list.h"

#define IRH_OUT_HIGH_WATER (256u * 1024u)
#define IRH_OUT_LOW_WATER (64u * 1024u)

typedef struct irh_outbuf irh_outbuf;

typedef struct irh_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;       /* the protocol's phase timeout, then the linger */
  uv_timer_t write_timer; /* write stall */
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  struct ir_worker *worker;
  uint64_t id;
  irh_link link;       /* in worker->conns */
  irh_link flush_link; /* in worker->flush_queue while output waits */

  char peer[56]; /* "127.0.0.1:5555" / "[::1]:5555" */
  size_t peer_len;
  int tls; /* reserved for the TLS layer */

  irh_outbuf *out_head, *out_tail; /* queued output, owned */
  size_t out_queued;               /* bytes queued, not yet handed to writev */
  size_t out_in_flight;            /* bytes in the current writev */
  irh_outbuf *in_flight;           /* blocks of the current writev, owned */

  int open_handles;          /* tcp + 2 timers; the slab slot is freed at 0 */
  int close_reason;          /* ir_close_reason given to an open stream */
  size_t lingered;           /* bytes dropped while lingering */
  unsigned reading : 1;      /* uv_read_start is active */
  unsigned read_paused : 1;  /* the protocol asked to stop reading */
  unsigned writing : 1;      /* a uv_write is in flight */
  unsigned closing : 1;      /* uv_close was called */
  unsigned close_when_flushed : 1;
  unsigned eof : 1;          /* the peer closed its side */

  irh_h1 h1;
} irh_conn;

/* Accepts a pending connection on listener (worker's thread). */
void irh_conn_accept(struct ir_worker *w, uv_stream_t *listener);

/* Queues a copy of len bytes. Never fails short of out-of-memory (which
 * closes the connection and returns -1). */
int irh_conn_write(irh_conn *c, const void *data, size_t len);
/* Room for n bytes at the end of the queue, to fill in place and then
 * commit with irh_conn_commit(c, used). NULL closes the connection. */
char *irh_conn_reserve(irh_conn *c, size_t n);
void irh_conn_commit(irh_conn *c, size_t used);
/* Bytes queued or in flight. */
static inline size_t irh_conn_out_bytes(const irh_conn *c) {
  return c->out_queued + c->out_in_flight;
}
/* Starts writing what is queued (the worker calls this once per turn). */
void irh_conn_flush(irh_conn *c);

/* Pauses / resumes reading from the socket on the protocol's behalf. */
void irh_conn_pause_reading(irh_conn *c);
void irh_conn_resume_reading(irh_conn *c);

/* (Re)arms the connection's single timer; 0 disarms it. */
void irh_conn_set_timeout(irh_conn *c, uint64_t ms);

/* Closes now: the protocol aborts its streams; queued output is dropped. */
void irh_conn_close(irh_conn *c);
/* Closes once every queued byte is written (reading stops now). */
void irh_conn_close_when_flushed(irh_conn *c);

#endif /* IRIDIUM_CORE_CONN_H */
