/* recycler.c — per-thread free lists by size class; see recycler.h. */
#include "recycler.h"

#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define RECYCLER_PASS_THROUGH 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RECYCLER_PASS_THROUGH 1
#endif
#endif

#ifdef RECYCLER_PASS_THROUGH

/* The sanitizer's malloc reports impossible sizes instead of failing. */
void *irh_recycler_alloc(size_t size) { return size > PTRDIFF_MAX ? NULL : malloc(size ? size : 1); }
void *irh_recycler_calloc(size_t n, size_t size) {
  if (size && n > PTRDIFF_MAX / size) return NULL;
  return calloc(n ? n : 1, size ? size : 1);
}
void *irh_recycler_realloc(void *p, size_t size) {
  return size > PTRDIFF_MAX ? NULL : realloc(p, size ? size : 1);
}
void *irh_recycler_pages(size_t size) { return irh_recycler_calloc(1, size); }
void irh_recycler_pages_free(void *p, size_t size) {
  (void)size;
  free(p);
}
void irh_recycler_pages_trim(void *p, size_t size) {
  (void)p;
  (void)size;
}
size_t irh_recycler_usable(const void *p) { return malloc_usable_size((void *)p); }
void irh_recycler_free(void *p) { free(p); }
size_t irh_recycler_kept(void) { return 0; }
void irh_recycler_release(void) {}

#else

#define SMALL_STEP 16
#define SMALL_MAX 256 /* classes 0..15: 16, 32, ... 256 */
#define NCLASSES 48   /* then four per doubling: 320 ... 65536 */
#define LARGE UINT32_MAX

/* In front of every piece; keeps the piece 16-byte aligned. */
typedef struct piece_head {
  uint32_t cls;  /* size class, or LARGE */
  uint32_t pad;
  size_t large; /* usable bytes of a LARGE piece */
} piece_head;

typedef struct free_piece {
  struct free_piece *next;
} free_piece;

typedef struct recycler {
  free_piece *lists[NCLASSES];
  size_t kept_bytes;
} recycler;

_Static_assert(sizeof(piece_head) == IRH_RECYCLER_HEAD, "the head keeps pieces 16-aligned");

static _Thread_local recycler tl_recycler;

/* Classes count usable bytes (the head comes on top), so that the sizes
 * libraries ask for most (powers of two: nghttp2's 1 KiB HPACK rings and
 * 4 KiB stream map) fill a class instead of spilling into the next one. */

/* Class for a piece of n usable bytes; n >= 1. */
static unsigned class_of(size_t n) {
  if (n <= SMALL_MAX) return (unsigned)((n + SMALL_STEP - 1) / SMALL_STEP - 1);
  unsigned lg = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1));
  unsigned sub = (unsigned)((n - 1) >> (lg - 2)) & 3u;
  return 16u + (lg - 8u) * 4u + sub;
}

/* Usable bytes of a piece in class c. */
static size_t class_size(unsigned c) {
  if (c < 16) return (size_t)(c + 1) * SMALL_STEP;
  unsigned lg = 8u + (c - 16u) / 4u;
  unsigned sub = (c - 16u) % 4u;
  return ((size_t)1 << lg) + (size_t)(sub + 1) * ((size_t)1 << (lg - 2));
}

static size_t usable(const piece_head *h) {
  return h->cls == LARGE ? h->large : class_size(h->cls);
}

void *irh_recycler_alloc(size_t size) {
  if (size > SIZE_MAX - sizeof(piece_head)) return NULL;
  unsigned c = class_of(size ? size : 1);
  piece_head *h;
  if (c >= NCLASSES) {
    h = malloc(sizeof(piece_head) + size);
    if (!h) return NULL;
    h->cls = LARGE;
    h->large = size;
    return h + 1;
  }
  recycler *r = &tl_recycler;
  free_piece *f = r->lists[c];
  if (f) {
    r->lists[c] = f->next;
    r->kept_bytes -= class_size(c);
    h = (piece_head *)f;
  } else {
    h = malloc(sizeof(piece_head) + class_size(c));
    if (!h) return NULL;
  }
  h->cls = c;
  return h + 1;
}

/* Page blocks: fresh pages from the kernel are zero and cost no memory
 * until written; munmap gives them back whole, so they never join a free
 * list. */
void *irh_recycler_pages(size_t size) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (size == 0 || size > SIZE_MAX - page) return NULL;
  void *p = mmap(NULL, (size + page - 1) & ~(page - 1), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void irh_recycler_pages_free(void *p, size_t size) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (p) munmap(p, (size + page - 1) & ~(page - 1));
}

static int page_is_zero(const unsigned char *p, size_t page) {
  const uint64_t *w = (const uint64_t *)p;
  for (size_t i = 0; i < page / sizeof *w; i++)
    if (w[i]) return 0;
  return 1;
}

void irh_recycler_pages_trim(void *p, size_t size) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  unsigned char *b = p;
  size_t mapped = (size + page - 1) & ~(page - 1);
  size_t run = 0; /* zero pages just before off, not yet given back */
  for (size_t off = 0; off <= mapped; off += page) {
    if (off < mapped && page_is_zero(b + off, page)) {
      run += page;
      continue;
    }
    if (run) madvise(b + off - run, run, MADV_DONTNEED);
    run = 0;
  }
}

size_t irh_recycler_usable(const void *p) { return usable((const piece_head *)p - 1); }

void *irh_recycler_calloc(size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) return NULL;
  void *p = irh_recycler_alloc(n * size);
  if (p) memset(p, 0, n * size);
  return p;
}

void irh_recycler_free(void *p) {
  if (!p) return;
  piece_head *h = (piece_head *)p - 1;
  if (h->cls == LARGE) {
    free(h);
    return;
  }
  recycler *r = &tl_recycler;
  size_t bytes = class_size(h->cls);
  if (r->kept_bytes + bytes > IRH_RECYCLER_MAX_BYTES) {
    free(h);
    return;
  }
  free_piece *f = (free_piece *)h;
  f->next = r->lists[h->cls];
  r->lists[h->cls] = f;
  r->kept_bytes += bytes;
}

void *irh_recycler_realloc(void *p, size_t size) {
  if (!p) return irh_recycler_alloc(size);
  size_t have = usable((piece_head *)p - 1);
  if (size <= have) return p;
  void *q = irh_recycler_alloc(size);
  if (!q) return NULL;
  memcpy(q, p, have);
  irh_recycler_free(p);
  return q;
}

size_t irh_recycler_kept(void) { return tl_recycler.kept_bytes; }

void irh_recycler_release(void) {
  recycler *r = &tl_recycler;
  for (unsigned c = 0; c < NCLASSES; c++) {
    while (r->lists[c]) {
      free_piece *f = r->lists[c];
      r->lists[c] = f->next;
      free(f);
    }
  }
  r->kept_bytes = 0;
}

#endif
