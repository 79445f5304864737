"""The ledger on SQLite and on PostgreSQL: routes walked, rework, scrap, roles, serials, races."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import pytest

from kiosk.ledger import LASER, SCRAPPED, Ledger, MoveRefused, NotFound
from kiosk.ledger.db import IntegrityViolation
from tests.kiosk_support import OPERATORS, add_operators, engraved, passing, spec

BY_ROLE = {role: op for op, role in OPERATORS.items()}


def walk(ledger: Ledger, piece_id: str) -> list[str]:
    """Advance a piece to the end of its route, each time as an operator whose role may."""
    stages = [ledger.piece(piece_id).stage]
    while True:
        advance = [o for o in ledger.options(piece_id, "OP-SUP") if o.kind == "advance"]
        if not advance:
            return stages
        engraved(ledger, piece_id)
        event = ledger.advance(piece_id, operator=BY_ROLE[advance[0].roles[0]], station="bench",
                               checks=passing(ledger, piece_id))
        stages.append(event.to_stage)


def test_ledger_walks_production_route_end_to_end(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1", enamel=True, metal="vermeil_18ct"), spec("PC-2", metal="silver_925")])
    full = ["design", "cad", "mold", "wax_tree", "casting", "filing", "decoration", "plating", "enamel",
            "engraving", "qc", "packing", "shipped"]
    assert walk(ledger, "PC-1") == full
    assert walk(ledger, "PC-2") == [s for s in full if s != "enamel"]
    history = ledger.history("PC-1")
    assert [e.to_stage for e in history] == full
    assert history[0].kind == "created" and history[0].from_stage is None
    assert [e.version for e in history] == list(range(len(full)))
    assert all(e.from_stage == prev.to_stage for prev, e in zip(history, history[1:]))
    assert ledger.piece("PC-1").serial != ledger.piece("PC-2").serial


def test_ledger_walks_bespoke_route_end_to_end(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-B1", route="bespoke", enamel=True, stone_type="emerald")])
    assert walk(ledger, "PC-B1") == [
        "consultation", "design_approval", "cad", "model", "casting", "casting_inspection", "filing",
        "assembly", "try_on", "setting", "polishing", "inspection", "engraving", "delivered"]
    piece = ledger.piece("PC-B1")
    assert piece.serial and piece.serial.startswith("BP-")
    assert [e.operator for e in ledger.history("PC-B1")][1:3] == ["OP-ART", "OP-SUP"]


def to_stage(ledger: Ledger, piece_id: str, stage: str) -> None:
    while ledger.piece(piece_id).stage != stage:
        engraved(ledger, piece_id)
        ledger.advance(piece_id, operator="OP-SUP", station="bench", checks=passing(ledger, piece_id))


def test_ledger_rework_sends_piece_back_with_reason_and_keeps_serial(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1")])
    to_stage(ledger, "PC-1", "qc")
    serial = ledger.piece("PC-1").serial
    with pytest.raises(MoveRefused, match="needs a reason"):
        ledger.move("PC-1", "plating", operator="OP-QC", station="qc", note="  ")
    with pytest.raises(MoveRefused, match="cannot go to enamel"):  # not an enamel piece
        ledger.move("PC-1", "enamel", operator="OP-QC", station="qc", note="colour")
    event = ledger.move("PC-1", "plating", operator="OP-QC", station="qc", note="plating thickness")
    assert (event.kind, event.from_stage, event.to_stage, event.note) == ("rework", "qc", "plating", "plating thickness")
    to_stage(ledger, "PC-1", "qc")
    assert ledger.piece("PC-1").serial == serial
    reasons = {o.to: o.reasons for o in ledger.options("PC-1", "OP-QC") if o.kind == "rework"}
    assert "loose stone" in reasons["decoration"] and "porosity" in reasons["filing"]


def test_ledger_scrap_ends_the_route(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1", route="bespoke")])
    to_stage(ledger, "PC-1", "casting_inspection")
    event = ledger.move("PC-1", SCRAPPED, operator="OP-QC", station="qc", note="porosity through the shank")
    assert event.kind == "scrap" and ledger.piece("PC-1").stage == SCRAPPED
    assert ledger.options("PC-1", "OP-SUP") == []
    with pytest.raises(MoveRefused, match="end of its route"):
        ledger.advance("PC-1", operator="OP-SUP", station="qc")


def test_ledger_refuses_wrong_role_unknown_operator_and_wrong_stage(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1")])
    to_stage(ledger, "PC-1", "qc")
    with pytest.raises(MoveRefused, match="role artisan may not advance a piece at qc"):
        ledger.advance("PC-1", operator="OP-ART", station="qc")
    with pytest.raises(MoveRefused, match="unknown operator OP-NOBODY"):
        ledger.advance("PC-1", operator="OP-NOBODY", station="qc")
    with pytest.raises(MoveRefused, match="cannot go to casting"):
        ledger.move("PC-1", "casting", operator="OP-QC", station="qc", note="x")
    with pytest.raises(MoveRefused, match="cannot be moved by the system"):
        ledger.advance("PC-1", operator=LASER, station="qc")
    with pytest.raises(NotFound):
        ledger.advance("PC-404", operator="OP-QC", station="qc")
    options = {o.to: o for o in ledger.options("PC-1", "OP-ART")}
    assert not options["packing"].allowed and "needs qc or supervisor" in options["packing"].why
    assert ledger.piece("PC-1").stage == "qc" and ledger.piece("PC-1").version == 9


def test_ledger_laser_may_advance_only_the_engraving_stage(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1")])
    to_stage(ledger, "PC-1", "engraving")
    engraved(ledger, "PC-1")
    event = ledger.advance("PC-1", operator=LASER, station="laser")
    assert (event.from_stage, event.to_stage, event.operator) == ("engraving", "qc", "laser")


def test_ledger_serial_uniqueness_is_a_database_constraint(ledger_url: str) -> None:
    with Ledger(ledger_url, serial_pattern="SAME-{year}") as led:
        add_operators(led)
        led.import_pieces([spec("PC-1"), spec("PC-2")])
        to_stage(led, "PC-1", "engraving")
        to_stage(led, "PC-2", "plating")
        with pytest.raises(MoveRefused, match="already used by another piece"):
            led.advance("PC-2", operator="OP-SUP", station="bench")
        assert led.piece("PC-2").stage == "plating" and led.piece("PC-2").serial is None
        with led.db.transaction() as conn, pytest.raises(IntegrityViolation):
            conn.execute("UPDATE pieces SET serial = ? WHERE piece_id = 'PC-2'", (led.piece("PC-1").serial,))


@contextmanager
def racing(ledger: Ledger, barrier: threading.Barrier) -> Iterator[None]:
    """Make every write transaction wait for the others, after all checks were passed."""
    original = ledger.db.transaction

    @contextmanager
    def gated():  # type: ignore[no-untyped-def]
        barrier.wait(timeout=10)
        with original() as conn:
            yield conn

    ledger.db.transaction = gated  # type: ignore[method-assign]
    try:
        yield
    finally:
        ledger.db.transaction = original  # type: ignore[method-assign]


def test_ledger_concurrent_advance_exactly_one_wins(ledger_url: str) -> None:
    kiosk_a, kiosk_b = Ledger(ledger_url), Ledger(ledger_url)  # two kiosks, two connection pools
    add_operators(kiosk_a)
    kiosk_a.import_pieces([spec(f"PC-{i}") for i in range(5)])
    barrier = threading.Barrier(2)
    for i in range(5):
        results: dict[str, object] = {}

        def tap(name: str, kiosk: Ledger, operator: str) -> None:
            try:
                results[name] = kiosk.advance(f"PC-{i}", operator=operator, station=name)
            except MoveRefused as exc:
                results[name] = exc

        with racing(kiosk_a, barrier), racing(kiosk_b, barrier):
            threads = [threading.Thread(target=tap, args=("a", kiosk_a, "OP-ART")),
                       threading.Thread(target=tap, args=("b", kiosk_b, "OP-SUP"))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
        refused = [r for r in results.values() if isinstance(r, MoveRefused)]
        won = [r for r in results.values() if not isinstance(r, MoveRefused)]
        assert len(won) == 1 and len(refused) == 1, results
        winner = won[0]
        assert f"already moved to cad by {winner.operator} at {winner.ts}" in str(refused[0])  # type: ignore[attr-defined]
        assert kiosk_a.piece(f"PC-{i}").version == 1 and len(kiosk_a.history(f"PC-{i}")) == 2
    kiosk_a.close()
    kiosk_b.close()


def test_ledger_stale_screen_is_refused_with_who_moved_it(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1")])
    seen = ledger.piece("PC-1")
    ledger.advance("PC-1", operator="OP-SUP", station="design")
    with pytest.raises(MoveRefused, match="already moved to cad by OP-SUP at .*Z"):
        ledger.advance("PC-1", operator="OP-ART", station="design", expected_version=seen.version)
    with pytest.raises(MoveRefused, match="already moved to cad by OP-SUP"):
        ledger.move("PC-1", "cad", operator="OP-ART", station="design", expected_stage="design")


def test_ledger_tree_moves_all_pieces_or_none(ledger: Ledger) -> None:
    ledger.import_pieces([spec(f"PC-{i}", tree_id="TR-1") for i in range(3)] + [spec("PC-9")])
    for i in range(3):
        to_stage(ledger, f"PC-{i}", "wax_tree")
    ledger.advance("PC-2", operator="OP-SUP", station="casting")  # one piece is ahead
    with pytest.raises(MoveRefused, match="tree TR-1 not moved: PC-2: .*cannot go to casting"):
        ledger.move_tree("TR-1", "casting", operator="OP-ART", station="casting")
    assert [p.stage for p in ledger.tree("TR-1").pieces] == ["wax_tree", "wax_tree", "casting"]
    ledger.move("PC-2", SCRAPPED, operator="OP-QC", station="casting", note="short pour")
    events = ledger.move_tree("TR-1", "casting", operator="OP-ART", station="casting")
    assert [e.piece_id for e in events] == ["PC-0", "PC-1"]
    assert [p.stage for p in ledger.tree("TR-1").pieces] == ["casting", "casting", SCRAPPED]
    with pytest.raises(NotFound):
        ledger.tree("TR-404")


def test_ledger_tree_move_rolls_back_when_a_piece_loses_a_race(ledger: Ledger) -> None:
    ledger.import_pieces([spec(f"PC-{i}", tree_id="TR-1") for i in range(3)])
    original = ledger.db.transaction

    @contextmanager
    def sneak_in():  # type: ignore[no-untyped-def]
        ledger.db.transaction = original  # type: ignore[method-assign]
        ledger.advance("PC-1", operator="OP-SUP", station="other")
        with original() as conn:
            yield conn

    ledger.db.transaction = sneak_in  # type: ignore[method-assign]
    with pytest.raises(MoveRefused, match="tree TR-1 not moved: PC-1 was already moved to cad by OP-SUP"):
        ledger.move_tree("TR-1", "cad", operator="OP-ART", station="design")
    assert [p.stage for p in ledger.tree("TR-1").pieces] == ["design", "cad", "design"]


def test_ledger_wip_lists_pieces_at_a_station(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1"), spec("PC-2"), spec("PC-3", route="bespoke")])
    to_stage(ledger, "PC-2", "casting")
    to_stage(ledger, "PC-3", "casting")
    assert [p.piece_id for p in ledger.wip("casting")] == ["PC-2", "PC-3"]
    assert [p.piece_id for p in ledger.wip(["design", "consultation"])] == ["PC-1"]
    assert ledger.wip([]) == []


def test_ledger_operators_have_roles(ledger: Ledger) -> None:
    assert [(o.operator_id, o.role) for o in ledger.operators()] == sorted(OPERATORS.items())
    from kiosk.ledger import DuplicateOperator

    with pytest.raises(DuplicateOperator):
        ledger.add_operator("OP-QC", "Again", "qc")
    with pytest.raises(ValueError, match="unknown role"):
        ledger.add_operator("OP-X", "X", "wizard")


def test_ledger_reports_an_unreachable_database_clearly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kiosk.ledger import DatabaseUnavailable

    with pytest.raises(DatabaseUnavailable, match="cannot connect to PostgreSQL"):
        Ledger("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(DatabaseUnavailable, match="unsupported database URL"):
        Ledger("mysql://x")


def test_ledger_a_kiosk_moves_only_pieces_at_its_own_stages_except_for_a_supervisor(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1")] + [spec(f"PC-T{i}", tree_id="TR-1") for i in range(2)])
    casting = ("casting", "plating")  # a casting/plating kiosk; every piece starts at design
    with pytest.raises(MoveRefused, match=r"PC-1 is at design, not at a stage of this kiosk \(casting, plating\)"):
        ledger.advance("PC-1", operator="OP-ART", station="casting-plating", stages=casting)
    offered = ledger.options("PC-1", "OP-ART", stages=casting)
    assert offered and not any(o.allowed for o in offered)
    assert all("not at a stage of this kiosk" in o.why for o in offered if "needs" not in o.why)
    with pytest.raises(MoveRefused, match="tree TR-1 not moved: PC-T0 is at design, not at a stage of this kiosk"):
        ledger.move_tree("TR-1", "cad", operator="OP-ART", station="casting-plating", stages=casting)
    assert ledger.piece("PC-1").stage == "design" and ledger.piece("PC-T0").stage == "design"
    # A supervisor may move any piece from any kiosk; the event says where and from which stage.
    event = ledger.advance("PC-1", operator="OP-SUP", station="casting-plating", stages=casting)
    assert (event.station, event.from_stage, event.to_stage) == ("casting-plating", "design", "cad")
    assert any(o.allowed for o in ledger.options("PC-1", "OP-SUP", stages=casting))
    # At the kiosk that serves the stage the artisan moves it; without stages (API) nothing limits it.
    assert ledger.advance("PC-1", operator="OP-ART", station="cad", stages=("cad",)).to_stage == "mold"
    assert ledger.advance("PC-1", operator="OP-ART", station="api").to_stage == "wax_tree"
