"""A single-stroke engraving font for serial numbers: A–Z, 0–9, space and ``-./#``.

Each glyph is drawn on a grid with the baseline at y=0 and the cap height at y=6; ``width``
is the glyph's box (x from 0 to width) and every stroke stays inside it. A stroke is a
polyline written as ``"x,y x,y …"``; the laser burns along it without lifting. Curves are
short straight segments, which GRBL runs as fast as a laser marks them.

The glyphs live here as data rather than coming from a Hershey-font package: the maintained
one on PyPI is GPL-3.0 and parses its font database at import time, and the MIT one installs a
top-level ``tests`` package beside its own, which would shadow a project's tests. A serial
number needs 40 glyphs; a test draws them all and checks every stroke stays in its box.
"""

from __future__ import annotations

CAP_UNITS = 6.0
SPACING_UNITS = 1.5  # gap between glyph boxes

_O = "1,0 0,1 0,5 1,6 3,6 4,5 4,1 3,0 1,0"

GLYPHS: dict[str, tuple[float, tuple[str, ...]]] = {
    "A": (4, ("0,0 2,6 4,0", "0.667,2 3.333,2")),
    "B": (4, ("0,0 0,6 3,6 4,5 4,4 3,3 0,3", "3,3 4,2 4,1 3,0 0,0")),
    "C": (4, ("4,5 3,6 1,6 0,5 0,1 1,0 3,0 4,1",)),
    "D": (4, ("0,0 0,6 2.5,6 4,4.5 4,1.5 2.5,0 0,0",)),
    "E": (4, ("4,6 0,6 0,0 4,0", "0,3 3,3")),
    "F": (4, ("4,6 0,6 0,0", "0,3 3,3")),
    "G": (4, ("4,5 3,6 1,6 0,5 0,1 1,0 3,0 4,1 4,3 2,3",)),
    "H": (4, ("0,0 0,6", "4,0 4,6", "0,3 4,3")),
    "I": (2, ("0,6 2,6", "1,6 1,0", "0,0 2,0")),
    "J": (4, ("4,6 4,1 3,0 1,0 0,1",)),
    "K": (4, ("0,0 0,6", "4,6 0,2", "1.333,3.333 4,0")),
    "L": (4, ("0,6 0,0 4,0",)),
    "M": (4, ("0,0 0,6 2,3 4,6 4,0",)),
    "N": (4, ("0,0 0,6 4,0 4,6",)),
    "O": (4, (_O,)),
    "P": (4, ("0,0 0,6 3,6 4,5 4,4 3,3 0,3",)),
    "Q": (4, (_O, "2.5,1.5 4,0")),
    "R": (4, ("0,0 0,6 3,6 4,5 4,4 3,3 0,3", "2,3 4,0")),
    "S": (4, ("4,5 3,6 1,6 0,5 0,4 1,3 3,3 4,2 4,1 3,0 1,0 0,1",)),
    "T": (4, ("0,6 4,6", "2,6 2,0")),
    "U": (4, ("0,6 0,1 1,0 3,0 4,1 4,6",)),
    "V": (4, ("0,6 2,0 4,6",)),
    "W": (4, ("0,6 1,0 2,4 3,0 4,6",)),
    "X": (4, ("0,0 4,6", "0,6 4,0")),
    "Y": (4, ("0,6 2,3 4,6", "2,3 2,0")),
    "Z": (4, ("0,6 4,6 0,0 4,0",)),
    "0": (4, (_O, "4,5 0,1")),
    "1": (4, ("1,5 2,6 2,0", "1,0 3,0")),
    "2": (4, ("0,5 1,6 3,6 4,5 4,4 0,0 4,0",)),
    "3": (4, ("0,5 1,6 3,6 4,5 4,4 3,3 1.5,3", "3,3 4,2 4,1 3,0 1,0 0,1")),
    "4": (4, ("3,0 3,6 0,2 4,2",)),
    "5": (4, ("4,6 0,6 0,3 3,3 4,2 4,1 3,0 1,0 0,1",)),
    "6": (4, ("4,5 3,6 1,6 0,5 0,1 1,0 3,0 4,1 4,2 3,3 0,3",)),
    "7": (4, ("0,6 4,6 1.5,0",)),
    "8": (4, ("1,3 0,4 0,5 1,6 3,6 4,5 4,4 3,3 1,3 0,2 0,1 1,0 3,0 4,1 4,2 3,3",)),
    "9": (4, ("4,3 1,3 0,4 0,5 1,6 3,6 4,5 4,1 3,0 1,0 0,1",)),
    "-": (3, ("0,3 3,3",)),
    ".": (1, ("0.3,0 0.7,0 0.7,0.4 0.3,0.4 0.3,0",)),
    "/": (3, ("0,0 3,6",)),
    "#": (4, ("1.333,0.5 1.333,5.5", "2.667,0.5 2.667,5.5", "0,2 4,2", "0,4 4,4")),
    " ": (3, ()),
}
