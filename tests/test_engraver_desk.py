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
