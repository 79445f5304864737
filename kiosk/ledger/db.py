"""One small SQL layer over SQLite and PostgreSQL, chosen by the ledger's ``database`` URL.

SQL is written once with ``?`` placeholders and portable types. SQLite runs in WAL mode with
``synchronous=FULL``; writers in one process queue on a lock (instead of SQLite's sleeping
busy handler), writers in other processes on ``busy_timeout``. PostgreSQL uses psycopg 3 in
autocommit mode with explicit transactions. Connections are pooled; a broken one is dropped.
A pooled PostgreSQL connection may have died while it sat idle (the server restarted, a proxy
or firewall cut it): the first statement on a borrowed connection that fails that way is run
once more on a fresh connection, and a transaction first checks its borrowed connection, so
the first request after the database comes back succeeds instead of meeting stale sockets.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

log = logging.getLogger(__name__)


class IntegrityViolation(Exception):
    """A constraint of the database refused a write (unique key, foreign key, …)."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened."""


def sqlite_path(url: str) -> str | None:
    """Return the file path of a ``sqlite:///path`` URL, or None for another scheme."""
    if not url.startswith("sqlite:///"):
        return None
    return url[len("sqlite:///"):]


class Connection:
    """One database connection with a dialect-neutral execute."""

    def __init__(self, raw: Any, dialect: str, reopen: Callable[[], Any] | None = None) -> None:
        self.raw = raw
        self.dialect = dialect
        self._reopen = reopen  # opens a fresh raw connection to the same database
        self.unproven = False  # borrowed from the pool and not yet shown to be alive

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        # Only a statement that never reached the server may run again: the first on a
        # connection that idled in the pool, outside a transaction (autocommit).
        retry = self.unproven and self._reopen is not None and not self._in_transaction()
        try:
            result = self._execute(sql, params)
        except DatabaseUnavailable as exc:
            if not retry:
                raise
            log.info("a pooled ledger connection was dead (%s); retrying on a fresh one", exc)
            self.unproven = False
            self.replace()
            result = self._execute(sql, params)
        self.unproven = False
        return result

    def _execute(self, sql: str, params: Sequence[Any]) -> Any:
        try:
            return self.raw.execute(self._sql(sql), tuple(params))
        except Exception as exc:
            if _is_integrity_error(exc):
                raise IntegrityViolation(str(exc).strip()) from exc
            if _is_connection_error(exc):
                raise DatabaseUnavailable(f"the ledger database failed: {_one_line(exc)}") from exc
            raise

    def _in_transaction(self) -> bool:
        if self.dialect == "postgresql":
            return bool(self.raw.info.transaction_status != 0)  # 0: IDLE, no transaction open
        return bool(self.raw.in_transaction)

    def replace(self) -> None:
        """Close this (dead) connection and open a fresh one in its place."""
        assert self._reopen is not None
        _close_quietly(self)
        self.raw = self._reopen()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.execute(sql, params).fetchall())

    def row(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        found: tuple[Any, ...] | None = self.execute(sql, params).fetchone()
        return found

    def rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.execute(sql, params).rowcount)


def _is_connection_error(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.OperationalError):  # locked past busy_timeout, disk I/O, unreadable file
        text = str(exc)
        return any(w in text for w in ("locked", "disk I/O", "unable to open", "readonly", "full"))
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.OperationalError)


def _is_integrity_error(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.errors.IntegrityError)


class Database:
    """A pool of connections to one ledger database (``sqlite:///…`` or ``postgresql://…``)."""

    def __init__(self, url: str, *, pool_size: int = 32, busy_timeout_s: float = 30.0) -> None:
        self.url = url
        self.pool_size = pool_size
        self.busy_timeout_s = busy_timeout_s
        path = sqlite_path(url)
        if path is not None:
            if not path or path == ":memory:":
                raise DatabaseUnavailable("an in-memory SQLite ledger cannot be shared; give a file path")
            self.dialect = "sqlite"
            self._path = path
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
            self._path = ""
        else:
            raise DatabaseUnavailable(f"unsupported database URL {url!r} (sqlite:///PATH or postgresql://…)")
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._write_lock = threading.Lock()
        self._closed = False

    def _open(self) -> Connection:
        if self.dialect == "sqlite":
            try:
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(f"cannot create the directory of SQLite ledger {self._path}: "
                                          f"{exc.strerror or exc}") from exc
            try:
                raw = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False,
                                      timeout=self.busy_timeout_s)
                raw.execute("PRAGMA journal_mode=WAL")
                raw.execute("PRAGMA synchronous=FULL")
                raw.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise DatabaseUnavailable(f"cannot open SQLite ledger {self._path}: {exc}") from exc
            return Connection(raw, "sqlite")
        return Connection(self._connect_postgresql(), "postgresql", reopen=self._connect_postgresql)

    def _connect_postgresql(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {_one_line(exc)}") from exc

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """Borrow a connection (autocommit: each statement stands alone)."""
        if self._closed:
            raise DatabaseUnavailable("the ledger is closed")
        try:
            conn = self._idle.get_nowait()
            conn.unproven = conn.dialect == "postgresql"
        except queue.Empty:
            conn = self._open()
        healthy = False
        try:
            yield conn
            healthy = True
        finally:
            if healthy or self._usable(conn):
                if self._closed or self._idle.qsize() >= self.pool_size:
                    conn.raw.close()
                else:
                    self._idle.put(conn)
            else:
                _close_quietly(conn)

    def _usable(self, conn: Connection) -> bool:
        if self.dialect == "sqlite":
            return True
        return not conn.raw.closed and not conn.raw.broken

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Run statements in one write transaction: all commit or none (rolled back on error)."""
        with self.connect() as conn:
            if self.dialect == "postgresql":
                if conn.unproven:  # a statement inside the transaction could not be retried
                    conn.execute("SELECT 1")
                with conn.raw.transaction():
                    yield conn
                return
            with self._write_lock:
                conn.raw.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.raw.execute("COMMIT")
                except BaseException as exc:
                    if conn.raw.in_transaction:  # also when COMMIT itself failed (disk full, I/O)
                        conn.raw.execute("ROLLBACK")
                    if isinstance(exc, sqlite3.OperationalError) and _is_connection_error(exc):
                        raise DatabaseUnavailable(f"the ledger database failed: {exc}") from exc
                    raise

    def close(self) -> None:
        """Close every idle connection; borrowed ones close when returned. Safe to call twice."""
        self._closed = True
        while True:
            try:
                _close_quietly(self._idle.get_nowait())
            except queue.Empty:
                return


def _one_line(exc: BaseException) -> str:
    """Return an exception's message on one line (libpq's span several, with tabs)."""
    return " ".join(str(exc).split())


def _close_quietly(conn: Connection) -> None:
    try:
        conn.raw.close()
    except Exception:  # closing a broken connection may itself fail; it is gone either way
        log.debug("closing a broken ledger connection failed", exc_info=True)
