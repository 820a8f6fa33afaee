/* utf8.c — the incremental UTF-8 validator: shortest forms only, no
 * surrogates, nothing above U+10FFFF (RFC 3629 section 4). ASCII runs are
 * skipped eight bytes at a time. */
#include "utf8.h"

#include <string.h>

/* The lead byte b starts a sequence: how many bytes follow and the range
 * of the first of them. 0 when b cannot lead. */
static int lead(uint8_t b, ws_utf8 *u) {
  u->lo = 0x80;
  u->hi = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) return u->need = 1;
  if (b == 0xe0) u->lo = 0xa0;      /* no overlong 3-byte forms */
  else if (b == 0xed) u->hi = 0x9f; /* no surrogates */
  if (b >= 0xe0 && b <= 0xef) return u->need = 2;
  if (b == 0xf0) u->lo = 0x90;      /* no overlong 4-byte forms */
  else if (b == 0xf4) u->hi = 0x8f; /* nothing above U+10FFFF */
  if (b >= 0xf0 && b <= 0xf4) return u->need = 3;
  return 0;
}

int ws_utf8_feed(ws_utf8 *u, const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (u->need == 0) {
      /* Fast path: eight ASCII bytes at once. */
      while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull) break;
        i += 8;
      }
      if (i == n) break;
      uint8_t b = p[i++];
      if (b < 0x80) continue;
      if (!lead(b, u)) return -1;
      continue;
    }
    uint8_t b = p[i++];
    if (b < u->lo || b > u->hi) return -1;
    u->need--;
    u->lo = 0x80;
    u->hi = 0xbf;
  }
  return 0;
}
