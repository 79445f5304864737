"""Labels through the simulated printers: a pyusb backend double (bulk OUT) and a TCP 9100 listener.

Each test reads the ZPL the printer received: the ``^FD`` of the ``^BC`` field is the id.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Iterator

import pytest

from benchpin.config import PrinterConfig
from firmware_bridge.sim.zpl_printer import (SimUsbPrinterBus, SimZplPrinter, ZplField, ZplLabel, ZplTcpListener,
                                            parse_zpl)
from kiosk.labels import Label
from kiosk.labels.cli import label_for
from kiosk.labels.datamatrix import SIZES
from kiosk.labels.datamatrix import modules as matrix_modules
from kiosk.labels.layout import LabelSize, layout
from kiosk.labels.printers import PrinterError, print_labels, send_tcp
from kiosk.labels.render import to_zpl
from kiosk.ledger import Ledger
from tests.labels_support import CHECKED, PLAIN, fill


@pytest.fixture(params=[PLAIN, CHECKED], ids=["plain", "check-character"])
def labels(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Label]]:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        names = fill(ledger, request.param)
        yield [label_for(ledger, code) for code in names.values()]


def usb_printer(printer: SimZplPrinter) -> PrinterConfig:
    return PrinterConfig(name="bench-usb", kind="zpl-usb", vendor_id=printer.vendor_id,
                         product_id=printer.product_id)


def test_labels_print_over_usb_bulk_out(labels: list[Label]) -> None:
    bus, printer = SimUsbPrinterBus(), SimZplPrinter()
    bus.plug(printer)
    assert print_labels(labels, usb_printer(printer), usb_backend=bus) == ["bench-usb (USB 0a5f:0181)"]
    received = parse_zpl(bytes(printer.received))
    assert [label.barcodes() for label in received] == [[label.code] for label in labels]
    assert printer.kernel_driver and not printer.claimed  # usblp is given the printer back
    first = received[0]
    assert "^CI28" in first.commands and "^PW456" in first.commands and "^LL256" in first.commands
    assert first.texts() == [labels[0].code, *labels[0].lines]  # the id in text, then the lines


def test_a_missing_usb_printer_is_named() -> None:
    bus, printer = SimUsbPrinterBus(), SimZplPrinter()
    with pytest.raises(PrinterError, match="USB printer 0a5f:0181: not found"):
        print_labels([Label("piece", "PC-0001")], usb_printer(printer), usb_backend=bus)


def test_labels_print_over_tcp_9100(labels: list[Label]) -> None:
    with ZplTcpListener() as listener:
        config = PrinterConfig(name="bench-net", kind="zpl-tcp", host=listener.host, port=listener.port, dpi=300)
        print_labels(labels[:2], config)
        print_labels(labels[2:], config)
        jobs = listener.wait_jobs(2)
    assert len(jobs) == 2
    received = [label for job in jobs for label in parse_zpl(job)]
    assert [label.barcodes() for label in received] == [[label.code] for label in labels]
    assert "^PW673" in received[0].commands  # 57 mm at 300 dpi


def test_zpl_escapes_what_the_printer_would_read_as_commands() -> None:
    with ZplTcpListener() as listener:
        config = PrinterConfig(name="n", kind="zpl-tcp", host=listener.host, port=listener.port)
        print_labels([Label("piece", "PC-00_42", ("a^b~c_d",)), Label("piece", "PC-A^B~1")], config)
        (job,) = listener.wait_jobs(1)
    first, second = parse_zpl(job)
    assert first.barcodes() == ["PC-00_42"] and second.barcodes() == ["PC-A^B~1"]
    assert first.texts()[1] == "a^b~c_d"
    assert b"^FDa^b" not in job


def test_an_unreachable_tcp_printer_is_named() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PrinterError, match=f"printer at 127.0.0.1:{port}"):
        send_tcp(b"^XA^XZ", "127.0.0.1", port, timeout_s=2)


def test_a_pdf_printer_writes_one_file_per_label(labels: list[Label], tmp_path: Path) -> None:
    config = PrinterConfig(name="office", kind="pdf", directory=str(tmp_path))
    written = print_labels(labels, config)
    assert written == [str(tmp_path / f"{label.code}.pdf") for label in labels]
    assert all(Path(p).read_bytes().startswith(b"%PDF") for p in written)


def test_labels_print_over_a_serial_port(pty_pair: tuple[int, str]) -> None:
    import os
    import select

    master, device = pty_pair
    config = PrinterConfig(name="bench-serial", kind="zpl-serial", device=device, baudrate=9600)
    print_labels([Label("tree", "TR-0112", ("wax tree · 0 pieces",))], config)
    data = b""
    while not data.endswith(b"^XZ\n") and select.select([master], [], [], 5)[0]:
        data += os.read(master, 65536)
    (label,) = parse_zpl(data)
    assert label.barcodes() == ["TR-0112"]


def test_a_missing_serial_port_is_named(tmp_path: Path) -> None:
    config = PrinterConfig(name="s", kind="zpl-serial", device=str(tmp_path / "ttyUSB9"))
    with pytest.raises(PrinterError, match="ttyUSB9"):
        print_labels([Label("piece", "PC-0001")], config)


def test_a_long_batch_goes_over_usb_in_chunks_in_order() -> None:
    bus, printer = SimUsbPrinterBus(), SimZplPrinter()
    bus.plug(printer)
    batch = [Label("piece", f"PC-2026-{n:04d}", ("Molten Wave Stacking Ring", "925 silver · 925")) for n in range(80)]
    print_labels(batch, usb_printer(printer), usb_backend=bus)
    assert len(printer.received) > 16384 and printer.writes > 1
    assert [label.barcodes() for label in parse_zpl(bytes(printer.received))] == [[b.code] for b in batch]


def test_the_simulated_printer_is_busy_until_usblp_is_detached() -> None:
    import usb.core
    import usb.util

    bus, printer = SimUsbPrinterBus(), SimZplPrinter()
    bus.plug(printer)
    device = usb.core.find(idVendor=printer.vendor_id, idProduct=printer.product_id, backend=bus)
    device.set_configuration()
    with pytest.raises(usb.core.USBError, match="busy"):
        usb.util.claim_interface(device, 0)
    device.detach_kernel_driver(0)
    usb.util.claim_interface(device, 0)
    assert device.write(0x01, b"^XA^XZ") == 6 and printer.received == b"^XA^XZ"
    bus.unplug(printer)
    with pytest.raises(usb.core.USBError, match="No such device"):
        device.write(0x01, b"^XA^XZ")


BX = re.compile(r"N,(?P<module>\d+),200,(?P<columns>\d+),(?P<rows>\d+),,(?P<escape>.)")


def bx_fields(label: ZplLabel) -> list[tuple[ZplField, re.Match[str]]]:
    """Return each ``^BX`` field of ``label`` with its parameters, each checked well-formed."""
    out = []
    for field in label.fields:
        if field.kind == "BX":
            match = BX.fullmatch(field.params)
            assert match, f"^BX{field.params}"
            out.append((field, match))
    return out


def test_a_data_matrix_goes_to_zpl_as_the_printers_own_bx_at_quality_200(labels: list[Label]) -> None:
    with ZplTcpListener() as listener:
        config = PrinterConfig(name="bench-net", kind="zpl-tcp", host=listener.host, port=listener.port)
        print_labels(labels, config, datamatrix=True)
        (job,) = listener.wait_jobs(1)
    received = parse_zpl(job)
    assert [(label.barcodes(), label.barcodes("BX")) for label in received] == [([lb.code], [lb.code]) for lb in labels]
    for label, sent in zip(received, labels):
        ((field, match),) = bx_fields(label)
        side = len(matrix_modules(sent.code))
        assert int(match["columns"]) == int(match["rows"]) == side and side in [s.size for s in SIZES]
        expected = layout(sent, LabelSize(), datamatrix=True).matrix
        assert expected is not None
        assert (field.x, field.y, int(match["module"])) == (expected.x, expected.y, expected.module)
        assert match["escape"] not in sent.code + ",^~"
    assert b"^BX" not in b"".join(to_zpl(layout(lb, LabelSize())) for lb in labels)  # only when asked


def test_the_bx_escape_character_is_one_the_id_does_not_hold() -> None:
    with ZplTcpListener() as listener:
        config = PrinterConfig(name="n", kind="zpl-tcp", host=listener.host, port=listener.port)
        print_labels([Label("piece", "PC-00_42"), Label("piece", "PC-A^B~1!")], config, datamatrix=True)
        (job,) = listener.wait_jobs(1)
    first, second = parse_zpl(job)
    assert first.barcodes("BX") == ["PC-00_42"] and second.barcodes("BX") == ["PC-A^B~1!"]
    escapes = [match["escape"] for label in (first, second) for _, match in bx_fields(label)]
    assert escapes == ["!", "_"]
    assert b"^FH_^FDPC-00_5F42^FS" in job
