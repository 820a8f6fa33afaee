/* main.c — the iridium command line.
 *
 *   iridium [-c FILE]            run with FILE (default: the install's
 *                                PREFIX/etc/iridium/iridium.ini, paths.c)
 *   iridium -t -c FILE           check FILE (modules, keys, listeners, log
 *                                paths, the modules' init and worker_init)
 *                                and exit 0/1
 *   iridium -T -c FILE           check FILE, then print it as Iridium reads
 *                                it: every key, defaults filled in
 *   iridium --modules -c FILE    load FILE's modules and list them with
 *                                their ABI and route keys
 *   iridium -s reload|reopen|stop [-c FILE]
 *                                signal the server FILE's pid_file names
 *                                (HUP, USR1, TERM; daemon.c)
 *   iridium --keys               list the host's own sections and keys
 *   iridium top [-c FILE] [URL]  a running server's status, live (top.c)
 *   iridium -v | --version       print the release and the SDK ABI version
 *   iridium -h | --help          this usage
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iridium/abi.h>

#include "config.h"
#include "config_dump.h"
#include "daemon.h"
#include "module.h"
#include "paths.h"
#include "recycler.h"
#include "server.h"
#include "top.h"

enum { OPT_MODULES = 256, OPT_KEYS };

static void usage(FILE *out) {
  char *def = irh_default_config_path();
  fprintf(out,
          "usage: iridium [-t | -T | --modules] [-c FILE]\n"
          "       iridium -s reload|reopen|stop [-c FILE]\n"
          "       iridium top [-c FILE] [-n SECONDS] [URL]\n"
          "       iridium --keys | -v | -h\n"
          "  -c, --config FILE  the configuration file (INI) to run or check; default\n"
          "                     %s\n"
          "  -t, --test         check the configuration and exit (0 when valid)\n"
          "  -T, --dump         check it, then print it with every default filled in\n"
          "      --modules      list the modules it loads, their ABI and their keys\n"
          "  -s SIGNAL          signal the running server (its pid_file): reload the\n"
          "                     configuration, reopen the logs, or stop it gracefully\n"
          "      --keys         list the host's sections and keys (tab-separated)\n"
          "  -v, --version      print the version and the SDK ABI version\n"
          "  -h, --help         print this help\n"
          "signals: TERM/INT finish in-flight requests and exit; HUP reloads the\n"
          "configuration; USR1 reopens the logs\n",
          def ? def : "PREFIX/etc/iridium/iridium.ini");
  free(def);
}

/* What one run does besides serving. */
typedef enum { RUN, CHECK, DUMP, MODULES, SIGNAL } mode;

/* *c is taken (NULL after) when the server runs it. */
static int act(irh_config **cp, mode m, const char *signal_name) {
  irh_config *c = *cp;
  if (m == RUN) {
    *cp = NULL;
    return irh_server_run(c);
  }
  if (m == SIGNAL) return irh_daemon_signal(c, signal_name);
  if (m == CHECK || m == DUMP) {
    int rc = irh_server_check(c);
    if (rc != 0 || m == CHECK) return rc;
  }
  irh_modules *mods = irh_modules_load(c);
  if (!mods) return 1;
  if (m == DUMP)
    irh_print_effective(c, mods, stdout);
  else
    irh_print_modules(mods, stdout);
  irh_modules_free(mods);
  return fflush(stdout) == 0 ? 0 : 1;
}

/* Reads path and does m with it. */
static int with_config(const char *path, mode m, const char *signal_name) {
  irh_config *c = irh_config_read(path);
  if (!c) return 1;
  int rc;
  if (c->errors) { /* still check the modules' keys, to report everything at once */
    irh_modules_free(irh_modules_load(c));
    rc = 1;
  } else {
    rc = act(&c, m, signal_name);
  }
  if (m == CHECK && rc == 0) fprintf(stderr, "%s: configuration is valid\n", path);
  irh_config_free(c);
  return rc;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "top") == 0) return irh_top_main(argc - 1, argv + 1);
  static const struct option longs[] = {
      {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
      {"dump", no_argument, NULL, 'T'},         {"modules", no_argument, NULL, OPT_MODULES},
      {"keys", no_argument, NULL, OPT_KEYS},    {"version", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  const char *path = NULL, *signal_name = NULL;
  mode m = RUN;
  int opt;
  while ((opt = getopt_long(argc, argv, "c:tTs:vh", longs, NULL)) != -1) {
    switch (opt) {
    case 'c': path = optarg; break;
    case 's':
      m = SIGNAL;
      signal_name = optarg;
      break;
    case 't': m = CHECK; break;
    case 'T': m = DUMP; break;
    case OPT_MODULES: m = MODULES; break;
    case OPT_KEYS: irh_print_host_keys(stdout); return fflush(stdout) == 0 ? 0 : 1;
    case 'v':
      printf("iridium %s (SDK ABI %d.%d)\n", IRIDIUM_VERSION, IR_ABI_MAJOR, IR_ABI_MINOR);
      return 0;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc) {
    usage(stderr);
    return 2;
  }
  char *def = path ? NULL : irh_default_config_path();
  int rc = path || def ? with_config(path ? path : def, m, signal_name) : 1;
  free(def);
  irh_recycler_release(); /* pieces the main thread freed (a module's init, say) */
  return rc;
}
