"""QC checks as route data: answered before a move, never advanced past when failing, stored with the move."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from kiosk.app import close_app, create_app
from kiosk.ledger import Ledger, MoveRefused, PieceSpec
from kiosk.ledger.checks import MEASURE, PASS_FAIL, Check, evaluate, judge
from kiosk.state import get_ledger
from tests.kiosk_support import add_operators, engraved, passing, spec
from tests.kiosk_ui_support import SECRET, Kiosk, ui_config
from tests.test_kiosk_api import AUTH, kiosk_config

PLATING = Check("plating_um", "Plating thickness", MEASURE, unit="µm", metals=("vermeil_18ct", "gold_plated_brass"),
                min_by_metal={"vermeil_18ct": 2.5, "gold_plated_brass": 2.0})


def at_qc(ledger: Ledger, piece_id: str) -> None:
    while ledger.piece(piece_id).stage != "qc":
        engraved(ledger, piece_id)
        ledger.advance(piece_id, operator="OP-SUP", station="bench", checks=passing(ledger, piece_id))


def test_checks_plating_thickness_is_judged_per_metal() -> None:
    vermeil, brass, silver = (PieceSpec("PC-1", "production", metal=m) for m in
                              ("vermeil_18ct", "gold_plated_brass", "silver_925"))
    assert evaluate(PLATING, 2.5, vermeil).passed and not evaluate(PLATING, 2.4, vermeil).passed
    assert evaluate(PLATING, 2.0, brass).passed and not evaluate(PLATING, 1.9, brass).passed
    assert evaluate(PLATING, 2.4, vermeil).why == "Plating thickness 2.4 µm is below 2.5 µm"
    assert not PLATING.applies_to(silver)
    chain = Check("chain_length_cm", "Chain length", MEASURE, unit="cm", nominal="chain_length_cm", tolerance=0.5)
    assert chain.applies_to(PieceSpec("PC-2", "production", chain_length_cm=45.0))
    assert not chain.applies_to(PieceSpec("PC-3", "production"))
    assert not evaluate(chain, 44.4, PieceSpec("PC-2", "production", chain_length_cm=45.0)).passed
    for bad in (True, "2.5", float("nan")):
        with pytest.raises(ValueError, match="plating_um: a measurement"):
            evaluate(PLATING, bad, vermeil)


@given(value=st.one_of(st.booleans(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5)))
def test_checks_a_failing_answer_never_completes(value: object) -> None:
    checks = (PLATING, Check("finish", "Finish", PASS_FAIL))
    piece = PieceSpec("PC-1", "production", metal="vermeil_18ct")
    results, problems = judge(checks, {"plating_um": value, "finish": True}, piece, complete=True)
    accepted = not problems
    assert accepted == (isinstance(value, float) and value >= 2.5)  # only a passing measurement completes
    if accepted:
        assert {r.name for r in results} == {"plating_um", "finish"} and all(r.passed for r in results)


def test_ledger_refuses_a_missing_or_failing_check_and_keeps_the_results(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1", metal="vermeil_18ct")])
    at_qc(ledger, "PC-1")
    with pytest.raises(MoveRefused, match=r"check plating_um \(Plating thickness\) is required"):
        ledger.advance("PC-1", operator="OP-QC", station="qc", checks={"finish": True})
    with pytest.raises(MoveRefused, match="check plating_um failed: Plating thickness 2.1 µm is below 2.5 µm"):
        ledger.advance("PC-1", operator="OP-QC", station="qc", checks={"finish": True, "plating_um": 2.1})
    with pytest.raises(MoveRefused, match="colour: no such check"):
        ledger.advance("PC-1", operator="OP-QC", station="qc", checks={"finish": True, "plating_um": 3, "colour": 1})
    assert ledger.piece("PC-1").stage == "qc"
    back = ledger.move("PC-1", "plating", operator="OP-QC", station="qc", note="plating thickness",
                       checks={"plating_um": 2.1})  # the failing measurement goes with the rework
    assert back.checks == {"plating_um": {"value": 2.1, "passed": False, "why": "Plating thickness 2.1 µm is below 2.5 µm"}}
    at_qc(ledger, "PC-1")
    event = ledger.advance("PC-1", operator="OP-QC", station="qc", checks={"finish": True, "plating_um": 2.8})
    assert event.to_payload()["checks"] == {"finish": {"value": True, "passed": True},
                                            "plating_um": {"value": 2.8, "passed": True}}
    history = ledger.history("PC-1")
    assert history[-1].checks == {"finish": {"value": True, "passed": True}, "plating_um": {"value": 2.8, "passed": True}}
    rework = next(e for e in history if e.kind == "rework")
    assert rework.checks == {"plating_um": {"value": 2.1, "passed": False}}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Flask, FlaskClient]]:
    app = create_app(kiosk_config(tmp_path), {"TESTING": True, "KIOSK_EVENTS": False})
    with app.app_context():
        led = get_ledger()
        add_operators(led)
        led.import_pieces([spec("PC-1", metal="gold_plated_brass")])
        at_qc(led, "PC-1")
    yield app, app.test_client()
    close_app(app)


def test_api_a_failing_check_is_409_naming_it_and_a_passing_one_is_carried_by_the_event(
        api: tuple[Flask, FlaskClient]) -> None:
    _, client = api
    body = {"to": "packing", "operator": "OP-QC"}
    missing = client.post("/api/pieces/PC-1/moves", headers=AUTH, json=body)
    assert missing.status_code == 409 and "check plating_um" in missing.json["error"]
    failing = client.post("/api/pieces/PC-1/moves", headers=AUTH,
                          json={**body, "checks": {"plating_um": 1.5, "finish": True}})
    assert failing.status_code == 409 and "1.5 µm is below 2 µm" in failing.json["error"]
    assert client.post("/api/pieces/PC-1/moves", headers=AUTH,
                       json={**body, "checks": ["finish"]}).status_code == 400
    moved = client.post("/api/pieces/PC-1/moves", headers=AUTH,
                        json={**body, "checks": {"plating_um": 2.2, "finish": True}})
    assert moved.status_code == 201 and moved.json["checks"]["plating_um"] == {"value": 2.2, "passed": True}
    history = client.get("/api/pieces/PC-1", headers=AUTH).json["history"]
    assert history[-1]["checks"]["finish"] == {"value": True, "passed": True}


def test_ui_qc_screen_a_failing_measurement_offers_rework_and_never_advances(tmp_path: Path) -> None:
    app = create_app(ui_config(tmp_path, station="qc"), {"TESTING": True, "KIOSK_EVENTS": False,
                                                         "KIOSK_LIVE": False, "SECRET_KEY": SECRET})
    try:
        with app.app_context():
            led = get_ledger()
            add_operators(led)
            led.import_pieces([spec("PC-1", metal="vermeil_18ct", style="Lotus ring")])
            at_qc(led, "PC-1")
            version = str(led.piece("PC-1").version)
        kiosk = Kiosk(app)
        kiosk.scan("OP-QC")
        page = kiosk.get("/pieces/PC-1").get_data(as_text=True)
        assert 'name="check.plating_um"' in page and "µm: at least 2.5" in page and 'name="check.finish"' in page
        assert 'name="check.chain_length_cm"' not in page  # the piece has no chain
        refused = kiosk.post("/pieces/PC-1/moves", version=version, to="packing",
                             **{"check.plating_um": "2.1", "check.finish": "pass"})
        html = refused.get_data(as_text=True)
        assert refused.status_code == 409 and "Plating thickness 2.1 µm is below 2.5 µm" in html
        assert 'id="failed-checks"' in html and "Back to plating" in html and 'name="check.plating_um" value="2.1"' in html
        assert kiosk.post("/pieces/PC-1/moves", version=version, **{"check.finish": "pass"}).status_code == 409
        with app.app_context():
            assert get_ledger().piece("PC-1").stage == "qc"
        back = kiosk.post("/pieces/PC-1/moves", version=version, to="plating",
                          note="Plating thickness 2.1 µm is below 2.5 µm", **{"check.plating_um": "2.1"})
        assert back.status_code == 200
        history = kiosk.get("/pieces/PC-1").get_data(as_text=True)
        assert 'class="fail">plating um 2.1 ✗' in history
        with app.app_context():
            assert get_ledger().piece("PC-1").stage == "plating"
    finally:
        close_app(app)
