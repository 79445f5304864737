"""What a label says: a job-bag tag for a piece, a tree tag, a badge card.

Each builder turns a ledger record into a :class:`Label`: the code its barcode carries (the
id exactly as the ledger holds it, check character included when the site uses one) and the
text lines printed under the id.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchpin.contract import METALS
from kiosk.ledger import Operator, Piece, Tree

PIECE, TREE, BADGE = "piece", "tree", "badge"


@dataclass(frozen=True)
class Label:
    """One label: ``code`` goes in the barcode and, as text, under it; then ``lines``."""

    kind: str  # PIECE | TREE | BADGE
    code: str
    lines: tuple[str, ...] = ()


def metal_text(metal: str) -> str:
    """Return a metal as a jeweller reads it: its label and hallmark (``925 silver · 925``)."""
    known = METALS.get(metal)
    if known is None:
        return metal
    return f"{known.label} · {known.hallmark}"


def _size(piece: Piece) -> str:
    if piece.ring_size:
        return f"ring {piece.ring_size}"
    if piece.chain_length_cm is not None:
        return f"chain {piece.chain_length_cm:g} cm"
    return ""


def piece_label(piece: Piece) -> Label:
    """The job-bag tag: id, style, metal and hallmark, order and ring size or chain length."""
    order = " · ".join(part for part in (f"order {piece.order_id}" if piece.order_id else "", _size(piece)) if part)
    lines = (piece.style, metal_text(piece.metal) if piece.metal else "", order)
    return Label(PIECE, piece.piece_id, tuple(line for line in lines if line))


def tree_label(tree: Tree) -> Label:
    """The tree tag: id, how many pieces hang on it and their metal(s)."""
    count = len(tree.pieces)
    metals = sorted({p.metal for p in tree.pieces if p.metal})
    lines = [f"wax tree · {count} piece{'s' if count != 1 else ''}"]
    lines += [metal_text(m) for m in metals] or []
    return Label(TREE, tree.tree_id, tuple(lines))


def badge_label(operator: Operator) -> Label:
    """The badge card: operator id, name and role."""
    return Label(BADGE, operator.operator_id, (operator.name, operator.role))
