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

A serial number is fired at most once: ``engraved_serials`` holds one row per firing, keyed
by (serial, firing), and a job claims firing 1 of its serial in the same transaction that
makes it ``running``, so a second job id for the same serial fails on the primary key and is
``rejected``. Only a supervisor's re-engraving (:meth:`JobJournal.reengrave`) adds a further
firing, recorded in ``decisions`` with who and why. ``decisions`` also carries the requests
the running gateway acts on for the laser itself (``unlock``: send ``$X`` after an alarm).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from benchpin.contract import JobAction, JobState
from benchpin.topics import utc_ts

RETRYABLE = tuple(JobAction.RETRY.allowed_from)
CANCELLABLE = tuple(JobAction.CANCEL.allowed_from)
FINAL = (JobState.DONE, JobState.CANCELLED)
TERMINAL = tuple(state.value for state in JobState if state.terminal)
REENGRAVABLE = ("done", "interrupted", "failed", "cancelled")
MAX_JOB_ID = 64
_REENGRAVING_ID = re.compile(r"\.r[0-9]+$")  # the suffix reengrave() gives a new firing's job

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
CREATE TABLE IF NOT EXISTS engraved_serials (
    serial TEXT NOT NULL,
    firing INTEGER NOT NULL,
    job_id TEXT NOT NULL UNIQUE,
    ts TEXT NOT NULL,
    PRIMARY KEY (serial, firing)
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    action TEXT NOT NULL,
    engraver TEXT NOT NULL,
    job_id TEXT NOT NULL DEFAULT '',
    new_job_id TEXT NOT NULL DEFAULT '',
    serial TEXT NOT NULL DEFAULT '',
    operator TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS decisions_pending ON decisions (engraver, action, outcome);
"""
_ADDED_COLUMNS = (("jobs", "cleared", "TEXT"),)  # columns newer than the first journals


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

    @property
    def serial(self) -> str:
        """Return the serial number the job engraves ('' for a request without one)."""
        value = self.request.get("serial")
        return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Decision:
    """A supervisor's re-engraving or an operator's unlock request, as journaled."""

    id: int
    ts: str
    action: str  # "reengrave" | "unlock"
    engraver: str
    job_id: str
    new_job_id: str
    serial: str
    operator: str
    reason: str
    outcome: str | None  # None while an unlock waits for the gateway


@dataclass(frozen=True)
class Start:
    """What :meth:`JobJournal.start` did: ``running``, ``rejected`` (with why) or nothing."""

    state: str | None  # "running", "rejected", or None when the job had changed meanwhile
    detail: str = ""


class JobJournal:
    """The job table of one gateway, shared by its engravers and the ``benchpin engraver`` command."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        for table, column, kind in _ADDED_COLUMNS:
            names = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in names:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
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
        """Journal a new job (committed on return); an existing id is returned unchanged.

        A new job for a serial that another job has already fired is journaled ``rejected``.
        """
        now = utc_ts()
        serial = request.get("serial")
        serial = serial if isinstance(serial, str) else ""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                earlier = self._fired_by(serial) if state == "accepted" and serial else None
                if earlier is not None and earlier[0] != job_id:
                    state, detail = "rejected", _already_fired(serial, *earlier)
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
                sets = "state = ?, detail = ?, updated = ?, cleared = NULL"
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

    def start(self, job_id: str, detail: str) -> Start:
        """Make an accepted job ``running`` and claim its serial's firing, in one transaction.

        The claim is what keeps a serial from being engraved twice: firing 1 of a serial is
        the primary key (serial, 1), so a second job for it fails here and is ``rejected``
        naming the first. A retry keeps its claim; a re-engraving was given firing n+1 by
        :meth:`reengrave`.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT request, state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
                if row is None or row[1] != "accepted":
                    self._db.execute("COMMIT")
                    return Start(None)
                serial = json.loads(row[0]).get("serial")
                result = Start("running", detail)
                if isinstance(serial, str) and serial:
                    claimed = self._db.execute("SELECT 1 FROM engraved_serials WHERE job_id = ?",
                                               (job_id,)).fetchone()
                    if claimed is None:
                        try:
                            self._db.execute("INSERT INTO engraved_serials (serial, firing, job_id, ts) "
                                             "VALUES (?, 1, ?, ?)", (serial, job_id, utc_ts()))
                        except sqlite3.IntegrityError:
                            earlier = self._fired_by(serial)
                            assert earlier is not None
                            result = Start("rejected", _already_fired(serial, *earlier))
                sets = "state = ?, detail = ?, updated = ?, cleared = NULL"
                if result.state == "running":
                    sets += ", attempts = attempts + 1"
                self._db.execute(f"UPDATE jobs SET {sets} WHERE job_id = ?",
                                 (result.state, result.detail, utc_ts(), job_id))
                self._log(job_id, result.state or "", result.detail, "")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return result

    def _fired_by(self, serial: str) -> tuple[str, str, int] | None:
        """Return (job id, its state, firing) of the latest firing of ``serial``, or None."""
        row = self._db.execute(
            "SELECT s.job_id, COALESCE(j.state, '?'), s.firing FROM engraved_serials s "
            "LEFT JOIN jobs j ON j.job_id = s.job_id WHERE s.serial = ? ORDER BY s.firing DESC LIMIT 1",
            (serial,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def fired_by(self, serial: str) -> str | None:
        """Return the job id that last fired (or will re-fire) ``serial``, or None."""
        with self._lock:
            earlier = self._fired_by(serial)
        return earlier[0] if earlier else None

    def reengrave(self, job_id: str, operator: str, reason: str) -> tuple[str | None, str]:
        """Queue one new firing of a done job's serial; return (why not, or None; the new job id).

        A supervisor's decision for a damaged engraving: the new job (``<job_id>.rN``, N the
        firing) carries the same request and G-code, and the decision is journaled with who
        and why in the same transaction as the firing it allows.
        """
        operator, reason = operator.strip(), reason.strip()
        if not operator:
            return "a re-engraving needs the supervisor's badge (--operator OP-...)", ""
        if not reason:
            return "a re-engraving needs a reason (--reason \"...\"), e.g. what is wrong with the engraving", ""
        job = self.get(job_id)
        if job is None:
            return f"no job {job_id!r}", ""
        if job.state not in REENGRAVABLE or not job.attempts:
            return (f"job {job_id} is {job.state}{'' if job.attempts else ' and never fired'}; only a job that "
                    f"fired ({', '.join(REENGRAVABLE)}) is re-engraved"), ""
        if not job.serial or not job.program:
            return f"job {job_id} has no serial or no G-code to engrave again", ""
        now = utc_ts()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                latest = self._fired_by(job.serial)
                firing = (latest[2] if latest else 0) + 1
                if latest is not None and latest[1] in ("accepted", "running"):
                    self._db.execute("ROLLBACK")
                    return (f"serial {job.serial} already has a firing under way: job {latest[0]} is "
                            f"{latest[1]}"), ""
                base = _REENGRAVING_ID.sub("", job_id)
                new_id = f"{base}.r{firing}"
                if len(new_id) > MAX_JOB_ID:
                    self._db.execute("ROLLBACK")
                    return f"job id {job_id!r} is too long to derive a re-engraving id from", ""
                request = {**job.request, "job_id": new_id, "reengrave_of": job_id}
                detail = f"re-engraving of {job_id} by {operator}: {reason}"
                self._db.execute(
                    "INSERT INTO jobs (job_id, engraver, request, program, state, detail, queued, received, "
                    "updated) VALUES (?, ?, ?, ?, 'accepted', ?, (SELECT COALESCE(MAX(queued), 0) + 1 FROM jobs), "
                    "?, ?)", (new_id, job.engraver, json.dumps(request), "\n".join(job.program), detail, now, now))
                self._db.execute("INSERT INTO engraved_serials (serial, firing, job_id, ts) VALUES (?, ?, ?, ?)",
                                 (job.serial, firing, new_id, now))
                self._db.execute(
                    "INSERT INTO decisions (ts, action, engraver, job_id, new_job_id, serial, operator, reason, "
                    "outcome) VALUES (?, 'reengrave', ?, ?, ?, ?, ?, ?, 'queued')",
                    (now, job.engraver, job_id, new_id, job.serial, operator, reason))
                self._log(new_id, "accepted", detail, operator)
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError:
                self._db.execute("ROLLBACK")
                return f"job {job_id} was re-engraved meanwhile; look again", ""
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return None, new_id

    def request_unlock(self, engraver: str, operator: str) -> int:
        """Journal an operator's request to clear the laser's alarm; the gateway sends ``$X``."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO decisions (ts, action, engraver, operator, reason) VALUES (?, 'unlock', ?, ?, "
                "'the operator confirmed the laser is safe')", (utc_ts(), engraver, operator))
            assert cur.lastrowid is not None
            return cur.lastrowid

    def pending_unlock(self, engraver: str) -> Decision | None:
        """Return the oldest unlock request not yet acted on."""
        rows = self._decisions("WHERE engraver = ? AND action = 'unlock' AND outcome IS NULL ORDER BY id LIMIT 1",
                               (engraver,))
        return rows[0] if rows else None

    def settle(self, decision_id: int, outcome: str) -> None:
        """Record what became of a request (``unlocked``, ``refused: …``)."""
        with self._lock:
            self._db.execute("UPDATE decisions SET outcome = ? WHERE id = ?", (outcome, decision_id))

    def decision(self, decision_id: int) -> Decision | None:
        rows = self._decisions("WHERE id = ?", (decision_id,))
        return rows[0] if rows else None

    def decisions(self, engraver: str | None = None) -> list[Decision]:
        if engraver is None:
            return self._decisions("ORDER BY id")
        return self._decisions("WHERE engraver = ? ORDER BY id", (engraver,))

    def _decisions(self, sql: str, args: Iterable[Any] = ()) -> list[Decision]:
        with self._lock:
            rows = self._db.execute("SELECT id, ts, action, engraver, job_id, new_job_id, serial, operator, "
                                    "reason, outcome FROM decisions " + sql, tuple(args)).fetchall()
        return [Decision(*row) for row in rows]

    def expired(self, engraver: str, retain_s: float) -> list[Job]:
        """Return terminal, published jobs unchanged for ``retain_s`` whose retained topic stands."""
        cutoff = utc_ts(datetime.now(timezone.utc) - timedelta(seconds=retain_s))
        marks = ",".join("?" * len(TERMINAL))
        return self._rows(f"WHERE engraver = ? AND state IN ({marks}) AND published = state AND cleared IS NULL "
                          "AND updated <= ? ORDER BY updated", (engraver, *TERMINAL, cutoff))

    def mark_cleared(self, job_id: str) -> None:
        """Remember that the job's retained topic was cleared (until its state changes again)."""
        with self._lock:
            self._db.execute("UPDATE jobs SET cleared = ? WHERE job_id = ?", (utc_ts(), job_id))

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


def _already_fired(serial: str, job_id: str, state: str, firing: int) -> str:
    again = " (a re-engraving)" if firing > 1 else ""
    return (f"serial {serial} was already fired by job {job_id}{again}, now {state}: a serial is engraved "
            f"once; a supervisor re-engraves a damaged one with 'benchpin engraver reengrave'")
