"""The kiosk's Flask application factory.

``create_app(config)`` opens the ledger named by ``[kiosk]``, starts the MQTT bridge (unless
``KIOSK_EVENTS`` is false in ``test_config``) and registers the blueprints. Views reach the
ledger and the bridge through :mod:`kiosk.state`; both live as long as the app (the ledger
lends one pooled connection per call, so a request holds nothing to tear down); :func:`close_app` closes them. Settings may also come from ``BENCHPIN_*`` environment
variables (``app.config.from_prefixed_env``), e.g. under systemd ``Environment=``.
"""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from benchpin.config import ConfigError, StationConfig
from kiosk.api import bp as api_bp
from kiosk.credentials import read_api_token
from kiosk.events import KioskBridge
from kiosk.ledger import Ledger
from kiosk.state import EXTENSION, KioskState, get_bridge, get_ledger, kiosk_state
from kiosk.ui import close_ui, init_ui

__all__ = ["close_app", "create_app", "get_bridge", "get_ledger", "kiosk_state"]


def create_app(config: StationConfig, test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the kiosk app for a station config with a ``[kiosk]`` section."""
    if config.kiosk is None:
        raise ConfigError([f"{config.source or 'config'}: no [kiosk] section"])
    app = Flask(__name__)
    app.config.from_mapping(KIOSK_EVENTS=True)
    app.config.from_prefixed_env("BENCHPIN")
    if test_config:
        app.config.update(test_config)
    token = read_api_token(config.kiosk.api_token_file)
    ledger = Ledger.from_config(config.kiosk)
    bridge = KioskBridge(config, ledger) if app.config["KIOSK_EVENTS"] else None
    app.extensions[EXTENSION] = KioskState(config, ledger, bridge, token)
    if bridge is not None:
        bridge.start()

    app.register_blueprint(api_bp)
    init_ui(app)
    return app


def close_app(app: Flask) -> None:
    """Stop the bridge and close the ledger of an app; safe to call twice."""
    close_ui(app)
    state = app.extensions.pop(EXTENSION, None)
    if state is None:
        return
    if state.bridge is not None:
        state.bridge.stop()
    state.ledger.close()
