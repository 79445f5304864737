"""The piece screen's "Print label" button: supervisors only, to the chosen printer."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask

from firmware_bridge.sim.zpl_printer import SimUsbPrinterBus, SimZplPrinter, ZplTcpListener, parse_zpl
from kiosk.app import close_app, create_app
from kiosk.state import get_ledger
from tests.kiosk_ui_support import SECRET, Kiosk, messages, seed
from tests.stations import station_config


@pytest.fixture
def listener() -> Iterator[ZplTcpListener]:
    with ZplTcpListener() as server:
        yield server


@pytest.fixture
def usb() -> tuple[SimUsbPrinterBus, SimZplPrinter]:
    bus, printer = SimUsbPrinterBus(), SimZplPrinter()
    bus.plug(printer)
    return bus, printer


def make_app(tmp_path: Path, printers: list[dict[str, Any]], *, datamatrix: bool = False, **extra: Any) -> Flask:
    config = station_config(tmp_path, kiosk={}, labels={"printers": printers, "datamatrix": datamatrix})
    app = create_app(config, {"TESTING": True, "KIOSK_EVENTS": False, "KIOSK_LIVE": False, "SECRET_KEY": SECRET,
                              **extra})
    with app.app_context():
        seed(get_ledger())
    return app


@pytest.fixture
def app(tmp_path: Path, listener: ZplTcpListener, usb: tuple[SimUsbPrinterBus, SimZplPrinter]) -> Iterator[Flask]:
    bus, printer = usb
    app = make_app(tmp_path, [{"name": "bench", "kind": "zpl-tcp", "host": listener.host, "port": listener.port},
                              {"name": "desk", "kind": "zpl-usb", "vendor_id": printer.vendor_id,
                               "product_id": printer.product_id}],
                   LABELS_USB_BACKEND=bus)
    yield app
    close_app(app)


def test_a_supervisor_prints_the_piece_label_on_the_chosen_printer(
        app: Flask, listener: ZplTcpListener, usb: tuple[SimUsbPrinterBus, SimZplPrinter]) -> None:
    kiosk = Kiosk(app)
    kiosk.scan("OP-SUP")
    page = kiosk.get("/pieces/PC-1").get_data(as_text=True)
    assert "Print label" in page and '<option value="desk">' in page
    answer = kiosk.post("/pieces/PC-1/label")
    assert answer.status_code == 200 and "PC-1: label sent to bench." in messages(answer.get_data(as_text=True))
    (job,) = listener.wait_jobs(1)
    (label,) = parse_zpl(job)
    assert label.barcodes() == ["PC-1"] and "order ORD-9 · ring N" in label.texts()
    kiosk.post("/pieces/PC-2/label", printer="desk")
    assert [lbl.barcodes() for lbl in parse_zpl(bytes(usb[1].received))] == [["PC-2"]]
    assert label.barcodes("BX") == []  # no Data Matrix unless labels.datamatrix


def test_with_labels_datamatrix_the_tag_carries_a_data_matrix_too(tmp_path: Path, listener: ZplTcpListener) -> None:
    app = make_app(tmp_path, [{"name": "bench", "kind": "zpl-tcp", "host": listener.host, "port": listener.port}],
                   datamatrix=True)
    try:
        kiosk = Kiosk(app)
        kiosk.scan("OP-SUP")
        answer = kiosk.post("/pieces/PC-1/label")
        assert "PC-1: label sent to bench." in messages(answer.get_data(as_text=True))
        (job,) = listener.wait_jobs(1)
        (label,) = parse_zpl(job)
        assert (label.barcodes(), label.barcodes("BX")) == (["PC-1"], ["PC-1"])
    finally:
        close_app(app)


def test_others_see_no_button_and_may_not_print(app: Flask, listener: ZplTcpListener) -> None:
    kiosk = Kiosk(app)
    kiosk.scan("OP-ART")
    assert "Print label" not in kiosk.get("/pieces/PC-1").get_data(as_text=True)
    assert kiosk.post("/pieces/PC-1/label").status_code == 403
    assert listener.wait_jobs(1, timeout=0.3) == []


def test_a_printer_that_fails_is_said_on_the_piece_screen(tmp_path: Path) -> None:
    app = make_app(tmp_path, [{"name": "gone", "kind": "zpl-usb", "vendor_id": 1, "product_id": 2}],
                   LABELS_USB_BACKEND=SimUsbPrinterBus())
    try:
        kiosk = Kiosk(app)
        kiosk.scan("OP-SUP")
        answer = kiosk.post("/pieces/PC-3/label")
        assert answer.status_code == 200
        assert any("label not printed: USB printer 0001:0002: not found" in m
                   for m in messages(answer.get_data(as_text=True)))
        assert kiosk.post("/pieces/PC-404/label").status_code == 404
    finally:
        close_app(app)


def test_no_printers_no_button(tmp_path: Path) -> None:
    app = make_app(tmp_path, [])
    try:
        kiosk = Kiosk(app)
        kiosk.scan("OP-SUP")
        assert "Print label" not in kiosk.get("/pieces/PC-1").get_data(as_text=True)
    finally:
        close_app(app)
