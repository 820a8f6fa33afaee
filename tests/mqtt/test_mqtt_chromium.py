#!/usr/bin/python3
"""test_mqtt_chromium.py — MQTT.js in a real browser through the bridge.

mosquitto_pub leaves a retained message on demo/retained at a Mosquitto of
the test's own; headless Debian Chromium loads a page that Iridium serves
over TLS (h2 by ALPN) from a temporary docroot holding the page and
MQTT.js's browser build (tests/js/node_modules/mqtt/dist/mqtt.min.js, not
part of conf/); the page connects MQTT.js over wss:// to the page's own
origin at /mqtt, so Chromium opens the WebSocket as an RFC 8441 extended
CONNECT stream of that HTTP/2 connection, subscribes, and must receive the
retained message (topic, payload, retain flag) and then one it publishes
itself. Iridium's log then shows the session opened on an HTTP/2 stream
(protocol=h2) and none over HTTP/1.1.

Like tests/websocket/test_ws_chromium.py (whose Chromium driver it uses),
it re-executes itself under `unshare -n` (root), brings lo up there and
starts Mosquitto, Iridium and Chromium only inside that namespace.
"""

import os
import shutil
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "websocket"))
import broker as B  # noqa: E402
import test_ws_chromium as WC  # noqa: E402
from test_ws_chromium import C, H  # noqa: E402

MQTT_JS = os.path.join(H.REPO, "tests", "js", "node_modules", "mqtt", "dist", "mqtt.min.js")
OUTER_TIMEOUT = 180.0

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>mqtt</title>
<script src="/mqtt.min.js"></script></head>
<body><pre id="result" data-state="running"></pre>
<script>
const out = {events: [], messages: []};
function done(why) {
  out.why = why;
  const r = document.getElementById("result");
  r.textContent = JSON.stringify(out);
  r.dataset.state = "done";
}
setTimeout(() => done("timeout"), 12000);
const url = "wss://" + location.host + "/mqtt";
const client = mqtt.connect(url, {protocolVersion: 5, reconnectPeriod: 0,
                                  connectTimeout: 8000, clientId: "chromium-test"});
client.on("connect", () => {
  out.events.push("connect");
  client.subscribe("demo/#", {qos: 1}, (err) => {
    if (err) return done("suback: " + err);
    out.events.push("subscribed");
  });
});
client.on("message", (topic, payload, packet) => {
  out.messages.push({topic: topic, payload: payload.toString(), retain: !!packet.retain});
  if (out.messages.length === 1) client.publish("demo/from-page", "hello from chromium", {qos: 1});
  if (out.messages.length === 2) client.end(false, () => done("ok"));
});
client.on("error", (e) => { out.events.push("error: " + e.message); done("error"); });
client.on("close", () => out.events.push("close"));
</script></body></html>
"""


class MqttJsInChromium(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="iridium-mqtt-chromium-")
        self.docroot = os.path.join(self.work, "www")
        os.makedirs(self.docroot)
        with open(os.path.join(self.docroot, "index.html"), "w") as f:
            f.write(PAGE)
        shutil.copy(MQTT_JS, os.path.join(self.docroot, "mqtt.min.js"))
        self.broker = B.Broker().start()
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.stop()
        self.broker.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def test_mqttjs_over_h2_wss_gets_retained_message(self):
        B.mosquitto_pub(self.broker, "demo/retained", "kept for newcomers", qos=1, retain=True)
        self.srv = C.H2Server(
            tls=True, modules=["mqtt", "websocket", "static"],
            routes=[("/mqtt", {"module": "mqtt", "broker": self.broker.address,
                               "publish": "demo/#", "subscribe": "demo/#"}),
                    ("/metrics", {"module": "websocket", "mode": "metrics"}),
                    ("/", {"module": "static", "root": self.docroot,
                           "mime_types": os.path.join(H.REPO, "conf", "mime.types")})]).start()
        seen = B.mosquitto_sub(self.broker, "demo/from-page", 1, timeout=30)
        time.sleep(H.scaled(0.5))  # its SUBSCRIBE made before the page publishes
        self.addCleanup(seen.stdout.close)
        self.addCleanup(seen.stderr.close)
        self.addCleanup(lambda: seen.poll() is None and (seen.kill(), seen.wait(5)))
        # the ws test's page driver: load, wait for #result's data-state=done,
        # parse it as JSON, screenshot into the build folder
        result, _shot, info = WC.DemoInChromium.run_browser(
            self, "https://localhost:%d/" % self.srv.port, "mqtt_chromium.png")
        info += "\n--- error log:\n" + self.srv.error_log_text()[-2000:]
        self.assertIsNotNone(result, info)
        self.assertEqual(result["why"], "ok", info)
        first = result["messages"][0]
        self.assertEqual(first, {"topic": "demo/retained", "payload": "kept for newcomers",
                                 "retain": True}, info)
        self.assertEqual(result["messages"][1]["payload"], "hello from chromium", info)
        out = seen.communicate(timeout=H.scaled(20))[0]
        self.assertIn("hello from chromium", out if isinstance(out, str) else out.decode(), info)
        # the session was an extended CONNECT on an HTTP/2 stream (RFC 8441)
        log = self.srv.error_log_text()
        self.assertRegex(log, r"module=mqtt: websocket open: protocol=h2 .*subprotocol=mqtt", info)
        self.assertNotIn("websocket open: protocol=h1", log, info)


def main():
    WC.main_in_private_netns(__file__, "test_mqtt_chromium", OUTER_TIMEOUT)


if __name__ == "__main__":
    main()
