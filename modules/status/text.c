/* text.c — mod_status's growing text buffer and JSON string escaping. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

static int reserve(st_text *t, size_t more) {
  if (t->failed) return -1;
  if (t->len + more < t->cap) return 0;
  size_t cap = t->cap ? t->cap : 4096;
  while (cap <= t->len + more) cap *= 2;
  char *g = realloc(t->p, cap);
  if (!g) {
    t->failed = 1;
    return -1;
  }
  t->p = g, t->cap = cap;
  return 0;
}

void st_put(st_text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || reserve(t, (size_t)n + 1) != 0) {
    t->failed = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
  va_end(ap);
  t->len += (size_t)n;
}

void st_put_bytes(st_text *t, const char *p, size_t n) {
  if (reserve(t, n + 1) != 0) return;
  memcpy(t->p + t->len, p, n);
  t->len += n;
}

void st_put_json_str(st_text *t, const char *p, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (reserve(t, 6 * n + 3) != 0) return;
  char *o = t->p + t->len;
  *o++ = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '"' || c == '\\') {
      *o++ = '\\', *o++ = (char)c;
    } else if (c < 0x20 || c >= 0x7f) {
      memcpy(o, "\\u00", 4), o += 4;
      *o++ = hex[c >> 4], *o++ = hex[c & 15];
    } else {
      *o++ = (char)c;
    }
  }
  *o++ = '"';
  t->len = (size_t)(o - t->p);
}
