"""Per-app accessors, in the role ``flaskr/db.py`` plays in Flask's tutorial.

Blueprints import :func:`get_ledger`, :func:`get_bridge` and :func:`kiosk_state` from here,
never the application factory (:mod:`kiosk.app`), so the arrows point one way: the factory
imports the blueprints, the blueprints import this leaf.
"""

from __future__ import annotations

import hmac

from flask import Flask, current_app

from benchpin.config import StationConfig
from kiosk.events import KioskBridge
from kiosk.ledger import Ledger

EXTENSION = "benchpin.kiosk"


class KioskState:
    """What one app owns: its config, ledger, optional MQTT bridge and API token."""

    def __init__(self, config: StationConfig, ledger: Ledger, bridge: KioskBridge | None,
                 api_token: str) -> None:
        self.config = config
        self.ledger = ledger
        self.bridge = bridge
        self.api_token = api_token

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
