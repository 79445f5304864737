"""The station's mosquitto config, ACL and plant bridge, run in a real mosquitto."""

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
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from benchpin.broker import Mosquitto
from benchpin.config import MqttConfig
from benchpin.mqtt import MqttSession
from tests.helpers import wait_until

MOSQUITTO_DIR = Path(__file__).resolve().parents[1] / "systemd" / "mosquitto"
USERS = {"kiosk": "kiosk-secret", "casting-1": "gateway-secret", "engineer": "engineer-secret"}
JOB = "benchpin/jaipur/casting-1/engraver/laser-1/job"


def mosquitto_passwd(path: Path, users: dict[str, str]) -> Path:
    """Write a password file with mosquitto's own tool, as an installer would."""
    tool = shutil.which("mosquitto_passwd")
    assert tool, "mosquitto_passwd is missing (Debian package mosquitto)"
    path.touch(mode=0o600)
    for user, password in users.items():
        subprocess.run([tool, "-b", str(path), user, password], check=True, capture_output=True)
    return path


def station_broker(workdir: Path, *, conf_d: dict[str, str] | None = None) -> Mosquitto:
    """A mosquitto running the shipped station config, with only its paths and port moved."""
    broker = Mosquitto(workdir=workdir)
    (workdir / "conf.d").mkdir()
    for name, text in (conf_d or {}).items():
        (workdir / "conf.d" / name).write_text(text)
    moves = {
        "pid_file /run/mosquitto/mosquitto.pid": "",
        "persistence_location /var/lib/mosquitto/": f"persistence_location {workdir}/",
        "log_dest stderr": f"log_dest file {broker.log_path}",
        "listener 1883": f"listener {broker.port} 127.0.0.1",
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


@pytest.fixture
def station(tmp_path: Path):
    broker = station_broker(tmp_path / "station")
    yield broker
    broker.close()


def test_station_broker_only_kiosk_publishes_engraver_jobs(station):
    reader = Reader(station.port, "engineer", "benchpin/+/+/engraver/+/job")
    job = {"job_id": "J-1", "piece_id": "PC-0001", "serial": "S-0001", "text": "S-0001",
           "material": "silver_925", "height_mm": 1.2}
    assert publish_as(station.port, "casting-1", JOB, {**job, "from": "gateway"}) == "Not authorized"
    assert publish_as(station.port, "engineer", JOB, {**job, "from": "engineer"}) == "Not authorized"
    assert publish_as(station.port, "kiosk", JOB, {**job, "from": "kiosk"}) == "Success"
    # The refused publishes were acknowledged (and dropped) before the kiosk's was sent.
    wait_until(lambda: reader.received, message="the kiosk's job")
    reader.close()
    assert [payload["from"] for _, payload in reader.received] == ["kiosk"]


def test_station_broker_lets_a_gateway_publish_only_its_own_topics(station):
    reader = Reader(station.port, "engineer", "benchpin/#")
    own = "benchpin/jaipur/casting-1/probe/furnace-1/temperature"
    other = "benchpin/jaipur/casting-2/probe/furnace-1/temperature"
    job_state = "benchpin/jaipur/casting-1/engraver/laser-1/job/J-1"
    assert publish_as(station.port, "casting-1", other, {"value_c": 2}) == "Not authorized"
    assert publish_as(station.port, "casting-1", own, {"value_c": 1}) == "Success"
    assert publish_as(station.port, "casting-1", job_state, {"state": "done"}) == "Success"
    wait_until(lambda: len(reader.received) >= 2, message="the gateway's messages")
    reader.close()
    assert [topic for topic, _ in reader.received] == [own, job_state]


def test_station_broker_accepts_the_gateway_session_with_its_password_file(station, tmp_path):
    reader = Reader(station.port, "engineer", "benchpin/jaipur/casting-1/status")
    password_file = tmp_path / "mqtt-password"
    password_file.write_text(USERS["casting-1"] + "\n")
    session = MqttSession(MqttConfig(port=station.port, username="casting-1", password_file=str(password_file)),
                          client_id="benchpin-jaipur-casting-1", status_topic="benchpin/jaipur/casting-1/status")
    session.start()
    try:
        wait_until(lambda: any(p["state"] == "online" for _, p in reader.received), message="online status")
    finally:
        session.stop()
    wait_until(lambda: reader.received[-1][1]["state"] == "offline", message="offline status")
    reader.close()


def test_station_broker_refuses_anonymous_clients_and_wrong_passwords(station):
    for user, password in ((None, None), ("kiosk", "wrong"), ("intruder", "x")):
        mqttc, rc = client(station.port, user, password)
        mqttc.loop_stop()
        assert rc.is_failure, f"{user!r} was let in"


def test_plant_bridge_example_forwards_station_topics_to_the_plant_broker(tmp_path, broker):
    example = (MOSQUITTO_DIR / "plant-bridge.conf.example").read_text()
    moves = {"address plant-mqtt.example.com:8883": f"address 127.0.0.1:{broker.port}",
             "bridge_cafile /etc/mosquitto/certs/plant-ca.crt": "",  # the test's plant broker has no TLS
             "bridge_insecure false": ""}
    for shipped, here in moves.items():
        assert shipped in example, f"plant-bridge.conf.example no longer has {shipped!r}"
        example = example.replace(shipped, here)
    plant = Reader(broker.port, None, "benchpin/#")  # the test's plant broker is anonymous
    station = station_broker(tmp_path / "station", conf_d={"plant-bridge.conf": example})
    try:
        bridge_state = "benchpin/jaipur/casting-1/bridge/plant"
        wait_until(lambda: (bridge_state, 1) in plant.received, message="bridge up notification")
        reading = "benchpin/jaipur/casting-1/probe/furnace-1/temperature"
        assert publish_as(station.port, "casting-1", reading, {"value_c": 1052.25}) == "Success"
        wait_until(lambda: (reading, {"value_c": 1052.25}) in plant.received, message="reading at the plant")
    finally:
        plant.close()
        station.close()
