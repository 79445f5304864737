"""The station's mosquitto config, ACL and plant bridge, run in a real mosquitto."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchpin.config import MqttConfig
from benchpin.mqtt import MqttSession
from tests.helpers import wait_until
from tests.mosquitto_station import JOB, MOSQUITTO_DIR, USERS, Reader, client, publish_as, station_broker


@pytest.fixture
def station(tmp_path: Path):
    broker = station_broker(tmp_path / "station")
    yield broker
    broker.close()


def test_station_broker_only_kiosk_publishes_engraver_jobs(station):
    reader = Reader(station.port, "casting-1", "benchpin/+/+/engraver/+/job")  # the gateway the job is for
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
