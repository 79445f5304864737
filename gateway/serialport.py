"""Open and read a serial port the way every serial device does, failures as DeviceFailure."""

from __future__ import annotations

import io
import os
import select
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


READ_CHUNK = 4096


def port_fd(port: serial.Serial) -> int:
    """The port's file descriptor, or -1 for a port without one (a test double, a URL handler)."""
    try:
        return int(port.fileno())
    except (AttributeError, io.UnsupportedOperation, serial.SerialException, ValueError, TypeError):
        return -1


def read_available(port: serial.Serial, name: str, fd: int | None = None,
                   timeout: float | None = None) -> bytes:
    """Return what arrived (waiting at most the port's timeout for the first byte).

    A port with a file descriptor is read with one ``select`` and one ``read`` of everything
    that waits: pyserial's ``read(in_waiting or 1)`` takes a line in two wake-ups (the first
    byte, then the rest), which at a furnace's rate is most of a probe thread's CPU. A caller
    that reads often passes the descriptor (:func:`port_fd`) and the timeout, taken once per open.
    """
    if fd is None:
        fd = port_fd(port)
    try:
        if fd < 0:
            return port.read(port.in_waiting or 1)
        readable, _, _ = select.select([fd], [], [], port.timeout if timeout is None else timeout)
        if not readable:
            return b""
        data = os.read(fd, READ_CHUNK)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceFailure(f"read from {name} failed: {exc}") from exc
    if not data:
        raise vanished(name)
    return data


def vanished(name: str) -> DeviceFailure:
    """What pyserial says too: Linux reports a vanished device as readable with nothing to read."""
    return DeviceFailure(f"read from {name} failed: the device reports data but returned none "
                         f"(disconnected, or another program has the port open?)")
