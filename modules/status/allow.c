/* allow.c — mod_status's allow-list: addresses and prefixes (IPv4 and
 * IPv6, CIDR), matched against the client's address. */
#define _GNU_SOURCE /* memrchr */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "status.h"

/* One entry, "ADDR" or "ADDR/BITS", into n. 0 or -1. */
static int parse_net(const char *p, size_t len, st_net *n) {
  char buf[64];
  if (len == 0 || len >= sizeof buf) return -1;
  memcpy(buf, p, len);
  buf[len] = '\0';
  char *slash = strchr(buf, '/');
  long bits = -1;
  if (slash) {
    char *end;
    *slash = '\0';
    bits = strtol(slash + 1, &end, 10);
    if (end == slash + 1 || *end || bits < 0) return -1;
  }
  memset(n, 0, sizeof *n);
  if (inet_pton(AF_INET, buf, n->addr) == 1) {
    n->family = AF_INET;
    if (bits > 32) return -1;
    n->bits = bits < 0 ? 32 : (unsigned)bits;
  } else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
    n->family = AF_INET6;
    if (bits > 128) return -1;
    n->bits = bits < 0 ? 128 : (unsigned)bits;
  } else {
    return -1;
  }
  return 0;
}

int st_allow_parse(st_allow *a, const char *text, const char **bad, size_t *bad_len) {
  memset(a, 0, sizeof *a);
  for (const char *p = text; *p;) {
    p += strspn(p, ", \t");
    size_t len = strcspn(p, ", \t");
    if (!len) break;
    st_net n;
    st_net *grown = parse_net(p, len, &n) == 0 ? realloc(a->nets, (a->n + 1) * sizeof(n)) : NULL;
    if (!grown) { /* a bad entry (or, with nothing bad, out of memory) */
      *bad = p, *bad_len = len;
      st_allow_free(a);
      return -1;
    }
    a->nets = grown;
    a->nets[a->n++] = n;
    p += len;
  }
  return 0;
}

static int in_net(const st_net *n, int family, const uint8_t *addr) {
  if (n->family != family) return 0;
  unsigned full = n->bits / 8, rest = n->bits % 8;
  if (memcmp(n->addr, addr, full) != 0) return 0;
  if (!rest) return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (n->addr[full] & mask) == (addr[full] & mask);
}

int st_allow_match(const st_allow *a, ir_str peer) {
  char host[64];
  const char *p = peer.ptr;
  size_t len = peer.len;
  if (len && p[0] == '[') { /* "[::1]:5000" */
    const char *close = memchr(p, ']', len);
    if (!close) return 0;
    len = (size_t)(close - p) - 1, p++;
  } else { /* "127.0.0.1:5000" */
    const char *colon = memrchr(p, ':', len);
    if (colon) len = (size_t)(colon - p);
  }
  if (len >= sizeof host) return 0;
  memcpy(host, p, len);
  host[len] = '\0';
  uint8_t addr[16];
  int family = inet_pton(AF_INET, host, addr) == 1    ? AF_INET
               : inet_pton(AF_INET6, host, addr) == 1 ? AF_INET6
                                                      : 0;
  if (!family) return 0;
  for (size_t i = 0; i < a->n; i++)
    if (in_net(&a->nets[i], family, addr)) return 1;
  /* An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d */
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (family == AF_INET6 && memcmp(addr, mapped, 12) == 0)
    for (size_t i = 0; i < a->n; i++)
      if (in_net(&a->nets[i], AF_INET, addr + 12)) return 1;
  return 0;
}

void st_allow_free(st_allow *a) {
  free(a->nets);
  a->nets = NULL;
  a->n = 0;
}
