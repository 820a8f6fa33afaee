#!/usr/bin/python3
"""The process as a service manager sees it: the pid file (written with the
pid, removed at exit), the switch from root to `user`/`group` once the
sockets, logs and keys are open (checked in /proc/PID/status; the logs stay
writable and reopenable as that user), an unknown user refused at its INI
line, and systemd's sd_notify protocol (READY=1 once serving, STOPPING=1 on
SIGTERM) on a NOTIFY_SOCKET the test binds."""

import os
import pwd
import grp
import shutil
import signal
import socket
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


def status_ids(pid):
    """(uids, gids, groups) from /proc/PID/status."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.split()
    return ([int(x) for x in fields["Uid"]], [int(x) for x in fields["Gid"]],
            [int(x) for x in fields.get("Groups", [])])


class PidFile(unittest.TestCase):
    def test_written_then_removed(self):
        srv = H.Server(server={"pid_file": "iridium.pid"})  # relative: the INI's folder
        with srv:
            path = os.path.join(srv.tmp, "iridium.pid")
            with open(path) as f:
                self.assertEqual(f.read(), "%d\n" % srv.pid)
            srv.stop()
            self.assertEqual(srv.returncode, 0)
            self.assertFalse(os.path.exists(path), "pid file left after a clean stop")

    def test_folder_missing_refused(self):
        tmp = tempfile.mkdtemp(prefix="iridium-pid-")
        try:
            ini = os.path.join(tmp, "x.ini")
            with open(ini, "w") as f:
                f.write("[server]\nmodules_dir = %s\npid_file = %s/no/such/dir/x.pid\n"
                        "[listen 127.0.0.1:%d]\n" % (H.MODULES_DIR, tmp, H.free_port()))
            p = H.run_iridium(["-t", "-c", ini])
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("%s:3: pid_file" % ini, p.stderr)
            self.assertIn("does not exist", p.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@unittest.skipUnless(os.geteuid() == 0, "the switch from root needs root")
class DropRoot(unittest.TestCase):
    def test_serves_as_nobody_with_its_logs(self):
        nobody = pwd.getpwnam("nobody")
        nogroup = grp.getgrnam("nogroup")
        srv = H.Server(server={"user": "nobody", "group": "nogroup",
                               "pid_file": "iridium.pid"})
        logs = os.path.join(srv.tmp, "logs")
        os.mkdir(logs)
        os.chown(logs, nobody.pw_uid, nogroup.gr_gid)
        os.chmod(srv.tmp, 0o755)
        srv.access_log = os.path.join(logs, "access.log")
        srv.settings["access_log"] = srv.access_log
        with srv:
            uids, gids, groups = status_ids(srv.pid)
            self.assertEqual(uids, [nobody.pw_uid] * 4)
            self.assertEqual(gids, [nogroup.gr_gid] * 4)
            self.assertEqual(groups, [nogroup.gr_gid])
            self.assertIn("serving as user nobody", srv.error_log_text())
            self.assertEqual(H.http_request(srv.port, "GET", "/hello?before").status, 200)
            self.assertTrue(srv.wait_access_lines(1))
            self.assertEqual(os.stat(srv.access_log).st_uid, nobody.pw_uid)
            # logrotate as root, then the reopen as nobody
            os.rename(srv.access_log, srv.access_log + ".1")
            srv.signal(signal.SIGUSR1)
            self.assertTrue(H.wait_for(lambda: "reopened the log files" in srv.error_log_text(),
                                       H.scaled(3)), srv.error_log_text())
            self.assertEqual(H.http_request(srv.port, "GET", "/hello?after").status, 200)
            self.assertTrue(H.wait_for(lambda: "/hello?after" in srv.access_log_text(),
                                       H.scaled(3)))
            pid_path = os.path.join(srv.tmp, "iridium.pid")
            srv.stop()
            self.assertEqual(srv.returncode, 0)
            # its folder is root's: emptied, since nobody may not remove it
            self.assertFalse(os.path.exists(pid_path) and os.path.getsize(pid_path))

    def test_unknown_user_refused_at_its_line(self):
        tmp = tempfile.mkdtemp(prefix="iridium-user-")
        try:
            ini = os.path.join(tmp, "x.ini")
            with open(ini, "w") as f:
                f.write("[server]\nmodules_dir = %s\nuser = no-such-user-here\n"
                        "[listen 127.0.0.1:%d]\n" % (H.MODULES_DIR, H.free_port()))
            for mode in (["-t"], []):
                p = H.run_iridium(mode + ["-c", ini])
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn("%s:3: user 'no-such-user-here' does not exist" % ini, p.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class Notify(unittest.TestCase):
    """What systemd's Type=notify reads: datagrams on $NOTIFY_SOCKET."""

    def test_ready_then_stopping(self):
        tmp = tempfile.mkdtemp(prefix="iridium-notify-")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            path = os.path.join(tmp, "notify")
            sock.bind(path)
            sock.settimeout(H.scaled(10))
            srv = H.Server(env={"NOTIFY_SOCKET": path})
            with srv:
                ready = sock.recv(4096).decode()
                self.assertIn("READY=1", ready)
                self.assertEqual(H.http_request(srv.port, "GET", "/hello").status, 200)
                srv.signal(signal.SIGTERM)
                self.assertIn("STOPPING=1", sock.recv(4096).decode())
                self.assertEqual(srv.wait_exit(H.scaled(10)), 0)
        finally:
            sock.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
