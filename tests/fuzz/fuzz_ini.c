/* fuzz_ini.c — libFuzzer target: the INI loader (core/config.c).
 *
 * The input is a whole configuration file: read with inih, every section
 * and key checked, typed and resolved, then each [route]'s own keys checked
 * against a module key table with one key of every type, the way module.c
 * checks a loaded module's keys. Nothing is loaded or bound. The file lives
 * in a private temp folder so that relative paths resolve there.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iridium/iridium.h>

#include "config.h"

/* A module's table as module.c would hold it: every type, one required. */
static const ir_config_key keys[] = {
    IR_KEY(IR_KEY_PATH, "root", NULL, 1, "a path"),
    IR_KEY(IR_KEY_STRING, "greeting", "hi", 0, "a string"),
    IR_KEY(IR_KEY_BOOL, "autoindex", "off", 0, "a bool"),
    IR_KEY(IR_KEY_INT, "count", "10", 0, "an int"),
    IR_KEY(IR_KEY_SIZE, "max_bytes", "64k", 0, "a size"),
    IR_KEY(IR_KEY_DURATION, "ttl", "2s", 0, "a duration"),
    IR_KEY_END,
};
static const char *const route_own_keys[] = {"module", "host", NULL};

static char path[64];

static void make_path(void) {
  char dir[] = "/tmp/iridium-fuzz-ini-XXXXXX";
  if (!mkdtemp(dir)) abort();
  snprintf(path, sizeof path, "%s/fuzz.ini", dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!path[0]) make_path();
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
  irh_config *c = irh_config_read(path);
  if (!c) return 0;
  for (size_t i = 0; i < c->nroutes; i++)
    irh_config_check_keys(c, c->routes[i].section, keys, "module fuzz", route_own_keys);
  irh_config_free(c);
  return 0;
}
