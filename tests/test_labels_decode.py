"""Every label scans back to its id: PNG and PDF (through pdftoppm) read by zxing-cpp, for pieces,
trees and badges, with and without the site's check character."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator

import pytest

from firmware_bridge.barcodes import BarcodeRules
from kiosk.labels import LabelSize, LayoutError, badge_label, layout, piece_label, to_pdf, to_png, tree_label
from kiosk.labels.cli import label_for
from kiosk.ledger import Ledger
from tests.labels_support import CHECKED, PLAIN, decode, decode_both, fill, pdf_pages_as_png

SIZES = [LabelSize(), LabelSize(dpi=300), LabelSize(width_mm=50.8, height_mm=25.4, dpi=203),
         LabelSize(width_mm=45.0, height_mm=25.4, dpi=203)]
SIZE_IDS = ["57x32@203", "57x32@300", "51x25@203", "45x25@203"]


@pytest.fixture(params=[PLAIN, CHECKED], ids=["plain", "check-character"])
def filled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Ledger, dict[str, str]]]:
    rules: BarcodeRules = request.param
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        yield ledger, fill(ledger, rules)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_every_png_label_scans_back_to_its_id(filled: tuple[Ledger, dict[str, str]], size: LabelSize,
                                              tmp_path: Path) -> None:
    ledger, names = filled
    for name, code in names.items():
        png = to_png(layout(label_for(ledger, code), size))
        (tmp_path / f"{name}.png").write_bytes(png)
        assert decode(png) == [code], name


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_the_png_bars_are_the_encoders_modules_with_quiet_zones(size: LabelSize) -> None:
    from PIL import Image

    from kiosk.labels import Label
    from kiosk.labels.code128 import QUIET_MODULES, bars

    lay = layout(Label("piece", "PC-2026-0042X", ("Molten Wave Stacking Ring",)), size)
    bc = lay.barcode
    assert bc.x >= QUIET_MODULES * bc.module and bc.x + bc.width + QUIET_MODULES * bc.module <= size.width
    image = Image.open(io.BytesIO(to_png(lay)))
    assert image.size == (size.width, size.height)
    row = [image.getpixel((x, bc.y + bc.height // 2)) == 0 for x in range(size.width)]
    expected = [False] * bc.x + [bar for bar in bars(bc.data, quiet=0) for _ in range(bc.module)]
    assert row == expected + [False] * (size.width - len(expected))


def test_every_pdf_page_scans_back_to_its_id(filled: tuple[Ledger, dict[str, str]], tmp_path: Path) -> None:
    ledger, names = filled
    codes = list(names.values())
    pdf = tmp_path / "labels.pdf"
    pdf.write_bytes(to_pdf([layout(label_for(ledger, code)) for code in codes]))
    pages = pdf_pages_as_png(pdf)
    assert [decode(page) for page in pages] == [[code] for code in codes]


def test_the_pdf_page_is_the_label_size(tmp_path: Path, filled: tuple[Ledger, dict[str, str]]) -> None:
    ledger, names = filled
    data = to_pdf([layout(label_for(ledger, names["ring"]))])
    # 57 x 32 mm at 203 dpi: 456 x 256 dots, each 72/203 pt
    assert b"/MediaBox [0 0 161.734 90.798]" in data
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")


def test_what_each_label_says(filled: tuple[Ledger, dict[str, str]]) -> None:
    ledger, names = filled
    ring = piece_label(ledger.piece(names["ring"]))
    assert ring.lines == ("Molten Wave Stacking Ring", "18ct gold vermeil 2.5 µm · 925", "order ORD-77 · ring N½")
    pendant = piece_label(ledger.piece(names["pendant"]))
    assert pendant.lines[1:] == ("925 silver · 925", "order ORD-77 · chain 45.5 cm")
    tree = tree_label(ledger.tree(names["tree"]))
    assert tree.lines == ("wax tree · 2 pieces", "925 silver · 925", "18ct gold vermeil 2.5 µm · 925")
    badge = badge_label(ledger.operator(names["badge"]))
    assert (badge.code, badge.lines) == (names["badge"], ("Asha Rao", "supervisor"))
    texts = [t.text for t in layout(ring).texts]
    assert texts[0] == names["ring"]  # the id in text under the bars


def test_a_label_too_small_for_its_id_is_refused(filled: tuple[Ledger, dict[str, str]]) -> None:
    ledger, names = filled
    with pytest.raises(LayoutError, match="needs .* mm at 203 dpi"):
        layout(label_for(ledger, names["ring"]), LabelSize(width_mm=20.0))
    with pytest.raises(LayoutError, match="mm tall"):
        layout(label_for(ledger, names["ring"]), LabelSize(height_mm=6.0))


def test_a_long_style_is_cut_to_the_width() -> None:
    from kiosk.labels import Label

    lay = layout(Label("piece", "PC-0001", ("x" * 200,)))
    assert lay.texts[1].text.endswith("…") and len(lay.texts[1].text) < 60


@pytest.mark.parametrize("code", ["PC-A12425GABC1234002M", "PC-2026-000001-ABCDEFG", "TR-1", "OP-00"])
@pytest.mark.parametrize("dpi", [203, 300])
def test_long_and_short_ids_scan_back_on_the_job_bag_label(code: str, dpi: int, tmp_path: Path) -> None:
    from kiosk.labels import Label

    lay = layout(Label("piece", code, ("Molten Wave Stacking Ring",)), LabelSize(dpi=dpi))
    assert decode(to_png(lay)) == [code]
    pdf = tmp_path / "one.pdf"
    pdf.write_bytes(to_pdf([lay]))
    # The bars are whole dots of the label's dpi: printed (rasterised) at that dpi or a multiple.
    # At 203 dpi a long id gets one-dot modules, which a 300 dpi raster cannot draw evenly.
    assert [decode(page) for page in pdf_pages_as_png(pdf, dpi=2 * dpi)] == [[code]]


# ----------------------------------------------------------------------------- with a Data Matrix


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_every_png_label_with_a_data_matrix_scans_back_to_its_id_twice(filled: tuple[Ledger, dict[str, str]],
                                                                      size: LabelSize) -> None:
    ledger, names = filled
    for name, code in names.items():
        png = to_png(layout(label_for(ledger, code), size, datamatrix=True))
        assert decode_both(png) == ([code], [code]), name


def test_every_pdf_page_with_a_data_matrix_scans_back_to_its_id_twice(filled: tuple[Ledger, dict[str, str]],
                                                                     tmp_path: Path) -> None:
    ledger, names = filled
    codes = list(names.values())
    pdf = tmp_path / "labels.pdf"
    pdf.write_bytes(to_pdf([layout(label_for(ledger, code), datamatrix=True) for code in codes]))
    pages = pdf_pages_as_png(pdf, dpi=2 * LabelSize.dpi)
    assert [decode_both(page) for page in pages] == [([code], [code]) for code in codes]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("code", ["PC-2026-0042X", "PC-A12425GABC1234002M", "TR-1", "OP-00"])
def test_the_data_matrix_stands_beside_the_bars_clear_of_them_and_of_the_text(size: LabelSize, code: str) -> None:
    from PIL import Image

    from kiosk.labels import Label
    from kiosk.labels.code128 import QUIET_MODULES
    from kiosk.labels.datamatrix import QUIET_MODULES as MATRIX_QUIET
    from kiosk.labels.datamatrix import modules

    lay = layout(Label("piece", code, ("Molten Wave Stacking Ring", "925 silver · 925", "order ORD-77")), size,
                 datamatrix=True)
    bc, dm = lay.barcode, lay.matrix
    assert dm is not None and dm.modules == modules(code) and dm.module >= 2
    clear = dm.module * MATRIX_QUIET
    assert bc.x >= QUIET_MODULES * bc.module
    assert dm.x - (bc.x + bc.width) >= max(QUIET_MODULES * bc.module, clear)  # both quiet zones kept
    assert dm.x + dm.width + clear <= size.width and dm.y - clear >= 0
    assert dm.y + dm.width + clear <= bc.y + bc.height  # within the bars' band: the text below keeps its room
    assert [t.text for t in lay.texts] == [t.text for t in layout(lay.label, size).texts]  # nothing cut for it
    image = Image.open(io.BytesIO(to_png(lay)))
    for y, row in enumerate(dm.modules):  # the centre of each module is drawn as the encoder says
        for x, dark in enumerate(row):
            centre = (dm.x + x * dm.module + dm.module // 2, dm.y + y * dm.module + dm.module // 2)
            assert (image.getpixel(centre) == 0) == dark, (x, y)


def test_the_pdf_draws_the_data_matrix_where_the_png_does(tmp_path: Path) -> None:
    from PIL import Image

    from kiosk.labels import Label

    lay = layout(Label("piece", "PC-2026-0042X", ("Molten Wave Stacking Ring",)), datamatrix=True)
    dm = lay.matrix
    assert dm is not None
    pdf = tmp_path / "one.pdf"
    pdf.write_bytes(to_pdf([lay]))
    (page,) = pdf_pages_as_png(pdf, dpi=lay.size.dpi)  # one pixel per dot, as the PNG
    image = Image.open(io.BytesIO(page)).convert("L")
    for y, row in enumerate(dm.modules):
        for x, dark in enumerate(row):
            centre = (dm.x + x * dm.module + dm.module // 2, dm.y + y * dm.module + dm.module // 2)
            assert (image.getpixel(centre) < 128) == dark, (x, y)


def test_a_label_too_small_for_both_codes_is_refused_naming_the_dimension() -> None:
    from kiosk.labels import Label

    label = Label("piece", "PC-A12425GABC1234002M", ("Molten Wave Stacking Ring", "925 silver · 925", "order ORD-77"))
    layout(label, LabelSize(width_mm=38.0))  # the Code 128 alone fits
    with pytest.raises(LayoutError, match="Data Matrix side by side need .* mm at 203 dpi") as narrow:
        layout(label, LabelSize(width_mm=38.0), datamatrix=True)
    assert narrow.value.dimension == "width_mm"
    layout(label, LabelSize(height_mm=13.0))
    with pytest.raises(LayoutError, match="13 mm tall; its 18x18 Data Matrix needs 5.0 mm") as short:
        layout(label, LabelSize(height_mm=13.0), datamatrix=True)
    assert short.value.dimension == "height_mm"
