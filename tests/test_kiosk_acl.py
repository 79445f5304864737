"""The kiosk, logged in as `kiosk`, against the shipped station broker: its engraving retry reaches
the engraver's gateway (logged in as that gateway), and what the kiosk shows, it may read."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from benchpin.topics import Topics
from kiosk.server import KioskServer
from kiosk.state import get_bridge, get_ledger
from tests.helpers import wait_until
from tests.kiosk_ui_support import SECRET, Kiosk, seed, ui_config
from tests.mosquitto_station import USERS, Reader, publish_as, station_broker

TOPICS = Topics("jaipur")


@pytest.fixture
def station(tmp_path: Path):
    broker = station_broker(tmp_path / "station")
    yield broker
    broker.close()


@pytest.fixture
def kiosk_server(tmp_path: Path, station) -> Iterator[KioskServer]:
    """The seeded casting kiosk (engraver engrave-1/laser-1), logged in to the station broker as `kiosk`."""
    password_file = tmp_path / "kiosk-mqtt-password"
    password_file.write_text(USERS["kiosk"] + "\n")
    config = ui_config(tmp_path, mqtt_port=station.port,
                       mqtt={"username": "kiosk", "password_file": str(password_file)},
                       listen="127.0.0.1:0", threads=8, outbox_file=str(tmp_path / "kiosk-outbox.sqlite"))
    with KioskServer(config, {"SECRET_KEY": SECRET}) as kiosk:
        with kiosk.app.app_context():
            seed(get_ledger())
        yield kiosk


def test_kiosk_retry_reaches_the_engraver_gateway_through_the_shipped_acl(kiosk_server: KioskServer,
                                                                           station) -> None:
    gateway = Reader(station.port, "engrave-1", TOPICS.engraver_job_command("engrave-1", "laser-1", "+"))
    jobs = Reader(station.port, "engrave-1", TOPICS.engraver_job("engrave-1", "laser-1"))
    try:
        with kiosk_server.app.app_context():
            ledger, bridge = get_ledger(), get_bridge()
            for _ in range(4):  # casting → … → engraving: the kiosk sends the laser job
                ledger.advance("PC-1", operator="OP-SUP", station="setup")
            job_id = ledger.history("PC-1")[-1].event_id
        assert bridge is not None
        wait_until(lambda: jobs.received, message="the kiosk's laser job at the gateway")
        assert jobs.received[0][1]["job_id"] == job_id
        # The gateway reports the job interrupted; the kiosk (reading job states) shows it.
        state_topic = TOPICS.engraver_job_state("engrave-1", "laser-1", job_id)
        assert publish_as(station.port, "engrave-1", state_topic,
                          {"job_id": job_id, "state": "interrupted", "ts": "2026-12-02T17:09:21.638Z",
                           "detail": "door opened"}) in ("Success", "No matching subscribers")
        wait_until(lambda: getattr(bridge.jobs.get(job_id), "state", None) == "interrupted", timeout=10,
                   message="the kiosk reading the job's state")
        kiosk = Kiosk(kiosk_server.app)
        kiosk.scan("OP-ENG")
        sent = kiosk.post(f"/engraving/{job_id}/retry")
        assert sent.status_code == 200 and "Retry sent for PC-1" in sent.get_data(as_text=True)
        wait_until(lambda: gateway.received, timeout=10, message="the retry command at the engraver's gateway")
        [(topic, command)] = gateway.received
        assert topic == TOPICS.engraver_job_command("engrave-1", "laser-1", job_id)
        assert (command["job_id"], command["action"], command["operator"]) == (job_id, "retry", "OP-ENG")
    finally:
        gateway.close()
        jobs.close()
