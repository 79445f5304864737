"""Open and read a serial port the way every serial device does, failures as DeviceFailure."""

from __future__ import annotations

from typing import Callable

import serial

from gateway.supervisor import DeviceFailure

SerialFactory = Callable[..., serial.Serial]


def open_port(factory: SerialFactory, port: str, baudrate: int, timeout: float) -> serial.Serial:
    """Open ``port``; a missing or busy port becomes a :class:`DeviceFailure` naming it."""
    try:
        return factory(port, baudrate, timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceFailure(f"cannot open {port}: {exc}") from exc


def read_available(port: serial.Serial, name: str) -> bytes:
    """Return what arrived (waiting at most the port's timeout for the first byte)."""
    try:
        return port.read(port.in_waiting or 1)
    except (serial.SerialException, OSError) as exc:
        raise DeviceFailure(f"read from {name} failed: {exc}") from exc
