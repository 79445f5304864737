"""Working time: start, pause, resume and done on a piece's stay at a stage, and the time report.

A *stay* is a piece's time at one stage: from the move that put it there to the move that took
it on (the piece's ``version`` names it). An operator may time their work on a stay with four
taps; one session per stay, so when two operators start at once exactly one wins. Timing is
optional: a stay nobody timed counts its whole dwell as the work of whoever moved it on.

The report gives, per stage and operator, over the stays that ended in a period, the median
and the 90th percentile of the working time and of the dwell (nearest-rank percentiles).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Iterable

from benchpin.topics import utc_ts
from kiosk.ledger import says
from kiosk.ledger.db import Connection
from kiosk.ledger.says import N_, Say
from kiosk.ledger.model import (PAUSED, SCRAPPED, WORK_DONE, WORKING, MoveRefused, Piece, TimeRow, WorkSession,
                                parse_ts)

CANNOT_NOW = {"pause": N_("work on %(piece)s is %(state)s: it cannot pause now"),
              "resume": N_("work on %(piece)s is %(state)s: it cannot resume now"),
              "done": N_("work on %(piece)s is %(state)s: it cannot be done now")}
_SELECT = ("SELECT piece_id, version, stage, operator, station, state, started, since, worked_s "
           "FROM work_sessions")


def session(conn: Connection, piece_id: str, version: int) -> WorkSession | None:
    row = conn.row(f"{_SELECT} WHERE piece_id = ? AND version = ?", (piece_id, version))
    return _session(row) if row else None


def _session(row: tuple[Any, ...]) -> WorkSession:
    return WorkSession(piece_id=row[0], version=int(row[1]), stage=row[2], operator=row[3], station=row[4],
                       state=row[5], started=row[6], since=row[7], worked_s=float(row[8]))


def act(conn: Connection, piece: Piece, action: str, operator: str, station: str, names: dict[str, str],
        *, supervisor: bool = False) -> WorkSession:
    """Apply ``action`` to the piece's current stay for ``operator``; refuse with why.

    Every change is a compare-and-set on the row as read, so of two taps at once one wins and
    the other is refused naming the winner.
    """
    if piece.stage == SCRAPPED:
        raise MoveRefused(Say("%(piece)s is scrapped: there is no work to time", piece=piece.piece_id))
    now = datetime.now(timezone.utc)
    ts = utc_ts(now)
    current = session(conn, piece.piece_id, piece.version)
    if action == "start":
        if current is None:
            # Two starts at once: the primary key lets one insert; the other raises
            # IntegrityViolation, which the caller answers with taken() after its rollback.
            conn.execute("INSERT INTO work_sessions (piece_id, version, stage, operator, station, state, "
                         "started, since, worked_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                         (piece.piece_id, piece.version, piece.stage, operator, station, WORKING, ts, ts))
            return WorkSession(piece.piece_id, piece.version, piece.stage, operator, station, WORKING, ts, ts, 0.0)
        raise MoveRefused(taken(piece, current, names))
    if current is None:
        raise MoveRefused(Say("nobody started work on %(piece)s at %(stage)s: tap Start first", piece=piece.piece_id,
                              stage=says.stage(piece.stage, words=True)))
    if current.operator != operator and not supervisor:
        raise MoveRefused(taken(piece, current, names))
    allowed = {"pause": (WORKING,), "resume": (PAUSED,), "done": (WORKING, PAUSED)}[action]
    if current.state not in allowed:
        raise MoveRefused(Say(CANNOT_NOW[action], piece=piece.piece_id, state=says.work_state(current.state)))
    state = {"pause": PAUSED, "resume": WORKING, "done": WORK_DONE}[action]
    worked = current.worked_until(now)
    changed = conn.rowcount("UPDATE work_sessions SET state = ?, since = ?, worked_s = ? "
                            "WHERE piece_id = ? AND version = ? AND state = ? AND since = ?",
                            (state, ts, worked, piece.piece_id, piece.version, current.state, current.since))
    if changed != 1:
        raise MoveRefused(Say("work on %(piece)s was changed a moment ago; look again", piece=piece.piece_id))
    return WorkSession(piece.piece_id, piece.version, piece.stage, current.operator, current.station, state,
                       current.started, ts, worked)


def taken(piece: Piece, current: WorkSession | None, names: dict[str, str]) -> Say:
    """Why an operator may not act on a stay someone else holds (or finished)."""
    if current is None:
        return Say("%(piece)s was changed a moment ago; look again", piece=piece.piece_id)
    who = names.get(current.operator, current.operator)
    where = says.stage(piece.stage, words=True)
    if current.state == WORK_DONE:
        return Say("%(who)s already finished work on %(piece)s at %(stage)s", who=who, piece=piece.piece_id,
                   stage=where)
    return Say("%(who)s is working on %(piece)s at %(stage)s (since %(since)s UTC)", who=who, piece=piece.piece_id,
               stage=where, since=current.started[11:16])


def report(conn: Connection, start: str, end: str, names: dict[str, str]) -> list[TimeRow]:
    """Per stage and operator: working time and dwell of the stays that ended in [start, end)."""
    found = conn.rows("SELECT piece_id, version, to_stage, operator, ts FROM events WHERE piece_id IN "
                      "(SELECT piece_id FROM events WHERE ts >= ? AND ts < ?) ORDER BY piece_id, version",
                      (start, end))
    sessions = {(row[0], int(row[1])): _session(row) for row in conn.rows(f"{_SELECT} WHERE state = ?", (WORK_DONE,))}
    work: dict[tuple[str, str], list[float]] = defaultdict(list)
    dwell: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (piece_id, version, stage, _, entered), (next_piece, _, _, mover, left) in zip(found, found[1:]):
        if next_piece != piece_id or not start <= left < end:
            continue
        stay_s = (parse_ts(left) - parse_ts(entered)).total_seconds()
        timed = sessions.get((piece_id, int(version)))
        key = (stage, timed.operator if timed else mover)
        work[key].append(timed.worked_s if timed else stay_s)
        dwell[key].append(stay_s)
    return [TimeRow(stage, operator, names.get(operator, operator), len(work[(stage, operator)]),
                    percentile(work[(stage, operator)], 50), percentile(work[(stage, operator)], 90),
                    percentile(dwell[(stage, operator)], 50), percentile(dwell[(stage, operator)], 90))
            for stage, operator in sorted(work)]


def percentile(values: Iterable[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 for no values)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
