"""METTLER TOLEDO MT-SICS (Standard Interface Command Set), level 0/1 commands.

Commands end in CR LF: ``SI`` sends the weight at once (the gateway's poll), ``S`` waits for a
stable one, ``SIR`` repeats ``SI`` until ``@`` (reset), ``Z`` zeroes, ``T`` tares. Replies:

- ``S S      12.345 g`` a stable weight, ``S D      12.340 g`` a dynamic (unstable) one; the
  value is right-aligned in ten characters, then a space and the unit;
- ``S +`` / ``S -`` the balance is in its overload / underload range, ``S I`` it cannot send
  now (busy, or no stability in time);
- ``Z A`` zero set, ``Z I`` not executed, ``Z +`` / ``Z -`` outside the zero range;
- ``T S     100.00 g`` tared (the tare weight), ``T I``, ``T +`` / ``T -`` likewise;
- ``ES`` syntax error (command not understood), ``ET`` transmission error (a bad byte, often
  wrong parity), ``EL`` logical error (cannot be carried out).
"""

from __future__ import annotations

import re

from firmware_bridge.scales import (BalanceError, CommandReply, Reply, ScaleLineError, ScaleProtocol, Weight,
                                    decode, to_grams)

_WEIGHT = re.compile(r"([ST]) ([SD]) +(-?\d{1,9}(?:\.\d{1,6})?) +([A-Za-z]{1,3})")
_STATUS = re.compile(r"([SZT]) ([IA+-])")
_ERRORS = {"ES": "syntax error: the balance does not know the command",
           "ET": "transmission error: the balance received a bad byte (check baudrate and parity)",
           "EL": "logical error: the balance cannot carry out the command"}
_ACTION = {"Z": "zero", "T": "tare"}
_STATUS_TEXT = {"I": "not carried out (balance busy or not stable in time)",
                "+": "upper limit of its range exceeded", "-": "lower limit of its range exceeded"}


def parse_line(line: bytes) -> Reply:
    """Parse one MT-SICS reply line or raise :class:`ScaleLineError`."""
    text = decode(line).strip()
    if text in _ERRORS:
        return BalanceError(text, _ERRORS[text])
    match = _WEIGHT.fullmatch(text)
    if match:
        command, status, number, unit = match.groups()
        grams, step = to_grams(number, unit)
        if command == "T":
            if status != "S":
                raise ScaleLineError(f"a tare reply is 'T S <weight> <unit>': {text[:40]!r}")
            return CommandReply("tare", True, f"tared {number} {unit}")
        return Weight(grams, status == "S", step)
    match = _STATUS.fullmatch(text)
    if match:
        command, status = match.groups()
        if command == "S":
            if status == "+":
                return Weight(None, False, fault="overload")
            if status == "-":
                return Weight(None, False, fault="underload")
            if status == "I":
                return BalanceError("S I", _STATUS_TEXT["I"])
        elif status == "A" and command == "Z":
            return CommandReply("zero", True, "zero set")
        elif status != "A":
            return CommandReply(_ACTION[command], False, _STATUS_TEXT[status])
    raise ScaleLineError(f"not an MT-SICS reply: {text[:40]!r}")


def format_weight(value: float, unit: str = "g", decimals: int = 3, *, stable: bool = True,
                  fault: str | None = None) -> bytes:
    """Encode a weight reply as the balance sends it (``S S      12.345 g``)."""
    if fault == "overload":
        return b"S +\r\n"
    if fault == "underload":
        return b"S -\r\n"
    return f"S {'S' if stable else 'D'} {value:>10.{decimals}f} {unit}\r\n".encode("ascii")


def format_reply(action: str, done: bool, tare_g: float = 0.0) -> bytes:
    """Encode the answer to ``T`` or ``Z``."""
    if action == "tare":
        return f"T S {tare_g:>10.3f} g\r\n".encode("ascii") if done else b"T I\r\n"
    return b"Z A\r\n" if done else b"Z I\r\n"


def format_refusal() -> bytes:
    return b"ES\r\n"


PROTOCOL = ScaleProtocol(
    kind="mt-sics",
    poll=b"SI\r\n",
    commands={"tare": b"T\r\n", "zero": b"Z\r\n"},
    requests={b"SI": "weigh", b"S": "stable", b"SIR": "repeat", b"@": "cancel", b"T": "tare", b"Z": "zero"},
    parse_line=parse_line,
    format_weight=format_weight,
    format_reply=format_reply,
    format_refusal=format_refusal,
    units=("g", "mg", "kg", "ct", "oz", "ozt", "dwt", "GN"),
)
