/* cache.c — one worker's open-file cache for one route: a hash map from the
 * normalised relative path to its entry (entry.c), bounded in entries and
 * evicting the least recently used.
 *
 * Each (route, worker) pair has its own cache, so the map needs no lock and
 * the route is implied by which cache is asked. The map is a power-of-two
 * array of chains; a doubly linked list keeps the use order, most recent at
 * the head. The cache holds one reference on each entry it keeps; a request
 * that is still sending an evicted entry's file keeps it alive with its
 * own reference. Freshness (the TTL and the recheck) is the caller's
 * business: the cache only stores.
 */
#include <stdlib.h>
#include <string.h>

#include "static.h"

#define MAX_BUCKETS (1u << 20)

struct st_cache {
  size_t capacity, count;
  size_t mask; /* buckets - 1 */
  st_entry **buckets;
  st_entry lru; /* sentinel: lru.lru_next is the most recent */
};

st_cache *st_cache_new(size_t capacity) {
  st_cache *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  size_t n = 16;
  while (n < capacity && n < MAX_BUCKETS) n <<= 1;
  c->buckets = calloc(n, sizeof(*c->buckets));
  if (!c->buckets) {
    free(c);
    return NULL;
  }
  c->mask = n - 1;
  c->capacity = capacity;
  c->lru.lru_next = c->lru.lru_prev = &c->lru;
  return c;
}

static void lru_unlink(st_entry *e) {
  e->lru_prev->lru_next = e->lru_next;
  e->lru_next->lru_prev = e->lru_prev;
}

static void lru_push_front(st_cache *c, st_entry *e) {
  e->lru_prev = &c->lru;
  e->lru_next = c->lru.lru_next;
  c->lru.lru_next->lru_prev = e;
  c->lru.lru_next = e;
}

void st_cache_remove(st_cache *c, st_entry *e) {
  st_entry **p = &c->buckets[e->hash & c->mask];
  while (*p && *p != e) p = &(*p)->hnext;
  if (!*p) return;
  *p = e->hnext;
  e->hnext = NULL;
  lru_unlink(e);
  e->cached = 0;
  c->count--;
  st_entry_unref(e);
}

void st_cache_free(st_cache *c) {
  if (!c) return;
  while (c->lru.lru_next != &c->lru) st_cache_remove(c, c->lru.lru_next);
  free(c->buckets);
  free(c);
}

st_entry *st_cache_get(st_cache *c, const char *key, size_t len, uint64_t hash) {
  for (st_entry *e = c->buckets[hash & c->mask]; e; e = e->hnext) {
    if (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0) {
      lru_unlink(e);
      lru_push_front(c, e);
      return e;
    }
  }
  return NULL;
}

void st_cache_put(st_cache *c, st_entry *e) {
  if (c->capacity == 0 || e->cached) return;
  st_entry *old = st_cache_get(c, e->key, e->key_len, e->hash);
  if (old) st_cache_remove(c, old);
  while (c->count >= c->capacity) st_cache_remove(c, c->lru.lru_prev);
  st_entry_ref(e);
  e->cached = 1;
  st_entry **b = &c->buckets[e->hash & c->mask];
  e->hnext = *b;
  *b = e;
  lru_push_front(c, e);
  c->count++;
}

size_t st_cache_count(const st_cache *c) { return c->count; }
