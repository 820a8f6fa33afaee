#!/usr/bin/python3
"""`iridium top` in a real terminal (tmux, driven by send-keys and read by
capture-pane): it finds the status route in the server's own INI, shows the
counters and the connections the test holds open with their streams,
refreshes every second (its uptime moves, a new request's count shows), says
so and keeps trying when the server goes, and quits on q."""

import os
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as H  # noqa: E402


def tmux(*args, check=True):
    return subprocess.run(["tmux", "-L", "iridium-top-test"] + list(args), capture_output=True,
                          text=True, timeout=H.scaled(10), check=check)


def screen():
    return tmux("capture-pane", "-p", "-t", "top").stdout


@unittest.skipUnless(shutil.which("tmux"), "tmux is needed (bash .ci/dev deps)")
class Top(unittest.TestCase):
    def setUp(self):
        self.srv = H.Server(server={"workers": 2},
                            routes=[("/hello", {"module": "hello"}),
                                    ("/status", {"module": "status"})],
                            modules=["hello", "status"])
        self.srv.start()
        self.addCleanup(lambda: (self.srv.stop(), self.srv.cleanup()))
        self.addCleanup(lambda: tmux("kill-server", check=False))

    def wait_screen(self, pred, timeout=8):
        last = [""]

        def ok():
            last[0] = screen()
            return pred(last[0])
        return H.wait_for(ok, H.scaled(timeout), interval=0.2), last[0]

    def test_live_view_then_q(self):
        held = H.connect(self.srv.port)
        self.addCleanup(held.close)
        held.sendall(H.build_request("GET", "/hello?delay=20000"))
        peer = "127.0.0.1:%d" % held.getsockname()[1]
        tmux("new-session", "-d", "-s", "top", "-x", "140", "-y", "30",
             "%s top -c %s" % (H.IRIDIUM_BIN, self.srv.ini_path))
        ok, text = self.wait_screen(lambda t: peer in t)
        self.assertTrue(ok, text)
        url = "http://127.0.0.1:%d/status/json" % self.srv.port
        self.assertIn(url, text)  # found in the INI
        row = next(l for l in text.splitlines() if peer in l)
        self.assertIn("http/1.1", row)
        self.assertIn("GET /hello (hello)", row)
        self.assertRegex(text, r"connections \d+ open \(http/1\.1 [1-9]")
        up = lambda t: next(l for l in t.splitlines() if l.startswith("iridium "))  # noqa: E731
        first = up(text)
        for i in range(3):
            self.assertEqual(H.http_request(self.srv.port, "GET", "/nope%d" % i).status, 404)
        ok, text = self.wait_screen(lambda t: up(t) != first and "4xx 3" in t)
        self.assertTrue(ok, "no refresh:\n" + text)

        self.srv.stop()
        ok, text = self.wait_screen(lambda t: "cannot connect" in t and "trying again" in t)
        self.assertTrue(ok, text)
        tmux("send-keys", "-t", "top", "q")
        gone = H.wait_for(lambda: tmux("has-session", "-t", "top", check=False).returncode != 0,
                          H.scaled(5))
        if not gone:
            self.fail("iridium top did not quit on q:\n" + screen())

    def test_bad_arguments(self):
        p = H.run_iridium(["top", "ftp://x/"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("not an http:// URL", p.stderr)
        ini = os.path.join(self.srv.tmp, "nostatus.ini")
        with open(ini, "w") as f:
            f.write("[server]\nmodules_dir = %s\n[listen 127.0.0.1:%d]\n"
                    % (H.MODULES_DIR, H.free_port()))
        p = H.run_iridium(["top", "-c", ini])
        self.assertEqual(p.returncode, 1)
        self.assertIn("has no [route] with module = status", p.stderr)


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
