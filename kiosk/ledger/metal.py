"""Metal accounting: the weight a move carries, the loss at the stage it leaves, the loss report.

A move may carry the piece's weight (``weight_g``): the weight out of the stage it leaves and
into the one it enters. When the piece's entry into the stage it leaves was weighed too, the
difference is that stage's loss, in grams and in fine grams (grams × the metal's fineness: a
plated piece counts by its base metal). A loss outside the stage's ``loss_pct`` is flagged for a
supervisor's review and needs a reason (the move's note).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Mapping

from benchpin.contract import METALS
from kiosk.ledger.db import Connection
from kiosk.ledger.model import MoveRefused, Piece
from kiosk.ledger import says
from kiosk.ledger.says import Say

WEIGHT_MAX_G = 100_000.0  # a bench balance weighs grams to a few kilograms; more is a typo
BY = ("stage", "operator", "metal")
REFINING_SOURCES = ("scrap", "filings", "sprues", "polishing", "other")
TREE_WEIGHTS = ("wax", "issued", "sprues", "scrap")  # what a tree's casting records


@dataclass(frozen=True)
class Weighing:
    """What a weight carried by a move means for the stage the piece leaves."""

    grams: float
    fine_g: float
    in_g: float | None  # the weight the piece entered that stage with, if it was weighed
    loss_g: float | None
    loss_fine_g: float | None
    loss_pct: float | None
    flagged: bool


def fineness(metal: str, rates: Mapping[str, float] | None = None) -> float:
    """Fine metal per gram: the site's ``[metals.<name>] fineness`` if given, else the contract's."""
    if rates is not None and metal in rates:
        return rates[metal]
    known = METALS.get(metal)
    return known.fineness if known else 0.0


def check_weight(weight_g: object) -> float:
    """A weight as the API or a screen sends it, or MoveRefused saying what is wrong."""
    if isinstance(weight_g, bool) or not isinstance(weight_g, (int, float)):
        raise MoveRefused(Say("weight_g must be a number of grams"))
    grams = float(weight_g)
    if not 0.0 < grams <= WEIGHT_MAX_G:
        raise MoveRefused(Say("weight_g must be more than 0 and at most %(most)s g (got %(grams)s)",
                              most="%g" % WEIGHT_MAX_G, grams="%g" % grams))
    return grams


def weigh(conn: Connection, piece: Piece, grams: float, expected: tuple[float, float] | None, note: str,
          stage_name: str, rates: Mapping[str, float] | None = None) -> Weighing:
    """Judge a weight carried out of the piece's current stage (inside the move's transaction)."""
    entered = conn.row("SELECT w.grams FROM weights w JOIN events e ON e.event_id = w.event_id "
                       "WHERE e.piece_id = ? AND e.version = ?", (piece.piece_id, piece.version))
    rate = fineness(piece.metal, rates)
    if entered is None:
        return Weighing(grams, grams * rate, None, None, None, None, False)
    in_g = float(entered[0])
    loss = in_g - grams
    pct = loss / in_g * 100.0
    flagged = expected is not None and not expected[0] <= pct <= expected[1]
    if flagged and not note.strip():
        assert expected is not None
        raise MoveRefused(Say("%(piece)s lost %(loss)s g (%(pct)s %%) at %(stage)s, outside the expected "
                              "%(low)s–%(high)s %%: say why in the note (it goes to a supervisor's review)",
                              piece=piece.piece_id, loss="%.3f" % loss, pct="%.2f" % pct,
                              stage=says.stage(stage_name, words=True), low="%g" % expected[0],
                              high="%g" % expected[1]))
    return Weighing(grams, grams * rate, in_g, loss, loss * rate, pct, flagged)


def record(conn: Connection, event_id: str, piece: Piece, to_stage: str, weighing: Weighing, *, manual: bool,
           operator: str, ts: str, reason: str) -> None:
    conn.execute("INSERT INTO weights (event_id, piece_id, from_stage, to_stage, metal, grams, fine_g, manual, in_g, "
                 "loss_g, loss_fine_g, flagged, reason, operator, ts) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (event_id, piece.piece_id, piece.stage, to_stage, piece.metal, weighing.grams, weighing.fine_g,
                  int(manual), weighing.in_g, weighing.loss_g, weighing.loss_fine_g, int(weighing.flagged),
                  reason if weighing.flagged else "", operator, ts))


def weights(conn: Connection, piece_id: str) -> list[dict[str, Any]]:
    """The piece's weights, oldest first, as the API and the history show them."""
    found = conn.rows("SELECT event_id, from_stage, to_stage, grams, fine_g, manual, in_g, loss_g, loss_fine_g, "
                      "flagged, reason, operator, ts FROM weights WHERE piece_id = ? ORDER BY ts", (piece_id,))
    return [{"event_id": r[0], "from": r[1], "to": r[2], "grams": r[3], "fine_g": round(r[4], 4),
             "manual": bool(r[5]), "in_g": r[6], "loss_g": _round(r[7]), "loss_fine_g": _round(r[8]),
             "flagged": bool(r[9]), "reason": r[10], "operator": r[11], "ts": r[12]} for r in found]


def loss_report(conn: Connection, start: str, end: str, by: str) -> list[dict[str, Any]]:
    """Metal in, out and lost per ``by`` (stage, operator or metal), over the weighings in [start, end)."""
    if by not in BY:
        raise MoveRefused(Say("by must be one of %(choices)s (got %(by)s)", choices=", ".join(BY), by=repr(by)))
    column = {"stage": "from_stage", "operator": "operator", "metal": "metal"}[by]
    found = conn.rows(f"SELECT {column}, in_g, grams, loss_g, loss_fine_g, flagged FROM weights "
                      "WHERE ts >= ? AND ts < ? AND loss_g IS NOT NULL", (start, end))
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    for key, in_g, out_g, loss_g, loss_fine_g, flagged in found:
        row = totals[key]
        for i, value in enumerate((in_g, out_g, loss_g, loss_fine_g, 1, flagged)):
            row[i] += float(value)
    return [{"key": key, by: key, "in_g": round(t[0], 3), "out_g": round(t[1], 3), "loss_g": round(t[2], 3),
             "loss_fine_g": round(t[3], 3), "loss_pct": round(t[2] / t[0] * 100.0, 2) if t[0] else None,
             "weighings": int(t[4]), "flagged": int(t[5])}
            for key, t in sorted(totals.items())]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def add_lot(conn: Connection, lot_id: str, *, metal: str, source: str, grams: float, pieces: tuple[str, ...],
            note: str, operator: str, station: str, ts: str, rates: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Record metal returned to refining; refuse an unknown metal or source."""
    if metal not in METALS:
        raise MoveRefused(Say("unknown metal %(metal)s (one of %(choices)s)", metal=repr(metal),
                              choices=", ".join(METALS)))
    if source not in REFINING_SOURCES:
        raise MoveRefused(Say("source must be one of %(choices)s (got %(source)s)",
                              choices=", ".join(REFINING_SOURCES), source=repr(source)))
    lot = {"lot_id": lot_id, "metal": metal, "source": source, "grams": grams, "fine_g": round(grams * fineness(metal, rates), 4),
           "pieces": list(pieces), "note": note, "operator": operator, "station": station, "ts": ts}
    conn.execute("INSERT INTO refining_lots (lot_id, metal, source, grams, fine_g, pieces, note, operator, station, ts) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (lot_id, metal, source, grams, lot["fine_g"], ",".join(pieces), note, operator, station, ts))
    return lot


def lots(conn: Connection, start: str, end: str) -> list[dict[str, Any]]:
    """The refining lots recorded in [start, end), oldest first."""
    found = conn.rows("SELECT lot_id, metal, source, grams, fine_g, pieces, note, operator, station, ts "
                      "FROM refining_lots WHERE ts >= ? AND ts < ? ORDER BY ts", (start, end))
    return [{"lot_id": r[0], "metal": r[1], "source": r[2], "grams": r[3], "fine_g": r[4],
             "pieces": [p for p in r[5].split(",") if p], "note": r[6], "operator": r[7], "station": r[8],
             "ts": r[9]} for r in found]


def set_tree_weight(conn: Connection, tree_id: str, kind: str, grams: float, *, manual: bool, operator: str,
                    ts: str) -> None:
    """Record (or correct: the last one counts) one of a tree's casting weights."""
    if kind not in TREE_WEIGHTS:
        raise MoveRefused(Say("a tree weight is one of %(choices)s (got %(kind)s)", choices=", ".join(TREE_WEIGHTS),
                              kind=repr(kind)))
    conn.execute("INSERT INTO tree_weights (tree_id, kind, grams, manual, operator, ts) VALUES (?, ?, ?, ?, ?, ?) "
                 "ON CONFLICT (tree_id, kind) DO UPDATE SET grams = excluded.grams, manual = excluded.manual, "
                 "operator = excluded.operator, ts = excluded.ts",
                 (tree_id, kind, grams, int(manual), operator, ts))


def casting(conn: Connection, tree_id: str) -> dict[str, Any]:
    """A tree's casting yield: metal issued, what came back (pieces, sprues, scrap) and the loss."""
    found = {r[0]: float(r[1]) for r in conn.rows("SELECT kind, grams FROM tree_weights WHERE tree_id = ?",
                                                     (tree_id,))}
    pieces = conn.rows("SELECT w.grams FROM weights w JOIN pieces p ON p.piece_id = w.piece_id "
                       "WHERE p.tree_id = ? AND w.from_stage = 'casting'", (tree_id,))
    pieces_g = sum(float(r[0]) for r in pieces) if pieces else None
    issued = found.get("issued")
    back = None if pieces_g is None else pieces_g + found.get("sprues", 0.0) + found.get("scrap", 0.0)
    return {"wax_g": found.get("wax"), "issued_g": issued, "pieces_g": _round(pieces_g),
            "pieces_weighed": len(pieces), "sprues_g": found.get("sprues"), "scrap_g": found.get("scrap"),
            "yield_pct": round(pieces_g / issued * 100.0, 2) if issued and pieces_g is not None else None,
            "loss_g": _round(issued - back) if issued is not None and back is not None else None}
