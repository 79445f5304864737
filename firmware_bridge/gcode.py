"""Text → laser G-code for GRBL 1.1 in laser mode (``$32=1``).

:func:`render_text` lays a serial number out in the single-stroke font of
:mod:`firmware_bridge.font_data` at a cap height in mm, shrinking it if needed to fit a
maximum width, from an origin along one of four directions, and returns the G-code program:
millimetres, absolute, laser off for every rapid move (``G0``; laser mode never fires on G0),
``M4`` dynamic power (the beam scales with speed, so corners do not burn deeper), power ``S``
and feed ``F`` per material, then ``M5`` and a rapid back to the origin.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.font_data import CAP_UNITS, GLYPHS, SPACING_UNITS

DIRECTIONS = ("+x", "-x", "+y", "-y")


class TextLayoutError(ValueError):
    """The text cannot be engraved as asked (unknown characters, too long for the width)."""


@dataclass(frozen=True)
class LaserSettings:
    """Power ``S`` (0..GRBL's ``$30``, 1000 by default) and feed ``F`` in mm/min for a material."""

    power: int
    feed_mm_min: float


@dataclass(frozen=True)
class Layout:
    cap_height_mm: float
    max_width_mm: float
    origin_x_mm: float = 0.0
    origin_y_mm: float = 0.0
    direction: str = "+x"  # the way the text runs on the machine's bed
    min_cap_height_mm: float = 0.3  # shrinking to fit stops here: below it the text is refused


@dataclass(frozen=True)
class GlyphBox:
    """Where one character's box lies on the bed (machine mm, x0 <= x1, y0 <= y1)."""

    char: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class EngravingProgram:
    lines: tuple[str, ...]
    cap_height_mm: float  # as laid out: smaller than asked when the text was shrunk to fit
    width_mm: float
    boxes: tuple[GlyphBox, ...]


def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _parse_stroke(stroke: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in stroke.split())]


def check_text(text: str) -> str:
    """Return ``text`` upper-cased, or raise naming the characters the font lacks."""
    upper = text.upper()
    missing = sorted({c for c in upper if c not in GLYPHS})
    if not upper.strip():
        raise TextLayoutError("the text to engrave is empty")
    if missing:
        raise TextLayoutError(f"the engraving font has no glyph for {''.join(missing)!r} "
                              f"(it has A-Z, 0-9, space and -./#)")
    return upper


def _place(layout: Layout, u: float, v: float) -> tuple[float, float]:
    """Map text coordinates (u along the baseline, v up, mm) to the bed."""
    ox, oy = layout.origin_x_mm, layout.origin_y_mm
    return {"+x": (ox + u, oy + v), "-x": (ox - u, oy - v),
            "+y": (ox - v, oy + u), "-y": (ox + v, oy - u)}[layout.direction]


def render_text(text: str, layout: Layout, laser: LaserSettings) -> EngravingProgram:
    """Lay ``text`` out and return the G-code that engraves it."""
    if layout.direction not in DIRECTIONS:
        raise TextLayoutError(f"direction must be one of {', '.join(DIRECTIONS)} (got {layout.direction!r})")
    upper = check_text(text)
    units = sum(GLYPHS[c][0] for c in upper) + SPACING_UNITS * (len(upper) - 1)
    scale = layout.cap_height_mm / CAP_UNITS
    if units * scale > layout.max_width_mm:
        scale = layout.max_width_mm / units
        if scale * CAP_UNITS < layout.min_cap_height_mm:
            raise TextLayoutError(
                f"{len(upper)} characters do not fit in {layout.max_width_mm:g} mm: they would be "
                f"{scale * CAP_UNITS:.2f} mm high, below the {layout.min_cap_height_mm:g} mm minimum")
    cap = scale * CAP_UNITS
    lines = ["G21", "G90", "M5"]
    boxes = []
    feed_set = laser_on = False
    cursor = 0.0
    for char in upper:
        width, strokes = GLYPHS[char]
        corners = [_place(layout, cursor + du * width * scale, dv * cap) for du in (0, 1) for dv in (0, 1)]
        xs, ys = [p[0] for p in corners], [p[1] for p in corners]
        boxes.append(GlyphBox(char, min(xs), min(ys), max(xs), max(ys)))
        for stroke in strokes:
            points = [_place(layout, cursor + x * scale, y * scale) for x, y in _parse_stroke(stroke)]
            lines.append(f"G0 X{_num(points[0][0])} Y{_num(points[0][1])}")
            if not laser_on:
                lines.append(f"M4 S{laser.power}")
                laser_on = True
            for x, y in points[1:]:
                line = f"G1 X{_num(x)} Y{_num(y)}"
                if not feed_set:
                    line += f" F{_num(laser.feed_mm_min)}"
                    feed_set = True
                lines.append(line)
        cursor += (width + SPACING_UNITS) * scale
    lines += ["M5", f"G0 X{_num(layout.origin_x_mm)} Y{_num(layout.origin_y_mm)}", "M2"]
    width_mm = units * scale
    return EngravingProgram(tuple(lines), cap, width_mm, tuple(boxes))


@dataclass(frozen=True)
class ProgramExtent:
    """Where a program moves (work mm, absolute) and the highest power ``S`` it asks for."""

    x0: float
    y0: float
    x1: float
    y1: float
    max_power: float


def program_extent(lines: tuple[str, ...] | list[str]) -> ProgramExtent:
    """Return the box every ``X``/``Y`` target of ``lines`` lies in and their highest ``S``.

    Meant for the absolute (``G90``) programs :func:`render_text` writes; the starting point
    of the first move is not known here, so only targets count.
    """
    xs: list[float] = []
    ys: list[float] = []
    power = 0.0
    for line in lines:
        for word in line.upper().split():
            letter, value = word[:1], word[1:]
            try:
                number = float(value)
            except ValueError:
                continue
            if letter == "X":
                xs.append(number)
            elif letter == "Y":
                ys.append(number)
            elif letter == "S":
                power = max(power, number)
    if not xs:
        xs = [0.0]
    if not ys:
        ys = [0.0]
    return ProgramExtent(min(xs), min(ys), max(xs), max(ys), power)
