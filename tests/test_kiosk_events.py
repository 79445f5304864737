"""The kiosk's MQTT bridge on a real mosquitto: move events, laser job dispatch, `done` advances."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import paho.mqtt.publish as publish
import pytest

from benchpin.config import StationConfig
from benchpin.contract import JobState, JobStatus
from kiosk.events import KioskBridge
from kiosk.ledger import Ledger
from tests.helpers import Subscriber, wait_until
from tests.kiosk_support import add_operators, spec
from tests.stations import station_config

EVENTS = "benchpin/jaipur/pieces/+/events"
JOB = "benchpin/jaipur/casting-1/engraver/laser-1/job"


def station(tmp_path: Path, port: int) -> StationConfig:
    return station_config(tmp_path, port, kiosk={"station": "plating", "engraver": "casting-1/laser-1",
                                                 "engrave_height_mm": 0.8, "serial_pattern": "JP-{seq:05d}"})


@pytest.fixture
def kiosk(tmp_path: Path, broker) -> Iterator[tuple[Ledger, KioskBridge]]:  # type: ignore[no-untyped-def]
    config = station(tmp_path, broker.port)
    assert config.kiosk is not None
    ledger = Ledger.from_config(config.kiosk)
    add_operators(ledger)
    ledger.import_pieces([spec("PC-1", metal="vermeil_18ct"), spec("PC-2", metal="silver_925")])
    bridge = KioskBridge(config, ledger)
    yield ledger, bridge
    bridge.stop()
    ledger.close()


def to_stage(ledger: Ledger, piece_id: str, stage: str) -> None:
    while ledger.piece(piece_id).stage != stage:
        ledger.advance(piece_id, operator="OP-SUP", station="bench")


def test_events_every_move_reaches_the_piece_events_topic(kiosk, broker) -> None:  # type: ignore[no-untyped-def]
    ledger, bridge = kiosk
    sub = Subscriber(broker.port, EVENTS)
    bridge.start()
    event = ledger.advance("PC-1", operator="OP-ART", station="design", note="drawn")
    received = sub.wait_for(lambda p: p, "benchpin/jaipur/pieces/PC-1/events")
    sub.close()
    assert received == [{"event_id": event.event_id, "piece_id": "PC-1", "from": "design", "to": "cad",
                         "station": "design", "operator": "OP-ART", "ts": event.ts, "note": "drawn"}]


def test_events_moves_made_while_the_broker_is_down_arrive_later(kiosk, broker) -> None:  # type: ignore[no-untyped-def]
    ledger, bridge = kiosk
    sub = Subscriber(broker.port, EVENTS, persistent=True)
    broker.stop()
    bridge.start()
    moved = [ledger.advance("PC-2", operator="OP-SUP", station="design").event_id for _ in range(3)]
    assert bridge.outbox.pending == 3
    broker.start()
    received = sub.wait_for(lambda p: len(p) >= 3 and p, EVENTS, timeout=30)
    sub.close()
    assert [p["event_id"] for p in received] == moved
    wait_until(lambda: bridge.outbox.pending == 0, message="outbox drained")


def test_events_engraving_dispatches_the_job_and_done_advances_the_piece(kiosk, broker) -> None:  # type: ignore[no-untyped-def]
    ledger, bridge = kiosk
    sub = Subscriber(broker.port, "benchpin/jaipur/#")
    bridge.start()
    wait_until(bridge.session.connected.is_set, message="kiosk connected")
    to_stage(ledger, "PC-1", "engraving")
    job = sub.wait_for(lambda p: p and p[0], JOB)
    piece = ledger.piece("PC-1")
    assert job == {"job_id": ledger.history("PC-1")[-1].event_id, "piece_id": "PC-1", "serial": "JP-00001",
                   "text": "JP-00001", "material": "vermeil_18ct", "height_mm": 0.8}
    assert piece.serial == "JP-00001"
    for state in ("accepted", "running", "done"):
        publish.single(f"{JOB}/{job['job_id']}", json.dumps({"job_id": job["job_id"], "state": state,
                                                             "ts": "2026-11-23T14:00:00.000Z", "detail": ""}),
                       qos=1, retain=True, hostname="127.0.0.1", port=broker.port)
    wait_until(lambda: ledger.piece("PC-1").stage == "qc", message="piece advanced by the laser's done")
    last = ledger.history("PC-1")[-1]
    assert (last.from_stage, last.to_stage, last.operator, last.station) == ("engraving", "qc", "laser", "casting-1/laser-1")
    laser_events = sub.wait_for(lambda p: [e for e in p if e["operator"] == "laser"], "benchpin/jaipur/pieces/PC-1/events")
    assert laser_events[0]["to"] == "qc"
    assert bridge.jobs[job["job_id"]].state == "done"
    sub.close()


def test_events_a_repeated_done_moves_nothing(kiosk, broker) -> None:  # type: ignore[no-untyped-def]
    ledger, bridge = kiosk
    to_stage(ledger, "PC-1", "engraving")
    job_id = ledger.history("PC-1")[-1].event_id
    done = JobStatus(job_id=job_id, state=JobState.DONE, ts="2026-12-02T10:00:00.000Z")
    assert bridge.record_job(done) is not None
    assert bridge.record_job(done) is None
    assert bridge.record_job(replace(done, job_id="no-such-job")) is None
    bridge.on_job_state("t", b"{not json")
    assert ledger.piece("PC-1").stage == "qc" and ledger.piece("PC-1").version == 9


def test_events_moves_committed_before_a_crash_are_published_at_start(kiosk, broker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ledger, bridge = kiosk
    with Ledger(ledger.db.url) as other:  # moves committed while no bridge was listening (a crash)
        lost = [other.advance("PC-2", operator="OP-SUP", station="plating").event_id for _ in range(2)]
        other.advance("PC-1", operator="OP-SUP", station="another-station")
    sub = Subscriber(broker.port, EVENTS)
    bridge.start()
    received = sub.wait_for(lambda p: len(p) >= 2 and p, EVENTS)
    sub.close()
    assert [p["event_id"] for p in received] == lost
    assert ledger.unpublished("plating") == [] and len(ledger.unpublished("another-station")) == 1
    assert bridge.republish() == 0


def test_events_carry_the_kiosk_id_and_the_kiosk_says_online_then_offline(tmp_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    config = station_config(tmp_path, broker.port, kiosk={"station": "design, cad"})
    assert config.kiosk is not None and (config.kiosk.id, config.kiosk.name) == ("design-cad", "design, cad")
    status_topic = "benchpin/jaipur/kiosk/design-cad/status"
    ledger = Ledger.from_config(config.kiosk)
    add_operators(ledger)
    ledger.import_pieces([spec("PC-1")])
    bridge = KioskBridge(config, ledger)
    sub = Subscriber(broker.port, EVENTS)
    status = Subscriber(broker.port, status_topic)
    try:
        bridge.start()
        online = status.wait_for(lambda p: [s for s in p if s["state"] == "online"], status_topic)
        assert online[0]["name"] == "design, cad" and online[0]["blocked"] == {}
        ledger.block_stage("cad", reason="CAD licence expired", operator="OP-SUP", station="design-cad")
        bridge.session.publish_status()
        blocked = status.wait_for(lambda p: [s for s in p if s.get("blocked")], status_topic)
        assert blocked[0]["blocked"]["cad"]["reason"] == "CAD licence expired"
        ledger.unblock_stage("cad", operator="OP-SUP")
        event = ledger.advance("PC-1", operator="OP-ART", station=config.kiosk.id)
        received = sub.wait_for(lambda p: p, "benchpin/jaipur/pieces/PC-1/events")
        assert received[0]["station"] == "design-cad" and received[0]["event_id"] == event.event_id
    finally:
        bridge.stop()
        ledger.close()
    states = status.wait_for(lambda p: [s["state"] for s in p][-1:] == ["offline"] and p, status_topic)
    sub.close()
    status.close()
    assert [s["state"] for s in states] == ["online", "online", "offline"]
    late = Subscriber(broker.port, status_topic)  # retained: a screen that connects later sees it
    assert late.wait_for(lambda p: p, status_topic)[0]["state"] == "offline"
    late.close()


def test_ui_and_api_moves_are_recorded_with_the_kiosk_id(tmp_path: Path) -> None:
    from benchpin.config import derived_kiosk_id

    assert derived_kiosk_id(("casting", "plating", "inspection")) == "casting-plating-inspection"
    assert derived_kiosk_id(("Casting Room",)) == "casting-room"
    config = station_config(site="x", kiosk={"station": "qc", "id": "qc-bench-2", "name": "QC bench 2"})
    assert config.kiosk is not None and (config.kiosk.id, config.kiosk.name) == ("qc-bench-2", "QC bench 2")
    with pytest.raises(Exception, match="kiosk.id: must be 1 to 64 letters"):
        station_config(site="x", kiosk={"station": "qc", "id": "qc/2"})


def test_events_a_move_too_big_for_the_broker_is_refused_before_it_commits_413_naming_the_limit(
        tmp_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    """Under a small ``mqtt.max_packet_bytes`` a long note of 4-byte characters would make a piece
    event the broker refuses: the move is refused (API and kiosk form: 413 naming the limit),
    nothing is committed and nothing enters the outbox; a short note still moves the piece."""
    from kiosk.app import close_app, create_app
    from kiosk.state import get_bridge, get_ledger
    from tests.kiosk_support import SUPERVISOR_PIN
    from tests.kiosk_ui_support import SECRET, Kiosk, seed, ui_config

    token = tmp_path / "api-token"
    token.write_text("t0ken-for-the-api-0123456789\n")
    config = ui_config(tmp_path, mqtt_port=broker.port, mqtt={"max_packet_bytes": 1024},
                       api_token_file=str(token), outbox_file=str(tmp_path / "outbox.sqlite"))
    app = create_app(config, {"TESTING": True, "KIOSK_LIVE": False, "SECRET_KEY": SECRET})
    try:
        with app.app_context():
            ledger, bridge = get_ledger(), get_bridge()
            assert bridge is not None
            seed(ledger)
            before = ledger.piece("PC-1")
            puts: list[int] = []  # counted as put (pending drains meanwhile: the broker is live)
            bridge.outbox.when_put(lambda: puts.append(1))
        big = "\N{GEM STONE}" * 400  # 400 characters (under the note limit), 1,600 bytes of UTF-8
        answer = app.test_client().post("/api/pieces/PC-1/moves", json={"to": "filing", "operator": "OP-SUP",
                                                                         "note": big},
                                        headers={"Authorization": "Bearer t0ken-for-the-api-0123456789"})
        assert answer.status_code == 413, answer.get_json()
        assert "1024 bytes" in answer.get_json()["error"] and answer.get_json()["limit_bytes"] == 1024
        supervisor = Kiosk(app)
        supervisor.scan("OP-SUP")
        supervisor.pin = SUPERVISOR_PIN
        screen = supervisor.post("/pieces/PC-1/moves", to="filing", version=str(before.version), note=big)
        assert screen.status_code == 413
        assert "over the broker&#39;s limit of 1024 bytes" in screen.get_data(as_text=True)
        with app.app_context():
            assert ledger.piece("PC-1").version == before.version  # nothing committed
            assert all(e.note != big for e in ledger.history("PC-1"))
            assert puts == []  # nothing entered the outbox
        fine = supervisor.post("/pieces/PC-1/moves", to="filing", version=str(before.version), note="clean pour")
        assert fine.status_code == 200
        with app.app_context():
            assert ledger.piece("PC-1").version == before.version + 1
        assert puts, "the accepted move's event entered the outbox (the counter can see a put)"
    finally:
        close_app(app)


def test_events_a_tree_scanned_at_casting_sets_the_furnace_pour_window_and_moving_on_clears_it(
        tmp_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    from kiosk.app import close_app, create_app
    from kiosk.state import get_ledger
    from tests.kiosk_support import SUPERVISOR_PIN
    from tests.kiosk_ui_support import SECRET, Kiosk, seed, ui_config

    window_topic = "benchpin/jaipur/casting-1/probe/furnace-1/window"
    config = ui_config(tmp_path, mqtt_port=broker.port, outbox_file=str(tmp_path / "outbox.sqlite"))
    app = create_app(config, {"TESTING": True, "KIOSK_LIVE": False, "SECRET_KEY": SECRET})
    try:
        with app.app_context():
            seed(get_ledger())  # TR-1: a 925 silver piece and a vermeil one (cast in 925 silver) at casting
        kiosk = Kiosk(app, pin=SUPERVISOR_PIN)
        kiosk.scan("OP-ART")
        kiosk.scan("TR-1")
        late = Subscriber(broker.port, window_topic)  # retained: a stack light that starts later sees it
        window = late.wait_for(lambda p: p, window_topic)[-1]
        late.close()
        assert window == {"tree_id": "TR-1", "metal": "silver_925, vermeil_18ct", "min_c": 950.0, "max_c": 1010.0}
        sub = Subscriber(broker.port, window_topic)
        kiosk.post("/trees/TR-1/moves", to="filing")
        wait_until(lambda: any(t == window_topic and p == b"" for t, p, _ in sub.messages), message="window cleared")
        sub.close()
    finally:
        close_app(app)


def test_events_the_lasers_done_move_made_while_a_refused_move_waits_is_published_too(kiosk) -> None:  # type: ignore[no-untyped-def]
    """A refused move waits in the ledger; the next moves, the laser's `done` among them, take it along."""
    import sqlite3

    ledger, bridge = kiosk
    to_stage(ledger, "PC-1", "engraving")
    job_id = ledger.history("PC-1")[-1].event_id
    outbox = bridge.outbox
    commit, failing = outbox._commit, [True]

    def refusing_commit(*args):  # type: ignore[no-untyped-def]  # the disk refuses writes
        if failing[0]:
            raise sqlite3.OperationalError("database or disk is full")
        return commit(*args)

    outbox._commit = refusing_commit  # type: ignore[method-assign]
    refused = ledger.advance("PC-2", operator="OP-SUP", station=bridge.kiosk.id)
    failing[0] = False
    wait_until(lambda: outbox.write_error is None, message="the outbox writes again")
    laser = bridge.record_job(JobStatus(job_id=job_id, state=JobState.DONE, ts="2026-12-02T10:00:00.000Z"))
    assert laser is not None and laser.station == bridge.kiosk.engraver
    queued, after = [], 0
    while rows := outbox.fetch(after, 1000):
        queued += [json.loads(r.payload)["event_id"] for r in rows if r.topic.endswith("/events")]
        after = rows[-1].id
    assert queued.count(refused.event_id) == 1 and queued.count(laser.event_id) == 1
    assert queued.index(refused.event_id) < queued.index(laser.event_id)
    assert ledger.unpublished(bridge.kiosk.engraver) == [] and ledger.unpublished(bridge.kiosk.id) == []
