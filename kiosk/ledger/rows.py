"""Row ↔ record conversion and the read queries shared by the ledger's operations."""

from __future__ import annotations

from typing import Any, Sequence

from kiosk.ledger.db import Connection
from kiosk.ledger.model import Event, NotFound, Operator, Piece
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
        raise NotFound(f"unknown piece {piece_id}")
    return piece_from_row(row)


def load_history(conn: Connection, piece_id: str) -> list[Event]:
    return [event_from_row(r) for r in conn.rows(f"{EVENT_SELECT} WHERE piece_id = ? ORDER BY version",
                                                 (piece_id,))]


def last_event(conn: Connection, piece_id: str) -> Event | None:
    row = conn.row(f"{EVENT_SELECT} WHERE piece_id = ? ORDER BY version DESC LIMIT 1", (piece_id,))
    return event_from_row(row) if row else None


def load_operator(conn: Connection, operator_id: str) -> Operator:
    row = conn.row(f"{OPERATOR_SELECT} WHERE operator_id = ?", (operator_id,))
    if row is None:
        raise NotFound(f"unknown operator {operator_id}")
    return operator_from_row(row)


OPERATOR_SELECT = "SELECT operator_id, name, role, created, pin_hash IS NOT NULL FROM operators"


def operator_from_row(row: Sequence[Any]) -> Operator:
    operator_id, name, role, created, has_pin = row
    return Operator(operator_id, name, role, created, has_pin=bool(has_pin))


def insert_event(conn: Connection, event: Event, *, published: bool = False) -> None:
    columns = (*EVENT_COLUMNS, "published")
    conn.execute(f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                 (event.event_id, event.piece_id, event.version, event.from_stage, event.to_stage,
                  event.kind, event.station, event.operator, event.ts, event.note, int(event.override),
                  int(published)))
