"""Bench balances' serial protocols: METTLER TOLEDO MT-SICS, A&D and Ohaus.

Each family is a module with the same shape: the bytes of its poll, tare and zero commands,
``parse_line(line)`` turning one reply line into a :class:`Weight`, a :class:`CommandReply`
or a :class:`BalanceError` (or raising :class:`ScaleLineError`), and ``format_*`` functions
that build the lines the balance sends (the simulator and the tests use them). Weights are
converted to grams with the unit the balance printed; the balance's resolution (one step of
the last digit it prints) comes with every weight.

All three families speak 7-bit ASCII, and many balances ship set to 7 data bits with even
parity (A&D's default is 2400 baud 7E1). A port opened 8N1 on such a balance receives the
parity bit as bit 7 of every byte. :class:`ScaleLineFramer` masks bit 7 off before framing, so
the text reads right either way, and counts the bytes that had it set so the gateway can say
the port is misconfigured (parity is then not checked: set ``bytesize = 7``, ``parity = "E"``
and the serial driver checks and strips it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Final, Mapping

from firmware_bridge.probe import LineFramer

MAX_LINE: Final = 48  # bytes without the terminator; the longest real reply is about 20

# Grams per unit, spelled as the families print them (A&D and Ohaus print grain as "GN").
GRAMS_PER_UNIT: Final[dict[str, float]] = {
    "mg": 0.001,
    "g": 1.0,
    "kg": 1000.0,
    "ct": 0.2,  # metric carat
    "oz": 28.349523125,  # avoirdupois ounce
    "ozt": 31.1034768,  # troy ounce
    "dwt": 1.55517384,  # pennyweight, 1/20 troy ounce
    "GN": 0.06479891,  # grain
    "gn": 0.06479891,
    "lb": 453.59237,
    "mom": 3.75,  # momme
}

KINDS: Final = ("mt-sics", "and", "ohaus")
ACTIONS: Final = ("tare", "zero")


class ScaleLineError(ValueError):
    """A line that is no reply of the balance; the message says what is wrong with it."""


@dataclass(frozen=True)
class Weight:
    """One weight reply. ``grams`` is None when ``fault`` is ``overload`` or ``underload``."""

    grams: float | None
    stable: bool
    resolution_g: float = 0.0  # one step of the last printed digit, in grams
    fault: str | None = None


@dataclass(frozen=True)
class CommandReply:
    """The balance's answer to a tare or zero; ``action`` None when the reply does not say which."""

    action: str | None
    done: bool
    detail: str


@dataclass(frozen=True)
class BalanceError:
    """The balance refused or could not carry out the last command (``ES``, ``S I``, ``EC,E01``…)."""

    code: str
    detail: str


Reply = Weight | CommandReply | BalanceError


def to_grams(number: str, unit: str) -> tuple[float, float]:
    """Return (grams, resolution in grams) for a printed number and unit, or raise ScaleLineError."""
    factor = GRAMS_PER_UNIT.get(unit)
    if factor is None:
        raise ScaleLineError(f"not a weight unit: {unit!r} (known: {', '.join(sorted(set(GRAMS_PER_UNIT)))})")
    try:
        value = float(number)
    except ValueError:
        raise ScaleLineError(f"not a number: {number!r}") from None
    _, dot, decimals = number.partition(".")
    step = 10.0 ** -len(decimals) if dot else 1.0
    # Grams to the microgram (below any bench balance's step); the step to six significant
    # digits: both without the float noise of the conversion. "-0.000" reads as 0.0.
    return round(value * factor, 6) + 0.0, float(f"{step * factor:.6g}")


def decode(line: bytes) -> str:
    """Return a line as text, or raise ScaleLineError for an empty, overlong or non-ASCII one."""
    line = line.rstrip(b"\r\n")
    if not line.strip():
        raise ScaleLineError("empty line")
    if len(line) > MAX_LINE:
        raise ScaleLineError(f"line too long ({len(line)} bytes, at most {MAX_LINE})")
    for column, byte in enumerate(line, 1):
        if byte < 0x20 or byte > 0x7E:
            raise ScaleLineError(f"control or non-ASCII byte 0x{byte:02x} at column {column}")
    return line.decode("ascii")


_SEVEN_BITS = bytes(range(128)) * 2
_CR_AS_LF = bytes.maketrans(b"\r", b"\n")


class ScaleLineFramer:
    """Split a balance's byte stream into lines at CR, LF or CR LF; empty lines are skipped.

    Bit 7 of every byte is cleared first (see the module's note on 7E1); ``high_bit_bytes``
    counts the bytes that had it set. ``split_after`` bytes end a line of their own (A&D's
    ``<AK>``, 0x06, may come without a terminator).
    """

    def __init__(self, max_line: int = MAX_LINE, *, split_after: bytes = b"") -> None:
        self._lines = LineFramer(max_line)
        self._split_after = split_after
        self.high_bit_bytes = 0

    def feed(self, data: bytes) -> list[bytes]:
        self.high_bit_bytes += sum(1 for byte in data if byte & 0x80)
        text = data.translate(_SEVEN_BITS).translate(_CR_AS_LF)
        for byte in self._split_after:
            text = text.replace(bytes([byte]), bytes([byte]) + b"\n")
        return [line for line in self._lines.feed(text) if line]


def even_parity(data: bytes) -> bytes:
    """Set bit 7 of each byte as a 7E1 line's parity bit (what a port opened 8N1 receives)."""
    return bytes(b | 0x80 if bin(b & 0x7F).count("1") % 2 else b & 0x7F for b in data)


@dataclass(frozen=True)
class ScaleProtocol:
    """One balance family: what the gateway sends, how replies parse, how the balance prints.

    ``requests`` maps each command line the family understands (without CR LF) to what it
    asks: ``weigh`` (the current weight, stable or not), ``stable`` (wait for a stable one),
    ``repeat`` (stream weights), ``cancel`` (stop streaming), ``tare`` or ``zero``.
    """

    kind: str
    poll: bytes  # sent every poll_s, terminator included
    commands: Mapping[str, bytes]  # "tare" / "zero" -> bytes to send
    requests: Mapping[bytes, str]
    parse_line: Callable[[bytes], Reply]
    format_weight: Callable[..., bytes]  # (value, unit, decimals, *, stable, fault=None) -> line
    format_reply: Callable[..., bytes]  # (action, done, tare_g=0.0) -> the balance's answer
    format_refusal: Callable[[], bytes]  # the answer to a command it does not know
    split_after: bytes = b""
    units: tuple[str, ...] = field(default=("g",))


def protocol_for(kind: str) -> ScaleProtocol:
    """Return the protocol of a balance family (``mt-sics``, ``and`` or ``ohaus``)."""
    from firmware_bridge.scales import aandd, mtsics, ohaus

    protocols = {p.kind: p for p in (mtsics.PROTOCOL, aandd.PROTOCOL, ohaus.PROTOCOL)}
    if kind not in protocols:
        raise ValueError(f"unknown balance family {kind!r} (known: {', '.join(KINDS)})")
    return protocols[kind]
