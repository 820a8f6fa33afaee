#!/usr/bin/python3
"""What an operator installs. `cmake --install build --prefix DIR` gives a
tree that runs from DIR: bin/iridium started without -c reads
DIR/etc/iridium/iridium.ini, finds DIR/lib/iridium/modules, serves the site
in DIR/share/iridium/www as www-data with its pid file and access log under
DIR/var. Then the Debian packages: a tree configured for /usr is built and
`cpack` makes iridium and iridium-dev; `dpkg -i` installs them on this
machine; the installed server passes -t, serves the default site, and
loads the SDK example built against the installed iridium-dev (pkg-config);
`dpkg --purge` takes everything away again. Root only (dpkg, port 80, the
switch to www-data); the servers run in a private network namespace
(`*:80` binds every interface)."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402

BUILD = os.environ.get("IRIDIUM_BUILD_DIR") or os.path.join(H.REPO, "build")
SERVE_AND_FETCH = r"""
set -u
ip link set lo up
"$@" > "$OUT/server.log" 2>&1 &
pid=$!
for i in $(seq 100); do
  curl -s -o /dev/null http://127.0.0.1:${PORT}/ && break
  sleep 0.1
done
curl -s -o "$OUT/index.html" -w "%{http_code}" http://127.0.0.1:${PORT}/ > "$OUT/status"
curl -s -w "%{http_code}" http://127.0.0.1:${PORT}${EXTRA_PATH} > "$OUT/extra" || true
grep -E '^(Uid|Gid):' /proc/$pid/status > "$OUT/ids"
cat "$PIDFILE" > "$OUT/pidfile" 2>/dev/null || true
echo $pid > "$OUT/pid"
kill -TERM $pid
wait $pid
echo $? > "$OUT/rc"
"""


def run(args, timeout=600, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=H.scaled(timeout), **kw)


def serve_in_netns(out, cmd, port=80, pidfile="/nonexistent", extra_path="/"):
    """Runs cmd in a private network namespace, fetches / (and extra_path)
    from it, stops it; returns what was seen."""
    env = dict(os.environ, OUT=out, PORT=str(port), PIDFILE=pidfile, EXTRA_PATH=extra_path)
    p = run(["unshare", "-n", "bash", "-c", SERVE_AND_FETCH, "serve"] + cmd, timeout=60, env=env)

    def read(name):
        path = os.path.join(out, name)
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read()
    return {"shell": p.stdout + p.stderr, "status": read("status"), "index": read("index.html"),
            "extra": read("extra"), "ids": read("ids"), "pidfile": read("pidfile"),
            "pid": read("pid").strip(), "rc": read("rc").strip(), "log": read("server.log")}


@unittest.skipUnless(os.geteuid() == 0, "dpkg, port 80 and the switch to www-data need root")
class Install(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="iridium-install-")
        os.chmod(self.tmp, 0o755)  # www-data serves the site from inside it

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_prefix_tree_runs_from_where_it_is(self):
        prefix = os.path.join(self.tmp, "opt", "iridium")
        p = run(["cmake", "--install", BUILD, "--prefix", prefix])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for f in ("bin/iridium", "etc/iridium/iridium.ini", "etc/iridium/mime.types",
                  "lib/iridium/modules/static.so", "lib/iridium/modules/websocket.so",
                  "lib/iridium/modules/mqtt.so", "include/iridium/module.h",
                  "lib/pkgconfig/iridium-sdk.pc", "lib/cmake/IridiumSDK/IridiumSDKConfig.cmake",
                  "lib/systemd/system/iridium.service", "share/man/man1/iridium.1",
                  "share/doc/iridium/configuration.md", "share/iridium/www/index.html"):
            self.assertTrue(os.path.isfile(os.path.join(prefix, f)), f)
        for d in ("var/log/iridium", "var/run"):
            self.assertTrue(os.path.isdir(os.path.join(prefix, d)), d)
        with open(os.path.join(prefix, "lib/systemd/system/iridium.service")) as f:
            unit = f.read()
        self.assertIn("ExecReload=/bin/kill -HUP $MAINPID", unit)
        self.assertRegex(unit, r"(?m)^Type=(notify|exec)$")
        man = run(["man", "-l", os.path.join(prefix, "share/man/man1/iridium.1")],
                  env=dict(os.environ, MANPAGER="cat", MANWIDTH="80"))
        self.assertIn("SIGUSR1", man.stdout)

        moved = os.path.join(self.tmp, "elsewhere")  # a tree moved after installing
        shutil.move(prefix, moved)
        binary = os.path.join(moved, "bin", "iridium")
        check = run(["unshare", "-n", "sh", "-c", "ip link set lo up; exec \"$0\" -t", binary],
                    timeout=20)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn(os.path.join(moved, "etc/iridium/iridium.ini") + ": configuration is valid",
                      check.stderr)
        seen = serve_in_netns(self.tmp, [binary],
                              pidfile=os.path.join(moved, "var/run/iridium.pid"))
        self.assertEqual(seen["status"], "200", seen)
        with open(os.path.join(H.REPO, "conf", "www", "index.html")) as f:
            self.assertEqual(seen["index"], f.read())
        self.assertIn("Uid:\t33\t33\t33\t33", seen["ids"], seen)  # www-data
        self.assertEqual(seen["pidfile"], seen["pid"] + "\n", seen)
        self.assertEqual(seen["rc"], "0", seen)
        with open(os.path.join(moved, "var/log/iridium/access.log")) as f:
            self.assertIn('"GET /" 200', f.read())


@unittest.skipUnless(os.geteuid() == 0, "dpkg needs root")
class DebianPackages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="iridium-deb-")
        os.chmod(cls.tmp, 0o755)
        tree = os.path.join(cls.tmp, "build")
        p = run(["cmake", "-S", H.REPO, "-B", tree, "-DCMAKE_INSTALL_PREFIX=/usr",
                 "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DIRIDIUM_TESTS=OFF"])
        assert p.returncode == 0, p.stdout + p.stderr
        p = run(["cmake", "--build", tree, "-j2"], timeout=900)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        p = run(["cpack", "-G", "DEB"], cwd=tree)
        assert p.returncode == 0, p.stdout + p.stderr
        with open(os.path.join(H.REPO, "CMakeLists.txt")) as f:
            version = f.read().split("project(iridium VERSION ")[1].split()[0]
        cls.debs = [os.path.join(tree, "%s_%s_amd64.deb" % (n, version))
                    for n in ("iridium", "iridium-dev")]

    @classmethod
    def tearDownClass(cls):
        run(["dpkg", "--purge", "iridium-dev", "iridium"])
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, deb, name):
        return run(["dpkg-deb", "-f", deb, name]).stdout.strip()

    def test_install_serve_build_a_module_purge(self):
        server, dev = self.debs
        self.assertEqual(self.field(server, "Package"), "iridium")
        self.assertEqual(self.field(dev, "Package"), "iridium-dev")
        for lib in ("libuv1", "libgnutls30", "libnghttp2-14", "libinih1"):
            self.assertIn(lib, self.field(server, "Depends"))
        files = run(["dpkg-deb", "-c", dev]).stdout
        self.assertIn("./usr/include/iridium/module.h", files)
        self.assertNotIn("bin/iridium", files)

        p = run(["dpkg", "-i", server, dev])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        status = run(["dpkg-query", "-W", "-f", "${Conffiles}", "iridium"]).stdout
        self.assertIn("/etc/iridium/iridium.ini", status)
        self.assertEqual(os.stat("/var/log/iridium").st_uid, 33)  # www-data's, for SIGUSR1
        check = run(["unshare", "-n", "sh", "-c", "ip link set lo up; exec /usr/bin/iridium -t"],
                    timeout=20)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("/etc/iridium/iridium.ini: configuration is valid", check.stderr)
        out = os.path.join(self.tmp, "served")
        os.mkdir(out)
        seen = serve_in_netns(out, ["/usr/bin/iridium"], pidfile="/run/iridium.pid")
        self.assertEqual(seen["status"], "200", seen)
        self.assertIn("<html", seen["index"])
        self.assertIn("Uid:\t33\t33\t33\t33", seen["ids"], seen)
        self.assertEqual(seen["rc"], "0", seen)

        # the SDK example, built against the installed iridium-dev
        mod = os.path.join(self.tmp, "hello")
        os.mkdir(mod)
        for f in ("hello.c", "Makefile"):
            shutil.copy(os.path.join(H.REPO, "sdk", "examples", "hello", f), mod)
        p = run(["make", "-C", mod])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(run(["pkg-config", "--variable=moduledir", "iridium-sdk"]).stdout.strip(),
                         "/usr/lib/x86_64-linux-gnu/iridium/modules")
        port = H.free_port()
        ini = os.path.join(self.tmp, "hello.ini")
        with open(ini, "w") as f:
            f.write("[server]\nworkers = 1\n[listen 127.0.0.1:%d]\n[module hello]\npath = %s\n"
                    "[route /]\nmodule = hello\ngreeting = built against iridium-dev\n"
                    % (port, os.path.join(mod, "hello.so")))
        seen = serve_in_netns(os.path.join(self.tmp, "served"), ["/usr/bin/iridium", "-c", ini],
                              port=port)
        self.assertEqual((seen["status"], seen["index"]), ("200", "built against iridium-dev\n"),
                         seen)

        p = run(["dpkg", "--purge", "iridium-dev", "iridium"])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for gone in ("/usr/bin/iridium", "/etc/iridium/iridium.ini", "/var/log/iridium",
                     "/usr/include/iridium/module.h"):
            self.assertFalse(os.path.exists(gone), gone)


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
