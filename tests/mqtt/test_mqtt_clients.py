#!/usr/bin/python3
"""test_mqtt_clients.py — real MQTT clients through the bridge, against a
real Mosquitto (broker.py), with mosquitto_pub / mosquitto_sub straight on
the broker on the other side.

  MQTT.js    (tests/js/mqtt_client.js, npm mqtt 5) over ws:// and wss://
             (TLS listener, the harness's test certificate trusted), MQTT
             3.1.1 and 5.0: subscribes at QoS 2, receives mosquitto_pub's
             QoS 0/1/2 messages with their QoS, publishes QoS 0/1/2 that
             mosquitto_sub receives.
  paho-mqtt  (python3-paho-mqtt, transport="websockets") the same, 3.1.1
             and 5.0.
  HTTP/2     RFC 8441 extended CONNECT (wsraw.H2WS) with MQTT packets by
             hand: CONNECT, SUBSCRIBE, a message from mosquitto_pub.
  subprotocol the one offered (mqtt, mqttv3.1) is echoed.
Every wait is bounded; only 127.0.0.1 is used.
"""

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import broker as B  # noqa: E402
import mqttraw as M  # noqa: E402
from mqttraw import H, wsraw  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import h2client as C  # noqa: E402

import paho.mqtt.client as paho  # noqa: E402

JS = os.path.join(H.REPO, "tests", "js")
BROKER = SRV = TMP = None


def setUpModule():
    global BROKER, SRV, TMP
    if not shutil.which("node") or not os.path.isdir(os.path.join(JS, "node_modules", "mqtt")):
        print("mqtt_clients setup: needs node and tests/js/node_modules/mqtt", file=sys.stderr)
        sys.exit(1)
    TMP = tempfile.mkdtemp(prefix="iridium-mqtt-clients-")
    BROKER = B.Broker().start()
    SRV = C.H2Server(server={"workers": 2}, modules=["websocket", "mqtt"],
                     routes=[("/mqtt", {"module": "mqtt", "broker": BROKER.address})],
                     protocols="http/1.1, h2c",
                     listeners=[{"tls": True, "protocols": "http/1.1"}])
    SRV.__enter__()


def tearDownModule():
    try:
        if SRV is not None:
            SRV.__exit__(None, None, None)
    finally:
        if BROKER is not None:
            BROKER.close()
        if TMP:
            shutil.rmtree(TMP, ignore_errors=True)


def pub_three(topic):
    for q in (0, 1, 2):
        B.mosquitto_pub(BROKER, topic, "from-broker-q%d" % q, qos=q)


def wait_sub(proc, timeout=20):
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    return sorted(out.split("\n")[:-1])


class MQTTjs(unittest.TestCase):
    def run_js(self, url, version, ca=None):
        tag = "js%d%s" % (version, "s" if ca else "")
        inbound, outbound = "in/%s" % tag, "out/%s" % tag
        sub = B.mosquitto_sub(BROKER, outbound, 3, timeout=20, extra=["-q", "2"])
        time.sleep(0.3)
        plan = {"url": url, "protocolVersion": version, "clientId": tag, "ca": ca,
                "subscribe": inbound, "expect": 3,
                "publish": [{"topic": outbound, "payload": "from-js-q%d" % q, "qos": q}
                            for q in (0, 1, 2)]}
        path = os.path.join(TMP, tag + ".json")
        with open(path, "w") as f:
            json.dump(plan, f)
        node = subprocess.Popen(["node", os.path.join(JS, "mqtt_client.js"), path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ready = json.loads(node.stdout.readline() or '{"error": "no output"}')
            self.assertEqual(ready.get("granted"), [2], ready)
            pub_three(inbound)
            out, err = node.communicate(timeout=H.scaled(30))
        finally:
            if node.poll() is None:
                node.kill()
                node.communicate(timeout=5)
        res = json.loads(out.strip().split("\n")[-1])
        self.assertEqual(sorted((m["payload"], m["qos"]) for m in res["received"]),
                         [("from-broker-q%d" % q, q) for q in (0, 1, 2)], res)
        self.assertEqual(wait_sub(sub), ["%s from-js-q%d" % (outbound, q) for q in (0, 1, 2)])

    def test_ws_v4(self):
        self.run_js("ws://127.0.0.1:%d/mqtt" % SRV.port, 4)

    def test_ws_v5(self):
        self.run_js("ws://127.0.0.1:%d/mqtt" % SRV.port, 5)

    def test_wss_v4(self):
        self.run_js("wss://127.0.0.1:%d/mqtt" % SRV.ports[0], 4, ca=C.test_cert()[0])

    def test_wss_v5(self):
        self.run_js("wss://127.0.0.1:%d/mqtt" % SRV.ports[0], 5, ca=C.test_cert()[0])


class Paho(unittest.TestCase):
    def run_paho(self, protocol):
        tag = "paho%d" % protocol
        inbound, outbound = "in/%s" % tag, "out/%s" % tag
        got = queue.Queue()
        cl = paho.Client(client_id=tag, transport="websockets", protocol=protocol)
        cl.ws_set_options(path="/mqtt")
        events = queue.Queue()
        cl.on_connect = lambda c, u, f, rc, p=None: events.put(("connack", rc))
        cl.on_subscribe = lambda c, u, mid, codes, p=None: events.put(("suback", codes))
        cl.on_message = lambda c, u, m: got.put((m.topic, m.payload.decode(), m.qos))
        cl.connect("127.0.0.1", SRV.port, keepalive=30)
        cl.loop_start()
        try:
            kind, rc = events.get(timeout=H.scaled(10))
            self.assertEqual((kind, rc == 0), ("connack", True))
            sub = B.mosquitto_sub(BROKER, outbound, 3, timeout=20, extra=["-q", "2"])
            time.sleep(0.3)
            cl.subscribe(inbound, qos=2)
            kind, codes = events.get(timeout=H.scaled(10))
            self.assertEqual(kind, "suback")
            self.assertEqual([int(getattr(c, "value", c)) for c in codes], [2])
            pub_three(inbound)
            msgs = sorted(got.get(timeout=H.scaled(10)) for _ in range(3))
            self.assertEqual(msgs, [(inbound, "from-broker-q%d" % q, q) for q in (0, 1, 2)])
            for q in (0, 1, 2):
                cl.publish(outbound, "from-paho-q%d" % q, qos=q).wait_for_publish(H.scaled(10))
            self.assertEqual(wait_sub(sub), ["%s from-paho-q%d" % (outbound, q) for q in (0, 1, 2)])
        finally:
            cl.disconnect()
            cl.loop_stop()

    def test_paho_311(self):
        self.run_paho(paho.MQTTv311)

    def test_paho_5(self):
        self.run_paho(paho.MQTTv5)


class Handshake(unittest.TestCase):
    def test_subprotocol_echoed(self):
        for proto in ("mqtt", "mqttv3.1"):
            with M.Session(SRV.port) as s:
                r = s.open("/mqtt", protocols=proto)
                self.assertEqual(r.status, 101)
                self.assertEqual(r.header("sec-websocket-protocol"), proto)

    def test_h2_extended_connect(self):
        conn = C.RawConn(SRV.port)
        self.addCleanup(conn.close)
        self.assertTrue(C.wait_settings_and_ack(conn), conn.summary())
        ws = wsraw.H2WS(conn, "/mqtt", extra=[("sec-websocket-protocol", "mqtt")])
        self.assertEqual(ws.status, 200, conn.summary())
        ws.send_frame(wsraw.BINARY, M.connect("h2client", 5))
        op, msg = ws.recv_message(10)
        self.assertEqual((op, M.split(msg)[0][0]), (wsraw.BINARY, M.CONNACK))
        ws.send_frame(wsraw.BINARY, M.subscribe(1, ["in/h2"], 5))
        op, msg = ws.recv_message(10)
        self.assertEqual(M.split(msg)[0], (M.SUBACK, b"\x00\x01\x00\x00"))
        B.mosquitto_pub(BROKER, "in/h2", "over-h2")
        op, msg = ws.recv_message(10)
        ptype, body = M.split(msg)[0]
        self.assertEqual(ptype, M.PUBLISH)
        self.assertTrue(body.endswith(b"over-h2"), body)
        ws.send_close(1000)
        ws.wait_close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
