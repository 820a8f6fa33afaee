/* topic.h — MQTT topic names and filters (MQTT 3.1.1 4.7, 5.0 4.7): validity,
 * matching with `+` and `#`, whether one filter stays inside another, and a
 * route's allow-lists for publish and subscribe. Topics starting with `$`
 * ($SYS) are matched only by filters that name them. No SDK. */
#ifndef MQ_TOPIC_H
#define MQ_TOPIC_H

#include <stddef.h>

/* A topic name (no wildcards) or, with is_filter, a topic filter: non-empty,
 * `#` only last and alone in its level, `+` alone in its level, no U+0000.
 * Shared subscriptions ($share/GROUP/FILTER) are checked as their FILTER. */
int mq_topic_valid(const char *t, size_t len, int is_filter);

/* Does filter match topic name? */
int mq_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen);

/* Is every topic that sub matches also matched by allowed? ("a/+" is
 * within "a/#", "a/#" is not within "a/+", "#" is not within "$SYS/#".) */
int mq_filter_within(const char *allowed, size_t alen, const char *sub, size_t slen);

/* A route's rules: NULL-terminated lists of filters. */
typedef struct mq_rules {
  char **publish;   /* topics a client may publish to */
  char **subscribe; /* filters a client may subscribe to (each must fall within one) */
} mq_rules;

int mq_may_publish(const mq_rules *r, const char *topic, size_t len);
int mq_may_subscribe(const mq_rules *r, const char *filter, size_t len);

#endif /* MQ_TOPIC_H */
