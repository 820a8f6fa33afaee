/* slab.c — page-backed free-list allocator; see slab.h. */
#include "slab.h"

#include <stdlib.h>
#include <string.h>

void irh_slab_init(irh_slab *s, size_t obj_size, size_t per_page) {
  memset(s, 0, sizeof(*s));
  if (obj_size < sizeof(void *)) obj_size = sizeof(void *);
  s->obj_size = (obj_size + 15) & ~(size_t)15;
  s->per_page = per_page ? per_page : 64;
  s->next_in_page = s->per_page; /* no page yet */
}

static int slab_add_page(irh_slab *s) {
  void **pages = realloc(s->pages, (s->npages + 1) * sizeof(*pages));
  if (!pages) return -1;
  s->pages = pages;
  void *page = aligned_alloc(16, s->obj_size * s->per_page);
  if (!page) return -1;
  s->pages[s->npages++] = page;
  s->next_in_page = 0;
  return 0;
}

void *irh_slab_alloc(irh_slab *s) {
  void *obj = irh_slab_alloc_dirty(s);
  if (obj) memset(obj, 0, s->obj_size);
  return obj;
}

void *irh_slab_alloc_dirty(irh_slab *s) {
  void *obj;
  if (s->free_list) {
    obj = s->free_list;
    s->free_list = *(void **)obj;
  } else {
    if (s->next_in_page == s->per_page && slab_add_page(s) != 0) return NULL;
    obj = (char *)s->pages[s->npages - 1] + s->next_in_page++ * s->obj_size;
  }
  s->live++;
  return obj;
}

void irh_slab_free(irh_slab *s, void *obj) {
  if (!obj) return;
  *(void **)obj = s->free_list;
  s->free_list = obj;
  s->live--;
}

void irh_slab_destroy(irh_slab *s) {
  for (size_t i = 0; i < s->npages; i++) free(s->pages[i]);
  free(s->pages);
  memset(s, 0, sizeof(*s));
}
