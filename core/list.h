/* list.h — an intrusive doubly-linked list (a ring with a sentinel).
 *
 * Used for a worker's connections and its queue of streams to finish. An
 * element is unlinked when its links point to itself.
 */
#ifndef IRIDIUM_CORE_LIST_H
#define IRIDIUM_CORE_LIST_H

#include <stddef.h>

typedef struct irh_link {
  struct irh_link *prev, *next;
} irh_link;

#define irh_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void irh_list_init(irh_link *l) { l->prev = l->next = l; }
static inline int irh_list_empty(const irh_link *l) { return l->next == l; }
static inline int irh_list_linked(const irh_link *l) { return l->next != l && l->next != NULL; }

static inline void irh_list_push(irh_link *head, irh_link *item) {
  item->prev = head->prev;
  item->next = head;
  head->prev->next = item;
  head->prev = item;
}

static inline void irh_list_remove(irh_link *item) {
  item->prev->next = item->next;
  item->next->prev = item->prev;
  item->prev = item->next = item;
}

#endif /* IRIDIUM_CORE_LIST_H */
