/* topic.c — SKELETON (helper mqpkt replaces it): MQTT topics and filters. */
#include "topic.h"

int mq_topic_valid(const char *t, size_t len, int is_filter) {
  (void)t, (void)is_filter;
  return len > 0;
}
int mq_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen) {
  (void)filter, (void)flen, (void)topic, (void)tlen;
  return 0;
}
int mq_filter_within(const char *allowed, size_t alen, const char *sub, size_t slen) {
  (void)allowed, (void)alen, (void)sub, (void)slen;
  return 0;
}
int mq_may_publish(const mq_rules *r, const char *topic, size_t len) {
  (void)r, (void)topic, (void)len;
  return 0;
}
int mq_may_subscribe(const mq_rules *r, const char *filter, size_t len) {
  (void)r, (void)filter, (void)len;
  return 0;
}
