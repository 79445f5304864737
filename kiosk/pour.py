"""A wax tree's pour window: the furnace range its pieces' metal pours at (the site's metals table)."""

from __future__ import annotations

from typing import Mapping

from benchpin.config import MetalSettings
from kiosk.ledger import Tree
from kiosk.ledger.says import Many, Say

CASTING = "casting"  # the stage whose furnace a tree's pour window is for


def tree_window(tree: Tree, metals: Mapping[str, MetalSettings]) -> tuple[str, tuple[float, float]] | Say:
    """``(metal, (min_c, max_c))`` for the tree's pieces at casting, or why there is none.

    Metals that share a window pour as one (vermeil is cast in 925 silver): ``metal`` then lists
    them, comma-separated.
    """
    names = sorted({p.metal for p in tree.pieces if p.stage == CASTING})
    if not names:
        return Say("no piece at casting")
    missing = [m for m in names if m not in metals or metals[m].pour_c[1] <= 0]
    if missing:
        return Say("no pour window for %(metals)s ([metals.<name>] pour_c)", metals=Many(tuple(missing)))
    windows = {metals[m].pour_c for m in names}
    if len(windows) != 1:
        return Say("its metals at casting (%(metals)s) pour at %(count)d different windows", metals=Many(tuple(names)),
                   count=len(windows))
    return ", ".join(names), windows.pop()
