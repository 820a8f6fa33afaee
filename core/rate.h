/* rate.h — a token bucket, for per-connection rate limits (HTTP/2 resets
 * and control-frame floods): `burst` tokens, refilled at `rate` per second.
 */
#ifndef IRIDIUM_CORE_RATE_H
#define IRIDIUM_CORE_RATE_H

#include <stdint.h>

typedef struct irh_rate {
  double tokens;
  uint64_t last_ms;
} irh_rate;

static inline void irh_rate_init(irh_rate *r, uint64_t burst, uint64_t now_ms) {
  r->tokens = (double)burst;
  r->last_ms = now_ms;
}

/* Takes one token; returns 0 when the bucket was empty (limit exceeded). */
static inline int irh_rate_take(irh_rate *r, uint64_t burst, uint64_t rate, uint64_t now_ms) {
  r->tokens += (double)(now_ms - r->last_ms) * (double)rate / 1000.0;
  if (r->tokens > (double)burst) r->tokens = (double)burst;
  r->last_ms = now_ms;
  if (r->tokens < 1.0) return 0;
  r->tokens -= 1.0;
  return 1;
}

#endif /* IRIDIUM_CORE_RATE_H */
