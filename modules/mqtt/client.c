/* client.c — the worker's broker clients and the "mqtt" service: one
 * libmosquitto client (MQTT 5) per worker and broker, made on first use and
 * driven by the worker's loop only (an SDK fd watch on its socket, a 1 s
 * timer for keepalive), never a thread. A lost connection is dropped whole
 * (its mosquitto object destroyed, its pending publishes failed) and made
 * again with backoff 0.1 s doubling to 5 s; every distinct filter is one
 * broker subscription, counted by its subscribers, made again on reconnect. */
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "mqttmod.h"

#define MQ_KEEPALIVE_S 30
#define MQ_BACKOFF_MIN_MS 100
#define MQ_BACKOFF_MAX_MS 5000
#define MQ_CONNECT_TICKS 5 /* 1 s ticks a connection attempt may take */

typedef struct mq_filter mq_filter;
typedef struct mq_client mq_client;

struct ir_mqtt_sub {
  mq_filter *f;
  ir_mqtt_sub_cbs cbs;
  void *data;
  int gone;      /* unsubscribed during a dispatch: freed by the sweep */
  int notify_up; /* on_state(1) owed once the broker subscription is made */
  /* Retained messages: the broker sends them right after the SUBACK of each
   * SUBSCRIBE of the filter, and each subscriber gets those that follow
   * its own SUBSCRIBE's SUBACK (the one sent when it joined, or at a
   * reconnect), not an earlier or a later one's. */
  int mid;         /* the SUBSCRIBE sent when it joined (or at the reconnect) */
  int awaiting;    /* that SUBSCRIBE's SUBACK has not come yet */
  int retained_ok; /* the retained messages arriving now are for it */
  struct ir_mqtt_sub *next;
};

struct mq_filter {
  mq_client *c;
  char *filter;
  int qos;
  int mid;        /* the SUBSCRIBE's message id while it waits for SUBACK */
  int subscribed; /* SUBACK seen on the current connection */
  ir_mqtt_sub_t *subs;
  mq_filter *next;
};

typedef struct mq_pending {
  int mid;
  void (*done)(int status, void *data);
  void *data;
  struct mq_pending *next;
} mq_pending;

struct mq_client {
  mq_worker *mw;
  mq_broker b;             /* own copy */
  struct mosquitto *mosq;  /* the current connection attempt; NULL between */
  ir_watch_t *watch;
  int fd;
  uint32_t interest;
  ir_timer_t *tick;        /* 1 s: loop_misc, connect timeout */
  ir_timer_t *retry;       /* one-shot: the next attempt */
  uint64_t backoff_ms;
  int connect_ticks;
  int connected;
  int ever_connected;
  int busy;                /* inside a dispatch to subscribers */
  int sweep;               /* some subscription went during it */
  int lost;                /* the connection went inside a libmosquitto call */
  int draining;
  int hurried;             /* the pending retry was brought forward (client_hurry) */
  mq_filter *filters;
  mq_pending *pending;
  mq_client *next;
};

static unsigned client_serial;

/* ---- helpers ---- */

static void client_retry_later(mq_client *c);
static void client_attempt(mq_client *c);

static void watch_cb(ir_watch_t *wt, int fd, uint32_t events, void *data);

/* Write interest follows mosquitto_want_write; a new socket gets a new watch. */
static void client_update_watch(mq_client *c) {
  if (!c->mosq) return;
  int fd = mosquitto_socket(c->mosq);
  if (fd != c->fd && c->watch) {
    ir_watch_stop(c->watch);
    c->watch = NULL;
  }
  c->fd = fd;
  if (fd < 0) return;
  uint32_t want = IR_WATCH_READ | (mosquitto_want_write(c->mosq) ? IR_WATCH_WRITE : 0);
  if (!c->watch) {
    c->watch = ir_watch_start(c->mw->w, fd, want, watch_cb, c);
    c->interest = want;
  } else if (want != c->interest) {
    ir_watch_change(c->watch, want);
    c->interest = want;
  }
}

static void fail_pending(mq_client *c, int status) {
  mq_pending *p = c->pending;
  c->pending = NULL;
  while (p) {
    mq_pending *next = p->next;
    if (p->done) p->done(status, p->data);
    free(p);
    p = next;
  }
}

static void sub_free_filter(mq_filter *f) {
  free(f->filter);
  free(f);
}

/* Frees unsubscribed handles and filters nobody uses any more (the broker
 * subscription is ended when the connection is up). */
static void client_sweep(mq_client *c) {
  if (c->busy) {
    c->sweep = 1;
    return;
  }
  c->sweep = 0;
  for (mq_filter **fp = &c->filters; *fp;) {
    mq_filter *f = *fp;
    for (ir_mqtt_sub_t **sp = &f->subs; *sp;) {
      ir_mqtt_sub_t *s = *sp;
      if (s->gone) {
        *sp = s->next;
        free(s);
      } else {
        sp = &s->next;
      }
    }
    if (!f->subs) {
      if (c->connected && c->mosq) mosquitto_unsubscribe(c->mosq, NULL, f->filter);
      *fp = f->next;
      sub_free_filter(f);
    } else {
      fp = &f->next;
    }
  }
  client_update_watch(c);
}

/* on_state(up) to every subscriber (up = 1: only those owed it on f). */
static void notify_state(mq_client *c, mq_filter *only, int up) {
  c->busy++;
  for (mq_filter *f = c->filters; f; f = f->next) {
    if (only && f != only) continue;
    for (ir_mqtt_sub_t *s = f->subs; s; s = s->next) {
      if (s->gone) continue;
      if (up && !s->notify_up) continue;
      s->notify_up = !up;
      if (s->cbs.on_state) s->cbs.on_state(up, s->data);
    }
  }
  if (--c->busy == 0 && c->sweep) client_sweep(c);
}

/* (Re)subscribes f; f->mid is the SUBSCRIBE's message id. */
static void filter_send_subscribe(mq_filter *f) {
  mq_client *c = f->c;
  f->subscribed = 0;
  f->mid = 0;
  if (c->connected && c->mosq)
    mosquitto_subscribe_v5(c->mosq, &f->mid, f->filter, f->qos, 0, NULL);
}

/* ---- the connection's life ---- */

/* The connection is gone (or never came): subscribers hear of it once, the
 * pending publishes fail, and the next attempt is scheduled. */
static void client_drop(mq_client *c) {
  if (c->watch) {
    ir_watch_stop(c->watch);
    c->watch = NULL;
  }
  c->fd = -1;
  if (c->mosq) {
    mosquitto_destroy(c->mosq);
    c->mosq = NULL;
  }
  c->lost = 0;
  int was_up = c->connected;
  c->connected = 0;
  for (mq_filter *f = c->filters; f; f = f->next) {
    f->subscribed = 0;
    f->mid = 0;
  }
  fail_pending(c, IR_ECLOSED);
  if (was_up) {
    mq_count(c->mw->w, mq_metric.broker_up, -1);
    ir_log(mq_module, NULL, IR_LOG_WARN, "mqtt broker %s: connection lost", c->b.name);
    notify_state(c, NULL, 0);
  }
  if (!c->draining) client_retry_later(c);
}

/* After a libmosquitto call: rc, or the loss its callback reported. */
static void client_after(mq_client *c, int rc) {
  if (c->lost || (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_CONN_PENDING &&
                  rc != MOSQ_ERR_NO_CONN) ||
      (c->mosq && mosquitto_socket(c->mosq) < 0)) {
    client_drop(c);
    return;
  }
  client_update_watch(c);
}

static void watch_cb(ir_watch_t *wt, int fd, uint32_t events, void *data) {
  (void)wt, (void)fd;
  mq_client *c = data;
  int rc = MOSQ_ERR_SUCCESS;
  if (events & (IR_WATCH_READ | IR_WATCH_ERROR)) rc = mosquitto_loop_read(c->mosq, 1);
  if (rc == MOSQ_ERR_SUCCESS && !c->lost && c->mosq && (events & IR_WATCH_WRITE))
    rc = mosquitto_loop_write(c->mosq, 1);
  client_after(c, rc);
}

static void tick_cb(ir_timer_t *t, void *data) {
  (void)t;
  mq_client *c = data;
  if (!c->mosq) return;
  if (!c->connected && ++c->connect_ticks > MQ_CONNECT_TICKS) {
    ir_log(mq_module, NULL, IR_LOG_WARN, "mqtt broker %s: no CONNACK in %d s", c->b.name,
           MQ_CONNECT_TICKS);
    client_drop(c);
    return;
  }
  client_after(c, mosquitto_loop_misc(c->mosq));
}

static void retry_cb(ir_timer_t *t, void *data) {
  mq_client *c = data;
  ir_timer_stop(t);
  c->retry = NULL;
  c->hurried = 0;
  client_attempt(c);
}

/* Work waits for the broker (a publish found it down): the next attempt
 * comes within MQ_BACKOFF_MIN_MS instead of the backoff's whole wait, once
 * per wait, so a flood of publishes makes no more attempts than that. */
static void client_hurry(mq_client *c) {
  if (!c->retry || c->hurried || c->draining) return;
  ir_timer_t *t = ir_timer_start(c->mw->w, MQ_BACKOFF_MIN_MS, 0, retry_cb, c);
  if (!t) return;
  ir_timer_stop(c->retry);
  c->retry = t;
  c->hurried = 1;
}

static void client_retry_later(mq_client *c) {
  if (c->retry || c->draining) return;
  uint64_t ms = c->backoff_ms;
  c->backoff_ms = ms * 2 > MQ_BACKOFF_MAX_MS ? MQ_BACKOFF_MAX_MS : ms * 2;
  c->retry = ir_timer_start(c->mw->w, ms, 0, retry_cb, c);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props) {
  (void)mosq, (void)flags, (void)props;
  mq_client *c = obj;
  if (rc != 0) {
    ir_log(mq_module, NULL, IR_LOG_WARN, "mqtt broker %s: CONNACK refused (%d)", c->b.name, rc);
    c->lost = 1;
    return;
  }
  c->connected = 1;
  c->backoff_ms = MQ_BACKOFF_MIN_MS;
  mq_count(c->mw->w, mq_metric.broker_up, 1);
  if (c->ever_connected) {
    mq_count(c->mw->w, mq_metric.reconnects, 1);
    ir_log(mq_module, NULL, IR_LOG_INFO, "mqtt broker %s: reconnected", c->b.name);
  }
  c->ever_connected = 1;
  for (mq_filter *f = c->filters; f; f = f->next) {
    filter_send_subscribe(f);
    for (ir_mqtt_sub_t *s = f->subs; s; s = s->next) s->awaiting = 1, s->mid = f->mid;
  }
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props) {
  (void)mosq, (void)rc, (void)props;
  mq_client *c = obj;
  /* The socket is closed already: the watch goes before the number is reused. */
  if (c->watch) {
    ir_watch_stop(c->watch);
    c->watch = NULL;
  }
  c->lost = 1;
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count,
                         const int *granted, const mosquitto_property *props) {
  (void)mosq, (void)props;
  mq_client *c = obj;
  /* The broker answers each SUBSCRIBE in order and sends its retained
   * messages right after the SUBACK: until the next SUBACK they are for
   * the subscribers that joined with this one, and for nobody else. */
  for (mq_filter *f = c->filters; f; f = f->next) {
    int ours = f->mid == mid;
    for (ir_mqtt_sub_t *s = f->subs; s && !ours; s = s->next) ours = s->mid == mid;
    if (!ours) continue;
    if (count >= 1 && granted[0] >= 0x80) {
      ir_log(mq_module, NULL, IR_LOG_WARN, "mqtt broker %s: SUBSCRIBE %s refused (0x%02x)",
             c->b.name, f->filter, granted[0]);
      return;
    }
    for (ir_mqtt_sub_t *s = f->subs; s; s = s->next) {
      s->retained_ok = s->awaiting && s->mid == mid;
      if (s->retained_ok) s->awaiting = 0;
    }
    if (f->mid == mid && !f->subscribed) {
      f->subscribed = 1;
      notify_state(c, f, 1);
    }
    return;
  }
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
                       const mosquitto_property *props) {
  (void)mosq, (void)props;
  mq_client *c = obj;
  for (mq_pending **pp = &c->pending; *pp; pp = &(*pp)->next) {
    mq_pending *p = *pp;
    if (p->mid != mid) continue;
    *pp = p->next;
    if (p->done) p->done(reason >= 0x80 ? IR_EIO : IR_OK, p->data);
    free(p);
    return;
  }
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m,
                       const mosquitto_property *props) {
  (void)mosq;
  mq_client *c = obj;
  uint8_t format = 0;
  mosquitto_property_read_byte(props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, &format, false);
  size_t tlen = strlen(m->topic);
  ir_mqtt_message msg = {
      .struct_size = sizeof(msg),
      .topic = {m->topic, tlen},
      .payload = m->payload,
      .len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0,
      .qos = m->qos,
      .retain = m->retain,
      .utf8 = format == 1,
  };
  c->busy++;
  for (mq_filter *f = c->filters; f; f = f->next) {
    if (!mq_topic_match(f->filter, strlen(f->filter), m->topic, tlen)) continue;
    for (ir_mqtt_sub_t *s = f->subs; s; s = s->next)
      if (!s->gone && s->cbs.on_message && (!m->retain || s->retained_ok))
        s->cbs.on_message(&msg, s->data);
  }
  if (--c->busy == 0 && c->sweep) client_sweep(c);
}

/* A fresh mosquitto object per attempt: nothing of a lost connection (its
 * queued QoS 1 messages) is sent again behind a publisher's back. */
static void client_attempt(mq_client *c) {
  if (c->draining || c->mosq) return;
  char id[64];
  snprintf(id, sizeof id, "iridium-%ld-w%u-%u", (long)getpid(), ir_worker_index(c->mw->w),
           ++client_serial);
  c->mosq = mosquitto_new(id, true, c);
  if (!c->mosq) {
    client_retry_later(c);
    return;
  }
  mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
  mosquitto_connect_v5_callback_set(c->mosq, on_connect);
  mosquitto_disconnect_v5_callback_set(c->mosq, on_disconnect);
  mosquitto_subscribe_v5_callback_set(c->mosq, on_subscribe);
  mosquitto_publish_v5_callback_set(c->mosq, on_publish);
  mosquitto_message_v5_callback_set(c->mosq, on_message);
  if (c->b.tls) {
    int rc = c->b.ca_file ? mosquitto_tls_set(c->mosq, c->b.ca_file, NULL, NULL, NULL, NULL)
                          : mosquitto_int_option(c->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
    if (rc == MOSQ_ERR_SUCCESS && !c->b.verify) {
      mosquitto_tls_opts_set(c->mosq, 0, NULL, NULL); /* SSL_VERIFY_NONE */
      mosquitto_tls_insecure_set(c->mosq, true);
    }
    if (rc != MOSQ_ERR_SUCCESS)
      ir_log(mq_module, NULL, IR_LOG_ERROR, "mqtt broker %s: TLS set-up failed: %s", c->b.name,
             mosquitto_strerror(rc));
  }
  c->connect_ticks = 0;
  int rc = mosquitto_connect_async(c->mosq, c->b.host, c->b.port, MQ_KEEPALIVE_S);
  if (rc != MOSQ_ERR_SUCCESS) {
    client_drop(c);
    return;
  }
  client_after(c, rc);
}

/* ---- finding and making clients ---- */

static mq_client *client_get(mq_worker *mw, const mq_broker *b) {
  for (mq_client *c = mw->clients; c; c = c->next)
    if (!strcmp(c->b.name, b->name)) return c;
  if (mw->draining) return NULL;
  mq_client *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  c->mw = mw;
  c->fd = -1;
  c->backoff_ms = MQ_BACKOFF_MIN_MS;
  c->b = *b;
  c->b.name = strdup(b->name);
  c->b.host = strdup(b->host);
  c->b.ca_file = b->ca_file ? strdup(b->ca_file) : NULL;
  c->tick = ir_timer_start(mw->w, 1000, 1000, tick_cb, c);
  if (!c->b.name || !c->b.host || (b->ca_file && !c->b.ca_file) || !c->tick) {
    ir_timer_stop(c->tick);
    free(c->b.name), free(c->b.host), free(c->b.ca_file), free(c);
    return NULL;
  }
  c->next = mw->clients;
  mw->clients = c;
  client_attempt(c);
  return c;
}

static void client_free(mq_client *c) {
  if (c->watch) ir_watch_stop(c->watch);
  ir_timer_stop(c->tick);
  ir_timer_stop(c->retry);
  if (c->mosq) mosquitto_destroy(c->mosq);
  if (c->connected) mq_count(c->mw->w, mq_metric.broker_up, -1);
  fail_pending(c, IR_ECLOSED);
  for (mq_filter *f = c->filters; f;) {
    mq_filter *next = f->next;
    for (ir_mqtt_sub_t *s = f->subs; s;) {
      ir_mqtt_sub_t *sn = s->next;
      free(s);
      s = sn;
    }
    sub_free_filter(f);
    f = next;
  }
  free(c->b.name), free(c->b.host), free(c->b.ca_file);
  free(c);
}

/* ---- the entries (route callers and the service) ---- */

ir_mqtt_sub_t *mq_client_subscribe(mq_worker *mw, const mq_broker *b, const char *filter, int qos,
                                   const ir_mqtt_sub_cbs *cbs, void *data) {
  size_t flen = filter ? strlen(filter) : 0;
  if (!mw || !cbs || qos < 0 || qos > 2 || !mq_topic_valid(filter, flen, 1)) return NULL;
  mq_client *c = client_get(mw, b);
  if (!c) return NULL;
  ir_mqtt_sub_t *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->cbs = *cbs;
  if (cbs->struct_size < sizeof(*cbs))
    memset((char *)&s->cbs + cbs->struct_size, 0, sizeof(*cbs) - cbs->struct_size);
  s->data = data;
  mq_filter *f = c->filters;
  while (f && strcmp(f->filter, filter)) f = f->next;
  if (!f) {
    if (!(f = calloc(1, sizeof(*f))) || !(f->filter = strdup(filter))) {
      free(f), free(s);
      return NULL;
    }
    f->c = c;
    f->qos = qos;
    f->next = c->filters;
    c->filters = f;
    filter_send_subscribe(f);
    client_update_watch(c);
  } else {
    /* Subscribing again makes the broker send the filter's retained
     * messages again (MQTT 3.1.1 3.8.4), for the newcomer only; the
     * subscription's QoS is the highest any subscriber asked. */
    if (qos > f->qos) f->qos = qos;
    filter_send_subscribe(f);
    client_update_watch(c);
  }
  s->awaiting = 1;
  s->mid = f->mid;
  s->f = f;
  s->notify_up = !f->subscribed && !c->connected;
  s->next = f->subs;
  f->subs = s;
  return s;
}

void mq_client_unsubscribe(ir_mqtt_sub_t *sub) {
  if (!sub || sub->gone) return;
  sub->gone = 1;
  client_sweep(sub->f->c);
}

int mq_client_publish(mq_worker *mw, const mq_broker *b, const char *topic, const void *payload,
                      size_t len, const ir_mqtt_publish_opts *opts) {
  ir_mqtt_publish_opts o = {0};
  if (opts) memcpy(&o, opts, opts->struct_size < sizeof(o) ? opts->struct_size : sizeof(o));
  size_t tlen = topic ? strlen(topic) : 0;
  if (!mw || o.qos < 0 || o.qos > 2 || len > 268435455 || !mq_topic_valid(topic, tlen, 0))
    return IR_EINVAL;
  mq_client *c = client_get(mw, b);
  if (!c) return mw->draining ? IR_ECLOSED : IR_ENOMEM;
  if (!c->connected || !c->mosq) {
    client_hurry(c);
    return IR_ECLOSED;
  }
  mq_pending *p = calloc(1, sizeof(*p));
  if (!p) return IR_ENOMEM;
  mosquitto_property *props = NULL;
  if (o.utf8 && mosquitto_property_add_byte(&props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1)) {
    free(p);
    return IR_ENOMEM;
  }
  /* Listed before the call: libmosquitto sets the mid first and, with no
   * thread of its own, may write a QoS 0 PUBLISH and report it (on_publish,
   * which frees p) before it returns. */
  p->mid = -1;
  p->done = o.done;
  p->data = o.data;
  p->next = c->pending;
  c->pending = p;
  int rc = mosquitto_publish_v5(c->mosq, &p->mid, topic, (int)len, payload, o.qos, o.retain != 0,
                                props);
  mosquitto_property_free_all(&props);
  if (rc != MOSQ_ERR_SUCCESS) {
    for (mq_pending **pp = &c->pending; *pp; pp = &(*pp)->next)
      if (*pp == p) {
        *pp = p->next;
        free(p);
        break;
      }
    client_after(c, rc == MOSQ_ERR_NOMEM || rc == MOSQ_ERR_INVAL ? MOSQ_ERR_SUCCESS : rc);
    return rc == MOSQ_ERR_NOMEM ? IR_ENOMEM : rc == MOSQ_ERR_INVAL ? IR_EINVAL : IR_ECLOSED;
  }
  client_update_watch(c);
  return IR_OK;
}

int mq_client_connected(mq_worker *mw, const mq_broker *b) {
  if (!mw) return 0;
  for (mq_client *c = mw->clients; c; c = c->next)
    if (!strcmp(c->b.name, b->name)) return c->connected;
  return 0;
}

/* The service names brokers only: plain TCP to HOST:PORT. */
static int service_broker(const char *name, mq_broker *b) {
  memset(b, 0, sizeof(*b));
  if (!name || mq_broker_parse(b, name) < 0) {
    free(b->name), free(b->host);
    return -1;
  }
  return 0;
}

static ir_mqtt_sub_t *svc_subscribe(ir_worker_t *w, const char *broker, const char *filter,
                                    int qos, const ir_mqtt_sub_cbs *cbs, void *data) {
  mq_broker b;
  if (!w || service_broker(broker, &b) < 0) return NULL;
  ir_mqtt_sub_t *s = mq_client_subscribe(mq_worker_of(w), &b, filter, qos, cbs, data);
  free(b.name), free(b.host);
  return s;
}

static int svc_publish(ir_worker_t *w, const char *broker, const char *topic, const void *payload,
                       size_t len, const ir_mqtt_publish_opts *opts) {
  mq_broker b;
  if (!w || service_broker(broker, &b) < 0) return IR_EINVAL;
  int rc = mq_client_publish(mq_worker_of(w), &b, topic, payload, len, opts);
  free(b.name), free(b.host);
  return rc;
}

static int svc_connected(ir_worker_t *w, const char *broker) {
  mq_broker b = {.name = (char *)broker};
  return w && broker ? mq_client_connected(mq_worker_of(w), &b) : 0;
}

const ir_mqtt_v1 mq_service = {
    .struct_size = sizeof(ir_mqtt_v1),
    .subscribe = svc_subscribe,
    .unsubscribe = mq_client_unsubscribe,
    .publish = svc_publish,
    .connected = svc_connected,
};

/* ---- module and worker life ---- */

int mq_clients_init(void) { return mosquitto_lib_init() == MOSQ_ERR_SUCCESS ? 0 : -1; }
void mq_clients_fini(void) { mosquitto_lib_cleanup(); }

void mq_clients_drain(mq_worker *mw) {
  for (mq_client *c = mw->clients; c; c = c->next) {
    c->draining = 1;
    ir_timer_stop(c->retry);
    c->retry = NULL;
    if (c->mosq && c->connected) {
      mosquitto_disconnect_v5(c->mosq, 0, NULL);
      client_update_watch(c);
    }
  }
}

void mq_clients_worker_exit(mq_worker *mw) {
  while (mw->clients) {
    mq_client *c = mw->clients;
    mw->clients = c->next;
    client_free(c);
  }
}
