"""broker.py — a real Mosquitto broker (Debian's /usr/sbin/mosquitto) for
mod_mqtt's tests: its own config in a temporary folder, a plain MQTT
listener on 127.0.0.1 only, anonymous clients allowed, no persistence.
stop() / start() again keep the port, so a test can take the broker away
and bring it back. Every wait is bounded."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

sys_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration")
import sys  # noqa: E402

if sys_path not in sys.path:
    sys.path.insert(0, sys_path)
import harness  # noqa: E402

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Broker:
    def __init__(self, port=None, extra=""):
        self.port = port or harness.free_port()
        self.extra = extra
        self.dir = tempfile.mkdtemp(prefix="iridium-mosquitto-")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        self.log = os.path.join(self.dir, "mosquitto.log")
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def write_conf(self):
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\n" % self.port)
            f.write("allow_anonymous true\npersistence false\n")
            f.write("log_dest file %s\nlog_type error\nlog_type warning\n" % self.log)
            f.write(self.extra)

    def start(self, timeout=10.0):
        self.write_conf()
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mosquitto exited: %s" % self.proc.stderr.read().decode())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen on %d" % self.port)

    def stop(self, kill=False):
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def mosquitto_pub(broker, topic, message, qos=0, retain=False, version=None, timeout=10):
    """Publishes one message straight to the broker with mosquitto_pub."""
    cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic,
           "-m", message, "-q", str(qos)]
    if retain:
        cmd.append("-r")
    if version:
        cmd += ["-V", version]
    subprocess.run(cmd, check=True, timeout=timeout)


def mosquitto_sub(broker, topic, count, timeout=10, extra=()):
    """Starts mosquitto_sub for count messages (-C) printing "topic payload"
    lines (-v); returns the Popen. The caller reads its stdout."""
    cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic, "-v",
           "-C", str(count), "-W", str(int(timeout))] + list(extra)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
