/* slab.h — fixed-size objects with O(1) allocate and free.
 *
 * Objects are carved from pages of `per_page` objects; freed objects go on
 * a free list and are handed out again first. Pages are kept until the slab
 * is destroyed, so a busy worker reaches a steady state with no malloc at
 * all. One thread only (each worker has its own).
 */
#ifndef IRIDIUM_CORE_SLAB_H
#define IRIDIUM_CORE_SLAB_H

#include <stddef.h>

typedef struct irh_slab {
  size_t obj_size; /* rounded up to hold a free-list link, 16-aligned */
  size_t per_page;
  void *free_list; /* freed objects, linked through their first word */
  void **pages;    /* owned page pointers */
  size_t npages;
  size_t next_in_page; /* objects of the newest page never handed out */
  size_t live;         /* objects handed out and not freed */
} irh_slab;

void irh_slab_init(irh_slab *s, size_t obj_size, size_t per_page);
/* A zeroed object, or NULL when a new page cannot be allocated. */
void *irh_slab_alloc(irh_slab *s);
/* The same, not zeroed (for an owner that clears only what needs it). */
void *irh_slab_alloc_dirty(irh_slab *s);
void irh_slab_free(irh_slab *s, void *obj);
/* Frees every page; objects still live become invalid. */
void irh_slab_destroy(irh_slab *s);

#endif /* IRIDIUM_CORE_SLAB_H */
