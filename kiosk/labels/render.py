"""A :class:`~kiosk.labels.layout.Layout` as ZPL II, PNG or PDF.

ZPL uses the printer's own Code 128 (``^BC`` in automatic mode), so a Zebra-type printer
draws the bars at its own resolution; text is its scalable font 0, UTF-8 (``^CI28``), every
field hex-escaped with ``^FH`` where it holds ``^``, ``~`` or ``_``. PNG is drawn with Pillow
at the label's dpi, the bars from :mod:`kiosk.labels.code128`. PDF is a small hand-written
file (one page per label, sized to the label; bars as filled rectangles, text in the standard
Helvetica font, so nothing is embedded and any PDF reader or printer driver takes it).

A layout's Data Matrix goes to ZPL as the printer's own ``^BX`` at quality 200 (ECC 200), its
rows and columns forced to the size the layout made room for, and its escape character one the
id does not hold (the printer reads that character as the start of a control sequence). PNG
and PDF draw the modules of :mod:`kiosk.labels.datamatrix`, dark runs of each row as one
rectangle.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Iterable, Sequence

from kiosk.labels.layout import Barcode, Layout, Matrix

if TYPE_CHECKING:
    from PIL import ImageFont

# ----------------------------------------------------------------------------- ZPL

_ZPL_SPECIAL = {"_": "_5F", "^": "_5E", "~": "_7E"}


def zpl_field(text: str) -> str:
    """Return ``^FD…^FS`` for ``text``, with ``^FH_`` and hex escapes if it holds ``_ ^ ~``."""
    if not any(c in text for c in _ZPL_SPECIAL):
        return f"^FD{text}^FS"
    escaped = "".join(_ZPL_SPECIAL.get(c, c) for c in text)
    return f"^FH_^FD{escaped}^FS"


# Candidates for ^BX's escape character, in order: never ',' (the parameter separator) nor the
# command prefixes '^' and '~'. An id of at most 90 distinct characters leaves one of them free.
_BX_ESCAPES = "_" + "".join(chr(c) for c in range(33, 127) if chr(c) not in ",^~_")


def bx_escape(text: str) -> str:
    """Return an escape character for ``^BX`` that ``text`` does not hold."""
    for char in _BX_ESCAPES:
        if char not in text:
            return char
    raise ValueError("the text holds every character ^BX could take as its escape character")


def zpl_matrix(matrix: Matrix) -> str:
    """Return the ``^FO … ^BX … ^FD … ^FS`` of a Data Matrix: quality 200, its size forced."""
    side = len(matrix.modules)
    return (f"^FO{matrix.x},{matrix.y}^BXN,{matrix.module},200,{side},{side},,{bx_escape(matrix.data)}"
            f"{zpl_field(matrix.data)}")


def to_zpl(layout: Layout) -> bytes:
    """Return one ZPL II label (``^XA … ^XZ``) for ``layout``."""
    size, bc = layout.size, layout.barcode
    out = ["^XA", "^CI28", f"^PW{size.width}", f"^LL{size.height}", "^LH0,0",
           f"^FO{bc.x},{bc.y}^BY{bc.module},3,{bc.height}^BCN,{bc.height},N,N,N,A{zpl_field(bc.data)}"]
    if layout.matrix is not None:
        out.append(zpl_matrix(layout.matrix))
    for text in layout.texts:
        out.append(f"^FO{text.x},{text.y}^A0N,{text.height},{text.height}{zpl_field(text.text)}")
    out.append("^XZ")
    return ("\n".join(out) + "\n").encode("utf-8")


def runs(barcode: Barcode) -> list[tuple[int, int]]:
    """Return each bar of ``barcode`` as (first module, width in modules)."""
    out: list[tuple[int, int]] = []
    start = None
    for i, bar in enumerate((*barcode.modules, False)):
        if bar and start is None:
            start = i
        elif not bar and start is not None:
            out.append((start, i - start))
            start = None
    return out


def matrix_runs(matrix: Matrix) -> list[tuple[int, int, int]]:
    """Return each run of dark modules of ``matrix`` as (row, first column, length)."""
    out: list[tuple[int, int, int]] = []
    for y, row in enumerate(matrix.modules):
        start = None
        for x, dark in enumerate((*row, False)):
            if dark and start is None:
                start = x
            elif not dark and start is not None:
                out.append((y, start, x - start))
                start = None
    return out


# ----------------------------------------------------------------------------- PNG

# DejaVu Sans (Debian's fonts-dejavu-core) has every glyph a label needs (µ, ½, accents);
# Pillow's own font is the fallback and lacks some of them.
FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf",
              "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _font(height: int) -> "ImageFont.FreeTypeFont | ImageFont.ImageFont":
    from PIL import ImageFont

    for path in FONT_FILES:
        try:
            return ImageFont.truetype(path, height)
        except OSError:
            continue
    return ImageFont.load_default(size=height)


def to_png(layout: Layout) -> bytes:
    """Return ``layout`` drawn black on white, one pixel per printer dot, as PNG bytes."""
    from PIL import Image, ImageDraw

    size, bc = layout.size, layout.barcode
    image = Image.new("1", (size.width, size.height), 1)
    draw = ImageDraw.Draw(image)
    for start, width in runs(bc):
        x0 = bc.x + start * bc.module
        draw.rectangle((x0, bc.y, x0 + width * bc.module - 1, bc.y + bc.height - 1), fill=0)
    if (dm := layout.matrix) is not None:
        for row, col, length in matrix_runs(dm):
            x0, y0 = dm.x + col * dm.module, dm.y + row * dm.module
            draw.rectangle((x0, y0, x0 + length * dm.module - 1, y0 + dm.module - 1), fill=0)
    room = size.width - layout.texts[0].x * 2 if layout.texts else size.width
    for text in layout.texts:
        font = _font(text.height)
        line = text.text
        while len(line) > 1 and font.getlength(line) > room:
            line = line[:-2].rstrip() + "…"
        draw.text((text.x, text.y), line, font=font, fill=0, anchor="la")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(size.dpi, size.dpi))
    return buffer.getvalue()


# ----------------------------------------------------------------------------- PDF


def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _page_content(layout: Layout) -> bytes:
    size, bc = layout.size, layout.barcode
    pt = 72.0 / size.dpi
    top = size.height * pt
    ops: list[bytes] = [b"0 g"]
    for start, width in runs(bc):
        x = (bc.x + start * bc.module) * pt
        ops.append(f"{x:.3f} {top - (bc.y + bc.height) * pt:.3f} {width * bc.module * pt:.3f} "
                   f"{bc.height * pt:.3f} re".encode())
    if (dm := layout.matrix) is not None:
        for row, col, length in matrix_runs(dm):
            ops.append(f"{(dm.x + col * dm.module) * pt:.3f} {top - (dm.y + (row + 1) * dm.module) * pt:.3f} "
                       f"{length * dm.module * pt:.3f} {dm.module * pt:.3f} re".encode())
    ops.append(b"f")
    for text in layout.texts:
        font_pt = text.height * pt
        baseline = top - text.y * pt - 0.78 * font_pt
        ops.append(b"BT /F1 %.2f Tf %.3f %.3f Td (" % (font_pt, text.x * pt, baseline)
                   + _pdf_text(text.text) + b") Tj ET")
    return b"\n".join(ops) + b"\n"


def to_pdf(layouts: Sequence[Layout]) -> bytes:
    """Return a PDF with one page per layout, each page the size of its label."""
    if not layouts:
        raise ValueError("a PDF needs at least one label")
    objects: list[bytes] = []  # object n is objects[n - 1]
    n_pages = len(layouts)
    page_ids = [4 + 2 * i for i in range(n_pages)]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % p for p in page_ids)
                   + b"] /Count %d >>" % n_pages)
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for layout, page_id in zip(layouts, page_ids):
        pt = 72.0 / layout.size.dpi
        content = _page_content(layout)
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.3f %.3f] /Resources << /Font << /F1 3 0 R >> >> "
                       b"/Contents %d 0 R >>" % (layout.size.width * pt, layout.size.height * pt, page_id + 1))
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream")
    return _pdf_file(objects)


def _pdf_file(objects: Iterable[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref)
    return bytes(out)
