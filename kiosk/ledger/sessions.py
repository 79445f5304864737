"""Badge sessions kept in the ledger: the cookie carries a random id, the row says who and whether it ended.

A session ends at logout, after ``idle_s`` without a request, or when a new badge-in on the
same browser replaces it; an ended row is kept (for a while) so that a replayed cookie is
recognised and refused. Rows are keyed by the SHA-256 of the id: the table opens nothing.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass

from kiosk.ledger.db import Database

log = logging.getLogger(__name__)

RETAIN_S = 7 * 24 * 3600.0  # ended or abandoned rows older than this are deleted at a badge-in
# A burst of taps writes the row once: the idle limit is minutes, a second or two does not matter.
TOUCH_EVERY_S = 2.0
OPEN, UNKNOWN, ENDED, IDLE = "open", "unknown", "ended", "idle"


@dataclass(frozen=True)
class SessionCheck:
    """What a presented session id is worth: ``operator_id`` when ``state`` is OPEN."""

    state: str  # OPEN | UNKNOWN | ENDED | IDLE (idle: ended just now by this check)
    operator_id: str = ""


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(db: Database, operator_id: str, *, now: float, kiosk: str = "") -> str:
    """Open a session for a badged-in operator; return its new random 256-bit id."""
    session_id = secrets.token_urlsafe(32)
    with db.transaction() as conn:
        conn.execute("DELETE FROM sessions WHERE last_seen < ?", (now - RETAIN_S,))
        conn.execute("INSERT INTO sessions (session_hash, operator_id, kiosk, created, last_seen, ended) "
                     "VALUES (?, ?, ?, ?, ?, NULL)", (_key(session_id), operator_id, kiosk, now, now))
    return session_id


def check_session(db: Database, session_id: str, *, now: float, idle_s: float, touch: bool = True) -> SessionCheck:
    """Return whose open session ``session_id`` is; end it when idle too long; record the touch."""
    key = _key(session_id)
    with db.connect() as conn:
        row = conn.row("SELECT operator_id, last_seen, ended FROM sessions WHERE session_hash = ?", (key,))
    if row is None:
        return SessionCheck(UNKNOWN)
    operator_id, last_seen, ended = row
    if ended is not None:
        return SessionCheck(ENDED, operator_id)
    if now - float(last_seen) > idle_s:
        end_session(db, session_id, now=now)
        return SessionCheck(IDLE, operator_id)
    if touch and now - float(last_seen) >= TOUCH_EVERY_S:
        with db.transaction() as conn:  # only an open row moves: a logout elsewhere wins
            conn.execute("UPDATE sessions SET last_seen = ? WHERE session_hash = ? AND ended IS NULL "
                         "AND last_seen < ?", (now, key, now))
    return SessionCheck(OPEN, operator_id)


def end_session(db: Database, session_id: str, *, now: float) -> bool:
    """End a session (logout); False when it was unknown or already ended."""
    with db.transaction() as conn:
        return conn.rowcount("UPDATE sessions SET ended = ? WHERE session_hash = ? AND ended IS NULL",
                             (now, _key(session_id))) == 1
