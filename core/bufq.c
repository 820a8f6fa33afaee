/* bufq.c — the block-chain byte queue; see bufq.h. */
#include "bufq.h"

#include <string.h>

#include "recycler.h"

struct irh_bufq_block {
  irh_bufq_block *next;
  size_t start, end, cap; /* live bytes are data[start, end) */
  char data[];
};

/* Block sizes such that block and recycler head fill a size class. */
#define BLOCK_OVERHEAD (sizeof(irh_bufq_block) + IRH_RECYCLER_HEAD)
#define BUFQ_BLOCK (16384 - BLOCK_OVERHEAD)
#define BUFQ_FIRST_BLOCK (4096 - BLOCK_OVERHEAD)
/* Smaller pieces are copied: into the tail block they cost less than one
 * more block (and one more iovec) in the destination. */
#define BUFQ_SPLICE_MIN 8192

char *irh_bufq_reserve(irh_bufq *q, size_t n) {
  irh_bufq_block *t = q->tail;
  if (t && t->cap - t->end >= n) return t->data + t->end;
  /* A queue's first block is small (most bodies are); later ones full size. */
  size_t block = t ? BUFQ_BLOCK : BUFQ_FIRST_BLOCK;
  size_t cap = n > block ? n : block;
  irh_bufq_block *b = irh_recycler_alloc(sizeof(*b) + cap);
  if (!b) return NULL;
  b->next = NULL;
  b->start = b->end = 0;
  b->cap = cap;
  if (t)
    t->next = b;
  else
    q->head = b;
  q->tail = b;
  return b->data;
}

void irh_bufq_commit(irh_bufq *q, size_t used) {
  q->tail->end += used;
  q->len += used;
}

int irh_bufq_append(irh_bufq *q, const void *data, size_t len) {
  if (len == 0) return 0;
  char *p = irh_bufq_reserve(q, len);
  if (!p) return -1;
  memcpy(p, data, len);
  irh_bufq_commit(q, len);
  return 0;
}

unsigned irh_bufq_peek(const irh_bufq *q, uv_buf_t *iov, unsigned max, size_t *bytes) {
  unsigned n = 0;
  size_t total = 0;
  for (irh_bufq_block *b = q->head; b && n < max; b = b->next) {
    if (b->end == b->start) continue;
    iov[n++] = uv_buf_init(b->data + b->start, (unsigned)(b->end - b->start));
    total += b->end - b->start;
  }
  *bytes = total;
  return n;
}

static void drop_front_block(irh_bufq *q) {
  irh_bufq_block *b = q->head;
  q->head = b->next;
  if (!q->head) q->tail = NULL;
  irh_recycler_free(b);
}

size_t irh_bufq_read(irh_bufq *q, void *dst, size_t len) {
  size_t done = 0;
  while (done < len && q->head) {
    irh_bufq_block *b = q->head;
    size_t n = b->end - b->start;
    if (n > len - done) n = len - done;
    memcpy((char *)dst + done, b->data + b->start, n);
    done += n;
    irh_bufq_consume(q, n);
  }
  return done;
}

void irh_bufq_consume(irh_bufq *q, size_t n) {
  q->len -= n;
  while (n && q->head) {
    irh_bufq_block *b = q->head;
    size_t avail = b->end - b->start;
    if (n < avail) {
      b->start += n;
      return;
    }
    n -= avail;
    drop_front_block(q);
  }
  /* A fully drained last block is dropped too, so an idle queue holds no
   * memory (idle keep-alive connections stay small). */
  if (q->head && q->head == q->tail && q->head->start == q->head->end) drop_front_block(q);
}

int irh_bufq_splice(irh_bufq *dst, irh_bufq *src, size_t len) {
  while (len && src->head) {
    irh_bufq_block *b = src->head;
    size_t avail = b->end - b->start;
    if (avail > len || avail < BUFQ_SPLICE_MIN) break;
    src->head = b->next; /* the whole block changes queues */
    if (!src->head) src->tail = NULL;
    src->len -= avail;
    b->next = NULL;
    if (dst->tail)
      dst->tail->next = b;
    else
      dst->head = b;
    dst->tail = b;
    dst->len += avail;
    len -= avail;
  }
  if (len) { /* part of a block: copied */
    char *p = irh_bufq_reserve(dst, len);
    if (!p) return -1;
    irh_bufq_commit(dst, irh_bufq_read(src, p, len));
  }
  return 0;
}

void irh_bufq_move(irh_bufq *dst, irh_bufq *src) {
  if (!src->head) return;
  if (dst->tail)
    dst->tail->next = src->head;
  else
    dst->head = src->head;
  dst->tail = src->tail;
  dst->len += src->len;
  src->head = src->tail = NULL;
  src->len = 0;
}

void irh_bufq_free(irh_bufq *q) {
  while (q->head) drop_front_block(q);
  q->len = 0;
}
