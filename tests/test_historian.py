"""The furnace historian on SQLite and PostgreSQL: dedupe by seq, roll-up and retention, the series."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from benchpin.contract import ProbeFault, Temperature
from benchpin.topics import utc_ts
from kiosk.historian import Historian
from kiosk.ledger import Ledger

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)


def at(seconds: float) -> str:
    return utc_ts(T0 + timedelta(seconds=seconds))


def reading(seq: int, seconds: float, value: float | None, fault: ProbeFault | None = None) -> Temperature:
    return Temperature(ts=at(seconds), seq=seq, value_c=value, fault=fault)


def test_historian_keeps_each_reading_once_and_answers_a_series(ledger: Ledger) -> None:
    history = Historian(lambda: ledger)
    for seq in range(1, 121):  # two minutes at 1 Hz: 1000 °C rising by 1 °C a second
        history.add("casting-1", "furnace-1", reading(seq, seq - 1, 1000.0 + seq - 1))
    for seq in (1, 2, 3):  # the broker delivers some again after a reconnect (QoS 1)
        history.add("casting-1", "furnace-1", reading(seq, seq - 1, 1000.0 + seq - 1))
    history.add("casting-1", "furnace-1", reading(121, 120, None, ProbeFault.OPEN))  # a fault: no value
    assert history.flush() == 121
    assert (history.counters.received, history.counters.stored, history.counters.duplicates) == (124, 121, 3)
    points = ledger.readings("casting-1", "furnace-1", at(0), at(180), 60.0)
    assert points == [[at(0), 1000.0, 1029.5, 1059.0], [at(60), 1060.0, 1089.5, 1119.0]]
    assert ledger.readings("casting-1", "furnace-2", at(0), at(180), 60.0) == []  # another probe's


def test_historian_rolls_old_readings_up_into_minutes_and_drops_what_is_past_its_reach(ledger: Ledger) -> None:
    now = T0 + timedelta(days=10)
    history = Historian(lambda: ledger, raw_days=7, days=365, clock=lambda: now)
    for seq in range(1, 121):  # ten days ago: two minutes of readings
        history.add("casting-1", "furnace-1", reading(seq, seq - 1, 1000.0 + seq - 1))
    recent = T0 + timedelta(days=9, hours=23)
    history.add("casting-1", "furnace-1", Temperature(ts=utc_ts(recent), seq=500, value_c=900.0, fault=None))
    history.flush()
    assert history.age() == (120, 0)  # the old two minutes folded into two rows; the recent one stays raw
    points = ledger.readings("casting-1", "furnace-1", at(0), at(120), 60.0)
    assert points == [[at(0), 1000.0, 1029.5, 1059.0], [at(60), 1060.0, 1089.5, 1119.0]]  # the same series
    [(ts, low, avg, high)] = ledger.readings("casting-1", "furnace-1", utc_ts(recent), utc_ts(now), 3600.0)
    assert (low, avg, high) == (900.0, 900.0, 900.0)
    later = Historian(lambda: ledger, raw_days=7, days=5, clock=lambda: now)
    assert later.age() == (0, 2)  # minutes older than five days: gone
    assert ledger.readings("casting-1", "furnace-1", at(0), at(120), 60.0) == []


def test_historian_keeps_readings_while_the_ledger_is_down_and_writes_them_after(ledger: Ledger) -> None:
    up = {"ledger": False}

    def open_ledger() -> Ledger:
        if not up["ledger"]:
            raise RuntimeError("the ledger database does not answer")
        return ledger

    history = Historian(open_ledger)
    history.add("casting-1", "furnace-1", reading(1, 0, 1000.0))
    assert history.flush() == 0 and history.counters.write_errors == 1
    up["ledger"] = True
    assert history.flush() == 1
    assert ledger.readings("casting-1", "furnace-1", at(0), at(60), 60.0) == [[at(0), 1000.0, 1000.0, 1000.0]]


def test_historian_bounds_its_buffer_and_counts_what_it_dropped() -> None:
    history = Historian(lambda: (_ for _ in ()).throw(RuntimeError("down")), max_buffer=10)  # type: ignore[arg-type]
    for seq in range(1, 16):
        history.add("g", "p", reading(seq, seq, 1000.0))
    assert history.counters.dropped == 5 and len(history._buffer) == 10


def test_historian_step_must_be_positive(ledger: Ledger) -> None:
    from kiosk.ledger import MoveRefused

    with pytest.raises(MoveRefused, match="step must be a number of seconds"):
        ledger.readings("g", "p", at(0), at(60), 0)


def test_historian_a_served_kiosk_keeps_the_readings_its_gateway_publishes(tmp_path, broker) -> None:  # type: ignore[no-untyped-def]
    import json

    import paho.mqtt.publish as publish

    from kiosk.state import get_ledger
    from kiosk.ui.state import EXTENSION
    from tests.helpers import wait_until
    from tests.kiosk_ui_support import served_kiosk

    topic = "benchpin/jaipur/casting-1/probe/furnace-1/temperature"
    with served_kiosk(tmp_path, broker.port) as server:
        with server.app.app_context():
            ledger = get_ledger()
        time_base = datetime.now(timezone.utc).replace(microsecond=0)
        start, end = utc_ts(time_base), utc_ts(time_base + timedelta(seconds=60))

        def published_and_kept() -> list[list[object]]:
            # Sent again until kept: the kiosk may not have subscribed yet, and repeats are stored once.
            for seq in range(1, 6):
                payload = {"ts": utc_ts(time_base + timedelta(seconds=seq)), "seq": seq, "value_c": 990.0 + seq,
                           "fault": None}
                publish.single(topic, json.dumps(payload), qos=1, hostname="127.0.0.1", port=broker.port)
            time.sleep(0.3)
            historian.flush()  # what its thread does every 10 s
            return ledger.readings("casting-1", "furnace-1", start, end, 60.0)

        historian = server.app.extensions[EXTENSION].live.historian
        assert historian is not None  # the kiosk has a gateway: it keeps its furnace history
        points = wait_until(published_and_kept, timeout=30, message="the readings in the ledger")
        assert points == [[start, 991.0, 993.0, 995.0]]


def test_pour_inside_the_window_outside_only_by_a_supervisor_with_a_reason_with_its_curve(ledger: Ledger) -> None:
    from kiosk.ledger import MoveRefused
    from tests.kiosk_support import spec

    ledger.import_pieces([spec("PC-1", tree_id="TR-1"), spec("PC-2", tree_id="TR-2")])
    now = datetime.now(timezone.utc).replace(microsecond=0)
    ledger.store_readings([("casting-1", "furnace-1", seq, utc_ts(now - timedelta(seconds=600 - seq * 10)),
                            900.0 + seq, "") for seq in range(0, 60)])  # the last ten minutes, heating
    record = ledger.pour("TR-1", gateway="casting-1", probe="furnace-1", value_c=980.0, metal="silver_925",
                         window=(950.0, 1010.0), operator="OP-ART", station="casting")
    assert record["inside"] and record["reason"] == ""
    with pytest.raises(MoveRefused, match="tree TR-1 was already poured"):
        ledger.pour("TR-1", gateway="casting-1", probe="furnace-1", value_c=980.0, metal="silver_925",
                    window=(950.0, 1010.0), operator="OP-ART", station="casting")
    with pytest.raises(MoveRefused, match="outside the pour window 950–1010 °C: wait for it, or a supervisor"):
        ledger.pour("TR-2", gateway="casting-1", probe="furnace-1", value_c=1040.0, metal="silver_925",
                    window=(950.0, 1010.0), operator="OP-ART", station="casting")
    with pytest.raises(MoveRefused, match="needs a reason"):
        ledger.pour("TR-2", gateway="casting-1", probe="furnace-1", value_c=1040.0, metal="silver_925",
                    window=(950.0, 1010.0), operator="OP-SUP", station="casting")
    late = ledger.pour("TR-2", gateway="casting-1", probe="furnace-1", value_c=1040.0, metal="silver_925",
                       window=(950.0, 1010.0), operator="OP-SUP", station="casting", reason="thin filigree: hotter")
    assert not late["inside"] and late["reason"] == "thin filigree: hotter"
    stored = ledger.pour_record("TR-1")
    assert stored is not None and stored["value_c"] == 980.0 and stored["inside"] is True
    assert len(stored["curve"]) >= 55 and stored["curve"][-1][3] == pytest.approx(959.0)  # 15 min before to 2 after
    assert ledger.pour_record("TR-404") is None


def test_kiosk_pour_button_records_the_furnace_reading_now_against_the_tree_s_window(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from kiosk.app import close_app, create_app
    from kiosk.state import get_ledger
    from kiosk.ui.state import ui_state
    from tests.kiosk_ui_support import SECRET, Kiosk, seed, ui_config

    app = create_app(ui_config(tmp_path), {"TESTING": True, "KIOSK_EVENTS": False, "KIOSK_LIVE": False,
                                           "SECRET_KEY": SECRET})
    try:
        with app.app_context():
            seed(get_ledger())
        kiosk = Kiosk(app)
        kiosk.scan("OP-ART")
        page = kiosk.get("/trees/TR-1").get_data(as_text=True)
        assert 'id="pour-button"' in page and "Pour window 950–1010 °C (silver 925, vermeil 18ct)" in page
        no_reading = kiosk.post("/trees/TR-1/pour")
        assert no_reading.status_code == 409 and "no fresh reading from the furnace probe" in no_reading.get_data(as_text=True)

        def furnace(value: float) -> None:
            payload = json.dumps({"ts": utc_ts(), "seq": 1, "value_c": value, "fault": None}).encode()
            with app.test_request_context():
                ui_state().live.on_temperature("benchpin/jaipur/casting-1/probe/furnace-1/temperature", payload)

        furnace(1061.0)
        hot = kiosk.post("/trees/TR-1/pour")
        assert hot.status_code == 409 and "outside the pour window 950–1010 °C" in hot.get_data(as_text=True)
        furnace(985.5)
        poured = kiosk.post("/trees/TR-1/pour").get_data(as_text=True)
        assert "TR-1 poured at 985.5 °C (inside 950–1010 °C)." in poured and "Poured at 985.5 °C" in poured
        with app.app_context():
            record = get_ledger().pour_record("TR-1")
        assert record is not None and (record["probe"], record["operator"]) == ("furnace-1", "OP-ART")
    finally:
        close_app(app)


def test_passport_holds_every_event_in_order_with_names_durations_weights_and_the_pour(ledger: Ledger) -> None:
    from tests.kiosk_support import spec

    ledger.import_pieces([spec("PC-1", metal="silver_925", tree_id="TR-1")])
    for stage in ("cad", "mold", "wax_tree", "casting"):
        ledger.move_tree("TR-1", stage, operator="OP-SUP", station="setup")
    ledger.pour("TR-1", gateway="casting-1", probe="furnace-1", value_c=990.0, metal="silver_925",
                window=(950.0, 1010.0), operator="OP-ART", station="casting")
    ledger.advance("PC-1", operator="OP-ART", station="casting", weight_g=10.0)
    ledger.move("PC-1", "casting", operator="OP-ART", station="filing", note="porosity", weight_g=9.9)
    passport = ledger.passport("PC-1")
    events = ledger.history("PC-1")
    assert [s["event_id"] for s in passport["history"]] == [e.event_id for e in events]  # every event, in order
    assert passport["history"][1]["operator_name"] == "Supervisor One"
    assert all(s["duration_s"] is not None for s in passport["history"][:-1]) and passport["history"][-1]["duration_s"] is None
    rework = passport["history"][-1]
    assert (rework["kind"], rework["note"], rework["weight"]["grams"]) == ("rework", "porosity", 9.9)
    assert passport["pour"]["value_c"] == 990.0 and passport["engraving"] is None


def test_kiosk_piece_page_shows_the_pour_curve_of_its_tree(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kiosk.app import close_app, create_app
    from kiosk.state import get_ledger
    from tests.kiosk_ui_support import SECRET, Kiosk, seed, ui_config

    app = create_app(ui_config(tmp_path), {"TESTING": True, "KIOSK_EVENTS": False, "KIOSK_LIVE": False,
                                           "SECRET_KEY": SECRET})
    try:
        with app.app_context():
            ledger = get_ledger()
            seed(ledger)
            kiosk = Kiosk(app)
            kiosk.scan("OP-ART")
            assert 'id="piece-pour"' not in kiosk.get("/pieces/PC-1").get_data(as_text=True)  # not poured yet
            ledger.pour("TR-1", gateway="casting-1", probe="furnace-1", value_c=980.0, metal="silver_925",
                        window=(950.0, 1010.0), operator="OP-ART", station="casting")
        page = kiosk.get("/pieces/PC-1").get_data(as_text=True)
        assert 'id="piece-pour"' in page and "<svg" in page and 'class="mark"' in page
    finally:
        close_app(app)
