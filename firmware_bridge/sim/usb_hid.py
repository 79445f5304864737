"""Simulated USB HID barcode scanners on a simulated bus: a pyusb backend (``usb.backend.IBackend``).

Pass a :class:`SimUsbBus` as ``backend=`` to pyusb (or ``usb_backend=`` to the gateway). Each
:class:`SimHidScanner` has one boot-keyboard interface with an interrupt IN endpoint (0x81),
string descriptors (manufacturer, product, serial number) and a kernel keyboard driver bound
until someone detaches it. ``scan`` queues the reports a scanner sends for a code; ``unplug``
drops the scanner off the bus (reads fail with ENODEV, queued reports are lost, as when the
cable is pulled) and ``plug`` puts it back at a new address, as the USB stack does.
"""

from __future__ import annotations

import array
import collections
import errno
import threading
import time
from types import SimpleNamespace
from typing import Any, Iterable, Iterator

import usb.backend
import usb.core

from firmware_bridge.hid import US, Layout, encode_text

ENDPOINT_IN = 0x81
GET_DESCRIPTOR, SET_IDLE, SET_PROTOCOL = 0x06, 0x0A, 0x0B
STRING = 3


def _gone() -> usb.core.USBError:
    return usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)


class SimHidScanner:
    """One simulated USB barcode scanner in keyboard mode."""

    def __init__(self, *, vendor_id: int = 0x0C2E, product_id: int = 0x0B61, serial_number: str = "SIM0001",
                 product: str = "Sim Barcode Scanner", layout: Layout = US) -> None:
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.strings = {1: "benchpin sim", 2: product, 3: serial_number}
        self.layout = layout
        self.kernel_driver = True  # the kernel's keyboard driver is bound on plug
        self.claimed = False
        self.protocol = 1  # HID report protocol until the host asks for boot
        self.plug: SimpleNamespace | None = None  # bus, address, port_numbers while plugged
        self._reports: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()

    def scan(self, code: str, **typing: Any) -> None:
        """Queue the reports for ``code`` (see :func:`firmware_bridge.hid.encode_text` for options)."""
        self.play(encode_text(code, self.layout, **typing))

    def play(self, reports: Iterable[bytes]) -> None:
        """Queue recorded reports, sent one per interrupt read."""
        with self._cond:
            self._reports.extend(bytes(r) for r in reports)
            self._cond.notify_all()

    def wait_drained(self, timeout: float = 10.0) -> bool:
        """Wait until the host has read every queued report."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._reports, timeout)

    def _next_report(self, timeout_s: float) -> bytes | None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._reports and self.plug is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if self.plug is None:
                raise _gone()
            report = self._reports.popleft()
            self._cond.notify_all()
            return report

    def _lose_power(self) -> None:
        with self._cond:
            self._reports.clear()
            self.plug = None
            self.claimed = False
            self._cond.notify_all()

    def __repr__(self) -> str:
        return f"<SimHidScanner {self.vendor_id:04x}:{self.product_id:04x} serial={self.strings[3]} plug={self.plug}>"


class SimUsbBus(usb.backend.IBackend):  # type: ignore[misc]  # pyusb is untyped
    """A pyusb backend whose devices are :class:`SimHidScanner` objects."""

    def __init__(self, bus: int = 1) -> None:
        self.bus = bus
        self._next_address = 2
        self._plugged: list[SimHidScanner] = []
        self._lock = threading.Lock()

    def plug(self, scanner: SimHidScanner, port_numbers: tuple[int, ...] = (1,)) -> None:
        """Plug ``scanner`` in at ``port_numbers``; it gets a fresh address."""
        with self._lock:
            if scanner.plug is not None:
                raise ValueError(f"{scanner} is already plugged in")
            scanner.plug = SimpleNamespace(bus=self.bus, address=self._next_address, port_numbers=port_numbers)
            self._next_address += 1
            scanner.kernel_driver, scanner.protocol = True, 1
            self._plugged.append(scanner)

    def unplug(self, scanner: SimHidScanner) -> None:
        """Pull the cable: pending and future I/O on the scanner fails with ENODEV."""
        with self._lock:
            self._plugged.remove(scanner)
        scanner._lose_power()

    # ---------------------------------------------------------------- descriptors

    def enumerate_devices(self) -> Iterator[tuple[SimHidScanner, SimpleNamespace]]:
        with self._lock:
            return iter([(s, s.plug) for s in self._plugged if s.plug is not None])

    def get_device_descriptor(self, dev: tuple[SimHidScanner, SimpleNamespace]) -> SimpleNamespace:
        scanner, plug = dev
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=8, idVendor=scanner.vendor_id, idProduct=scanner.product_id,
            bcdDevice=0x0100, iManufacturer=1, iProduct=2, iSerialNumber=3, bNumConfigurations=1,
            address=plug.address, bus=plug.bus, port_number=plug.port_numbers[-1],
            port_numbers=plug.port_numbers, speed=2)

    def get_configuration_descriptor(self, dev: Any, config: int) -> SimpleNamespace:
        if config != 0:
            raise IndexError(config)
        return SimpleNamespace(bLength=9, bDescriptorType=2, wTotalLength=34, bNumInterfaces=1,
                               bConfigurationValue=1, iConfiguration=0, bmAttributes=0xA0, bMaxPower=50,
                               extra_descriptors=[])

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> SimpleNamespace:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError((intf, alt, config))
        return SimpleNamespace(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
                               bNumEndpoints=1, bInterfaceClass=3, bInterfaceSubClass=1, bInterfaceProtocol=1,
                               iInterface=0, extra_descriptors=[])

    def get_endpoint_descriptor(self, dev: Any, ep: int, intf: int, alt: int, config: int) -> SimpleNamespace:
        if (ep, intf, alt, config) != (0, 0, 0, 0):
            raise IndexError((ep, intf, alt, config))
        return SimpleNamespace(bLength=7, bDescriptorType=5, bEndpointAddress=ENDPOINT_IN, bmAttributes=0x03,
                               wMaxPacketSize=8, bInterval=10, bRefresh=0, bSynchAddress=0, extra_descriptors=[])

    # ---------------------------------------------------------------- I/O on a handle

    def open_device(self, dev: tuple[SimHidScanner, SimpleNamespace]) -> tuple[SimHidScanner, SimpleNamespace]:
        return self._check(dev)

    def close_device(self, dev_handle: Any) -> None:
        pass

    @staticmethod
    def _check(handle: tuple[SimHidScanner, SimpleNamespace]) -> tuple[SimHidScanner, SimpleNamespace]:
        scanner, plug = handle
        if scanner.plug is not plug:
            raise _gone()
        return handle

    def set_configuration(self, dev_handle: Any, config_value: int) -> None:
        self._check(dev_handle)

    def get_configuration(self, dev_handle: Any) -> int:
        self._check(dev_handle)
        return 1

    def set_interface_altsetting(self, dev_handle: Any, intf: int, altsetting: int) -> None:
        self._check(dev_handle)

    def claim_interface(self, dev_handle: Any, intf: int) -> None:
        scanner, _ = self._check(dev_handle)
        if scanner.kernel_driver:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        scanner.claimed = True

    def release_interface(self, dev_handle: Any, intf: int) -> None:
        scanner, _ = self._check(dev_handle)
        scanner.claimed = False

    def is_kernel_driver_active(self, dev_handle: Any, intf: int) -> bool:
        return self._check(dev_handle)[0].kernel_driver

    def detach_kernel_driver(self, dev_handle: Any, intf: int) -> None:
        self._check(dev_handle)[0].kernel_driver = False

    def attach_kernel_driver(self, dev_handle: Any, intf: int) -> None:
        scanner, _ = self._check(dev_handle)
        if scanner.claimed:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        scanner.kernel_driver = True

    def intr_read(self, dev_handle: Any, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
        scanner, _ = self._check(dev_handle)
        if not scanner.claimed:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        report = scanner._next_report(timeout / 1000 if timeout else 3600.0)
        if report is None:
            raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
        count = min(len(buff), len(report))
        buff[:count] = array.array("B", report[:count])
        return count

    def ctrl_transfer(self, dev_handle: Any, bmRequestType: int, bRequest: int, wValue: int, wIndex: int,
                      data: array.array[int], timeout: int) -> int:
        scanner, _ = self._check(dev_handle)
        if bmRequestType == 0x80 and bRequest == GET_DESCRIPTOR and wValue >> 8 == STRING:
            index = wValue & 0xFF
            if index == 0:
                raw = bytes([4, STRING, 0x09, 0x04])  # LANGID en-US
            elif index in scanner.strings:
                text = scanner.strings[index].encode("utf-16-le")
                raw = bytes([2 + len(text), STRING]) + text
            else:
                raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
            count = min(len(data), len(raw))
            data[:count] = array.array("B", raw[:count])
            return count
        if bmRequestType == 0x21 and bRequest == SET_PROTOCOL:
            scanner.protocol = wValue
            return 0
        if bmRequestType == 0x21 and bRequest == SET_IDLE:
            return 0
        raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
