"""Shared fixtures: a private mosquitto per test, pty serial pairs, gpiozero's MockFactory, ledgers on
SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from benchpin.broker import Mosquitto
from kiosk.ledger import Ledger
from firmware_bridge.sim.pty import PtyLink
from tests.kiosk_support import add_operators, postgres_reason, postgres_schema_url

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real mosquitto on a free loopback port; ``broker.stop()`` / ``broker.start()`` work."""
    with Mosquitto(workdir=tmp_path / "mosquitto") as mosquitto:
        yield mosquitto


@pytest.fixture
def pty_link(tmp_path: Path) -> Iterator[PtyLink]:
    """A simulated serial cable: the test writes on ``.write``, the service opens ``.link``."""
    with PtyLink(tmp_path / "ttySIM0") as link:
        yield link


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """A raw ``os.openpty`` pair: (master fd, slave device path)."""
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.fixture
def mock_factory() -> Iterator[object]:
    """gpiozero's own MockFactory, installed as the default pin factory for the test."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    previous = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = previous


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium under Playwright, one per test module (skipped without Playwright)."""
    from tests.helpers import CHROMIUM

    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(**CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(__file__).parent / "artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def postgres_unavailable() -> str | None:
    return postgres_reason()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path,
               postgres_unavailable: str | None) -> Iterator[str]:
    """A fresh, empty ledger database: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    if postgres_unavailable:
        pytest.skip(postgres_unavailable)
    yield from postgres_schema_url()


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """A ledger with one operator per role (OP-ART, OP-SET, OP-QC, OP-ENG, OP-SUP)."""
    with Ledger(ledger_url) as led:
        add_operators(led)
        yield led
