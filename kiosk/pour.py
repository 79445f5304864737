"""A wax tree's pour window: the furnace range its pieces' metal pours at (the site's metals table)."""

from __future__ import annotations

from typing import Mapping

from benchpin.config import MetalSettings
from kiosk.ledger import Tree

CASTING = "casting"  # the stage whose furnace a tree's pour window is for


def tree_window(tree: Tree, metals: Mapping[str, MetalSettings]) -> tuple[str, tuple[float, float]] | str:
    """``(metal, (min_c, max_c))`` for the tree's pieces at casting, or why there is none.

    Metals that share a window pour as one (vermeil is cast in 925 silver): ``metal`` then lists
    them, comma-separated.
    """
    names = sorted({p.metal for p in tree.pieces if p.stage == CASTING})
    if not names:
        return "no piece at casting"
    missing = [m for m in names if m not in metals or metals[m].pour_c[1] <= 0]
    if missing:
        return f"no pour window for {', '.join(missing)} ([metals.<name>] pour_c)"
    windows = {metals[m].pour_c for m in names}
    if len(windows) != 1:
        return f"its metals at casting ({', '.join(names)}) pour at {len(windows)} different windows"
    return ", ".join(names), windows.pop()
