"""The kiosk's Flask application factory.

``create_app(config)`` opens the ledger named by ``[kiosk]``, starts the MQTT bridge (unless
``KIOSK_EVENTS`` is false in ``test_config``) and registers the blueprints. Views reach the
ledger with :func:`get_ledger` and the bridge with :func:`get_bridge`; both live as long as
the app (the ledger lends one pooled connection per call, so a request holds nothing to tear
down); :func:`close_app` closes them. Settings may also come from ``BENCHPIN_*`` environment
variables (``app.config.from_prefixed_env``), e.g. under systemd ``Environment=``.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, current_app

from benchpin.config import ConfigError, StationConfig
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


def read_secret_file(key: str, path: str, *, what: str, min_length: int) -> str:
    """Read a secret from the file a config ``key`` names; ConfigError naming the key if unusable."""
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError([f"{key}: cannot read {path}: {exc.strerror or exc}"]) from exc
    if len(secret) < min_length:
        raise ConfigError([f"{key}: the {what} in {path} is shorter than {min_length} characters"])
    return secret


def read_api_token(path: str) -> str:
    """Read the bearer token file; '' when no file is configured (the API then refuses all)."""
    if not path:
        return ""
    return read_secret_file("kiosk.api_token_file", path, what="token", min_length=16)


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

    from kiosk.api import bp as api_bp

    app.register_blueprint(api_bp)
    from kiosk.ui import init_ui

    init_ui(app)
    return app


def kiosk_state(app: Flask | None = None) -> KioskState:
    return (app or current_app).extensions[EXTENSION]


def get_ledger() -> Ledger:
    """Return the current app's ledger (inside a request or app context)."""
    return kiosk_state().ledger


def get_bridge() -> KioskBridge | None:
    """Return the current app's MQTT bridge, or None when events are off."""
    return kiosk_state().bridge


def close_app(app: Flask) -> None:
    """Stop the bridge and close the ledger of an app; safe to call twice."""
    from kiosk.ui import close_ui

    close_ui(app)
    state = app.extensions.pop(EXTENSION, None)
    if state is None:
        return
    if state.bridge is not None:
        state.bridge.stop()
    state.ledger.close()
