"""Kiosk screen test support: a seeded kiosk config and a badge-aware test client."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from flask import Flask
from flask.testing import FlaskClient

from benchpin.config import StationConfig
from kiosk.state import get_ledger
from kiosk.ledger import Ledger
from kiosk.server import KioskServer
from tests.kiosk_support import add_operators, spec
from tests.stations import station_config

SECRET = "test-secret-key-0123456789abcdef0123456789"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_MESSAGE = re.compile(r'<p class="msg [^"]*">([^<]*)</p>')


def ui_config(tmp_path: Path, *, mqtt_port: int = 1883, mqtt: dict[str, Any] | None = None,
              timezone: str | None = None, **kiosk: Any) -> StationConfig:
    """A casting-station kiosk on a SQLite ledger in ``tmp_path``."""
    return station_config(tmp_path, mqtt_port, mqtt=mqtt, timezone=timezone, kiosk={
        "gateway": "casting-1", "engraver": "engrave-1/laser-1", "scanners": ["casting-1/bench-3"], **kiosk})


def seed(ledger: Ledger) -> None:
    """Operators of every role, a wax tree TR-1 of two pieces and a bespoke piece, all at casting."""
    add_operators(ledger)
    ledger.import_pieces([
        spec("PC-1", style="Lotus ring", metal="silver_925", ring_size="N", stone_type="topaz",
             stone_colour="blue", tree_id="TR-1", order_id="ORD-9"),
        spec("PC-2", style="Lotus ring", metal="vermeil_18ct", tree_id="TR-1"),
        spec("PC-3", route="bespoke", style="Signet", metal="gold_18ct", ring_size="P"),
    ])
    for piece_id in ("PC-1", "PC-2"):
        for _ in range(4):  # design → cad → mold → wax_tree → casting
            ledger.advance(piece_id, operator="OP-SUP", station="setup")
    for _ in range(4):  # consultation → design_approval → cad → model → casting
        ledger.advance("PC-3", operator="OP-SUP", station="setup")


@contextmanager
def served_kiosk(tmp_path: Path, mqtt_port: int, *, test_config: dict[str, Any] | None = None,
                 **kiosk: Any) -> Iterator[KioskServer]:
    """The seeded kiosk served by its production server (waitress) on a free port."""
    config = ui_config(tmp_path, mqtt_port=mqtt_port, listen="127.0.0.1:0", threads=8, **kiosk)
    with KioskServer(config, {"SECRET_KEY": SECRET, **(test_config or {})}) as server:
        with server.app.app_context():
            seed(get_ledger())
        yield server


def csrf(client: FlaskClient) -> str:
    """Return the client's CSRF token (read from the idle screen's scan form)."""
    match = _CSRF.search(client.get("/").get_data(as_text=True))
    assert match, "no csrf token on the idle screen"
    return match.group(1)


def messages(html: str) -> list[str]:
    """Return the flash and refusal messages shown on a screen (still HTML-escaped)."""
    return _MESSAGE.findall(html)


class Kiosk:
    """A test client that knows its CSRF token: ``scan(code)``, ``post(url, **form)``.

    The token changes at every badge-in and logout: it is read again from every screen shown.
    With ``pin`` set, every form carries it, as a supervisor would type it on the PIN pad.
    """

    def __init__(self, app: Flask, pin: str = "") -> None:
        self.app = app
        self.client = app.test_client()
        self.token = csrf(self.client)
        self.pin = pin

    def _seen(self, response: Any) -> Any:
        if match := _CSRF.search(response.get_data(as_text=True)):
            self.token = match.group(1)
        return response

    def scan(self, code: str, **context: str) -> Any:
        return self._seen(self.client.post("/scan", data={"code": code, "csrf_token": self.token, **context},
                                           follow_redirects=True))

    def post(self, url: str, **form: str) -> Any:
        pin = {"pin": self.pin} if self.pin else {}
        return self._seen(self.client.post(url, data={"csrf_token": self.token, **pin, **form},
                                           follow_redirects=True))

    def get(self, url: str) -> Any:
        return self._seen(self.client.get(url, follow_redirects=True))
