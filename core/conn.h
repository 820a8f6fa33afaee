/* conn.h — one client connection: bytes in, bytes out, timeouts.
 *
 * Layers: socket ⇄ [tls.c] ⇄ protocol (h1.c or h2.c, through irh_proto).
 * Bytes read land in the worker's shared read buffer; TLS decrypts them and
 * the protocol gets plaintext. The protocol queues plaintext output in
 * `out`; once per loop turn the worker flushes every connection it queued:
 * the protocol's before_flush hook runs (HTTP/2 frames pending data), TLS
 * seals `out` into `wire` (without TLS the blocks just move), and `wire` goes
 * out with one writev. Above max_queued_output, writers are told "again" and
 * the protocol hears on_drain once the queue is written out. One timer per
 * connection carries whichever timeout the protocol's phase calls for; a
 * second one catches stalled writes.
 *
 * File ranges (irh_conn_write_file) wait in the queues as blocks of their
 * own and are written here: sendfile(2) in cleartext, the memory bytes
 * before them sent with MSG_MORE so that a head or frame header shares
 * packets with its payload; with TLS they are read on the thread pool
 * (several ranges per job, HTTP/2's DATA payloads) and the bytes sealed. A
 * range whose file turns out shorter closes the connection.
 * Connections come from the worker's slab and are counted against
 * max_connections across all workers.
 */
#ifndef IRIDIUM_CORE_CONN_H
#define IRIDIUM_CORE_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bufq.h"
#include "h1.h"
#include "list.h"

struct irh_conn;
struct irh_listener;
struct irh_tls_conn;
struct irh_h2;

/* What a protocol does with a connection's events. */
typedef struct irh_proto {
  const char *name; /* "http/1.1", "h2" */
  void (*on_read)(struct irh_conn *c, const char *data, size_t len);
  void (*on_drain)(struct irh_conn *c);    /* everything queued was written */
  void (*on_timeout)(struct irh_conn *c);  /* the connection's timer fired */
  void (*on_shutdown)(struct irh_conn *c); /* the worker drains */
  void (*on_eof)(struct irh_conn *c);      /* the peer closed its side */
  void (*on_close)(struct irh_conn *c, int reason);
  void (*before_flush)(struct irh_conn *c); /* may be NULL */
} irh_proto;

extern const irh_proto irh_h1_proto;
extern const irh_proto irh_h2_proto;

typedef struct irh_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;       /* the protocol's phase timeout, then the linger */
  uv_timer_t write_timer; /* write stall */
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  struct ir_worker *worker;
  const struct irh_listener *listener;
  uint64_t id;
  irh_link link;       /* in worker->conns */
  irh_link flush_link; /* in worker->flush_queue while output waits */

  char peer[56]; /* "127.0.0.1:5555" / "[::1]:5555" */
  size_t peer_len;

  const irh_proto *proto;        /* NULL until TLS has picked one by ALPN */
  struct irh_tls_conn *tls;      /* owned; NULL without TLS */
  struct irh_h2 *h2;             /* owned while HTTP/2 runs */

  irh_bufq out;         /* plaintext queued by the protocol */
  irh_bufq wire;        /* bytes for the socket (sealed, with TLS) */
  size_t out_in_flight; /* bytes of `wire` in the current writev */
  size_t max_queued;    /* max_queued_output */
  char *nudge;          /* file bytes copied for a write that waits on the socket */
  struct irh_conn_read *reading_file; /* TLS: a thread-pool read of file ranges in `out` */

  char sniff[24]; /* the first bytes, while telling h2c from HTTP/1.1 */
  uint8_t sniff_len;

  int open_handles;     /* tcp + 2 timers; the slab slot is freed at 0 */
  int close_reason;     /* ir_close_reason given to open streams */
  size_t lingered;      /* bytes dropped while lingering */
  unsigned reading : 1; /* uv_read_start is active */
  unsigned read_paused : 1;
  unsigned writing : 1; /* a uv_write is in flight */
  unsigned closing : 1; /* uv_close was called */
  unsigned close_when_flushed : 1;
  unsigned eof : 1;       /* the peer closed its side */
  unsigned sniffing : 1;  /* h2c prior knowledge still possible */
  unsigned lingering : 1; /* shut down for writing; dropping input */
  unsigned abortive : 1;  /* close with a reset (write stall) */

  irh_h1 h1;
} irh_conn;

/* Takes a connection accepted on a listener (its fd, owned from now on:
 * served, or closed when over max_connections). Worker's thread. */
void irh_conn_accept(struct irh_listener *l, int fd);

/* Switches the protocol (after ALPN, sniffing or an h2c upgrade). */
void irh_conn_set_proto(irh_conn *c, const irh_proto *p);
/* Plaintext for the protocol (TLS calls this after decrypting). */
void irh_conn_deliver(irh_conn *c, const char *data, size_t len);

/* Queues a copy of len bytes of plaintext. -1 when the connection is
 * closing or out of memory (which closes it). */
int irh_conn_write(irh_conn *c, const void *data, size_t len);
/* Room for n bytes at the end of the queue, to fill in place and then
 * commit with irh_conn_commit(c, used). NULL closes the connection. */
char *irh_conn_reserve(irh_conn *c, size_t n);
void irh_conn_commit(irh_conn *c, size_t used);
/* Queues len bytes from the front of src, moving whole blocks rather than
 * copying them (irh_bufq_splice). -1 as for irh_conn_write. */
int irh_conn_splice(irh_conn *c, irh_bufq *src, size_t len);
/* Queues len bytes of the file fd from offset without reading them
 * (irh_bufq_append_file): release(user) runs once they were written, or
 * when the connection drops them. The file must not shrink meanwhile.
 * -1 as for irh_conn_write: then nothing was queued and release is not
 * called. */
int irh_conn_write_file(irh_conn *c, int fd, uint64_t offset, size_t len,
                        irh_bufq_release_fn release, void *user);
/* Whether file ranges go out with sendfile(2) from the loop (cleartext),
 * so that reading them ahead pays; with TLS they are read off the loop. */
static inline int irh_conn_sends_files(const irh_conn *c) { return c->tls == NULL; }
/* Bytes queued, sealed or in flight. */
static inline size_t irh_conn_out_bytes(const irh_conn *c) { return c->out.len + c->wire.len; }
/* Whether writers should wait (queued output over max_queued_output). */
static inline int irh_conn_out_full(const irh_conn *c) {
  return irh_conn_out_bytes(c) >= c->max_queued;
}
/* Queues the connection for this loop turn's flush. */
void irh_conn_want_flush(irh_conn *c);
/* Writes what is queued (the worker calls this once per turn). */
void irh_conn_flush(irh_conn *c);

/* Pauses / resumes reading from the socket on the protocol's behalf. */
void irh_conn_pause_reading(irh_conn *c);
void irh_conn_resume_reading(irh_conn *c);

/* (Re)arms the connection's single protocol timer; 0 disarms it. */
void irh_conn_set_timeout(irh_conn *c, uint64_t ms);

/* Closes now: the protocol aborts its streams; queued output is dropped. */
void irh_conn_close(irh_conn *c);
/* Closes once every queued byte is written (reading stops now). */
void irh_conn_close_when_flushed(irh_conn *c);

#endif /* IRIDIUM_CORE_CONN_H */
