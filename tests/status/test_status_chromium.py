#!/usr/bin/python3
"""mod_status's dashboard in headless Chromium: while held requests and an
h2load run give the server connections and traffic, the page at /status/
(fed by /status/events) shows those connections with their streams, its
request chart gains points and moves, and a screenshot is saved
(status_dashboard.png in the build folder). Chromium calls out to outside
services on its own, so the test re-executes itself under `unshare -n`
(root), brings lo up there and runs the server and the browser inside,
as tests/websocket/test_ws_chromium.py does (its Chromium driver is used)."""

import base64
import json
import os
import subprocess
import sys
import shutil
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "websocket"))
import test_ws_chromium as WC  # noqa: E402
from test_ws_chromium import H  # noqa: E402

OUTER_TIMEOUT = 180.0
HELD = 6  # connections each holding a delayed request


class DashboardInChromium(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="iridium-status-chromium-")
        self.srv = H.Server(server={"workers": 2},
                            routes=[("/hello", {"module": "hello"}),
                                    ("/status", {"module": "status"})],
                            modules=["hello", "status"], protocols="http/1.1, h2c")
        self.srv.start()
        self.held = []

    def tearDown(self):
        for s in self.held:
            s.close()
        self.srv.stop()
        self.srv.cleanup()
        shutil.rmtree(self.work, ignore_errors=True)

    def test_dashboard_shows_the_load_and_moves(self):
        port = self.srv.port
        for _ in range(HELD):
            s = H.connect(port)
            s.sendall(H.build_request("GET", "/hello?delay=15000"))
            self.held.append(s)
        load = subprocess.Popen(["h2load", "-D", "8", "-c", "2", "-m", "4",
                                 "http://127.0.0.1:%d/hello" % port],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (load.poll() is None and load.kill(), load.wait(10)))
        br = WC.Chromium(self.work)
        seen, info = {}, ""
        try:
            br.start()
            s = br.page_session()
            for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
                br.call(domain, session=s)
            nav = br.call("Page.navigate", {"url": "http://127.0.0.1:%d/status/" % port}, s)
            self.assertFalse(nav.get("errorText"), nav)
            # what the page shows (zeros until it has loaded)
            probe = """JSON.stringify((() => {
                const c = document.querySelector('canvas[data-series=requests]');
                const body = document.querySelector('#connections tbody');
                return {events: +(document.body && document.body.dataset.events || 0),
                        state: (document.getElementById('state') || {}).textContent || '',
                        rows: body ? body.querySelectorAll('tr').length : 0,
                        table: body ? body.textContent : '',
                        points: c ? +(c.dataset.points || 0) : 0,
                        last: c ? +(c.dataset.last || 0) : 0,
                        max: c ? +(c.dataset.max || 0) : 0};
            })())"""
            deadline = br.deadline(25.0)
            first = None
            while time.monotonic() < deadline:
                seen = json.loads(br.evaluate(s, probe))
                if seen["events"] >= 1 and first is None and seen["points"] >= 1:
                    first = dict(seen)
                if first and seen["events"] >= first["events"] + 3 and seen["rows"] >= HELD:
                    break
                time.sleep(0.3)
            shot = os.path.join(WC.ARTIFACTS_DIR, "status_dashboard.png")
            r = br.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                        s, timeout=10.0)
            os.makedirs(WC.ARTIFACTS_DIR, exist_ok=True)
            with open(shot, "wb") as f:
                f.write(base64.b64decode(r["data"]))
            print("test_status_chromium: screenshot in %s" % shot)
        finally:
            info = ("\n--- console:\n%s\n--- chromium log (tail):\n%s\n--- error log:\n%s"
                    % ("\n".join(br.console_lines())[-3000:], br.log_text()[-2000:],
                       self.srv.error_log_text()[-2000:]))
            br.stop()
        self.assertIsNotNone(first, "the page never drew a chart: %r%s" % (seen, info))
        self.assertEqual(seen["state"], "live", info)
        self.assertGreaterEqual(seen["rows"], HELD, "%r%s" % (seen, info))
        self.assertIn("GET /hello (hello)", seen["table"], info)
        self.assertIn("http/1.1", seen["table"], info)
        self.assertGreater(seen["points"], first["points"], "the chart gained no points")
        self.assertGreater(seen["last"], first["last"], "the chart did not move")
        self.assertGreater(seen["max"], 10, "no requests/s drawn under h2load: %r" % seen)
        self.assertGreater(os.path.getsize(shot), 10000, "empty screenshot")


def main():
    WC.main_in_private_netns(__file__, "test_status_chromium", OUTER_TIMEOUT)


if __name__ == "__main__":
    main()
