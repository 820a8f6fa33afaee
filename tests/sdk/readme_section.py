"""readme_section.py — following one section of sdk/README.md literally, for
test_work_cancel.py and test_metrics.py: the section's C block must be the
example file, its INI is served (modules_dir and the port replaced, nothing
else), and its sh block is run line by line with each answer compared to
the line's comment.

The server is the real iridium (IRIDIUM_BIN) with the example built against
the SDK only (IRIDIUM_SDK_TEST_MODULES_DIR). Every wait is bounded; only
127.0.0.1 is used.
"""
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402

REPO = os.environ.get("IRIDIUM_REPO") or os.path.abspath(os.path.join(HERE, "..", ".."))
MODULES = os.environ.get("IRIDIUM_SDK_TEST_MODULES_DIR") or os.path.join(
    REPO, "build", "tests", "sdk", "modules")


def section(title):
    """The text of the README section whose heading is `## title`."""
    text = open(os.path.join(REPO, "sdk", "README.md"), encoding="utf-8").read()
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), text, re.M | re.S)
    if not m:
        raise AssertionError("sdk/README.md has no section '## %s'" % title)
    return m.group(1)


def blocks(text, lang):
    return re.findall(r"^```%s\n(.*?)^```$" % lang, text, re.M | re.S)


class Served:
    """The section's INI, served: start(), url(path), stop(), log()."""

    def __init__(self, ini_text, extra_server=None):
        self.tmp = tempfile.mkdtemp(prefix="iridium-readme-")
        self.ini_text = ini_text
        self.extra = extra_server or {}
        self.proc = None

    def start(self):
        for _ in range(3):
            self.port = H.free_port()
            ini = self.ini_text.replace("modules_dir = /path/to/modules", "modules_dir = " + MODULES)
            ini = ini.replace("127.0.0.1:8080", "127.0.0.1:%d" % self.port)
            extra = "".join("%s = %s\n" % kv for kv in self.extra.items())
            ini = ini.replace("[server]\n", "[server]\n" + extra, 1)
            path = os.path.join(self.tmp, "iridium.ini")
            open(path, "w").write(ini)
            self.err_path = os.path.join(self.tmp, "stderr")
            self.err = open(self.err_path, "wb")
            self.proc = subprocess.Popen([H.IRIDIUM_BIN, "-c", path], stdin=subprocess.DEVNULL,
                                         stdout=self.err, stderr=self.err, cwd=self.tmp)
            if H.wait_for(lambda: self._accepts() or self.proc.poll() is not None, H.scaled(10)):
                if self.proc.poll() is None:
                    return self
            self.proc.kill() if self.proc.poll() is None else None
            self.proc.wait(10)
            self.err.close()
            if "in use" not in self.log():
                break
        raise AssertionError("iridium did not start:\n" + self.log())

    def _accepts(self):
        import socket
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def log(self):
        try:
            return open(self.err_path, encoding="utf-8", errors="replace").read()
        except OSError:
            return ""

    def stop(self):
        """SIGTERM; asserts a clean exit (status 0, no sanitizer report)."""
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(H.scaled(20))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("iridium did not exit after SIGTERM:\n" + self.log()[-4000:])
        self.err.close()
        log = self.log()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if marker in log:
                raise AssertionError("sanitizer report:\n" + log[-6000:])
        if rc != 0:
            raise AssertionError("iridium exited with %d:\n%s" % (rc, log[-4000:]))


def run_shell_lines(sh, served):
    """Runs each command line of the sh block (the port replaced), returning
    [(line, output, expected)] where expected is the line's trailing comment
    "# -> ANSWER" (or the "# " lines that follow it), or None."""
    results = []
    lines = sh.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cmd, _, comment = line.partition("  #")
        comment = comment.strip()
        expected = comment[3:] if comment.startswith("-> ") else None
        follow = []
        while i < len(lines) and lines[i].startswith("# "):
            follow.append(lines[i][2:])
            i += 1
        if follow:
            expected = "\n".join(follow)
        cmd = cmd.replace("127.0.0.1:8080", "127.0.0.1:%d" % served.port)
        out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True,
                             timeout=H.scaled(30)).stdout
        results.append((cmd, out.strip(), expected))
    return results
