"""The kiosk's Flask application factory.

``create_app(config)`` opens the ledger named by ``[kiosk]``, starts the MQTT bridge (unless
``KIOSK_EVENTS`` is false in ``test_config``) and registers the blueprints. Views reach the
ledger and the bridge through :mod:`kiosk.state`; both live as long as the app (the ledger
lends one pooled connection per call, so a request holds nothing to tear down); :func:`close_app` closes them. Settings may also come from ``BENCHPIN_*`` environment
variables (``app.config.from_prefixed_env``), e.g. under systemd ``Environment=``.

A ledger that cannot be opened at start (PostgreSQL down, a SQLite directory that cannot be
created) is logged in one line and opened on the first request once it answers; the bridge
starts with it (it publishes the ledger's moves, so it needs the ledger). Until then the
screens show "ledger unavailable" and the API and ``/healthz`` answer 503. Request bodies are
capped at ``MAX_CONTENT_LENGTH`` (413), and an id with a control character in a URL or a form
is refused (404 / 400) before it reaches the database.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import Flask, Response, abort, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from benchpin.config import ConfigError, StationConfig
from benchpin.outbox import MessageTooLarge, too_large_text
from kiosk.api import bp as api_bp
from kiosk.credentials import read_api_token
from kiosk.events import KioskBridge
from kiosk.ledger import Ledger
from kiosk.ledger.db import DatabaseUnavailable
from kiosk.state import EXTENSION, KioskState, get_bridge, get_ledger, kiosk_state
from kiosk.ui import close_ui, init_ui

__all__ = ["close_app", "create_app", "get_bridge", "get_ledger", "kiosk_state"]

log = logging.getLogger(__name__)

MAX_CONTENT_LENGTH = 64 * 1024  # a scan or a move is a few hundred bytes; nothing needs more


def create_app(config: StationConfig, test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the kiosk app for a station config with a ``[kiosk]`` section."""
    if config.kiosk is None:
        raise ConfigError([f"{config.source or 'config'}: no [kiosk] section"])
    kiosk = config.kiosk
    app = Flask(__name__)
    app.config.from_mapping(KIOSK_EVENTS=True, MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH)
    app.config.from_prefixed_env("BENCHPIN")
    if test_config:
        app.config.update(test_config)
    token = read_api_token(kiosk.api_token_file)
    events = bool(app.config["KIOSK_EVENTS"])

    def open_ledger() -> Ledger:
        ledger = Ledger.from_config(kiosk, config.metals)
        if events and state.bridge is None:
            try:
                state.bridge = KioskBridge(config, ledger)
                state.bridge.start()
            except BaseException:
                ledger.close()
                raise
        return ledger

    state = KioskState(config, None, None, token, open_ledger=open_ledger)
    app.extensions[EXTENSION] = state
    try:
        state.ledger  # noqa: B018  (open it now if it answers: the bridge then shares its session)
    except DatabaseUnavailable as exc:
        log.error("the ledger is unavailable (%s); serving the 'ledger unavailable' screen until it "
                  "answers, then opening it on the next request", exc)

    app.url_value_preprocessor(_refuse_control_characters_in_urls)
    app.before_request(_refuse_nul_in_forms)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(MessageTooLarge, _message_too_large)
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
    state.close_ledger()


def _refuse_control_characters_in_urls(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Answer 404 for a URL id no barcode can carry (a NUL would upset PostgreSQL)."""
    for value in (values or {}).values():
        if isinstance(value, str) and not value.isprintable():
            if _is_api():
                response = jsonify({"error": f"unknown id {value!r}"})
                response.status_code = 404
                abort(response)
            abort(404, description=f"There is nothing here called {value!r} (it has a control character).")


def _refuse_nul_in_forms() -> None:
    """Refuse a form or query value with a NUL (400): no text field or scan has one."""
    if any("\x00" in key or "\x00" in value for source in (request.args, request.form)
           for key, value in source.items(multi=True)):
        abort(400, description="The form sent a NUL character (a misread or a broken scanner?): nothing was done.")


def _too_large(exc: RequestEntityTooLarge) -> Response | tuple[Response, int] | tuple[str, int]:
    message = f"The request body is larger than the kiosk accepts ({MAX_CONTENT_LENGTH // 1024} KiB)."
    if _is_api():
        return jsonify({"error": message}), 413
    from kiosk.ui import error_screen

    return error_screen(413, "Too large", message)


def _message_too_large(exc: MessageTooLarge) -> Response | tuple[Response, int] | tuple[str, int]:
    """A move whose MQTT message would exceed the broker's limit: refused, nothing committed."""
    message = "Not done: " + too_large_text(exc)
    log.warning("refused %s %s: %s", request.method, request.path, exc)
    if _is_api():
        return jsonify({"error": message, "limit_bytes": exc.limit}), 413
    from kiosk.ui import error_screen

    return error_screen(413, "Too large", message)


def _is_api() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/") or request.path == "/healthz"
