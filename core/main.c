/* main.c — the iridium command line.
 *
 *   iridium -c FILE      run with FILE
 *   iridium -t -c FILE   check FILE (modules, keys, listeners, the modules'
 *                        init and worker_init) and exit 0/1
 *   iridium -v           print the release and the SDK ABI version
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <iridium/abi.h>

#include "config.h"
#include "module.h"
#include "recycler.h"
#include "server.h"

static void usage(FILE *out) {
  fprintf(out, "usage: iridium [-t] -c FILE | -v | -h\n"
               "  -c FILE  configuration file (INI)\n"
               "  -t       check the configuration and exit (0 when valid)\n"
               "  -v       print the version and the SDK ABI version\n");
}

int main(int argc, char **argv) {
  const char *path = NULL;
  int check = 0;
  int opt;
  while ((opt = getopt(argc, argv, "c:tvh")) != -1) {
    switch (opt) {
    case 'c': path = optarg; break;
    case 't': check = 1; break;
    case 'v':
      printf("iridium %s (SDK ABI %d.%d)\n", IRIDIUM_VERSION, IR_ABI_MAJOR, IR_ABI_MINOR);
      return 0;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!path || optind != argc) {
    usage(stderr);
    return 2;
  }
  irh_config *c = irh_config_read(path);
  if (!c) return 1;
  int rc;
  if (c->errors) { /* still check the modules' keys, to report everything at once */
    irh_modules_free(irh_modules_load(c));
    rc = 1;
  } else {
    rc = check ? irh_server_check(c) : irh_server_run(c);
  }
  if (check && rc == 0) fprintf(stderr, "%s: configuration is valid\n", path);
  irh_config_free(c);
  irh_recycler_release(); /* pieces the main thread freed (a module's init, say) */
  return rc;
}
