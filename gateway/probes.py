"""Furnace temperature probes: the serial probe board and the MAX31855 on SPI.

Each probe is a :class:`~gateway.supervisor.Device` that hands readings to a
:class:`ProbeBridge`, which turns them into the contract's temperature messages in the
outbox. Ports are best named by ``/dev/serial/by-id/…`` or a udev symlink
(``/dev/benchpin-probe``): ``/dev/ttyUSB0`` can change name when an adapter is replugged.
"""

from __future__ import annotations

import logging
import math
import os
import select
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import serial
from gpiozero.exc import GPIOZeroError

from benchpin.config import ProbeConfig
from benchpin.contract import ProbeFault, Temperature
from benchpin.outbox import Outbox, OutboxWriteError
from firmware_bridge.max31855 import Max31855Error, decode_frame
from firmware_bridge.probe import LineFramer, ProbeLineError, parse_line, quick_value
from gateway.max31855_chip import MAX31855
from gateway.serialport import READ_CHUNK, open_port, port_fd, read_available, vanished
from gateway.supervisor import Device, DeviceFailure, Stalled, Supervisor
from gateway.wiring import Wiring

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.2  # how long one poll waits for data (the stall check runs in between)


@dataclass
class ProbeCounters:
    readings: int = 0
    faults: int = 0
    bad_lines: int = 0
    other_channel: int = 0
    reopens: int = 0
    rejected: int = 0  # readings the outbox refused (its disk failing): not accepted, not sent


class _Clock:
    """RFC 3339 UTC timestamps with ms, formatting the date and time once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        """Return the current time as ``utc_ts()`` does (``2026-11-23T13:44:26.123Z``)."""
        stamp = time.time()
        second = int(stamp)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        return f"{self._prefix}{int((stamp - second) * 1000):03d}Z"


class ProbeBridge:
    """Publish one probe's readings and faults to its temperature topic through the outbox.

    A streak of bad lines publishes one ``bad_line`` fault (and counts every line), so garbage
    on the wire cannot flood the broker; thermocouple faults are published every reading.
    """

    def __init__(self, outbox: Outbox, topic: str, probe_id: str) -> None:
        self.outbox = outbox
        self.topic = topic
        self.seq_key = f"probe/{probe_id}"
        self.counters = ProbeCounters()
        self._in_bad_streak = False
        self._failure_told: str | None = None  # the port failure published, no reading since
        self._lock = threading.Lock()
        self._clock = _Clock()
        # Called with (value_c, fault) for every reading or fault, on the probe's thread,
        # before it is published (a stack light follows the furnace without the broker).
        self.listeners: list[Callable[[float | None, str | None], None]] = []

    def handle_reading(self, value_c: float | None, fault: str | None) -> None:
        if fault is None and value_c is not None:
            self.handle_value(value_c)
            return
        with self._lock:
            self._in_bad_streak, self._failure_told = False, None
            self.counters.readings += 1
            if fault:
                self.counters.faults += 1
        self._publish(value_c, fault)

    def handle_value(self, value_c: float) -> None:
        """One temperature (no fault): the hot path, a reading a furnace sends many times a second."""
        with self._lock:
            self._in_bad_streak, self._failure_told = False, None
            self.counters.readings += 1
        for listener in self.listeners:
            listener(value_c, None)
        if not math.isfinite(value_c):
            self._put_or_count(value_c, None)
            return
        # Encoded straight into bytes: the same JSON as encode() of the Temperature payload
        # (keys in contract order; repr() is JSON's float form).
        head = b'{"ts":"%s","seq":' % self._clock.now().encode()
        tail = b',"value_c":%s,"fault":null}' % repr(value_c).encode()
        try:
            self.outbox.put_reading(self.topic, head, tail, self.seq_key)
        except OutboxWriteError as exc:
            self._count_rejected(exc)

    def handle_bad_input(self, problem: str, fault: str = "bad_line") -> None:
        with self._lock:
            self.counters.bad_lines += 1
            first = not self._in_bad_streak
            self._in_bad_streak = True
        if first:
            log.warning("%s: %s (%s); counting further bad input quietly", self.topic, fault, problem)
            self._publish(None, fault)

    def when_state_changed(self, supervisor: Supervisor) -> None:
        """Publish a port failure: ``stalled`` for silence, else ``disconnected``."""
        if supervisor.state == "down":
            self.counters.reopens += 1
            self.handle_failure("stalled" if isinstance(supervisor.last_error, Stalled) else "disconnected")

    def handle_failure(self, fault: str) -> None:
        """The port failed (``disconnected``) or went silent (``stalled``): publish it once.

        Once until a reading comes: a port that keeps failing on every reopen is one message,
        a port that failed again after readings flowed is another, and so is a silent port
        (``stalled``) that then vanishes (``disconnected``).
        """
        with self._lock:
            self._in_bad_streak = False
            if self._failure_told == fault:
                return
            self._failure_told = fault
        self._publish(None, fault)

    def _publish(self, value_c: float | None, fault: str | None) -> None:
        for listener in self.listeners:
            listener(value_c, fault)
        self._put_or_count(value_c, fault)

    def _put_or_count(self, value_c: float | None, fault: str | None) -> None:
        reading = Temperature(ts=self._clock.now(), seq=None, value_c=value_c,
                              fault=ProbeFault(fault) if fault else None)
        try:
            self.outbox.put(self.topic, reading.to_payload(), seq_key=self.seq_key)
        except OutboxWriteError as exc:
            self._count_rejected(exc)

    def _count_rejected(self, exc: OutboxWriteError) -> None:
        # The reading is refused, not lost silently: counted, and the outbox logs the disk's error.
        self.counters.rejected += 1
        if self.counters.rejected == 1:
            log.error("%s: reading not accepted: %s", self.topic, exc)


class SerialProbe:
    """A furnace probe board on a serial port (USB-serial adapter or the Pi's UART).

    The board sends one line per reading; this reads what arrived, frames it into lines and
    hands each to the bridge. Silence longer than ``stall_timeout_s`` counts as a failure,
    because a USB-serial adapter can hang with its port still open.
    """

    def __init__(self, config: ProbeConfig, bridge: ProbeBridge, *,
                 serial_factory: Callable[..., serial.Serial] = serial.Serial) -> None:
        self.config = config
        self.name = f"probe {config.id}"
        self.bridge = bridge
        self._serial_factory = serial_factory
        self._serial: serial.Serial | None = None
        self._fd = -1
        self._framer = LineFramer()
        self._last_data = time.monotonic()

    def open(self) -> None:
        self._serial = open_port(self._serial_factory, self.config.port, self.config.baudrate, READ_TIMEOUT_S)
        self._fd = port_fd(self._serial)
        self._framer = LineFramer()
        self._last_data = time.monotonic()

    def poll(self) -> None:
        assert self._serial is not None
        fd = self._fd
        if fd < 0:  # a port without a descriptor (a test double)
            data = read_available(self._serial, self.config.port)
        else:  # read_available's select and read, inline: this runs for every reading
            try:
                ready = select.select((fd,), (), (), READ_TIMEOUT_S)[0]
                data = os.read(fd, READ_CHUNK) if ready else b""
            except (OSError, ValueError) as exc:
                raise DeviceFailure(f"read from {self.config.port} failed: {exc}") from exc
            if ready and not data:
                raise vanished(self.config.port)
        now = time.monotonic()
        if not data:
            if now - self._last_data > self.config.stall_timeout_s:
                raise Stalled(f"no data from {self.config.port} for {self.config.stall_timeout_s:g}s")
            return
        self._last_data = now
        lines = self._framer.feed(data)
        if len(lines) == 1:  # a furnace's usual read: one line, usually a temperature
            quick = quick_value(lines[0])
            if quick is not None and (not self.config.channel or quick[0] == self.config.channel):
                self.bridge.handle_value(quick[1])
            else:
                self.handle_line(lines[0])
            return
        with self.bridge.outbox.batch():  # what one read brought leaves for the broker together
            for line in lines:
                self.handle_line(line)

    def handle_line(self, line: bytes) -> None:
        quick = quick_value(line)
        if quick is not None and (not self.config.channel or quick[0] == self.config.channel):
            self.bridge.handle_value(quick[1])
            return
        try:
            reading = parse_line(line)
        except ProbeLineError as exc:
            self.bridge.handle_bad_input(str(exc))
            return
        if self.config.channel and reading.channel != self.config.channel:
            self.bridge.counters.other_channel += 1
            return
        self.bridge.handle_reading(reading.value_c, reading.fault)

    def close(self) -> None:
        if self._serial is not None:
            port, self._serial = self._serial, None
            port.close()


class MAX31855Probe:
    """A MAX31855 thermocouple amplifier on the Pi's SPI bus, read through gpiozero.

    Wiring: SCK to SCLK (GPIO11), SO to MISO (GPIO9), CS to CE0 (GPIO8) or CE1 (GPIO7) as
    ``spi_device`` 0 or 1; the chip has no MOSI. ``pin_factory`` is gpiozero's (a
    ``MockFactory`` in tests); the chip is read every ``interval_s`` seconds.
    """

    def __init__(self, config: ProbeConfig, bridge: ProbeBridge, *, pin_factory: Any = None) -> None:
        self.config = config
        self.name = f"probe {config.id}"
        self.bridge = bridge
        self.pin_factory = pin_factory
        self._device: MAX31855 | None = None
        self._next_read = 0.0

    def open(self) -> None:
        try:
            self._device = MAX31855(port=self.config.spi_port, device=self.config.spi_device,
                                    pin_factory=self.pin_factory)
        except (GPIOZeroError, OSError) as exc:
            raise DeviceFailure(f"cannot open SPI {self.config.spi_port}.{self.config.spi_device}: {exc}") from exc
        self._next_read = time.monotonic()

    def poll(self) -> None:
        now = time.monotonic()
        if now < self._next_read:
            time.sleep(min(0.2, self._next_read - now))
            return
        self._next_read = now + self.config.interval_s
        assert self._device is not None
        try:
            frame = self._device.frame
        except OSError as exc:
            raise DeviceFailure(f"SPI read failed: {exc}") from exc
        try:
            reading = decode_frame(frame)
        except Max31855Error as exc:
            self.bridge.handle_bad_input(str(exc), fault="bad_frame")
            return
        self.bridge.handle_reading(reading.thermocouple_c, reading.fault)

    def close(self) -> None:
        if self._device is not None:
            device, self._device = self._device, None
            device.close()


def build_probes(probes: Sequence[ProbeConfig], wiring: Wiring) -> dict[str, ProbeBridge]:
    """Put every configured probe under supervision; return each probe's bridge by probe id."""
    bridges: dict[str, ProbeBridge] = {}
    for config in probes:
        bridge = ProbeBridge(wiring.outbox, wiring.topics.temperature(wiring.gateway_id, config.id), config.id)
        device: Device
        if config.kind == "serial":
            device = SerialProbe(config, bridge)
        else:
            device = MAX31855Probe(config, bridge, pin_factory=wiring.pin_factory)
        wiring.add_device(device, counters=bridge.counters, when_state_changed=bridge.when_state_changed)
        bridges[config.id] = bridge
    return bridges
