"""A&D Weighing balances (FX-i, GX, GF, GX-A, EK… series) in the A&D standard format.

Commands end in CR LF: ``Q`` (or ``SI``) sends the weight at once (the gateway's poll), ``S``
waits for a stable one, ``SIR`` streams until ``C``, ``Z`` zeroes, ``T`` tares, ``R``
re-zeroes. A weight line is a two-letter header, a comma, the value with its sign (zeros in
front, nine characters with sign and point), then a three-character unit (``  g``, `` kg``,
``ozt``…)::

    ST,+0012.345  g     stable weight        US,+0012.340  g     unstable weight
    OL,+9999999.9 g     above its range      OL,-9999999.9 g     below its range
    QT,+00000123 PC     counting mode: not a weight

A command is acknowledged with ``<AK>`` (0x06) when the balance's AK setting is on; an error is
``EC,Exx`` (``E01`` an undefined command, ``E11`` not stable enough to tare or zero).
"""

from __future__ import annotations

import re

from firmware_bridge.scales import (BalanceError, CommandReply, Reply, ScaleLineError, ScaleProtocol, Weight,
                                    decode, to_grams)

AK = b"\x06"

_LINE = re.compile(r"([A-Z]{2}),(.*)")
_DATA = re.compile(r"([+-])([0-9.]{1,10}) *([A-Za-z%]{1,3})")
_ERRORS = {"E00": "communication error", "E01": "undefined command", "E02": "not ready",
           "E03": "timeout", "E04": "too many characters", "E06": "format error",
           "E07": "parameter setting error", "E11": "stability error (not stable enough to tare or zero)"}


def parse_line(line: bytes) -> Reply:
    """Parse one A&D reply line or raise :class:`ScaleLineError`."""
    if line.rstrip(b"\r\n") == AK:
        return CommandReply(None, True, "acknowledged")
    text = decode(line).strip()
    match = _LINE.fullmatch(text)
    if not match:
        raise ScaleLineError(f"not an A&D reply (expected HEADER,DATA): {text[:40]!r}")
    header, rest = match.groups()
    if header == "EC":
        code = rest.strip()
        return BalanceError(f"EC,{code}", _ERRORS.get(code, f"error code {code}"))
    if header == "OL":
        return Weight(None, False, fault="underload" if rest.startswith("-") else "overload")
    if header not in ("ST", "US", "QT"):
        raise ScaleLineError(f"unknown A&D header {header!r} (known: ST, US, OL, QT, EC)")
    data = _DATA.fullmatch(rest)
    if not data:
        raise ScaleLineError(f"not an A&D weight (expected +0012.345  g): {rest[:30]!r}")
    sign, number, unit = data.groups()
    if header == "QT" or unit in ("PC", "%"):
        raise ScaleLineError(f"not a weight: the balance is counting or in percent mode ({text[:30]!r})")
    if number.count(".") > 1:
        raise ScaleLineError(f"not a number: {number!r}")
    grams, step = to_grams(("-" if sign == "-" else "") + number, unit)
    return Weight(grams, header == "ST", step)


def format_weight(value: float, unit: str = "g", decimals: int = 3, *, stable: bool = True,
                  fault: str | None = None) -> bytes:
    """Encode a weight line as the balance sends it (``ST,+0012.345  g``)."""
    if fault:
        sign = "-" if fault == "underload" else "+"
        return f"OL,{sign}{'9' * 7}.9{unit:>3}\r\n".encode("ascii")
    header = "ST" if stable else "US"
    sign = "-" if value < 0 else "+"
    return f"{header},{sign}{abs(value):0>8.{decimals}f}{unit:>3}\r\n".encode("ascii")


def format_reply(action: str, done: bool, tare_g: float = 0.0) -> bytes:
    """Encode the answer to ``T`` or ``Z``: ``<AK>``, or ``EC,E11`` when not stable."""
    return AK + b"\r\n" if done else b"EC,E11\r\n"


def format_refusal() -> bytes:
    return b"EC,E01\r\n"


PROTOCOL = ScaleProtocol(
    kind="and",
    poll=b"Q\r\n",
    commands={"tare": b"T\r\n", "zero": b"Z\r\n"},
    requests={b"Q": "weigh", b"SI": "weigh", b"S": "stable", b"SIR": "repeat", b"C": "cancel",
              b"T": "tare", b"Z": "zero", b"R": "zero"},
    parse_line=parse_line,
    format_weight=format_weight,
    format_reply=format_reply,
    format_refusal=format_refusal,
    split_after=AK,
    units=("g", "mg", "kg", "ct", "oz", "ozt", "dwt", "GN", "mom"),
)
