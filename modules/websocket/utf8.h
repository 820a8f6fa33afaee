/* utf8.h — an incremental UTF-8 validator (RFC 3629): bytes can arrive in
 * any pieces (frames, inflated chunks) and the first bad byte is reported
 * at once, not at the end of the message. */
#ifndef WS_UTF8_H
#define WS_UTF8_H

#include <stddef.h>
#include <stdint.h>

typedef struct ws_utf8 {
  uint8_t need; /* continuation bytes still expected */
  uint8_t lo;   /* range of the next continuation byte */
  uint8_t hi;
} ws_utf8;

static inline void ws_utf8_reset(ws_utf8 *u) {
  u->need = 0;
  u->lo = 0x80;
  u->hi = 0xbf;
}

/* 0 while every byte so far can start or continue valid UTF-8, -1 at the
 * first that cannot (the state is then undefined: reset it). */
int ws_utf8_feed(ws_utf8 *u, const uint8_t *p, size_t n);

/* Non-zero when the bytes so far end on a character boundary. */
static inline int ws_utf8_complete(const ws_utf8 *u) { return u->need == 0; }

#endif /* WS_UTF8_H */
