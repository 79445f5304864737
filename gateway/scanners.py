"""Barcode scanners: serial (CDC / RS-232) ones, and the builder that wires every configured kind.

Each scanner is a :class:`~gateway.supervisor.Device` that hands what it reads to a
:class:`~gateway.scan_bridge.ScanBridge`; USB HID scanners live in :mod:`gateway.usb_scanner`.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import serial

from benchpin.config import ScannerConfig
from firmware_bridge.scanner import ScanLineFramer
from gateway.scan_bridge import ScanBridge, hand_on
from gateway.serialport import open_port, read_available
from gateway.usb_scanner import UsbHidScanner
from gateway.wiring import Wiring

# A replugged scanner must be found again within a blink, so scanners back off at most this long.
BACKOFF_MAX_S = 1.0


class SerialScanner:
    """A barcode scanner on a serial port (USB CDC or RS-232), ending each code in CR and/or LF.

    Name the port by ``/dev/serial/by-id/…`` or a udev symlink: ``/dev/ttyACM0`` can change
    name when the scanner is replugged. A code left unterminated for ``idle_s`` is dropped.
    """

    def __init__(self, config: ScannerConfig, bridge: ScanBridge, *,
                 serial_factory: Callable[..., serial.Serial] = serial.Serial) -> None:
        self.config = config
        self.name = f"scanner {config.id}"
        self.bridge = bridge
        self._serial_factory = serial_factory
        self._serial: serial.Serial | None = None
        self._framer = self._new_framer()
        self._last_data = time.monotonic()

    def _new_framer(self) -> ScanLineFramer:
        return ScanLineFramer(prefix=self.config.prefix.encode("ascii"), suffix=self.config.suffix.encode("ascii"))

    def open(self) -> None:
        self._serial = open_port(self._serial_factory, self.config.port, self.config.baudrate, 0.1)
        self._framer = self._new_framer()

    def poll(self) -> None:
        assert self._serial is not None
        data = read_available(self._serial, self.config.port)
        now = time.monotonic()
        if data:
            self._last_data = now
            for event in self._framer.feed(data):
                self.bridge.handle_event(event)
        elif self._framer.pending and now - self._last_data > self.config.idle_s:
            hand_on(self.bridge, self._framer.flush_idle())

    def close(self) -> None:
        hand_on(self.bridge, self._framer.flush_idle(), "disconnected mid-code: ")
        if self._serial is not None:
            port, self._serial = self._serial, None
            port.close()

    def __repr__(self) -> str:
        return f"<SerialScanner {self.config.id} port={self.config.port} open={self._serial is not None}>"


def build_scanners(scanners: Sequence[ScannerConfig], wiring: Wiring) -> None:
    """Put every configured scanner under supervision."""
    for config in scanners:
        bridge = ScanBridge(wiring.outbox, wiring.topics.scan(wiring.gateway_id, config.id), config.id,
                            wiring.barcodes, dedupe_s=config.dedupe_s)
        device: SerialScanner | UsbHidScanner
        if config.kind == "serial":
            device = SerialScanner(config, bridge)
        else:
            device = UsbHidScanner(config, bridge, backend=wiring.usb_backend)
        supervisor = wiring.add_device(device, counters=bridge.counters,
                                       when_state_changed=bridge.when_state_changed)
        supervisor.backoff_max = min(supervisor.backoff_max, BACKOFF_MAX_S)
