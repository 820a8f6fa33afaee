/* test_config.c — unit tests for core/config.c: a good file becomes the
 * right typed values, each kind of problem gives its "FILE:LINE: message"
 * and NULL, irh_config_check_keys() checks a module's key table, and
 * irh_value_parse() reads every value type. The HTTP/2 [server] keys, the
 * listeners' protocols and TLS keys (with the ALPN order) and the
 * [certificate] sections have their own tests near the end.
 *
 * Each test writes an INI file into a fresh temporary folder and loads it
 * with stderr redirected to a file, so the exact messages can be compared.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char tmpdir[] = "/tmp/iridium-test-config-XXXXXX";
static char ini_path[256];

/* ---- helpers: files and captured stderr ---------------------------------- */

/* Writes text to tmpdir/name and returns its path (static buffer). */
static const char *write_ini(const char *name, const char *text) {
  snprintf(ini_path, sizeof ini_path, "%s/%s", tmpdir, name);
  FILE *f = fopen(ini_path, "w");
  CHECK(f != NULL);
  CHECK(fputs(text, f) >= 0);
  CHECK(fclose(f) == 0);
  return ini_path;
}

static FILE *capture_file;
static int saved_stderr = -1;

static void capture_start(void) {
  fflush(stderr);
  capture_file = tmpfile();
  CHECK(capture_file != NULL);
  saved_stderr = dup(STDERR_FILENO);
  CHECK(saved_stderr >= 0);
  CHECK(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Ends the capture; returns what was written to stderr. Caller frees. */
static char *capture_stop(void) {
  fflush(stderr);
  CHECK(dup2(saved_stderr, STDERR_FILENO) >= 0);
  close(saved_stderr);
  long size = ftell(capture_file);
  CHECK(size >= 0);
  char *text = calloc(1, (size_t)size + 1);
  CHECK(text != NULL);
  rewind(capture_file);
  CHECK(fread(text, 1, (size_t)size, capture_file) == (size_t)size);
  fclose(capture_file);
  return text;
}

/* Loads text as an INI file; *errors gets the stderr output (caller frees). */
static irh_config *load_text(const char *text, char **errors) {
  const char *path = write_ini("test.ini", text);
  capture_start();
  irh_config *c = irh_config_load(path);
  *errors = capture_stop();
  return c;
}

static int count_lines(const char *text) {
  int n = 0;
  for (; *text; text++) n += *text == '\n';
  return n;
}

/* Loading text must fail with exactly one message, "PATH:" + expected. */
static void expect_error_at(int line, const char *text, const char *expected) {
  char *errors, want[1024];
  irh_config *c = load_text(text, &errors);
  snprintf(want, sizeof want, "%s:%s\n", ini_path, expected);
  if (c != NULL || strcmp(errors, want) != 0) {
    fprintf(stderr, "%s:%d: expected the one error\n  %s  got %s\n  %s", __FILE__, line, want,
            c ? "a config and" : "NULL and", errors);
    exit(1);
  }
  free(errors);
}
#define EXPECT_ERROR(text, expected) expect_error_at(__LINE__, text, expected)

/* Loading text must succeed silently. Caller frees the config. */
static irh_config *load_ok_at(int line, const char *text) {
  char *errors;
  irh_config *c = load_text(text, &errors);
  if (c == NULL || errors[0] != '\0') {
    fprintf(stderr, "%s:%d: expected a config, got errors:\n%s", __FILE__, line, errors);
    exit(1);
  }
  free(errors);
  return c;
}
#define LOAD_OK(text) load_ok_at(__LINE__, text)

/* tmpdir + "/" + rest, into a static buffer, for comparing resolved paths. */
static const char *in_tmp(const char *rest) {
  static char buf[512];
  snprintf(buf, sizeof buf, "%s/%s", tmpdir, rest);
  return buf;
}

static int port_of(const irh_listen_cfg *l) {
  if (l->addr.ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
  return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
}

static const char *host_of(const irh_listen_cfg *l, char *buf, size_t size) {
  const void *a = l->addr.ss_family == AF_INET6
                      ? (const void *)&((const struct sockaddr_in6 *)&l->addr)->sin6_addr
                      : (const void *)&((const struct sockaddr_in *)&l->addr)->sin_addr;
  return inet_ntop(l->addr.ss_family, a, buf, (socklen_t)size);
}

/* ---- a good file ---------------------------------------------------------- */

static const char good_ini[] = "; a full configuration\n"         /* 1 */
                               "[server]\n"                       /* 2 */
                               "workers = 3\n"                    /* 3 */
                               "modules_dir = mods\n"             /* 4 */
                               "error_log = stderr\n"             /* 5 */
                               "access_log = logs/access.log\n"   /* 6 */
                               "log_level = warn\n"               /* 7 */
                               "max_connections = 500\n"          /* 8 */
                               "max_header_size = 16k\n"          /* 9 */
                               "max_header_count = 50\n"          /* 10 */
                               "max_uri_length = 4kb\n"           /* 11 */
                               "max_body_size = 2M\n"             /* 12 */
                               "keepalive_requests = 7\n"         /* 13 */
                               "header_timeout = 1500ms\n"        /* 14 */
                               "body_timeout = 2m\n"              /* 15 */
                               "keepalive_timeout = 5\n"          /* 16 */
                               "write_timeout = 1h\n"             /* 17 */
                               "shutdown_timeout = 3s\n"          /* 18 */
                               "\n"                               /* 19 */
                               "[listen 127.0.0.1:8080]\n"        /* 20 */
                               "backlog = 64\n"                   /* 21 */
                               "[listen [::1]:8443] ; loopback\n" /* 22 */
                               "protocols = HTTP/1.1,\n"          /* 23 */
                               "[listen *:9000]\n"                /* 24 */
                               "  [module hello]\n"               /* 25 */
                               "[module static]\n"                /* 26 */
                               "path = /opt/static.so\n"          /* 27 */
                               "[module other]\n"                 /* 28 */
                               "path: sub/other.so\n"             /* 29 */
                               "# routes\n"                       /* 30 */
                               "[route /]\n"                      /* 31 */
                               "module = static\n"                /* 32 */
                               "root = /var/www\n"                /* 33 */
                               "[route /]\n"                      /* 34 */
                               "host = example.com\n"             /* 35 */
                               "module = hello\n"                 /* 36 */
                               "[route /hello]\n"                 /* 37 */
                               "  module = hello\n"               /* 38 */
                               "  greeting = hi there ; said\n";  /* 39 */

static void test_good_file(void) {
  irh_config *c = LOAD_OK(good_ini);
  char host[INET6_ADDRSTRLEN];

  CHECK(strcmp(c->dir, tmpdir) == 0);
  CHECK(c->workers == 3);
  CHECK(strcmp(c->modules_dir, in_tmp("mods")) == 0);
  CHECK(strcmp(c->error_log, "stderr") == 0);
  CHECK(strcmp(c->access_log, in_tmp("logs/access.log")) == 0);
  CHECK(c->log_level == IR_LOG_WARN);
  CHECK(c->max_connections == 500);
  CHECK(c->max_header_size == 16 * 1024);
  CHECK(c->max_header_count == 50);
  CHECK(c->max_uri_length == 4 * 1024);
  CHECK(c->max_body_size == 2 * 1024 * 1024);
  CHECK(c->keepalive_requests == 7);
  CHECK(c->header_timeout_ms == 1500);
  CHECK(c->body_timeout_ms == 120000);
  CHECK(c->keepalive_timeout_ms == 5000);
  CHECK(c->write_timeout_ms == 3600000);
  CHECK(c->shutdown_timeout_ms == 3000);

  CHECK(c->nsections == 10);
  CHECK(c->nlistens == 3);
  CHECK(c->listens[0].addr.ss_family == AF_INET);
  CHECK(c->listens[0].addrlen == sizeof(struct sockaddr_in));
  CHECK(strcmp(host_of(&c->listens[0], host, sizeof host), "127.0.0.1") == 0);
  CHECK(port_of(&c->listens[0]) == 8080);
  CHECK(c->listens[0].backlog == 64);
  CHECK(c->listens[0].protocols == (IRH_PROTO_HTTP1 | IRH_PROTO_H2C));
  CHECK(c->listens[0].tls == 0 && c->listens[0].nalpn == 0);
  CHECK(c->listens[0].section->line == 20);
  CHECK(c->listens[1].addr.ss_family == AF_INET6);
  CHECK(c->listens[1].addrlen == sizeof(struct sockaddr_in6));
  CHECK(strcmp(host_of(&c->listens[1], host, sizeof host), "::1") == 0);
  CHECK(port_of(&c->listens[1]) == 8443);
  CHECK(c->listens[1].backlog == 511);
  CHECK(c->listens[1].protocols == IRH_PROTO_HTTP1);
  CHECK(strcmp(host_of(&c->listens[2], host, sizeof host), "0.0.0.0") == 0);
  CHECK(port_of(&c->listens[2]) == 9000);

  CHECK(c->nmodules == 3);
  CHECK(strcmp(c->modules[0].name, "hello") == 0);
  CHECK(c->modules[0].section->nkvs == 0); /* a header alone is a section */
  CHECK(c->modules[0].section->line == 25);
  CHECK(strcmp(c->modules[0].path, in_tmp("mods/hello.so")) == 0);
  CHECK(strcmp(c->modules[1].path, "/opt/static.so") == 0);
  CHECK(strcmp(c->modules[2].path, in_tmp("mods/sub/other.so")) == 0);

  CHECK(c->nroutes == 3); /* two [route /] with different hosts are fine */
  CHECK(strcmp(c->routes[0].prefix, "/") == 0);
  CHECK(c->routes[0].host == NULL);
  CHECK(strcmp(c->routes[0].module, "static") == 0);
  CHECK(c->routes[0].section->line == 31);
  CHECK(strcmp(c->routes[1].prefix, "/") == 0);
  CHECK(strcmp(c->routes[1].host, "example.com") == 0);
  CHECK(strcmp(c->routes[1].module, "hello") == 0);
  CHECK(c->routes[1].section != c->routes[0].section);
  CHECK(strcmp(c->routes[2].prefix, "/hello") == 0);

  /* Module keys are kept, with their lines, for module.c. */
  const irh_kv *root = irh_section_find(c->routes[0].section, "root");
  CHECK(root && strcmp(root->value, "/var/www") == 0 && root->line == 33);
  const irh_kv *greeting = irh_section_find(c->routes[2].section, "greeting");
  CHECK(greeting && strcmp(greeting->value, "hi there") == 0 && greeting->line == 39);
  CHECK(irh_section_find(c->routes[2].section, "nope") == NULL);
  irh_config_free(c);
}

static void test_defaults(void) {
  irh_config *c = LOAD_OK("\xEF\xBB\xBF[listen *:80]\r\n");
  CHECK(c->workers >= 1 && c->workers <= 256);
  /* beside the binary: BINDIR/../lib/iridium/modules (paths.c) */
  char exe[4096], want[4200];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  CHECK(n > 0);
  exe[n] = '\0';
  *strrchr(exe, '/') = '\0';
  snprintf(want, sizeof want, "%s/../lib/iridium/modules", exe);
  CHECK(strcmp(c->modules_dir, want) == 0);
  CHECK(strcmp(c->error_log, "stderr") == 0);
  CHECK(strcmp(c->access_log, "off") == 0);
  CHECK(c->log_level == IR_LOG_INFO);
  CHECK(c->max_connections == 10000);
  CHECK(c->max_header_size == 32 * 1024);
  CHECK(c->max_header_count == 100);
  CHECK(c->max_uri_length == 8 * 1024);
  CHECK(c->max_body_size == 1024 * 1024);
  CHECK(c->keepalive_requests == 1000);
  CHECK(c->header_timeout_ms == 30000);
  CHECK(c->body_timeout_ms == 60000);
  CHECK(c->keepalive_timeout_ms == 75000);
  CHECK(c->write_timeout_ms == 60000);
  CHECK(c->shutdown_timeout_ms == 10000);
  CHECK(c->max_queued_output == 1024 * 1024);
  CHECK(c->h2_max_concurrent_streams == 128);
  CHECK(c->h2_initial_window_size == 256 * 1024);
  CHECK(c->h2_max_frame_size == 16 * 1024);
  CHECK(c->h2_max_continuations == 8);
  CHECK(c->h2_reset_burst == 1000);
  CHECK(c->h2_reset_rate == 33);
  CHECK(c->h2_flood_limit == 200);
  CHECK(c->h2_stream_idle_timeout_ms == 30000);
  CHECK(c->h2_ping_timeout_ms == 10000);
  CHECK(c->h2_min_send_rate == 240 && c->h2_min_send_rate_grace_ms == 5000);
  CHECK(c->h2_max_file_bodies == 16);
  CHECK(c->nlistens == 1 && c->listens[0].backlog == 511);
  CHECK(c->listens[0].protocols == (IRH_PROTO_HTTP1 | IRH_PROTO_H2C));
  CHECK(c->listens[0].tls == 0 && c->listens[0].nalpn == 0);
  CHECK(c->nmodules == 0 && c->nroutes == 0 && c->ncerts == 0);
  irh_config_free(c);
}

static void test_module_without_keys(void) {
  irh_config *c = LOAD_OK("[listen *:80]\n[module hello]\n");
  CHECK(c->nsections == 2 && c->nmodules == 1);
  CHECK(strcmp(c->modules[0].name, "hello") == 0);
  char want[4200];
  snprintf(want, sizeof want, "%s/hello.so", c->modules_dir); /* the default folder's */
  CHECK(strcmp(c->modules[0].path, want) == 0);
  irh_config_free(c);
}

static void test_workers_zero_means_cpus(void) {
  irh_config *c = LOAD_OK("[server]\nworkers = 0\n[listen *:80]\n");
  CHECK(c->workers >= 1 && c->workers <= 256);
  CHECK(c->workers <= (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
  irh_config_free(c);
}

/* A line of exactly the longest allowed length is fine. */
static void test_longest_line(void) {
  char text[512], value[256];
  memset(value, 'x', 199 - strlen("greeting = "));
  value[199 - strlen("greeting = ")] = '\0';
  snprintf(text, sizeof text, "[listen *:80]\n[module m]\n[route /]\nmodule = m\ngreeting = %s\n",
           value);
  irh_config *c = LOAD_OK(text);
  CHECK(strlen(irh_section_find(c->routes[0].section, "greeting")->value) == strlen(value));
  irh_config_free(c);
}

/* ---- one error each ------------------------------------------------------- */

static void test_structure_errors(void) {
  EXPECT_ERROR("[listen *:80]\n[location /]\nroot = x\n", "2: unknown section [location /]");
  EXPECT_ERROR("[listen *:80]\n[]\n", "2: unknown section []");
  EXPECT_ERROR("workers = 2\n[listen *:80]\n", "1: key 'workers' is outside any section");
  EXPECT_ERROR("[server]\n", " no [listen] section");
  EXPECT_ERROR("", " no [listen] section");
  EXPECT_ERROR("[server]\n[listen *:80]\n[server]\n",
               "3: duplicate [server] section (first at line 1)");
  EXPECT_ERROR("[server main]\n[listen *:80]\n", "1: [server] takes no argument (found 'main')");
  EXPECT_ERROR("[listen *:80] x\n", "1: unexpected text 'x' after section header");
  EXPECT_ERROR("[listen *:80]\n[module hello]\npath = a.so\npath = b.so\n",
               "4: duplicate key 'path' in [module hello] (first at line 3)");
}

static void test_syntax_errors(void) {
  EXPECT_ERROR("[listen *:80]\nthis is not a key\n", "2: syntax error");
  EXPECT_ERROR("[listen *:80]\n= value\n", "2: syntax error");
  /* A header without ']' and the keys under it are skipped. */
  EXPECT_ERROR("[listen *:80]\n[route /a\nmodule = x\n", "2: syntax error");

  char *errors, want[1024];
  irh_config *c = load_text("[listen *:80]\n[route /a\nnot a key\n", &errors);
  snprintf(want, sizeof want, "%s:2: syntax error\n%s:3: syntax error\n", ini_path, ini_path);
  CHECK(c == NULL);
  CHECK(strcmp(errors, want) == 0);
  free(errors);

  c = load_text("[listen *:80]\nfirst\n; fine\nsecond\n", &errors);
  snprintf(want, sizeof want, "%s:2: syntax error\n%s:4: syntax error\n", ini_path, ini_path);
  CHECK(c == NULL);
  CHECK(strcmp(errors, want) == 0);
  free(errors);
}

static void test_line_too_long(void) {
  char text[512], value[256];
  memset(value, 'x', 200 - strlen("greeting = "));
  value[200 - strlen("greeting = ")] = '\0';
  snprintf(text, sizeof text, "[listen *:80]\n[module m]\n[route /]\nmodule = m\ngreeting = %s\n",
           value);
  EXPECT_ERROR(text, "5: line too long (max 199 characters)");
}

static void test_server_values(void) {
  EXPECT_ERROR("[server]\nworkerz = 2\n[listen *:80]\n",
               "2: unknown key 'workerz' in [server] (did you mean 'workers'?)");
  EXPECT_ERROR("[server]\nflavour = 2\n[listen *:80]\n", "2: unknown key 'flavour' in [server]");
  EXPECT_ERROR("[server]\nworkers = abc\n[listen *:80]\n",
               "2: bad value 'abc' for key 'workers' (expected an integer)");
  EXPECT_ERROR("[server]\nworkers = 300\n[listen *:80]\n",
               "2: bad value '300' for key 'workers' (expected 0 to 256)");
  EXPECT_ERROR("[server]\nworkers = -1\n[listen *:80]\n",
               "2: bad value '-1' for key 'workers' (expected 0 to 256)");
  EXPECT_ERROR("[server]\nmax_body_size = 10x\n[listen *:80]\n",
               "2: bad value '10x' for key 'max_body_size' (expected a size such as 512, 64k, 1m "
               "or 2g)");
  EXPECT_ERROR("[server]\nheader_timeout = 5d\n[listen *:80]\n",
               "2: bad value '5d' for key 'header_timeout' (expected a duration such as 500ms, "
               "30s, 5m or 1h)");
  EXPECT_ERROR("[server]\nmax_connections = 0\n[listen *:80]\n",
               "2: bad value '0' for key 'max_connections' (expected at least 1)");
  EXPECT_ERROR("[server]\nlog_level = verbose\n[listen *:80]\n",
               "2: bad value 'verbose' for key 'log_level' (expected debug, info, warn or error)");
  EXPECT_ERROR("[server]\nmodules_dir =\n[listen *:80]\n",
               "2: bad value '' for key 'modules_dir' (expected a path)");
}

static void test_listen_errors(void) {
  static const char *const bad[] = {"localhost:80", "1.2.3.4", "1.2.3.4:0", "1.2.3.4:65536",
                                    "1.2.3.4:8a",   "[::1]80", "[zz]:80",   "::1:80",
                                    "1.2.3:80",     "*:",      ":80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[128], want[256];
    snprintf(text, sizeof text, "[listen %s]\n", bad[i]);
    snprintf(want, sizeof want,
             "1: bad listen address '%s' (expected IPv4:PORT, [IPv6]:PORT or *:PORT with a port "
             "from 1 to 65535)",
             bad[i]);
    EXPECT_ERROR(text, want);
  }
  EXPECT_ERROR("[listen]\n", "1: [listen] needs an address, e.g. [listen 127.0.0.1:8080]");
  EXPECT_ERROR("[listen *:80]\n[listen 0.0.0.0:80]\n",
               "2: duplicate listen address 0.0.0.0:80 (first at line 1)");
  EXPECT_ERROR("[listen *:80]\nprotocols = http/1.1, gopher\n",
               "2: unknown protocol 'gopher' in protocols (known: http/1.1, h2c, h2)");
  EXPECT_ERROR("[listen *:80]\nprotocols = ,\n",
               "2: bad value ',' for key 'protocols' (expected a list of protocols from http/1.1, "
               "h2c, h2)");
  EXPECT_ERROR("[listen *:80]\nbacklog = 0\n",
               "2: bad value '0' for key 'backlog' (expected 1 to 65535)");
  EXPECT_ERROR("[listen *:80]\nbacklg = 5\n",
               "2: unknown key 'backlg' in [listen *:80] (did you mean 'backlog'?)");
}

static void test_module_errors(void) {
  EXPECT_ERROR("[listen *:80]\n[module]\n", "2: [module] needs a name, e.g. [module hello]");
  EXPECT_ERROR("[listen *:80]\n[module a/b]\n",
               "2: bad module name 'a/b' (use letters, digits, '_' and '-')");
  EXPECT_ERROR("[listen *:80]\n[module a]\n[module a]\n",
               "3: duplicate [module a] (first at line 2)");
  EXPECT_ERROR("[listen *:80]\n[module a]\npaht = a.so\n",
               "3: unknown key 'paht' in [module a] (did you mean 'path'?)");
}

static void test_route_errors(void) {
  EXPECT_ERROR("[listen *:80]\n[route /hello]\nhost = x\n",
               "2: [route /hello] missing required key 'module'");
  EXPECT_ERROR("[listen *:80]\n[route /x]\nmodule = X\n",
               "3: route /x: module 'X' is not loaded (add a [module X] section)");
  EXPECT_ERROR("[listen *:80]\n[module m]\n[route hello]\nmodule = m\n",
               "3: bad route prefix 'hello' (must start with '/')");
  EXPECT_ERROR("[listen *:80]\n[module m]\n[route]\nmodule = m\n",
               "3: [route] needs a path prefix, e.g. [route /]");
  EXPECT_ERROR("[listen *:80]\n[module m]\n[route /a]\nmodule = m\n[route /a]\nmodule = m\n",
               "5: duplicate route * /a (first at line 3)");
  EXPECT_ERROR("[listen *:80]\n[module m]\n[route /a]\nmodule = m\n"
               "[route /a]\nhost = *\nmodule = m\n",
               "5: duplicate route * /a (first at line 3)");
  EXPECT_ERROR("[listen *:80]\n[module m]\n[route /a]\nmodule = m\nhost = A.example\n"
               "[route /a]\nhost = a.example\nmodule = m\n",
               "6: duplicate route a.example /a (first at line 3)");
  EXPECT_ERROR("[listen *:80]\n[module m]\n[route /a]\nmodule = m\nmodule = m\n",
               "5: duplicate key 'module' in [route /a] (first at line 4)");
}

static void test_cannot_open(void) {
  char path[600], want[700];
  snprintf(path, sizeof path, "%s/missing.ini", tmpdir);
  capture_start();
  irh_config *c = irh_config_load(path);
  char *errors = capture_stop();
  snprintf(want, sizeof want, "%s: cannot open: No such file or directory\n", path);
  CHECK(c == NULL);
  CHECK(strcmp(errors, want) == 0);
  free(errors);
}

/* Every problem is reported, not only the first. */
static void test_all_problems_reported(void) {
  char *errors;
  irh_config *c = load_text("[server]\n"
                            "workers = many\n"
                            "log_level = loud\n"
                            "[listen nowhere]\n"
                            "[route /x]\n"
                            "oops\n",
                            &errors);
  CHECK(c == NULL);
  CHECK(count_lines(errors) == 5);
  CHECK(strstr(errors, ":6: syntax error\n"));
  CHECK(strstr(errors, ":2: bad value 'many' for key 'workers'"));
  CHECK(strstr(errors, ":3: bad value 'loud' for key 'log_level'"));
  CHECK(strstr(errors, ":4: bad listen address 'nowhere'"));
  CHECK(strstr(errors, ":5: [route /x] missing required key 'module'\n"));
  free(errors);
}

/* irh_config_read hands back a config with problems, holding only the
 * entries that passed, so module key checks can follow in the same run. */
static void test_read_keeps_going(void) {
  const char *path = write_ini("test.ini", "[server]\n"
                                           "max_conections = 5\n"
                                           "[listen *:80]\n"
                                           "[listen bad]\n"
                                           "[module hello]\n"
                                           "[module a/b]\n"
                                           "[route /hello]\n"
                                           "module = hello\n"
                                           "greting = x\n"
                                           "[route /x]\n"
                                           "module = nothere\n");
  capture_start();
  irh_config *c = irh_config_read(path);
  char *errors = capture_stop();
  CHECK(c != NULL);
  CHECK(c->errors == 4 && count_lines(errors) == 4);
  CHECK(c->nlistens == 1 && c->nmodules == 1 && c->nroutes == 1);
  CHECK(strcmp(c->routes[0].prefix, "/hello") == 0);
  free(errors);

  static const ir_config_key keys[] = {
      {sizeof(ir_config_key), IR_KEY_STRING, "greeting", "hello", 0, NULL},
      {sizeof(ir_config_key), 0, NULL, NULL, 0, NULL}};
  static const char *const own[] = {"module", "host", NULL};
  capture_start();
  CHECK(irh_config_check_keys(c, c->routes[0].section, keys, "module hello", own) == 1);
  errors = capture_stop();
  CHECK(strstr(errors, ":9: unknown key 'greting' in [route /hello] (did you mean 'greeting'?)"));
  CHECK(c->errors == 5);
  free(errors);
  irh_config_free(c);

  /* A file that cannot be read gives NULL. */
  char missing[300];
  snprintf(missing, sizeof missing, "%s/missing.ini", tmpdir);
  capture_start();
  c = irh_config_read(missing);
  errors = capture_stop();
  CHECK(c == NULL && count_lines(errors) == 1);
  free(errors);
}

/* ---- irh_config_check_keys with a module's table -------------------------- */

static const ir_config_key hello_keys[] = {
    {sizeof(ir_config_key), IR_KEY_STRING, "greeting", "hello", 0, "what to say"},
    {sizeof(ir_config_key), IR_KEY_INT, "count", "1", 0, NULL},
    {sizeof(ir_config_key), IR_KEY_BOOL, "loud", "off", 0, NULL},
    {sizeof(ir_config_key), IR_KEY_SIZE, "buffer", "4k", 0, NULL},
    {sizeof(ir_config_key), IR_KEY_DURATION, "ttl", "1s", 0, NULL},
    {sizeof(ir_config_key), IR_KEY_PATH, "root", NULL, 1, "document root"},
    {sizeof(ir_config_key), IR_KEY_STRING, "lang", NULL, 1, NULL},
    {sizeof(ir_config_key), 0, NULL, NULL, 0, NULL}};

static const char *const route_keys[] = {"module", "host", NULL};

static void test_check_keys(void) {
  irh_config *c = LOAD_OK("[listen *:80]\n"  /* 1 */
                          "[module hello]\n" /* 2 */
                          "[route /hello]\n" /* 3 */
                          "module = hello\n" /* 4 */
                          "greting = hi\n"   /* 5 */
                          "count = abc\n"    /* 6 */
                          "loud = maybe\n"   /* 7 */
                          "buffer = 1t\n"    /* 8 */
                          "ttl = soon\n"     /* 9 */
                          "modul = x\n"      /* 10 */
                          "zzzzzz = 1\n"     /* 11 */
                          "[route /ok]\n"    /* 12 */
                          "module = hello\n" /* 13 */
                          "root = www\n"     /* 14 */
                          "lang = en\n"      /* 15 */
                          "loud = YES\n"     /* 16 */
                          "buffer = 64kB\n"  /* 17 */
                          "ttl = 250ms\n");  /* 18 */
  char want[8192];
  const char *p = ini_path;

  capture_start();
  int n = irh_config_check_keys(c, c->routes[0].section, hello_keys, "module hello", route_keys);
  char *errors = capture_stop();
  snprintf(want, sizeof want,
           "%s:5: unknown key 'greting' in [route /hello] (did you mean 'greeting'?)\n"
           "%s:6: bad value 'abc' for key 'count' (expected an integer)\n"
           "%s:7: bad value 'maybe' for key 'loud' (expected on/off, yes/no, true/false or 1/0)\n"
           "%s:8: bad value '1t' for key 'buffer' (expected a size such as 512, 64k, 1m or 2g)\n"
           "%s:9: bad value 'soon' for key 'ttl' (expected a duration such as 500ms, 30s, 5m or "
           "1h)\n"
           "%s:10: unknown key 'modul' in [route /hello] (did you mean 'module'?)\n"
           "%s:11: unknown key 'zzzzzz' in [route /hello] (module hello has no such key)\n"
           "%s:3: [route /hello] missing required key 'root' (module hello: document root)\n"
           "%s:3: [route /hello] missing required key 'lang' (module hello)\n",
           p, p, p, p, p, p, p, p, p);
  if (strcmp(errors, want) != 0) fprintf(stderr, "got:\n%swant:\n%s", errors, want);
  CHECK(strcmp(errors, want) == 0);
  CHECK(n == 9);
  CHECK(c->errors == 9);
  free(errors);

  capture_start();
  n = irh_config_check_keys(c, c->routes[1].section, hello_keys, "module hello", route_keys);
  errors = capture_stop();
  CHECK(n == 0 && errors[0] == '\0');
  free(errors);
  irh_config_free(c);
}

/* A table from an older SDK whose entries stop before required and help:
 * it is walked by its own struct_size and nothing in it is required. */
typedef struct old_key {
  uint32_t struct_size;
  uint32_t type;
  const char *name;
  const char *default_value;
} old_key;

static void test_check_keys_old_table(void) {
  static const old_key old[] = {{sizeof(old_key), IR_KEY_INT, "count", "1"},
                                {sizeof(old_key), IR_KEY_BOOL, "loud", NULL},
                                {sizeof(old_key), 0, NULL, NULL}};
  irh_config *c = LOAD_OK("[listen *:80]\n[module m]\n[route /]\nmodule = m\nloud = 2\n");
  capture_start();
  int n = irh_config_check_keys(c, c->routes[0].section, (const ir_config_key *)(const void *)old,
                                "module m", route_keys);
  char *errors = capture_stop();
  CHECK(n == 1);
  CHECK(strstr(errors, ":5: bad value '2' for key 'loud' (expected on/off"));
  CHECK(count_lines(errors) == 1);
  free(errors);

  /* No table at all: every key is unknown. */
  capture_start();
  n = irh_config_check_keys(c, c->routes[0].section, NULL, "module m", route_keys);
  errors = capture_stop();
  CHECK(n == 1);
  CHECK(strstr(errors, ":5: unknown key 'loud' in [route /] (module m has no such key)\n"));
  free(errors);
  irh_config_free(c);
}

/* ---- irh_value_parse and irh_config_resolve -------------------------------- */

typedef struct value_case {
  int type;
  const char *text;
  int rc;
  int64_t value;
} value_case;

static const value_case value_cases[] = {
    {IR_KEY_STRING, "anything at all", IR_OK, -7},
    {IR_KEY_PATH, "", IR_OK, -7},
    {IR_KEY_INT, "0", IR_OK, 0},
    {IR_KEY_INT, "42", IR_OK, 42},
    {IR_KEY_INT, "-42", IR_OK, -42},
    {IR_KEY_INT, "+7", IR_OK, 7},
    {IR_KEY_INT, "9223372036854775807", IR_OK, INT64_MAX},
    {IR_KEY_INT, "-9223372036854775808", IR_OK, INT64_MIN},
    {IR_KEY_INT, "9223372036854775808", IR_EINVAL, 0},
    {IR_KEY_INT, "", IR_EINVAL, 0},
    {IR_KEY_INT, " 1", IR_EINVAL, 0},
    {IR_KEY_INT, "1 ", IR_EINVAL, 0},
    {IR_KEY_INT, "12abc", IR_EINVAL, 0},
    {IR_KEY_INT, "-", IR_EINVAL, 0},
    {IR_KEY_INT, "0x10", IR_EINVAL, 0},
    {IR_KEY_BOOL, "on", IR_OK, 1},
    {IR_KEY_BOOL, "YES", IR_OK, 1},
    {IR_KEY_BOOL, "True", IR_OK, 1},
    {IR_KEY_BOOL, "1", IR_OK, 1},
    {IR_KEY_BOOL, "off", IR_OK, 0},
    {IR_KEY_BOOL, "No", IR_OK, 0},
    {IR_KEY_BOOL, "false", IR_OK, 0},
    {IR_KEY_BOOL, "0", IR_OK, 0},
    {IR_KEY_BOOL, "2", IR_EINVAL, 0},
    {IR_KEY_BOOL, "", IR_EINVAL, 0},
    {IR_KEY_BOOL, "onn", IR_EINVAL, 0},
    {IR_KEY_SIZE, "0", IR_OK, 0},
    {IR_KEY_SIZE, "512", IR_OK, 512},
    {IR_KEY_SIZE, "512b", IR_OK, 512},
    {IR_KEY_SIZE, "64k", IR_OK, 65536},
    {IR_KEY_SIZE, "64KB", IR_OK, 65536},
    {IR_KEY_SIZE, "1m", IR_OK, 1048576},
    {IR_KEY_SIZE, "1Mb", IR_OK, 1048576},
    {IR_KEY_SIZE, "2g", IR_OK, INT64_C(2147483648)},
    {IR_KEY_SIZE, "8589934591g", IR_OK, INT64_C(8589934591) << 30},
    {IR_KEY_SIZE, "8589934592g", IR_EINVAL, 0},
    {IR_KEY_SIZE, "99999999999999999999", IR_EINVAL, 0},
    {IR_KEY_SIZE, "", IR_EINVAL, 0},
    {IR_KEY_SIZE, "k", IR_EINVAL, 0},
    {IR_KEY_SIZE, "-1", IR_EINVAL, 0},
    {IR_KEY_SIZE, "1t", IR_EINVAL, 0},
    {IR_KEY_SIZE, "1kk", IR_EINVAL, 0},
    {IR_KEY_SIZE, "1 k", IR_EINVAL, 0},
    {IR_KEY_SIZE, "1.5m", IR_EINVAL, 0},
    {IR_KEY_DURATION, "30", IR_OK, 30000},
    {IR_KEY_DURATION, "30s", IR_OK, 30000},
    {IR_KEY_DURATION, "250ms", IR_OK, 250},
    {IR_KEY_DURATION, "250MS", IR_OK, 250},
    {IR_KEY_DURATION, "5m", IR_OK, 300000},
    {IR_KEY_DURATION, "2h", IR_OK, 7200000},
    {IR_KEY_DURATION, "0", IR_OK, 0},
    {IR_KEY_DURATION, "9223372036854775807ms", IR_OK, INT64_MAX},
    {IR_KEY_DURATION, "9223372036854775807s", IR_EINVAL, 0},
    {IR_KEY_DURATION, "5d", IR_EINVAL, 0},
    {IR_KEY_DURATION, "s", IR_EINVAL, 0},
    {IR_KEY_DURATION, "", IR_EINVAL, 0},
    {IR_KEY_DURATION, "-5s", IR_EINVAL, 0},
    {IR_KEY_DURATION, "5 s", IR_EINVAL, 0},
    {IR_KEY_DURATION, "1.5s", IR_EINVAL, 0},
    {0, "1", IR_EINVAL, 0},
    {99, "1", IR_EINVAL, 0},
};

static void test_value_parse(void) {
  for (size_t i = 0; i < sizeof value_cases / sizeof value_cases[0]; i++) {
    const value_case *vc = &value_cases[i];
    int64_t out = -7;
    int rc = irh_value_parse(vc->type, vc->text, &out);
    if (rc != vc->rc || (rc == IR_OK && out != vc->value)) {
      fprintf(stderr, "%s:%d: irh_value_parse(%d, \"%s\") gave %d, %lld\n", __FILE__, __LINE__,
              vc->type, vc->text, rc, (long long)out);
      exit(1);
    }
  }
  CHECK(irh_value_parse(IR_KEY_INT, "5", NULL) == IR_OK);
  CHECK(irh_value_parse(IR_KEY_INT, "x", NULL) == IR_EINVAL);
}

static void test_resolve(void) {
  irh_config c = {.path = "conf/iridium.ini", .dir = "conf"};
  char *p = irh_config_resolve(&c, "mods");
  CHECK(strcmp(p, "conf/mods") == 0);
  free(p);
  p = irh_config_resolve(&c, "/abs/mods");
  CHECK(strcmp(p, "/abs/mods") == 0);
  free(p);
  c.dir = ".";
  p = irh_config_resolve(&c, "mods");
  CHECK(strcmp(p, "mods") == 0);
  free(p);
  c.dir = "/";
  p = irh_config_resolve(&c, "mods");
  CHECK(strcmp(p, "/mods") == 0);
  free(p);
}

/* The config's folder comes from the path as given. */
static void test_relative_path(void) {
  char cwd[512];
  CHECK(getcwd(cwd, sizeof cwd) != NULL);
  write_ini("rel.ini", "[server]\nmodules_dir = m\n[listen *:80]\n[module x]\n");
  CHECK(chdir(tmpdir) == 0);
  irh_config *c = irh_config_load("rel.ini");
  CHECK(c != NULL);
  CHECK(strcmp(c->dir, ".") == 0);
  CHECK(strcmp(c->modules_dir, "m") == 0);
  CHECK(strcmp(c->modules[0].path, "m/x.so") == 0);
  irh_config_free(c);
  CHECK(chdir(cwd) == 0);
}

/* ---- [server] HTTP/2 keys ------------------------------------------------- */

static void test_h2_server_keys(void) {
  irh_config *c = LOAD_OK("[server]\n"
                          "max_queued_output = 64k\n"
                          "h2_max_concurrent_streams = 2147483647\n"
                          "h2_initial_window_size = 2147483647\n"
                          "h2_max_frame_size = 16777215\n"
                          "h2_max_continuations = 1\n"
                          "h2_reset_burst = 5\n"
                          "h2_reset_rate = 2\n"
                          "h2_flood_limit = 1000\n"
                          "h2_stream_idle_timeout = 1500ms\n"
                          "h2_ping_timeout = 2m\n"
                          "[listen *:80]\n");
  CHECK(c->max_queued_output == 64 * 1024);
  CHECK(c->h2_max_concurrent_streams == 2147483647u);
  CHECK(c->h2_initial_window_size == 2147483647u);
  CHECK(c->h2_max_frame_size == 16777215);
  CHECK(c->h2_max_continuations == 1);
  CHECK(c->h2_reset_burst == 5);
  CHECK(c->h2_reset_rate == 2);
  CHECK(c->h2_flood_limit == 1000);
  CHECK(c->h2_stream_idle_timeout_ms == 1500);
  CHECK(c->h2_ping_timeout_ms == 120000);
  irh_config_free(c);

  /* The lower ends of the ranges. */
  c = LOAD_OK("[server]\nh2_max_frame_size = 16k\nh2_initial_window_size = 1\n"
              "h2_max_concurrent_streams = 1\n[listen *:80]\n");
  CHECK(c->h2_max_frame_size == 16384 && c->h2_initial_window_size == 1);
  CHECK(c->h2_max_concurrent_streams == 1);
  irh_config_free(c);
}

/* One bad [server] value: the whole message. */
static void expect_server_value_at(int line, const char *key, const char *value,
                                   const char *expected) {
  char text[256], want[512];
  snprintf(text, sizeof text, "[server]\n%s = %s\n[listen *:80]\n", key, value);
  snprintf(want, sizeof want, "2: bad value '%s' for key '%s' (expected %s)", value, key, expected);
  expect_error_at(line, text, want);
}
#define EXPECT_SERVER_VALUE(key, value, expected)                                                  \
  expect_server_value_at(__LINE__, key, value, expected)

static void test_h2_server_errors(void) {
  static const char int31[] = "1 to 2147483647", frame[] = "16384 to 16777215",
                    one[] = "at least 1";
  static const char size[] = "a size such as 512, 64k, 1m or 2g";
  static const char duration[] = "a duration such as 500ms, 30s, 5m or 1h";
  EXPECT_SERVER_VALUE("max_queued_output", "0", one);
  EXPECT_SERVER_VALUE("max_queued_output", "lots", size);
  EXPECT_SERVER_VALUE("h2_max_concurrent_streams", "0", int31);
  EXPECT_SERVER_VALUE("h2_max_concurrent_streams", "2147483648", int31);
  EXPECT_SERVER_VALUE("h2_max_concurrent_streams", "-1", int31);
  EXPECT_SERVER_VALUE("h2_max_concurrent_streams", "1k", "an integer");
  EXPECT_SERVER_VALUE("h2_initial_window_size", "0", int31);
  EXPECT_SERVER_VALUE("h2_initial_window_size", "2g", int31);
  EXPECT_SERVER_VALUE("h2_max_frame_size", "16383", frame);
  EXPECT_SERVER_VALUE("h2_max_frame_size", "16m", frame);
  EXPECT_SERVER_VALUE("h2_max_frame_size", "1.5k", size);
  EXPECT_SERVER_VALUE("h2_max_continuations", "0", one);
  EXPECT_SERVER_VALUE("h2_reset_burst", "0", one);
  EXPECT_SERVER_VALUE("h2_reset_rate", "-3", one);
  EXPECT_SERVER_VALUE("h2_flood_limit", "0", one);
  EXPECT_SERVER_VALUE("h2_flood_limit", "many", "an integer");
  EXPECT_SERVER_VALUE("h2_stream_idle_timeout", "0ms", one);
  EXPECT_SERVER_VALUE("h2_ping_timeout", "0", one);
  EXPECT_SERVER_VALUE("h2_ping_timeout", "soon", duration);
  EXPECT_SERVER_VALUE("h2_min_send_rate", "-1", "at least 0");
  EXPECT_SERVER_VALUE("h2_min_send_rate_grace", "0s", one);
  EXPECT_SERVER_VALUE("h2_max_file_bodies", "0", one);
  EXPECT_ERROR("[server]\nh2_max_frame_sise = 16k\n[listen *:80]\n",
               "2: unknown key 'h2_max_frame_sise' in [server] (did you mean "
               "'h2_max_frame_size'?)");
}

/* ---- [listen]: protocols, tls, tls_priority, ALPN -------------------------- */

/* Writes text to tmpdir/name without touching ini_path. */
static void put_file(const char *name, const char *text) {
  FILE *f = fopen(in_tmp(name), "w");
  CHECK(f != NULL);
  CHECK(fputs(text, f) >= 0);
  CHECK(fclose(f) == 0);
}

#define CERT_SECTION "[certificate a]\ncert = c.pem\nkey = k.pem\n"

static void test_cleartext_protocols(void) {
  irh_config *c = LOAD_OK("[listen *:80]\n"
                          "protocols = h2c\n"
                          "[listen *:81]\n"
                          "protocols = h2c http/1.1\n"
                          "tls = off\n"
                          "[listen *:82]\n"
                          "protocols = HTTP/1.1,,\tH2C ,\n");
  CHECK(c->nlistens == 3);
  CHECK(c->listens[0].protocols == IRH_PROTO_H2C);
  CHECK(c->listens[1].protocols == (IRH_PROTO_H2C | IRH_PROTO_HTTP1));
  CHECK(c->listens[2].protocols == (IRH_PROTO_H2C | IRH_PROTO_HTTP1));
  for (size_t i = 0; i < c->nlistens; i++)
    CHECK(c->listens[i].tls == 0 && c->listens[i].nalpn == 0);
  irh_config_free(c);
}

static void test_tls_listeners(void) {
  put_file("c.pem", "not checked by config.c\n");
  put_file("k.pem", "nor this\n");
  irh_config *c = LOAD_OK("[listen *:443]\n"                     /* 1 */
                          "tls = on\n"                           /* 2 */
                          "[listen *:444]\n"                     /* 3 */
                          "tls = yes\n"                          /* 4 */
                          "protocols = http/1.1, h2\n"           /* 5 */
                          "tls_priority = NORMAL:-VERS-TLS1.3\n" /* 6 */
                          "[listen *:445]\n"                     /* 7 */
                          "tls = true\n"                         /* 8 */
                          "protocols = http/1.1\n"               /* 9 */
                          "[listen *:446]\n"                     /* 10 */
                          "tls = 1\n"                            /* 11 */
                          "protocols = H2\n"                     /* 12 */
                          "[listen *:80]\n" CERT_SECTION);       /* 13 */
  CHECK(c->nlistens == 5);
  const irh_listen_cfg *l = c->listens;
  CHECK(l[0].tls == 1);
  CHECK(l[0].protocols == (IRH_PROTO_H2 | IRH_PROTO_HTTP1));
  CHECK(l[0].nalpn == 2);
  CHECK(strcmp(l[0].alpn[0], "h2") == 0 && strcmp(l[0].alpn[1], "http/1.1") == 0);
  CHECK(strncmp(l[0].tls_priority, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:", 43) == 0);
  CHECK(strstr(l[0].tls_priority, ":-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:") != NULL);
  CHECK(strstr(l[0].tls_priority, ":%SERVER_PRECEDENCE") != NULL);

  CHECK(l[1].tls == 1);
  CHECK(l[1].protocols == (IRH_PROTO_H2 | IRH_PROTO_HTTP1));
  CHECK(l[1].nalpn == 2); /* the order written is the ALPN order */
  CHECK(strcmp(l[1].alpn[0], "http/1.1") == 0 && strcmp(l[1].alpn[1], "h2") == 0);
  CHECK(strcmp(l[1].tls_priority, "NORMAL:-VERS-TLS1.3") == 0);

  CHECK(l[2].tls == 1 && l[2].protocols == IRH_PROTO_HTTP1);
  CHECK(l[2].nalpn == 1 && strcmp(l[2].alpn[0], "http/1.1") == 0);

  CHECK(l[3].tls == 1 && l[3].protocols == IRH_PROTO_H2);
  CHECK(l[3].nalpn == 1 && strcmp(l[3].alpn[0], "h2") == 0); /* lower case, as ALPN wants */

  CHECK(l[4].tls == 0 && l[4].nalpn == 0);
  CHECK(l[4].protocols == (IRH_PROTO_HTTP1 | IRH_PROTO_H2C));
  irh_config_free(c);
}

static void test_tls_listen_errors(void) {
  put_file("c.pem", "x\n");
  put_file("k.pem", "x\n");
  EXPECT_ERROR("[listen *:80]\nprotocols = http/1.1, h2\n",
               "2: h2 needs tls = on; use h2c for cleartext");
  EXPECT_ERROR("[listen *:80]\ntls = off\nprotocols = h2\n",
               "3: h2 needs tls = on; use h2c for cleartext");
  EXPECT_ERROR("[listen *:443]\ntls = on\nprotocols = h2c, h2\n" CERT_SECTION,
               "3: h2c is cleartext HTTP/2 only; use h2 with tls = on");
  EXPECT_ERROR("[listen *:80]\nprotocols = h2c, http/1.1, H2C\n",
               "2: protocol 'h2c' is listed twice in protocols");
  EXPECT_ERROR("[listen *:443]\ntls = on\nprotocols = h2 http/1.1 h2\n" CERT_SECTION,
               "3: protocol 'h2' is listed twice in protocols");
  EXPECT_ERROR("[listen *:443]\ntls = on\nprotocols = h3\n" CERT_SECTION,
               "3: unknown protocol 'h3' in protocols (known: http/1.1, h2c, h2)");
  EXPECT_ERROR("[listen *:80]\nprotocols =\n",
               "2: bad value '' for key 'protocols' (expected a list of protocols from http/1.1, "
               "h2c, h2)");
  EXPECT_ERROR("[listen *:80]\ntls_priority = NORMAL\n",
               "2: tls_priority needs tls = on (this listener is cleartext)");
  EXPECT_ERROR("[listen *:80]\ntls = no\ntls_priority = NORMAL\n",
               "3: tls_priority needs tls = on (this listener is cleartext)");
  EXPECT_ERROR("[listen *:443]\ntls = on\ntls_priority =\n" CERT_SECTION,
               "3: bad value '' for key 'tls_priority' (expected a GnuTLS priority string)");
  /* A bad tls value is one problem, not one more per rule that needs it. */
  EXPECT_ERROR("[listen *:443]\ntls = maybe\nprotocols = h2\ntls_priority = NORMAL\n",
               "2: bad value 'maybe' for key 'tls' (expected on/off, yes/no, true/false or 1/0)");
  EXPECT_ERROR("[listen *:80]\ntlz = on\n",
               "2: unknown key 'tlz' in [listen *:80] (did you mean 'tls'?)");
  EXPECT_ERROR("; no certificate\n[listen 127.0.0.1:443]\ntls = on\n",
               "2: [listen 127.0.0.1:443] has tls = on but there is no [certificate] section "
               "(add one with cert and key)");
  /* A [certificate] that has its own problem still counts as one: only its
   * problem is reported. */
  EXPECT_ERROR("[listen *:443]\ntls = on\n[certificate a]\ncert = c.pem\nkey = nope.pem\n",
               "5: [certificate a] cannot read key 'nope.pem': No such file or directory");
}

/* ---- [certificate NAME] ---------------------------------------------------- */

static void test_certificates(void) {
  put_file("c.pem", "x\n");
  put_file("k.pem", "x\n");
  char text[1024];
  snprintf(text, sizeof text,
           "[listen *:443]\n"      /* 1 */
           "tls = on\n"            /* 2 */
           "[certificate a]\n"     /* 3 */
           "cert = c.pem\n"        /* 4 */
           "key = k.pem\n"         /* 5 */
           "[certificate B-2_x]\n" /* 6 */
           "key = %s\n"            /* 7 */
           "cert: ./c.pem\n",      /* 8 */
           in_tmp("k.pem"));
  irh_config *c = LOAD_OK(text);
  CHECK(c->ncerts == 2);
  CHECK(strcmp(c->certs[0].name, "a") == 0);
  CHECK(c->certs[0].section->line == 3);
  CHECK(strcmp(c->certs[0].cert, in_tmp("c.pem")) == 0);
  CHECK(strcmp(c->certs[0].key, in_tmp("k.pem")) == 0);
  CHECK(strcmp(c->certs[1].name, "B-2_x") == 0);
  CHECK(c->certs[1].section->line == 6);
  CHECK(strcmp(c->certs[1].cert, in_tmp("./c.pem")) == 0);
  CHECK(strcmp(c->certs[1].key, in_tmp("k.pem")) == 0); /* absolute stays as it is */
  irh_config_free(c);

  /* A certificate without any TLS listener is checked all the same. */
  c = LOAD_OK("[listen *:80]\n" CERT_SECTION);
  CHECK(c->ncerts == 1 && c->nlistens == 1);
  irh_config_free(c);
}

static void test_certificate_errors(void) {
  put_file("c.pem", "x\n");
  put_file("k.pem", "x\n");
  CHECK(mkdir(in_tmp("certdir"), 0700) == 0);
  EXPECT_ERROR("[listen *:80]\n[certificate]\ncert = c.pem\nkey = k.pem\n",
               "2: [certificate] needs a name, e.g. [certificate localhost]");
  EXPECT_ERROR("[listen *:80]\n[certificate a.b]\ncert = c.pem\nkey = k.pem\n",
               "2: bad certificate name 'a.b' (use letters, digits, '_' and '-')");
  EXPECT_ERROR("[listen *:80]\n" CERT_SECTION CERT_SECTION,
               "5: duplicate [certificate a] (first at line 2)");
  EXPECT_ERROR("[listen *:80]\n[certificate a]\ncert = c.pem\n",
               "2: [certificate a] missing required key 'key' (PEM private key)");
  EXPECT_ERROR("[listen *:80]\n[certificate a]\nkey = k.pem\n",
               "2: [certificate a] missing required key 'cert' (PEM certificate chain)");
  EXPECT_ERROR("[listen *:80]\n[certificate a]\ncrt = c.pem\ncert = c.pem\nkey = k.pem\n",
               "3: unknown key 'crt' in [certificate a] (did you mean 'cert'?)");
  EXPECT_ERROR("[listen *:80]\n[certificate a]\ncert =\nkey = k.pem\n",
               "3: bad value '' for key 'cert' (expected a path to a PEM file)");
  EXPECT_ERROR("[listen *:80]\n[certificate localhost]\ncert = c.pem\nkey = tls/localhost.key\n",
               "4: [certificate localhost] cannot read key 'tls/localhost.key': No such file or "
               "directory");
  EXPECT_ERROR("[listen *:80]\n[certificate a]\ncert = certdir\nkey = k.pem\n",
               "3: [certificate a] cannot read cert 'certdir': Is a directory");

  /* Both files, and a duplicate of a section that failed, are all reported. */
  char *errors;
  irh_config *c = load_text("[listen *:80]\n"   /* 1 */
                            "[certificate a]\n" /* 2 */
                            "cert = nope.crt\n" /* 3 */
                            "key = nope.key\n"  /* 4 */
                            "[certificate a]\n" /* 5 */
                            "cert = c.pem\n"    /* 6 */
                            "key = k.pem\n",    /* 7 */
                            &errors);
  CHECK(c == NULL);
  CHECK(count_lines(errors) == 3);
  CHECK(strstr(errors, ":3: [certificate a] cannot read cert 'nope.crt': No such file"));
  CHECK(strstr(errors, ":4: [certificate a] cannot read key 'nope.key': No such file"));
  CHECK(strstr(errors, ":5: duplicate [certificate a] (first at line 2)\n"));
  free(errors);

  /* irh_config_read keeps only the certificates that passed. */
  const char *path = write_ini("test.ini", "[listen *:80]\n"
                                           "[certificate bad]\ncert = nope\nkey = k.pem\n"
                                           "[certificate good]\ncert = c.pem\nkey = k.pem\n");
  capture_start();
  c = irh_config_read(path);
  errors = capture_stop();
  CHECK(c != NULL && c->errors == 1);
  CHECK(c->ncerts == 1 && strcmp(c->certs[0].name, "good") == 0);
  free(errors);
  irh_config_free(c);
}

static void remove_tmpdir(void) {
  static const char *const files[] = {"test.ini", "rel.ini", "c.pem", "k.pem"};
  char path[600];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
    unlink(path);
  }
  rmdir(in_tmp("certdir"));
  rmdir(tmpdir);
}

int main(void) {
  CHECK(mkdtemp(tmpdir) != NULL);
  test_good_file();
  test_defaults();
  test_module_without_keys();
  test_workers_zero_means_cpus();
  test_longest_line();
  test_structure_errors();
  test_syntax_errors();
  test_line_too_long();
  test_server_values();
  test_listen_errors();
  test_module_errors();
  test_route_errors();
  test_cannot_open();
  test_all_problems_reported();
  test_read_keeps_going();
  test_check_keys();
  test_check_keys_old_table();
  test_value_parse();
  test_resolve();
  test_relative_path();
  test_h2_server_keys();
  test_h2_server_errors();
  test_cleartext_protocols();
  test_tls_listeners();
  test_tls_listen_errors();
  test_certificates();
  test_certificate_errors();
  remove_tmpdir();
  printf("test_config: all passed\n");
  return 0;
}
