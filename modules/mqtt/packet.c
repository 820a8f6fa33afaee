/* packet.c — SKELETON (helper mqpkt replaces it): the MQTT packet inspector. */
#include <stdlib.h>

#include "packet.h"

int mq_framer_feed(mq_framer *f, const uint8_t *p, size_t n, mq_packet_cb cb, void *data) {
  (void)f, (void)p, (void)n, (void)cb, (void)data;
  return MQ_E_MALFORMED;
}
void mq_framer_free(mq_framer *f) { free(f->buf), f->buf = NULL; }
size_t mq_framer_pending(const mq_framer *f) { return f->len; }
int mq_check(const uint8_t *pkt, size_t len, unsigned level, int from_client) {
  (void)pkt, (void)len, (void)level, (void)from_client;
  return MQ_E_MALFORMED;
}
int mq_parse_connect(const uint8_t *pkt, size_t len, mq_connect *out) {
  (void)pkt, (void)len, (void)out;
  return MQ_E_MALFORMED;
}
int mq_parse_connack(const uint8_t *pkt, size_t len, unsigned level, mq_connack *out) {
  (void)pkt, (void)len, (void)level, (void)out;
  return MQ_E_MALFORMED;
}
int mq_parse_publish(const uint8_t *pkt, size_t len, unsigned level, mq_publish *out) {
  (void)pkt, (void)len, (void)level, (void)out;
  return MQ_E_MALFORMED;
}
int mq_parse_subscribe(const uint8_t *pkt, size_t len, unsigned level, uint16_t *packet_id,
                       mq_filter_cb cb, void *data) {
  (void)pkt, (void)len, (void)level, (void)packet_id, (void)cb, (void)data;
  return MQ_E_MALFORMED;
}
int mq_parse_suback(const uint8_t *pkt, size_t len, unsigned level, mq_suback *out) {
  (void)pkt, (void)len, (void)level, (void)out;
  return MQ_E_MALFORMED;
}
size_t mq_build_connack(uint8_t *out, size_t cap, unsigned level, uint8_t code) {
  (void)out, (void)cap, (void)level, (void)code;
  return 0;
}
size_t mq_build_suback(uint8_t *out, size_t cap, unsigned level, uint16_t packet_id,
                       const uint8_t *codes, size_t ncodes) {
  (void)out, (void)cap, (void)level, (void)packet_id, (void)codes, (void)ncodes;
  return 0;
}
size_t mq_build_puback(uint8_t *out, size_t cap, unsigned type, unsigned level,
                       uint16_t packet_id, uint8_t code) {
  (void)out, (void)cap, (void)type, (void)level, (void)packet_id, (void)code;
  return 0;
}
size_t mq_build_disconnect(uint8_t *out, size_t cap, unsigned level, uint8_t code) {
  (void)out, (void)cap, (void)level, (void)code;
  return 0;
}
