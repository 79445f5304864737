"""Data Matrix (ECC 200, ISO/IEC 16022) as pure functions: a text's codewords and the modules they draw.

:func:`codewords` is ASCII encodation: a pair of digits is one codeword (130 + the pair), any
other character below 128 its code plus one, a character from 128 to 255 the upper shift 235
then its code minus 127. :func:`symbol_for` picks the smallest square symbol (10×10 to 48×48)
that holds them; :func:`padded` fills the rest with 129 then the 253-state randomised pad;
:func:`error_correction` adds the Reed–Solomon codewords over GF(256) (polynomial 0x12D,
generator roots 2¹ … 2ⁿ). :func:`placement` is the "utah" module placement of Annex F and
:func:`modules` the whole symbol: each data region with its finder (solid left and bottom
edges) and timing (alternating top and right edges) pattern, as rows of booleans (True = dark),
without the quiet zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

QUIET_MODULES = 2  # the standard asks one module of clear space; two forgive a rough label edge
PAD = 129
UPPER_SHIFT = 235
LIGHT, DARK = -1, -2  # the fixed modules of placement() that carry no codeword bit

Matrix = tuple[tuple[bool, ...], ...]


class DataMatrixError(ValueError):
    """A text the encoder cannot carry: empty, a character above 255, or too long for 48×48."""


@dataclass(frozen=True)
class SymbolSize:
    """A square ECC 200 symbol: ``size`` modules a side, its codewords and its data regions."""

    size: int
    data: int  # data codewords it holds
    ecc: int  # Reed–Solomon codewords (one block up to 48×48)
    regions: int = 1  # data regions a side

    @property
    def region(self) -> int:
        """Modules a side of one data region (without its finder and timing edges)."""
        return (self.size - 2 * self.regions) // self.regions

    @property
    def mapping(self) -> int:
        """Modules a side of the mapping matrix: the data regions side by side, edges left out."""
        return self.region * self.regions


# ISO/IEC 16022 Table 7, the square sizes with one Reed–Solomon block.
SIZES: tuple[SymbolSize, ...] = (
    SymbolSize(10, 3, 5), SymbolSize(12, 5, 7), SymbolSize(14, 8, 10), SymbolSize(16, 12, 12),
    SymbolSize(18, 18, 14), SymbolSize(20, 22, 18), SymbolSize(22, 30, 20), SymbolSize(24, 36, 24),
    SymbolSize(26, 44, 28), SymbolSize(32, 62, 36, 2), SymbolSize(36, 86, 42, 2), SymbolSize(40, 114, 48, 2),
    SymbolSize(44, 144, 56, 2), SymbolSize(48, 174, 68, 2),
)


def check_text(text: str) -> str | None:
    """Return why ``text`` cannot be encoded, or None when it can."""
    if not text:
        return "nothing to encode"
    for char in text:
        if ord(char) > 255:
            return f"character {char!r} is outside ISO 8859-1 (ASCII encodation carries codes 0 to 255)"
    count = len(codewords_unchecked(text))
    if count > SIZES[-1].data:
        return (f"{count} codewords are more than the largest symbol here "
                f"({SIZES[-1].size}×{SIZES[-1].size}) holds: {SIZES[-1].data}")
    return None


def codewords_unchecked(text: str) -> list[int]:
    out: list[int] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isascii() and char.isdigit() and i + 1 < len(text) and text[i + 1].isascii() and text[i + 1].isdigit():
            out.append(130 + int(text[i:i + 2]))
            i += 2
            continue
        code = ord(char)
        out.extend((code + 1,) if code < 128 else (UPPER_SHIFT, code - 127))
        i += 1
    return out


def codewords(text: str) -> list[int]:
    """Return the data codewords of ``text`` in ASCII encodation (digit pairs packed), unpadded."""
    if problem := check_text(text):
        raise DataMatrixError(problem)
    return codewords_unchecked(text)


def symbol_for(count: int) -> SymbolSize:
    """Return the smallest square symbol that holds ``count`` data codewords."""
    for size in SIZES:
        if size.data >= count:
            return size
    raise DataMatrixError(f"{count} codewords are more than {SIZES[-1].size}×{SIZES[-1].size} holds")


def padded(data: Sequence[int], capacity: int) -> list[int]:
    """Fill ``data`` to ``capacity``: 129 first, then each pad randomised by its position (253-state)."""
    out = list(data)
    if len(out) < capacity:
        out.append(PAD)
    while len(out) < capacity:
        position = len(out) + 1  # codeword positions count from 1
        value = PAD + (149 * position) % 253 + 1
        out.append(value - 254 if value > 254 else value)
    return out


# ----------------------------------------------------------------------------- Reed–Solomon

def _tables() -> tuple[list[int], list[int]]:
    exp, log = [0] * 512, [0] * 256
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        value <<= 1
        if value & 0x100:
            value ^= 0x12D
    for power in range(255, 512):
        exp[power] = exp[power - 255]
    return exp, log


EXP, LOG = _tables()


def gf_mul(a: int, b: int) -> int:
    """Multiply in GF(256) with the field polynomial x⁸ + x⁵ + x³ + x² + 1 (0x12D)."""
    return 0 if a == 0 or b == 0 else EXP[LOG[a] + LOG[b]]


@lru_cache(maxsize=None)
def generator(count: int) -> tuple[int, ...]:
    """Return the generator polynomial (x − 2¹)…(x − 2ⁿ), highest power first, leading 1 included."""
    poly = [1]
    for root in range(1, count + 1):
        factor = EXP[root]
        poly = [a ^ gf_mul(b, factor) for a, b in zip(poly + [0], [0] + poly)]
    return tuple(poly)


def error_correction(data: Sequence[int], count: int) -> list[int]:
    """Return the ``count`` Reed–Solomon codewords of ``data``: the remainder of data·xⁿ by the generator."""
    gen = generator(count)[1:]
    remainder = [0] * count
    for value in data:
        lead = value ^ remainder[0]
        remainder = remainder[1:] + [0]
        if lead:
            remainder = [r ^ gf_mul(g, lead) for r, g in zip(remainder, gen)]
    return remainder


def symbol_codewords(text: str) -> tuple[SymbolSize, list[int]]:
    """Return the symbol ``text`` needs and all its codewords: data, pad, then error correction."""
    data = codewords(text)
    size = symbol_for(len(data))
    full = padded(data, size.data)
    return size, full + error_correction(full, size.ecc)


# ----------------------------------------------------------------------------- placement (Annex F)

@lru_cache(maxsize=None)
def placement(nrow: int, ncol: int) -> tuple[tuple[int, ...], ...]:
    """Return where each bit goes in an ``nrow`` × ``ncol`` mapping matrix.

    Each cell is ``8 * codeword + bit`` (codewords from 0, bit 0 the most significant) or
    :data:`LIGHT` / :data:`DARK` for the fixed corner modules of sizes the codewords do not fill.
    """
    grid: list[list[int | None]] = [[None] * ncol for _ in range(nrow)]

    def put(row: int, col: int, codeword: int, bit: int) -> None:
        if row < 0:
            row += nrow
            col += 4 - (nrow + 4) % 8
        if col < 0:
            col += ncol
            row += 4 - (ncol + 4) % 8
        grid[row][col] = 8 * codeword + bit

    def utah(row: int, col: int, codeword: int) -> None:
        for bit, (dr, dc) in enumerate(((-2, -2), (-2, -1), (-1, -2), (-1, -1), (-1, 0), (0, -2), (0, -1), (0, 0))):
            put(row + dr, col + dc, codeword, bit)

    def corner(cells: tuple[tuple[int, int], ...], codeword: int) -> None:
        for bit, (row, col) in enumerate(cells):
            put(row, col, codeword, bit)

    n, m = nrow, ncol
    corners = (
        ((n - 1, 0), (n - 1, 1), (n - 1, 2), (0, m - 2), (0, m - 1), (1, m - 1), (2, m - 1), (3, m - 1)),
        ((n - 3, 0), (n - 2, 0), (n - 1, 0), (0, m - 4), (0, m - 3), (0, m - 2), (0, m - 1), (1, m - 1)),
        ((n - 3, 0), (n - 2, 0), (n - 1, 0), (0, m - 2), (0, m - 1), (1, m - 1), (2, m - 1), (3, m - 1)),
        ((n - 1, 0), (n - 1, m - 1), (0, m - 3), (0, m - 2), (0, m - 1), (1, m - 3), (1, m - 2), (1, m - 1)),
    )
    codeword, row, col = 0, 4, 0
    while True:
        if row == n and col == 0:
            corner(corners[0], codeword)
            codeword += 1
        if row == n - 2 and col == 0 and m % 4:
            corner(corners[1], codeword)
            codeword += 1
        if row == n - 2 and col == 0 and m % 8 == 4:
            corner(corners[2], codeword)
            codeword += 1
        if row == n + 4 and col == 2 and m % 8 == 0:
            corner(corners[3], codeword)
            codeword += 1
        while True:  # up and to the right
            if 0 <= row < n and 0 <= col < m and grid[row][col] is None:
                utah(row, col, codeword)
                codeword += 1
            row, col = row - 2, col + 2
            if not (row >= 0 and col < m):
                break
        row, col = row + 1, col + 3
        while True:  # down and to the left
            if 0 <= row < n and 0 <= col < m and grid[row][col] is None:
                utah(row, col, codeword)
                codeword += 1
            row, col = row + 2, col - 2
            if not (row < n and col >= 0):
                break
        row, col = row + 3, col + 1
        if not (row < n or col < m):
            break
    if grid[n - 1][m - 1] is None:  # sizes whose codewords leave the lower right 2×2 unfilled
        grid[n - 1][m - 1] = grid[n - 2][m - 2] = DARK
        grid[n - 1][m - 2] = grid[n - 2][m - 1] = LIGHT
    return tuple(tuple(LIGHT if cell is None else cell for cell in line) for line in grid)


def mapping_matrix(size: SymbolSize, words: Sequence[int]) -> list[list[bool]]:
    """Return the mapping matrix of ``words`` placed in ``size`` (True = dark)."""
    def dark(cell: int) -> bool:
        if cell < 0:
            return cell == DARK
        return bool(words[cell // 8] >> (7 - cell % 8) & 1)

    side = size.mapping
    return [[dark(cell) for cell in line] for line in placement(side, side)]


def modules(text: str) -> Matrix:
    """Return the symbol of ``text``: rows top to bottom of modules left to right, True = dark."""
    size, words = symbol_codewords(text)
    inner = mapping_matrix(size, words)
    region, block = size.region, size.region + 2
    rows: list[tuple[bool, ...]] = []
    for y in range(size.size):
        ry, py = divmod(y, block)
        row = []
        for x in range(size.size):
            rx, px = divmod(x, block)
            if px == 0 or py == block - 1:  # finder: the solid left and bottom edges
                row.append(True)
            elif py == 0:  # timing: dark on even columns of the top edge
                row.append(px % 2 == 0)
            elif px == block - 1:  # and on odd rows of the right edge
                row.append(py % 2 == 1)
            else:
                row.append(inner[ry * region + py - 1][rx * region + px - 1])
        rows.append(tuple(row))
    return tuple(rows)
