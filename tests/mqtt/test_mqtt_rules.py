#!/usr/bin/python3
"""test_mqtt_rules.py — the bridge's rules, with MQTT packets written by hand
(mqttraw.py) in WebSocket frames written by hand (wsraw.py), against a real
Mosquitto (broker.py) watched with mosquitto_sub and its own log.

Checked:
  - SUBSCRIBE outside the route's filters: SUBACK failure code 0x80 (3.1.1)
    / 0x87 (5.0) at exactly those positions, the others granted by the
    broker; `#` on a route that allows `#` does not reach `$SYS`;
  - PUBLISH outside: never seen by mosquitto_sub; 5.0 QoS 1 gets PUBACK
    0x87 and QoS 2 PUBREC 0x87, the session stays; 3.1.1 is closed 1008;
  - a client id outside client_id: CONNACK 2 (3.1.1) / 0x85 (5.0), closed;
  - username_header: the broker sees the header's value as the username;
  - malformed (bad remaining length, truncated CONNECT, a packet over
    max_packet_size): close 1002 (5.0: DISCONNECT 0x95 first for the
    oversize one) and the broker connection is closed too;
  - a text message: close 1003;
  - faults: the broker down before the handshake → 503; a broker that
    drops the link after CONNECT → CONNACK 3 then close 1011; a broker
    stopped mid-session → 1011; no fd leak after all of it.
Every wait is bounded; only 127.0.0.1 is used.
"""

import os
import socket
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import broker as B  # noqa: E402
import mqttraw as M  # noqa: E402
from mqttraw import H, wsraw  # noqa: E402

BROKER = SRV = None
DOWN = None  # a port nobody listens on
DROPPER = None  # a port where a fake broker reads CONNECT and hangs up


def dropper():
    """A 'broker' that takes the connection, reads some bytes, closes."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    s.settimeout(120)

    def run():
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            c.settimeout(10)
            try:
                c.recv(65536)
            except OSError:
                pass
            c.close()

    threading.Thread(target=run, daemon=True).start()
    return s


def setUpModule():
    global BROKER, SRV, DOWN, DROPPER
    BROKER = B.Broker(extra="log_type all\nconnection_messages true\n")
    # Mosquitto started as root writes its log as user mosquitto.
    os.chmod(BROKER.dir, 0o755)
    open(BROKER.log, "a").close()
    os.chmod(BROKER.log, 0o666)
    BROKER.start()
    DOWN = H.free_port()
    DROPPER = dropper()
    base = {"module": "mqtt", "broker": BROKER.address, "max_packet_size": "1k"}
    routes = [
        ("/mqtt", dict(base, publish="allowed/#", subscribe="allowed/# public/+")),
        ("/all", dict(base)),
        ("/id", dict(base, client_id="dev-*")),
        ("/user", dict(base, username_header="X-User")),
        ("/down", dict(base, broker="127.0.0.1:%d" % DOWN)),
        ("/drop", dict(base, broker="127.0.0.1:%d" % DROPPER.getsockname()[1])),
    ]
    SRV = H.Server(server={"workers": 1}, modules=["websocket", "mqtt"], routes=routes)
    SRV.__enter__()


def tearDownModule():
    M.stop_all(SRV, lambda: BROKER and BROKER.close(), lambda: DROPPER and DROPPER.close())


def session(path="/mqtt", level=4, client_id="c1", headers=None):
    s = M.Session(SRV.port)
    r = s.open(path, headers=headers)
    assert r.status == 101, (r.status, getattr(r, "body", b""))
    if client_id is not None:
        s.send_packets(M.connect(client_id, level))
        ack = s.expect(M.CONNACK)
        assert ack[1] == 0, ack
    return s


def bridge_links():
    return M.established_to(BROKER.port, SRV.pid)


class Subscribe(unittest.TestCase):
    def check_codes(self, level, refused):
        with session(level=level, client_id="sub%d" % level) as s:
            s.send_packets(M.subscribe(7, ["allowed/a", "secret/x", "public/b", "#"], level))
            body = s.expect(M.SUBACK)
            self.assertEqual(body[:2], b"\x00\x07")
            codes = body[3:] if level == 5 else body[2:]
            self.assertEqual(list(codes), [0, refused, 0, refused])

    def test_suback_failure_311(self):
        self.check_codes(4, 0x80)

    def test_suback_failure_50(self):
        self.check_codes(5, 0x87)

    def test_all_refused_answered_by_bridge(self):
        with session(client_id="subnone") as s:
            s.send_packets(M.subscribe(9, ["secret/#"]))
            body = s.expect(M.SUBACK)
            self.assertEqual(body, b"\x00\x09\x80")

    def test_sys_not_in_hash(self):
        with session("/all", client_id="sys") as s:
            s.send_packets(M.subscribe(3, ["$SYS/#", "#"]))
            body = s.expect(M.SUBACK)
            self.assertEqual(list(body[2:]), [0x80, 0])


class Publish(unittest.TestCase):
    def test_outside_not_seen_50_puback(self):
        sub = B.mosquitto_sub(BROKER, "#", 1, timeout=10)
        time.sleep(0.5)
        try:
            with session(level=5, client_id="pub5") as s:
                s.send_packets(M.publish("secret/x", b"no", qos=1, pid=5, level=5))
                self.assertEqual(s.expect(M.PUBACK)[:3], b"\x00\x05\x87")
                s.send_packets(M.publish("secret/y", b"no", qos=2, pid=6, level=5))
                self.assertEqual(s.expect(M.PUBREC)[:3], b"\x00\x06\x87")
                s.send_packets(M.publish("secret/z", b"no", qos=0, level=5))
                s.send_packets(M.publish("allowed/ok", b"yes", qos=1, pid=8, level=5))
                self.assertEqual(s.expect(M.PUBACK)[:2], b"\x00\x08")
            out, _ = sub.communicate(timeout=15)
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait(5)
        self.assertEqual(out.strip(), "allowed/ok yes")

    def test_outside_311_closes_1008(self):
        with session(client_id="pub4") as s:
            s.send_packets(M.publish("secret/x", b"no"))
            f = s.wait_close()
            self.assertIsNotNone(f)
            self.assertEqual(f.close_code, 1008)


class Connect(unittest.TestCase):
    def refused(self, level, code):
        with M.Session(SRV.port) as s:
            self.assertEqual(s.open("/id").status, 101)
            s.send_packets(M.connect("intruder", level))
            body = s.expect(M.CONNACK)
            self.assertEqual(body[1], code)
            f = s.wait_close()
            self.assertIsNotNone(f)

    def test_client_id_311(self):
        self.refused(4, 0x02)

    def test_client_id_50(self):
        self.refused(5, 0x85)

    def test_client_id_match(self):
        with session("/id", client_id="dev-7"):
            pass

    def test_username_header(self):
        with session("/user", client_id="named", headers=[("X-User", "alice-from-proxy")]):
            pass
        ok = H.wait_for(lambda: "alice-from-proxy" in open(BROKER.log).read(), H.scaled(5))
        self.assertTrue(ok, open(BROKER.log).read()[-2000:])

    def test_username_header_missing(self):
        with M.Session(SRV.port) as s:
            self.assertEqual(s.open("/user").status, 101)
            s.send_packets(M.connect("anon"))
            self.assertEqual(s.expect(M.CONNACK)[1], 0x04)


class Malformed(unittest.TestCase):
    def closes(self, pkt, level=4, disconnect=None, piece=None):
        s = session(level=level, client_id="bad%d" % level)
        with s:
            self.assertTrue(H.wait_for(lambda: bridge_links() >= 1, H.scaled(5)))
            before = bridge_links()
            piece = piece or len(pkt)
            for i in range(0, len(pkt), piece):
                s.send_frame(wsraw.BINARY, pkt[i:i + piece])
            if disconnect is not None:
                body = s.expect(M.DISCONNECT)
                self.assertEqual(body[0], disconnect)
            f = s.wait_close()
            self.assertIsNotNone(f)
            self.assertEqual(f.close_code, 1002)
        self.assertTrue(H.wait_for(lambda: bridge_links() < before, H.scaled(5)),
                        "the broker connection stayed open")

    def test_bad_remaining_length(self):
        self.closes(b"\x30\xff\xff\xff\xff\x01")

    def test_truncated_field(self):
        # PUBLISH whose topic length says 200 bytes inside a 4-byte body
        self.closes(b"\x30\x04\x00\xc8ab")

    # A packet over max_packet_size (1k) in messages each under the
    # WebSocket limit: the bridge's answer. (One message over the limit is
    # mod_websocket's 1009.)
    def test_oversize_50(self):
        self.closes(M.publish("allowed/big", b"x" * 2000, level=5), level=5, disconnect=0x95,
                    piece=500)

    def test_oversize_311(self):
        self.closes(M.publish("allowed/big", b"x" * 2000), piece=500)

    def test_oversize_message_1009(self):
        with session(client_id="huge") as s:
            s.send_frame(wsraw.BINARY, M.publish("allowed/big", b"x" * 4000))
            self.assertEqual(s.wait_close().close_code, 1009)

    def test_text_message_1003(self):
        with session(client_id="text") as s:
            s.send_frame(wsraw.TEXT, b"hello")
            f = s.wait_close()
            self.assertEqual(f.close_code, 1003)

    def test_packet_across_messages(self):
        with session(client_id="split") as s:
            pkt = M.subscribe(11, ["allowed/split"])
            for i in range(len(pkt)):
                s.send_frame(wsraw.BINARY, pkt[i:i + 1])
            self.assertEqual(s.expect(M.SUBACK), b"\x00\x0b\x00")


class Faults(unittest.TestCase):
    def test_broker_down_503(self):
        with M.Session(SRV.port) as s:
            r = s.open("/down")
            self.assertEqual(r.status, 503)

    def test_link_dropped_after_connect(self):
        with M.Session(SRV.port) as s:
            self.assertEqual(s.open("/drop").status, 101)
            s.send_packets(M.connect("dropped"))
            self.assertEqual(s.expect(M.CONNACK)[1], 0x03)
            f = s.wait_close()
            self.assertEqual(f.close_code, 1011)

    def test_zz_broker_stopped_and_no_fd_leak(self):
        for _ in range(3):  # warm up
            session(client_id="warm").close()
        time.sleep(0.5)
        fds = SRV.num_fds()
        for i in range(20):
            with session(client_id="n%d" % i):
                pass
        s = session(client_id="victim")
        BROKER.stop()
        try:
            f = s.wait_close(timeout=10)
            self.assertIsNotNone(f)
            self.assertEqual(f.close_code, 1011)
            s.close()
            with M.Session(SRV.port) as s2:
                self.assertEqual(s2.open("/mqtt").status, 503)
        finally:
            BROKER.start()
        self.assertTrue(H.wait_for(lambda: SRV.num_fds() <= fds, H.scaled(5)),
                        (SRV.num_fds(), fds))


if __name__ == "__main__":
    unittest.main(verbosity=2)
