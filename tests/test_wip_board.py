"""The WIP board: per stage of each route, how many pieces wait and how long the oldest has."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kiosk.app import close_app, create_app
from kiosk.ledger import Ledger, MoveRefused
from kiosk.state import get_ledger
from tests.kiosk_support import add_operators, spec
from tests.kiosk_ui_support import SECRET, Kiosk, seed, ui_config
from tests.test_kiosk_api import AUTH, kiosk_config


def backdate(ledger: Ledger, piece_id: str, hours: float) -> None:
    ts = (datetime.now(timezone.utc) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with ledger.db.transaction() as conn:
        conn.execute("UPDATE pieces SET updated = ? WHERE piece_id = ?", (ts, piece_id))


def test_wip_board_counts_ages_and_orders_every_stage(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1"), spec("PC-2"), spec("PC-3"), spec("PC-B1", route="bespoke")])
    for piece_id in ("PC-1", "PC-2", "PC-3"):
        for _ in range(4):  # design → … → casting
            ledger.advance(piece_id, operator="OP-SUP", station="bench")
    ledger.move("PC-3", "scrapped", operator="OP-SUP", station="bench", note="cracked in the flask")
    backdate(ledger, "PC-2", 30)  # casting's target is 24 h: late
    backdate(ledger, "PC-1", 2)
    board = {(s.route, s.stage): s for s in ledger.wip_board()}
    casting = board[("production", "casting")]
    assert [p.piece_id for p in casting.pieces] == ["PC-2", "PC-1"]  # oldest first; scrapped PC-3 left out
    assert casting.count == 2 and casting.late and 29 * 3600 < (casting.oldest_s or 0) < 31 * 3600
    assert casting.to_dict()["pieces"] == ["PC-2", "PC-1"] and casting.to_dict()["late"] is True
    assert board[("bespoke", "consultation")].count == 1 and not board[("bespoke", "consultation")].late
    assert board[("production", "cad")].count == 0 and board[("production", "cad")].oldest_s is None
    assert ("production", "shipped") not in board and ("bespoke", "delivered") not in board  # done, not waiting
    assert sum(s.count for s in board.values()) == 3


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Flask, FlaskClient]]:
    app = create_app(kiosk_config(tmp_path), {"TESTING": True, "KIOSK_EVENTS": False})
    with app.app_context():
        led = get_ledger()
        add_operators(led)
        led.import_pieces([spec("PC-1"), spec("PC-2"), spec("PC-B1", route="bespoke")])
        led.advance("PC-2", operator="OP-SUP", station="x")
        backdate(led, "PC-1", 100)
    yield app, app.test_client()
    close_app(app)


def test_api_wip_returns_the_board(api: tuple[Flask, FlaskClient]) -> None:
    _, client = api
    assert client.get("/api/wip").status_code == 401
    body = client.get("/api/wip", headers=AUTH).json
    by = {(s["route"], s["stage"]): s for s in body["stages"]}
    assert set(by[("production", "design")]) == {"route", "stage", "count", "oldest_s", "target_hours", "late",
                                                 "blocked", "pieces"}
    assert by[("production", "design")]["pieces"] == ["PC-1"] and by[("production", "design")]["late"] is True
    assert by[("production", "cad")]["pieces"] == ["PC-2"] and by[("production", "cad")]["blocked"] is None
    one = client.get("/api/wip?route=bespoke&stage=consultation", headers=AUTH).json["stages"]
    assert [(s["stage"], s["count"]) for s in one] == [("consultation", 1)]


def test_ui_wip_board_shows_stages_with_work_and_lists_a_tapped_stage(tmp_path: Path) -> None:
    app = create_app(ui_config(tmp_path), {"TESTING": True, "KIOSK_EVENTS": False, "KIOSK_LIVE": False,
                                           "SECRET_KEY": SECRET})
    try:
        with app.app_context():
            seed(get_ledger())
            backdate(get_ledger(), "PC-3", 50)
        kiosk = Kiosk(app)
        kiosk.scan("OP-SUP")
        html = kiosk.get("/wip").get_data(as_text=True)
        assert 'data-stage="casting" data-route="production"' in html and "At casting: 3 pieces" in html
        assert 'class="tile late' in html  # the bespoke piece has waited 50 h at casting (target 24 h)
        assert 'data-stage="cad"' not in html  # empty stages of other kiosks are left out
        tapped = kiosk.get("/wip?stage=casting&route=bespoke").get_data(as_text=True)
        assert "At casting: 1 piece<" in tapped and "/pieces/PC-3" in tapped and "/pieces/PC-1" not in tapped
    finally:
        close_app(app)


def test_blocked_stage_refuses_moves_into_it_until_unblocked(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1"), spec("PC-2")])
    for _ in range(3):  # design → cad → mold → wax_tree
        ledger.advance("PC-1", operator="OP-SUP", station="bench")
    with pytest.raises(MoveRefused, match="only a supervisor may block a stage"):
        ledger.block_stage("casting", reason="furnace relining", operator="OP-ART", station="casting")
    with pytest.raises(MoveRefused, match="needs a reason"):
        ledger.block_stage("casting", reason=" ", operator="OP-SUP", station="casting")
    ledger.block_stage("casting", reason="furnace relining", operator="OP-SUP", station="casting")
    with pytest.raises(MoveRefused, match="casting is blocked: furnace relining .by OP-SUP since"):
        ledger.advance("PC-1", operator="OP-SUP", station="bench")
    options = {o.to: o for o in ledger.options("PC-1", "OP-SUP")}
    assert not options["casting"].allowed and "casting is blocked: furnace relining" in options["casting"].why
    board = {(s.route, s.stage): s for s in ledger.wip_board()}
    assert board[("production", "casting")].blocked == "furnace relining"
    assert board[("production", "casting")].to_dict()["blocked"] == "furnace relining"
    with Ledger(ledger.db.url) as other:  # every kiosk on the ledger sees the block
        assert set(other.blocks()) == {"casting"}
    assert ledger.unblock_stage("casting", operator="OP-SUP")
    assert not ledger.unblock_stage("casting", operator="OP-SUP")
    assert ledger.advance("PC-1", operator="OP-SUP", station="bench").to_stage == "casting"


def test_ui_supervisor_blocks_a_stage_and_a_move_into_it_is_refused_on_screen(tmp_path: Path) -> None:
    app = create_app(ui_config(tmp_path, station="filing"), {"TESTING": True, "KIOSK_EVENTS": False,
                                                             "KIOSK_LIVE": False, "SECRET_KEY": SECRET})
    try:
        with app.app_context():
            seed(get_ledger())  # PC-1 and PC-2 at casting
        kiosk = Kiosk(app)
        kiosk.scan("OP-ART")
        assert kiosk.post("/wip/filing/block", reason="no files").status_code == 409  # not a supervisor
        kiosk.scan("OP-SUP")
        page = kiosk.get("/wip").get_data(as_text=True)
        assert 'action="/wip/filing/block"' in page and "Block filing" in page
        assert kiosk.post("/wip/casting/block", reason="x").status_code == 409  # not this kiosk's stage
        done = kiosk.post("/wip/filing/block", reason="waiting for new files")
        assert done.status_code == 200 and "filing blocked: waiting for new files" in done.get_data(as_text=True)
        board = kiosk.get("/wip").get_data(as_text=True)
        assert "tile blocked" in board
        assert "blocked: waiting for new files" in board and "Unblock filing" in board
        refused = kiosk.post("/pieces/PC-1/moves", version="4")
        assert refused.status_code == 409 and "filing is blocked: waiting for new files" in refused.get_data(as_text=True)
        assert kiosk.post("/wip/filing/unblock").status_code == 200
        assert kiosk.post("/pieces/PC-1/moves", version="4").status_code == 200
        with app.app_context():
            assert get_ledger().piece("PC-1").stage == "filing"
    finally:
        close_app(app)
