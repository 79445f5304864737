"""The furnace probe board's serial line protocol.

One ASCII line per reading: ``T<channel>=<celsius>`` (``T1=1052.25``), optionally followed by
``*HH``, an NMEA-style XOR checksum in hex of every character before the ``*``; a
thermocouple fault reads ``T1=FAULT:OC`` (open), ``FAULT:SCG`` (short to ground) or
``FAULT:SCV`` (short to VCC). Lines end in ``\\n`` or ``\\r\\n``.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from functools import reduce

MAX_LINE = 64  # bytes without the terminator; a real line is under 20

FAULTS = {"OC": "open", "SCG": "short_gnd", "SCV": "short_vcc"}
_FAULT_CODES = {v: k for k, v in FAULTS.items()}

_LINE = re.compile(r"T(\d{1,2})=([^*]*)(?:\*([0-9A-Fa-f]{2}))?")
_NUMBER = re.compile(r"-?\d{1,5}(?:\.\d{1,4})?")
# A well-formed temperature line, as bytes (the hot path of :func:`quick_value`).
_QUICK = re.compile(rb"(T(\d{1,2})=(-?\d{1,5}(?:\.\d{1,4})?))(?:\*([0-9A-Fa-f]{2}))?\r?\n?")


class ProbeLineError(ValueError):
    """A line that is not a probe reading; the message says what is wrong with it."""


@dataclass(frozen=True)
class ProbeReading:
    """One reading of one thermocouple channel: a temperature, or a fault and no value."""

    channel: int
    value_c: float | None
    fault: str | None = None


def checksum(body: bytes) -> int:
    """XOR of every byte of ``body`` (the characters before ``*``)."""
    return reduce(operator.xor, body, 0)


def quick_value(line: bytes) -> tuple[int, float] | None:
    """``(channel, celsius)`` of a well-formed temperature line; ``None`` for anything else.

    The same answer as :func:`parse_line` for every temperature it accepts, in a fraction of
    its time (one match, no decoding): a device calls this first and :func:`parse_line` only
    for what this declines (faults, and every bad line, which then gets its clear error).
    """
    match = _QUICK.fullmatch(line)
    if match is None:
        return None
    body, channel, value, sum_hex = match.groups()
    if sum_hex is not None and int(sum_hex, 16) != reduce(operator.xor, body, 0):
        return None
    return int(channel), float(value)


def parse_line(line: bytes) -> ProbeReading:
    """Parse one line (terminator already removed or not) or raise :class:`ProbeLineError`."""
    line = line.rstrip(b"\r\n")
    if len(line) > MAX_LINE:
        raise ProbeLineError(f"line too long ({len(line)} bytes, at most {MAX_LINE})")
    if not line:
        raise ProbeLineError("empty line")
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ProbeLineError(f"non-ASCII byte 0x{line[exc.start]:02x} at column {exc.start + 1}") from None
    match = _LINE.fullmatch(text)
    if not match:
        raise ProbeLineError(f"not a reading (expected T<channel>=<celsius>): {text[:40]!r}")
    channel_s, value_s, sum_s = match.groups()
    if sum_s is not None:
        body = line[: line.index(b"*")]
        expected = checksum(body)
        if int(sum_s, 16) != expected:
            raise ProbeLineError(f"checksum mismatch: line says {sum_s.upper()}, content gives {expected:02X}")
    if value_s.startswith("FAULT:"):
        code = value_s[6:]
        if code not in FAULTS:
            raise ProbeLineError(f"unknown fault code {code!r} (known: {', '.join(FAULTS)})")
        return ProbeReading(int(channel_s), None, FAULTS[code])
    if not _NUMBER.fullmatch(value_s):
        raise ProbeLineError(f"not a temperature: {value_s[:20]!r}")
    return ProbeReading(int(channel_s), float(value_s))


def format_line(reading: ProbeReading, *, with_checksum: bool = True, crlf: bool = False) -> bytes:
    """Encode a reading as the board sends it (used by the simulator and the tests)."""
    if reading.fault is not None:
        value = f"FAULT:{_FAULT_CODES[reading.fault]}"
    else:
        assert reading.value_c is not None
        value = f"{reading.value_c:.2f}"
    body = f"T{reading.channel}={value}".encode("ascii")
    if with_checksum:
        body += b"*%02X" % checksum(body)
    return body + (b"\r\n" if crlf else b"\n")


class LineFramer:
    """Split a byte stream into lines; an overlong line is cut and handed on to be rejected.

    ``feed`` returns complete lines without their terminator. A line longer than
    ``max_line`` is returned once, truncated to ``max_line + 1`` bytes (so the parser
    rejects it as too long), and the rest of it up to the next newline is discarded.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            chunk = data[start:] if end < 0 else data[start:end]
            if self._discarding:
                if end >= 0:
                    self._discarding = False
            else:
                self._buffer += chunk
                if len(self._buffer) > self.max_line:
                    lines.append(bytes(self._buffer[: self.max_line + 1]))
                    self._buffer.clear()
                    self._discarding = end < 0
                elif end >= 0:
                    lines.append(bytes(self._buffer).rstrip(b"\r"))
                    self._buffer.clear()
            if end < 0:
                return lines
            start = end + 1
