"""The engraver job journal: every job in SQLite before anything is said or fired.

A job is a row keyed by its ``job_id``; its ``state`` moves along

    accepted → running → done | failed | interrupted
    accepted → rejected | cancelled;  interrupted | failed | rejected → accepted (operator retry)

and every move is a transaction (WAL, ``synchronous=FULL``) committed before the gateway
publishes it or sends the laser a byte. ``running`` is committed before the first line goes
out, so after a crash or a power cut a ``running`` row means "maybe partly engraved": it
becomes ``interrupted`` and waits for an operator (:meth:`JobJournal.interrupt_running`).
``published`` remembers the last state handed to the outbox, so a change made by the
``benchpin engraver`` command in another process is published by the running gateway.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from benchpin.contract import JobAction, JobState
from benchpin.topics import utc_ts

RETRYABLE = tuple(JobAction.RETRY.allowed_from)
CANCELLABLE = tuple(JobAction.CANCEL.allowed_from)
FINAL = (JobState.DONE, JobState.CANCELLED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    engraver TEXT NOT NULL,
    request TEXT NOT NULL,
    program TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    queued INTEGER NOT NULL,
    received TEXT NOT NULL,
    updated TEXT NOT NULL,
    published TEXT
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (engraver, state, queued);
CREATE TABLE IF NOT EXISTS job_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL,
    operator TEXT NOT NULL DEFAULT ''
);
"""


@dataclass(frozen=True)
class Job:
    job_id: str
    engraver: str
    request: dict[str, Any]
    program: tuple[str, ...]
    state: str
    detail: str
    attempts: int
    received: str
    updated: str
    published: str | None


class JobJournal:
    """The job table of one gateway, shared by its engravers and the ``benchpin engraver`` command."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, engraver, request, program, state, detail, attempts, received, updated, "
                "published FROM jobs " + sql, tuple(args)).fetchall()
        return [Job(r[0], r[1], json.loads(r[2]), tuple(r[3].split("\n")) if r[3] else (), *r[4:]) for r in rows]

    def get(self, job_id: str) -> Job | None:
        rows = self._rows("WHERE job_id = ?", (job_id,))
        return rows[0] if rows else None

    def jobs(self, engraver: str | None = None) -> list[Job]:
        if engraver is None:
            return self._rows("ORDER BY received")
        return self._rows("WHERE engraver = ? ORDER BY received", (engraver,))

    def add(self, job_id: str, engraver: str, request: dict[str, Any], program: Iterable[str],
            state: str = "accepted", detail: str = "") -> tuple[Job, bool]:
        """Journal a new job (committed on return); an existing id is returned unchanged."""
        now = utc_ts()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO jobs (job_id, engraver, request, program, state, detail, queued, "
                    "received, updated) VALUES (?, ?, ?, ?, ?, ?, "
                    "(SELECT COALESCE(MAX(queued), 0) + 1 FROM jobs), ?, ?)",
                    (job_id, engraver, json.dumps(request), "\n".join(program), state, detail, now, now))
                created = cur.rowcount == 1
                if created:
                    self._log(job_id, state, detail, "")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        job = self.get(job_id)
        assert job is not None
        return job, created

    def transition(self, job_id: str, state: str, detail: str = "", *, expect: Iterable[str],
                   operator: str = "") -> bool:
        """Move a job to ``state`` if it is in one of ``expect``; True when it moved."""
        expected = tuple(expect)
        marks = ",".join("?" * len(expected))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                sets = "state = ?, detail = ?, updated = ?"
                if state == "running":
                    sets += ", attempts = attempts + 1"
                if state == "accepted":
                    sets += ", queued = (SELECT MAX(queued) + 1 FROM jobs)"
                cur = self._db.execute(f"UPDATE jobs SET {sets} WHERE job_id = ? AND state IN ({marks})",
                                       (state, detail, utc_ts(), job_id, *expected))
                moved = cur.rowcount == 1
                if moved:
                    self._log(job_id, state, detail, operator)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return moved

    def _log(self, job_id: str, state: str, detail: str, operator: str) -> None:
        self._db.execute("INSERT INTO job_log (job_id, ts, state, detail, operator) VALUES (?, ?, ?, ?, ?)",
                         (job_id, utc_ts(), state, detail, operator))

    def history(self, job_id: str) -> list[tuple[str, str, str, str]]:
        with self._lock:
            return self._db.execute("SELECT ts, state, detail, operator FROM job_log WHERE job_id = ? ORDER BY id",
                                    (job_id,)).fetchall()

    def next_queued(self, engraver: str) -> Job | None:
        rows = self._rows("WHERE engraver = ? AND state = 'accepted' ORDER BY queued LIMIT 1", (engraver,))
        return rows[0] if rows else None

    def interrupt_running(self, engraver: str, detail: str) -> list[str]:
        """Mark jobs left ``running`` (by a crash or power cut) ``interrupted``; return their ids."""
        ids = [job.job_id for job in self._rows("WHERE engraver = ? AND state = 'running'", (engraver,))]
        return [job_id for job_id in ids if self.transition(job_id, "interrupted", detail, expect=("running",))]

    def unpublished(self, engraver: str) -> list[Job]:
        return self._rows("WHERE engraver = ? AND (published IS NULL OR published != state) ORDER BY updated",
                          (engraver,))

    def mark_published(self, job_id: str, state: str) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET published = ? WHERE job_id = ?", (state, job_id))

    def retry(self, job_id: str, operator: str = "") -> str | None:
        """Queue an interrupted, failed or rejected job again; return why not, or None."""
        job = self.get(job_id)
        if job is not None and job.state in RETRYABLE and not job.program:
            return f"job {job_id} has nothing to engrave ({job.detail}); send a corrected job"
        return self._decide(job, job_id, "accepted", RETRYABLE, ("retried", "retry by"), operator)

    def cancel(self, job_id: str, operator: str = "") -> str | None:
        """Cancel a job that is not running or done; return why not, or None."""
        return self._decide(self.get(job_id), job_id, "cancelled", CANCELLABLE, ("cancelled", "cancelled by"),
                            operator)

    def _decide(self, job: Job | None, job_id: str, state: str, allowed: tuple[str, ...],
                words: tuple[str, str], operator: str) -> str | None:
        """Apply an operator's decision; ``words`` are (past participle, detail prefix)."""
        if job is None:
            return f"no job {job_id!r}"
        if job.state not in allowed:
            return f"job {job_id} is {job.state}; only {', '.join(allowed)} jobs can be {words[0]}"
        detail = f"{words[1]} {operator or 'an operator'}"
        if not self.transition(job_id, state, detail, expect=allowed, operator=operator):
            return f"job {job_id} changed state meanwhile; look again"
        return None

    def close(self) -> None:
        with self._lock:
            self._db.close()
