/* bufq.h — a byte queue: a chain of blocks, each either memory or a range
 * of a file.
 *
 * Memory blocks come from the recycler. Appends copy into the last block
 * while it has room, so many small writes share one block and a writev sees
 * few pieces. A file block is (fd, offset, length) with a release callback:
 * a file body waits in the queue as what to send, not as copied bytes, for
 * whoever writes the queue (sendfile(2) on plaintext, reads otherwise).
 * Used for a connection's output (plaintext and, with TLS, the sealed wire
 * bytes) and for an HTTP/2 stream's body waiting for flow-control window.
 * One thread only.
 *
 * Byte counts (len, consume, splice) cover both kinds; calls that copy or
 * hand out memory (peek, read) stop at the first file block, which
 * irh_bufq_front_file shows once it is at the front.
 */
#ifndef IRIDIUM_CORE_BUFQ_H
#define IRIDIUM_CORE_BUFQ_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct irh_bufq_block irh_bufq_block;

typedef struct irh_bufq {
  irh_bufq_block *head, *tail; /* owned */
  size_t len;                  /* bytes queued, memory and file */
} irh_bufq;

/* Called once when the last byte of a file range left every queue (sent and
 * consumed, or freed); user is what irh_bufq_append_file was given. The
 * callback owns closing fd, if anything does. It runs inside consume,
 * splice or free, so it must not touch the queue. */
typedef void (*irh_bufq_release_fn)(void *user);

/* The file range at the front of a queue (irh_bufq_front_file). */
typedef struct irh_bufq_file_range {
  int fd;
  uint64_t offset; /* where the next byte to send is in the file */
  size_t len;      /* bytes of the range left, > 0 */
} irh_bufq_file_range;

/* Room for at least n contiguous bytes at the end; fill it and call
 * irh_bufq_commit(q, used). NULL when out of memory. */
char *irh_bufq_reserve(irh_bufq *q, size_t n);
void irh_bufq_commit(irh_bufq *q, size_t used);
/* Copies len bytes in. Returns 0, or -1 when out of memory. */
int irh_bufq_append(irh_bufq *q, const void *data, size_t len);
/* Queues len bytes of the file fd from offset, without reading them.
 * Returns 0: the queue now owns the range and calls release(user) exactly
 * once, when its last byte is consumed or the queue is freed (at once when
 * len is 0). Returns -1 when out of memory: nothing was queued, release was
 * not called, and the caller still owns fd. The file must not shrink while
 * queued. */
int irh_bufq_append_file(irh_bufq *q, int fd, uint64_t offset, size_t len,
                         irh_bufq_release_fn release, void *user);
/* Fills up to max iovecs with the queued memory bytes, front first, up to
 * the first file block; returns the count and the bytes they cover in
 * *bytes. 0 iovecs with q->len > 0 means a file block is at the front. */
unsigned irh_bufq_peek(const irh_bufq *q, uv_buf_t *iov, unsigned max, size_t *bytes);
/* Whether a file block comes before any memory byte; if so, fills *out. */
int irh_bufq_front_file(const irh_bufq *q, irh_bufq_file_range *out);
/* The file ranges among the first bytes of q, in order (memory between
 * them skipped): fills up to max, stopping once they add up to budget
 * bytes (the last one cut to fit); returns the count. */
unsigned irh_bufq_peek_files(const irh_bufq *q, irh_bufq_file_range *out, unsigned max,
                             size_t budget);
/* Copies up to len memory bytes from the front into dst and drops them;
 * stops at a file block. Returns the bytes copied. */
size_t irh_bufq_read(irh_bufq *q, void *dst, size_t len);
/* Drops n bytes from the front (n <= len), memory or file: a file block
 * drops what was sent of it (after sendfile), and releases its range once
 * the last piece of it is gone. */
void irh_bufq_consume(irh_bufq *q, size_t n);
/* Moves len bytes (<= src->len) from the front of src to the end of dst:
 * whole blocks change queues without a copy, a small or partial memory
 * block is copied, a partial file block is split (both pieces share one
 * release). Returns 0, or -1 when out of memory: then the piece being moved
 * stayed in src (what moved before it stays in dst; the lengths say). */
int irh_bufq_splice(irh_bufq *dst, irh_bufq *src, size_t len);
/* Moves every block of src to the end of dst (no copy). */
void irh_bufq_move(irh_bufq *dst, irh_bufq *src);
/* Drops everything (file ranges are released). */
void irh_bufq_free(irh_bufq *q);

#endif /* IRIDIUM_CORE_BUFQ_H */
