/* router.c — host + path-prefix routing; see router.h. The table is small
 * (one entry per [route]) and built once per configuration, so a linear scan that keeps the
 * best match is both simple and fast. */
#include "router.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "module.h"

typedef struct irh_route_entry {
  const char *host; /* NULL: any host */
  size_t host_len;
  const char *prefix;
  size_t prefix_len;
  ir_instance_t *instance;
} irh_route_entry;

struct irh_router {
  irh_route_entry *entries;
  size_t n;
};

irh_router *irh_router_new(ir_instance_t *const *instances, size_t n) {
  irh_router *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->entries = calloc(n ? n : 1, sizeof(*r->entries));
  if (!r->entries) {
    free(r);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    ir_instance_t *inst = instances[i];
    irh_route_entry *e = &r->entries[r->n++];
    e->host = inst->route->host;
    e->host_len = e->host ? strlen(e->host) : 0;
    e->prefix = inst->route->prefix;
    e->prefix_len = strlen(e->prefix);
    e->instance = inst;
  }
  return r;
}

void irh_router_free(irh_router *r) {
  if (!r) return;
  free(r->entries);
  free(r);
}

static int prefix_matches(const irh_route_entry *e, const char *path, size_t len) {
  if (len < e->prefix_len || memcmp(path, e->prefix, e->prefix_len) != 0) return 0;
  if (len == e->prefix_len || e->prefix[e->prefix_len - 1] == '/') return 1;
  return path[e->prefix_len] == '/'; /* a segment boundary */
}

/* The request's host without a port (and without IPv6 brackets' port). */
static size_t host_without_port(const char *host, size_t len) {
  if (len && host[0] == '[') {
    const char *close = memchr(host, ']', len);
    return close ? (size_t)(close - host) + 1 : len;
  }
  const char *colon = memchr(host, ':', len);
  return colon ? (size_t)(colon - host) : len;
}

ir_instance_t *irh_router_match(const irh_router *r, const char *host, size_t host_len,
                                const char *path, size_t path_len) {
  host_len = host ? host_without_port(host, host_len) : 0;
  const irh_route_entry *best = NULL;
  for (size_t i = 0; i < r->n; i++) {
    const irh_route_entry *e = &r->entries[i];
    if (e->host && (e->host_len != host_len || strncasecmp(e->host, host, host_len) != 0)) continue;
    if (!prefix_matches(e, path, path_len)) continue;
    if (!best || (e->host && !best->host) ||
        (!e->host == !best->host && e->prefix_len > best->prefix_len))
      best = e;
  }
  return best ? best->instance : NULL;
}
