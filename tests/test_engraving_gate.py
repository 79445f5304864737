"""No piece leaves engraving without its serial: the ledger's rule and the supervisor's override."""

from __future__ import annotations

import pytest

from kiosk.ledger import Ledger, MoveRefused
from tests.kiosk_support import spec


def at_engraving(ledger: Ledger, piece_id: str = "PC-1") -> str:
    """Walk a piece to engraving; return its laser job id."""
    ledger.import_pieces([spec(piece_id)])
    while ledger.piece(piece_id).stage != "engraving":
        ledger.advance(piece_id, operator="OP-SUP", station="bench")
    job = ledger.laser_job(piece_id)
    assert job is not None and job.state == "sent" and job.job_id == ledger.history(piece_id)[-1].event_id
    return job.job_id


@pytest.mark.parametrize("state, detail", [("accepted", ""), ("running", ""), ("rejected", "serial already engraved"),
                                           ("interrupted", "door opened"), ("failed", "error:20"),
                                           ("cancelled", "")])
def test_gate_refuses_an_advance_out_of_engraving_until_the_job_is_done(ledger: Ledger, state: str,
                                                                        detail: str) -> None:
    job_id = at_engraving(ledger)
    assert ledger.record_job(job_id, state, detail=detail)
    for operator in ("OP-ENG", "OP-SUP", "laser"):
        with pytest.raises(MoveRefused, match=f"not engraved yet: its laser job is {state}"):
            ledger.advance("PC-1", operator=operator, station="engraving")
    with pytest.raises(MoveRefused, match="only a supervisor may override"):
        ledger.advance("PC-1", operator="OP-ENG", station="engraving", note="looks fine", override=True)
    with pytest.raises(MoveRefused, match="override needs a reason"):
        ledger.advance("PC-1", operator="OP-SUP", station="engraving", note="  ", override=True)
    assert ledger.piece("PC-1").stage == "engraving"
    options = {o.to: o for o in ledger.options("PC-1", "OP-ENG")}
    assert not options["qc"].allowed and not options["qc"].override and "only a supervisor" in options["qc"].why
    options = {o.to: o for o in ledger.options("PC-1", "OP-SUP")}
    assert not options["qc"].allowed and options["qc"].override and options["qc"].needs_note


def test_gate_lets_a_done_job_advance_and_keeps_the_state_across_a_restart(ledger: Ledger) -> None:
    job_id = at_engraving(ledger)
    ledger.record_job(job_id, "running", progress=0.5, eta_s=4.0)
    with Ledger(ledger.db.url) as again:  # a kiosk restarted mid-job reads the job from the ledger
        job = again.laser_job("PC-1")
        assert job is not None and (job.state, job.progress, job.eta_s) == ("running", 0.5, 4.0)
        again.record_job(job_id, "done")
    event = ledger.advance("PC-1", operator="OP-ENG", station="engraving")
    assert (event.to_stage, event.override) == ("qc", False)
    assert "override" not in event.to_payload()
    assert ledger.laser_job("PC-1") is None  # not at engraving any more


def test_gate_supervisor_override_is_recorded_as_such(ledger: Ledger) -> None:
    job_id = at_engraving(ledger)
    ledger.record_job(job_id, "interrupted", detail="the laser's door opened")
    event = ledger.advance("PC-1", operator="OP-SUP", station="engraving", note="serial engraved by hand",
                           override=True)
    assert event.override and event.to_stage == "qc"
    assert event.to_payload()["override"] is True
    last = ledger.history("PC-1")[-1]
    assert (last.override, last.note, last.operator) == (True, "serial engraved by hand", "OP-SUP")
    assert not any(e.override for e in ledger.history("PC-1")[:-1])


def test_gate_a_new_stay_at_engraving_needs_a_new_job(ledger: Ledger) -> None:
    first = at_engraving(ledger)
    ledger.record_job(first, "done")
    ledger.advance("PC-1", operator="laser", station="laser-1")
    ledger.move("PC-1", "engraving", operator="OP-QC", station="qc", note="engraving illegible")
    second = ledger.laser_job("PC-1")
    assert second is not None and second.job_id != first and second.state == "sent"
    with pytest.raises(MoveRefused, match="not engraved yet"):
        ledger.advance("PC-1", operator="OP-ENG", station="engraving")
    assert not ledger.record_job("no-such-move", "done")


def test_gate_does_not_hold_rework_or_scrap(ledger: Ledger) -> None:
    at_engraving(ledger)
    moves = {o.to: o for o in ledger.options("PC-1", "OP-SUP")}
    assert all(o.allowed for o in moves.values() if o.kind != "advance")
