/* arena.h — a bump allocator for per-request memory.
 *
 * A stream's arena hands out 16-byte aligned pieces from chunks it mallocs
 * and frees them all at once when the stream closes. The first chunk is
 * small; large requests get a chunk of their own.
 */
#ifndef IRIDIUM_CORE_ARENA_H
#define IRIDIUM_CORE_ARENA_H

#include <stddef.h>

typedef struct irh_arena_chunk irh_arena_chunk;

typedef struct irh_arena {
  irh_arena_chunk *head; /* newest chunk first; owned */
  unsigned char *inl;    /* optional first buffer inside the owner (not freed) */
  size_t inl_size, inl_used;
} irh_arena;

/* Gives the arena a first buffer that lives inside its owner (a stream),
 * so a typical request needs no malloc at all. buf must be 16-aligned. */
void irh_arena_init_inline(irh_arena *a, void *buf, size_t size);

/* Zeroed memory of size bytes, or NULL when malloc fails. */
void *irh_arena_alloc(irh_arena *a, size_t size);
/* The same, not zeroed: for memory the caller fills at once. */
void *irh_arena_alloc_uninit(irh_arena *a, size_t size);
/* A copy of len bytes plus a NUL, or NULL. */
char *irh_arena_strndup(irh_arena *a, const char *s, size_t len);
/* Frees every chunk; the arena is empty and reusable afterwards. */
void irh_arena_free(irh_arena *a);

#endif /* IRIDIUM_CORE_ARENA_H */
