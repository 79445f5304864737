"""``benchpin label``, ``pieces import --labels`` and the ``[[labels.printers]]`` checks of check-config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchpin.cli import main
from firmware_bridge.sim.zpl_printer import ZplTcpListener, parse_zpl
from kiosk.ledger import Ledger
from tests import stations
from tests.labels_support import CHECKED, decode, decode_both, fill, ids, pdf_pages_as_png
from tests.stations import station_file

CSV = """piece_id,route,style,order_id,metal,ring_size
{a},production,Molten Wave Stacking Ring,ORD-90,silver_925,M
{b},production,Savi Droplet Pendant,ORD-90,gold_plated_brass,
"""


def station(tmp_path: Path, printers: list[dict[str, Any]], *, check: bool = True, **labels: Any) -> Path:
    barcodes = {"barcodes": {"check_digit": "iso7064-mod37-36"}} if check else {}
    return station_file(tmp_path, stations.station(tmp_path, kiosk={}, labels={"printers": printers, **labels},
                                                   **barcodes))


def pieces_csv(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """Write a CSV of the ring and the pendant (check characters included); return their ids and the file."""
    codes = ids(CHECKED)
    csv = tmp_path / "pieces.csv"
    csv.write_text(CSV.format(a=codes["ring"], b=codes["pendant"]), encoding="utf-8")
    return codes, csv


def bench(listener: ZplTcpListener) -> dict[str, Any]:
    """The ``[[labels.printers]]`` entry of a ZPL printer on ``listener``'s port."""
    return {"name": "bench", "kind": "zpl-tcp", "host": listener.host, "port": listener.port}


def test_label_prints_on_the_first_printer_or_the_named_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ZplTcpListener() as first, ZplTcpListener() as second:
        config = station(tmp_path, [{"name": "bench", "kind": "zpl-tcp", "host": first.host, "port": first.port},
                                    {"name": "office", "kind": "zpl-tcp", "host": second.host, "port": second.port}])
        with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
            names = fill(ledger, CHECKED)
        assert main(["label", names["ring"], names["tree"], "--config", str(config)]) == 0
        assert main(["label", names["badge"], "--printer", "office", "--config", str(config)]) == 0
        (job,) = first.wait_jobs(1)
        (badge_job,) = second.wait_jobs(1)
    assert [label.barcodes() for label in parse_zpl(job)] == [[names["ring"]], [names["tree"]]]
    assert [label.barcodes() for label in parse_zpl(badge_job)] == [[names["badge"]]]
    out = capsys.readouterr().out
    assert f"2 labels → bench ({first.host}:{first.port})" in out


def test_label_writes_png_pdf_and_zpl_files(tmp_path: Path) -> None:
    config = station(tmp_path, [])
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        names = fill(ledger, CHECKED)
    codes = [names["ring"], names["tree"], names["badge"]]
    assert main(["label", *codes, "--output", str(tmp_path / "tag.png"), "--config", str(config)]) == 0
    for code in codes:
        assert decode((tmp_path / f"tag-{code}.png").read_bytes()) == [code]
    assert main(["label", names["band"], "--output", str(tmp_path / "one.png"), "--dpi", "300",
                 "--config", str(config)]) == 0
    assert decode((tmp_path / "one.png").read_bytes()) == [names["band"]]
    assert main(["label", *codes, "--output", str(tmp_path / "all.pdf"), "--config", str(config)]) == 0
    assert [decode(page) for page in pdf_pages_as_png(tmp_path / "all.pdf")] == [[c] for c in codes]
    assert main(["label", *codes, "--output", str(tmp_path / "all.zpl"), "--size", "50.8x25.4",
                 "--config", str(config)]) == 0
    zpl = parse_zpl((tmp_path / "all.zpl").read_bytes())
    assert [label.barcodes() for label in zpl] == [[c] for c in codes]
    assert "^PW406" in zpl[0].commands


def test_label_refuses_an_unknown_id_before_printing_anything(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    config = station(tmp_path, [])
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        names = fill(ledger, CHECKED)
    out = tmp_path / "x.pdf"
    assert main(["label", names["ring"], "PC-9999-0000", "--output", str(out), "--config", str(config)]) == 1
    assert not out.exists()
    assert "PC-9999-0000" in capsys.readouterr().err
    assert main(["label", names["ring"], "--config", str(config)]) == 1
    assert "no [[labels.printers]]" in capsys.readouterr().err
    assert main(["label", names["ring"], "--output", str(tmp_path / "x.gif"), "--config", str(config)]) == 1
    assert "must end in .zpl, .pdf, .png" in capsys.readouterr().err
    assert main(["label", names["ring"], "--dpi", "300", "--config", str(config)]) == 2


def test_pieces_import_labels_prints_a_tag_for_each_imported_piece(tmp_path: Path) -> None:
    codes, csv = pieces_csv(tmp_path)
    with ZplTcpListener() as listener:
        config = station(tmp_path, [bench(listener)])
        assert main(["pieces", "import", str(csv), "--labels", "--config", str(config)]) == 0
        (job,) = listener.wait_jobs(1)
    received = parse_zpl(job)
    assert [label.barcodes() for label in received] == [[codes["ring"]], [codes["pendant"]]]
    assert "gold-plated brass 2 µm · GP" in received[1].texts()


def test_pieces_import_without_labels_prints_nothing(tmp_path: Path) -> None:
    codes, csv = pieces_csv(tmp_path)
    with ZplTcpListener() as listener:
        config = station(tmp_path, [bench(listener)])
        assert main(["pieces", "import", str(csv), "--config", str(config)]) == 0
        assert listener.wait_jobs(1, timeout=0.5) == []


def test_check_config_names_each_printer_problem_by_key_path(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = station(tmp_path, [
        {"name": "usb", "kind": "zpl-usb", "vendor_id": 0x0A5F},
        {"name": "net", "kind": "zpl-tcp"},
        {"name": "net", "kind": "zpl-serial", "device": "/dev/ttyUSB0", "baudrate": "fast"},
        {"name": "files", "kind": "png", "directory": str(tmp_path / "nowhere")},
        {"name": "tiny", "kind": "pdf", "directory": str(tmp_path), "width_mm": 20},
        {"name": "laser", "kind": "inkjet", "dpi": 50},
    ])
    with pytest.raises(SystemExit) as exited:
        main(["check-config", str(config)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    for expected in (
            "labels.printers[0].vendor_id: vendor_id and product_id are required for a zpl-usb printer",
            "labels.printers[1].host: host is required for a zpl-tcp printer",
            "labels.printers[2].baudrate: must be an integer",
            "labels.printers[2].name: duplicate name 'net'",
            f"labels.printers[3].directory: no such directory: {tmp_path / 'nowhere'}",
            "labels.printers[4].width_mm: too small a label for an id such as PC-2026-00042X",
            "labels.printers[5].kind: must be one of 'zpl-usb', 'zpl-tcp', 'zpl-serial', 'pdf', 'png'",
            "labels.printers[5].dpi: must be at least 100"):
        assert expected in err, expected


def test_a_good_printer_config_passes(tmp_path: Path) -> None:
    config = station(tmp_path, [{"name": "bench", "kind": "zpl-usb", "vendor_id": 0x0A5F, "product_id": 0x0181,
                                 "dpi": 300, "width_mm": 57, "height_mm": 32}])
    assert main(["check-config", str(config)]) == 0


def test_label_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["label", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--output tree.pdf" in out and "--printer NAME" in out
    assert "--datamatrix, --no-datamatrix" in out and "labels.datamatrix" in out


def test_label_datamatrix_puts_both_codes_on_png_pdf_and_zpl(tmp_path: Path) -> None:
    config = station(tmp_path, [])
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        names = fill(ledger, CHECKED)
    codes = [names["ring"], names["tree"], names["badge"]]
    assert main(["label", *codes, "--datamatrix", "--output", str(tmp_path / "tag.png"), "--config", str(config)]) == 0
    for code in codes:
        assert decode_both((tmp_path / f"tag-{code}.png").read_bytes()) == ([code], [code])
    assert main(["label", *codes, "--datamatrix", "--output", str(tmp_path / "all.pdf"), "--config", str(config)]) == 0
    pages = pdf_pages_as_png(tmp_path / "all.pdf", dpi=406)
    assert [decode_both(page) for page in pages] == [([c], [c]) for c in codes]
    assert main(["label", *codes, "--datamatrix", "--output", str(tmp_path / "all.zpl"), "--config", str(config)]) == 0
    zpl = parse_zpl((tmp_path / "all.zpl").read_bytes())
    assert [(label.barcodes(), label.barcodes("BX")) for label in zpl] == [([c], [c]) for c in codes]
    assert main(["label", names["ring"], "--output", str(tmp_path / "plain.png"), "--config", str(config)]) == 0
    assert decode_both((tmp_path / "plain.png").read_bytes()) == ([names["ring"]], [])  # off unless asked


def test_labels_datamatrix_in_the_config_reaches_every_printed_label(tmp_path: Path) -> None:
    codes, csv = pieces_csv(tmp_path)
    with ZplTcpListener() as listener:
        config = station(tmp_path, [bench(listener)], datamatrix=True)
        assert main(["pieces", "import", str(csv), "--labels", "--config", str(config)]) == 0
        assert main(["label", codes["ring"], "--config", str(config)]) == 0
        assert main(["label", codes["ring"], "--no-datamatrix", "--config", str(config)]) == 0
        imported, one, without = listener.wait_jobs(3)
    assert [label.barcodes("BX") for label in parse_zpl(imported)] == [[codes["ring"]], [codes["pendant"]]]
    assert [label.barcodes("BX") for label in parse_zpl(one)] == [[codes["ring"]]]
    assert [(label.barcodes(), label.barcodes("BX")) for label in parse_zpl(without)] == [([codes["ring"]], [])]


def test_check_config_checks_labels_datamatrix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    printers = [{"name": "narrow", "kind": "pdf", "directory": str(tmp_path), "width_mm": 30}]
    assert main(["check-config", str(station(tmp_path, printers))]) == 0  # the Code 128 alone fits
    with pytest.raises(SystemExit) as exited:
        main(["check-config", str(station(tmp_path, printers, datamatrix=True))])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert ("labels.printers[0].width_mm: too small a label for an id such as PC-2026-00042X: its barcode and "
            "16x16 Data Matrix side by side need 30.7 mm") in err
    with pytest.raises(SystemExit):
        main(["check-config", str(station(tmp_path, [], datamatrix="yes"))])
    assert "labels.datamatrix: must be true or false" in capsys.readouterr().err
