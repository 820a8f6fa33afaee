/* topic.c — MQTT topic names and filters (see topic.h): validity, matching
 * level by level with `+` and `#`, the $-topic rule (a filter starting with
 * a wildcard never matches a topic starting with `$`), whether one filter
 * stays inside another, shared subscriptions ($share/GROUP/FILTER) seen as
 * their FILTER, and a route's allow-lists. */
#include <string.h>

#include "topic.h"

#define SHARE_PREFIX "$share/"
#define SHARE_PREFIX_LEN 7

/* One level of a topic or filter: [at, end), end at a '/' or the end. */
static size_t level_end(const char *s, size_t len, size_t at) {
  const char *slash = at < len ? memchr(s + at, '/', len - at) : NULL;
  return slash ? (size_t)(slash - s) : len;
}

static int is_level(const char *s, size_t at, size_t end, char c) {
  return end - at == 1 && s[at] == c;
}

/* $share/GROUP/FILTER → FILTER (GROUP non-empty, without wildcards); 1 when
 * s was a shared subscription, -1 when it was a malformed one. */
static int strip_share(const char **s, size_t *len) {
  if (*len < SHARE_PREFIX_LEN || memcmp(*s, SHARE_PREFIX, SHARE_PREFIX_LEN)) return 0;
  size_t group_end = level_end(*s, *len, SHARE_PREFIX_LEN);
  if (group_end == SHARE_PREFIX_LEN || group_end == *len) return -1;
  for (size_t i = SHARE_PREFIX_LEN; i < group_end; i++)
    if ((*s)[i] == '+' || (*s)[i] == '#') return -1;
  *s += group_end + 1, *len -= group_end + 1;
  return 1;
}

int mq_topic_valid(const char *t, size_t len, int is_filter) {
  if (is_filter && strip_share(&t, &len) < 0) return 0;
  if (!t || len == 0 || len > 65535 || memchr(t, '\0', len)) return 0;
  for (size_t at = 0;;) {
    size_t end = level_end(t, len, at);
    for (size_t i = at; i < end; i++) {
      if (t[i] != '+' && t[i] != '#') continue;
      if (!is_filter || end - at != 1) return 0;
      if (t[i] == '#' && end != len) return 0; /* '#' only last */
    }
    if (end == len) return 1;
    at = end + 1;
  }
}

/* The $-topic rule at the first level. */
static int dollar_blocked(const char *filter, size_t flen, const char *topic, size_t tlen) {
  return tlen > 0 && topic[0] == '$' && flen > 0 && (filter[0] == '+' || filter[0] == '#');
}

int mq_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen) {
  if (strip_share(&filter, &flen) < 0 || !flen) return 0;
  if (!topic) topic = "", tlen = 0;
  if (dollar_blocked(filter, flen, topic, tlen)) return 0;
  size_t f = 0, t = 0;
  int topic_done = 0;
  for (;;) {
    size_t fe = level_end(filter, flen, f);
    if (is_level(filter, f, fe, '#')) return 1; /* this level and all below, or none */
    if (topic_done) return 0;
    size_t te = level_end(topic, tlen, t);
    if (!is_level(filter, f, fe, '+') &&
        (fe - f != te - t || memcmp(filter + f, topic + t, fe - f)))
      return 0;
    int filter_last = fe == flen, topic_last = te == tlen;
    if (filter_last) return topic_last;
    topic_done = topic_last;
    f = fe + 1, t = te + 1;
  }
}

int mq_filter_within(const char *allowed, size_t alen, const char *sub, size_t slen) {
  if (strip_share(&allowed, &alen) < 0 || strip_share(&sub, &slen) < 0) return 0;
  if (!alen || !slen) return 0;
  /* sub's topics start with '$' only when its first level names a '$'. */
  if (sub[0] == '$' && (allowed[0] == '+' || allowed[0] == '#')) return 0;
  size_t a = 0, s = 0;
  int sub_done = 0;
  for (;;) {
    size_t ae = level_end(allowed, alen, a);
    if (is_level(allowed, a, ae, '#')) return 1;
    if (sub_done) return 0;
    size_t se = level_end(sub, slen, s);
    if (is_level(sub, s, se, '#')) return 0; /* only '#' holds '#' */
    if (!is_level(allowed, a, ae, '+') &&
        (is_level(sub, s, se, '+') || ae - a != se - s || memcmp(allowed + a, sub + s, ae - a)))
      return 0;
    int allowed_last = ae == alen, sub_last = se == slen;
    if (allowed_last) return sub_last;
    sub_done = sub_last;
    a = ae + 1, s = se + 1;
  }
}

int mq_may_publish(const mq_rules *r, const char *topic, size_t len) {
  if (!r || !r->publish || !mq_topic_valid(topic, len, 0)) return 0;
  for (char **f = r->publish; *f; f++)
    if (mq_topic_match(*f, strlen(*f), topic, len)) return 1;
  return 0;
}

int mq_may_subscribe(const mq_rules *r, const char *filter, size_t len) {
  if (!r || !r->subscribe || !mq_topic_valid(filter, len, 1)) return 0;
  for (char **f = r->subscribe; *f; f++)
    if (mq_filter_within(*f, strlen(*f), filter, len)) return 1;
  return 0;
}
