"""USB HID boot-keyboard reports from barcode scanners: decode to codes, encode for simulators.

A scanner in keyboard mode "types" each code: every 8-byte boot report is ``modifier,
reserved, key1..key6``. A character is produced when a key code *appears* in a report (it was
not in the previous one), with the modifiers of that report; a held key repeated in later
reports is still one character, and a scanner that presses the next key before releasing the
last (rollover) is decoded in press order. Enter, keypad Enter and Tab end a code. A key the
layout does not know, a Ctrl/Alt/GUI chord or a malformed report spoils the code being typed:
it is reported as a :class:`ReadError` at its terminator, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

REPORT_SIZE = 8
MAX_CODE = 512  # characters without a terminator; real barcodes are far shorter

LEFT_SHIFT, RIGHT_SHIFT = 0x02, 0x20
SHIFTS = LEFT_SHIFT | RIGHT_SHIFT
CHORDS = 0xFF & ~SHIFTS  # Ctrl, Alt, GUI on either side

KEY_ERROR_ROLLOVER = 0x01  # "too many keys": the keyboard cannot tell which keys are down
KEY_ENTER, KEY_TAB, KEY_KP_ENTER = 0x28, 0x2B, 0x58
TERMINATORS = frozenset({KEY_ENTER, KEY_TAB, KEY_KP_ENTER})


def _us_table() -> dict[int, tuple[str, str]]:
    table: dict[int, tuple[str, str]] = {}
    for i, letter in enumerate("abcdefghijklmnopqrstuvwxyz"):
        table[0x04 + i] = (letter, letter.upper())
    for i, (digit, shifted) in enumerate(zip("1234567890", "!@#$%^&*()")):
        table[0x1E + i] = (digit, shifted)
    table.update({0x2C: (" ", " "), 0x2D: ("-", "_"), 0x2E: ("=", "+"), 0x2F: ("[", "{"),
                  0x30: ("]", "}"), 0x31: ("\\", "|"), 0x33: (";", ":"), 0x34: ("'", '"'),
                  0x35: ("`", "~"), 0x36: (",", "<"), 0x37: (".", ">"), 0x38: ("/", "?")})
    # The numeric keypad types the same character with or without Shift.
    for i, char in enumerate("123456789"):
        table[0x59 + i] = (char, char)
    table.update({0x62: ("0", "0"), 0x63: (".", "."), 0x54: ("/", "/"), 0x55: ("*", "*"),
                  0x56: ("-", "-"), 0x57: ("+", "+")})
    return table


def _de_table() -> dict[int, tuple[str, str]]:
    """German QWERTZ: Y and Z swapped, ``-``/``_`` and ``+`` on their own keys, ``/`` on Shift+7."""
    table = _us_table()
    table[0x1C], table[0x1D] = ("z", "Z"), ("y", "Y")
    for code in (0x2D, 0x2E, 0x2F, 0x30, 0x31, 0x33, 0x34, 0x35, 0x38):
        del table[code]
    table.update({0x1F: ("2", '"'), 0x20: ("3", "§"), 0x23: ("6", "&"), 0x24: ("7", "/"),
                  0x25: ("8", "("), 0x26: ("9", ")"), 0x27: ("0", "="), 0x30: ("+", "*"),
                  0x36: (",", ";"), 0x37: (".", ":"), 0x38: ("-", "_")})
    return table


class Layout:
    """A keyboard layout: HID key code → (plain character, character with Shift)."""

    def __init__(self, name: str, table: Mapping[int, tuple[str, str]]) -> None:
        self.name = name
        self.table = dict(table)
        self._keys: dict[str, tuple[int, bool]] = {}
        for code, (plain, shifted) in sorted(self.table.items()):
            self._keys.setdefault(plain, (code, False))
            self._keys.setdefault(shifted, (code, plain != shifted))

    def char(self, code: int, shifted: bool) -> str | None:
        pair = self.table.get(code)
        return None if pair is None else pair[shifted]

    def key(self, char: str) -> tuple[int, bool]:
        """Return (key code, needs Shift) that types ``char``; ``KeyError`` if none does."""
        return self._keys[char]

    @property
    def characters(self) -> str:
        return "".join(sorted(self._keys))

    def __repr__(self) -> str:
        return f"<Layout {self.name} {len(self.table)} keys>"


LAYOUTS: dict[str, Layout] = {"us": Layout("us", _us_table()), "de": Layout("de", _de_table())}
US = LAYOUTS["us"]


@dataclass(frozen=True)
class Scan:
    """A complete code, typed and terminated."""

    code: str


@dataclass(frozen=True)
class ReadError:
    """Input that is not a usable code; ``message`` says what was wrong."""

    message: str


class HidDecoder:
    """Turn a scanner's boot-keyboard reports into :class:`Scan` and :class:`ReadError` events."""

    def __init__(self, layout: Layout = US, *, max_code: int = MAX_CODE) -> None:
        self.layout = layout
        self.max_code = max_code
        self.reset()

    def reset(self) -> None:
        """Forget held keys and any partly typed code (after a reopen)."""
        self._held: tuple[int, ...] = ()
        self._chars: list[str] = []
        self._problem: str | None = None

    @property
    def pending(self) -> bool:
        """True while a code is partly typed (no terminator yet)."""
        return bool(self._chars) or self._problem is not None

    def feed(self, report: bytes | bytearray | memoryview) -> list[Scan | ReadError]:
        report = bytes(report)
        if len(report) != REPORT_SIZE:
            self._spoil(f"report of {len(report)} bytes (a boot keyboard report has {REPORT_SIZE})")
            return []
        modifiers, keys = report[0], [k for k in report[2:] if k]
        if KEY_ERROR_ROLLOVER in keys:
            self._spoil("keyboard rollover error (too many keys down at once)")
            return []  # held keys unknown: keep the last known set
        pressed = [k for k in keys if k not in self._held]
        self._held = tuple(keys)
        events: list[Scan | ReadError] = []
        for key in pressed:
            if key in TERMINATORS:
                event = self._finish()
                if event is not None:
                    events.append(event)
            else:
                self._type(key, modifiers)
        return events

    def flush_idle(self) -> ReadError | None:
        """The scanner went quiet or away mid-code: drop the partial code and say so."""
        if not self.pending:
            return None
        typed = "".join(self._chars)
        self._chars, self._problem = [], None
        return ReadError(f"unfinished code {typed[:40]!r} dropped ({len(typed)} characters, no Enter or Tab followed)")

    def _type(self, key: int, modifiers: int) -> None:
        typed = "".join(self._chars)
        if modifiers & CHORDS:
            self._spoil(f"key 0x{key:02x} with Ctrl/Alt/GUI (modifiers 0x{modifiers:02x}) after {typed[-20:]!r}")
            return
        char = self.layout.char(key, bool(modifiers & SHIFTS))
        if char is None:
            self._spoil(f"unknown key code 0x{key:02x} for layout {self.layout.name} after {typed[-20:]!r}")
        elif len(self._chars) >= self.max_code:
            self._spoil(f"code longer than {self.max_code} characters without Enter or Tab")
        else:
            self._chars.append(char)

    def _spoil(self, problem: str) -> None:
        if self._problem is None:
            self._problem = problem

    def _finish(self) -> Scan | ReadError | None:
        code, problem = "".join(self._chars), self._problem
        self._chars, self._problem = [], None
        if problem is not None:
            return ReadError(problem)
        return Scan(code) if code else None


def decode_reports(reports: Iterable[bytes], layout: Layout = US) -> list[Scan | ReadError]:
    """Decode a whole report stream (pure helper for tests and tools)."""
    decoder = HidDecoder(layout)
    events: list[Scan | ReadError] = []
    for report in reports:
        events.extend(decoder.feed(report))
    return events


def report(modifiers: int = 0, *keys: int) -> bytes:
    """Build one boot-keyboard report."""
    if len(keys) > 6:
        raise ValueError("a boot keyboard report holds at most 6 keys")
    return bytes([modifiers, 0, *keys]) + bytes(6 - len(keys))


def encode_text(text: str, layout: Layout = US, *, terminator: int | None = KEY_ENTER,
                rollover: bool = False, repeat: int = 1, shift: int = LEFT_SHIFT) -> list[bytes]:
    """Type ``text`` as a scanner would: press/release reports, then the terminator key.

    ``rollover`` presses each key before releasing the previous one; ``repeat`` sends every
    report that many times (a held key); ``shift`` picks the left or right Shift bit.
    Raises ``KeyError`` for a character the layout cannot type.
    """
    keys = [layout.key(char) for char in text]
    if terminator is not None:
        keys.append((terminator, False))
    reports: list[bytes] = []
    held: int | None = None
    for code, shifted in keys:
        mods = shift if shifted else 0
        if rollover and held is not None and held != code:
            reports.append(report(mods, held, code))
        elif held is not None:
            reports.append(report(0))
        reports.append(report(mods, code))
        held = code
    if held is not None:
        reports.append(report(0))
    return [r for r in reports for _ in range(repeat)]
