"""The engraver job journal and job validation: exactly-once rules without any hardware."""

from __future__ import annotations

import json

import pytest

from benchpin.config import EngraverConfig
from gateway.engraver_jobs import JobRejected, plan_job
from gateway.job_journal import JobJournal

CONFIG = EngraverConfig(id="laser-1", port="/dev/null")


@pytest.fixture
def journal(tmp_path):
    with_journal = JobJournal(tmp_path / "jobs.sqlite")
    yield with_journal
    with_journal.close()


def test_journal_add_keeps_the_first_version_of_a_job_id(journal):
    job, created = journal.add("J-1", "laser-1", {"text": "A"}, ["G0 X0"])
    again, created_again = journal.add("J-1", "laser-1", {"text": "B"}, ["G0 X9"])
    assert created and not created_again
    assert again.request == {"text": "A"} and again.program == ("G0 X0",) and again.state == "accepted"


def test_journal_running_jobs_become_interrupted_after_a_restart(tmp_path, journal):
    journal.add("J-1", "laser-1", {}, ["G0 X0"])
    assert journal.transition("J-1", "running", expect=("accepted",))
    reopened = JobJournal(tmp_path / "jobs.sqlite")
    assert reopened.interrupt_running("laser-1", "power cut") == ["J-1"]
    job = reopened.get("J-1")
    assert (job.state, job.detail, job.attempts) == ("interrupted", "power cut", 1)
    assert reopened.next_queued("laser-1") is None  # never resumed by itself
    reopened.close()


def test_journal_retry_and_cancel_follow_the_operator_rules(journal):
    journal.add("J-1", "laser-1", {}, ["G0 X0"])
    assert "only interrupted, failed, rejected" in journal.retry("J-1")
    journal.transition("J-1", "running", expect=("accepted",))
    assert "only accepted, interrupted" in journal.cancel("J-1")
    journal.transition("J-1", "done", expect=("running",))
    assert "J-1 is done" in journal.retry("J-1")  # a done job is never engraved again
    journal.add("J-2", "laser-1", {}, ["G0 X0"])
    journal.add("J-3", "laser-1", {}, ["G0 X0"])
    journal.transition("J-2", "running", expect=("accepted",))
    journal.transition("J-2", "interrupted", "door", expect=("running",))
    assert journal.retry("J-2", "OP-0007") is None
    assert journal.next_queued("laser-1").job_id == "J-3"  # a retried job goes to the back
    assert journal.cancel("J-3", "OP-0007") is None
    assert journal.next_queued("laser-1").job_id == "J-2"
    assert [h[1:] for h in journal.history("J-2")][-1] == ("accepted", "retry by OP-0007", "OP-0007")
    assert journal.retry("nope") == "no job 'nope'"
    journal.add("J-4", "laser-1", {}, [], "rejected", "unknown material")
    assert "nothing to engrave" in journal.retry("J-4")


def test_journal_unpublished_lists_changes_until_marked(journal):
    journal.add("J-1", "laser-1", {}, ["G0 X0"])
    assert [j.job_id for j in journal.unpublished("laser-1")] == ["J-1"]
    journal.mark_published("J-1", "accepted")
    assert journal.unpublished("laser-1") == []
    journal.cancel("J-1")
    assert [j.state for j in journal.unpublished("laser-1")] == ["cancelled"]


@pytest.mark.parametrize("payload, job_id, reason", [
    (b"\xff", None, "not JSON"),
    (b"[1]", None, "job_id missing"),
    (json.dumps({"job_id": "a/b"}).encode(), None, "topic segment"),
    (json.dumps({"job_id": "J-1", "serial": "X"}).encode(), "J-1", "missing or empty: piece_id, material"),
    (json.dumps({"job_id": "J-1", "piece_id": "PC-1", "serial": "PC-1", "material": "silver_925",
                 "height_mm": "big"}).encode(), "J-1", "height_mm must be a number"),
    (json.dumps({"job_id": "J-1", "piece_id": "PC-1", "serial": "PC-1", "material": "silver_925",
                 "text": "x" * 200}).encode(), "J-1", "do not fit"),
])
def test_plan_job_rejects_with_a_reason(payload, job_id, reason):
    with pytest.raises(JobRejected, match=reason) as err:
        plan_job(payload, CONFIG)
    assert err.value.job_id == job_id


def test_plan_job_uses_the_material_power_and_feed_and_falls_back_to_the_serial():
    job_id, payload, lines = plan_job(json.dumps({"job_id": "J-1", "piece_id": "PC-1", "serial": "PC-1",
                                                  "material": "gold_plated_brass"}).encode(), CONFIG)
    assert job_id == "J-1" and "M4 S350" in lines and any(line.endswith(" F1200") for line in lines)


def test_journal_fires_a_serial_once_across_job_ids(journal: JobJournal) -> None:
    journal.add("J-1", "laser-1", {"serial": "PC-0042"}, ["G0 X0"])
    journal.add("J-2", "laser-1", {"serial": "PC-0042"}, ["G0 X0"])  # queued before J-1 fired
    assert journal.start("J-1", "attempt").state == "running"
    second = journal.start("J-2", "attempt")
    assert second.state == "rejected" and "serial PC-0042 was already fired by job J-1" in second.detail
    assert journal.get("J-2").state == "rejected" and journal.get("J-2").attempts == 0
    journal.transition("J-1", "done", expect=("running",))
    late, created = journal.add("J-3", "laser-1", {"serial": "PC-0042"}, ["G0 X0"])
    assert created and late.state == "rejected" and "job J-1" in late.detail and "now done" in late.detail
    assert journal.retry("J-3") is None  # an operator's retry cannot get round it either
    assert journal.start("J-3", "attempt").state == "rejected"
    assert journal.fired_by("PC-0042") == "J-1"


def test_journal_keeps_a_retried_jobs_claim_on_its_serial(journal: JobJournal) -> None:
    journal.add("J-1", "laser-1", {"serial": "PC-0042"}, ["G0 X0"])
    assert journal.start("J-1", "attempt").state == "running"
    journal.transition("J-1", "interrupted", "door", expect=("running",))
    assert journal.retry("J-1", "OP-0007") is None
    assert journal.start("J-1", "attempt").state == "running" and journal.get("J-1").attempts == 2


def test_journal_unique_firing_is_a_database_constraint(journal: JobJournal) -> None:
    import sqlite3

    journal.add("J-1", "laser-1", {"serial": "PC-0042"}, ["G0 X0"])
    journal.start("J-1", "attempt")
    with pytest.raises(sqlite3.IntegrityError):  # even a writer that skips start() cannot fire it twice
        journal._db.execute("INSERT INTO engraved_serials (serial, firing, job_id, ts) VALUES ('PC-0042', 1, 'X', '')")


def test_journal_reengrave_is_a_recorded_supervisor_decision_for_one_more_firing(journal: JobJournal) -> None:
    journal.add("J-1", "laser-1", {"serial": "PC-0042", "text": "PC-0042"}, ["G0 X1", "M2"])
    assert "only a job that fired" in journal.reengrave("J-1", "OP-0001", "smudged")[0]
    journal.start("J-1", "attempt")
    journal.transition("J-1", "done", expect=("running",))
    assert "needs a reason" in journal.reengrave("J-1", "OP-0001", " ")[0]
    assert "badge" in journal.reengrave("J-1", "", "smudged")[0]
    problem, new_id = journal.reengrave("J-1", "OP-0001", "smudged at polishing")
    assert problem is None and new_id == "J-1.r2"
    again = journal.get(new_id)
    assert (again.state, again.program, again.request["reengrave_of"]) == ("accepted", ("G0 X1", "M2"), "J-1")
    assert "already has a firing under way: job J-1.r2" in journal.reengrave("J-1", "OP-0001", "twice")[0]
    assert journal.start(new_id, "attempt").state == "running"  # the decision allowed this firing
    journal.transition(new_id, "done", expect=("running",))
    [decision] = journal.decisions("laser-1")
    assert (decision.action, decision.job_id, decision.new_job_id, decision.operator, decision.reason) == \
        ("reengrave", "J-1", "J-1.r2", "OP-0001", "smudged at polishing")
    assert journal.reengrave("J-1.r2", "OP-0001", "again")[1] == "J-1.r3"
    assert journal.history(new_id)[0][1:] == ("accepted", "re-engraving of J-1 by OP-0001: smudged at polishing",
                                               "OP-0001")


def test_journal_unlock_requests_wait_for_the_gateway_and_terminal_jobs_expire(journal: JobJournal) -> None:
    request = journal.request_unlock("laser-1", "OP-0007")
    assert journal.pending_unlock("laser-2") is None
    assert journal.pending_unlock("laser-1").id == request
    journal.settle(request, "unlocked by OP-0007")
    assert journal.pending_unlock("laser-1") is None and journal.decision(request).outcome == "unlocked by OP-0007"
    journal.add("J-1", "laser-1", {}, ["G0 X0"])
    journal.cancel("J-1")
    journal.mark_published("J-1", "cancelled")
    assert journal.expired("laser-1", 3600) == []
    assert [j.job_id for j in journal.expired("laser-1", 0)] == ["J-1"]
    journal.mark_cleared("J-1")
    assert journal.expired("laser-1", 0) == []
