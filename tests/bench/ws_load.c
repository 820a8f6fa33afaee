/* ws_load.c — the WebSocket load client (and TCP echo backend) of
 * tests/bench/ws_bench.py. Not a test: a benchmark tool, run by hand.
 *
 *   ws_load echo  --port P [--h2] [--deflate] [--sessions 100] [--size 64]
 *                 [--seconds 5] [--warmup 1] [--pid PID]... [--path /ws/echo]
 *                 [--text] [--fixed]
 *   ws_load idle  --port P [--h2] --sessions 10000 [--hold 120]
 *   ws_load backend [--port 0]
 *
 * echo: opens --sessions WebSocket sessions (HTTP/1.1: one TCP connection
 * each, RFC 6455 Upgrade; --h2: extended CONNECT streams, RFC 8441, over as
 * few h2c connections as the server's SETTINGS_MAX_CONCURRENT_STREAMS
 * allows), then each session keeps one binary message of --size bytes in
 * flight: send, wait until as many payload bytes have come back (a tunnel's
 * backend may split them into several messages), record the round trip,
 * send the next. Each message is fresh random bytes (--text: random
 * letters; --fixed: the same message every time). After --warmup seconds it counts for --seconds, reading the
 * CPU ticks of every --pid (utime + stime, /proc/PID/stat) and its own
 * getrusage at both ends of the window, and prints one JSON line.
 * idle: opens the sessions (at most --concurrency handshakes at once),
 * prints one JSON line, then keeps them open (answering pings) until its
 * standard input closes or has a line, or --hold seconds pass. --echo-once:
 * each session first does one round trip (so that lazily made state, such
 * as zlib's, exists); --plain (HTTP/1.1): no upgrade, a plain GET whose
 * answer leaves the connection idle in keep-alive, as a baseline.
 * backend: a TCP echo server on 127.0.0.1 (port 0 = any), prints
 * "port N" and echoes until killed.
 *
 * --mqtt (echo): each session offers the subprotocol "mqtt" and speaks
 * MQTT 3.1.1 inside its binary messages: CONNECT (client id b<N>, clean
 * session) and SUBSCRIBE to bench/<N> at QoS 0 first, then the message in
 * flight is a QoS 0 PUBLISH of --size payload bytes to bench/<N>, which
 * the broker sends back as the same bytes: a round trip through an MQTT
 * broker (mod_mqtt's bridge, or a broker's own WebSocket listener).
 *
 * permessage-deflate (RFC 7692), with --deflate: offers
 * "permessage-deflate; client_max_window_bits" (as browsers do), keeps both
 * contexts unless the answer says *_no_context_takeover, and honours a
 * client_max_window_bits in the answer. Only 127.0.0.1 is ever contacted;
 * every phase has a time limit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_PIDS 8

/* ---- options ------------------------------------------------------------ */

static struct {
  const char *cmd;
  int port;
  int h2;
  int deflate;
  int sessions;
  int size;
  double seconds, warmup, hold, connect_timeout;
  int concurrency;
  int per_conn; /* h2 streams per connection; 0 = the server's limit */
  const char *path;
  int text;
  int fixed;
  int plain;     /* idle: plain GET kept alive, no upgrade (a baseline) */
  int echo_once; /* idle: one message round trip per session first */
  int mqtt;      /* echo: MQTT 3.1.1 PUBLISH round trips (see above) */
  int pids[MAX_PIDS];
  int npids;
} opt = {.port = 0,
         .sessions = 100,
         .size = 64,
         .seconds = 5,
         .warmup = 1,
         .hold = 120,
         .connect_timeout = 60,
         .concurrency = 200,
         .path = "/ws/echo"};

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "ws_load: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- growable byte buffers ---------------------------------------------- */

typedef struct {
  uint8_t *p;
  size_t off, len, cap; /* valid bytes are p[off, len) */
} buf_t;

static void buf_reserve(buf_t *b, size_t more) {
  if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
  if (b->len + more <= b->cap) return;
  if (b->off > 0) {
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->len + more <= b->cap) return;
  }
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more) cap *= 2;
  b->p = realloc(b->p, cap);
  if (!b->p) die("out of memory");
  b->cap = cap;
}

static void buf_add(buf_t *b, const void *d, size_t n) {
  buf_reserve(b, n);
  memcpy(b->p + b->len, d, n);
  b->len += n;
}

static size_t buf_used(const buf_t *b) { return b->len - b->off; }

static void buf_free(buf_t *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* ---- sessions and connections ------------------------------------------- */

enum { S_WAITING, S_HANDSHAKE, S_OPEN, S_DONE };

typedef struct conn conn_t;

typedef struct {
  conn_t *c;
  int32_t stream_id; /* h2 */
  int state;
  int http_status;
  int deflate;             /* negotiated */
  int client_no_takeover;  /* reset our deflater after each message */
  int client_window_bits;  /* for our deflater */
  z_stream *zd, *zi;
  buf_t in;   /* WebSocket bytes from the server, not parsed yet */
  buf_t out;  /* h2: WebSocket bytes toward the server, not taken by nghttp2 */
  buf_t msg;  /* a compressed message being reassembled */
  int in_msg, msg_compressed;
  int deferred; /* h2: nghttp2 waits for resume_data */
  uint64_t sent_ns;
  size_t got; /* payload bytes back for the message in flight */
  int close_code;
  int echoed; /* idle --echo-once: its round trip is done */
  int mqtt_asked; /* --mqtt: CONNECT and SUBSCRIBE sent */
  int mqtt_ready; /* --mqtt: CONNACK and SUBACK came back */
  size_t want;    /* bytes the message in flight brings back */
} sess_t;

enum { C_CONNECTING, C_OPEN, C_DEAD };

struct conn {
  int fd;
  int state;
  buf_t w;  /* bytes to write to the socket */
  buf_t hs; /* h1: the 101 answer being read */
  sess_t *s;  /* h1: its one session */
  nghttp2_session *ng;
  int connected; /* TCP connect done */
  int in_recv;   /* inside nghttp2_session_mem_recv: no mem_send now */
  int settings_seen;
  int streams; /* h2: sessions assigned */
  char key[32];
};

static sess_t *sessions;
static int n_open, n_failed, n_closed, n_deflate;
static int next_assign;    /* next session without a connection */
static int h1_inflight;    /* h1 handshakes under way */
static int h2_connecting;  /* h2 connections without SETTINGS yet */
static int conns_made;
static int h2_limit = -1;  /* the server's SETTINGS_MAX_CONCURRENT_STREAMS */
static int epfd;
static char first_error[256];
static int running;        /* echo: keep sending */
static int counting;       /* echo: inside the measured window */
static uint64_t rtts, bytes_out_wire;
static uint32_t *lat_us;
static size_t lat_n, lat_cap;
static uint8_t *payload;

static void note_error(const char *fmt, ...) {
  if (first_error[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(first_error, sizeof first_error, fmt, ap);
  va_end(ap);
}

static void conn_flush(conn_t *c);
static void sess_send_next(sess_t *s);
static void sess_write(sess_t *s, const uint8_t *d, size_t n);

static void sess_finish(sess_t *s, int failed) {
  if (s->state == S_DONE) return;
  if (s->state == S_OPEN) {
    n_open--;
    n_closed++;
  } else if (failed) {
    n_failed++;
  }
  if (s->state == S_HANDSHAKE && s->c && !s->c->ng) h1_inflight--;
  s->state = S_DONE;
}

/* ---- permessage-deflate ------------------------------------------------- */

static void deflate_setup(sess_t *s, const char *ext) {
  /* ext: the Sec-WebSocket-Extensions answer, e.g. "permessage-deflate;
   * server_no_context_takeover; client_max_window_bits=12" */
  if (!ext || !strstr(ext, "permessage-deflate")) return;
  s->deflate = 1;
  s->client_window_bits = 15;
  s->client_no_takeover = strstr(ext, "client_no_context_takeover") != NULL;
  const char *w = strstr(ext, "client_max_window_bits=");
  if (w) {
    int bits = atoi(w + strlen("client_max_window_bits="));
    if (bits >= 8 && bits <= 15) s->client_window_bits = bits;
  }
  if (s->client_window_bits < 9) s->client_window_bits = 9; /* zlib: raw 8 = 9 */
  n_deflate++;
}

static void deflate_init(sess_t *s) {
  s->zd = calloc(1, sizeof *s->zd);
  s->zi = calloc(1, sizeof *s->zi);
  if (!s->zd || !s->zi) die("out of memory");
  if (deflateInit2(s->zd, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -s->client_window_bits, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK ||
      inflateInit2(s->zi, -15) != Z_OK)
    die("zlib init failed");
}

/* Compresses in[0,n) as one message into out (RFC 7692 7.2.1: the final
 * 00 00 ff ff of a sync flush is left off). */
static void deflate_msg(sess_t *s, const uint8_t *in, size_t n, buf_t *out) {
  if (!s->zd) deflate_init(s);
  s->zd->next_in = (uint8_t *)in;
  s->zd->avail_in = (uInt)n;
  do {
    buf_reserve(out, n + 64);
    s->zd->next_out = out->p + out->len;
    s->zd->avail_out = (uInt)(out->cap - out->len);
    if (deflate(s->zd, Z_SYNC_FLUSH) == Z_STREAM_ERROR) die("deflate failed");
    out->len = out->cap - s->zd->avail_out;
  } while (s->zd->avail_out == 0);
  if (buf_used(out) >= 4) out->len -= 4;
  if (s->client_no_takeover) deflateReset(s->zd);
}

/* The uncompressed size of one compressed message, or -1. */
static long inflate_msg(sess_t *s, buf_t *m) {
  static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
  uint8_t out[16384];
  long total = 0;
  if (!s->zi) deflate_init(s);
  buf_add(m, tail, 4);
  s->zi->next_in = m->p + m->off;
  s->zi->avail_in = (uInt)buf_used(m);
  for (int guard = 0; guard < 100000; guard++) {
    s->zi->next_out = out;
    s->zi->avail_out = sizeof out;
    int rc = inflate(s->zi, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) return -1;
    total += (long)(sizeof out - s->zi->avail_out);
    if (s->zi->avail_in == 0 && s->zi->avail_out != 0) break;
    if (rc == Z_BUF_ERROR) break;
  }
  m->off = m->len = 0;
  return total;
}

/* ---- WebSocket frames ----------------------------------------------------- */

static uint32_t rng_state = 0x9e3779b9u;
static uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

/* Appends one masked client frame to out. */
static void frame(buf_t *out, int opcode, int rsv1, const uint8_t *p, size_t n) {
  uint8_t h[14];
  size_t hl = 0;
  h[hl++] = (uint8_t)(0x80 | (rsv1 ? 0x40 : 0) | opcode);
  if (n < 126) {
    h[hl++] = (uint8_t)(0x80 | n);
  } else if (n < 65536) {
    h[hl++] = 0x80 | 126;
    h[hl++] = (uint8_t)(n >> 8);
    h[hl++] = (uint8_t)n;
  } else {
    h[hl++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) h[hl++] = (uint8_t)((uint64_t)n >> (8 * i));
  }
  uint32_t mk = rng();
  uint8_t mask[4];
  memcpy(mask, &mk, 4);
  memcpy(h + hl, mask, 4);
  hl += 4;
  buf_reserve(out, hl + n);
  memcpy(out->p + out->len, h, hl);
  uint8_t *d = out->p + out->len + hl;
  for (size_t i = 0; i < n; i++) d[i] = p[i] ^ mask[i & 3];
  out->len += hl + n;
}

static void sess_send_msg(sess_t *s, int opcode, const uint8_t *p, size_t n) {
  buf_t f = {0};
  if (s->deflate && opcode < 8) {
    buf_t z = {0};
    deflate_msg(s, p, n, &z);
    frame(&f, opcode, 1, z.p + z.off, buf_used(&z));
    buf_free(&z);
  } else {
    frame(&f, opcode, 0, p, n);
  }
  if (counting && opcode < 8) bytes_out_wire += buf_used(&f);
  sess_write(s, f.p + f.off, buf_used(&f));
  buf_free(&f);
}

enum { MQTT_SETUP_ANSWER = 4 + 5 }; /* --mqtt: CONNACK + SUBACK with one code */

static void lat_add(uint64_t ns) {
  if (lat_n == lat_cap) {
    lat_cap = lat_cap ? lat_cap * 2 : 65536;
    lat_us = realloc(lat_us, lat_cap * sizeof *lat_us);
    if (!lat_us) die("out of memory");
  }
  lat_us[lat_n++] = (uint32_t)(ns / 1000);
}

static void on_payload(sess_t *s, size_t n) {
  if (opt.echo_once && s->sent_ns) {
    s->got += n;
    if (s->got >= (size_t)opt.size) {
      s->echoed = 1;
      s->sent_ns = 0;
    }
    return;
  }
  if (strcmp(opt.cmd, "echo") != 0) return;
  if (opt.mqtt && !s->mqtt_ready) {
    s->got += n;
    if (s->got < MQTT_SETUP_ANSWER) return;
    s->mqtt_ready = 1;
    if (running) sess_send_next(s);
    return;
  }
  if (s->sent_ns == 0) return;
  s->got += n;
  if (s->got < s->want) return;
  uint64_t t = now_ns();
  if (counting) {
    rtts++;
    lat_add(t - s->sent_ns);
  }
  s->sent_ns = 0;
  s->got = 0;
  if (running) sess_send_next(s);
}

/* Fresh random bytes (or letters, --text) for the next message, unless
 * --fixed: with one message repeated, a deflate context would compress it
 * to a few bytes, which no real traffic does. */
static void payload_refill(void) {
  if (opt.fixed) return;
  for (int i = 0; i < opt.size; i += 4) {
    uint32_t r = rng();
    for (int k = 0; k < 4 && i + k < opt.size; k++, r >>= 8)
      payload[i + k] = opt.text ? (uint8_t)('a' + (r & 0xff) % 26) : (uint8_t)r;
  }
}

/* ---- MQTT 3.1.1 (--mqtt) ----------------------------------------------- */

static size_t mqtt_varint(uint8_t *out, size_t v) {
  size_t n = 0;
  do {
    out[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) out[n] |= 0x80;
    n++;
  } while (v);
  return n;
}

/* Appends a packet: first byte, remaining length, body. */
static void mqtt_packet(buf_t *out, uint8_t first, const uint8_t *body, size_t n) {
  uint8_t h[5];
  h[0] = first;
  size_t hl = 1 + mqtt_varint(h + 1, n);
  buf_add(out, h, hl);
  buf_add(out, body, n);
}

static void mqtt_str(buf_t *b, const char *str, size_t n) {
  uint8_t l[2] = {(uint8_t)(n >> 8), (uint8_t)n};
  buf_add(b, l, 2);
  buf_add(b, str, n);
}

/* CONNECT and SUBSCRIBE, in one binary message. */
static void mqtt_setup(sess_t *s) {
  char id[32], topic[32];
  int idn = snprintf(id, sizeof id, "b%d", (int)(s - sessions));
  int tn = snprintf(topic, sizeof topic, "bench/%d", (int)(s - sessions));
  buf_t body = {0}, msg = {0};
  static const uint8_t head[] = {0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60};
  buf_add(&body, head, sizeof head);
  mqtt_str(&body, id, (size_t)idn);
  mqtt_packet(&msg, 0x10, body.p, buf_used(&body));
  body.off = body.len = 0;
  static const uint8_t pid[] = {0, 1};
  buf_add(&body, pid, 2);
  mqtt_str(&body, topic, (size_t)tn);
  buf_add(&body, "", 1); /* QoS 0 */
  mqtt_packet(&msg, 0x82, body.p, buf_used(&body));
  s->got = 0;
  s->mqtt_asked = 1;
  sess_send_msg(s, 2, msg.p, buf_used(&msg));
  buf_free(&body);
  buf_free(&msg);
}

static void sess_send_next(sess_t *s) {
  if (s->state != S_OPEN) return;
  if (opt.mqtt && !s->mqtt_ready) {
    if (!s->mqtt_asked) mqtt_setup(s);
    return;
  }
  payload_refill();
  s->got = 0;
  if (!opt.mqtt) {
    s->sent_ns = now_ns();
    s->want = (size_t)opt.size;
    sess_send_msg(s, opt.text ? 1 : 2, payload, (size_t)opt.size);
    return;
  }
  char topic[32];
  int tn = snprintf(topic, sizeof topic, "bench/%d", (int)(s - sessions));
  buf_t body = {0}, msg = {0};
  mqtt_str(&body, topic, (size_t)tn);
  buf_add(&body, payload, (size_t)opt.size);
  mqtt_packet(&msg, 0x30, body.p, buf_used(&body));
  s->want = buf_used(&msg);
  s->sent_ns = now_ns();
  sess_send_msg(s, 2, msg.p, buf_used(&msg));
  buf_free(&body);
  buf_free(&msg);
}

/* Parses the server's frames in s->in. */
static void sess_parse(sess_t *s) {
  while (s->state == S_OPEN) {
    size_t avail = buf_used(&s->in);
    const uint8_t *p = s->in.p + s->in.off;
    if (avail < 2) return;
    int fin = p[0] & 0x80, rsv1 = p[0] & 0x40, op = p[0] & 0x0f;
    int masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7f;
    size_t hl = 2;
    if (len == 126) {
      if (avail < 4) return;
      len = ((uint64_t)p[2] << 8) | p[3];
      hl = 4;
    } else if (len == 127) {
      if (avail < 10) return;
      len = 0;
      for (int i = 0; i < 8; i++) len = (len << 8) | p[2 + i];
      hl = 10;
    }
    if (masked) hl += 4;
    if (avail < hl + len) return;
    uint8_t *d = (uint8_t *)p + hl;
    if (masked)
      for (uint64_t i = 0; i < len; i++) d[i] ^= p[hl - 4 + (i & 3)];
    s->in.off += hl + len;
    if (op == 9) { /* ping: pong with the same payload */
      sess_send_msg(s, 10, d, (size_t)len);
    } else if (op == 10) {
    } else if (op == 8) {
      s->close_code = len >= 2 ? (d[0] << 8 | d[1]) : 1005;
      if (running || strcmp(opt.cmd, "idle") == 0)
        note_error("server closed a session with code %d", s->close_code);
      sess_finish(s, 0);
      return;
    } else if (op == 1 || op == 2 || op == 0) {
      if (op != 0) {
        s->in_msg = 1;
        s->msg_compressed = rsv1 != 0;
      }
      if (s->msg_compressed) {
        buf_add(&s->msg, d, (size_t)len);
        if (fin) {
          long n = inflate_msg(s, &s->msg);
          if (n < 0) {
            note_error("inflate failed");
            sess_finish(s, 1);
            return;
          }
          on_payload(s, (size_t)n);
        }
      } else {
        on_payload(s, (size_t)len);
      }
      if (fin) s->in_msg = 0;
    } else {
      note_error("server sent opcode %d", op);
      sess_finish(s, 1);
      return;
    }
  }
}

static void sess_opened(sess_t *s) {
  s->state = S_OPEN;
  n_open++;
  if (running || opt.echo_once) sess_send_next(s);
}

/* ---- sockets -------------------------------------------------------------- */

/* Fails the sessions that have no connection yet. */
static void fail_rest(void) {
  while (next_assign < opt.sessions) {
    sessions[next_assign].state = S_DONE;
    next_assign++;
    n_failed++;
  }
}

static void conn_dead(conn_t *c) {
  if (c->state == C_DEAD) return;
  if (c->ng && !c->settings_seen) {
    h2_connecting--;
    fail_rest(); /* no h2 connection: do not try again and again */
  }
  c->state = C_DEAD;
  if (c->s) sess_finish(c->s, 1);
  if (c->ng) {
    for (int i = 0; i < opt.sessions; i++)
      if (sessions[i].c == c) sess_finish(&sessions[i], 1);
  }
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
}

static void conn_write(conn_t *c) {
  while (c->state != C_DEAD && buf_used(&c->w) > 0) {
    ssize_t n = write(c->fd, c->w.p + c->w.off, buf_used(&c->w));
    if (n > 0) {
      c->w.off += (size_t)n;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      note_error("write: %s", strerror(errno));
      conn_dead(c);
      return;
    }
  }
}

static conn_t *conn_new(void) {
  conn_t *c = calloc(1, sizeof *c);
  if (!c) die("out of memory");
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) die("socket: %s (raise RLIMIT_NOFILE?)", strerror(errno));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
    die("connect: %s", strerror(errno));
  c->state = C_CONNECTING;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
  conns_made++;
  return c;
}

/* ---- HTTP/1.1 ------------------------------------------------------------- */

static void b64(const uint8_t *in, size_t n, char *out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = t[(v >> 18) & 63];
    out[o++] = t[(v >> 12) & 63];
    out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = 0;
}

static void h1_start(sess_t *s) {
  conn_t *c = conn_new();
  c->s = s;
  s->c = c;
  s->state = S_HANDSHAKE;
  h1_inflight++;
  uint8_t raw[16];
  for (int i = 0; i < 16; i++) raw[i] = (uint8_t)rng();
  b64(raw, 16, c->key);
  char req[1024];
  int n;
  if (opt.plain) {
    n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", opt.path,
                 opt.port);
    buf_add(&c->w, req, (size_t)n);
    return;
  }
  n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n%s%s\r\n",
                   opt.path, opt.port, c->key,
                   opt.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                                 "client_max_window_bits\r\n"
                               : "",
                   opt.mqtt ? "Sec-WebSocket-Protocol: mqtt\r\n" : "");
  buf_add(&c->w, req, (size_t)n);
}

/* The value of header `name` in the header block h (NUL-terminated), copied
 * into out, or NULL. */
static const char *header_value(const char *h, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  for (const char *l = strstr(h, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
    const char *k = l + 2;
    if (strncasecmp(k, name, nl) == 0 && k[nl] == ':') {
      const char *v = k + nl + 1;
      while (*v == ' ' || *v == '\t') v++;
      const char *e = strstr(v, "\r\n");
      size_t vl = e ? (size_t)(e - v) : strlen(v);
      if (vl >= cap) vl = cap - 1;
      memcpy(out, v, vl);
      out[vl] = 0;
      return out;
    }
  }
  return NULL;
}

static void h1_handshake_read(conn_t *c, const uint8_t *d, size_t n) {
  sess_t *s = c->s;
  buf_add(&c->hs, d, n);
  buf_add(&c->hs, "", 1); /* NUL, taken off below */
  c->hs.len--;
  char *h = (char *)c->hs.p + c->hs.off;
  char *end = strstr(h, "\r\n\r\n");
  if (!end) {
    if (buf_used(&c->hs) > 16384) {
      note_error("handshake answer too long");
      conn_dead(c);
    }
    return;
  }
  end[2] = 0; /* keep the last header's \r\n */
  s->http_status = atoi(h + 9);
  if (opt.plain) { /* any answer will do; the connection stays open */
    buf_free(&c->hs);
    h1_inflight--;
    c->state = C_OPEN;
    s->state = S_OPEN;
    n_open++;
    return;
  }
  if (strncmp(h, "HTTP/1.1 ", 9) != 0 || s->http_status != 101) {
    note_error("HTTP/1.1 handshake answered %.40s", h);
    conn_dead(c);
    return;
  }
  char v[512], want[64];
  char cat[128];
  snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->key);
  uint8_t sha[20];
  gnutls_hash_fast(GNUTLS_DIG_SHA1, cat, strlen(cat), sha);
  b64(sha, 20, want);
  if (!header_value(h, "sec-websocket-accept", v, sizeof v) || strcmp(v, want) != 0) {
    note_error("bad Sec-WebSocket-Accept");
    conn_dead(c);
    return;
  }
  if (header_value(h, "sec-websocket-extensions", v, sizeof v)) deflate_setup(s, v);
  size_t rest = (size_t)(c->hs.p + c->hs.len - (uint8_t *)(end + 4));
  buf_add(&s->in, end + 4, rest);
  buf_free(&c->hs);
  h1_inflight--;
  c->state = C_OPEN;
  sess_opened(s);
  sess_parse(s);
}

/* ---- HTTP/2 --------------------------------------------------------------- */

static void h2_assign(conn_t *c);

static ssize_t h2_read_cb(nghttp2_session *ng, int32_t sid, uint8_t *b, size_t len,
                          uint32_t *flags, nghttp2_data_source *src, void *ud) {
  sess_t *s = src->ptr;
  size_t n = buf_used(&s->out);
  if (n == 0) {
    s->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (n > len) n = len;
  memcpy(b, s->out.p + s->out.off, n);
  s->out.off += n;
  return (ssize_t)n;
}

static sess_t *h2_sess(nghttp2_session *ng, int32_t sid) {
  return nghttp2_session_get_stream_user_data(ng, sid);
}

static int h2_on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                        size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud) {
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  sess_t *s = h2_sess(ng, f->hd.stream_id);
  if (!s) return 0;
  if (nl == 7 && memcmp(name, ":status", 7) == 0) {
    s->http_status = atoi((const char *)value);
  } else if (nl == 24 && memcmp(name, "sec-websocket-extensions", 24) == 0) {
    char v[512];
    if (vl >= sizeof v) vl = sizeof v - 1;
    memcpy(v, value, vl);
    v[vl] = 0;
    deflate_setup(s, v);
  }
  return 0;
}

static int h2_on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *ud) {
  conn_t *c = ud;
  if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK) &&
      !c->settings_seen) {
    c->settings_seen = 1;
    h2_connecting--;
    c->state = C_OPEN;
    uint32_t lim = nghttp2_session_get_remote_settings(ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    if (!nghttp2_session_get_remote_settings(ng, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL)) {
      note_error("the server's SETTINGS have no ENABLE_CONNECT_PROTOCOL");
      fail_rest();
      conn_dead(c);
      return 0;
    }
    h2_limit = lim > 1000000 ? 1000000 : (int)lim;
    h2_assign(c);
  } else if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_RESPONSE) {
    sess_t *s = h2_sess(ng, f->hd.stream_id);
    if (s && s->state == S_HANDSHAKE) {
      if (s->http_status == 200) {
        sess_opened(s);
      } else {
        note_error("extended CONNECT answered %d", s->http_status);
        sess_finish(s, 1);
      }
    }
  }
  return 0;
}

static int h2_on_data(nghttp2_session *ng, uint8_t flags, int32_t sid, const uint8_t *d,
                      size_t n, void *ud) {
  sess_t *s = h2_sess(ng, sid);
  if (!s || s->state != S_OPEN) return 0;
  buf_add(&s->in, d, n);
  sess_parse(s);
  return 0;
}

static int h2_on_close(nghttp2_session *ng, int32_t sid, uint32_t err, void *ud) {
  sess_t *s = h2_sess(ng, sid);
  if (!s) return 0;
  if (s->state == S_HANDSHAKE) note_error("stream closed before the answer (error %u)", err);
  else if (s->state == S_OPEN && (running || strcmp(opt.cmd, "idle") == 0))
    note_error("stream of an open session closed (error %u)", err);
  sess_finish(s, s->state == S_HANDSHAKE);
  return 0;
}

static nghttp2_session_callbacks *h2_cbs;

static void h2_conn_start(void) {
  conn_t *c = conn_new();
  h2_connecting++;
  if (!h2_cbs) {
    nghttp2_session_callbacks_new(&h2_cbs);
    nghttp2_session_callbacks_set_on_header_callback(h2_cbs, h2_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(h2_cbs, h2_on_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(h2_cbs, h2_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(h2_cbs, h2_on_close);
  }
  nghttp2_option *o;
  nghttp2_option_new(&o);
  nghttp2_option_set_peer_max_concurrent_streams(o, 1000000);
  if (nghttp2_session_client_new2(&c->ng, h2_cbs, c, o) != 0) die("nghttp2_session_client_new");
  nghttp2_option_del(o);
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                 {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
  nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 2);
  nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, 1 << 28);
}

/* Gives connection c as many waiting sessions as it may carry. */
static void h2_assign(conn_t *c) {
  int cap = h2_limit;
  if (opt.per_conn > 0 && opt.per_conn < cap) cap = opt.per_conn;
  char auth[64];
  snprintf(auth, sizeof auth, "127.0.0.1:%d", opt.port);
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
  nghttp2_nv nv[] = {NV(":method", "CONNECT"),
                     NV(":protocol", "websocket"),
                     NV(":scheme", "http"),
                     NV(":path", opt.path),
                     NV(":authority", auth),
                     NV("sec-websocket-version", "13"),
                     NV("sec-websocket-protocol", "mqtt"),
                     NV("sec-websocket-extensions", "permessage-deflate; client_max_window_bits")};
  size_t nnv = 6;
  if (opt.mqtt) nnv++;
  else nv[6] = nv[7];
  if (opt.deflate) nnv++;
  while (c->streams < cap && next_assign < opt.sessions) {
    sess_t *s = &sessions[next_assign++];
    s->c = c;
    s->state = S_HANDSHAKE;
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = h2_read_cb};
    int32_t sid = nghttp2_submit_request(c->ng, NULL, nv, nnv, &prd, s);
    if (sid < 0) {
      note_error("nghttp2_submit_request: %s", nghttp2_strerror(sid));
      sess_finish(s, 1);
      continue;
    }
    s->stream_id = sid;
    c->streams++;
  }
  conn_flush(c);
}

/* Moves nghttp2's output to the socket. */
static void conn_flush(conn_t *c) {
  if (c->state == C_DEAD || c->in_recv) return; /* conn_readable flushes after mem_recv */
  if (c->ng) {
    while (buf_used(&c->w) < (1 << 18)) {
      const uint8_t *d;
      ssize_t n = nghttp2_session_mem_send(c->ng, &d);
      if (n < 0) {
        note_error("nghttp2_session_mem_send: %s", nghttp2_strerror((int)n));
        conn_dead(c);
        return;
      }
      if (n == 0) break;
      buf_add(&c->w, d, (size_t)n);
    }
  }
  if (c->connected) conn_write(c);
}

static void sess_write(sess_t *s, const uint8_t *d, size_t n) {
  conn_t *c = s->c;
  if (!c || c->state == C_DEAD) return;
  if (c->ng) {
    buf_add(&s->out, d, n);
    if (s->deferred) {
      s->deferred = 0;
      nghttp2_session_resume_data(c->ng, s->stream_id);
    }
  } else {
    buf_add(&c->w, d, n);
  }
  conn_flush(c);
}

/* ---- the event loop ------------------------------------------------------- */

static void conn_readable(conn_t *c) {
  uint8_t b[65536];
  for (;;) {
    if (c->state == C_DEAD) return;
    ssize_t n = read(c->fd, b, sizeof b);
    if (n > 0) {
      if (c->ng) {
        c->in_recv = 1; /* nghttp2's callbacks must not call mem_send */
        ssize_t r = nghttp2_session_mem_recv(c->ng, b, (size_t)n);
        c->in_recv = 0;
        if (r < 0) {
          note_error("nghttp2_session_mem_recv: %s", nghttp2_strerror((int)r));
          conn_dead(c);
          return;
        }
        conn_flush(c);
      } else if (c->s->state == S_HANDSHAKE) {
        h1_handshake_read(c, b, (size_t)n);
      } else if (c->s->state == S_OPEN && !opt.plain) {
        buf_add(&c->s->in, b, (size_t)n);
        sess_parse(c->s);
      }
    } else if (n == 0) {
      if (running || strcmp(opt.cmd, "idle") == 0 || (c->s && c->s->state == S_HANDSHAKE))
        note_error("the server closed a connection");
      conn_dead(c);
      return;
    } else if (errno == EAGAIN) {
      return;
    } else if (errno != EINTR) {
      note_error("read: %s", strerror(errno));
      conn_dead(c);
      return;
    }
  }
}

static void conn_event(conn_t *c, uint32_t ev) {
  if (c->state == C_DEAD) return;
  if (!c->connected && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err || !(ev & EPOLLOUT)) {
      note_error("connect: %s", strerror(err ? err : ECONNREFUSED));
      conn_dead(c);
      return;
    }
    c->connected = 1;
    if (!c->ng) c->state = C_OPEN; /* h1: the handshake state is the session's */
  }
  if (ev & EPOLLOUT) conn_flush(c);
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) conn_readable(c);
}

/* Starts handshakes while there is room for them. */
static void pump_opens(void) {
  if (opt.h2) {
    if (next_assign < opt.sessions && h2_connecting == 0) h2_conn_start();
    return;
  }
  while (next_assign < opt.sessions && h1_inflight < opt.concurrency) {
    h1_start(&sessions[next_assign++]);
  }
}

static int stdin_closed;

/* Runs the loop until `until` (monotonic ns) or, when stop_when_open, until
 * no session is waiting or handshaking. */
static void loop(uint64_t until, int stop_when_open) {
  struct epoll_event evs[256];
  for (;;) {
    pump_opens();
    if (stop_when_open && next_assign >= opt.sessions && h1_inflight == 0) {
      int pending = 0;
      for (int i = 0; i < opt.sessions && !pending; i++)
        pending = sessions[i].state == S_HANDSHAKE || sessions[i].state == S_WAITING ||
                  (opt.echo_once && sessions[i].state == S_OPEN && !sessions[i].echoed);
      if (!pending) return;
    }
    uint64_t t = now_ns();
    if (t >= until) return;
    int ms = (int)((until - t) / 1000000) + 1;
    if (ms > 50) ms = 50;
    int n = epoll_wait(epfd, evs, 256, ms);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) { /* stdin */
        char b[256];
        ssize_t r = read(0, b, sizeof b);
        if (r <= 0 || memchr(b, '\n', (size_t)r)) {
          stdin_closed = 1;
          epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
        }
        continue;
      }
      conn_event(evs[i].data.ptr, evs[i].events);
    }
    if (stdin_closed) return;
  }
}

/* The CPU ticks of every --pid together; each[i]: pid i's alone. */
static long long cpu_ticks(long long each[MAX_PIDS]) {
  long long total = 0;
  for (int i = 0; i < opt.npids; i++) {
    char path[64], st[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", opt.pids[i]);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t n = fread(st, 1, sizeof st - 1, f);
    fclose(f);
    st[n] = 0;
    char *p = strrchr(st, ')');
    if (!p) continue;
    unsigned long ut = 0, stt = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) == 2)
      total += each[i] = (long long)(ut + stt);
  }
  return total;
}

static double self_cpu(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (double)r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + (double)r.ru_stime.tv_sec +
         r.ru_stime.tv_usec / 1e6;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static double pct(double p) {
  if (lat_n == 0) return 0;
  size_t i = (size_t)(p * (double)(lat_n - 1) + 0.5);
  return lat_us[i];
}

static void print_json_str(const char *k, const char *v) {
  printf("\"%s\": \"", k);
  for (const char *p = v; *p; p++) {
    if (*p == '"' || *p == '\\') putchar('\\');
    putchar((unsigned char)*p < 32 ? ' ' : *p);
  }
  printf("\"");
}

static void print_common(void) {
  printf("\"mode\": \"%s\", \"protocol\": \"%s\", \"sessions\": %d, \"opened\": %d, "
         "\"failed\": %d, \"closed\": %d, \"deflate_offered\": %s, \"deflate\": %d, "
         "\"connections\": %d, \"h2_max_streams\": %d, ",
         opt.cmd, opt.h2 ? "h2" : "h1", opt.sessions, n_open, n_failed, n_closed,
         opt.deflate ? "true" : "false", n_deflate, conns_made, h2_limit);
  print_json_str("error", first_error);
}

static int run_client(void) {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  sessions = calloc((size_t)opt.sessions, sizeof *sessions);
  payload = malloc((size_t)opt.size + 1);
  if (!sessions || !payload) die("out of memory");
  for (int i = 0; i < opt.size; i++) payload[i] = opt.text ? (uint8_t)('a' + rng() % 26) : (uint8_t)rng();
  uint64_t t0 = now_ns();
  loop(t0 + (uint64_t)(opt.connect_timeout * 1e9), 1);
  double open_s = (double)(now_ns() - t0) / 1e9;
  if (strcmp(opt.cmd, "idle") == 0) {
    printf("{");
    print_common();
    printf(", \"open_seconds\": %.3f}\n", open_s);
    fflush(stdout);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev);
    loop(now_ns() + (uint64_t)(opt.hold * 1e9), 0);
    return n_open == opt.sessions ? 0 : 1;
  }
  if (n_open < opt.sessions) {
    printf("{");
    print_common();
    printf(", \"rtt\": 0}\n");
    return 1;
  }
  running = 1;
  for (int i = 0; i < opt.sessions; i++) sess_send_next(&sessions[i]);
  loop(now_ns() + (uint64_t)(opt.warmup * 1e9), 0);
  long long e0[MAX_PIDS] = {0}, e1[MAX_PIDS] = {0};
  long long k0 = cpu_ticks(e0);
  double c0 = self_cpu();
  uint64_t m0 = now_ns();
  counting = 1;
  loop(m0 + (uint64_t)(opt.seconds * 1e9), 0);
  counting = 0;
  uint64_t m1 = now_ns();
  long long k1 = cpu_ticks(e1);
  double c1 = self_cpu();
  running = 0;
  double secs = (double)(m1 - m0) / 1e9;
  qsort(lat_us, lat_n, sizeof *lat_us, cmp_u32);
  printf("{");
  print_common();
  printf(", \"rtt\": %llu, \"seconds\": %.3f, \"rate\": %.1f, \"p50_us\": %.0f, "
         "\"p99_us\": %.0f, \"p999_us\": %.0f, \"max_us\": %.0f, \"server_ticks\": %lld, "
         "\"clk_tck\": %ld, \"client_cpu_s\": %.3f, \"wire_bytes_out\": %llu, \"size\": %d",
         (unsigned long long)rtts, secs, (double)rtts / secs, pct(0.5), pct(0.99), pct(0.999),
         lat_n ? (double)lat_us[lat_n - 1] : 0.0, k1 - k0, sysconf(_SC_CLK_TCK), c1 - c0,
         (unsigned long long)bytes_out_wire, opt.size);
  printf(", \"pid_ticks\": [");
  for (int i = 0; i < opt.npids; i++) printf("%s%lld", i ? ", " : "", e1[i] - e0[i]);
  printf("]}\n");
  fflush(stdout);
  return n_open == opt.sessions && !first_error[0] ? 0 : 1;
}

/* ---- the TCP echo backend ------------------------------------------------- */

typedef struct {
  int fd;
  buf_t w;
} echo_conn_t;

static int run_backend(void) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0)
    die("backend bind/listen: %s", strerror(errno));
  socklen_t al = sizeof a;
  getsockname(ls, (struct sockaddr *)&a, &al);
  printf("port %d\n", ntohs(a.sin_port));
  fflush(stdout);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(epfd, EPOLL_CTL_ADD, ls, &ev);
  struct epoll_event evs[256];
  uint8_t b[65536];
  for (;;) {
    int n = epoll_wait(epfd, evs, 256, 1000);
    if (getppid() == 1) return 0; /* the bench went away */
    for (int i = 0; i < n; i++) {
      echo_conn_t *e = evs[i].data.ptr;
      if (!e) {
        for (int k = 0; k < 256; k++) {
          int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          e = calloc(1, sizeof *e);
          if (!e) die("out of memory");
          e->fd = fd;
          struct epoll_event ce = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = e};
          epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ce);
        }
        continue;
      }
      int dead = 0;
      for (;;) {
        ssize_t r = read(e->fd, b, sizeof b);
        if (r > 0) {
          buf_add(&e->w, b, (size_t)r);
        } else if (r < 0 && errno == EAGAIN) {
          break;
        } else if (r < 0 && errno == EINTR) {
          continue;
        } else {
          dead = 1;
          break;
        }
      }
      while (!dead && buf_used(&e->w) > 0) {
        ssize_t w = write(e->fd, e->w.p + e->w.off, buf_used(&e->w));
        if (w > 0) e->w.off += (size_t)w;
        else if (w < 0 && errno == EAGAIN) break;
        else if (!(w < 0 && errno == EINTR)) dead = 1;
      }
      if (dead) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, e->fd, NULL);
        close(e->fd);
        buf_free(&e->w);
        free(e);
      }
    }
  }
}

/* ---- main ----------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: ws_load echo|idle --port P [--h2] [--deflate] [--sessions N] [--size B]\n"
          "         [--seconds S] [--warmup S] [--pid PID]... [--path P] [--text] [--fixed]\n"
          "         [--per-conn M] [--concurrency C] [--hold S] [--connect-timeout S]\n"
          "         [--plain] [--echo-once] [--mqtt]\n"
          "       ws_load backend [--port P]\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  opt.cmd = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
    if (strcmp(a, "--h2") == 0) opt.h2 = 1;
    else if (strcmp(a, "--deflate") == 0) opt.deflate = 1;
    else if (strcmp(a, "--text") == 0) opt.text = 1;
    else if (strcmp(a, "--fixed") == 0) opt.fixed = 1;
    else if (strcmp(a, "--plain") == 0) opt.plain = 1;
    else if (strcmp(a, "--echo-once") == 0) opt.echo_once = 1;
    else if (strcmp(a, "--mqtt") == 0) opt.mqtt = 1;
    else if (ARG("--port")) opt.port = atoi(v);
    else if (ARG("--sessions")) opt.sessions = atoi(v);
    else if (ARG("--size")) opt.size = atoi(v);
    else if (ARG("--seconds")) opt.seconds = atof(v);
    else if (ARG("--warmup")) opt.warmup = atof(v);
    else if (ARG("--hold")) opt.hold = atof(v);
    else if (ARG("--connect-timeout")) opt.connect_timeout = atof(v);
    else if (ARG("--concurrency")) opt.concurrency = atoi(v);
    else if (ARG("--per-conn")) opt.per_conn = atoi(v);
    else if (ARG("--path")) opt.path = v;
    else if (ARG("--pid")) {
      if (opt.npids < MAX_PIDS) opt.pids[opt.npids++] = atoi(v);
    } else usage();
  }
  signal(SIGPIPE, SIG_IGN);
  rng_state ^= (uint32_t)getpid() * 2654435761u ^ (uint32_t)now_ns();
  if (rng_state == 0) rng_state = 1;
  if (strcmp(opt.cmd, "backend") == 0) return run_backend();
  if (strcmp(opt.cmd, "echo") != 0 && strcmp(opt.cmd, "idle") != 0) usage();
  if (opt.port <= 0 || opt.sessions <= 0 || opt.size <= 0 || opt.concurrency <= 0) usage();
  return run_client();
}
