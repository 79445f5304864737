"""Row ↔ record conversion and the read queries shared by the ledger's operations."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from kiosk.ledger.checks import CheckResult
from kiosk.ledger.db import Connection
from kiosk.ledger.model import Event, NotFound, Operator, Piece
from kiosk.ledger.says import Say
from kiosk.ledger.schema import EVENT_COLUMNS, PIECE_COLUMNS

PIECE_SELECT = f"SELECT {', '.join(PIECE_COLUMNS)} FROM pieces"
EVENT_SELECT = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"


def piece_from_row(row: Sequence[Any]) -> Piece:
    values = dict(zip(PIECE_COLUMNS, row))
    values["enamel"] = bool(values["enamel"])
    values["tree_id"] = values["tree_id"] or ""
    return Piece(**values)


def event_from_row(row: Sequence[Any]) -> Event:
    (event_id, piece_id, version, from_stage, to_stage, kind, station, operator, ts, note, override) = row
    return Event(event_id, piece_id, version, from_stage, to_stage, kind, station, operator, ts, note,
                 override=bool(override))


def load_piece(conn: Connection, piece_id: str) -> Piece:
    row = conn.row(f"{PIECE_SELECT} WHERE piece_id = ?", (piece_id,))
    if row is None:
        raise NotFound(Say("unknown piece %(piece)s", piece=piece_id))
    return piece_from_row(row)


def load_history(conn: Connection, piece_id: str) -> list[Event]:
    events = [event_from_row(r) for r in conn.rows(f"{EVENT_SELECT} WHERE piece_id = ? ORDER BY version",
                                                   (piece_id,))]
    results: dict[str, dict[str, Any]] = {}
    for event_id, name, text, number, passed in conn.rows(
            "SELECT c.event_id, c.name, c.value_text, c.value_num, c.passed FROM event_checks c "
            "JOIN events e ON e.event_id = c.event_id WHERE e.piece_id = ? ORDER BY c.name", (piece_id,)):
        results.setdefault(event_id, {})[name] = {"value": _check_value(text, number), "passed": bool(passed)}
    return [replace(e, checks=results[e.event_id]) if e.event_id in results else e for e in events]


def insert_checks(conn: Connection, event_id: str, results: Sequence[CheckResult]) -> None:
    """Record the QC results of a move, in the move's own transaction."""
    for r in results:
        number = float(r.value) if isinstance(r.value, (int, float)) and not isinstance(r.value, bool) else None
        text = ("true" if r.value else "false") if isinstance(r.value, bool) else ("" if number is not None else str(r.value))
        conn.execute("INSERT INTO event_checks (event_id, name, value_text, value_num, passed) VALUES (?, ?, ?, ?, ?)",
                     (event_id, r.name, text, number, int(r.passed)))


def _check_value(text: str, number: float | None) -> bool | float | str:
    if number is not None:
        return number
    return {"true": True, "false": False}.get(text, text)


def last_event(conn: Connection, piece_id: str) -> Event | None:
    row = conn.row(f"{EVENT_SELECT} WHERE piece_id = ? ORDER BY version DESC LIMIT 1", (piece_id,))
    return event_from_row(row) if row else None


def load_operator(conn: Connection, operator_id: str) -> Operator:
    row = conn.row(f"{OPERATOR_SELECT} WHERE operator_id = ?", (operator_id,))
    if row is None:
        raise NotFound(Say("unknown operator %(operator)s", operator=operator_id))
    return operator_from_row(row)


OPERATOR_SELECT = "SELECT operator_id, name, role, created, pin_hash IS NOT NULL, language FROM operators"


def operator_from_row(row: Sequence[Any]) -> Operator:
    operator_id, name, role, created, has_pin, language = row
    return Operator(operator_id, name, role, created, has_pin=bool(has_pin), language=language)


def insert_event(conn: Connection, event: Event, *, published: bool = False) -> None:
    columns = (*EVENT_COLUMNS, "published")
    conn.execute(f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                 (event.event_id, event.piece_id, event.version, event.from_stage, event.to_stage,
                  event.kind, event.station, event.operator, event.ts, event.note, int(event.override),
                  int(published)))
