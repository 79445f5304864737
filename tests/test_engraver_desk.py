"""The job desk without a broker or a laser: journal first, then the answer in the outbox."""

from __future__ import annotations

import json
import sqlite3

import pytest

from benchpin.config import EngraverConfig
from benchpin.outbox import Outbox
from benchpin.topics import Topics
from gateway.engraver_jobs import JobDesk
from gateway.job_journal import JobJournal

TOPICS = Topics("jaipur")
JOB = {"job_id": "J-1", "piece_id": "PC-0042", "serial": "PC-0042", "material": "vermeil_18ct"}


@pytest.fixture
def desk(tmp_path):
    journal = JobJournal(tmp_path / "jobs.sqlite")
    outbox = Outbox(tmp_path / "outbox.sqlite")
    desk = JobDesk(EngraverConfig(id="laser-1", port="/dev/null"), journal, outbox, TOPICS, "gw")
    yield desk
    outbox.close()
    journal.close()


def answers(desk: JobDesk) -> list[tuple[str, dict, bool]]:
    desk.outbox.flush()
    with sqlite3.connect(desk.outbox.path) as db:
        rows = db.execute("SELECT topic, payload, retain FROM outbox ORDER BY id").fetchall()
    return [(topic, json.loads(payload), bool(retain)) for topic, payload, retain in rows]


def test_desk_journals_before_answering_and_answers_duplicates_without_queueing_twice(desk):
    queued = []
    desk.when_queued = lambda: queued.append(1)
    desk.handle_job(json.dumps(JOB).encode())
    desk.handle_job(json.dumps(JOB).encode())
    out = answers(desk)
    assert [(t, p["state"], r) for t, p, r in out] == [("benchpin/jaipur/gw/engraver/laser-1/job/J-1", "accepted", True)] * 2
    assert desk.journal.get("J-1").published == "accepted"
    assert [j.job_id for j in desk.journal.jobs()] == ["J-1"] and desk.counters.duplicates == 1
    assert "M4 S450" in desk.journal.get("J-1").program


def test_desk_takes_retry_and_cancel_commands_and_counts_bad_ones(desk):
    desk.handle_job(json.dumps(JOB).encode())
    topic = TOPICS.engraver_job_command("gw", "laser-1", "J-1")
    desk.handle_command(topic, b"not json")
    desk.handle_command(topic, json.dumps({"action": "explode"}).encode())
    desk.handle_command(TOPICS.engraver_job_command("gw", "laser-1", "J-404"), json.dumps({"action": "cancel"}).encode())
    assert desk.counters.bad_messages == 3
    desk.handle_command(topic, json.dumps({"action": "retry", "operator": "OP-1"}).encode())
    assert desk.journal.get("J-1").state == "accepted"  # refused: an accepted job is not retried
    desk.handle_command(topic, json.dumps({"action": "cancel", "operator": "OP-1"}).encode())
    job = desk.journal.get("J-1")
    assert (job.state, job.detail) == ("cancelled", "cancelled by OP-1")
    assert [p["state"] for _, p, _ in answers(desk)] == ["accepted", "cancelled"]


def test_desk_rejects_a_bad_job_durably_and_drops_one_without_an_id(desk):
    desk.handle_job(json.dumps({**JOB, "material": "platinum"}).encode())
    desk.handle_job(b"\x00\x01")
    out = answers(desk)
    assert len(out) == 1 and out[0][1]["state"] == "rejected" and "platinum" in out[0][1]["detail"]
    assert desk.journal.get("J-1").state == "rejected"
    assert desk.counters.bad_messages == 1 and desk.counters.jobs_rejected == 2


def test_desk_marks_a_job_left_running_interrupted_at_start(tmp_path, desk):
    desk.handle_job(json.dumps(JOB).encode())
    desk.journal.transition("J-1", "running", expect=("accepted",))
    again = JobDesk(desk.config, desk.journal, desk.outbox, TOPICS, "gw")
    again.publish_pending()
    assert desk.journal.get("J-1").state == "interrupted"
    assert [p["state"] for _, p, _ in answers(desk)][-1] == "interrupted"


def test_desk_journals_an_unlock_command_and_refuses_one_without_a_badge(desk: JobDesk) -> None:
    woken: list[int] = []
    desk.when_queued = lambda: woken.append(1)
    desk.handle_engraver_command(json.dumps({"action": "unlock", "operator": "OP-0007"}).encode())
    desk.handle_engraver_command(json.dumps({"action": "unlock", "operator": " "}).encode())
    desk.handle_engraver_command(json.dumps({"action": "home", "operator": "OP-0007"}).encode())
    assert desk.journal.pending_unlock("laser-1").operator == "OP-0007" and woken == [1]
    assert desk.counters.bad_messages == 2 and desk.counters.unlock_requests == 1


def test_desk_publishes_progress_while_running_and_clears_expired_retained_states(desk: JobDesk) -> None:
    desk.handle_job(json.dumps(JOB).encode())
    desk.publish_progress("J-1", 0.5, 3.0)
    desk.journal.cancel("J-1")
    desk.publish_pending()
    out = answers(desk)
    assert out[0][1].keys() >= {"job_id", "state", "ts", "detail", "seq"} and "progress" not in out[0][1]
    assert (out[1][1]["state"], out[1][1]["progress"], out[1][1]["eta_s"]) == ("running", 0.5, 3.0)
    desk.clear_expired()  # cancelled a moment ago: kept for job_retain_s (a day by default)
    assert len(answers(desk)) == 3
    desk.config = EngraverConfig(id="laser-1", port="/dev/null", job_retain_s=0.5)
    import time
    time.sleep(0.6)
    desk.clear_expired()
    desk.outbox.flush()
    with sqlite3.connect(desk.outbox.path) as db:
        topic, payload, retain = db.execute("SELECT topic, payload, retain FROM outbox ORDER BY id DESC").fetchone()
    assert (topic, payload, retain) == ("benchpin/jaipur/gw/engraver/laser-1/job/J-1", b"", 1)
    desk.clear_expired()
    assert desk.counters.retained_cleared == 1


def test_desk_rejects_an_oversized_job_with_a_short_detail_and_keeps_working(desk: JobDesk) -> None:
    """A 15,000-byte material must not become a rejected state bigger than a broker packet."""
    huge = json.dumps({"job_id": "J-BIG", "piece_id": "PC-1", "serial": "BP-1", "material": "x" * 15_000}).encode()
    desk.handle_job(huge)  # must not raise MessageTooLarge (the desk's loop would fail on every retry)
    job = desk.journal.get("J-BIG")
    assert job is not None and job.state == "rejected" and len(job.detail) < 600
    states = [p for topic, p, _ in answers(desk) if topic.endswith("/job/J-BIG")]
    assert states and states[-1]["state"] == "rejected" and "material is 15000 characters long" in states[-1]["detail"]
    assert len(json.dumps(states[-1])) < 2_000
    desk.handle_job(json.dumps({"job_id": "J-2", "piece_id": "PC-2", "serial": "BP-2",
                                "material": "silver_925"}).encode())
    assert desk.journal.get("J-2").state == "accepted"  # type: ignore[union-attr]
