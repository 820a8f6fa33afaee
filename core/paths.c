/* paths.c — where an installed iridium finds its modules folder and its
 * configuration: from its own binary (/proc/self/exe), by the relative
 * paths `cmake --install` lays out (PREFIX/bin/iridium beside
 * PREFIX/lib/iridium/modules and PREFIX/etc/iridium/iridium.ini), so a tree
 * installed or moved under any prefix finds its own files. */
#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef IRIDIUM_BIN_TO_MODULES
#error "the build must define IRIDIUM_BIN_TO_MODULES and IRIDIUM_BIN_TO_CONFIG"
#endif

/* The binary's folder joined with relative, canonical when it exists. */
static char *beside_binary(const char *relative) {
  char exe[PATH_MAX], joined[2 * PATH_MAX], canonical[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return strdup(relative);
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash) *slash = '\0';
  snprintf(joined, sizeof joined, "%s/%s", exe, relative);
  return strdup(realpath(joined, canonical) ? canonical : joined);
}

char *irh_default_modules_dir(void) { return beside_binary(IRIDIUM_BIN_TO_MODULES); }

char *irh_default_config_path(void) { return beside_binary(IRIDIUM_BIN_TO_CONFIG); }
