"""Labels out to a printer or a file: ZPL II over USB, TCP port 9100 or serial; PDF or PNG files.

:func:`print_labels` sends labels to a ``[[labels.printers]]`` entry; :func:`write_output`
writes them to a ``.zpl``, ``.pdf`` or ``.png`` file; with ``datamatrix=True`` each label
carries a Data Matrix of its id beside the Code 128. A USB printer is found by vendor and
product id; the kernel's ``usblp`` driver is detached while benchpin writes to the first bulk
OUT endpoint of the printer interface, and attached again after. Every failure to reach a
printer is a :class:`PrinterError` naming the printer and what went wrong.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Sequence

from benchpin.config import PrinterConfig
from kiosk.labels.content import Label
from kiosk.labels.layout import LabelSize, Layout, layout
from kiosk.labels.render import to_pdf, to_png, to_zpl

OUTPUT_SUFFIXES = (".zpl", ".pdf", ".png")
USB_CHUNK = 16384
PRINTER_CLASS = 7


class PrinterError(Exception):
    """A printer that cannot be reached or refused the data."""


def size_of(printer: PrinterConfig) -> LabelSize:
    return LabelSize(width_mm=printer.width_mm, height_mm=printer.height_mm, dpi=printer.dpi)


def zpl_of(labels: Sequence[Label], size: LabelSize, *, datamatrix: bool = False) -> bytes:
    """Return the ZPL of ``labels``, one ``^XA … ^XZ`` each, in order."""
    return b"".join(to_zpl(layout(label, size, datamatrix=datamatrix)) for label in labels)


def print_labels(labels: Sequence[Label], printer: PrinterConfig, *, datamatrix: bool = False,
                 usb_backend: Any = None) -> list[str]:
    """Send ``labels`` to ``printer``; return what was written where (for the user)."""
    size = size_of(printer)
    # a label too small fails before anything is sent
    layouts = [layout(label, size, datamatrix=datamatrix) for label in labels]
    if printer.kind in ("pdf", "png"):
        directory = Path(printer.directory)
        written = []
        for lay in layouts:
            path = directory / f"{lay.label.code}.{printer.kind}"
            _write(path, to_pdf([lay]) if printer.kind == "pdf" else to_png(lay))
            written.append(str(path))
        return written
    data = b"".join(to_zpl(lay) for lay in layouts)
    if printer.kind == "zpl-tcp":
        send_tcp(data, printer.host, printer.port, timeout_s=printer.timeout_s)
        where = f"{printer.host}:{printer.port}"
    elif printer.kind == "zpl-serial":
        send_serial(data, printer.device, printer.baudrate, timeout_s=printer.timeout_s)
        where = printer.device
    elif printer.kind == "zpl-usb":
        send_usb(data, printer.vendor_id, printer.product_id, timeout_s=printer.timeout_s, backend=usb_backend)
        where = f"USB {printer.vendor_id:04x}:{printer.product_id:04x}"
    else:
        raise PrinterError(f"printer {printer.name}: unknown kind {printer.kind!r}")
    return [f"{printer.name} ({where})"]


def write_output(labels: Sequence[Label], path: Path, size: LabelSize = LabelSize(), *,
                 datamatrix: bool = False) -> list[str]:
    """Write ``labels`` to ``path`` by its suffix: ZPL or PDF hold them all; PNG is one file a label.

    With several labels and a ``.png``, each goes to ``NAME-ID.png`` next to ``path``.
    """
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise PrinterError(f"{path}: the file name must end in {', '.join(OUTPUT_SUFFIXES)}")
    layouts: list[Layout] = [layout(label, size, datamatrix=datamatrix) for label in labels]
    if suffix == ".zpl":
        _write(path, b"".join(to_zpl(lay) for lay in layouts))
        return [str(path)]
    if suffix == ".pdf":
        _write(path, to_pdf(layouts))
        return [str(path)]
    if len(layouts) == 1:
        _write(path, to_png(layouts[0]))
        return [str(path)]
    written = []
    for lay in layouts:
        one = path.with_name(f"{path.stem}-{lay.label.code}{path.suffix}")
        _write(one, to_png(lay))
        written.append(str(one))
    return written


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise PrinterError(f"{path}: cannot write: {exc.strerror or exc}") from None


# ----------------------------------------------------------------------------- transports


def send_tcp(data: bytes, host: str, port: int = 9100, *, timeout_s: float = 10.0) -> None:
    """Send ``data`` to a printer's raw port and close the connection (which ends the job)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as conn:
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
    except OSError as exc:
        raise PrinterError(f"printer at {host}:{port}: {exc.strerror or exc}") from None


def send_serial(data: bytes, device: str, baudrate: int = 9600, *, timeout_s: float = 10.0) -> None:
    """Write ``data`` to a printer on a serial port and wait until it has left."""
    import serial

    try:
        with serial.Serial(device, baudrate, write_timeout=timeout_s) as port:
            port.write(data)
            port.flush()
    except (serial.SerialException, OSError) as exc:
        raise PrinterError(f"printer on {device}: {exc}") from None


def send_usb(data: bytes, vendor_id: int, product_id: int, *, timeout_s: float = 10.0, backend: Any = None) -> None:
    """Write ``data`` to the bulk OUT endpoint of the USB printer ``vendor_id:product_id``."""
    import usb.core
    import usb.util

    name = f"USB printer {vendor_id:04x}:{product_id:04x}"
    try:
        device = usb.core.find(idVendor=vendor_id, idProduct=product_id, backend=backend)
    except usb.core.NoBackendError:
        raise PrinterError(f"{name}: no USB library (install libusb-1.0)") from None
    if device is None:
        raise PrinterError(f"{name}: not found (is it plugged in and switched on?)")
    try:
        try:
            config = device.get_active_configuration()
        except usb.core.USBError:
            device.set_configuration()
            config = device.get_active_configuration()
        interfaces = list(config)
        interface = next((i for i in interfaces if i.bInterfaceClass == PRINTER_CLASS), interfaces[0])
        number = interface.bInterfaceNumber
        detached = False
        try:
            if device.is_kernel_driver_active(number):
                device.detach_kernel_driver(number)
                detached = True
        except NotImplementedError:  # not on every platform
            pass
        usb.util.claim_interface(device, number)
        try:
            endpoint = usb.util.find_descriptor(interface, custom_match=_bulk_out)
            if endpoint is None:
                raise PrinterError(f"{name}: its printer interface has no bulk OUT endpoint")
            for start in range(0, len(data), USB_CHUNK):
                endpoint.write(data[start:start + USB_CHUNK], timeout=int(timeout_s * 1000))
        finally:
            usb.util.release_interface(device, number)
            if detached:
                try:
                    device.attach_kernel_driver(number)
                except (usb.core.USBError, NotImplementedError):
                    pass
    except usb.core.USBError as exc:
        raise PrinterError(f"{name}: {exc}") from None
    finally:
        usb.util.dispose_resources(device)


def _bulk_out(endpoint: Any) -> bool:
    import usb.util

    return bool(usb.util.endpoint_direction(endpoint.bEndpointAddress) == usb.util.ENDPOINT_OUT
                and usb.util.endpoint_type(endpoint.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK)
