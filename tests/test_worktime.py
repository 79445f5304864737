"""Working time on SQLite and PostgreSQL: start/pause/resume/done, one winner, the time report."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from benchpin.topics import utc_ts
from kiosk.ledger import Ledger, MoveRefused
from kiosk.ledger.worktime import percentile
from tests.kiosk_support import spec

CASTING = ("casting",)


def at_casting(ledger: Ledger, *piece_ids: str) -> None:
    ledger.import_pieces([spec(p) for p in piece_ids])
    for piece_id in piece_ids:
        for _ in range(4):  # design → cad → mold → wax_tree → casting
            ledger.advance(piece_id, operator="OP-SUP", station="setup")


def ago(seconds: float) -> str:
    return utc_ts(datetime.now(timezone.utc) - timedelta(seconds=seconds))


def backdate_state(ledger: Ledger, piece_id: str, seconds: float) -> None:
    """Pretend the current state of the piece's work began ``seconds`` ago."""
    with ledger.db.transaction() as conn:
        conn.execute("UPDATE work_sessions SET since = ? WHERE piece_id = ?", (ago(seconds), piece_id))


def test_work_start_pause_resume_done_counts_only_the_working_time(ledger: Ledger) -> None:
    at_casting(ledger, "PC-1")
    started = ledger.work("PC-1", "start", operator="OP-ART", station="casting", stages=CASTING)
    assert (started.state, started.operator, started.stage) == ("working", "OP-ART", "casting")
    backdate_state(ledger, "PC-1", 600)  # worked ten minutes
    assert ledger.work("PC-1", "pause", operator="OP-ART", station="casting").worked_s == pytest.approx(600, abs=5)
    backdate_state(ledger, "PC-1", 3600)  # an hour's lunch: paused, not counted
    assert ledger.work("PC-1", "resume", operator="OP-ART", station="casting").worked_s == pytest.approx(600, abs=5)
    backdate_state(ledger, "PC-1", 300)
    done = ledger.work("PC-1", "done", operator="OP-ART", station="casting")
    assert done.state == "done" and done.worked_s == pytest.approx(900, abs=5)
    with pytest.raises(MoveRefused, match="work on PC-1 is done: it cannot resume now"):
        ledger.work("PC-1", "resume", operator="OP-ART", station="casting")
    with pytest.raises(MoveRefused, match="Artisan One already finished work on PC-1 at casting"):
        ledger.work("PC-1", "start", operator="OP-SET", station="casting")
    # The next stay is a new one: after the move it can be timed again.
    ledger.advance("PC-1", operator="OP-ART", station="casting", stages=CASTING)
    assert ledger.work_session("PC-1") is None


def test_work_belongs_to_who_started_it_and_stays_at_the_kiosk_s_stages(ledger: Ledger) -> None:
    at_casting(ledger, "PC-1")
    ledger.import_pieces([spec("PC-2")])  # at design
    with pytest.raises(MoveRefused, match="nobody started work on PC-1 at casting: tap Start first"):
        ledger.work("PC-1", "pause", operator="OP-ART", station="casting")
    ledger.work("PC-1", "start", operator="OP-ART", station="casting")
    for action in ("start", "pause", "done"):
        with pytest.raises(MoveRefused, match="Artisan One is working on PC-1 at casting"):
            ledger.work("PC-1", action, operator="OP-SET", station="casting")
    assert ledger.work("PC-1", "done", operator="OP-SUP", station="casting").state == "done"  # a supervisor may
    with pytest.raises(MoveRefused, match="PC-2 is at design, not at a stage of this kiosk"):
        ledger.work("PC-2", "start", operator="OP-ART", station="casting", stages=CASTING)
    with pytest.raises(MoveRefused, match="unknown work action 'lunch'"):
        ledger.work("PC-1", "lunch", operator="OP-ART", station="casting")


def test_work_two_operators_starting_at_once_one_clear_winner(ledger: Ledger) -> None:
    at_casting(ledger, "PC-1")
    for attempt in range(5):
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}

        def start(operator: str) -> None:
            barrier.wait()
            try:
                ledger.work("PC-1", "start", operator=operator, station="casting")
                outcomes[operator] = "won"
            except MoveRefused as exc:
                outcomes[operator] = str(exc)

        threads = [threading.Thread(target=start, args=(op,)) for op in ("OP-ART", "OP-SET")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        winners = [op for op, outcome in outcomes.items() if outcome == "won"]
        assert len(winners) == 1, outcomes
        loser = next(op for op in outcomes if op not in winners)
        assert "is working on PC-1 at casting" in outcomes[loser], outcomes
        session = ledger.work_session("PC-1")
        assert session is not None and session.operator == winners[0]
        ledger.work("PC-1", "done", operator=winners[0], station="casting")
        ledger.advance("PC-1", operator="OP-SUP", station="casting")  # a new stay for the next round
        ledger.move("PC-1", "casting", operator="OP-SUP", station="casting", note=f"round {attempt}")


def test_time_report_medians_and_p90_of_work_and_dwell_per_stage_and_operator(ledger: Ledger) -> None:
    at_casting(ledger, "PC-1", "PC-2", "PC-3")
    # PC-1: timed, 10 minutes of work in a 2-hour stay; PC-2 and PC-3 untimed: their dwell counts.
    ledger.work("PC-1", "start", operator="OP-ART", station="casting")
    backdate_state(ledger, "PC-1", 600)
    ledger.work("PC-1", "done", operator="OP-ART", station="casting")
    for piece_id in ("PC-1", "PC-2", "PC-3"):
        ledger.advance(piece_id, operator="OP-ART" if piece_id != "PC-3" else "OP-SUP", station="casting")
    stays = {"PC-1": 7200, "PC-2": 1800, "PC-3": 2400}
    with ledger.db.transaction() as conn:
        for piece_id, seconds in stays.items():  # the move into casting (version 4) that long before the move out
            left = conn.row("SELECT ts FROM events WHERE piece_id = ? AND version = 5", (piece_id,))
            assert left is not None
            entered = utc_ts(datetime.fromisoformat(left[0].replace("Z", "+00:00")) - timedelta(seconds=seconds))
            conn.execute("UPDATE events SET ts = ? WHERE piece_id = ? AND version = 4", (entered, piece_id))
    rows = {(r.stage, r.operator): r for r in ledger.time_report(ago(86400), ago(-60))}
    artisan = rows[("casting", "OP-ART")]
    assert (artisan.name, artisan.stays) == ("Artisan One", 2)
    assert artisan.work_median_s == pytest.approx(600, abs=5)  # nearest rank of [600, 1800]
    assert artisan.work_p90_s == pytest.approx(1800, abs=1)
    assert (artisan.dwell_median_s, artisan.dwell_p90_s) == (pytest.approx(1800, abs=1), pytest.approx(7200, abs=1))
    supervisor = rows[("casting", "OP-SUP")]
    assert supervisor.stays == 1 and supervisor.work_median_s == supervisor.dwell_median_s == pytest.approx(2400, abs=1)
    assert ledger.time_report(ago(3 * 86400), ago(2 * 86400)) == []  # no stay ended then


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([5.0], 90) == 5.0
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) == 5
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9
    assert percentile([3, 1, 2], 100) == 3
