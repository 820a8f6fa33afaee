/* test_router.c — unit tests for core/router.c: host-specific routes beat
 * any-host routes, the longest prefix wins, prefixes match only at a path
 * segment boundary, and the Host header's port and case do not matter. */
#include <string.h>

#include "check.h"
#include "config.h"
#include "module.h"
#include "router.h"

static irh_route_cfg routes[] = {
    {.prefix = "/", .host = NULL},
    {.prefix = "/hello", .host = NULL},
    {.prefix = "/hello/world", .host = NULL},
    {.prefix = "/static/", .host = NULL},
    {.prefix = "/hello", .host = "example.com"},
    {.prefix = "/", .host = "[::1]"},
};
#define NROUTES (sizeof routes / sizeof routes[0])

static ir_instance_t instances[NROUTES];

static int match(const irh_router *r, const char *host, const char *path) {
  ir_instance_t *i = irh_router_match(r, host, host ? strlen(host) : 0, path, strlen(path));
  return i ? (int)(i - instances) : -1;
}

int main(void) {
  ir_instance_t *list[NROUTES];
  for (size_t i = 0; i < NROUTES; i++) {
    instances[i].route = &routes[i];
    list[i] = &instances[i];
  }
  irh_router *r = irh_router_new(list, NROUTES);
  CHECK(r != NULL);

  CHECK(match(r, "a", "/") == 0);
  CHECK(match(r, "a", "/other") == 0);
  CHECK(match(r, "a", "/hello") == 1);
  CHECK(match(r, "a", "/hello/") == 1);
  CHECK(match(r, "a", "/hello/x") == 1);
  CHECK(match(r, "a", "/helloworld") == 0); /* not a segment boundary */
  CHECK(match(r, "a", "/hello/world") == 2);
  CHECK(match(r, "a", "/hello/world/x") == 2);
  CHECK(match(r, "a", "/hello/worlds") == 1);
  CHECK(match(r, "a", "/static/") == 3);
  CHECK(match(r, "a", "/static/x.css") == 3);
  CHECK(match(r, "a", "/static") == 0); /* "/static/" needs the slash */

  CHECK(match(r, "example.com", "/hello") == 4);
  CHECK(match(r, "EXAMPLE.com:8080", "/hello/x") == 4);
  CHECK(match(r, "example.com", "/hello/world") == 4); /* host-specific wins */
  CHECK(match(r, "example.com", "/other") == 0);       /* falls back to any host */
  CHECK(match(r, "example.org", "/hello") == 1);
  CHECK(match(r, "[::1]:8080", "/x") == 5);
  CHECK(match(r, NULL, "/hello") == 1);

  irh_router_free(r);
  r = irh_router_new(NULL, 0);
  CHECK(r != NULL && match(r, "a", "/") == -1);
  irh_router_free(r);
  puts("test_router: all passed");
  return 0;
}
