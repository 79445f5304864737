"""Per-app accessors, in the role ``flaskr/db.py`` plays in Flask's tutorial.

Blueprints import :func:`get_ledger`, :func:`get_bridge` and :func:`kiosk_state` from here,
never the application factory (:mod:`kiosk.app`), so the arrows point one way: the factory
imports the blueprints, the blueprints import this leaf.

The ledger may be down when the kiosk starts: :attr:`KioskState.ledger` then opens it on
first use, so the first request after the database comes back finds it, and until then every
use raises ``DatabaseUnavailable`` (a 503 and the "ledger unavailable" screen).
"""

from __future__ import annotations

import hmac
import threading
from typing import Callable

from flask import Flask, current_app

from benchpin.config import StationConfig
from kiosk.events import KioskBridge
from kiosk.ledger import Ledger
from kiosk.ledger.db import DatabaseUnavailable

EXTENSION = "benchpin.kiosk"


class KioskState:
    """What one app owns: its config, ledger, optional MQTT bridge and API token."""

    def __init__(self, config: StationConfig, ledger: Ledger | None, bridge: KioskBridge | None,
                 api_token: str, *, open_ledger: Callable[[], Ledger] | None = None) -> None:
        """``ledger`` None: ``open_ledger()`` opens it on first use (DatabaseUnavailable while down)."""
        self.config = config
        self._ledger = ledger
        self._open_ledger = open_ledger
        self._opening = threading.Lock()
        self._problem = ""
        self.bridge = bridge
        self.api_token = api_token

    @property
    def ledger(self) -> Ledger:
        """Return the ledger, opening it first if it is not open yet."""
        return self._ledger or self._open()

    @property
    def opened_ledger(self) -> Ledger | None:
        """Return the ledger if it is open (never tries to open it)."""
        return self._ledger

    def _open(self) -> Ledger:
        if self._open_ledger is None:
            raise DatabaseUnavailable("the ledger is closed")
        # One attempt at a time: while a database that hangs holds one thread for its connect
        # timeout, every other request is answered "unavailable" at once instead of queueing.
        if not self._opening.acquire(blocking=False):
            raise DatabaseUnavailable(self._problem or "the ledger is being opened")
        try:
            if self._ledger is None:
                try:
                    self._ledger = self._open_ledger()
                except DatabaseUnavailable as exc:
                    self._problem = str(exc)
                    raise
            return self._ledger
        finally:
            self._opening.release()

    def close_ledger(self) -> None:
        """Close the ledger if it is open; it is not opened again."""
        self._open_ledger = None
        if self._ledger is not None:
            self._ledger.close()

    def token_matches(self, presented: str) -> bool:
        """Compare a presented bearer token in constant time (never match when none is set)."""
        if not self.api_token:
            return False
        return hmac.compare_digest(presented.encode("utf-8"), self.api_token.encode("utf-8"))


def kiosk_state(app: Flask | None = None) -> KioskState:
    """Return what the current (or the given) app owns."""
    state: KioskState = (app or current_app).extensions[EXTENSION]
    return state


def get_ledger() -> Ledger:
    """Return the current app's ledger (inside a request or app context)."""
    return kiosk_state().ledger


def get_bridge() -> KioskBridge | None:
    """Return the current app's MQTT bridge, or None when events are off."""
    return kiosk_state().bridge
