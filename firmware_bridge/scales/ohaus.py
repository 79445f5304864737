"""Ohaus balances and indicators (Adventurer, Explorer, Scout, Navigator, Courier, 7000 series).

Commands end in CR LF (CR alone is accepted): ``IP`` prints the displayed weight at once (the
gateway's poll), ``P`` prints it likewise, ``SP`` prints on stability, ``CP`` continuously
(``0P`` stops), ``Z`` zeroes, ``T`` tares. A print is the weight right-aligned in nine
characters (a ``-`` just left of the first digit), a space, the unit, a space, then ``?`` when
the reading is not stable and optionally ``N`` (net) or ``G`` (gross)::

       12.345 g           stable            12.340 g ? N        unstable, net

Commands are answered ``OK!`` (when the balance's RL setting is on); an unknown command, or a
print-on-stability that found no stability within 40 s, is answered ``ES``. Ohaus prints no
weight line for overload (the display shows it), so overload is not reported for this family.
"""

from __future__ import annotations

import re

from firmware_bridge.scales import (BalanceError, CommandReply, Reply, ScaleLineError, ScaleProtocol, Weight,
                                    decode, to_grams)

_LINE = re.compile(r" *(-?\d{1,9}(?:\.\d{1,6})?|-?\.\d{1,6}) +([A-Za-z]{1,5})(?: +(\?))?(?: +([GN]))?")


def parse_line(line: bytes) -> Reply:
    """Parse one Ohaus reply line or raise :class:`ScaleLineError`."""
    text = decode(line).rstrip()
    if text.strip() == "OK!":
        return CommandReply(None, True, "OK!")
    if text.strip() == "ES":
        return BalanceError("ES", "the balance refused the command (unknown, or no stability in time)")
    match = _LINE.fullmatch(text)
    if not match:
        raise ScaleLineError(f"not an Ohaus print (expected '   12.345 g [?]'): {text[:40]!r}")
    number, unit, unstable, _net = match.groups()
    grams, step = to_grams(number, unit)
    return Weight(grams, unstable is None, step)


def format_weight(value: float, unit: str = "g", decimals: int = 3, *, stable: bool = True,
                  fault: str | None = None) -> bytes:
    """Encode a print as the balance sends it (``   12.345 g``, ``   12.340 g ?``)."""
    if fault:
        raise ValueError("an Ohaus balance prints no line for overload or underload")
    return f"{value:>9.{decimals}f} {unit}{'' if stable else ' ?'}\r\n".encode("ascii")


def format_reply(action: str, done: bool, tare_g: float = 0.0) -> bytes:
    return b"OK!\r\n" if done else b"ES\r\n"


def format_refusal() -> bytes:
    return b"ES\r\n"


PROTOCOL = ScaleProtocol(
    kind="ohaus",
    poll=b"IP\r\n",
    commands={"tare": b"T\r\n", "zero": b"Z\r\n"},
    requests={b"IP": "weigh", b"P": "weigh", b"SP": "stable", b"CP": "repeat", b"0P": "cancel",
              b"T": "tare", b"Z": "zero"},
    parse_line=parse_line,
    format_weight=format_weight,
    format_reply=format_reply,
    format_refusal=format_refusal,
    units=("g", "mg", "kg", "ct", "oz", "ozt", "dwt", "GN", "lb"),
)
