"""The shipped station broker in a test: mosquitto.conf with only its paths and ports moved, the
shipped ACL, a password file made with mosquitto_passwd, and MQTT 5 clients logged in as a role."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from benchpin.broker import Mosquitto, free_port

ROOT = Path(__file__).resolve().parents[1]
MOSQUITTO_DIR = ROOT / "systemd" / "mosquitto"
MAKE_CERTS = ROOT / "scripts" / "make-certs"
# Two gateways (casting-1 with laser-1, engrave-1 with the kiosk's engraver), the kiosk, a dashboard.
USERS = {"kiosk": "kiosk-secret", "casting-1": "gateway-secret", "casting-2": "other-gateway-secret",
         "engrave-1": "engraver-gateway-secret", "engineer": "engineer-secret"}
JOB = "benchpin/jaipur/casting-1/engraver/laser-1/job"


def mosquitto_passwd(path: Path, users: dict[str, str]) -> Path:
    """Write a password file with mosquitto's own tool, as an installer would."""
    tool = shutil.which("mosquitto_passwd")
    assert tool, "mosquitto_passwd is missing (Debian package mosquitto)"
    path.touch(mode=0o600)
    for user, password in users.items():
        subprocess.run([tool, "-b", str(path), user, password], check=True, capture_output=True)
    return path


def make_certs(directory: Path, *args: str) -> None:
    """Run the shipped certificate helper, as an installer would."""
    subprocess.run(["sh", str(MAKE_CERTS), str(directory), *args], check=True, capture_output=True)


def site_certificates(directory: Path) -> Path:
    """A site CA, the broker's certificate for 127.0.0.1/localhost and a client certificate per user."""
    make_certs(directory, "ca")
    make_certs(directory, "server", "station", "127.0.0.1", "localhost")
    for user in USERS:
        make_certs(directory, "client", user)
    return directory


class StationBroker(Mosquitto):
    """The shipped station broker: ``port`` is the loopback plaintext listener, ``tls_port`` the
    TLS one, ``certs`` the directory made by scripts/make-certs (``ca.crt``, ``<user>.crt``/``.key``)."""

    tls_port: int
    certs: Path


def station_broker(workdir: Path, *, conf_d: dict[str, str] | None = None,
                   require_certificate: bool = False) -> StationBroker:
    """A mosquitto running the shipped station config, with only its paths and ports moved."""
    broker = StationBroker(workdir=workdir)
    broker.tls_port = free_port()
    broker.certs = site_certificates(workdir / "certs")
    (workdir / "conf.d").mkdir()
    for name, text in (conf_d or {}).items():
        (workdir / "conf.d" / name).write_text(text)
    moves = {
        "pid_file /run/mosquitto/mosquitto.pid": "",
        "persistence_location /var/lib/mosquitto/": f"persistence_location {workdir}/",
        "log_dest stderr": f"log_dest file {broker.log_path}",
        "listener 1883 127.0.0.1": f"listener {broker.port} 127.0.0.1",
        "listener 8883": f"listener {broker.tls_port} 127.0.0.1",
        "cafile /etc/mosquitto/certs/ca.crt": f"cafile {broker.certs / 'ca.crt'}",
        "certfile /etc/mosquitto/certs/server.crt": f"certfile {broker.certs / 'station.crt'}",
        "keyfile /etc/mosquitto/certs/server.key": f"keyfile {broker.certs / 'station.key'}",
        "require_certificate false": f"require_certificate {'true' if require_certificate else 'false'}",
        "password_file /etc/mosquitto/benchpin.passwd":
            f"password_file {mosquitto_passwd(workdir / 'benchpin.passwd', USERS)}",
        "acl_file /etc/mosquitto/benchpin.acl": f"acl_file {MOSQUITTO_DIR / 'benchpin.acl'}",
        "include_dir /etc/mosquitto/conf.d": f"include_dir {workdir / 'conf.d'}",
    }
    text = (MOSQUITTO_DIR / "mosquitto.conf").read_text()
    for shipped, here in moves.items():
        assert shipped in text, f"mosquitto.conf no longer has {shipped!r}"
        text = text.replace(shipped, here)
    if os.geteuid() == 0:
        text += "user root\n"  # else mosquitto drops to 'mosquitto', who cannot read the test's files
    broker.config_path.write_text(text)
    broker.start()
    return broker


def client(port: int, user: str | None, password: str | None = None) -> tuple[paho.Client, Any]:
    """Connect an MQTT 5 client; return it and the CONNACK reason code."""
    mqttc = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}",
                        protocol=paho.MQTTv5)
    if user is not None:
        mqttc.username_pw_set(user, password if password is not None else USERS[user])
    result: dict[str, Any] = {}
    done = threading.Event()

    def on_connect(c: paho.Client, userdata: Any, flags: Any, reason_code: Any, props: Any) -> None:
        result["rc"] = reason_code
        done.set()

    mqttc.on_connect = on_connect
    mqttc.connect("127.0.0.1", port)
    mqttc.loop_start()
    assert done.wait(10), "no CONNACK"
    return mqttc, result["rc"]


def publish_as(port: int, user: str, topic: str, payload: dict) -> str:
    """Publish one QoS 1 message as ``user``; return the broker's PUBACK reason."""
    mqttc, rc = client(port, user)
    assert not rc.is_failure, f"{user} could not log in: {rc}"
    acks: dict[int, str] = {}
    acked = threading.Event()

    def on_publish(c: paho.Client, userdata: Any, mid: int, reason_code: Any, props: Any) -> None:
        acks[mid] = str(reason_code)
        acked.set()

    mqttc.on_publish = on_publish
    info = mqttc.publish(topic, json.dumps(payload), qos=1)
    assert acked.wait(10), "no PUBACK"
    mqttc.disconnect()
    mqttc.loop_stop()
    return acks[info.mid]


class Reader:
    """A logged-in subscriber recording (topic, payload) pairs."""

    def __init__(self, port: int, user: str, topic: str) -> None:
        self.received: list[tuple[str, dict]] = []
        subscribed = threading.Event()
        self.client, rc = client(port, user)
        assert not rc.is_failure, f"{user} could not log in: {rc}"
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, json.loads(m.payload)))
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.subscribe(topic, qos=1)
        assert subscribed.wait(10), "no SUBACK"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
