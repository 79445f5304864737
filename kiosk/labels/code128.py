"""Code 128 as pure functions: the symbol values of a text and the bars they draw.

:func:`symbols` encodes printable ASCII (space to ``~``) in code set B, switching to code set C
(two digits per symbol) for runs of digits long enough to save space: four or more at the start
or the end of the text, six or more in the middle, as ISO/IEC 15417 Annex E advises. An odd
run keeps its first digit in B. The result runs start, data, checksum (the start value plus
each data value times its position, modulo 103), stop. :func:`modules` turns symbols into bar
and space widths; :func:`bars` into one boolean per module (True = bar), quiet zones included.
:func:`decode_symbols` reads symbol values back to text; it is the tests' independent check.
"""

from __future__ import annotations

from typing import Sequence

# Bar/space widths (bar first) of the symbol values 0..106; 106 is the stop (with its final bar).
PATTERNS: tuple[str, ...] = (
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212", "221213",
    "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221", "223211", "221132",
    "221231", "213212", "223112", "312131", "311222", "321122", "321221", "312212", "322112", "322211",
    "212123", "212321", "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313",
    "231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121", "313121", "211331",
    "231131", "213113", "213311", "213131", "311123", "311321", "331121", "312113", "312311", "332111",
    "314111", "221411", "431111", "111224", "111422", "121124", "121421", "141122", "141221", "112214",
    "112412", "122114", "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111",
    "111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311", "113141",
    "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
)

START_A, START_B, START_C = 103, 104, 105
CODE_B, CODE_C = 100, 99  # the switch values: 100 means "to B" in set C, 99 "to C" in set B
STOP = 106
QUIET_MODULES = 10  # the clear space each side, in modules (the standard's minimum)


class Code128Error(ValueError):
    """A text Code 128 (sets B and C) cannot carry."""


def check_text(text: str) -> str | None:
    """Return why ``text`` cannot be encoded, or None when it can."""
    if not text:
        return "nothing to encode"
    for char in text:
        if not " " <= char <= "~":
            return f"character {char!r} is not printable ASCII (Code 128 set B carries space to '~')"
    return None


def _digit_run(text: str, start: int) -> int:
    end = start
    while end < len(text) and text[end].isdigit():
        end += 1
    return end - start


def _wants_c(text: str, i: int, run: int) -> bool:
    at_start, at_end = i == 0, i + run == len(text)
    if at_start and at_end:
        return run >= 2 and run % 2 == 0 or run >= 4
    return run >= (4 if at_start or at_end else 6)


def symbols(text: str) -> list[int]:
    """Return the symbol values of ``text``: start, data, checksum, stop."""
    if problem := check_text(text):
        raise Code128Error(problem)
    values: list[int] = []
    current: str | None = None
    i = 0
    while i < len(text):
        run = _digit_run(text, i)
        if run and _wants_c(text, i, run):
            if run % 2:  # the odd digit goes in B, before the pairs
                if current != "B":
                    values.append(START_B if current is None else CODE_B)
                    current = "B"
                values.append(ord(text[i]) - 32)
                i, run = i + 1, run - 1
            values.append(START_C if current is None else CODE_C)
            current = "C"
            for j in range(i, i + run, 2):
                values.append(int(text[j:j + 2]))
            i += run
            continue
        if current != "B":
            values.append(START_B if current is None else CODE_B)
            current = "B"
        values.append(ord(text[i]) - 32)
        i += 1
    return values + [checksum(values), STOP]


def checksum(values: Sequence[int]) -> int:
    """Return the check value of a start value followed by data values."""
    return (values[0] + sum(pos * value for pos, value in enumerate(values[1:], start=1))) % 103


def modules(values: Sequence[int]) -> list[int]:
    """Return the widths in modules of alternating bars and spaces (bar first) of ``values``."""
    return [int(w) for value in values for w in PATTERNS[value]]


def bars(text: str, *, quiet: int = QUIET_MODULES) -> list[bool]:
    """Return one flag per module of ``text``'s symbol (True = bar), ``quiet`` clear modules each side."""
    out = [False] * quiet
    for n, width in enumerate(modules(symbols(text))):
        out.extend([n % 2 == 0] * width)
    return out + [False] * quiet


def decode_symbols(values: Sequence[int]) -> str:
    """Read symbol values (start … checksum, stop) back to text; raise ValueError if malformed."""
    if len(values) < 3 or values[-1] != STOP:
        raise ValueError("no stop symbol")
    if values[0] not in (START_B, START_C):
        raise ValueError(f"unexpected start {values[0]}")
    body, check = list(values[:-2]), values[-2]
    if checksum(body) != check:
        raise ValueError(f"checksum {check}, expected {checksum(body)}")
    current = "B" if body[0] == START_B else "C"
    out = []
    for value in body[1:]:
        if current == "B" and value == CODE_C:
            current = "C"
        elif current == "C" and value == CODE_B:
            current = "B"
        elif current == "B" and value < 95:
            out.append(chr(value + 32))
        elif current == "C" and value < 100:
            out.append(f"{value:02d}")
        else:
            raise ValueError(f"value {value} is no data in set {current}")
    return "".join(out)
