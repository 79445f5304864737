"""Import of pieces from CSV: every bad row named by line and column, all rows or none."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Sequence

from benchpin.topics import utc_ts
from firmware_bridge.barcodes import BarcodeRules, validate
from kiosk.ledger.db import Connection
from kiosk.ledger.model import Event, ImportRejected, PieceSpec
from kiosk.ledger.rows import insert_event
from kiosk.ledger.workflow import Workflow

COLUMNS = ("piece_id", "route", "style", "order_id", "metal", "ring_size", "chain_length_cm",
           "metal_colour", "stone_type", "stone_colour", "stone_shape", "enamel", "tree_id")
REQUIRED = ("piece_id", "route")
# The longest value each column may hold: codes fit a barcode label, names a screen line.
# A longer value is refused (never cut), with the line and the column.
MAX_LENGTH = {"piece_id": 64, "route": 40, "style": 120, "order_id": 40, "metal": 40, "ring_size": 10,
              "chain_length_cm": 10, "metal_colour": 40, "stone_type": 60, "stone_colour": 40,
              "stone_shape": 40, "enamel": 10, "tree_id": 64}
_CODE_TAIL = re.compile(r"[A-Za-z0-9._-]{1,60}")


def parse_pieces_csv(data: bytes, workflow: Workflow, *, rules: BarcodeRules = BarcodeRules(),
                     piece_prefix: str = "PC-", tree_prefix: str = "TR-") -> list[PieceSpec]:
    """Parse a pieces CSV (UTF-8, header row) or raise :class:`ImportRejected` listing every problem.

    Piece and tree ids must be valid barcodes under ``rules`` (the site's ``[barcodes]``:
    prefixes and check character), as they will be scanned.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected([f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV"]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise ImportRejected(["line 1: no header row (expected columns such as piece_id,route,…)"])
    header = [h.strip() for h in header]
    problems = [f"line 1: {h or '(empty)'}: unknown column (known: {', '.join(COLUMNS)})"
                for h in header if h not in COLUMNS]
    problems += [f"line 1: {h}: column appears twice" for h in sorted(set(header)) if header.count(h) > 1]
    problems += [f"line 1: {h}: required column missing" for h in REQUIRED if h not in header]
    if problems:
        raise ImportRejected(problems)
    specs: list[PieceSpec] = []
    first_line: dict[str, int] = {}
    line = reader.line_num
    for fields in reader:
        start, line = line + 1, reader.line_num
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            problems.append(f"line {start}: row: has {len(fields)} fields, the header has {len(header)}")
            continue
        row = {h: f.strip() for h, f in zip(header, fields)}
        spec, row_problems = _parse_row(row, start, workflow, rules, piece_prefix, tree_prefix)
        if spec and spec.piece_id in first_line:
            row_problems.append(f"line {start}: piece_id: {spec.piece_id} is also on line {first_line[spec.piece_id]}")
        if spec:
            first_line.setdefault(spec.piece_id, start)
        problems += row_problems
        if spec and not row_problems:
            specs.append(spec)
    if problems:
        raise ImportRejected(problems)
    if not specs:
        raise ImportRejected(["the file has a header but no piece rows"])
    return specs


def _parse_row(row: dict[str, str], line: int, workflow: Workflow, rules: BarcodeRules,
               piece_prefix: str, tree_prefix: str) -> tuple[PieceSpec | None, list[str]]:
    problems: list[str] = []

    def bad(column: str, problem: str) -> None:
        problems.append(f"line {line}: {column}: {problem}")

    for column, value in row.items():
        if len(value) > MAX_LENGTH[column]:
            bad(column, f"at most {MAX_LENGTH[column]} characters (this one has {len(value)})")
        if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value):
            bad(column, "contains a control character")
    piece_id = row.get("piece_id", "")
    if not piece_id:
        bad("piece_id", "is required")
    elif not _is_code(piece_id, piece_prefix):
        bad("piece_id", f"must look like {piece_prefix}0001 (letters, digits, '-', '_', '.'; got {piece_id!r})")
    elif not (verdict := validate(piece_id, rules)).valid:
        bad("piece_id", f"{piece_id} is not a valid barcode: {verdict.reason}")
    route = row.get("route", "")
    if route not in workflow.routes:
        bad("route", f"must be one of {', '.join(workflow.routes)} (got {route!r})")
    metal = row.get("metal", "")
    if metal and metal not in workflow.metals:
        bad("metal", f"must be one of {', '.join(workflow.metals)} (got {metal!r})")
    chain = row.get("chain_length_cm", "")
    chain_cm = None
    if chain:
        try:
            chain_cm = float(chain)
        except ValueError:
            bad("chain_length_cm", f"must be a number of centimetres (got {chain!r})")
        else:
            if not 0 < chain_cm <= 300:
                bad("chain_length_cm", f"must be between 0 and 300 cm (got {chain})")
    enamel = row.get("enamel", "").lower()
    if enamel not in ("", "yes", "no"):
        bad("enamel", f"must be yes or no (got {row['enamel']!r})")
    tree_id = row.get("tree_id", "")
    if tree_id and not _is_code(tree_id, tree_prefix):
        bad("tree_id", f"must look like {tree_prefix}0001 (letters, digits, '-', '_', '.'; got {tree_id!r})")
    elif tree_id and not (verdict := validate(tree_id, rules)).valid:
        bad("tree_id", f"{tree_id} is not a valid barcode: {verdict.reason}")
    if problems:
        return (PieceSpec(piece_id=piece_id, route=route, line=line) if piece_id else None), problems
    text = {k: row.get(k, "") for k in ("style", "order_id", "ring_size", "metal_colour",
                                         "stone_type", "stone_colour", "stone_shape")}
    return PieceSpec(piece_id=piece_id, route=route, metal=metal, chain_length_cm=chain_cm,
                     enamel=enamel == "yes", tree_id=tree_id, line=line, **text), []


def _is_code(value: str, prefix: str) -> bool:
    """Say whether ``value`` is a barcode id: the prefix then ASCII letters, digits, '-', '_', '.'."""
    return value.startswith(prefix) and bool(_CODE_TAIL.fullmatch(value[len(prefix):]))


def insert_pieces(conn: Connection, workflow: Workflow, specs: Sequence[PieceSpec], *,
                  station: str, operator: str) -> int:
    """Insert pieces, their trees and creation events in the caller's transaction."""
    problems = [f"line {s.line}: route: unknown route {s.route!r}" for s in specs if s.route not in workflow.routes]
    ids = [s.piece_id for s in specs]
    existing: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        existing.update(r[0] for r in conn.rows(
            f"SELECT piece_id FROM pieces WHERE piece_id IN ({', '.join('?' * len(chunk))})", chunk))
    problems += [f"line {s.line}: piece_id: {s.piece_id} already exists in the ledger"
                 for s in specs if s.piece_id in existing]
    if problems:
        raise ImportRejected(problems)
    ts = utc_ts()
    for tree_id in sorted({s.tree_id for s in specs if s.tree_id}):
        conn.execute("INSERT INTO trees (tree_id, created) VALUES (?, ?) ON CONFLICT (tree_id) DO NOTHING",
                     (tree_id, ts))
    for s in specs:
        first = workflow.route(s.route).first(s)
        conn.execute(
            "INSERT INTO pieces (piece_id, route, stage, version, style, order_id, metal, ring_size, "
            "chain_length_cm, metal_colour, stone_type, stone_colour, stone_shape, enamel, tree_id, "
            "serial, created, updated) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            (s.piece_id, s.route, first, s.style, s.order_id, s.metal, s.ring_size, s.chain_length_cm,
             s.metal_colour, s.stone_type, s.stone_colour, s.stone_shape, int(s.enamel),
             s.tree_id or None, ts, ts))
        insert_event(conn, Event(event_id=str(uuid.uuid4()), piece_id=s.piece_id, version=0,
                                 from_stage=None, to_stage=first, kind="created", station=station,
                                 operator=operator, ts=ts, note=f"imported (line {s.line})" if s.line else "imported"),
                     published=True)  # a creation is not a move: nothing to publish
    return len(specs)
