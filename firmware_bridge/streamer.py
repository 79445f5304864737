"""Streaming G-code to GRBL: the character-counting state machine, pure (no I/O).

GRBL acknowledges each line with ``ok`` (or ``error:N``) once it has taken the line out of
its 128-byte serial RX buffer, so the host can keep sending as long as the bytes of the lines
not yet acknowledged fit in that buffer. :class:`Streamer` tracks exactly that: the caller
asks :meth:`Streamer.take` for the lines it may write now, and reports every reply with
:meth:`Streamer.handle_reply`. With ``max_lines=1`` the same machine is the plain
send-and-wait-for-ok streamer.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from firmware_bridge.grbl import Alarm, Error, Ok, Reply

RX_BUFFER_SIZE = 128
MAX_LINE = 80  # GRBL's LINE_BUFFER_SIZE: a longer line is rejected with error:11


@dataclass(frozen=True)
class StreamFailure:
    """Why streaming stopped: the reply, and the line it answered (None for an alarm)."""

    reply: Error | Alarm
    line_number: int | None  # 1-based index into the program
    line: str | None

    def describe(self) -> str:
        where = f"line {self.line_number} {self.line!r}: " if self.line_number is not None else ""
        return where + self.reply.describe()


class Streamer:
    """Character-counting streamer for one program of G-code lines."""

    def __init__(self, lines: list[str] | tuple[str, ...], *, buffer_size: int = RX_BUFFER_SIZE,
                 max_lines: int | None = None) -> None:
        encoded = []
        for number, line in enumerate(lines, 1):
            data = line.encode("ascii", "replace") + b"\n"
            if not line.isascii() or len(data) > min(buffer_size, MAX_LINE + 1) or b"\n" in data[:-1] or b"\r" in data:
                raise ValueError(f"line {number} cannot be streamed (not ASCII, too long or has a line break): {line!r}")
            encoded.append(data)
        self.lines = tuple(lines)
        self._encoded = encoded
        self.buffer_size = buffer_size
        self.max_lines = max_lines
        self.next_index = 0  # next line to send
        self.acknowledged = 0
        self.bytes_sent = 0
        self._pending: deque[int] = deque()  # indices sent, not yet answered
        self._pending_bytes = 0
        self.failure: StreamFailure | None = None

    @property
    def in_flight(self) -> int:
        """Bytes sent and not yet acknowledged (what may sit in GRBL's RX buffer)."""
        return self._pending_bytes

    @property
    def finished(self) -> bool:
        """Every line acknowledged, or streaming stopped by a failure."""
        return self.failure is not None or self.acknowledged == len(self._encoded)

    def take(self) -> list[bytes]:
        """Return the lines (with ``\\n``) that fit in GRBL's buffer now; they count as sent."""
        out: list[bytes] = []
        if self.failure is not None:
            return out
        while self.next_index < len(self._encoded):
            if self.max_lines is not None and len(self._pending) >= self.max_lines:
                break
            data = self._encoded[self.next_index]
            if self._pending_bytes + len(data) > self.buffer_size:
                break
            self._pending.append(self.next_index)
            self._pending_bytes += len(data)
            self.bytes_sent += len(data)
            self.next_index += 1
            out.append(data)
        return out

    def handle_reply(self, reply: Reply) -> None:
        """Account for an ``ok``/``error:``/``ALARM:``; other replies do not affect streaming."""
        if isinstance(reply, Alarm):
            # GRBL flushes its buffers on an alarm: nothing in flight will be answered.
            if self.failure is None:
                self.failure = StreamFailure(reply, None, None)
            self._pending.clear()
            self._pending_bytes = 0
            return
        if not isinstance(reply, (Ok, Error)) or not self._pending:
            return
        index = self._pending.popleft()
        self._pending_bytes -= len(self._encoded[index])
        self.acknowledged += 1
        if isinstance(reply, Error) and self.failure is None:
            self.failure = StreamFailure(reply, index + 1, self.lines[index])
