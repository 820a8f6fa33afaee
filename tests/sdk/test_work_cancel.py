#!/usr/bin/python3
"""test_work_cancel.py — sdk/README.md's "Thread-pool work you can cancel
(1.4)", followed literally, then pushed further (host.h work_start and
work_cancel):

  - the section's C code is sdk/examples/jobs/jobs.c, byte for byte;
  - its INI is served ([server] thread_pool = 1) and its curl lines answer
    what their comments say, the stats line included: a client that leaves
    while its job runs, and one that leaves while its job waits behind the
    busy pool, each make done see IR_ECLOSED; the waiting one never runs;
  - the module's own check holds throughout: done sees IR_ECLOSED exactly
    when on_close came first ("broken=0"); the server exits 0 on SIGTERM
    with no sanitizer report (under ASan, no use of a closed stream);
  - after that, 20 batches of 16 cancelled jobs over both workers (HTTP/1.1
    and h2c through curl, at once), and the pool still runs every later
    job: 320 more IR_ECANCELED, each batch answered "16 cancelled";
  - ten clients leave while their jobs wait behind a 1.5 s job: ten more
    IR_ECLOSED and no more runs than the jobs that started.
"""
import os
import re
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import readme_section as R  # noqa: E402

TITLE = "Thread-pool work you can cancel (1.4)"


def stats(served):
    out = subprocess.run(["curl", "-s", "-m", "10", served.url("/jobs/stats")],
                         capture_output=True, text=True, timeout=20).stdout
    m = re.fullmatch(r"ok=(\d+) canceled=(\d+) closed=(\d+) ran=(\d+) broken=(\d+)\n", out)
    if not m:
        raise AssertionError("stats: %r" % out)
    return dict(zip(("ok", "canceled", "closed", "ran", "broken"), map(int, m.groups())))


class WorkCancel(unittest.TestCase):
    def test_readme_section(self):
        text = R.section(TITLE)
        code = R.blocks(text, "c")
        source = open(os.path.join(R.REPO, "sdk", "examples", "jobs", "jobs.c")).read()
        self.assertIn(source, code, "the section's example is not sdk/examples/jobs/jobs.c")
        ini = R.blocks(text, "ini")
        self.assertEqual(len(ini), 1)
        self.assertIn("thread_pool = 1", ini[0])
        served = R.Served(ini[0]).start()
        try:
            results = R.run_shell_lines(R.blocks(text, "sh")[-1], served)
            self.assertEqual(len(results), 5, results)
            for cmd, out, expected in results:
                if expected is not None:
                    self.assertEqual(out, expected, "%s\n%s" % (cmd, served.log()[-3000:]))
            self.more_batches(served)
            self.clients_leave(served)
        finally:
            served.stop()

    def more_batches(self, served):
        before = stats(served)
        answers = []

        def batch(i):
            proto = "--http2-prior-knowledge" if i % 2 else "--http1.1"
            answers.append(subprocess.run(
                ["curl", "-s", proto, "-m", "60", served.url("/jobs/batch?n=16&ms=20")],
                capture_output=True, text=True, timeout=90).stdout)
        threads = [threading.Thread(target=batch, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        self.assertEqual(sorted(answers), ["slept 20 ms; 16 cancelled\n"] * 20)
        after = stats(served)
        self.assertEqual(after["canceled"] - before["canceled"], 320)
        self.assertEqual(after["ok"] - before["ok"], 40)  # each batch's first and last
        self.assertEqual(after["ran"] - before["ran"], 40)
        self.assertEqual(after["broken"], 0)

    def clients_leave(self, served):
        before = stats(served)
        busy = subprocess.Popen(["curl", "-s", "-m", "30", served.url("/jobs/slow?ms=1500")],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)  # the 1.5 s job takes the pool's one thread
        leavers = [subprocess.Popen(["curl", "-s", "-m", "0.4", served.url("/jobs/slow?ms=50")],
                                    stdout=subprocess.DEVNULL) for _ in range(10)]
        for p in leavers:
            p.wait(20)
        self.assertEqual(busy.communicate(timeout=30)[0], "slept 1500 ms; 0 cancelled\n")
        after = R.H.wait_for(lambda: (lambda s: s if s["closed"] - before["closed"] >= 10 else None)(
            stats(served)), R.H.scaled(10))
        self.assertTrue(after, "done did not see IR_ECLOSED ten times: %s" % stats(served))
        self.assertEqual(after["closed"] - before["closed"], 10)
        self.assertEqual(after["ran"] - before["ran"], 1, "a job whose client left still ran")
        self.assertEqual(after["broken"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
