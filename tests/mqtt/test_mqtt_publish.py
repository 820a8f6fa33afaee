#!/usr/bin/python3
"""test_mqtt_publish.py — HTTP publish (POST {route}/publish/{topic}) with
curl against a real Mosquitto: what mosquitto_sub sees, QoS 0 and 1, retain,
the answers for a topic outside the rules (403), a bad topic or parameter
(400), a body over max_packet_size (413), the broker stopped (503) and
back (200 again), and no descriptor left behind."""

import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import broker as B  # noqa: E402
import harness as H  # noqa: E402


def curl(port, path, data, http2=False):
    """(status, body) of a curl POST."""
    cmd = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", "--data-binary", "@-",
           "--max-time", str(int(H.scaled(20))), "http://127.0.0.1:%d%s" % (port, path)]
    if http2:
        cmd.insert(1, "--http2-prior-knowledge")
    out = subprocess.run(cmd, input=data, capture_output=True, timeout=H.scaled(30)).stdout
    body, _, status = out.rpartition(b"\n")
    return int(status or 0), body.decode("utf-8", "replace")


class HttpPublish(unittest.TestCase):
    def setUp(self):
        self.broker = B.Broker()
        self.addCleanup(self.broker.close)
        self.broker.start()
        self.srv = H.Server(
            server={"workers": 2, "log_level": "info"},
            routes=[("/mqtt", {"module": "mqtt", "broker": self.broker.address,
                               "publish": "demo/#, open/+", "subscribe": "demo/#",
                               "max_packet_size": "1k"})],
            modules=["websocket", "mqtt"], protocols="http/1.1, h2c")
        self.addCleanup(lambda: (self.srv.stop(), self.srv.cleanup()))
        self.srv.start()

    def test_published_messages_reach_mosquitto_sub(self):
        sub = B.mosquitto_sub(self.broker, "#", 4, timeout=H.scaled(20))
        self.addCleanup(lambda: sub.poll() is None and (sub.kill(), sub.wait(5)))
        time.sleep(H.scaled(0.5))  # its SUBSCRIBE made first
        for path, data, h2 in [("/mqtt/publish/demo/a", b"qos zero", False),
                               ("/mqtt/publish/demo/b?qos=1", b"qos one", False),
                               ("/mqtt/publish/open/x?qos=1", b"over h2", True),
                               ("/mqtt/publish/demo/sp%20ace", b"escaped", False)]:
            status, body = curl(self.srv.port, path, data, http2=h2)
            self.assertEqual(status, 200, (path, body, self.srv.error_log_text()[-1500:]))
        out, _ = sub.communicate(timeout=H.scaled(20))
        self.assertEqual(sorted(out.splitlines()),
                         ["demo/a qos zero", "demo/b qos one", "demo/sp ace escaped",
                          "open/x over h2"])

    def test_retained_message_reaches_a_later_subscriber(self):
        status, _ = curl(self.srv.port, "/mqtt/publish/demo/kept?retain=true&qos=1", b"for later")
        self.assertEqual(status, 200)
        sub = B.mosquitto_sub(self.broker, "demo/kept", 1, timeout=H.scaled(10))
        out, _ = sub.communicate(timeout=H.scaled(20))
        self.assertEqual(out.strip(), "demo/kept for later")

    def test_refusals(self):
        cases = [("/mqtt/publish/other/x", b"x", 403),   # outside the publish rules
                 ("/mqtt/publish/$SYS/x", b"x", 403),
                 ("/mqtt/publish/demo/%23", b"x", 400),  # a wildcard is no topic name
                 ("/mqtt/publish/demo/+", b"x", 400),
                 ("/mqtt/publish/demo/%00", b"x", 400),
                 ("/mqtt/publish/demo/a?qos=2", b"x", 400),
                 ("/mqtt/publish/demo/a?qos=x", b"x", 400),
                 ("/mqtt/publish/demo/a?retain=maybe", b"x", 400),
                 ("/mqtt/publish/demo/a", b"x" * 2000, 413)]
        for path, data, want in cases:
            status, body = curl(self.srv.port, path, data)
            self.assertEqual(status, want, (path, body))
        r = H.http_request(self.srv.port, "GET", "/mqtt/publish/demo/a")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.header("allow"), "POST")

    def down_and_back(self):
        self.broker.stop()
        for _ in range(3):
            status, body = curl(self.srv.port, "/mqtt/publish/demo/a?qos=1", b"down")
            self.assertEqual(status, 503, body)
        self.broker.start()
        got = H.wait_for(lambda: curl(self.srv.port, "/mqtt/publish/demo/a?qos=1", b"back")[0]
                         == 200, H.scaled(15), interval=0.3)
        self.assertTrue(got, self.srv.error_log_text()[-1500:])
        for _ in range(8):  # both workers' clients connected again
            self.assertEqual(curl(self.srv.port, "/mqtt/publish/demo/a", b"again")[0], 200)

    def test_broker_down_then_back(self):
        # each worker's broker client holds its socket (and libmosquitto's
        # own pair); after one outage that is the steady state to compare with
        self.down_and_back()
        fds = self.srv.num_fds()
        self.down_and_back()
        self.assertTrue(H.wait_for(lambda: self.srv.num_fds() <= fds, H.scaled(5)),
                        (fds, self.srv.num_fds()))

if __name__ == "__main__":
    unittest.main(verbosity=2)
