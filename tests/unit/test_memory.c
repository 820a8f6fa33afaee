/* test_memory.c — unit tests for the host's allocators: the slab hands out
 * zeroed, aligned, distinct objects and reuses freed ones first (O(1) free
 * list); the arena hands out aligned zeroed memory, copes with requests
 * larger than a chunk, and frees everything at once (checked for leaks by
 * the sanitizer build). */
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "check.h"
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

int main(void) {
  test_slab_reuses_freed_objects();
  test_arena_alignment_and_large();
  puts("test_memory: all passed");
  return 0;
}
