"""Furnace charts drawn on the server as SVG: no script, no library, readable on a 7-inch screen.

:func:`furnace_svg` draws a series of ``[ts, min_c, avg_c, max_c]`` points: the min–max range
as a light band, the average as a line, the pour window as a green band, and a marked moment
(the pour) as a vertical line. :func:`window_colour` says how a temperature stands against a
window, as the stack light would show it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence
from xml.sax.saxutils import escape

from kiosk.ledger.model import parse_ts

Point = Sequence[object]  # [ts, min_c, avg_c, max_c]


def window_colour(value: float | None, window: tuple[float, float] | None) -> str:
    """``inside``, ``below`` or ``above`` the window; ``none`` without a window or a value."""
    if value is None or window is None:
        return "none"
    if value < window[0]:
        return "below"
    return "above" if value > window[1] else "inside"


def furnace_svg(points: Sequence[Point], *, window: tuple[float, float] | None = None, start: str, end: str,
                mark: str = "", width: int = 760, height: int = 220, title: str = "Furnace") -> str:
    """Draw the series over [start, end] as an SVG document (a message when there are no points)."""
    left, right, top, bottom = 52, 8, 10, 24
    t0, t1 = parse_ts(start), parse_ts(end)
    span = max((t1 - t0).total_seconds(), 1.0)
    values = [float(v) for p in points for v in (p[1], p[3]) if isinstance(v, (int, float))]
    if window:
        values += [window[0], window[1]]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'role="img" aria-label="{escape(title)}" class="chart">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>']
    if not values:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="18" fill="#4a4f55">'
                     'No furnace readings in this period yet</text></svg>')
        return "".join(parts)
    low, high = min(values), max(values)
    pad = max((high - low) * 0.08, 5.0)
    low, high = low - pad, high + pad

    def x(ts: str | datetime) -> float:
        moment = parse_ts(ts) if isinstance(ts, str) else ts
        return left + (moment - t0).total_seconds() / span * (width - left - right)

    def y(value: float) -> float:
        return top + (high - value) / (high - low) * (height - top - bottom)

    if window:
        parts.append(f'<rect class="window" x="{left}" y="{y(window[1]):.1f}" width="{width - left - right}" '
                     f'height="{max(y(window[0]) - y(window[1]), 1):.1f}" fill="#cfe9d6"/>')
    for value in _ticks(low, high):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#e4e0d6"/>'
                     f'<text x="{left - 6}" y="{y(value) + 5:.1f}" text-anchor="end" font-size="14" fill="#4a4f55">'
                     f'{value:g}</text>')
    if points:
        upper = " ".join(f"{x(str(p[0])):.1f},{y(float(p[3])):.1f}" for p in points)  # type: ignore[arg-type]
        lower = " ".join(f"{x(str(p[0])):.1f},{y(float(p[1])):.1f}" for p in reversed(points))  # type: ignore[arg-type]
        parts.append(f'<polygon class="range" points="{upper} {lower}" fill="#f3d9a4" stroke="none"/>')
        line = " ".join(f"{x(str(p[0])):.1f},{y(float(p[2])):.1f}" for p in points)  # type: ignore[arg-type]
        parts.append(f'<polyline class="avg" points="{line}" fill="none" stroke="#8a3b00" stroke-width="3"/>')
    if mark:
        parts.append(f'<line class="mark" x1="{x(mark):.1f}" x2="{x(mark):.1f}" y1="{top}" y2="{height - bottom}" '
                     'stroke="#1b2530" stroke-width="2" stroke-dasharray="6 4"/>')
    parts.append(f'<text x="{left}" y="{height - 6}" font-size="13" fill="#4a4f55">{escape(start[11:16])} UTC</text>'
                 f'<text x="{width - right}" y="{height - 6}" font-size="13" fill="#4a4f55" text-anchor="end">'
                 f'{escape(end[11:16])} UTC</text></svg>')
    return "".join(parts)


def _ticks(low: float, high: float) -> list[float]:
    """Three to six round temperature lines between ``low`` and ``high``."""
    span = high - low
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000) if span / s <= 6)
    first = (int(low // step) + 1) * step
    return [float(v) for v in range(int(first), int(high) + 1, step)]
