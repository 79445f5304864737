"""Badge sessions, CSRF protection and safe redirects for the touch screens.

An artisan badges in by scanning an ``OP-`` code. The session lives in the ledger (table
``sessions``): the signed cookie carries only its random id (beside the CSRF token and flash
messages), so logging out, or ``kiosk.idle_logout_s`` without a touch or scan, ends the
session for good: a copied or replayed cookie of it is refused on every kiosk of the ledger.
Every POST must carry the session's CSRF token (form field ``csrf_token`` or header
``X-CSRF-Token``), compared in constant time; the token changes at every badge-in and logout.
"""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

from flask import flash, g, redirect, request, session, url_for
from werkzeug.exceptions import BadRequest

from kiosk.i18n import _
from kiosk.state import get_ledger, kiosk_state
from kiosk.ledger import NotFound, Operator
from kiosk.ledger.sessions import ENDED, IDLE, OPEN
from kiosk.ui.state import ui_state

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_KEY = "sid"

F = TypeVar("F", bound=Callable[..., Any])


def csrf_token() -> str:
    """Return this session's CSRF token, creating it on first use."""
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = rotate_csrf()
    return token


def rotate_csrf() -> str:
    """Give the browser a new CSRF token: forms rendered before no longer post."""
    token = secrets.token_urlsafe(32)
    session["csrf"] = token
    return token


def check_csrf() -> None:
    """Refuse a POST whose CSRF token is missing or not this session's (400)."""
    if request.method != "POST":
        return
    presented = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = g.get("csrf_on_arrival", session.get("csrf"))
    if not isinstance(expected, str) or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise BadRequest(description=_("This screen was out of date (security token missing or expired). "
                                       "It has been refreshed: please scan or tap again."))


def load_operator() -> None:
    """Put the badged-in operator on ``g.operator``; refuse an ended session, end an idle one."""
    g.operator = None
    g.csrf_on_arrival = session.get("csrf")  # what this request's form was rendered with
    for legacy in ("operator", "seen"):  # cookies from before server-side sessions: worth nothing now
        session.pop(legacy, None)
    session_id = session.get(SESSION_KEY)
    if not isinstance(session_id, str) or not session_id:
        return
    state = ui_state()
    ledger = get_ledger()
    checked = ledger.check_session(session_id, now=state.clock(), idle_s=state.idle_logout_s,
                                   touch=request.endpoint != "stream.events")  # the live stream is no touch
    if checked.state != OPEN:
        session.pop(SESSION_KEY, None)
        if checked.state == IDLE:
            flash(_("Logged out after %(time)s without a touch or scan.", time=_minutes(state.idle_logout_s)), "info")
        elif checked.state == ENDED:
            log.warning("refused a badge session of %s that had ended (a replayed cookie?) from %s",
                        checked.operator_id, request.remote_addr)
            flash(_("That badge session has ended. Scan your badge."), "info")
        return
    try:
        g.operator = ledger.operator(checked.operator_id)
    except NotFound:
        logout()
        flash(_("Badge %(code)s is no longer registered: logged out.", code=checked.operator_id), "error")


def login(operator: Operator) -> None:
    """Start a new badge session (ending the one this browser had) with a new CSRF token."""
    _end_current()
    now = ui_state().clock()
    kiosk = kiosk_state().config.kiosk
    session[SESSION_KEY] = get_ledger().start_session(operator.operator_id, now=now,
                                                      kiosk=kiosk.station if kiosk else "")
    rotate_csrf()
    g.operator = operator


def logout() -> None:
    """End the badge session in the ledger and give the idle screen a new CSRF token."""
    _end_current()
    rotate_csrf()
    g.operator = None


def _end_current() -> None:
    session_id = session.pop(SESSION_KEY, None)
    if isinstance(session_id, str) and session_id:
        get_ledger().end_session(session_id, now=ui_state().clock())


def current_operator() -> Operator | None:
    """Return the operator badged in for this request, or None."""
    operator: Operator | None = g.get("operator")
    return operator


def login_required(view: F) -> F:
    """Send to the idle screen (asking for a badge) when nobody is badged in."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_operator() is None:
            flash(_("Scan your badge first."), "error")
            return redirect(url_for("ui.idle"), code=303)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def local_path(url: str) -> str:
    """Return ``url`` if it is surely a path on this kiosk, else ''.

    Browsers drop tabs and line breaks from a URL and read ``\\`` as ``/``, so ``/\\t/evil``
    would become ``//evil``, another site: refuse any whitespace, control character or
    backslash, anything not starting with exactly one ``/``, and whatever ``urllib.parse``
    reads a scheme or a host in.
    """
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        return ""
    if any(c.isspace() or not c.isprintable() for c in url):
        return ""
    if "%" in url and any(code in url.lower() for code in ("%09", "%0a", "%0d", "%5c", "%2f%2f")):
        return ""  # encoded tab, line break, backslash or "//": no screen needs them, a decoding hop could misread them
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return ""
    return url


def _minutes(seconds: float) -> str:
    if seconds >= 60:
        return _("%(count)s min", count="%g" % (seconds / 60))
    return _("%(count)s s", count="%g" % seconds)
