/* daemon.h — the process around serving (daemon.c): the pid file, the
 * switch from root to the INI's user, systemd's notices. Main thread, in
 * the order server.c calls them: irh_daemon_check, irh_daemon_write_pid
 * (as root), the logs given to the user, irh_daemon_drop before any module
 * starts; irh_daemon_notify("READY=1") once every worker serves,
 * ("STOPPING=1") on the stop signal; irh_daemon_remove_pid at exit. */
#ifndef IRIDIUM_CORE_DAEMON_H
#define IRIDIUM_CORE_DAEMON_H

#include <sys/types.h>

#include "config.h"

/* The user and group to serve as; set = 0 when the INI names none. */
typedef struct irh_identity {
  int set;
  uid_t uid;
  gid_t gid;
} irh_identity;

/* Looks up [server] user and group (names, or numbers); a missing one is
 * reported at its INI line. 0 or -1. */
int irh_identity_lookup(irh_config *c, irh_identity *id);

/* The identity looked up, and the pid file's folder checked (for -t and
 * before a start). 0 or -1 (reported at the INI's lines). */
int irh_daemon_check(irh_config *c, irh_identity *id);

/* Writes the pid file ("PID\n"), given to the user when there is one.
 * 0, or -1 (logged). */
int irh_daemon_write_pid(const irh_config *c, const irh_identity *id);
/* Removes it, or, when its folder is not ours to write, empties it. */
void irh_daemon_remove_pid(const irh_config *c);
/* `iridium -s NAME`: sends the server that c's pid_file names SIGHUP
 * (reload), SIGUSR1 (reopen) or SIGTERM (stop). Returns the exit status,
 * after saying on stderr what went wrong. */
int irh_daemon_signal(const irh_config *c, const char *name);

/* Started as root with a user: setgroups, setgid, setuid, and checks that
 * root cannot be had back. Not root: a warning unless already that user.
 * 0, or -1 (logged): then the server must not serve. */
int irh_daemon_drop(const irh_config *c, const irh_identity *id);

/* sd_notify(state) when built with libsystemd and NOTIFY_SOCKET is set
 * (systemd's Type=notify); nothing otherwise. */
void irh_daemon_notify(const char *state);

#endif /* IRIDIUM_CORE_DAEMON_H */
