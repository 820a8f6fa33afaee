/* arena.c — chunked bump allocation; see arena.h. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recycler.h"

#define ARENA_ALIGN 16
#define ARENA_FIRST_CHUNK 2048
#define ARENA_MAX_CHUNK 65536

struct irh_arena_chunk {
  irh_arena_chunk *next;
  size_t size; /* usable bytes in data */
  size_t used;
  _Alignas(ARENA_ALIGN) unsigned char data[];
};

static size_t round_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

static irh_arena_chunk *chunk_new(size_t at_least, size_t previous) {
  size_t size = previous ? previous * 2 : ARENA_FIRST_CHUNK;
  if (size > ARENA_MAX_CHUNK) size = ARENA_MAX_CHUNK;
  if (size < at_least) size = at_least;
  irh_arena_chunk *c = irh_recycler_alloc(sizeof(*c) + size);
  if (!c) return NULL;
  c->size = size;
  c->used = 0;
  return c;
}

void irh_arena_init_inline(irh_arena *a, void *buf, size_t size) {
  a->head = NULL;
  a->inl = buf;
  a->inl_size = size;
  a->inl_used = 0;
}

/* size bytes, not zeroed. */
static void *bump(irh_arena *a, size_t size) {
  if (size > SIZE_MAX / 2) return NULL;
  size = round_up(size ? size : 1);
  if (a->inl && a->inl_size - a->inl_used >= size) {
    void *p = a->inl + a->inl_used;
    a->inl_used += size;
    return p;
  }
  irh_arena_chunk *c = a->head;
  if (!c || c->size - c->used < size) {
    c = chunk_new(size, c ? c->size : 0);
    if (!c) return NULL;
    c->next = a->head;
    a->head = c;
  }
  void *p = c->data + c->used;
  c->used += size;
  return p;
}

void *irh_arena_alloc(irh_arena *a, size_t size) {
  void *p = bump(a, size);
  if (p) memset(p, 0, size);
  return p;
}

void *irh_arena_alloc_uninit(irh_arena *a, size_t size) { return bump(a, size); }

char *irh_arena_strndup(irh_arena *a, const char *s, size_t len) {
  char *p = bump(a, len + 1);
  if (!p) return NULL;
  if (len) memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

void irh_arena_free(irh_arena *a) {
  irh_arena_chunk *c = a->head;
  while (c) {
    irh_arena_chunk *next = c->next;
    irh_recycler_free(c);
    c = next;
  }
  a->head = NULL;
  a->inl_used = 0;
}
