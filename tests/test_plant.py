"""A plant of stations: the inventory, per-station users on a real 3-node NATS cluster, a station's
real mosquitto bridge through a node's crash, and kiosks of two stations on one PostgreSQL ledger."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from benchpin.cli import main
from benchpin.config import ConfigError, parse_config
from benchpin.plant import Plant, bridge_conf, parse_plant, read_password
from firmware_bridge.sim.probe import ProbeBoardSim
from gateway.service import Gateway
from tests import stations
from tests.cluster import NatsCluster, PlantSubscriber
from tests.helpers import wait_until, write_toml
from tests.mosquitto_station import USERS, Reader, station_broker

SITE = "jaipur"


def inventory(tmp_path: Path, brokers: tuple[str, ...] = ("127.0.0.1:1883",)) -> dict[str, Any]:
    return {
        "plant": {"site": SITE, "brokers": list(brokers), "secrets_dir": str(tmp_path / "secrets"),
                  "bcrypt_rounds": 4},
        "stations": [{"gateway": "casting-1", "kiosks": ["casting"]}, {"gateway": "casting-2"}],
        "readers": [{"user": "engineer"}, {"user": "planner", "commands": True}],
    }


# ----------------------------------------------------------------------------- the inventory

def test_plant_inventory_names_every_problem_by_key_path(tmp_path: Path) -> None:
    data = inventory(tmp_path)
    data["plant"]["brokers"] = ["plant-1", "plant-2:99999"]
    data["plant"]["ca_fil"] = "ca.crt"
    data["stations"] = [{"gateway": "casting.1"}, {"gateway": "kiosk"}, {"gateway": "c-3", "kiosks": ["k"]},
                        {"gateway": "c-3", "kiosks": ["k"]}]
    with pytest.raises(ConfigError) as exc:
        parse_plant(data)
    problems = exc.value.problems
    assert "plant.brokers[0]: must be HOST:PORT (got 'plant-1')" in problems
    assert "plant.brokers[1]: must be HOST:PORT (got 'plant-2:99999')" in problems
    assert "plant.ca_fil: unknown key (did you mean 'ca_file'?)" in problems
    assert any(p.startswith("stations[0].gateway: must use only letters") for p in problems)
    assert any(p.startswith("stations[1].gateway: 'kiosk' is a topic segment") for p in problems)
    assert "stations[3].gateway: user 'c-3' is already stations[2].gateway" in problems
    assert "stations[3].kiosks[0]: kiosk 'k' is already stations[2].kiosks[0]" in problems


def test_plant_acl_command_makes_passwords_once_and_prints_only_hashes(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plant.toml"
    write_toml(path, inventory(tmp_path))
    assert main(["plant", "acl", str(path)]) == 0
    first = capsys.readouterr()
    assert "made 4 new passwords" in first.err
    plant = parse_plant(inventory(tmp_path))
    password = read_password(plant, "casting-1")
    assert password not in first.out and '"$2a$04$' in first.out
    assert main(["plant", "acl", str(path), "--output", str(tmp_path / "users.conf")]) == 0
    assert "new password" not in capsys.readouterr().err and read_password(plant, "casting-1") == password
    assert (tmp_path / "secrets" / "casting-1.password").stat().st_mode & 0o777 == 0o600

    assert main(["plant", "bridge", str(path), "casting-1", "--output", str(tmp_path / "bridge.conf")]) == 0
    assert f"remote_password {password}" in (tmp_path / "bridge.conf").read_text()
    assert main(["plant", "bridge", str(path), "casting-9"]) == 2
    assert "no station 'casting-9' in the inventory (stations: casting-1, casting-2)" in capsys.readouterr().err


def test_plant_acl_command_reports_a_bad_inventory_without_a_traceback(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plant.toml"
    path.write_text('[plant]\nsite = "jaipur"\n')
    assert main(["plant", "acl", str(path)]) == 2
    err = capsys.readouterr().err
    assert "plant.brokers: is required" in err and "plant.secrets_dir: is required" in err
    assert "stations: the inventory lists no station" in err and "Traceback" not in err


def test_bridge_forwards_exactly_the_station_topics(tmp_path: Path) -> None:
    plant = parse_plant(inventory(tmp_path, ("p1:1883", "p2:1883", "p3:1883")))
    text = bridge_conf(plant, plant.station("casting-1"), "pw")
    topics = [line.split()[1:] for line in text.splitlines() if line.startswith("topic ")]
    assert all(qos == "1" for _, _, qos in topics)
    out = {t for t, direction, _ in topics if direction == "out"}
    incoming = {t for t, direction, _ in topics if direction == "in"}
    assert all(t.startswith("benchpin/jaipur/casting-1/") for t in incoming)
    assert out - {t for t in out if t.startswith("benchpin/jaipur/casting-1/")} == {
        "benchpin/jaipur/kiosk/casting/status", "benchpin/jaipur/pieces/+/events"}
    assert "benchpin/jaipur/casting-1/engraver/+/job" in incoming
    assert "benchpin/jaipur/casting-1/engraver/+/job/+" in out  # states out, jobs in: no loop
    for line in ("address p1:1883 p2:1883 p3:1883", "cleansession false", "try_private false",
                 "bridge_protocol_version mqttv311", "max_queued_messages 1000000"):
        assert line in text.splitlines()
    # A station without a kiosk writes no piece events.
    other = bridge_conf(plant, plant.station("casting-2"), "pw")
    assert "pieces" not in other and "casting-1" not in other
    # The second station starts on the second node: the stations spread over the cluster.
    assert "address p2:1883 p3:1883 p1:1883" in other.splitlines()


def test_a_relative_secrets_dir_is_next_to_the_inventory_and_a_bridge_without_tls_is_warned_of(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = inventory(tmp_path)
    data["plant"]["secrets_dir"] = "secrets"
    (tmp_path / "plant").mkdir()
    path = tmp_path / "plant" / "plant.toml"
    write_toml(path, data)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["plant", "acl", str(path), "--output", str(tmp_path / "users.conf")]) == 0
    assert (tmp_path / "plant" / "secrets" / "casting-1.password").exists()
    assert not (tmp_path / "elsewhere" / "secrets").exists()  # not a fresh set that locks stations out
    capsys.readouterr()
    assert main(["plant", "bridge", str(path), "casting-1", "--output", str(tmp_path / "bridge.conf")]) == 0
    assert "plant.ca_file is not set" in capsys.readouterr().err
    data["plant"]["ca_file"] = "/etc/mosquitto/certs/plant-ca.crt"
    write_toml(path, data)
    assert main(["plant", "bridge", str(path), "casting-1", "--output", str(tmp_path / "bridge.conf")]) == 0
    assert "ca_file" not in capsys.readouterr().err


# ----------------------------------------------------------------------------- on a real cluster

@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NatsCluster, Plant]]:
    workdir = tmp_path_factory.mktemp("plant")
    nats = NatsCluster(workdir / "nats")
    plant = parse_plant(inventory(workdir, nats.brokers))
    nats.configure(plant)
    with nats:
        yield nats, plant


def publish(address: str, user: str, password: str, topic: str, payload: dict[str, Any]) -> None:
    """Publish one QoS 1 message over MQTT 3.1.1 and wait for its PUBACK."""
    host, _, port = address.rpartition(":")
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{user}", protocol=paho.MQTTv311)
    client.username_pw_set(user, password)
    client.connect(host, int(port))
    client.loop_start()
    info = client.publish(topic, json.dumps(payload), qos=1)
    info.wait_for_publish(10)
    assert info.is_published()
    client.disconnect()
    client.loop_stop()


def test_a_station_user_publishes_only_under_its_own_gateway_id(cluster: tuple[NatsCluster, Plant]) -> None:
    nats, plant = cluster
    reader = PlantSubscriber(nats.brokers[2:], "engineer", read_password(plant, "engineer"),
                             f"benchpin/{SITE}/+/probe/+/temperature", client_id="acl-reader")
    try:
        own = f"benchpin/{SITE}/casting-2/probe/furnace-1/temperature"
        forged = f"benchpin/{SITE}/casting-1/probe/furnace-1/temperature"
        password = read_password(plant, "casting-2")
        publish(nats.brokers[0], "casting-2", password, forged, {"seq": 1})
        publish(nats.brokers[0], "casting-2", password, own, {"seq": 1})
        assert reader.wait_for(lambda: bool(reader.seqs(own)), 10), "the station's own reading never arrived"
        # Sent before the own reading, on the same connection path: had it passed, it would be here.
        assert reader.seqs(forged) == set()
        # A read-only user sends no command; a planner does.
        job = f"benchpin/{SITE}/casting-2/engraver/laser-1/job"
        station = PlantSubscriber(nats.brokers[1:2], "casting-2", password, job, client_id="acl-station")
        try:
            publish(nats.brokers[0], "engineer", read_password(plant, "engineer"), job, {"seq": 1})
            publish(nats.brokers[0], "planner", read_password(plant, "planner"), job, {"seq": 2})
            assert station.wait_for(lambda: bool(station.seqs(job)), 10), "the planner's job never arrived"
            assert station.seqs(job) == {2}
        finally:
            station.close()
    finally:
        reader.close()
    log = "".join(node.log_path.read_text() for node in nats.nodes)
    assert 'Publish Violation - User "casting-2", Subject "benchpin.jaipur.casting-1.probe.furnace-1' in log


def test_only_a_server_with_the_route_password_joins_the_cluster(cluster: tuple[NatsCluster, Plant]) -> None:
    """A server that joins the cluster bypasses every user's permissions: routes log in."""
    nats, _ = cluster
    first = nats.nodes[0]
    peers = nats.routes(first)
    rogue = nats.outsider("rogue", password=None)
    try:
        wait_until(lambda: "authorization violation" in rogue.log_path.read_text().lower(),
                   timeout=20, message="the cluster refusing the route without a password")
        assert nats.routes(rogue) == 0
        assert nats.routes(first) == peers
    finally:
        rogue.stop()
    member = nats.outsider("member", password=nats.route_password)  # what the password is for
    try:
        wait_until(lambda: nats.routes(member) >= 1, timeout=20, message="a route with the password joining")
    finally:
        member.stop()


def test_readings_cross_a_real_bridge_with_no_loss_through_a_node_crash(
        tmp_path: Path, cluster: tuple[NatsCluster, Plant]) -> None:
    nats, plant = cluster
    site_station = plant.station("casting-1")
    bridge = bridge_conf(plant, site_station, read_password(plant, "casting-1"))
    local = station_broker(tmp_path / "station", conf_d={"plant-bridge.conf": bridge})
    password_file = tmp_path / "gateway.password"
    password_file.write_text(USERS["casting-1"])
    topic = f"benchpin/{SITE}/casting-1/probe/furnace-1/temperature"
    plant_sub = PlantSubscriber(nats.brokers[1:], "engineer", read_password(plant, "engineer"), topic,
                                client_id="bridge-reader")
    local_sub = Reader(local.port, "engineer", topic)
    job_topic = f"benchpin/{SITE}/casting-1/engraver/laser-1/job"
    job_reader = Reader(local.port, "casting-1", job_topic)
    sim = ProbeBoardSim(str(tmp_path / "ttyPROBE"), rate_hz=20.0)
    config = parse_config(stations.station(
        tmp_path, local.port, mqtt={"username": "casting-1", "password_file": str(password_file)},
        gateway={"probes": [{"id": "furnace-1", "kind": "serial", "port": str(sim.pty.link)}]}))
    try:
        with Gateway(config):
            sim.start()
            assert plant_sub.wait_for(lambda: len(plant_sub.seqs(topic)) >= 20, 30), "no reading reached the plant"
            # The bridge logs in to the first node it is given: crash it under the bridge.
            nats.nodes[0].stop(kill=True)
            before = len(local_sub.received)
            wait_until(lambda: len(local_sub.received) >= before + 60, timeout=30, message="readings during the crash")
            nats.nodes[0].start()
            nats.nodes[0].wait_healthy()
            wait_until(lambda: len(local_sub.received) >= before + 120, timeout=30, message="readings after it")
            sim.stop()
            # Commands come in: a planner's job reaches the station's gateway through the bridge.
            publish(nats.brokers[2], "planner", read_password(plant, "planner"), job_topic, {"job_id": "J-1"})
            # A node just back may take the bridge's CONNECT before its JetStream is current and
            # leave it unanswered for many seconds (docs/plant.md, Known limits).
            try:
                wait_until(lambda: job_reader.received, timeout=60, message="the plant's job at the station")
            except AssertionError as exc:
                bridge_log = [line for line in local.log_path.read_text().splitlines() if "bridge" in line.lower()]
                raise AssertionError(f"{exc}; the station's bridge log: {bridge_log[-12:]}") from None
        assert job_reader.received == [(job_topic, {"job_id": "J-1"})]
        # The bridge logged in to the crashed node first, then moved to another one (and may go
        # back to the first once it is up again: mosquitto's bridge prefers its first address).
        connects = [line.rsplit(":", 1)[1].rstrip(")") for line in local.log_path.read_text().splitlines()
                    if line.startswith("Connecting bridge (step 1) plant")]
        first = str(nats.nodes[0].mqtt_port)
        assert connects[0] == first and any(port != first for port in connects[1:]), connects
        sent = {payload["seq"] for _, payload in local_sub.received}
        last = max(sent)
        assert sent == set(range(1, last + 1))
        assert plant_sub.wait_for(lambda: plant_sub.seqs(topic) >= sent, 60), (
            f"lost at the plant: {sorted(sent - plant_sub.seqs(topic))[:20]}")
    finally:
        sim.close()
        local_sub.close()
        job_reader.close()
        plant_sub.close()
        local.close()
        if not nats.nodes[0].running:
            nats.nodes[0].start()
            nats.nodes[0].wait_healthy()


# ----------------------------------------------------------------------------- one ledger for the plant

def test_kiosks_of_two_stations_on_one_postgresql_ledger_see_each_other_s_moves(
        tmp_path: Path, postgres_unavailable: str | None) -> None:
    if postgres_unavailable:
        pytest.skip(postgres_unavailable)
    from kiosk.app import close_app, create_app
    from kiosk.state import get_ledger
    from tests.kiosk_support import add_operators, postgres_schema_url, spec
    from tests.test_kiosk_api import AUTH, kiosk_config

    urls = postgres_schema_url()
    url = next(urls)
    apps = []
    try:
        for name, station in (("casting-1", "casting"), ("filing-1", "filing")):
            (tmp_path / name).mkdir()
            apps.append(create_app(kiosk_config(tmp_path / name, url, id=name, station=station),
                                   {"TESTING": True, "KIOSK_EVENTS": False}))
        casting, filing = apps
        with casting.app_context():
            add_operators(get_ledger())
            get_ledger().import_pieces([spec("PC-1")])
        moved = casting.test_client().post("/api/pieces/PC-1/moves", headers=AUTH,
                                           json={"to": "cad", "operator": "OP-SUP"})
        assert moved.status_code == 201, moved.get_json()
        client = filing.test_client()
        wip = {(s["route"], s["stage"]): s for s in client.get("/api/wip", headers=AUTH).get_json()["stages"]}
        assert wip[("production", "cad")]["pieces"] == ["PC-1"] and wip[("production", "design")]["count"] == 0
        passport = client.get("/api/pieces/PC-1/passport", headers=AUTH).get_json()
        assert [(s["to"], s["station"]) for s in passport["history"]][-1] == ("cad", "casting-1")
        # A move the other kiosk already made is refused, not made twice.
        again = client.post("/api/pieces/PC-1/moves", headers=AUTH,
                            json={"to": "cad", "from": "design", "operator": "OP-SUP"})
        assert again.status_code == 409
    finally:
        for app in apps:
            close_app(app)
        for _ in urls:
            pass
