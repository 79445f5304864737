"""Ordered, numbered upgrades of the ledger's schema, applied in order when a ledger opens.

Each :class:`Migration` is a list of portable SQL statements or a function taking a
:class:`Connection`. :func:`upgrade` applies the missing ones one at a time, each in its own
transaction that also records ``schema_version`` in ``meta``: a step is either wholly
applied and recorded, or not at all. The transaction first takes a lock so that two kiosks
opening one ledger at once never both apply a step: ``BEGIN IMMEDIATE`` on SQLite (the
database's write lock), a transaction-scoped advisory lock on PostgreSQL (it exists before
any table does, unlike ``LOCK TABLE meta``). The loser waits, then finds the step recorded.

To change the schema, append a step with the next number; never edit a released one (a
ledger that has it recorded will not run it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from kiosk.ledger.db import Connection, Database
from kiosk.ledger.model import LedgerError
from kiosk.ledger.schema import VERSION_1


class LedgerSchemaError(LedgerError):
    """The ledger's schema cannot be used by this benchpin."""


class LedgerTooNew(LedgerSchemaError):
    """The ledger was upgraded by a newer benchpin than this one."""


@dataclass(frozen=True)
class Migration:
    """One numbered step: ``apply`` is portable SQL statements or a function of a connection."""

    version: int
    description: str
    apply: Sequence[str] | Callable[[Connection], None]

    def run(self, conn: Connection) -> None:
        """Apply the step's statements or call its function (inside the caller's transaction)."""
        if callable(self.apply):
            self.apply(conn)
            return
        for statement in self.apply:
            conn.execute(statement)


def _photos(conn: Connection) -> None:
    """A photo taken at the kiosk's camera, kept with the piece (its check answer is the photo id)."""
    blob = "BYTEA" if conn.dialect == "postgresql" else "BLOB"
    conn.execute(f"""CREATE TABLE photos (
        photo_id TEXT PRIMARY KEY,
        piece_id TEXT NOT NULL REFERENCES pieces (piece_id),
        version INTEGER NOT NULL,
        stage TEXT NOT NULL,
        check_name TEXT NOT NULL,
        operator TEXT NOT NULL,
        station TEXT NOT NULL,
        ts TEXT NOT NULL,
        mime TEXT NOT NULL,
        data {blob} NOT NULL)""")
    conn.execute("CREATE INDEX photos_piece ON photos (piece_id)")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "operators, trees, pieces, events, counters and meta", VERSION_1),
    # Purely additive: no existing table, row or query changes, so nothing can read it wrong
    # before the QC screens write it. One row per check measured when an event was recorded;
    # value_num holds a measurement (mm, g, µm), value_text anything else; passed is 0/1.
    Migration(2, "event_checks: the checks recorded with a move", (
        """CREATE TABLE event_checks (
            event_id TEXT NOT NULL REFERENCES events (event_id),
            name TEXT NOT NULL,
            value_text TEXT NOT NULL DEFAULT '',
            value_num DOUBLE PRECISION,
            passed INTEGER NOT NULL,
            CONSTRAINT event_checks_pk PRIMARY KEY (event_id, name))""",
    )),
    # A supervisor's override of a refused move (a piece leaving engraving without a `done`
    # laser job) is recorded on the event itself. laser_jobs keeps the last state each
    # engraving job reported, so the rule holds across kiosk restarts and retained-topic clears.
    Migration(3, "events.override, laser_jobs and stage_blocks: the engraving gate, blocked stages", (
        "ALTER TABLE events ADD COLUMN override INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE laser_jobs (
            job_id TEXT PRIMARY KEY REFERENCES events (event_id),
            piece_id TEXT NOT NULL REFERENCES pieces (piece_id),
            state TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            progress DOUBLE PRECISION,
            eta_s DOUBLE PRECISION,
            updated TEXT NOT NULL)""",
        # A stage a supervisor blocked ("waiting for the mold"): moves into it are refused.
        """CREATE TABLE stage_blocks (
            stage TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            operator TEXT NOT NULL,
            station TEXT NOT NULL,
            since TEXT NOT NULL)""",
    )),
    # Badge sessions live in the ledger, not in the cookie: logging out (or idling out) ends the
    # row, so a copied cookie is worth nothing afterwards, on every kiosk sharing the ledger.
    # The row is keyed by the SHA-256 of the cookie's random id, so a copy of this table opens
    # no session. Times are epoch seconds (compared, never shown); ended is NULL while open.
    # operators.pin_hash holds a salted scrypt hash of a supervisor's PIN (NULL: no PIN).
    Migration(4, "sessions and operators.pin_hash: server-side badge sessions, supervisor PINs", (
        "ALTER TABLE operators ADD COLUMN pin_hash TEXT",
        """CREATE TABLE sessions (
            session_hash TEXT PRIMARY KEY,
            operator_id TEXT NOT NULL REFERENCES operators (operator_id),
            kiosk TEXT NOT NULL DEFAULT '',
            created DOUBLE PRECISION NOT NULL,
            last_seen DOUBLE PRECISION NOT NULL,
            ended DOUBLE PRECISION)""",
        "CREATE INDEX sessions_last_seen ON sessions (last_seen)",
    )),
    # Working time: an operator's start / pause / resume / done on one stay of a piece at a
    # stage (the stay is the piece's version while it sits there). One session per stay, so of
    # two operators starting at once exactly one wins (the primary key). worked_s is the working
    # time before `since`; while `working` the time since `since` counts too.
    Migration(5, "work_sessions: start, pause, resume and done on a piece's stay at a stage", (
        """CREATE TABLE work_sessions (
            piece_id TEXT NOT NULL REFERENCES pieces (piece_id),
            version INTEGER NOT NULL,
            stage TEXT NOT NULL,
            operator TEXT NOT NULL REFERENCES operators (operator_id),
            station TEXT NOT NULL,
            state TEXT NOT NULL,
            started TEXT NOT NULL,
            since TEXT NOT NULL,
            worked_s DOUBLE PRECISION NOT NULL DEFAULT 0,
            CONSTRAINT work_sessions_pk PRIMARY KEY (piece_id, version))""",
    )),
    Migration(6, "photos: pictures taken at the kiosk's camera for a piece's photo check", _photos),
    # Metal accounting: the piece's weight carried by a move (the weight out of the stage it
    # leaves, into the one it enters). in_g is the weight the piece entered the stage it leaves
    # with, when that was weighed: loss_g = in_g - grams; fine grams by the metal's fineness.
    # flagged: the loss was outside the stage's loss_pct; reason says why (the move's note).
    Migration(7, "weights: the piece's weight with a move, the loss at the stage it leaves", (
        """CREATE TABLE weights (
            event_id TEXT PRIMARY KEY REFERENCES events (event_id),
            piece_id TEXT NOT NULL REFERENCES pieces (piece_id),
            from_stage TEXT,
            to_stage TEXT NOT NULL,
            metal TEXT NOT NULL,
            grams DOUBLE PRECISION NOT NULL,
            fine_g DOUBLE PRECISION NOT NULL,
            manual INTEGER NOT NULL DEFAULT 0,
            in_g DOUBLE PRECISION,
            loss_g DOUBLE PRECISION,
            loss_fine_g DOUBLE PRECISION,
            flagged INTEGER NOT NULL DEFAULT 0,
            reason TEXT NOT NULL DEFAULT '',
            operator TEXT NOT NULL,
            ts TEXT NOT NULL)""",
        "CREATE INDEX weights_piece ON weights (piece_id)",
        "CREATE INDEX weights_ts ON weights (ts)",
    )),
    # Metal sent back to refining (scrap, filings, sprues, polishing dust), weighed at the bench.
    Migration(8, "refining_lots: scrap and filings returned to refining, with their weights", (
        """CREATE TABLE refining_lots (
            lot_id TEXT PRIMARY KEY,
            metal TEXT NOT NULL,
            source TEXT NOT NULL,
            grams DOUBLE PRECISION NOT NULL,
            fine_g DOUBLE PRECISION NOT NULL,
            pieces TEXT NOT NULL DEFAULT '',
            note TEXT NOT NULL DEFAULT '',
            operator TEXT NOT NULL REFERENCES operators (operator_id),
            station TEXT NOT NULL,
            ts TEXT NOT NULL)""",
        "CREATE INDEX refining_lots_ts ON refining_lots (ts)",
    )),
    # A wax tree's casting weights: the wax, the metal issued for the pour, and the sprues and
    # scrap that come back (the pieces' own weights come with their moves out of casting).
    Migration(9, "tree_weights: a wax tree's wax, metal issued, sprues and scrap: its casting yield", (
        """CREATE TABLE tree_weights (
            tree_id TEXT NOT NULL REFERENCES trees (tree_id),
            kind TEXT NOT NULL,
            grams DOUBLE PRECISION NOT NULL,
            manual INTEGER NOT NULL DEFAULT 0,
            operator TEXT NOT NULL,
            ts TEXT NOT NULL,
            CONSTRAINT tree_weights_pk PRIMARY KEY (tree_id, kind))""",
    )),
    # The furnace historian: probe readings as received (deduplicated by the gateway's seq),
    # kept raw for kiosk.history_raw_days, then as per-minute min/avg/max for history_days.
    Migration(10, "probe_readings and probe_minutes: the furnace historian", (
        """CREATE TABLE probe_readings (
            gateway TEXT NOT NULL,
            probe TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts TEXT NOT NULL,
            value_c DOUBLE PRECISION,
            fault TEXT NOT NULL DEFAULT '',
            CONSTRAINT probe_readings_pk PRIMARY KEY (gateway, probe, seq))""",
        "CREATE INDEX probe_readings_ts ON probe_readings (gateway, probe, ts)",
        """CREATE TABLE probe_minutes (
            gateway TEXT NOT NULL,
            probe TEXT NOT NULL,
            minute TEXT NOT NULL,
            min_c DOUBLE PRECISION,
            avg_c DOUBLE PRECISION,
            max_c DOUBLE PRECISION,
            n INTEGER NOT NULL,
            CONSTRAINT probe_minutes_pk PRIMARY KEY (gateway, probe, minute))""",
    )),
    # The pour: one per tree, with the furnace's temperature then and the window it was held to.
    # inside is 0/1; reason is a supervisor's, required when it was outside.
    Migration(11, "pours: a tree's pour, its furnace temperature and window", (
        """CREATE TABLE pours (
            tree_id TEXT PRIMARY KEY REFERENCES trees (tree_id),
            gateway TEXT NOT NULL,
            probe TEXT NOT NULL,
            ts TEXT NOT NULL,
            value_c DOUBLE PRECISION NOT NULL,
            metal TEXT NOT NULL,
            min_c DOUBLE PRECISION NOT NULL,
            max_c DOUBLE PRECISION NOT NULL,
            inside INTEGER NOT NULL,
            operator TEXT NOT NULL REFERENCES operators (operator_id),
            station TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '')""",
    )),
    # '' = the kiosk's kiosk.language; else one of benchpin.config.LANGUAGES.
    Migration(12, "operators.language: the language of the screens while the operator is badged in", (
        "ALTER TABLE operators ADD COLUMN language TEXT NOT NULL DEFAULT ''",
    )),
)

# Any constant fits; this one spells "benc". The second key is the schema, so ledgers in
# different schemas of one PostgreSQL database do not wait for each other.
_ADVISORY_KEY = 0x62656E63

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def latest_version(migrations: Sequence[Migration] | None = None) -> int:
    """Return the schema version the code knows up to."""
    return _checked(migrations)[-1].version


def where(url: str) -> str:
    """Name a ledger database for a message: its URL without password or options."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return url[len("sqlite:///"):]
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def current_version(db: Database) -> int:
    """Return the ledger's recorded schema version (0 for an empty database)."""
    with db.connect() as conn:
        if not _has_meta(conn):
            return 0
        return _read_version(conn, db)


def upgrade(db: Database, migrations: Sequence[Migration] | None = None) -> list[int]:
    """Apply every missing step in order, each in its own locked transaction; return their versions.

    Raises :class:`LedgerTooNew` when the ledger records a version newer than the code knows.
    """
    steps = _checked(migrations)
    applied: list[int] = []
    while True:
        with db.transaction() as conn:
            _lock(conn)
            conn.execute(_META)
            version = _read_version(conn, db)
            if version > steps[-1].version:
                raise LedgerTooNew(f"the ledger at {where(db.url)} has schema version {version}; "
                                   f"this benchpin knows up to {steps[-1].version}: upgrade benchpin")
            if version == steps[-1].version:
                return applied
            step = steps[version]  # versions are 1..N in order: step N+1 is at index N
            step.run(conn)
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(step.version),))
        applied.append(step.version)


def _checked(migrations: Sequence[Migration] | None) -> Sequence[Migration]:
    steps = MIGRATIONS if migrations is None else migrations  # read at call time (tests replace it)
    if [m.version for m in steps] != list(range(1, len(steps) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, 3, … in order, not {[m.version for m in steps]}")
    return steps


def _lock(conn: Connection) -> None:
    if conn.dialect != "postgresql":
        return  # SQLite: Database.transaction() began with BEGIN IMMEDIATE, the write lock
    # Under REPEATABLE READ or SERIALIZABLE (a plant's default_transaction_isolation) the
    # snapshot would date from before the lock wait and miss the winner's step: read committed
    # data after the lock instead. Must be the transaction's first statement.
    conn.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
    conn.execute(f"SELECT pg_advisory_xact_lock({_ADVISORY_KEY}, hashtext(coalesce(current_schema(), '')))")


def _has_meta(conn: Connection) -> bool:
    if conn.dialect == "postgresql":
        return conn.row("SELECT to_regclass('meta') IS NOT NULL") == (True,)
    return conn.row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'") is not None


def _read_version(conn: Connection, db: Database) -> int:
    row = conn.row("SELECT value FROM meta WHERE key = 'schema_version'")
    if row is None:
        return 0  # meta without a version: only step 1 (idempotent) can have been under way
    try:
        return int(row[0])
    except ValueError:
        raise LedgerSchemaError(f"the ledger at {where(db.url)} has an unreadable schema version "
                                f"{row[0]!r} in its meta table") from None
