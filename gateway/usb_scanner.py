"""A USB barcode scanner in HID keyboard mode, read directly with pyusb.

The scanner is claimed from the kernel's keyboard driver, so its codes never type into
whatever window has focus; the driver gets the scanner back when the gateway lets go.
pyusb loads a backend only in ``usb.core.find()``, so importing it here costs nothing on a
machine without libusb.
"""

from __future__ import annotations

import errno
import logging
import time
from typing import Any, Callable

import usb.core
import usb.util

from benchpin.config import ScannerConfig
from firmware_bridge.hid import LAYOUTS, HidDecoder
from gateway.scan_bridge import ScanBridge, hand_on
from gateway.supervisor import DeviceFailure

log = logging.getLogger(__name__)

USB_READ_TIMEOUT_MS = 100
HID_CLASS, BOOT_SUBCLASS, KEYBOARD_PROTOCOL = 3, 1, 1
SET_PROTOCOL, BOOT_PROTOCOL = 0x0B, 0


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

        try:
            self._dev = self._find()
            self._claim()
        except (usb.core.USBError, ValueError) as exc:
            raise DeviceFailure(f"cannot open USB scanner {self.wanted}: {exc}") from exc
        self._decoder.reset()
        log.info("%s: USB scanner %s open at bus %s address %s", self.name, self.wanted,
                 self._dev.bus, self._dev.address)

    def _find(self) -> Any:
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
        try:
            data = self._dev.read(self._endpoint.bEndpointAddress, max(8, self._endpoint.wMaxPacketSize),
                                  timeout=USB_READ_TIMEOUT_MS)
        except usb.core.USBTimeoutError:
            if self._decoder.pending and time.monotonic() - self._last_data > self.config.idle_s:
                hand_on(self.bridge, self._decoder.flush_idle())
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
        hand_on(self.bridge, self._decoder.flush_idle(), "disconnected mid-code: ")
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
