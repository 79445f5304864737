"""Serial (CDC / RS-232) barcode scanner lines: framing, prefix/suffix stripping, checks.

A serial scanner sends each code followed by CR, LF or CR LF; some are set to wrap the code
in a prefix and suffix (often STX ``\\x02`` and ETX ``\\x03``), which are stripped here. A
line with a byte outside printable ASCII is rejected, naming the byte and its column. A line
longer than ``max_line`` is cut off and reported once when it ends (at a terminator, or when
the device calls :meth:`ScanLineFramer.flush_idle` after the scanner went quiet), so a stream
of garbage without any terminator cannot grow memory or swallow the next good scan.
"""

from __future__ import annotations

import re

from firmware_bridge.hid import ReadError, Scan

MAX_LINE = 512  # bytes without terminator; barcodes are far shorter, 2D codes can be long
_TERMINATOR = re.compile(rb"[\r\n]")


def parse_line(line: bytes, *, prefix: bytes = b"", suffix: bytes = b"") -> Scan | ReadError:
    """Turn one unterminated line into a :class:`Scan`, or a :class:`ReadError` saying why not."""
    if prefix:
        if not line.startswith(prefix):
            return ReadError(f"line does not start with the configured prefix {prefix!r}: {line[:40]!r}")
        line = line[len(prefix):]
    if suffix:
        if not line.endswith(suffix):
            return ReadError(f"line does not end with the configured suffix {suffix!r}: {line[-40:]!r}")
        line = line[: len(line) - len(suffix)]
    for column, byte in enumerate(line, start=1):
        if not 0x20 <= byte <= 0x7E:
            kind = "non-ASCII" if byte > 0x7E else "non-printable"
            return ReadError(f"{kind} byte 0x{byte:02x} at column {column}: {line[:40]!r}")
    if not line.strip():
        return ReadError("empty code")
    return Scan(line.decode("ascii"))


class ScanLineFramer:
    """Split a serial scanner's byte stream into scans; CR, LF and CR LF all end a line."""

    def __init__(self, *, prefix: bytes = b"", suffix: bytes = b"", max_line: int = MAX_LINE) -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.max_line = max_line
        self._buffer = bytearray()
        self._overflow = 0  # bytes dropped from the current line beyond max_line

    @property
    def pending(self) -> bool:
        """True while a line has started and not ended."""
        return bool(self._buffer) or bool(self._overflow)

    def feed(self, data: bytes) -> list[Scan | ReadError]:
        events: list[Scan | ReadError] = []
        start = 0
        for match in _TERMINATOR.finditer(data):
            self._take(data[start:match.start()])
            start = match.end()
            event = self._end_line()
            if event is not None:
                events.append(event)
        self._take(data[start:])
        return events

    def flush_idle(self) -> ReadError | None:
        """The scanner went quiet or away mid-line: drop what came and say so."""
        if not self.pending:
            return None
        if self._overflow:
            error = self._end_line()
            assert isinstance(error, ReadError)  # an overflowed line always ends in an error
            return error
        line = bytes(self._buffer)
        self._buffer.clear()
        return ReadError(f"unfinished line {line[:40]!r} dropped ({len(line)} bytes, no CR or LF followed)")

    def _take(self, chunk: bytes) -> None:
        room = self.max_line - len(self._buffer)
        if len(chunk) > room:
            self._buffer += chunk[:room]
            self._overflow += len(chunk) - room
        else:
            self._buffer += chunk

    def _end_line(self) -> Scan | ReadError | None:
        line, overflow = bytes(self._buffer), self._overflow
        self._buffer.clear()
        self._overflow = 0
        if overflow:
            return ReadError(f"line too long: {len(line) + overflow} bytes without CR or LF "
                             f"(at most {self.max_line}); dropped")
        if not line:
            return None  # the LF of a CR LF, or a blank line
        return parse_line(line, prefix=self.prefix, suffix=self.suffix)
