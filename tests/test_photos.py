"""Photo checks: the kiosk's camera (getUserMedia) to the ledger and back, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest

from kiosk.ledger import Ledger, MoveRefused, NotFound
from kiosk.ledger.ledger import PHOTO_MAX, photo_type
from tests.kiosk_support import passing, spec

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"


def png(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_photo_type_reads_the_file_s_own_signature() -> None:
    assert photo_type(JPEG) == "image/jpeg" and photo_type(png()) == "image/png"
    assert photo_type(b"GIF89a") == photo_type(b"") == photo_type(b"<svg") == ""


def test_ledger_keeps_a_photo_with_the_piece_s_stay_and_refuses_what_is_no_picture(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1")])
    photo_id = ledger.add_photo("PC-1", JPEG, check="photo", operator="OP-QC", station="qc")
    assert photo_id.startswith("PH-")
    assert ledger.photo(photo_id) == ("PC-1", "image/jpeg", JPEG)
    assert ledger.photo(ledger.add_photo("PC-1", png(), check="photo", operator="OP-QC", station="qc"))[1] == "image/png"
    with pytest.raises(MoveRefused, match="not a JPEG or PNG"):
        ledger.add_photo("PC-1", b"<html>", check="photo", operator="OP-QC", station="qc")
    with pytest.raises(MoveRefused, match=f"the most is {PHOTO_MAX}"):
        ledger.add_photo("PC-1", JPEG[:4] + b"\x00" * PHOTO_MAX, check="photo", operator="OP-QC", station="qc")
    with pytest.raises(NotFound):
        ledger.photo("PH-nothing")
    with pytest.raises(NotFound):
        ledger.add_photo("PC-404", JPEG, check="photo", operator="OP-QC", station="qc")


@pytest.fixture
def qc_app(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The seeded kiosk serving casting and QC, with PC-1 waiting at QC."""
    from kiosk.app import close_app, create_app
    from kiosk.state import get_ledger
    from tests.kiosk_ui_support import SECRET, seed, ui_config

    app = create_app(ui_config(tmp_path, station="casting, qc"),
                     {"TESTING": True, "KIOSK_EVENTS": False, "KIOSK_LIVE": False, "SECRET_KEY": SECRET})
    with app.app_context():
        ledger = get_ledger()
        seed(ledger)
        with ledger.db.transaction() as conn:  # its earlier stages are tested elsewhere
            conn.execute("UPDATE pieces SET stage = 'qc' WHERE piece_id = 'PC-1'")
    yield app
    close_app(app)


def test_ui_a_photo_from_the_screen_is_kept_shown_and_answers_the_check(qc_app) -> None:  # type: ignore[no-untyped-def]
    from kiosk.state import get_ledger
    from tests.kiosk_ui_support import Kiosk

    kiosk = Kiosk(qc_app)
    kiosk.scan("OP-QC")
    page = kiosk.get("/pieces/PC-1").get_data(as_text=True)
    assert 'data-camera="/pieces/PC-1/photos?check=photo"' in page
    unguarded = kiosk.client.post("/pieces/PC-1/photos?check=photo", data=JPEG, content_type="image/jpeg")
    assert unguarded.status_code in (400, 403)  # no CSRF token: refused like any POST
    headers = {"X-CSRF-Token": kiosk.token}
    kept = kiosk.client.post("/pieces/PC-1/photos?check=photo", data=JPEG, content_type="image/jpeg", headers=headers)
    assert kept.status_code == 201, kept.get_data(as_text=True)
    photo_id = kept.json["photo_id"]
    shown = kiosk.client.get(kept.json["url"])
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg" and shown.data == JPEG
    bad = kiosk.client.post("/pieces/PC-1/photos?check=photo", data=b"GIF89a", content_type="image/gif",
                            headers=headers)
    assert bad.status_code == 400 and "not a JPEG or PNG" in bad.json["error"]
    with qc_app.app_context():
        good = passing(get_ledger(), "PC-1")
    answers = {f"check.{name}": ("pass" if value is True else "fail" if value is False else str(value))
               for name, value in good.items() if name != "photo"}
    moved = kiosk.post("/pieces/PC-1/moves", version=str(_version(qc_app)), **{"check.photo": photo_id},
                       **answers)
    with qc_app.app_context():
        history = get_ledger().history("PC-1")
    assert history[-1].to_stage == "packing", moved.get_data(as_text=True)[-3000:]
    assert history[-1].checks is not None and history[-1].checks["photo"]["value"] == photo_id  # rode with the move
    assert f'href="/photos/{photo_id}"' in moved.get_data(as_text=True)
    kiosk.client.get("/")
    kiosk.scan("CMD-LOGOUT")
    assert kiosk.client.get(f"/photos/{photo_id}").status_code in (302, 303, 401, 403)  # not for anyone passing


def _version(app) -> int:  # type: ignore[no-untyped-def]
    from kiosk.state import get_ledger

    with app.app_context():
        return get_ledger().piece("PC-1").version
