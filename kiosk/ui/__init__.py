"""The kiosk's touch screens: blueprints, badge sessions, CSRF, live push, error pages.

``init_ui(app)`` is called by the application factory; ``close_ui(app)`` (called by
``close_app``) stops the live feed.
Test settings: ``KIOSK_LIVE`` (False: no MQTT session for scans/temperatures) and
``SECRET_KEY`` (else ``kiosk.secret_key_file``, else a random key per start).
While the ledger is down every screen is the "ledger unavailable" screen (503), which fetches
itself again every few seconds, so the screen recovers by itself once the database answers.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from kiosk.credentials import read_secret_file
from kiosk.ledger.db import DatabaseUnavailable
from kiosk.historian import Historian
from kiosk.i18n import _, init_i18n
from kiosk.live import LiveFeed
from kiosk.state import kiosk_state
from kiosk.ui import auth
from kiosk.ui.names import stage_label
from kiosk.ui.state import EXTENSION, UiState
from kiosk.ui.view import render_screen
from kiosk.ui.words import say

log = logging.getLogger(__name__)

LEDGER_RETRY_MS = 5000  # the "ledger unavailable" screen asks again this often


def read_secret_key(path: str) -> str:
    """Read the session key file, or make a random key (sessions then end on restart)."""
    if not path:
        log.warning("kiosk.secret_key_file is not set: using a random session key; "
                    "badge sessions end when the kiosk restarts")
        return secrets.token_hex(32)
    return read_secret_file("kiosk.secret_key_file", path, what="key", min_length=32)


def init_ui(app: Flask) -> None:
    """Register the screens, the live feed and the error pages on a kiosk app."""
    config = kiosk_state(app).config
    assert config.kiosk is not None
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = read_secret_key(config.kiosk.secret_key_file)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Strict")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    from kiosk.ui.stream import screen_networks

    screen_networks(config.kiosk.screen_addresses)  # a bad address stops the start, naming the key
    # Each stream holds a worker thread: leave at least half of them to the screens and the API.
    max_streams = min(config.kiosk.max_streams, config.kiosk.threads // 2)
    if max_streams < config.kiosk.max_streams:
        log.warning("kiosk.max_streams = %d leaves too few of kiosk.threads = %d for the screens: "
                    "allowing %d live streams", config.kiosk.max_streams, config.kiosk.threads, max_streams)
    bridge = kiosk_state(app).bridge
    live = LiveFeed(config, connect=app.config.get("KIOSK_LIVE", True), max_listeners=max_streams,
                    session=bridge.session if bridge is not None else None)  # one connection per kiosk
    if config.kiosk.gateway and app.config.get("KIOSK_LIVE", True):
        live.historian = Historian(lambda: kiosk_state(app).ledger, raw_days=config.kiosk.history_raw_days,
                                   days=config.kiosk.history_days, flush_s=config.kiosk.history_flush_s)
        live.historian.start()
    app.extensions[EXTENSION] = UiState(live=live, idle_logout_s=config.kiosk.idle_logout_s,
                                        stages=config.kiosk.stations)
    app.jinja_env.globals["csrf_token"] = auth.csrf_token
    init_i18n(app, default=config.kiosk.language, timezone=config.site.timezone)
    app.jinja_env.filters["stage_label"] = stage_label
    app.jinja_env.filters["say"] = say

    from kiosk.ui.screens import bp as screens_bp
    from kiosk.ui.stations import bp as stations_bp
    from kiosk.ui.stream import bp as stream_bp
    from kiosk.ui.labels import bp as labels_bp

    for bp in (screens_bp, stations_bp, stream_bp, labels_bp):
        # Per app, not on the blueprint objects: they are module-level and shared by every app.
        checks = [auth.load_operator, auth.check_csrf] if bp is stream_bp else \
            [_require_ledger, auth.load_operator, auth.check_csrf]
        app.before_request_funcs.setdefault(bp.name, []).extend(checks)
        app.register_blueprint(bp)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DatabaseUnavailable, _database_unavailable)
    app.register_error_handler(Exception, _unexpected)
    live.start()


def close_ui(app: Flask) -> None:
    """Stop the live feed (ends every open stream); safe to call twice."""
    state: UiState | None = app.extensions.pop(EXTENSION, None)
    if state is not None:
        state.live.stop()
        if state.live.historian is not None:
            state.live.historian.stop()  # writes what still waits, while the ledger is open


def _require_ledger() -> None:
    """Show the "ledger unavailable" screen while the ledger cannot be opened."""
    kiosk_state().ledger  # noqa: B018  (opens it when it was down; DatabaseUnavailable while it is)


def _is_api() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/") or request.path == "/healthz"


def error_screen(status: int, title: str, message: str) -> tuple[str, int]:
    """Render an error as a kiosk screen (for handlers outside the screens' blueprints)."""
    return _error_page(status, title, message)


def _error_page(status: int, title: str, message: str, retry_ms: int = 0) -> tuple[str, int]:
    """Render an error as a kiosk screen (header, badge, scan field), never a bare server page."""
    if "operator" not in g:  # the request never reached a screen (unknown URL)
        try:
            auth.load_operator()
        except Exception:  # the ledger itself may be what failed
            g.operator = None
    try:
        return render_screen("error.html", status=status, title=title, message=message, retry_ms=retry_ms)
    except Exception:
        log.exception("cannot render the error screen")
        return f"{status} {title}: {message}", status


def _titles() -> dict[int, str]:
    """Werkzeug's names of the statuses a screen shows, in this request's language."""
    return {400: _("Bad Request"), 403: _("Forbidden"), 404: _("Not Found"), 405: _("Method Not Allowed"),
            409: _("Conflict"), 413: _("Request Entity Too Large"), 429: _("Too Many Requests")}


def _http_error(exc: HTTPException) -> HTTPException | tuple[str, int]:
    if _is_api():
        return exc
    status = exc.code or 500
    message = exc.description or ""
    if status == 404 and not request.blueprint:
        message = _("There is no screen at %(path)s.", path=request.path)
    return _error_page(status, _titles().get(status, exc.name), message)


def _database_unavailable(exc: DatabaseUnavailable) -> tuple[str, int] | Response:
    log.error("ledger unavailable: %s", exc)
    g.operator = None  # unknown while the ledger is down: no operator is shown
    return _error_page(503, _("Ledger unavailable"), _("The ledger database does not answer. This screen tries "
                                                       "again by itself; if it persists, call the supervisor."),
                       retry_ms=LEDGER_RETRY_MS)


def _unexpected(exc: Exception) -> HTTPException | tuple[str, int]:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    if _is_api():
        raise exc  # the API keeps Flask's own handling
    log.exception("unexpected error on %s %s", request.method, request.path)
    return _error_page(500, _("Something went wrong"), _("This screen failed. Scan again; if it happens again, "
                                                         "call the supervisor."))
