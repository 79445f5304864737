"""A small ledger for the label tests: pieces, a wax tree and badges, with and without check characters."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import zxingcpp
from PIL import Image

from firmware_bridge.barcodes import BarcodeRules, validate, with_check_digit
from kiosk.ledger import Ledger, PieceSpec

CHECKED = BarcodeRules(check_digit="iso7064-mod37-36")
PLAIN = BarcodeRules()


def ids(rules: BarcodeRules) -> dict[str, str]:
    """The ids of the label ledger under ``rules`` (check character appended when they ask for one)."""
    return {name: with_check_digit(code, rules) for name, code in (
        ("ring", "PC-2026-0042"), ("pendant", "PC-2026-0043"), ("band", "PC-2026-0107"),
        ("tree", "TR-0112"), ("badge", "OP-0007"))}


def fill(ledger: Ledger, rules: BarcodeRules) -> dict[str, str]:
    """Put the label ledger's records in ``ledger``; return their ids by name."""
    names = ids(rules)
    assert all(validate(code, rules).valid for code in names.values())
    ledger.import_pieces([
        PieceSpec(piece_id=names["ring"], route="production", style="Molten Wave Stacking Ring",
                  order_id="ORD-77", metal="vermeil_18ct", ring_size="N½", tree_id=names["tree"]),
        PieceSpec(piece_id=names["pendant"], route="production", style="Savi Sculptural Droplet Pendant",
                  order_id="ORD-77", metal="silver_925", chain_length_cm=45.5, tree_id=names["tree"]),
        PieceSpec(piece_id=names["band"], route="bespoke", style="Emerald Band", order_id="ORD-78",
                  metal="gold_18ct", ring_size="6.5"),
    ])
    ledger.add_operator(names["badge"], "Asha Rao", "supervisor")
    return names


def decode(png: bytes, kind: zxingcpp.BarcodeFormat = zxingcpp.BarcodeFormat.Code128) -> list[str]:
    """Return the text of every barcode of ``kind`` (Code 128 unless told) a real decoder finds in a PNG."""
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return [r.text for r in found if r.format == kind]


def decode_both(png: bytes) -> tuple[list[str], list[str]]:
    """Return the texts of the Code 128 and of the Data Matrix symbols a real decoder finds in a PNG."""
    return decode(png), decode(png, zxingcpp.BarcodeFormat.DataMatrix)


def pdf_pages_as_png(pdf: Path, dpi: int = 300) -> list[bytes]:
    """Rasterise each page of ``pdf`` with poppler's pdftoppm."""
    prefix = pdf.with_suffix("")
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(prefix)], check=True, timeout=60)
    return [p.read_bytes() for p in sorted(pdf.parent.glob(f"{prefix.name}-*.png"))]
