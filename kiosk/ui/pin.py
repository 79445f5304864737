"""The supervisor's PIN: scrap, engraving override and laser-job commands ask for it besides the badge.

A badge can be copied or guessed; the PIN is what the supervisor knows. The PIN screen posts
the same form again with ``pin`` added, so the action goes on exactly as it was asked for
(and a stale screen is still refused by the piece's version). Wrong PINs count against the
client in the same throttle as wrong badges. The JSON API (bearer token) asks for no PIN.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import request

from kiosk.i18n import _
from kiosk.state import get_ledger
from kiosk.ledger import Operator
from kiosk.ledger.model import SUPERVISOR
from kiosk.ledger.pins import PIN_MAX, pin_problem
from kiosk.throttle import client_address, failures, seconds
from kiosk.ui import auth
from kiosk.ui.view import render_screen

log = logging.getLogger(__name__)

PIN_FIELD = "pin"


def needs_pin(operator: Operator) -> bool:
    """Say whether this operator confirms supervisor actions with a PIN (supervisors, anyone with one)."""
    return operator.role == SUPERVISOR or operator.has_pin


def confirm_pin(what: str, *, cancel: str, **context: Any) -> tuple[str, int] | None:
    """Return None when the action may go on; else the PIN screen (asking, or saying why not)."""
    operator = auth.current_operator()
    assert operator is not None
    if not needs_pin(operator):
        return None
    if not operator.has_pin:
        return _screen(what, cancel, 403, context, no_pin=True)
    throttle, client = failures(), client_address()
    if wait := throttle.wait_s(client):
        return _screen(what, cancel, 429, context,
                       problem=_("Too many wrong PINs or badges here: wait %(seconds)s s, then try again.",
                                 seconds=seconds(wait)))
    pin = request.form.get(PIN_FIELD, "")
    if not pin:
        return _screen(what, cancel, 200, context)
    if problem := pin_problem(pin):
        throttle.failed(client)
        return _screen(what, cancel, 400, context, problem=_("Nothing done: %(why)s. Enter it again.", why=problem))
    if get_ledger().check_pin(operator.operator_id, pin):
        return None
    wait = throttle.failed(client)
    log.warning("wrong PIN for %s from %s (%s)", operator.operator_id, client, what)
    wrong = (_("Wrong PIN for %(name)s: nothing done. Too many wrong tries: wait %(seconds)s s.", name=operator.name,
               seconds=seconds(wait)) if wait
             else _("Wrong PIN for %(name)s: nothing done. Enter it again.", name=operator.name))
    return _screen(what, cancel, 403, context, problem=wrong)


def _screen(what: str, cancel: str, status: int, context: dict[str, Any], *, problem: str = "",
            no_pin: bool = False) -> tuple[str, int]:
    fields = [(k, v) for k, v in request.form.items(multi=True) if k not in (auth.CSRF_FIELD, PIN_FIELD)]
    return render_screen("pin.html", status=status, page="pin", what=what, action=request.path,
                         fields=fields, problem=problem, no_pin=no_pin, cancel=cancel, pin_max=PIN_MAX,
                         **context)
