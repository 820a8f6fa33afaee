/* publish.c — POST {route}/publish/{topic}: the request body, gathered up
 * to max_packet_size, is published through the worker's broker client;
 * query qos=0|1 and retain=0|1|true|false. 200 once sent (QoS 0) or
 * acknowledged (QoS 1); 400 for a bad topic or parameter, 403 outside the
 * route's publish rules, 413 over the size, 503 while the broker is
 * unreachable, 504 past publish_timeout. A request that closes early
 * leaves its publish to finish on its own (the client reports every one). */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "mqttmod.h"

/* How long a publish waits for the worker's broker connection to come up
 * (a worker's first publish makes it) before it is answered 503. */
#define MQ_CONNECT_GRACE_MS 1000
#define MQ_RETRY_MS 50

typedef struct mq_pub {
  uint8_t kind;       /* MQ_STREAM_PUBLISH: first, see mqtt.c */
  ir_stream_t *s;     /* NULL once the stream closed */
  const mq_route *r;
  mq_worker *mw;
  int qos, retain;
  int in_flight;      /* handed to the client: done() follows */
  int answered;
  uint64_t waited_ms; /* for the broker connection */
  ir_timer_t *timer;  /* retry while connecting, then the publish timeout */
  uint8_t *body;
  size_t len, cap;
  char topic[];       /* percent-decoded */
} mq_pub;

static void pub_free(mq_pub *p) {
  if (p->timer) ir_timer_stop(p->timer);
  free(p->body);
  free(p);
}

static void pub_answer(mq_pub *p, int status, const char *text) {
  static const int statuses[MQ_HTTP_COUNT] = {200, 400, 403, 413, 503, 504};
  if (p->answered || !p->s) return;
  p->answered = 1;
  for (int i = 0; i < MQ_HTTP_COUNT; i++)
    if (statuses[i] == status) mq_count(p->mw->w, mq_metric.http_publish[i], 1);
  if (mq_answer(p->s, status, NULL, text) != IR_OK) ir_stream_reset(p->s);
}

static void pub_done(int status, void *data) {
  mq_pub *p = data;
  p->in_flight = 0;
  if (status == IR_OK) pub_answer(p, 200, "published\n");
  else if (status == IR_ECLOSED) pub_answer(p, 503, "the broker connection went down\n");
  else pub_answer(p, 503, "the broker refused the message\n");
  if (!p->s) pub_free(p);
}

static void pub_timer(ir_timer_t *t, void *data);

static void pub_send(mq_pub *p) {
  ir_mqtt_publish_opts o = {.struct_size = sizeof(o), .qos = p->qos, .retain = p->retain,
                            .done = pub_done, .data = p};
  int rc = mq_client_publish(p->mw, &p->r->broker, p->topic, p->body, p->len, &o);
  if (p->answered) return; /* done() already came (sent at once, or the link fell) */
  if (rc == IR_OK) {
    p->in_flight = 1;
    p->timer = ir_timer_start(p->mw->w, p->r->publish_timeout_ms, 0, pub_timer, p);
    return;
  }
  if (rc == IR_ECLOSED && p->waited_ms < MQ_CONNECT_GRACE_MS && !p->mw->draining) {
    p->waited_ms += MQ_RETRY_MS;
    if ((p->timer = ir_timer_start(p->mw->w, MQ_RETRY_MS, 0, pub_timer, p))) return;
  }
  pub_answer(p, 503, rc == IR_ECLOSED ? "the MQTT broker is unreachable\n"
                                      : "the message could not be queued\n");
}

static void pub_timer(ir_timer_t *t, void *data) {
  mq_pub *p = data;
  ir_timer_stop(t); /* a one-shot timer is freed by its stop, fired or not */
  p->timer = NULL;
  if (!p->in_flight) {
    pub_send(p);
    return;
  }
  /* the acknowledgement is late: answer now, done() frees later */
  pub_answer(p, 504, "the broker did not acknowledge in time\n");
}

/* qos=0|1; -1 for anything else. */
static int parse_qos(ir_str query) {
  char v[4];
  int n = mq_query_param(query, "qos", v, sizeof v);
  if (n == -1) return 0;
  return n == 1 && (v[0] == '0' || v[0] == '1') ? v[0] - '0' : -1;
}

/* retain=0|1|true|false; -1 for anything else. */
static int parse_retain(ir_str query) {
  char v[8];
  int n = mq_query_param(query, "retain", v, sizeof v);
  if (n == -1) return 0;
  if (n >= 0 && (!strcmp(v, "1") || !strcmp(v, "true"))) return 1;
  if (n >= 0 && (!strcmp(v, "0") || !strcmp(v, "false"))) return 0;
  return -1;
}

int mq_publish_start(ir_stream_t *s, const mq_route *r, const char *topic, size_t len) {
  mq_worker *mw = ir_stream_worker_data(s);
  mq_pub *p = mw ? calloc(1, sizeof(*p) + len + 1) : NULL;
  if (!p) return ir_respond_simple(s, 503, "text/plain", "out of memory\n", 14);
  p->kind = MQ_STREAM_PUBLISH;
  p->s = s;
  p->r = r;
  p->mw = mw;
  ir_stream_set_data(s, p);
  int n = mq_percent_decode(topic, len, p->topic, len + 1);
  ir_str query = ir_req_query(s);
  p->qos = parse_qos(query);
  p->retain = parse_retain(query);
  int64_t clen = ir_req_content_length(s);
  if (n <= 0 || !mq_topic_valid(p->topic, (size_t)n, 0) || memchr(p->topic, 0, (size_t)n))
    pub_answer(p, 400, "not a valid MQTT topic name\n");
  else if (p->qos < 0 || p->retain < 0)
    pub_answer(p, 400, "qos takes 0 or 1, retain 0, 1, true or false\n");
  else if (!mq_may_publish(&r->rules, p->topic, (size_t)n)) {
    mq_violation(s, MQ_RULE_PUBLISH, "HTTP publish to %s", p->topic);
    pub_answer(p, 403, "publishing to this topic is not allowed\n");
  } else if (clen > 0 && (uint64_t)clen > r->max_packet_size) {
    mq_violation(s, MQ_RULE_PACKET_SIZE, "HTTP publish of %lld bytes", (long long)clen);
    pub_answer(p, 413, "the message is larger than max_packet_size\n");
  }
  return IR_OK;
}

int mq_publish_body(ir_stream_t *s, const uint8_t *data, size_t len) {
  mq_pub *p = ir_stream_data(s);
  if (!p->answered) {
    if (p->len + len > p->r->max_packet_size) {
      mq_violation(s, MQ_RULE_PACKET_SIZE, "HTTP publish body over %llu bytes",
                   (unsigned long long)p->r->max_packet_size);
      pub_answer(p, 413, "the message is larger than max_packet_size\n");
    } else {
      if (p->len + len > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + len) cap *= 2;
        uint8_t *grown = realloc(p->body, cap);
        if (!grown) {
          pub_answer(p, 503, "out of memory\n");
          return ir_stream_consume(s, len);
        }
        p->body = grown, p->cap = cap;
      }
      memcpy(p->body + p->len, data, len);
      p->len += len;
    }
  }
  return ir_stream_consume(s, len);
}

int mq_publish_body_end(ir_stream_t *s) {
  mq_pub *p = ir_stream_data(s);
  if (!p->answered) pub_send(p);
  return IR_OK;
}

void mq_publish_close(ir_stream_t *s, int reason) {
  (void)reason;
  mq_pub *p = ir_stream_data(s);
  if (!p) return;
  ir_stream_set_data(s, NULL);
  p->s = NULL;
  if (!p->in_flight) pub_free(p);
}
