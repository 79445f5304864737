"""Badge sessions and CSRF protection for the touch screens.

An artisan badges in by scanning an ``OP-`` code; the operator id lives in Flask's signed
session cookie together with the time of the last touch or scan, and the session ends after
``kiosk.idle_logout_s`` without one. Every POST must carry the session's CSRF token (form
field ``csrf_token`` or header ``X-CSRF-Token``), compared in constant time.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from typing import Any, Callable, TypeVar

from flask import abort, flash, g, redirect, request, session, url_for

from kiosk.state import get_ledger
from kiosk.ledger import NotFound, Operator
from kiosk.ui.state import ui_state

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

F = TypeVar("F", bound=Callable[..., Any])


def csrf_token() -> str:
    """Return this session's CSRF token, creating it on first use."""
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf() -> None:
    """Refuse a POST whose CSRF token is missing or not this session's (400)."""
    if request.method != "POST":
        return
    presented = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(presented.encode(), expected.encode()):
        abort(400, description="This screen was out of date (security token missing or expired). "
                               "It has been refreshed: please scan or tap again.")


def load_operator() -> None:
    """Put the badged-in operator on ``g.operator``; end the session when it was idle too long."""
    g.operator = None
    operator_id = session.get("operator")
    if not operator_id:
        return
    state = ui_state()
    now = state.clock()
    seen = session.get("seen", 0.0)
    if not isinstance(seen, (int, float)) or now - seen > state.idle_logout_s:
        logout()
        flash(f"Logged out after {_minutes(state.idle_logout_s)} without a touch or scan.", "info")
        return
    try:
        g.operator = get_ledger().operator(operator_id)
    except NotFound:
        logout()
        flash(f"Badge {operator_id} is no longer registered: logged out.", "error")
        return
    if request.endpoint != "stream.events":  # every tap or scan is a request; the live stream is not
        session["seen"] = now


def login(operator: Operator) -> None:
    session["operator"] = operator.operator_id
    session["seen"] = ui_state().clock()
    g.operator = operator


def logout() -> None:
    """End the badge session (the CSRF token stays, so the idle screen keeps working)."""
    session.pop("operator", None)
    session.pop("seen", None)
    g.operator = None


def current_operator() -> Operator | None:
    """Return the operator badged in for this request, or None."""
    operator: Operator | None = g.get("operator")
    return operator


def login_required(view: F) -> F:
    """Send to the idle screen (asking for a badge) when nobody is badged in."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_operator() is None:
            flash("Scan your badge first.", "error")
            return redirect(url_for("ui.idle"), code=303)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
