"""Simulated ZPL label printers that record what they receive, and a small ZPL reader.

:class:`SimUsbPrinterBus` is a pyusb backend (``usb.backend.IBackend``) with
:class:`SimZplPrinter` devices: one printer-class interface (class 7, bidirectional) with a
bulk OUT endpoint (0x01) and a bulk IN endpoint (0x82), and the kernel's ``usblp`` driver
bound until someone detaches it. Pass the bus as ``backend=`` to pyusb. :class:`ZplTcpListener`
listens on a loopback port like a networked printer's raw port 9100 and records each
connection's bytes. :func:`parse_zpl` splits what a printer received into labels and fields,
undoing ``^FH`` hex escapes, so a test can check that the ``^BC`` field carries the id.
"""

from __future__ import annotations

import errno
import re
import socket
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Iterator

import usb.backend
import usb.core

ENDPOINT_OUT, ENDPOINT_IN = 0x01, 0x82
PRINTER_CLASS = 7


def _gone() -> usb.core.USBError:
    return usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)


class SimZplPrinter:
    """One simulated USB label printer; ``received`` holds every byte written to it."""

    def __init__(self, *, vendor_id: int = 0x0A5F, product_id: int = 0x0181, serial_number: str = "SIMZPL01",
                 packet_size: int = 64) -> None:
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.strings = {1: "benchpin sim", 2: "Sim ZPL Printer", 3: serial_number}
        self.packet_size = packet_size
        self.kernel_driver = True  # usblp is bound on plug
        self.claimed = False
        self.configured = 0
        self.plug: SimpleNamespace | None = None
        self.received = bytearray()
        self.writes = 0

    def __repr__(self) -> str:
        return f"<SimZplPrinter {self.vendor_id:04x}:{self.product_id:04x} plug={self.plug}>"


class SimUsbPrinterBus(usb.backend.IBackend):  # type: ignore[misc]  # pyusb is untyped
    """A pyusb backend whose devices are :class:`SimZplPrinter` objects."""

    def __init__(self, bus: int = 1) -> None:
        self.bus = bus
        self._next_address = 2
        self._plugged: list[SimZplPrinter] = []
        self._lock = threading.Lock()

    def plug(self, printer: SimZplPrinter, port_numbers: tuple[int, ...] = (1,)) -> None:
        with self._lock:
            printer.plug = SimpleNamespace(bus=self.bus, address=self._next_address, port_numbers=port_numbers)
            self._next_address += 1
            printer.kernel_driver, printer.claimed, printer.configured = True, False, 0
            self._plugged.append(printer)

    def unplug(self, printer: SimZplPrinter) -> None:
        with self._lock:
            self._plugged.remove(printer)
            printer.plug = None
            printer.claimed = False

    # ---------------------------------------------------------------- descriptors

    def enumerate_devices(self) -> Iterator[tuple[SimZplPrinter, SimpleNamespace]]:
        with self._lock:
            return iter([(p, p.plug) for p in self._plugged if p.plug is not None])

    def get_device_descriptor(self, dev: tuple[SimZplPrinter, SimpleNamespace]) -> SimpleNamespace:
        printer, plug = dev
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=printer.vendor_id, idProduct=printer.product_id,
            bcdDevice=0x0100, iManufacturer=1, iProduct=2, iSerialNumber=3, bNumConfigurations=1,
            address=plug.address, bus=plug.bus, port_number=plug.port_numbers[-1],
            port_numbers=plug.port_numbers, speed=3)

    def get_configuration_descriptor(self, dev: Any, config: int) -> SimpleNamespace:
        if config != 0:
            raise IndexError(config)
        return SimpleNamespace(bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1,
                               bConfigurationValue=1, iConfiguration=0, bmAttributes=0xC0, bMaxPower=1,
                               extra_descriptors=[])

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> SimpleNamespace:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError((intf, alt, config))
        return SimpleNamespace(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
                               bNumEndpoints=2, bInterfaceClass=PRINTER_CLASS, bInterfaceSubClass=1,
                               bInterfaceProtocol=2, iInterface=0, extra_descriptors=[])

    def get_endpoint_descriptor(self, dev: Any, ep: int, intf: int, alt: int, config: int) -> SimpleNamespace:
        if (intf, alt, config) != (0, 0, 0) or ep not in (0, 1):
            raise IndexError((ep, intf, alt, config))
        printer = dev[0]
        address = (ENDPOINT_IN, ENDPOINT_OUT)[ep]  # IN first, as many printers list them
        return SimpleNamespace(bLength=7, bDescriptorType=5, bEndpointAddress=address, bmAttributes=0x02,
                               wMaxPacketSize=printer.packet_size, bInterval=0, bRefresh=0, bSynchAddress=0,
                               extra_descriptors=[])

    # ---------------------------------------------------------------- I/O on a handle

    def open_device(self, dev: tuple[SimZplPrinter, SimpleNamespace]) -> tuple[SimZplPrinter, SimpleNamespace]:
        return self._check(dev)

    def close_device(self, dev_handle: Any) -> None:
        pass

    @staticmethod
    def _check(handle: tuple[SimZplPrinter, SimpleNamespace]) -> tuple[SimZplPrinter, SimpleNamespace]:
        printer, plug = handle
        if printer.plug is not plug:
            raise _gone()
        return handle

    def set_configuration(self, dev_handle: Any, config_value: int) -> None:
        self._check(dev_handle)[0].configured = config_value

    def get_configuration(self, dev_handle: Any) -> int:
        return int(self._check(dev_handle)[0].configured)

    def set_interface_altsetting(self, dev_handle: Any, intf: int, altsetting: int) -> None:
        self._check(dev_handle)

    def claim_interface(self, dev_handle: Any, intf: int) -> None:
        printer, _ = self._check(dev_handle)
        if printer.kernel_driver:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        printer.claimed = True

    def release_interface(self, dev_handle: Any, intf: int) -> None:
        self._check(dev_handle)[0].claimed = False

    def is_kernel_driver_active(self, dev_handle: Any, intf: int) -> bool:
        return bool(self._check(dev_handle)[0].kernel_driver)

    def detach_kernel_driver(self, dev_handle: Any, intf: int) -> None:
        self._check(dev_handle)[0].kernel_driver = False

    def attach_kernel_driver(self, dev_handle: Any, intf: int) -> None:
        printer, _ = self._check(dev_handle)
        if printer.claimed:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        printer.kernel_driver = True

    def bulk_write(self, dev_handle: Any, ep: int, intf: int, data: Any, timeout: int) -> int:
        printer, _ = self._check(dev_handle)
        if not printer.claimed:
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        if ep != ENDPOINT_OUT:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        chunk = bytes(data)
        printer.received += chunk
        printer.writes += 1
        return len(chunk)

    def ctrl_transfer(self, dev_handle: Any, bmRequestType: int, bRequest: int, wValue: int, wIndex: int,
                      data: Any, timeout: int) -> int:
        printer, _ = self._check(dev_handle)
        if bmRequestType == 0x80 and bRequest == 0x06 and wValue >> 8 == 3:  # GET_DESCRIPTOR string
            index = wValue & 0xFF
            raw = bytes([4, 3, 0x09, 0x04]) if index == 0 else None
            if index in printer.strings:
                text = printer.strings[index].encode("utf-16-le")
                raw = bytes([2 + len(text), 3]) + text
            if raw is None:
                raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
            count = min(len(data), len(raw))
            data[:count] = raw[:count]
            return count
        raise usb.core.USBError("Pipe error", -9, errno.EPIPE)


class ZplTcpListener:
    """A raw-port (9100) label printer on loopback; ``jobs`` holds each connection's bytes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = socket.create_server((host, port))
        self._server.settimeout(0.2)
        self.host, self.port = self._server.getsockname()[:2]
        self.jobs: list[bytes] = []
        self._done = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sim-zpl-9100", daemon=True)

    def __enter__(self) -> ZplTcpListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self._server.close()

    def wait_jobs(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """Wait until ``count`` connections have been received and closed; return all jobs."""
        with self._done:
            self._done.wait_for(lambda: len(self.jobs) >= count, timeout)
            return list(self.jobs)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5.0)
                data = bytearray()
                try:
                    while chunk := conn.recv(65536):
                        data += chunk
                except OSError:
                    pass
            with self._done:
                self.jobs.append(bytes(data))
                self._done.notify_all()


# ----------------------------------------------------------------------------- reading ZPL


@dataclass
class ZplField:
    """One ``^FO … ^FS`` field: its origin, the command that draws it (``BC``, ``A0``…) and its data."""

    x: int
    y: int
    kind: str
    params: str
    data: str


@dataclass
class ZplLabel:
    """One ``^XA … ^XZ`` label: the setup commands and the fields in order."""

    commands: list[str] = field(default_factory=list)
    fields: list[ZplField] = field(default_factory=list)

    def barcodes(self, kind: str = "BC") -> list[str]:
        return [f.data for f in self.fields if f.kind == kind]

    def texts(self) -> list[str]:
        return [f.data for f in self.fields if f.kind.startswith("A")]


def _unhex(data: str, indicator: str) -> str:
    raw = bytearray()
    i = 0
    encoded = data.encode("utf-8")
    mark = indicator.encode()
    while i < len(encoded):
        if encoded[i:i + 1] == mark and i + 3 <= len(encoded):
            raw.append(int(encoded[i + 1:i + 3], 16))
            i += 3
        else:
            raw.append(encoded[i])
            i += 1
    return raw.decode("utf-8")


def parse_zpl(data: bytes) -> list[ZplLabel]:
    """Split ZPL into labels and fields (enough ZPL for the labels benchpin prints)."""
    text = data.decode("utf-8")
    labels: list[ZplLabel] = []
    for body in re.findall(r"\^XA(.*?)\^XZ", text, flags=re.S):
        label = ZplLabel()
        x = y = 0
        kind, params, hexmark = "", "", ""
        for part in body.split("^")[1:]:
            part = part.rstrip("\r\n")
            command, arg = part[:2], part[2:]
            if command == "FO":
                x, y = (int(v or 0) for v in (arg.split(",") + ["0"])[:2])
            elif command == "FH":
                hexmark = arg[:1] or "_"
            elif command == "FD":
                label.fields.append(ZplField(x, y, kind, params, _unhex(arg, hexmark) if hexmark else arg))
            elif command == "FS":
                kind, params, hexmark = "", "", ""
            elif command in ("BC", "BX", "BQ") or command.startswith("A"):
                kind, params = command, arg
            else:
                label.commands.append("^" + part)
        labels.append(label)
    return labels
