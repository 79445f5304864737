"""Where things go on a label, in printer dots: one layout drawn by every output (ZPL, PNG, PDF).

The default is the common 2.25" × 1.25" job-bag label (57 × 32 mm) at 203 dpi. The barcode
takes the top of the label at the widest whole module (1 to 4 dots) that leaves the standard
quiet zone of 10 modules each side; the id follows in text, then the label's lines, each cut
to the width with an ellipsis. :class:`LayoutError` says when a label is too small for its id.

With ``datamatrix=True`` a Data Matrix of the id stands beside the Code 128, to its right, in
the band the bars take (so the text under them keeps the whole width): the Code 128 keeps the
widest module that leaves the Data Matrix modules of at least 0.25 mm, and the Code 128's right
quiet zone is also the Data Matrix's left one.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.labels.code128 import QUIET_MODULES, bars
from kiosk.labels.content import Label
from kiosk.labels.datamatrix import QUIET_MODULES as MATRIX_QUIET_MODULES
from kiosk.labels.datamatrix import DataMatrixError, modules as matrix_modules

MAX_MODULE = 4
MIN_BAR_HEIGHT_MM = 4.0
CHAR_WIDTH = 0.56  # average glyph width over glyph height, for cutting lines to the width
MIN_MATRIX_MODULE_MM = 0.25  # smaller Data Matrix modules are past what common 2D imagers resolve
MAX_MATRIX_MODULE_MM = 0.5


class LayoutError(ValueError):
    """A label too small for what it must carry; ``dimension`` is ``width_mm`` or ``height_mm``."""

    def __init__(self, message: str, dimension: str) -> None:
        super().__init__(message)
        self.dimension = dimension


@dataclass(frozen=True)
class LabelSize:
    width_mm: float = 57.0
    height_mm: float = 32.0
    dpi: int = 203

    def dots(self, mm: float) -> int:
        return round(mm * self.dpi / 25.4)

    @property
    def width(self) -> int:
        return self.dots(self.width_mm)

    @property
    def height(self) -> int:
        return self.dots(self.height_mm)


@dataclass(frozen=True)
class Barcode:
    """A Code 128 symbol: ``x``, ``y`` of its first bar, ``module`` dots wide, ``height`` dots tall."""

    x: int
    y: int
    module: int
    height: int
    data: str
    modules: tuple[bool, ...]  # without quiet zones

    @property
    def width(self) -> int:
        return self.module * len(self.modules)


@dataclass(frozen=True)
class Matrix:
    """A Data Matrix symbol: ``x``, ``y`` of its top-left module, each ``module`` dots square."""

    x: int
    y: int
    module: int
    data: str
    modules: tuple[tuple[bool, ...], ...]  # rows top to bottom, True = dark; without quiet zone

    @property
    def width(self) -> int:
        return self.module * len(self.modules)


@dataclass(frozen=True)
class Text:
    """One line of text with its top-left corner at ``x``, ``y``, ``height`` dots tall."""

    x: int
    y: int
    height: int
    text: str


@dataclass(frozen=True)
class Layout:
    size: LabelSize
    label: Label
    barcode: Barcode
    texts: tuple[Text, ...]
    matrix: Matrix | None = None


def fit(text: str, height: int, width: int) -> str:
    """Cut ``text`` to what fits in ``width`` dots at ``height`` (an ellipsis marks the cut)."""
    most = max(1, int(width / (height * CHAR_WIDTH)))
    return text if len(text) <= most else text[:max(0, most - 1)].rstrip() + "…"


def _beside(label: Label, size: LabelSize, flags: tuple[bool, ...], band: tuple[int, int]) -> tuple[int, int, Matrix]:
    """Return the Code 128 module, its first bar's x and the Data Matrix placed to its right."""
    try:
        cells = matrix_modules(label.code)
    except DataMatrixError as exc:
        raise LayoutError(f"{label.code}: no Data Matrix: {exc}", "width_mm") from None
    side, quiet, bars_n = len(cells), MATRIX_QUIET_MODULES, len(flags)
    top, bar_h = band
    least = max(1, size.dots(MIN_MATRIX_MODULE_MM))
    tallest = min(size.dots(MAX_MATRIX_MODULE_MM), bar_h // (side + quiet))
    if tallest < least:
        raise LayoutError(f"{label.code}: the label is {size.height_mm:g} mm tall; its {side}x{side} Data Matrix "
                          f"needs {(side + quiet) * least * 25.4 / size.dpi:.1f} mm beside the bars, which are "
                          f"{bar_h * 25.4 / size.dpi:.1f} mm", "height_mm")
    for module in range(MAX_MODULE, 0, -1):
        room = size.width - module * (QUIET_MODULES + bars_n)  # right of the bars
        for cell in range(tallest, least - 1, -1):
            used = max(QUIET_MODULES * module, quiet * cell) + (side + quiet) * cell
            if used <= room:
                slack = (room - used) // 2  # the group stands centred on the label
                x = slack + QUIET_MODULES * module
                matrix_x = x + bars_n * module + max(QUIET_MODULES * module, quiet * cell)
                matrix_y = top + (bar_h - (side + quiet) * cell) // 2
                return module, x, Matrix(matrix_x, matrix_y, cell, label.code, cells)
    need = QUIET_MODULES + bars_n + max(QUIET_MODULES, quiet * least) + (side + quiet) * least
    raise LayoutError(f"{label.code}: its barcode and {side}x{side} Data Matrix side by side need "
                      f"{need * 25.4 / size.dpi:.1f} mm at {size.dpi} dpi; the label is {size.width_mm:g} mm wide",
                      "width_mm")


def layout(label: Label, size: LabelSize = LabelSize(), *, datamatrix: bool = False) -> Layout:
    """Place ``label`` on a label of ``size`` (with a Data Matrix when asked) or raise :class:`LayoutError`."""
    width, height = size.width, size.height
    flags = tuple(bars(label.code, quiet=0))
    module = min(MAX_MODULE, width // (len(flags) + 2 * QUIET_MODULES))
    if module < 1:
        need = (len(flags) + 2 * QUIET_MODULES) * 25.4 / size.dpi
        raise LayoutError(f"{label.code}: its barcode needs {need:.1f} mm at {size.dpi} dpi; "
                          f"the label is {size.width_mm:g} mm wide", "width_mm")
    margin = size.dots(1.5)
    code_h = max(8, round(height * 0.11))
    line_h = max(8, round(height * 0.08))
    gap = max(2, round(height * 0.02))
    lines = label.lines[:max(0, (height - 2 * margin - size.dots(MIN_BAR_HEIGHT_MM) - code_h - gap)
                              // (line_h + gap))]
    text_h = code_h + gap + len(lines) * (line_h + gap)
    bar_h = height - 2 * margin - text_h
    if bar_h < size.dots(MIN_BAR_HEIGHT_MM):
        raise LayoutError(f"{label.code}: the label is {size.height_mm:g} mm tall; the barcode and the id "
                          f"need {(size.dots(MIN_BAR_HEIGHT_MM) + code_h + 2 * margin) * 25.4 / size.dpi:.1f} mm", "height_mm")
    bar_h = min(bar_h, size.dots(15.0))
    x, matrix = (width - module * len(flags)) // 2, None
    if datamatrix:
        module, x, matrix = _beside(label, size, flags, (margin, bar_h))
    barcode = Barcode(x=x, y=margin, module=module, height=bar_h, data=label.code, modules=flags)
    inner = width - 2 * margin
    y = margin + bar_h + gap
    texts = [Text(margin, y, code_h, fit(label.code, code_h, inner))]
    y += code_h + gap
    for line in lines:
        texts.append(Text(margin, y, line_h, fit(line, line_h, inner)))
        y += line_h + gap
    return Layout(size, label, barcode, tuple(texts), matrix)
