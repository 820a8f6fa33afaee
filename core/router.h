/* router.h — picks the module instance for a request: host + path prefix.
 *
 * Routes for the request's host (case-insensitive, port ignored) win over
 * routes for any host; among those the longest prefix wins. A prefix matches
 * at a path-segment boundary: "/hello" matches "/hello", "/hello/x" and
 * "/hello?q" but not "/helloworld"; "/" matches everything.
 */
#ifndef IRIDIUM_CORE_ROUTER_H
#define IRIDIUM_CORE_ROUTER_H

#include <stddef.h>

#include <iridium/module.h>

typedef struct irh_router irh_router;

/* A router over n instances (a generation's, one per route). */
irh_router *irh_router_new(ir_instance_t *const *instances, size_t n);
void irh_router_free(irh_router *r);
/* The instance for (host, path), or NULL. Any thread (read-only). */
ir_instance_t *irh_router_match(const irh_router *r, const char *host, size_t host_len,
                                const char *path, size_t path_len);

#endif /* IRIDIUM_CORE_ROUTER_H */
