"""The durable outbox: every message is in SQLite before MQTT sees it.

A message put into the outbox is *accepted* once its transaction commits; it stays in the
outbox until the broker acknowledged it (QoS 1 PUBACK), so a broker outage, a killed process
or a power cut loses nothing accepted. Writers share commits (group commit), so many readings
cost one fsync. Per-device ``seq`` counters live in the same transaction as the message.

The outbox is bounded: past ``max_messages`` the oldest *telemetry* is dropped (never the
newest, never scans or events) and counted in ``dropped``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from benchpin.topics import encode

log = logging.getLogger(__name__)

TELEMETRY = "telemetry"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS seqs (key TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class OutboxClosed(RuntimeError):
    """The outbox was closed; nothing more can be accepted."""


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    """A bounded, durable FIFO of MQTT messages in one SQLite file (WAL)."""

    def __init__(self, path: str | Path, *, max_messages: int = 1_000_000,
                 synchronous: str = "full") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        self._db_lock = threading.Lock()
        self._seqs: dict[str, int] = dict(self._db.execute("SELECT key, seq FROM seqs"))
        self._count: int = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        row = self._db.execute("SELECT value FROM meta WHERE key='dropped'").fetchone()
        self._dropped: int = row[0] if row else 0
        self._cond = threading.Condition()
        self._pending: list[tuple[str, bytes, int, int, str, str | None, int | None]] = []
        self._submitted = 0
        self._committed = 0
        self._closed = False
        self._listeners: list[Callable[[], None]] = []
        self._writer = threading.Thread(target=self._write_loop, name="outbox-writer", daemon=True)
        self._writer.start()
        if self._count:
            log.info("outbox %s holds %d unsent messages from before; replaying them first",
                     self.path, self._count)

    # ------------------------------------------------------------------ accepting

    def put(self, topic: str, payload: dict[str, Any] | bytes, *, seq_key: str | None = None,
            qos: int = 1, retain: bool = False, kind: str = TELEMETRY,
            wait: bool = False) -> int | None:
        """Queue a message for durable delivery; return its ``seq`` when ``seq_key`` is given.

        With ``seq_key``, the payload's ``seq`` is set to the next number of that key. With
        ``wait=True`` the call returns only once the message is committed to disk.
        """
        with self._cond:
            if self._closed:
                raise OutboxClosed(f"outbox {self.path} is closed")
            seq = None
            if seq_key is not None and not isinstance(payload, bytes):
                seq = self._seqs.get(seq_key, 0) + 1
                self._seqs[seq_key] = seq
                payload = dict(payload)
                payload["seq"] = seq
            # bytes go out as they are: b"" with retain=True clears a retained topic
            data = payload if isinstance(payload, bytes) else encode(payload)
            self._pending.append((topic, data, qos, int(retain), kind, seq_key, seq))
            self._submitted += 1
            ticket = self._submitted
            self._cond.notify_all()
            if wait:
                while self._committed < ticket and not self._closed:
                    self._cond.wait()
        return seq

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything put so far is committed; return False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._submitted
            while self._committed < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def when_committed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the writer thread) after each commit; it must not block."""
        self._listeners.append(callback)

    def _write_loop(self) -> None:
        backoff = 0.1
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending and self._closed:
                    return
                batch = self._pending
                self._pending = []
            while True:
                try:
                    self._commit(batch)
                    backoff = 0.1
                    break
                except sqlite3.Error as exc:
                    # A full disk or a locked file must not lose accepted messages: keep the
                    # batch and retry; producers waiting on it stay blocked meanwhile.
                    log.error("outbox %s: cannot write %d messages (%s); retrying in %.1fs",
                              self.path, len(batch), exc, backoff)
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
            with self._cond:
                self._committed += len(batch)
                self._cond.notify_all()
            for listener in self._listeners:
                listener()

    def _commit(self, batch: list[tuple[str, bytes, int, int, str, str | None, int | None]]) -> None:
        last_seq: dict[str, int] = {}
        for *_, seq_key, seq in batch:
            if seq_key is not None and seq is not None:
                last_seq[seq_key] = seq
        with self._db_lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT INTO outbox (topic, payload, qos, retain, kind) VALUES (?, ?, ?, ?, ?)",
                    [item[:5] for item in batch])
                if last_seq:
                    db.executemany(
                        "INSERT INTO seqs (key, seq) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET seq = excluded.seq",
                        list(last_seq.items()))
                count = self._count + len(batch)
                dropped = 0
                if count > self.max_messages:
                    dropped = db.execute(
                        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE kind = ? "
                        "ORDER BY id LIMIT ?)", (TELEMETRY, count - self.max_messages)).rowcount
                    db.execute(
                        "INSERT INTO meta (key, value) VALUES ('dropped', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value", (dropped,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._count = count - dropped
            if dropped:
                if not self._dropped:
                    log.warning("outbox %s is full (%d messages): dropping the oldest telemetry",
                                self.path, self.max_messages)
                self._dropped += dropped

    # ------------------------------------------------------------------ delivering

    def fetch(self, after_id: int, limit: int) -> list[OutboxMessage]:
        """Return up to ``limit`` committed messages with an id above ``after_id``, oldest first."""
        with self._db_lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit)).fetchall()
        return [OutboxMessage(r[0], r[1], bytes(r[2]), r[3], bool(r[4])) for r in rows]

    def ack(self, ids: Iterable[int]) -> None:
        """Forget messages the broker has acknowledged."""
        ids = list(ids)
        if not ids:
            return
        with self._db_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                removed = 0
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    removed += self._db.execute(
                        f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(chunk))})", chunk).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._count -= removed

    # ------------------------------------------------------------------ state

    @property
    def pending(self) -> int:
        """Messages accepted and not yet acknowledged by the broker."""
        return self._count

    @property
    def dropped(self) -> int:
        """Telemetry messages dropped because the outbox was full (since it was created)."""
        return self._dropped

    def last_seq(self, seq_key: str) -> int:
        with self._cond:
            return self._seqs.get(seq_key, 0)

    def close(self) -> None:
        """Commit what was put, stop the writer and close the file; safe to call twice."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._writer.join()
        with self._db_lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Outbox {self.path} pending={self._count} dropped={self._dropped}>"
