/* paths.h — the install-relative defaults (see paths.c). */
#ifndef IRIDIUM_CORE_PATHS_H
#define IRIDIUM_CORE_PATHS_H

/* PREFIX/lib/iridium/modules of the running binary's install; owned by the
 * caller (NULL when out of memory). */
char *irh_default_modules_dir(void);

/* PREFIX/etc/iridium/iridium.ini likewise (sysconfdir as configured). */
char *irh_default_config_path(void);

#endif /* IRIDIUM_CORE_PATHS_H */
