/* bufq.c — the block-chain byte queue; see bufq.h.
 *
 * A memory block holds its bytes after its header (data[start, end)). A
 * file block holds no bytes: file != NULL, and its live range is file
 * offsets [base + start, base + end), so consuming it moves start as for
 * memory. The pieces of one appended range (split by splice) point at one
 * irh_bufq_file, counted, whose release runs when the last piece goes.
 */
#include "bufq.h"

#include <string.h>

#include "recycler.h"

/* One appended file range, shared by the blocks it was split into. */
typedef struct irh_bufq_file {
  int fd;
  unsigned refs; /* blocks pointing here */
  irh_bufq_release_fn release;
  void *user;
} irh_bufq_file;

struct irh_bufq_block {
  irh_bufq_block *next;
  size_t start, end, cap; /* live bytes are data[start, end), or the file's */
  irh_bufq_file *file;    /* NULL for memory */
  uint64_t base;          /* a file block: the file offset of position 0 */
  char data[];
};

/* Block sizes such that a block fills a size class (classes count usable
 * bytes; the recycler's head comes on top of them). */
#define BLOCK_OVERHEAD sizeof(irh_bufq_block)
#define BUFQ_BLOCK (16384 - BLOCK_OVERHEAD)
#define BUFQ_FIRST_BLOCK (4096 - BLOCK_OVERHEAD)
/* Smaller pieces are copied: into the tail block they cost less than one
 * more block (and one more iovec) in the destination. */
#define BUFQ_SPLICE_MIN 8192

static void link_tail(irh_bufq *q, irh_bufq_block *b) {
  b->next = NULL;
  if (q->tail)
    q->tail->next = b;
  else
    q->head = b;
  q->tail = b;
}

char *irh_bufq_reserve(irh_bufq *q, size_t n) {
  irh_bufq_block *t = q->tail;
  if (t && !t->file && t->cap - t->end >= n) return t->data + t->end;
  /* A queue's first block is small (most bodies are); later ones full size. */
  size_t block = t ? BUFQ_BLOCK : BUFQ_FIRST_BLOCK;
  size_t cap = n > block ? n : block;
  irh_bufq_block *b = irh_recycler_alloc(sizeof(*b) + cap);
  if (!b) return NULL;
  b->start = b->end = 0;
  b->cap = cap;
  b->file = NULL;
  link_tail(q, b);
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

/* A file block for [base + start, base + end) of f (one more reference). */
static irh_bufq_block *file_block(irh_bufq_file *f, uint64_t base, size_t start, size_t end) {
  irh_bufq_block *b = irh_recycler_alloc(sizeof(*b));
  if (!b) return NULL;
  b->start = start;
  b->end = b->cap = end; /* no room: nothing is ever appended into it */
  b->file = f;
  b->base = base;
  f->refs++;
  return b;
}

int irh_bufq_append_file(irh_bufq *q, int fd, uint64_t offset, size_t len,
                         irh_bufq_release_fn release, void *user) {
  if (len == 0) {
    if (release) release(user);
    return 0;
  }
  irh_bufq_file *f = irh_recycler_alloc(sizeof(*f));
  if (!f) return -1;
  *f = (irh_bufq_file){.fd = fd, .refs = 0, .release = release, .user = user};
  irh_bufq_block *b = file_block(f, offset, 0, len);
  if (!b) {
    irh_recycler_free(f);
    return -1;
  }
  link_tail(q, b);
  q->len += len;
  return 0;
}

unsigned irh_bufq_peek(const irh_bufq *q, uv_buf_t *iov, unsigned max, size_t *bytes) {
  unsigned n = 0;
  size_t total = 0;
  for (irh_bufq_block *b = q->head; b && n < max && !b->file; b = b->next) {
    if (b->end == b->start) continue;
    iov[n++] = uv_buf_init(b->data + b->start, (unsigned)(b->end - b->start));
    total += b->end - b->start;
  }
  *bytes = total;
  return n;
}

int irh_bufq_front_file(const irh_bufq *q, irh_bufq_file_range *out) {
  const irh_bufq_block *b = q->head;
  while (b && !b->file && b->start == b->end) b = b->next; /* reserved, never filled */
  if (!b || !b->file) return 0;
  *out = (irh_bufq_file_range){b->file->fd, b->base + b->start, b->end - b->start};
  return 1;
}

unsigned irh_bufq_peek_files(const irh_bufq *q, irh_bufq_file_range *out, unsigned max,
                             size_t budget) {
  unsigned n = 0;
  for (const irh_bufq_block *b = q->head; b && n < max && budget; b = b->next) {
    if (!b->file || b->end == b->start) continue;
    size_t len = b->end - b->start < budget ? b->end - b->start : budget;
    out[n++] = (irh_bufq_file_range){b->file->fd, b->base + b->start, len};
    budget -= len;
  }
  return n;
}

/* Frees a block; the last piece of a file range releases it. */
static void free_block(irh_bufq_block *b) {
  irh_bufq_file *f = b->file;
  irh_recycler_free(b);
  if (f && --f->refs == 0) {
    if (f->release) f->release(f->user);
    irh_recycler_free(f);
  }
}

static void drop_front_block(irh_bufq *q) {
  irh_bufq_block *b = q->head;
  q->head = b->next;
  if (!q->head) q->tail = NULL;
  free_block(b);
}

size_t irh_bufq_read(irh_bufq *q, void *dst, size_t len) {
  size_t done = 0;
  while (done < len && q->head && !q->head->file) {
    irh_bufq_block *b = q->head;
    size_t n = b->end - b->start;
    if (n == 0) { /* reserved, never filled: the tail stays for a commit */
      if (b == q->tail) break;
      drop_front_block(q);
      continue;
    }
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

/* The front block of src, whole, to the end of dst. */
static void move_front_block(irh_bufq *dst, irh_bufq *src) {
  irh_bufq_block *b = src->head;
  size_t avail = b->end - b->start;
  src->head = b->next;
  if (!src->head) src->tail = NULL;
  src->len -= avail;
  link_tail(dst, b);
  dst->len += avail;
}

int irh_bufq_splice(irh_bufq *dst, irh_bufq *src, size_t len) {
  while (len && src->head) {
    irh_bufq_block *b = src->head;
    size_t avail = b->end - b->start;
    if (avail <= len && (b->file || avail >= BUFQ_SPLICE_MIN)) {
      move_front_block(dst, src); /* the whole block changes queues */
      len -= avail;
    } else if (b->file) { /* the first len bytes of the range, as a piece of it */
      irh_bufq_block *piece = file_block(b->file, b->base, b->start, b->start + len);
      if (!piece) return -1;
      link_tail(dst, piece);
      dst->len += len;
      b->start += len;
      src->len -= len;
      len = 0;
    } else if (avail == 0) { /* reserved, never filled (not the tail: len > 0) */
      drop_front_block(src);
    } else { /* a small block, or part of one: copied */
      size_t n = avail < len ? avail : len;
      char *p = irh_bufq_reserve(dst, n);
      if (!p) return -1;
      memcpy(p, b->data + b->start, n);
      irh_bufq_commit(dst, n);
      irh_bufq_consume(src, n);
      len -= n;
    }
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
