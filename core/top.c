/* top.c — `iridium top`: a terminal view of a running server, read from
 * its mod_status route ({route}/json) once per interval: the counters, the
 * rates since the last read, and the open connections with their streams.
 * The URL is given, or found in the configuration (the first status
 * route, on the first cleartext HTTP/1.1 listener). A plain blocking
 * HTTP/1.1 client with deadlines; json-c parses the answer; the screen is
 * redrawn in place with ANSI sequences; q or Ctrl-C quits. */
#include "top.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "paths.h"

#define FETCH_TIMEOUT_MS 3000
#define MAX_ANSWER (32u << 20)

static volatile sig_atomic_t quit, resized;
static struct termios saved_tty;
static int tty_raw;

static void on_signal(int sig) {
  if (sig == SIGWINCH)
    resized = 1;
  else
    quit = 1;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the URL ---- */

typedef struct url {
  char host[256];
  char port[8];
  char path[1024];
} url;

/* http://HOST[:PORT][/PATH], HOST a name, an IPv4 address or [IPv6]. */
static int parse_url(const char *text, url *u) {
  if (strncmp(text, "http://", 7) != 0) return -1; /* TLS is not read here */
  const char *h = text + 7, *slash = strchr(h, '/');
  const char *end = slash ? slash : h + strlen(h), *name = h, *name_end, *port = NULL;
  if (*h == '[') {
    name = h + 1;
    name_end = memchr(name, ']', (size_t)(end - name));
    if (!name_end) return -1;
    if (name_end + 1 < end) {
      if (name_end[1] != ':') return -1;
      port = name_end + 2;
    }
  } else {
    name_end = memchr(h, ':', (size_t)(end - h));
    if (name_end)
      port = name_end + 1;
    else
      name_end = end;
  }
  size_t nl = (size_t)(name_end - name), pl = port ? (size_t)(end - port) : 0;
  if (!nl || nl >= sizeof u->host || (port && (!pl || pl >= sizeof u->port))) return -1;
  memcpy(u->host, name, nl);
  u->host[nl] = '\0';
  snprintf(u->port, sizeof u->port, "%.*s", port ? (int)pl : 2, port ? port : "80");
  snprintf(u->path, sizeof u->path, "%s", slash ? slash : "/");
  return 0;
}

/* The first status route on the first cleartext HTTP/1.1 listener. */
static int url_from_config(const char *path, char *out, size_t cap) {
  irh_config *c = irh_config_read(path);
  if (!c) return -1;
  const char *prefix = NULL;
  for (size_t i = 0; i < c->nroutes && !prefix; i++)
    if (strcmp(c->routes[i].module, "status") == 0 && !c->routes[i].host)
      prefix = c->routes[i].prefix;
  const irh_listen_cfg *l = NULL;
  for (size_t i = 0; i < c->nlistens && !l; i++)
    if (!c->listens[i].tls && (c->listens[i].protocols & IRH_PROTO_HTTP1)) l = &c->listens[i];
  int rc = -1;
  if (!prefix)
    fprintf(stderr, "iridium top: %s has no [route] with module = status\n", path);
  else if (!l)
    fprintf(stderr, "iridium top: %s has no cleartext HTTP/1.1 listener\n", path);
  if (prefix && l) {
    const char *addr = l->section->arg, *colon = strrchr(addr, ':');
    int any = addr[0] == '*' || !strncmp(addr, "0.0.0.0:", 8) || !strncmp(addr, "[::]:", 5);
    snprintf(out, cap, "http://%.*s%s%s/json", any ? 9 : (int)(colon - addr),
             any ? "127.0.0.1" : addr, colon, strcmp(prefix, "/") ? prefix : "");
    rc = 0;
  }
  irh_config_free(c);
  return rc;
}

/* ---- one GET ---- */

static int wait_fd(int fd, short events, uint64_t deadline) {
  for (;;) {
    uint64_t now = now_ms();
    if (now >= deadline) return -1;
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, (int)(deadline - now));
    if (n > 0) return 0;
    if (n < 0 && errno != EINTR) return -1;
    if (quit) return -1;
  }
}

/* The body of GET u (status 200), malloc'd, or NULL with why. */
static char *fetch(const url *u, char *why, size_t why_cap) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
  int rc = getaddrinfo(u->host, u->port, &hints, &ai);
  if (rc != 0) {
    snprintf(why, why_cap, "%.200s: %s", u->host, gai_strerror(rc));
    return NULL;
  }
  uint64_t deadline = now_ms() + FETCH_TIMEOUT_MS;
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int err = 0;
  socklen_t len = sizeof err;
  if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) ||
      wait_fd(fd, POLLOUT, deadline) != 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) ||
      err) {
    snprintf(why, why_cap, "cannot connect to %.200s:%s: %s", u->host, u->port,
             strerror(err     ? err
                      : errno ? errno
                              : ETIMEDOUT));
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return NULL;
  }
  freeaddrinfo(ai);
  char req[1400];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: iridium-top\r\n"
                   "Connection: close\r\n\r\n",
                   u->path, u->host, u->port);
  char *buf = NULL;
  size_t got = 0, cap = 0;
  for (int sent = 0; sent < n;) {
    ssize_t w = send(fd, req + sent, (size_t)(n - sent), MSG_NOSIGNAL);
    if (w > 0)
      sent += (int)w;
    else if (w < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, deadline) == 0)
      continue;
    else
      goto io_error;
  }
  for (;;) {
    if (got + 65536 > cap) {
      if (cap >= MAX_ANSWER) goto io_error;
      char *g = realloc(buf, cap = cap ? 2 * cap : 131072);
      if (!g) goto io_error;
      buf = g;
    }
    ssize_t r = recv(fd, buf + got, cap - got - 1, 0);
    if (r > 0)
      got += (size_t)r;
    else if (r == 0)
      break;
    else if (errno == EAGAIN && wait_fd(fd, POLLIN, deadline) == 0)
      continue;
    else if (errno != EINTR)
      goto io_error;
  }
  close(fd);
  buf[got] = '\0';
  char *body = strstr(buf, "\r\n\r\n");
  if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 || !body) {
    char *eol = strchr(buf, '\r');
    snprintf(why, why_cap, "%.200s answered: %.*s", u->path,
             eol && eol - buf < 200 ? (int)(eol - buf) : 40, buf);
    free(buf);
    return NULL;
  }
  if (strstr(buf, "\r\ntransfer-encoding: chunked") && strstr(buf, "\r\ncontent-length") == NULL) {
    snprintf(why, why_cap, "chunked answers are not read here");
    free(buf);
    return NULL;
  }
  memmove(buf, body + 4, got - (size_t)(body + 4 - buf) + 1);
  return buf;
io_error:
  snprintf(why, why_cap, "reading %.200s:%s%.200s failed", u->host, u->port, u->path);
  close(fd);
  free(buf);
  return NULL;
}

/* ---- drawing ---- */

static json_object *at(json_object *o, const char *path) {
  char key[64];
  while (o && *path) {
    size_t n = strcspn(path, ".");
    snprintf(key, sizeof key, "%.*s", (int)n, path);
    if (!json_object_object_get_ex(o, key, &o)) return NULL;
    path += n + (path[n] == '.');
  }
  return o;
}
static int64_t num(json_object *o, const char *path) { return json_object_get_int64(at(o, path)); }
static double real(json_object *o, const char *path) { return json_object_get_double(at(o, path)); }
static const char *str(json_object *o, const char *path) {
  json_object *v = at(o, path);
  return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "-";
}

/* connections.by_protocol's count for a protocol name ("http/1.1" has a dot). */
static int64_t by_protocol(json_object *st, const char *name) {
  json_object *o = at(st, "connections.by_protocol"), *v = NULL;
  return o && json_object_object_get_ex(o, name, &v) ? json_object_get_int64(v) : 0;
}

static void human_bytes(char *out, size_t cap, double n) {
  static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (n >= 1024 && i < 4) n /= 1024, i++;
  snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", n, u[i]);
}

static void human_age(char *out, size_t cap, double ms) {
  if (ms < 60000)
    snprintf(out, cap, "%.1fs", ms / 1000);
  else if (ms < 3600000)
    snprintf(out, cap, "%.1fm", ms / 60000);
  else
    snprintf(out, cap, "%.1fh", ms / 3600000);
}

typedef struct screen {
  char *p;
  size_t len, cap;
  int rows, cols, lines;
} screen;

/* One line, cut at the terminal's width, cleared to its end. */
__attribute__((format(printf, 2, 3))) static void line(screen *s, const char *fmt, ...) {
  if (s->lines >= s->rows) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > s->cols) n = s->cols;
  if (n > (int)sizeof buf - 1) n = (int)sizeof buf - 1;
  if (s->len + (size_t)n + 8 > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16384;
    while (cap < s->len + (size_t)n + 8) cap *= 2;
    char *g = realloc(s->p, cap);
    if (!g) return;
    s->p = g, s->cap = cap;
  }
  memcpy(s->p + s->len, buf, (size_t)n);
  s->len += (size_t)n;
  memcpy(s->p + s->len, "\x1b[K\r\n", 5);
  s->len += 5;
  s->lines++;
}

typedef struct prev {
  uint64_t at_ms;
  int64_t requests;
  int have;
} prev;

static void draw_status(screen *s, json_object *st, const char *where, prev *pv) {
  uint64_t now = now_ms();
  int64_t requests = num(st, "requests.total");
  double rate = pv->have && now > pv->at_ms
                    ? (double)(requests - pv->requests) * 1000.0 / (double)(now - pv->at_ms)
                    : 0.0;
  pv->at_ms = now, pv->requests = requests, pv->have = 1;
  json_object *hist = at(st, "history");
  size_t nh = hist ? json_object_array_length(hist) : 0;
  json_object *last = nh ? json_object_array_get_idx(hist, nh - 1) : NULL;
  char up[32], rss[32], in[32], out[32];
  human_age(up, sizeof up, real(st, "uptime_s") * 1000);
  human_bytes(rss, sizeof rss, (double)num(st, "process.rss_bytes"));
  human_bytes(in, sizeof in, (double)num(st, "bytes.in"));
  human_bytes(out, sizeof out, (double)num(st, "bytes.out"));
  line(s, "iridium %s  up %s  %lld workers  %s  (q quits)", str(st, "version"), up,
       (long long)num(st, "workers"), where);
  line(s,
       "connections %lld open (http/1.1 %lld, h2 %lld; tls %lld)  active %lld  idle %lld"
       "  accepted %lld",
       (long long)num(st, "connections.open"), (long long)by_protocol(st, "http/1.1"),
       (long long)by_protocol(st, "h2"), (long long)num(st, "connections.tls"),
       (long long)num(st, "connections.by_state.active"),
       (long long)num(st, "connections.by_state.idle"),
       (long long)num(st, "connections.accepted_total"));
  line(s, "requests %lld  %.1f/s  2xx %lld  3xx %lld  4xx %lld  5xx %lld  streams open %lld",
       (long long)requests, rate, (long long)num(st, "requests.2xx"),
       (long long)num(st, "requests.3xx"), (long long)num(st, "requests.4xx"),
       (long long)num(st, "requests.5xx"), (long long)num(st, "streams_open"));
  line(s, "cpu %.1f%%  rss %s  bytes in %s  out %s", last ? 100 * real(last, "cpu") : 0.0, rss, in,
       out);
  line(s, "%s", "");
  line(s, "%6s %2s %-22s %-9s %-9s %7s %9s %9s  %s", "ID", "W", "PEER", "PROTO", "STATE", "AGE",
       "IN", "OUT", "STREAMS");
  json_object *list = at(st, "connection_list");
  size_t nc = list ? json_object_array_length(list) : 0;
  for (size_t i = 0; i < nc && s->lines < s->rows - 1; i++) {
    json_object *c = json_object_array_get_idx(list, i);
    char age[16], cin[16], cout[16], streams[512] = "";
    human_age(age, sizeof age, (double)num(c, "age_ms"));
    human_bytes(cin, sizeof cin, (double)num(c, "bytes_in"));
    human_bytes(cout, sizeof cout, (double)num(c, "bytes_out"));
    json_object *ss = at(c, "streams");
    size_t n = ss ? json_object_array_length(ss) : 0, used = 0;
    for (size_t k = 0; k < n && used < sizeof streams - 64; k++) {
      json_object *x = json_object_array_get_idx(ss, k);
      json_object *mod = at(x, "module");
      char sage[16];
      human_age(sage, sizeof sage, (double)num(x, "age_ms"));
      used += (size_t)snprintf(
          streams + used, sizeof streams - used, "%s%s %s%s%s%s %s", k ? ", " : "",
          str(x, "method"), str(x, "path"),
          mod && json_object_is_type(mod, json_type_string) ? " (" : "",
          mod && json_object_is_type(mod, json_type_string) ? json_object_get_string(mod) : "",
          mod && json_object_is_type(mod, json_type_string) ? ")" : "", sage);
    }
    line(s, "%6lld %2lld %-22s %-9s %-9s %7s %9s %9s  %s", (long long)num(c, "id"),
         (long long)num(c, "worker"), str(c, "peer"),
         at(c, "protocol") && json_object_is_type(at(c, "protocol"), json_type_string)
             ? str(c, "protocol")
             : "-",
         str(c, "state"), age, cin, cout, streams);
  }
  if (nc > 0 && s->lines >= s->rows - 1) line(s, "... %zu connections listed in all", nc);
}

static void terminal_size(screen *s) {
  struct winsize ws;
  s->rows = 24, s->cols = 80;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
    s->rows = ws.ws_row, s->cols = ws.ws_col;
}

static void restore_tty(void) {
  if (tty_raw) tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
  tty_raw = 0;
  fputs("\x1b[?25h\n", stdout); /* the cursor back */
  fflush(stdout);
}

static void usage(FILE *out) {
  fprintf(out, "usage: iridium top [-c FILE] [-n SECONDS] [URL]\n"
               "  URL      a status route's json, e.g. http://127.0.0.1:8080/status/json;\n"
               "           default: found in FILE (the first status route on the first\n"
               "           cleartext HTTP/1.1 listener)\n"
               "  -c FILE  the configuration to look in (default: the install's)\n"
               "  -n SECS  seconds between reads (default 1)\n"
               "keys: q quits\n");
}

int irh_top_main(int argc, char **argv) {
  const char *config = NULL;
  double interval = 1.0;
  int opt;
  optind = 1;
  while ((opt = getopt(argc, argv, "c:n:h")) != -1) {
    switch (opt) {
    case 'c': config = optarg; break;
    case 'n': interval = atof(optarg); break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind + 1 < argc || interval < 0.1 || interval > 3600) {
    usage(stderr);
    return 2;
  }
  char found[1400];
  const char *target = optind < argc ? argv[optind] : NULL;
  if (!target) {
    char *def = config ? NULL : irh_default_config_path();
    int rc = url_from_config(config ? config : def, found, sizeof found);
    free(def);
    if (rc != 0) return 1;
    target = found;
  }
  url u;
  if (parse_url(target, &u) != 0) {
    fprintf(stderr, "iridium top: '%s' is not an http:// URL\n", target);
    return 2;
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGWINCH, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
    struct termios raw = saved_tty;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0, raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) tty_raw = 1;
  }
  fputs("\x1b[?25l\x1b[2J", stdout); /* no cursor, a clear screen */
  screen s = {0};
  prev pv = {0};
  int keys = 1; /* stdin may still give a q */
  while (!quit) {
    char why[512] = "";
    char *body = fetch(&u, why, sizeof why);
    json_object *st = body ? json_tokener_parse(body) : NULL;
    if (body && !st) snprintf(why, sizeof why, "%.400s: not JSON", u.path);
    free(body);
    terminal_size(&s);
    s.len = 0, s.lines = 0;
    if (st)
      draw_status(&s, st, target, &pv);
    else
      line(&s, "iridium top: %s (trying again every %.1f s; q quits)", why, interval);
    json_object_put(st);
    fputs("\x1b[H", stdout);
    fwrite(s.p, 1, s.len, stdout);
    fputs("\x1b[J", stdout);
    fflush(stdout);
    uint64_t until = now_ms() + (uint64_t)(interval * 1000);
    while (!quit && !resized) { /* keys until the next read */
      uint64_t now = now_ms();
      if (now >= until) break;
      struct pollfd p = {keys ? STDIN_FILENO : -1, POLLIN, 0};
      if (poll(&p, 1, (int)(until - now)) > 0) {
        char k;
        ssize_t n = read(STDIN_FILENO, &k, 1);
        if (n == 1 && (k == 'q' || k == 'Q')) quit = 1;
        if (n == 0) keys = 0; /* stdin ended: only Ctrl-C and signals stop us */
      }
    }
    resized = 0;
  }
  free(s.p);
  restore_tty();
  return 0;
}
