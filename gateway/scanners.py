"""Barcode scanners: serial (CDC / RS-232) and USB HID keyboards read with pyusb.

Each scanner is a :class:`~gateway.supervisor.Device` that hands what it reads to a
:class:`ScanBridge`, which validates codes, drops accidental double reads and puts each scan
in the outbox for ``<gw>/scanner/<id>/scan``. A USB HID scanner is claimed from the kernel's
keyboard driver, so its codes never type into whatever window has focus; the driver gets the
scanner back when the gateway lets go.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import serial

from benchpin.config import ScannerConfig
from benchpin.outbox import Outbox
from benchpin.contract import ScanMessage
from benchpin.topics import utc_ts
from firmware_bridge.barcodes import BarcodeRules, validate
from firmware_bridge.hid import LAYOUTS, HidDecoder, ReadError, Scan
from firmware_bridge.scanner import ScanLineFramer
from gateway.serialport import open_port, read_available
from gateway.supervisor import DeviceFailure, Supervisor
from gateway.wiring import Wiring

log = logging.getLogger(__name__)

# A replugged scanner must be found again within a blink, so scanners back off at most this long.
BACKOFF_MAX_S = 1.0
USB_READ_TIMEOUT_MS = 100
HID_CLASS, BOOT_SUBCLASS, KEYBOARD_PROTOCOL = 3, 1, 1
SET_PROTOCOL, BOOT_PROTOCOL = 0x0B, 0


@dataclass
class ScannerCounters:
    scans: int = 0
    invalid: int = 0
    duplicates: int = 0
    bad_reads: int = 0
    reopens: int = 0
    last_bad_read: str = ""


class ScanBridge:
    """Validate, de-duplicate and publish one scanner's codes through the outbox.

    The same code within ``dedupe_s`` of its last published scan is a double read and is only
    counted. Bad reads (garbage, unknown keys, overlong lines) are counted and logged, once per
    streak as a warning, and never published: the scan topic carries what a person scanned.
    """

    def __init__(self, outbox: Outbox, topic: str, scanner_id: str, rules: BarcodeRules, *,
                 dedupe_s: float = 1.5, clock: Callable[[], float] = time.monotonic) -> None:
        self.outbox = outbox
        self.topic = topic
        self.seq_key = f"scanner/{scanner_id}"
        self.rules = rules
        self.dedupe_s = dedupe_s
        self.clock = clock
        self.counters = ScannerCounters()
        self._recent: dict[str, float] = {}
        self._in_bad_streak = False
        self._lock = threading.Lock()

    def handle_event(self, event: Scan | ReadError) -> None:
        if isinstance(event, Scan):
            self.handle_code(event.code)
        else:
            self.handle_bad_read(event.message)

    def handle_code(self, code: str) -> bool:
        """Publish ``code`` unless it is a double read; return whether it was published."""
        now = self.clock()
        with self._lock:
            self._in_bad_streak = False
            self._recent = {c: t for c, t in self._recent.items() if now - t < self.dedupe_s}
            if code in self._recent:
                self.counters.duplicates += 1
                log.debug("%s: %r again within %gs: one scan", self.topic, code, self.dedupe_s)
                return False
            self._recent[code] = now
        verdict = validate(code, self.rules)
        scan = ScanMessage(ts=utc_ts(), seq=None, code=code, valid=verdict.valid,
                           reason=verdict.reason)
        self.outbox.put(self.topic, scan.to_payload(), seq_key=self.seq_key, kind="scan", wait=True)
        with self._lock:
            self.counters.scans += 1
            if not verdict.valid:
                self.counters.invalid += 1
        return True

    def handle_bad_read(self, message: str) -> None:
        with self._lock:
            self.counters.bad_reads += 1
            self.counters.last_bad_read = message
            first, self._in_bad_streak = not self._in_bad_streak, True
        if first:
            log.warning("%s: bad read: %s", self.topic, message)
        else:
            log.debug("%s: bad read: %s", self.topic, message)

    def when_state_changed(self, supervisor: Supervisor) -> None:
        if supervisor.state == "down":
            self.counters.reopens += 1


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
            _hand_on(self.bridge, self._framer.flush_idle())

    def close(self) -> None:
        _hand_on(self.bridge, self._framer.flush_idle(), "disconnected mid-code: ")
        if self._serial is not None:
            port, self._serial = self._serial, None
            port.close()

    def __repr__(self) -> str:
        return f"<SerialScanner {self.config.id} port={self.config.port} open={self._serial is not None}>"


def _hand_on(bridge: ScanBridge, error: ReadError | None, context: str = "") -> None:
    if error is not None:
        bridge.handle_bad_read(context + error.message)


class UsbHidScanner:
    """A USB barcode scanner in keyboard (HID boot protocol) mode, read directly with pyusb.

    Found by ``vendor_id``/``product_id``, and by ``serial_number`` or ``bus_path``
    (``<bus>-<port>.<port>``, as in ``/sys/bus/usb/devices``) when identical scanners share a
    Pi. ``backend`` is pyusb's (``None``: libusb); tests pass a backend double.
    """

    def __init__(self, config: ScannerConfig, bridge: ScanBridge, *, backend: Any = None) -> None:
        self.config = config
        self.name = f"scanner {config.id}"
        self.bridge = bridge
        self.backend = backend
        self._decoder = HidDecoder(LAYOUTS[config.layout])
        self._dev: Any = None
        self._interface = -1
        self._endpoint: Any = None
        self._detached = False
        self._last_data = time.monotonic()

    @property
    def wanted(self) -> str:
        what = f"{self.config.vendor_id:04x}:{self.config.product_id:04x}"
        if self.config.serial_number:
            what += f" serial {self.config.serial_number}"
        if self.config.bus_path:
            what += f" at {self.config.bus_path}"
        return what

    def open(self) -> None:
        import usb.core  # imported here so the gateway imports on a box without pyusb's backend

        try:
            self._dev = self._find()
            self._claim()
        except (usb.core.USBError, ValueError) as exc:
            raise DeviceFailure(f"cannot open USB scanner {self.wanted}: {exc}") from exc
        self._decoder.reset()
        log.info("%s: USB scanner %s open at bus %s address %s", self.name, self.wanted,
                 self._dev.bus, self._dev.address)

    def _find(self) -> Any:
        import usb.core
        import usb.util

        found = list(usb.core.find(find_all=True, idVendor=self.config.vendor_id,
                                   idProduct=self.config.product_id, backend=self.backend))
        matches = [dev for dev in found if self._matches(dev)]
        chosen = matches[0] if len(matches) == 1 else None
        for dev in found:
            if dev is not chosen:
                usb.util.dispose_resources(dev)
        if not matches:
            raise DeviceFailure(f"no USB scanner {self.wanted} plugged in ({len(found)} with that id)")
        if len(matches) > 1:
            places = ", ".join(_bus_path(dev) for dev in matches)
            raise DeviceFailure(f"{len(matches)} USB scanners {self.wanted} found ({places}); "
                                "set serial_number or bus_path to pick one")
        return matches[0]

    def _matches(self, dev: Any) -> bool:
        import usb.core
        import usb.util

        if self.config.bus_path and _bus_path(dev) != self.config.bus_path:
            return False
        if self.config.serial_number:
            try:
                serial_number = usb.util.get_string(dev, dev.iSerialNumber)
            except (usb.core.USBError, ValueError):
                return False
            return bool(serial_number == self.config.serial_number)
        return True

    def _claim(self) -> None:
        import usb.core
        import usb.util

        dev = self._dev
        try:
            cfg = dev.get_active_configuration()
        except usb.core.USBError:
            dev.set_configuration()
            cfg = dev.get_active_configuration()
        if self.config.interface >= 0:
            intf = usb.util.find_descriptor(cfg, bInterfaceNumber=self.config.interface)
        else:
            intf = usb.util.find_descriptor(cfg, custom_match=lambda i: (
                i.bInterfaceClass, i.bInterfaceSubClass, i.bInterfaceProtocol) == (
                HID_CLASS, BOOT_SUBCLASS, KEYBOARD_PROTOCOL))
        if intf is None:
            raise DeviceFailure(f"USB scanner {self.wanted} has no HID keyboard interface")
        self._endpoint = usb.util.find_descriptor(intf, custom_match=lambda e: (
            e.bEndpointAddress == self.config.endpoint if self.config.endpoint else
            usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_IN
            and usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR))
        if self._endpoint is None:
            raise DeviceFailure(f"USB scanner {self.wanted} has no interrupt IN endpoint")
        self._interface = intf.bInterfaceNumber
        if dev.is_kernel_driver_active(self._interface):
            dev.detach_kernel_driver(self._interface)
            self._detached = True
        usb.util.claim_interface(dev, self._interface)
        try:  # boot protocol: 8-byte reports whatever the scanner's report descriptor says
            dev.ctrl_transfer(0x21, SET_PROTOCOL, BOOT_PROTOCOL, self._interface)
        except usb.core.USBError as exc:
            log.warning("%s: SET_PROTOCOL(boot) refused (%s); reading reports as they come", self.name, exc)

    def poll(self) -> None:
        import usb.core

        try:
            data = self._dev.read(self._endpoint.bEndpointAddress, max(8, self._endpoint.wMaxPacketSize),
                                  timeout=USB_READ_TIMEOUT_MS)
        except usb.core.USBTimeoutError:
            if self._decoder.pending and time.monotonic() - self._last_data > self.config.idle_s:
                _hand_on(self.bridge, self._decoder.flush_idle())
            return
        except usb.core.USBError as exc:
            if exc.errno == errno.ENODEV:
                raise DeviceFailure(f"USB scanner {self.wanted} unplugged") from exc
            raise DeviceFailure(f"read from USB scanner {self.wanted} failed: {exc}") from exc
        self._last_data = time.monotonic()
        for event in self._decoder.feed(bytes(data)):
            self.bridge.handle_event(event)

    def close(self) -> None:
        """Release the interface and give the scanner back to the kernel; idempotent."""
        import usb.core
        import usb.util

        _hand_on(self.bridge, self._decoder.flush_idle(), "disconnected mid-code: ")
        dev, self._dev = self._dev, None
        if dev is None:
            return
        steps: list[Callable[[], object]] = []
        if self._interface >= 0:
            steps.append(lambda: usb.util.release_interface(dev, self._interface))
        if self._detached:
            steps.append(lambda: dev.attach_kernel_driver(self._interface))
        for step in steps:
            try:
                step()
            except usb.core.USBError as exc:  # gone already: nothing left to give back
                log.debug("%s: while closing: %s", self.name, exc)
        usb.util.dispose_resources(dev)
        self._interface, self._detached = -1, False

    def __repr__(self) -> str:
        return f"<UsbHidScanner {self.config.id} {self.wanted} open={self._dev is not None}>"


def _bus_path(dev: Any) -> str:
    ports = ".".join(str(p) for p in (dev.port_numbers or ()))
    return f"{dev.bus}-{ports}" if ports else f"{dev.bus}"


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
