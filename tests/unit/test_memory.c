/* test_memory.c — unit tests for the host's allocators: the slab hands out
 * zeroed, aligned, distinct objects and reuses freed ones first (O(1) free
 * list); the arena hands out aligned zeroed memory, copes with requests
 * larger than a chunk, and frees everything at once (checked for leaks by
 * the sanitizer build); the recycler hands out aligned pieces that keep
 * their bytes through realloc, reuses a freed piece of the same size class
 * (except under ASan, where it passes straight to malloc) and keeps no more
 * than its bound of freed memory; its classes count usable bytes (a 4 KiB
 * request costs 4 KiB plus the head, not the next class); page blocks are
 * zeroed pages of their own that only cost memory once written, and trimming
 * gives back the pages that went back to zeros without changing a byte. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arena.h"
#include "check.h"
#include "recycler.h"
#include "slab.h"

static int all_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

static void test_slab_reuses_freed_objects(void) {
  irh_slab s;
  irh_slab_init(&s, 100, 4);
  CHECK(s.obj_size == 112); /* rounded to 16 */
  void *objs[10];
  for (int i = 0; i < 10; i++) {
    objs[i] = irh_slab_alloc(&s);
    CHECK(objs[i] != NULL);
    CHECK(((uintptr_t)objs[i] & 15) == 0);
    CHECK(all_zero(objs[i], 100));
    memset(objs[i], 0xab, 100);
    for (int k = 0; k < i; k++) CHECK(objs[k] != objs[i]);
  }
  CHECK(s.live == 10);
  CHECK(s.npages == 3); /* 4 per page */
  irh_slab_free(&s, objs[3]);
  irh_slab_free(&s, objs[7]);
  CHECK(s.live == 8);
  void *a = irh_slab_alloc(&s); /* last freed comes back first */
  void *b = irh_slab_alloc(&s);
  CHECK(a == objs[7] && b == objs[3]);
  CHECK(all_zero(a, 100) && all_zero(b, 100));
  CHECK(s.npages == 3); /* no new page while the free list had room */
  irh_slab_destroy(&s);
}

static void test_arena_alignment_and_large(void) {
  irh_arena a = {0};
  for (size_t n = 1; n < 300; n += 7) {
    unsigned char *p = irh_arena_alloc(&a, n);
    CHECK(p != NULL);
    CHECK(((uintptr_t)p & 15) == 0);
    CHECK(all_zero(p, n));
    memset(p, 0x5a, n);
  }
  unsigned char *big = irh_arena_alloc(&a, 1 << 20); /* bigger than any chunk */
  CHECK(big != NULL && all_zero(big, 1 << 20));
  big[(1 << 20) - 1] = 1;
  char *s = irh_arena_strndup(&a, "hello world", 5);
  CHECK(s && strcmp(s, "hello") == 0);
  CHECK(irh_arena_alloc(&a, SIZE_MAX) == NULL);
  irh_arena_free(&a);
  CHECK(a.head == NULL);
  CHECK(irh_arena_alloc(&a, 8) != NULL); /* reusable after free */
  irh_arena_free(&a);
}

static void test_recycler_pieces(void) {
  for (size_t n = 0; n < 70000; n = n * 2 + 5) {
    unsigned char *p = irh_recycler_alloc(n);
    CHECK(p != NULL);
    CHECK(((uintptr_t)p & 15) == 0);
    memset(p, 0x3c, n);
    unsigned char *q = irh_recycler_realloc(p, n * 3 + 1);
    CHECK(q != NULL);
    for (size_t i = 0; i < n; i++) CHECK(q[i] == 0x3c);
    irh_recycler_free(q);
  }
  unsigned char *z = irh_recycler_calloc(40, 25);
  CHECK(z != NULL && all_zero(z, 1000));
  irh_recycler_free(z);
  CHECK(irh_recycler_calloc(SIZE_MAX / 2, 4) == NULL);
  CHECK(irh_recycler_alloc(SIZE_MAX) == NULL);
  irh_recycler_free(NULL);
  irh_recycler_release();
}

static void test_recycler_reuse_and_bound(void) {
  void *a = irh_recycler_alloc(200);
  irh_recycler_free(a);
  void *b = irh_recycler_alloc(196); /* same 16-byte class */
#ifndef __SANITIZE_ADDRESS__
  CHECK(a == b);
#endif
  irh_recycler_free(b);
  enum { N = 2 * IRH_RECYCLER_MAX_BYTES / 16384 };
  static void *blocks[N];
  for (int i = 0; i < N; i++) CHECK((blocks[i] = irh_recycler_alloc(16000)) != NULL);
  for (int i = 0; i < N; i++) irh_recycler_free(blocks[i]);
  CHECK(irh_recycler_kept() <= IRH_RECYCLER_MAX_BYTES);
#ifndef __SANITIZE_ADDRESS__
  CHECK(irh_recycler_kept() > IRH_RECYCLER_MAX_BYTES / 2);
#endif
  irh_recycler_release();
  CHECK(irh_recycler_kept() == 0);
}

static void test_recycler_classes_by_usable_bytes(void) {
#ifndef __SANITIZE_ADDRESS__
  /* Powers of two fill their class: nghttp2's 4 KiB map and 1 KiB rings. */
  size_t sizes[] = {16, 256, 1024, 4096, 16384, 65536};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    void *p = irh_recycler_alloc(sizes[i]);
    CHECK(p != NULL);
    CHECK(irh_recycler_usable(p) == sizes[i]);
    irh_recycler_free(p);
  }
  void *p = irh_recycler_alloc(4097); /* the next class: 5 KiB */
  CHECK(p && irh_recycler_usable(p) == 5120);
  irh_recycler_free(p);
  irh_recycler_release();
#endif
}

#ifndef __SANITIZE_ADDRESS__
/* Pages of the calling process that are in memory, of the n at p. */
static size_t resident_pages(void *p, size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  uintptr_t start = (uintptr_t)p & ~(uintptr_t)(page - 1);
  size_t npages = ((uintptr_t)p + n - start + page - 1) / page;
  unsigned char vec[64];
  CHECK(npages <= sizeof vec);
  CHECK(mincore((void *)start, npages * page, vec) == 0);
  size_t in = 0;
  for (size_t i = 0; i < npages; i++) in += vec[i] & 1;
  return in;
}
#endif

static void test_recycler_page_blocks(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  unsigned char *p = irh_recycler_pages(4096); /* nghttp2's stream map */
  CHECK(p != NULL);
#ifndef __SANITIZE_ADDRESS__
  CHECK(((uintptr_t)p & (page - 1)) == 0); /* no head: nothing written here */
  CHECK(resident_pages(p, 4096) == 0);
#endif
  CHECK(all_zero(p, 4096));
  irh_recycler_pages_free(p, 4096);

  size_t size = 4 * page + 10; /* five pages */
  p = irh_recycler_pages(size);
  CHECK(p != NULL);
  p[0] = 1;
  p[page + 5] = 2;
  p[3 * page] = 3;
#ifndef __SANITIZE_ADDRESS__
  CHECK(resident_pages(p, size) == 3);
#endif
  p[page + 5] = 0; /* back to zeros: trimmed */
  p[3 * page] = 0;
  irh_recycler_pages_trim(p, size);
#ifndef __SANITIZE_ADDRESS__
  CHECK(resident_pages(p, size) == 1);
#endif
  CHECK(p[0] == 1 && all_zero(p + 1, size - 1)); /* the same bytes as before */
  p[2 * page] = 4; /* still writable */
  CHECK(p[2 * page] == 4);
  unsigned char *q = irh_recycler_realloc(irh_recycler_alloc(100), 70000); /* LARGE */
  CHECK(q && irh_recycler_usable(q) == 70000);
  irh_recycler_free(q);
  irh_recycler_pages_free(p, size);
}

int main(void) {
  test_slab_reuses_freed_objects();
  test_arena_alignment_and_large();
  test_recycler_pieces();
  test_recycler_reuse_and_bound();
  test_recycler_classes_by_usable_bytes();
  test_recycler_page_blocks();
  puts("test_memory: all passed");
  return 0;
}
