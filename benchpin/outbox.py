"""The durable outbox: messages wait here, in memory and then in SQLite, until the broker has them.

What *accepted* means
---------------------
``put`` returns once a message is *accepted*. An accepted message is delivered to the broker
at least once, through a broker outage, a restart, a SIGKILL or a power cut, with one bound:

- ``put(..., wait=True)`` (scans, job states, kiosk events) returns only once the message is
  committed to disk (``PRAGMA synchronous=FULL``): nothing it accepted is ever lost.
- ``put(...)`` without ``wait`` (telemetry) returns at once; the message is then in memory
  and, within ``commit_interval_ms`` of the ``put``, it is either acknowledged by the broker
  (QoS 1 PUBACK) or committed to disk. A message the broker acknowledged before its batch
  commits is never written at all: with a healthy broker, telemetry costs no disk writes.
  A SIGKILL or a power cut loses at most the readings of the last ``commit_interval_ms``
  that the broker had not acknowledged; the loss is visible to a subscriber as a ``seq`` gap.
- A message on disk stays there until the broker acknowledges it; it is then deleted in the
  next commit (a crash before that commit resends it: a duplicate with the same ``seq``).

``seq`` is never reused
-----------------------
Per-key ``seq`` counters are reserved in blocks of ``seq_block`` in a small high-water-mark
file beside the outbox (``<stem>.seq-hwm``, not matched by ``outbox.sqlite*``), written
atomically and fsynced before any ``seq`` of a new block is handed out. A crash leaves a gap of
at most one block; a clean close records the exact last ``seq`` so a restart leaves none. A
deleted or corrupt outbox file does not touch the high-water mark, so ``seq`` continues.

Hardening
---------
- A message whose MQTT PUBLISH packet (fixed header, topic, packet id, payload) would exceed
  ``max_packet_bytes`` is refused by ``put`` with :class:`MessageTooLarge`: the broker would
  disconnect the client on it, and the client would resend it forever.
- A message the broker refuses anyway is moved into the ``dead_letters`` table by the sender
  (:meth:`Outbox.dead_letter`) instead of blocking the queue; :meth:`Outbox.dead_letters`
  lists them.
- A write that fails (disk full, I/O error) is logged with SQLite's own error and retried;
  while it fails, ``put`` raises :class:`OutboxWriteError`, so nothing new is accepted that
  cannot be kept. Messages already accepted stay in memory and are still delivered.
- An outbox file that is not a database, is empty (a truncated file: SQLite would take it for
  a new one) or fails ``PRAGMA quick_check`` is moved aside as
  ``<name>.corrupt-<UTC timestamp>`` and a fresh one started (``recovered_from`` names it).
- One process at a time: the outbox holds an exclusive lock on ``<stem>.lock`` beside it, so a
  second gateway given the same ``state_dir`` stops at start (:class:`OutboxInUse`) instead of
  handing out the same ``seq`` for other readings.

The outbox is bounded: past ``max_messages`` the oldest *telemetry* on disk is dropped (never
the newest, never scans or events) and counted in ``dropped``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from benchpin.topics import encode

log = logging.getLogger(__name__)

TELEMETRY = "telemetry"
DEFAULT_MAX_PACKET_BYTES = 65536  # the shipped mosquitto.conf's max_packet_size

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS seqs (key TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    ts TEXT NOT NULL
);
"""


class OutboxClosed(RuntimeError):
    """The outbox was closed; nothing more can be accepted."""


class MessageTooLarge(ValueError):
    """A message would exceed the broker's packet size limit; it was not accepted."""

    def __init__(self, topic: str, size: int, limit: int) -> None:
        super().__init__(f"message for {topic} is {size} bytes as an MQTT packet, over the limit of "
                         f"{limit} bytes (mqtt.max_packet_bytes); it was not accepted")
        self.topic = topic
        self.size = size
        self.limit = limit


def too_large_text(exc: MessageTooLarge) -> str:
    """Say to a person why their message was refused, naming the limit."""
    return (f"its MQTT message would be {exc.size} bytes, over the broker's limit of {exc.limit} bytes "
            f"(mqtt.max_packet_bytes). Shorten the note or the text and try again.")


class OutboxWriteError(OSError):
    """The outbox cannot write to disk (disk full, I/O error); nothing new is accepted."""


class OutboxUnusable(RuntimeError):
    """The outbox cannot be opened at start; the message says which file and why."""


class OutboxInUse(OutboxUnusable):
    """Another process has this outbox open (two gateways on one ``gateway.state_dir``)."""


def lock_exclusively(path: Path) -> int:
    """Take an exclusive lock on ``path`` (created, holding our pid); return its descriptor.

    Raise :class:`OutboxInUse` naming the holder's pid if another process has it.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    except OSError as exc:
        raise OutboxUnusable(f"cannot create {path} ({exc.strerror}): is the state directory writable "
                             f"by this user?") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        except OSError:
            holder = "unknown"
        os.close(fd)
        raise OutboxInUse(f"{path} is held by another process (pid {holder}): is a second gateway or kiosk "
                          f"running with this state directory? Two would hand out the same seq for "
                          f"different messages; give each its own") from None
    except OSError as exc:  # a file system without locks (NFS mounted nolock): run, but say so
        log.warning("cannot lock %s (%s): nothing stops a second gateway on this state directory",
                    path, exc.strerror)
        return fd
    try:  # the holder's pid, for the message above; a full disk only leaves it out
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except OSError:
        pass
    return fd


def mqtt_packet_size(topic: str, payload_len: int, qos: int) -> int:
    """Return the size in bytes of the MQTT 3.1.1 PUBLISH packet for this message."""
    remaining = 2 + len(topic.encode("utf-8")) + (2 if qos else 0) + payload_len
    length_bytes = 1
    while remaining >= 128 ** length_bytes and length_bytes < 4:
        length_bytes += 1
    return 1 + length_bytes + remaining


ACK_WAIT_S = 2.0  # how long a put(wait=True) whose commit failed waits for the PUBACK of its message


class OutboxMessage(NamedTuple):
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


def id_runs(ids: Iterable[int], min_run: int = 8) -> tuple[list[tuple[int, int]], list[int]]:
    """Split ``ids`` into runs of consecutive ids (``min_run`` or longer) and the rest, sorted.

    Every id is in exactly one: in a run ``(first, last)``, every id from ``first`` to ``last``
    is one of ``ids``.
    """
    ranges: list[tuple[int, int]] = []
    scattered: list[int] = []
    ordered = sorted(ids)
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or ordered[i] != ordered[i - 1] + 1:
            if i - start >= min_run:
                ranges.append((ordered[start], ordered[i - 1]))
            else:
                scattered.extend(ordered[start:i])
            start = i
    return ranges, scattered


@dataclass(frozen=True)
class DeadLetter:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    kind: str
    reason: str
    ts: str


class _Entry:
    """A message accepted and held in memory until it is acknowledged or committed."""

    __slots__ = ("message", "kind", "put_at", "writing", "acked", "fetched")

    def __init__(self, message: OutboxMessage, kind: str, put_at: float) -> None:
        self.message = message
        self.kind = kind
        self.put_at = put_at
        self.writing = False
        self.acked = False
        self.fetched = False  # handed to a sender (fetch): it may reach the broker


class SeqMarksUnreadable(OutboxUnusable):
    """``<stem>.seq-hwm`` exists but holds no usable marks: seq could repeat, so nothing starts."""


class SeqReservations:
    """Per-key ``seq`` high-water marks in a small file, reserved in blocks (fsynced per block)."""

    def __init__(self, path: Path, block: int) -> None:
        self.path = path
        self.block = block
        self.reserved: dict[str, int] = {}
        self.bytes_written = 0
        if path.exists():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                self.reserved = {str(k): int(v) for k, v in raw.items()}
                negative = [k for k, v in self.reserved.items() if v < 0]
                if negative:
                    raise ValueError(f"negative mark for {negative[0]!r}")
            except (ValueError, AttributeError, TypeError, OverflowError, OSError) as exc:
                # Without it seq could restart: refuse to guess, the operator must look.
                raise SeqMarksUnreadable(f"seq high-water mark file {path} is unreadable ({exc}); "
                                         f"fix or remove it knowing that seq may then repeat") from exc

    def reserve(self, key: str, seq: int) -> None:
        """Reserve a block of seqs starting at ``seq`` for ``key`` and make it durable."""
        self.reserved[key] = seq - 1 + self.block
        self.save()

    def save(self, exact: dict[str, int] | None = None) -> None:
        """Write the marks atomically (``exact`` replaces reservations by the last seqs used)."""
        marks = dict(self.reserved)
        if exact:
            marks.update(exact)
        data = json.dumps(marks, sort_keys=True).encode("utf-8")
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.bytes_written += len(data)
        self.reserved = marks


_Listener = Callable[[], None]


class Outbox:
    """A bounded, durable FIFO of MQTT messages: memory first, one SQLite file (WAL) behind it."""

    def __init__(self, path: str | Path, *, max_messages: int = 1_000_000,
                 synchronous: str = "full", commit_interval_ms: float = 250.0,
                 max_packet_bytes: int = DEFAULT_MAX_PACKET_BYTES, seq_block: int = 10_000,
                 seq_file: str | Path | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self.max_packet_bytes = max_packet_bytes
        self.commit_interval_s = max(0.0, commit_interval_ms / 1000.0)
        self.recovered_from: str | None = None
        self._synchronous = "FULL" if synchronous == "full" else "NORMAL"
        self._lock_fd = lock_exclusively(self.path.with_name(self.path.stem + ".lock"))
        try:
            self._db = self._open_db()
        except sqlite3.OperationalError as exc:  # "unable to open database file": no path in it
            os.close(self._lock_fd)
            raise OutboxUnusable(f"cannot open the outbox {self.path}: {exc}") from exc
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._db_lock = threading.Lock()
        try:
            self._hwm = SeqReservations(Path(seq_file) if seq_file else
                                        self.path.with_name(self.path.stem + ".seq-hwm"), seq_block)
        except BaseException:
            self._db.close()
            os.close(self._lock_fd)
            raise
        # Older outboxes kept seq in the database only: it is a floor too.
        db_seqs: dict[str, int] = dict(self._db.execute("SELECT key, seq FROM seqs"))
        self._seqs: dict[str, int] = dict(db_seqs)
        for key, seq in self._hwm.reserved.items():
            self._seqs[key] = max(seq, self._seqs.get(key, 0))
        self._disk_rows: int = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        self._max_disk_id: int = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0]
        # Dead letters keep their outbox id: never hand out one of theirs again.
        dead_max: int = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM dead_letters").fetchone()[0]
        self._next_id = max(self._max_disk_id, dead_max) + 1
        row = self._db.execute("SELECT value FROM meta WHERE key='dropped'").fetchone()
        self._dropped: int = row[0] if row else 0
        self._full_warned = False
        self._ack_waiters = 0  # puts waiting for a PUBACK because their commit failed
        self._dead: int = self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
        # Held with `with self._lock` (a C-level enter); waited on and notified through _cond.
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._mem: dict[int, _Entry] = {}
        self._deletes: set[int] = set()
        self._dead_requests: list[tuple[int, str, _Entry | None]] = []
        self._settled_id = self._next_id - 1  # every id up to here is on disk or acknowledged
        self._urgent = False
        self._write_error: str | None = None
        self._closed = False
        self._listeners: list[_Listener] = []
        self._before_commit: list[_Listener] = []
        self._local = threading.local()  # per thread: inside batch()?
        self._room: dict[str, int] = {}  # topic -> payload bytes that surely fit (check_size)
        self.db_bytes_written = 0  # bytes of rows written (payload + topic), for the status
        self.commits = 0
        self._writer = threading.Thread(target=self._write_loop, name="outbox-writer", daemon=True)
        self._writer.start()
        if self._disk_rows:
            log.info("outbox %s holds %d unsent messages from before; replaying them first",
                     self.path, self._disk_rows)

    # ------------------------------------------------------------------ opening

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        return db

    def _open_db(self) -> sqlite3.Connection:
        """Open the file, moving it aside and starting afresh if it is not a sound database."""
        problem = None
        db: sqlite3.Connection | None = None
        if not self.path.exists():  # a new file: nothing to check, create the schema at once
            db = self._connect()
            db.executescript(_SCHEMA)
            return db
        try:
            if self.path.stat().st_size == 0:  # SQLite would take it for a new, empty database
                wal = Path(str(self.path) + "-wal")
                raise sqlite3.DatabaseError("the file is empty (truncated?)" + (
                    f"; its WAL holds {wal.stat().st_size} bytes" if wal.exists() and wal.stat().st_size else ""))
            db = self._connect()
            check = db.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                problem = f"quick_check says {check[0] if check else 'nothing'}"
            else:
                db.executescript(_SCHEMA)
                return db
        except sqlite3.OperationalError:  # a full disk, an I/O error, no access: not the file's fault
            if db is not None:
                db.close()
            raise
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
        if db is not None:
            db.close()
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(str(self.path) + suffix)
            if source.exists():
                os.replace(source, Path(str(aside) + suffix))
        log.error("outbox %s is corrupt (%s): moved it aside to %s and started a fresh one; "
                  "messages still in it were not delivered", self.path, problem, aside)
        self.recovered_from = str(aside)
        db = self._connect()
        db.executescript(_SCHEMA)
        return db

    # ------------------------------------------------------------------ accepting

    def check_size(self, topic: str, payload: bytes, qos: int) -> None:
        """Raise :class:`MessageTooLarge` if the message's MQTT packet exceeds the limit."""
        if self.max_packet_bytes > 0:
            # What a topic leaves for the payload, allowing the longest length field: within it, it fits.
            room = self._room.get(topic)
            if room is None:
                room = self._room[topic] = self.max_packet_bytes - mqtt_packet_size(topic, 0, 2) - 3
            if len(payload) <= room:
                return
            size = mqtt_packet_size(topic, len(payload), qos)
            if size > self.max_packet_bytes:
                raise MessageTooLarge(topic, size, self.max_packet_bytes)

    def put(self, topic: str, payload: dict[str, Any] | bytes, *, seq_key: str | None = None,
            qos: int = 1, retain: bool = False, kind: str = TELEMETRY,
            wait: bool = False) -> int | None:
        """Accept a message for delivery; return its ``seq`` when ``seq_key`` is given.

        With ``seq_key``, the payload's ``seq`` is set to the next number of that key (a dict
        payload only; bytes are sent as they are). With ``wait=True`` the call returns only
        once the message is committed to disk. Raises :class:`MessageTooLarge`,
        :class:`OutboxWriteError` (the disk refuses writes) or :class:`OutboxClosed`.
        """
        if seq_key is not None and isinstance(payload, dict):
            fields = payload

            def build(seq: int | None) -> bytes:
                with_seq = dict(fields)
                with_seq["seq"] = seq
                return encode(with_seq)

            return self.put_encoded(topic, build, seq_key=seq_key, qos=qos, retain=retain, kind=kind, wait=wait)
        data = payload if isinstance(payload, bytes) else encode(payload)
        return self.put_encoded(topic, lambda _seq: data, qos=qos, retain=retain, kind=kind, wait=wait)

    def put_encoded(self, topic: str, build: Callable[[int | None], bytes], *, seq_key: str | None = None,
                    qos: int = 1, retain: bool = False, kind: str = TELEMETRY,
                    wait: bool = False) -> int | None:
        """Accept a message whose payload ``build(seq)`` encodes (no dict, no copy)."""
        with self._lock:
            if self._closed or self._write_error is not None:
                self._refuse(topic)
            seq = None if seq_key is None else self._seqs.get(seq_key, 0) + 1
            data = build(seq)
            room = self._room.get(topic)
            if room is None or len(data) > room:
                self.check_size(topic, data, qos)
            if seq is not None and seq_key is not None:
                if seq > self._hwm.reserved.get(seq_key, 0):
                    self._reserve(seq_key, seq, topic)
                self._seqs[seq_key] = seq
            ident = self._next_id
            self._next_id += 1
            self._mem[ident] = _Entry(OutboxMessage(ident, topic, data, qos, bool(retain)), kind,
                                      time.monotonic())
            if wait or self.commit_interval_s <= 0:
                self._urgent = True
                self._cond.notify_all()
            if wait:
                while self._settled_id < ident and not self._closed:
                    if self._write_error is not None and self._withdraw(ident, topic):
                        break  # not on disk, but the broker has it
                    self._cond.wait(0.5)
        local = self._local
        if getattr(local, "depth", 0):
            local.missed = True  # told once, when the batch ends
        else:
            for listener in self._listeners:
                listener()
        return seq

    def put_reading(self, topic: str, head: bytes, tail: bytes, seq_key: str) -> None:
        """Accept one telemetry reading whose payload is ``head``, its ``seq``, ``tail`` (QoS 1).

        :meth:`put_encoded` for the one message a device sends many times a second, with the
        same checks and errors. It runs for every reading, so it does no more than it must
        (measured at 100 readings/s: about a tenth less CPU per reading than put_encoded).
        """
        with self._lock:
            if self._closed or self._write_error is not None:
                self._refuse(topic)
            seq = self._seqs.get(seq_key, 0) + 1
            data = b"%s%d%s" % (head, seq, tail)
            room = self._room.get(topic)
            if room is None or len(data) > room:
                self.check_size(topic, data, 1)
            if seq > self._hwm.reserved.get(seq_key, 0):
                self._reserve(seq_key, seq, topic)
            self._seqs[seq_key] = seq
            ident = self._next_id
            self._next_id += 1
            # tuple.__new__: an OutboxMessage without the call its generated __new__ costs.
            self._mem[ident] = _Entry(tuple.__new__(OutboxMessage, (ident, topic, data, 1, False)), TELEMETRY,
                                      time.monotonic())
            if self.commit_interval_s <= 0:
                self._urgent = True
                self._cond.notify_all()
        local = self._local
        if getattr(local, "depth", 0):
            local.missed = True  # told once, when the batch ends
        else:
            for listener in self._listeners:
                listener()

    def _withdraw(self, ident: int, topic: str) -> bool:
        """A ``put(wait=True)`` whose commit failed: take the message back and raise (lock held).

        Refused means never sent: a message no sender has fetched yet leaves the queue, so the
        caller's retry (an artisan's rescan) is the only copy that reaches the broker. One a
        sender already has is waited for: its PUBACK makes it accepted after all (True);
        without one within ``ACK_WAIT_S`` it is refused, though it may still arrive.
        """
        cannot = f"outbox {self.path} cannot write to disk ({self._write_error}); message for {topic}"
        entry = self._mem.get(ident)
        if entry is not None and not (entry.fetched or entry.acked or entry.writing):
            del self._mem[ident]
            raise OutboxWriteError(f"{cannot} not accepted")
        if entry is None:
            return True  # acknowledged and forgotten already
        deadline = time.monotonic() + ACK_WAIT_S
        self._ack_waiters += 1
        try:
            while not entry.acked and not self._closed and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
        finally:
            self._ack_waiters -= 1
        if entry.acked:
            return True
        raise OutboxWriteError(f"{cannot} not stored (already handed to the broker: it may arrive)")

    def _refuse(self, topic: str) -> None:
        """Raise why nothing is accepted now: closed, or the disk refuses writes (lock held)."""
        if self._closed:
            raise OutboxClosed(f"outbox {self.path} is closed")
        raise OutboxWriteError(f"outbox {self.path} cannot write to disk ({self._write_error}); "
                               f"message for {topic} not accepted")

    def _reserve(self, seq_key: str, seq: int, topic: str) -> None:
        """Reserve the next block of ``seq_key``'s seqs on disk, before ``seq`` is used (lock held)."""
        try:
            self._hwm.reserve(seq_key, seq)
        except OSError as exc:
            raise OutboxWriteError(f"outbox {self.path}: cannot reserve seqs in {self._hwm.path} "
                                   f"({exc}); message for {topic} not accepted") from exc

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Tell the put listeners once, at the end of the block, about everything put in it.

        A device that read many readings at once puts them in a batch, so the sender hands
        them to the broker together instead of one by one.
        """
        local = self._local
        local.depth = getattr(local, "depth", 0) + 1
        try:
            yield
        finally:
            local.depth -= 1
            if not local.depth and getattr(local, "missed", False):
                local.missed = False
                for listener in self._listeners:
                    listener()

    def flush(self, timeout: float | None = None) -> bool:
        """Commit everything put so far that is not acknowledged; return False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._next_id - 1
            self._urgent = True
            self._cond.notify_all()
            while self._settled_id < target:
                if self._write_error is not None:
                    return False  # the disk refuses writes: waiting would not help
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining if remaining is not None else 0.5)
                if self._settled_id < target:
                    self._urgent = True
        return True

    def when_put(self, callback: _Listener) -> None:
        """Call ``callback`` (from the putting thread) after each put; it must not block."""
        self._listeners.append(callback)

    def before_commit(self, callback: _Listener) -> None:
        """Call ``callback`` (on the writer's thread, no lock held) before it writes messages
        that have waited: a sender reads the broker's acknowledgements there, so the readings
        the broker has are dropped instead of written, and it need not read them any sooner."""
        self._before_commit.append(callback)

    def _waited_unacked(self, cutoff: float) -> bool:
        """Whether an unacknowledged message put before ``cutoff`` is in memory (lock held)."""
        for entry in self._mem.values():
            if entry.put_at > cutoff:
                return False
            if not entry.acked and not entry.writing:
                return True
        return False

    def when_committed(self, callback: _Listener) -> None:
        """Kept for callers of the older API: messages are deliverable as soon as they are put."""
        self._listeners.append(callback)

    # ------------------------------------------------------------------ writing

    def _write_loop(self) -> None:
        # The writer ticks every half interval and commits what has waited a quarter interval
        # or more: a message is on disk (or acknowledged) within 3/4 of commit_interval_ms, the
        # young ones are usually acknowledged by then (never written), and a put never has to
        # wake this thread (that would cost a context switch per reading).
        # Before it writes what has waited, it lets the sender take the acknowledgements that
        # arrived meanwhile (before_commit): the sender reads them a tick's worth at a time.
        tick = self.commit_interval_s / 2
        backoff = 0.1
        while True:
            with self._lock:
                if not (self._closed or self._urgent or self._dead_requests):
                    self._cond.wait(tick if tick > 0 else None)
                due = (tick > 0 and not self._closed and not self._urgent and bool(self._before_commit)
                       and self._waited_unacked(time.monotonic() - tick / 2))
            if due:
                for hook in self._before_commit:
                    try:
                        hook()
                    except Exception:  # a sender's failure must not stop the writing
                        log.exception("outbox %s: reading acknowledgements before a commit failed", self.path)
            with self._lock:
                closing = self._closed
                everything = closing or self._urgent or tick <= 0
                self._urgent = False
                cutoff = time.monotonic() - tick / 2
                batch = []
                for entry in self._mem.values():
                    if not everything and entry.put_at > cutoff:
                        break  # put_at rises with the id: the rest are younger still
                    if not entry.acked:
                        batch.append(entry)
                for entry in batch:
                    entry.writing = True
                deletes = set(self._deletes)
                dead = list(self._dead_requests)
                settled = self._next_id - 1 if everything else self._settled_id
            try:
                if batch or deletes or dead:
                    self._commit(batch, deletes, dead)
            except sqlite3.Error as exc:
                with self._lock:
                    for entry in batch:
                        entry.writing = False
                        if entry.acked:  # acknowledged while the failed write ran: it is not on disk
                            self._mem.pop(entry.message.id, None)
                            if entry.message.id in self._deletes:
                                self._deletes.discard(entry.message.id)
                                self._disk_rows -= 1
                    first = self._write_error is None
                    self._write_error = str(exc)
                    self._cond.notify_all()
                if first:
                    log.error("outbox %s: cannot write %d messages: %s; accepting nothing new, "
                              "retrying (what was accepted stays in memory and is still delivered)",
                              self.path, len(batch), exc)
                if closing:
                    self._give_up(exc)
                    return
                time.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            with self._lock:
                if self._write_error is not None:
                    log.warning("outbox %s: writing again after: %s", self.path, self._write_error)
                    self._write_error = None
                for entry in batch:
                    ident = entry.message.id
                    if self._mem.pop(ident, None) is not None and not entry.acked:
                        self._disk_rows += 1
                    self._max_disk_id = max(self._max_disk_id, ident)
                self._deletes -= deletes
                del self._dead_requests[:len(dead)]
                self._settled_id = max(self._settled_id, settled)
                self._cond.notify_all()
                if closing and not self._mem and not self._deletes and not self._dead_requests:
                    return

    def _give_up(self, exc: sqlite3.Error) -> None:
        """Closing while the disk refuses writes: say exactly what is lost."""
        with self._lock:
            lost = [e for e in self._mem.values() if not e.acked]
            self._cond.notify_all()
        if lost:
            log.error("outbox %s: closing with %d accepted messages that could not be written (%s) "
                      "and were not acknowledged: they are lost (ids %d-%d)", self.path, len(lost), exc,
                      lost[0].message.id, lost[-1].message.id)

    def _commit(self, batch: list[_Entry], deletes: set[int],
                dead: list[tuple[int, str, _Entry | None]]) -> None:
        with self._db_lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = [(e.message.id, e.message.topic, e.message.payload, e.message.qos,
                         int(e.message.retain), e.kind) for e in batch]
                if rows:
                    db.executemany("INSERT OR IGNORE INTO outbox (id, topic, payload, qos, retain, kind) "
                                   "VALUES (?, ?, ?, ?, ?, ?)", rows)
                removed = 0
                dead_moved = 0
                now = datetime.now(timezone.utc).isoformat(timespec="seconds")
                for ident, reason, entry in dead:
                    if entry is None:  # on disk: move the row
                        dead_moved += db.execute(
                            "INSERT OR IGNORE INTO dead_letters (id, topic, payload, qos, retain, kind, reason, ts) "
                            "SELECT id, topic, payload, qos, retain, kind, ?, ? FROM outbox WHERE id = ?",
                            (reason, now, ident)).rowcount
                        deletes = deletes | {ident}
                    else:
                        m = entry.message
                        dead_moved += db.execute(
                            "INSERT OR IGNORE INTO dead_letters (id, topic, payload, qos, retain, kind, reason, ts) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (m.id, m.topic, m.payload, m.qos, int(m.retain), entry.kind, reason, now)).rowcount
                if deletes:
                    # Acknowledgements come in order: most deletes are runs of ids, one range each.
                    ranges, scattered = id_runs(deletes)
                    for first, last in ranges:
                        removed += db.execute("DELETE FROM outbox WHERE id BETWEEN ? AND ?",
                                              (first, last)).rowcount
                    for start in range(0, len(scattered), 500):
                        chunk = scattered[start:start + 500]
                        removed += db.execute(
                            f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(chunk))})", chunk).rowcount
                count = self._disk_rows + len(rows) - removed
                dropped = 0
                if count > self.max_messages:
                    dropped = db.execute(
                        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE kind = ? "
                        "ORDER BY id LIMIT ?)", (TELEMETRY, count - self.max_messages)).rowcount
                    db.execute(
                        "INSERT INTO meta (key, value) VALUES ('dropped', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value", (dropped,))
                db.execute("COMMIT")
            except BaseException as exc:
                # Report the write's own error, not a ROLLBACK failing after it.
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error as rollback_exc:
                    log.debug("outbox %s: rollback after %s failed too: %s", self.path, exc, rollback_exc)
                raise
        self.commits += 1
        self.db_bytes_written += sum(len(r[1]) + len(r[2]) for r in rows)
        with self._lock:
            # Rows this batch adds are counted by the caller as it settles each entry.
            self._disk_rows -= removed + dropped
            self._dead += dead_moved
            if dropped:
                if not self._full_warned:  # once per run: _dropped counts since the file was made
                    self._full_warned = True
                    log.warning("outbox %s is full (%d messages): dropping the oldest telemetry "
                                "(%d dropped before this start)", self.path, self.max_messages, self._dropped)
                self._dropped += dropped

    # ------------------------------------------------------------------ delivering

    def fetch(self, after_id: int, limit: int) -> list[OutboxMessage]:
        """Return up to ``limit`` unacknowledged messages with an id above ``after_id``, oldest first."""
        while True:
            with self._lock:
                disk_max = self._max_disk_id
                if after_id >= disk_max:
                    # Every id on disk is older than every id in memory (commits take the oldest).
                    out: list[OutboxMessage] = []
                    if not self._mem:
                        return out
                    ident = max(after_id + 1, next(iter(self._mem)))
                    end, mem = self._next_id, self._mem
                    while ident < end and len(out) < limit:
                        entry = mem.get(ident)
                        if entry is not None and not entry.acked:
                            entry.fetched = True
                            out.append(entry.message)
                        ident += 1
                    return out
            with self._db_lock:
                rows = self._db.execute(
                    "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                    (after_id, limit)).fetchall()
            if not rows:
                after_id = disk_max  # nothing left on disk up to what we saw: newer ones follow
                continue
            with self._lock:
                deletes = self._deletes  # acknowledged, deleted at the next tick: skip them
                out = [OutboxMessage(r[0], r[1], bytes(r[2]), r[3], bool(r[4])) for r in rows
                       if r[0] not in deletes]
            if out:
                return out
            after_id = rows[-1][0]

    def ack(self, ids: Iterable[int]) -> None:
        """Forget messages the broker has acknowledged (never written if still in memory)."""
        with self._lock:
            for ident in ids:
                entry = self._mem.get(ident)
                if entry is not None:
                    if entry.acked:
                        continue
                    entry.acked = True
                    if entry.writing:  # being written right now: delete it in the next commit
                        self._deletes.add(ident)
                        self._disk_rows += 1
                    else:
                        del self._mem[ident]
                elif ident <= self._max_disk_id and ident not in self._deletes:
                    self._deletes.add(ident)  # deleted in the writer's next tick
            if self._ack_waiters:
                self._cond.notify_all()  # a put(wait=True) whose commit failed waits for its PUBACK

    def dead_letter(self, ident: int, reason: str) -> None:
        """Move a message the broker keeps refusing out of the queue into ``dead_letters``."""
        with self._lock:
            entry = self._mem.get(ident)
            if entry is not None and not entry.writing and not entry.acked:
                entry.acked = True
                del self._mem[ident]
                self._dead_requests.append((ident, reason, entry))
            elif entry is None or entry.writing:
                if entry is not None:  # being written: it is on disk once that commit ends
                    entry.acked = True
                    self._disk_rows += 1
                self._dead_requests.append((ident, reason, None))
            self._urgent = True
            self._cond.notify_all()
        log.error("outbox %s: the broker keeps refusing message %d (%s); moved it to dead letters",
                  self.path, ident, reason)

    def dead_letters(self) -> list[DeadLetter]:
        """Return every message moved aside as refused by the broker, oldest first."""
        with self._db_lock:
            rows = self._db.execute("SELECT id, topic, payload, qos, retain, kind, reason, ts FROM dead_letters "
                                    "ORDER BY id").fetchall()
        return [DeadLetter(r[0], r[1], bytes(r[2]), r[3], bool(r[4]), r[5], r[6], r[7]) for r in rows]

    # ------------------------------------------------------------------ state

    @property
    def pending(self) -> int:
        """Messages accepted and not yet acknowledged by the broker."""
        with self._lock:
            return len(self._mem) + self._disk_rows - len(self._deletes) - sum(
                1 for e in self._mem.values() if e.acked)

    @property
    def dropped(self) -> int:
        """Telemetry messages dropped because the outbox was full (since it was created)."""
        return self._dropped

    @property
    def dead(self) -> int:
        """Messages moved to dead letters (since the outbox file was created)."""
        return self._dead

    @property
    def bytes_written(self) -> int:
        """Bytes of messages and seq marks this process wrote (what the SD card saw, roughly)."""
        return self.db_bytes_written + self._hwm.bytes_written

    @property
    def write_error(self) -> str | None:
        """The disk's error while writes fail, else None."""
        return self._write_error

    def last_seq(self, seq_key: str) -> int:
        with self._lock:
            return self._seqs.get(seq_key, 0)

    def close(self, timeout: float = 5.0) -> None:
        """Commit what was put, stop the writer and close the file; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._writer.join(timeout)
        with self._lock:
            exact = dict(self._seqs) if not self._mem else None
        if exact is not None and not self._writer.is_alive():
            try:
                self._hwm.save(exact)  # a clean stop: the next start continues without a gap
            except OSError as exc:
                log.warning("outbox %s: could not record the last seqs (%s): the next start leaves a gap",
                            self.path, exc)
        with self._db_lock:
            self._db.close()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)  # the lock goes with it

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Outbox {self.path} pending={self.pending} dropped={self._dropped}>"
