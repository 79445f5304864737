"""Follow G-code line by line as a laser GRBL would: where it moves and where it burns.

The subset is what :mod:`firmware_bridge.gcode` writes and what a laser job needs: ``G0``,
``G1``, ``G21``, ``G90``, ``M2``/``M3``/``M4``/``M5``, ``F``, ``S``, ``X``, ``Y``. The
simulator uses it to time each motion; tests use it to draw the burned path.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_WORD = re.compile(r"([A-Z])(-?\d+(?:\.\d*)?|-?\.\d+)")
_SUPPORTED = {("G", 0), ("G", 1), ("G", 21), ("G", 90), ("M", 2), ("M", 3), ("M", 4), ("M", 5)}


class GcodeError(ValueError):
    """A line outside the supported subset; ``code`` is the GRBL error number it would get."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Move:
    x0: float
    y0: float
    x1: float
    y1: float
    burning: bool  # laser on (G1 with M3/M4 and S > 0): a rapid G0 never burns in laser mode
    feed: float  # mm/min; 0 for a rapid

    @property
    def length(self) -> float:
        return math.hypot(self.x1 - self.x0, self.y1 - self.y0)


class GcodeTracer:
    """Modal state of one machine: position, motion mode, feed, laser mode and power."""

    def __init__(self) -> None:
        self.x = self.y = 0.0
        self.motion = 0
        self.feed = 0.0
        self.power = 0.0
        self.laser = 5  # M5

    def feed_line(self, line: str) -> Move | None:
        """Apply one line; return the move it makes, if any."""
        text = line.strip().upper().replace(" ", "")
        if not text:
            return None
        words = _WORD.findall(text)
        if "".join(letter + value for letter, value in words) != text:
            raise GcodeError(1 if not text[0].isalpha() else 2, f"cannot read {line!r}")
        x = y = None
        for letter, value in words:
            number = float(value)
            if letter in "GM":
                if (letter, number) not in _SUPPORTED:
                    raise GcodeError(20, f"unsupported command {letter}{value}")
                if letter == "G" and number in (0, 1):
                    self.motion = int(number)
                elif letter == "M":
                    self.laser = 5 if number == 2 else int(number)
            elif letter == "F":
                self.feed = number
            elif letter == "S":
                self.power = number
            elif letter == "X":
                x = number
            elif letter == "Y":
                y = number
            else:
                raise GcodeError(20, f"unsupported word {letter}")
        if x is None and y is None:
            return None
        if self.motion == 1 and self.feed <= 0:
            raise GcodeError(22, "feed rate not set")
        move = Move(self.x, self.y, self.x if x is None else x, self.y if y is None else y,
                    self.motion == 1 and self.laser in (3, 4) and self.power > 0,
                    self.feed if self.motion == 1 else 0.0)
        self.x, self.y = move.x1, move.y1
        return move


def trace(lines: list[str] | tuple[str, ...]) -> list[Move]:
    """Return every move a program makes, in order."""
    tracer = GcodeTracer()
    return [m for m in (tracer.feed_line(line) for line in lines) if m is not None]
