"""The serial line to one GRBL controller: locked writes, replies framed and parsed.

Only the engraver's supervisor thread reads; writes come from that thread and from the door
callback (feed hold), so every write holds one lock. A write of G-code lines is guarded by a
condition checked under that lock, so once the door callback has asked for a hold no further
line can slip out behind it.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

import serial

from firmware_bridge.grbl import MAX_REPLY, GrblReplyError, Reply, parse_reply
from firmware_bridge.probe import LineFramer
from gateway.serialport import open_port, read_available
from gateway.supervisor import DeviceFailure

log = logging.getLogger(__name__)


class GrblLink:
    """A GRBL 1.1 controller on ``port`` (a udev name such as ``/dev/benchpin-laser``)."""

    def __init__(self, port: str, baudrate: int, *,
                 serial_factory: Callable[..., serial.Serial] = serial.Serial) -> None:
        self.port_name = port
        self.baudrate = baudrate
        self._serial_factory = serial_factory
        self._serial: serial.Serial | None = None
        self._framer = LineFramer(max_line=MAX_REPLY)
        self._lock = threading.Lock()
        self.bad_replies = 0
        self._bad_streak = False
        self.bytes_written = 0

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        port = open_port(self._serial_factory, self.port_name, self.baudrate, timeout=0.05)
        try:
            port.write_timeout = 2.0  # a hung adapter must not block the loop on a write
            port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            port.close()
            raise DeviceFailure(f"cannot set up {self.port_name}: {exc}") from exc
        self._framer = LineFramer(max_line=MAX_REPLY)
        self._serial = port

    def close(self) -> None:
        with self._lock:
            port, self._serial = self._serial, None
        if port is not None:
            port.close()

    def read_replies(self) -> list[Reply]:
        """Return the replies that arrived (waits up to 50 ms for the first byte)."""
        port = self._serial
        if port is None:
            raise DeviceFailure(f"{self.port_name} is not open")
        data = read_available(port, self.port_name)
        replies: list[Reply] = []
        for line in self._framer.feed(data):
            if not line.strip():
                continue
            try:
                replies.append(parse_reply(line))
            except GrblReplyError as exc:
                self.bad_replies += 1
                if not self._bad_streak:
                    log.warning("%s: ignored a line that is not a GRBL reply (%s); counting further ones "
                                "quietly", self.port_name, exc)
                self._bad_streak = True
            else:
                self._bad_streak = False
        return replies

    def write(self, data: bytes, *, allowed: Callable[[], bool] | None = None) -> bool:
        """Write ``data`` unless ``allowed()`` says no (checked under the write lock)."""
        with self._lock:
            if allowed is not None and not allowed():
                return False
            port = self._serial
            if port is None:
                raise DeviceFailure(f"{self.port_name} is not open")
            try:
                port.write(data)
            except (serial.SerialException, OSError) as exc:
                raise DeviceFailure(f"write to {self.port_name} failed: {exc}") from exc
            self.bytes_written += len(data)
            return True

    def realtime(self, command: bytes) -> None:
        """Send a real-time command (``?``, ``!``, ``~``, 0x18); GRBL acts on it at once."""
        self.write(command)
