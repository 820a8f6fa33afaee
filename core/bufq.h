/* bufq.h — a byte queue: a chain of malloc'd blocks.
 *
 * Appends copy into the last block while it has room, so many small writes
 * share one block and a writev sees few pieces. Used for a connection's
 * output (plaintext and, with TLS, the sealed wire bytes) and for an HTTP/2
 * stream's body waiting for flow-control window. One thread only.
 */
#ifndef IRIDIUM_CORE_BUFQ_H
#define IRIDIUM_CORE_BUFQ_H

#include <stddef.h>
#include <uv.h>

typedef struct irh_bufq_block irh_bufq_block;

typedef struct irh_bufq {
  irh_bufq_block *head, *tail; /* owned */
  size_t len;                  /* bytes queued */
} irh_bufq;

/* Room for at least n contiguous bytes at the end; fill it and call
 * irh_bufq_commit(q, used). NULL when out of memory. */
char *irh_bufq_reserve(irh_bufq *q, size_t n);
void irh_bufq_commit(irh_bufq *q, size_t used);
/* Copies len bytes in. Returns 0, or -1 when out of memory. */
int irh_bufq_append(irh_bufq *q, const void *data, size_t len);
/* Fills up to max iovecs with the queued bytes, front first; returns the
 * count and the bytes they cover in *bytes. */
unsigned irh_bufq_peek(const irh_bufq *q, uv_buf_t *iov, unsigned max, size_t *bytes);
/* Copies up to len bytes from the front into dst and drops them. */
size_t irh_bufq_read(irh_bufq *q, void *dst, size_t len);
/* Drops n bytes from the front (n <= len). */
void irh_bufq_consume(irh_bufq *q, size_t n);
/* Moves len bytes (<= src->len) from the front of src to the end of dst:
 * whole blocks change queues without a copy, a part of one is copied.
 * Returns 0, or -1 when out of memory (then nothing of the part moved). */
int irh_bufq_splice(irh_bufq *dst, irh_bufq *src, size_t len);
/* Moves every block of src to the end of dst (no copy). */
void irh_bufq_move(irh_bufq *dst, irh_bufq *src);
void irh_bufq_free(irh_bufq *q);

#endif /* IRIDIUM_CORE_BUFQ_H */
