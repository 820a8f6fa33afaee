#!/usr/bin/python3
"""test_every_worker.py — sdk/README.md's "A stream's module, every worker
(1.4)", followed literally: the section's C code is sdk/examples/fanout/
fanout.c byte for byte; the section's INI (only its modules_dir and port
changed) passes `iridium -t` and serves; the section's curl command, run
over HTTP/1.1 and HTTP/2 (h2c), gets the answer the section shows, from
all three workers; the log lines the section shows are there (module name
and ids from ir_log(ir_stream_module(s), s, ...), the worker index read
from ir_stream_worker_data(s)); h2load's concurrent requests are all
answered; and after SIGTERM every worker's worker_exit line says it ran a
task for every request.

    test_every_worker.py README
Environment: IRIDIUM_BIN and IRIDIUM_FANOUT_MODULE (the built fanout.so).
"""

import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402

README = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(H.REPO, "sdk", "README.md")
FANOUT_SO = os.environ.get("IRIDIUM_FANOUT_MODULE") or os.path.join(
    H.REPO, "build", "tests", "sdk", "modules", "fanout.so")
EXAMPLE = os.path.join(H.REPO, "sdk", "examples", "fanout", "fanout.c")
TITLE = "## A stream's module, every worker (1.4)"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def section():
    text = read(README)
    start = text.index(TITLE)
    end = text.find("\n## ", start + len(TITLE))
    return text[start:end if end >= 0 else len(text)]


def blocks(sec, lang):
    return re.findall(r"^```%s\n(.*?)^```$" % lang, sec, re.S | re.M)


def log_pattern(line):
    """A README log line ('... rest') as a regex for the real line, numbers free."""
    rest = line.strip()
    assert rest.startswith("... "), line
    return re.escape(rest[4:]).replace(r"\ ", " ")


class EveryWorker(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sec = section()
        cls.tmp = tempfile.mkdtemp(prefix="iridium-fanout-")

    def test_code_is_the_example_file(self):
        code = blocks(self.sec, "c")
        self.assertEqual(len(code), 1, "the section shows one C block")
        self.assertEqual(code[0], read(EXAMPLE),
                         "the README's code differs from sdk/examples/fanout/fanout.c")

    def serve(self):
        ini, = blocks(self.sec, "ini")
        port = H.free_port()
        ini = re.sub(r"^modules_dir = .*$", "modules_dir = " + os.path.dirname(FANOUT_SO), ini,
                     flags=re.M)
        ini, n = re.subn(r"^\[listen 127\.0\.0\.1:(\d+)\]$", "[listen 127.0.0.1:%d]" % port, ini,
                         flags=re.M)
        self.assertEqual(n, 1, ini)
        self.assertIn("workers = 3", ini)
        path = os.path.join(self.tmp, "fanout.ini")
        with open(path, "w") as f:
            f.write(ini)
        check = subprocess.run([H.IRIDIUM_BIN, "-t", "-c", path], capture_output=True, text=True,
                               timeout=H.scaled(20))
        self.assertEqual(check.returncode, 0, check.stderr)
        err = os.path.join(self.tmp, "stderr")
        with open(err, "w") as f:
            proc = subprocess.Popen([H.IRIDIUM_BIN, "-c", path], stdout=subprocess.DEVNULL,
                                    stderr=f)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        up = H.wait_for(lambda: "started" in read(err) or proc.poll() is not None, H.scaled(10))
        self.assertTrue(up and proc.poll() is None, read(err))
        return proc, port, err

    def curl_lines(self, port):
        """The section's curl command, its port changed: (argv, the answer shown)."""
        sh, = [b for b in blocks(self.sec, "sh") if "curl" in b]
        cmd, _, shown = sh.strip().partition("# -> ")
        argv = [a.replace(":8082", ":%d" % port) for a in shlex.split(cmd)]
        return argv, shown.strip()

    def test_section_followed(self):
        proc, port, err = self.serve()
        argv, shown = self.curl_lines(port)
        want = re.escape(shown).replace(r"worker\ 1", r"worker [012]").replace(r"\ ", " ")
        homes, n = set(), 0
        for extra in ([], ["--http2-prior-knowledge"]):
            for _ in range(12):
                out = subprocess.run(argv[:1] + ["-sS", "--max-time", "10"] + extra + argv[1:],
                                     capture_output=True, text=True, timeout=H.scaled(15))
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertRegex(out.stdout, "^%s\n$" % want, "curl %s" % extra)
                homes.add(out.stdout.split()[3])
                n += 1
        self.assertGreater(len(homes), 1, "24 connections all went to one worker: %r" % homes)
        # Many at once, on 3 workers: each one answered by all three.
        load = subprocess.run(["h2load", "-n", "300", "-c", "6", "-m", "10",
                               "http://127.0.0.1:%d/fanout" % port],
                              capture_output=True, text=True, timeout=H.scaled(60))
        self.assertIn("300 succeeded", load.stdout, load.stdout + load.stderr)
        self.assertIn("status codes: 300 2xx", load.stdout, load.stdout)
        n += 300
        logs = blocks(self.sec, "text")
        request_line = log_pattern(logs[0]).replace("conn=3", r"conn=\d+").replace(
            r"stream=1", r"stream=\d+").replace("request 1 on worker 1", r"request \d+ on worker \d")
        text = read(err)
        self.assertEqual(len(re.findall(request_line, text)), n, text[-2000:])
        for m in re.finditer(r"request \d+ on worker (\d)", text):
            self.assertIn(m.group(1), "012")
        proc.terminate()
        self.assertEqual(proc.wait(timeout=H.scaled(15)), 0, read(err)[-2000:])
        text = read(err)
        exit_line = log_pattern(logs[1]).replace("worker 2", r"worker (\d)").replace(
            "0 requests", r"(\d+) requests").replace("5 tasks", r"(\d+) tasks")
        exits = re.findall(exit_line, text)
        self.assertEqual(sorted(w for w, _, _ in exits), ["0", "1", "2"], text[-2000:])
        self.assertEqual(sum(int(r) for _, r, _ in exits), n, exits)
        for w, _, tasks in exits:
            self.assertEqual(int(tasks), n, "worker %s ran %s tasks for %d requests" % (w, tasks, n))
        self.assertNotIn("ERROR: AddressSanitizer", text)
        self.assertNotIn("runtime error", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
