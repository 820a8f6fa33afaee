/* daemon.c — what a service manager and an operator expect of the process
 * around serving (see daemon.h): the pid file, the switch from root to the
 * INI's user once everything privileged is open, and systemd's readiness
 * and stopping notices (sd_notify, when built with libsystemd). */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef IRIDIUM_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"

/* A name, or a number that names no entry. */
static int parse_id(const char *text, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(text, &end, 10);
  if (errno || *end || end == text) return -1;
  *out = v;
  return 0;
}

int irh_identity_lookup(irh_config *c, irh_identity *id) {
  *id = (irh_identity){0};
  if (!c->user) return 0;
  unsigned long n;
  struct passwd *pw = getpwnam(c->user);
  if (pw) {
    id->uid = pw->pw_uid, id->gid = pw->pw_gid;
  } else if (parse_id(c->user, &n) == 0) {
    id->uid = (uid_t)n, id->gid = (gid_t)n;
  } else {
    return irh_config_error(c, c->user_line, "user '%s' does not exist", c->user);
  }
  if (c->group) {
    struct group *gr = getgrnam(c->group);
    if (gr)
      id->gid = gr->gr_gid;
    else if (parse_id(c->group, &n) == 0)
      id->gid = (gid_t)n;
    else
      return irh_config_error(c, c->group_line, "group '%s' does not exist", c->group);
  }
  id->set = 1;
  return 0;
}

int irh_daemon_check(irh_config *c, irh_identity *id) {
  int rc = irh_identity_lookup(c, id);
  if (c->pid_file && irh_check_output_file(c, c->pid_file, c->pid_file_line, "pid_file") != 0)
    rc = -1;
  return rc;
}

int irh_daemon_write_pid(const irh_config *c, const irh_identity *id) {
  if (!c->pid_file) return 0;
  int fd = open(c->pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    irh_log_error("cannot write the pid file '%s': %s", c->pid_file, strerror(errno));
    return -1;
  }
  char line[32];
  int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
  int ok = write(fd, line, (size_t)n) == n;
  /* so that, as the user, the server can still empty it when it stops */
  if (ok && id->set && geteuid() == 0 && fchown(fd, id->uid, id->gid) != 0) ok = 0;
  if (!ok) irh_log_error("cannot write the pid file '%s': %s", c->pid_file, strerror(errno));
  close(fd);
  return ok ? 0 : -1;
}

void irh_daemon_remove_pid(const irh_config *c) {
  if (!c->pid_file || unlink(c->pid_file) == 0) return;
  /* its folder is root's (/run) and we serve as a user: an empty file
   * says the same ("not running") */
  int fd = open(c->pid_file, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) close(fd);
}

int irh_daemon_drop(const irh_config *c, const irh_identity *id) {
  if (!id->set) return 0;
  if (geteuid() != 0) {
    if (geteuid() != id->uid)
      irh_log_warn("user = %s needs the server started as root; serving as uid %ld", c->user,
                   (long)geteuid());
    return 0;
  }
  if (setgroups(1, &id->gid) != 0 || setgid(id->gid) != 0 || setuid(id->uid) != 0) {
    irh_log_error("cannot switch to user %s (uid %ld, gid %ld): %s", c->user, (long)id->uid,
                  (long)id->gid, strerror(errno));
    return -1;
  }
  if (id->uid != 0 && setuid(0) == 0) { /* the switch must not be undoable */
    irh_log_error("switched to user %s but could become root again", c->user);
    return -1;
  }
  irh_log_info("serving as user %s (uid %ld, gid %ld)", c->user, (long)id->uid, (long)id->gid);
  return 0;
}

void irh_daemon_notify(const char *state) {
#ifdef IRIDIUM_HAVE_SYSTEMD
  sd_notify(0, state);
#else
  (void)state;
#endif
}

int irh_daemon_signal(const irh_config *c, const char *name) {
  static const struct {
    const char *name;
    int signum;
  } names[] = {{"reload", SIGHUP}, {"reopen", SIGUSR1}, {"stop", SIGTERM}};
  int signum = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(name, names[i].name)) signum = names[i].signum;
  if (!signum) {
    fprintf(stderr, "iridium: -s %s: not reload, reopen or stop\n", name);
    return 2;
  }
  if (!c->pid_file) {
    fprintf(stderr, "iridium: %s sets no pid_file: cannot find the server to %s\n", c->path, name);
    return 1;
  }
  FILE *f = fopen(c->pid_file, "re");
  long pid = 0;
  int read_ok = f && fscanf(f, "%ld", &pid) == 1 && pid > 1;
  if (f) fclose(f);
  if (!read_ok) {
    fprintf(stderr, "iridium: %s: %s (is the server running?)\n", c->pid_file,
            f ? "holds no process id" : strerror(errno));
    return 1;
  }
  if (kill((pid_t)pid, signum) != 0) {
    fprintf(stderr, "iridium: %s names process %ld: %s\n", c->pid_file, pid, strerror(errno));
    return 1;
  }
  return 0;
}
