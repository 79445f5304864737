"""The piece screen's "Print label" button: a supervisor prints the piece's job-bag tag.

The form (``label_form.html``, included by the piece screen) shows only to a badged-in
supervisor on a kiosk whose config has ``[[labels.printers]]``; with several printers it
offers a choice, the first preselected. The tag carries a Data Matrix beside the Code 128
when ``labels.datamatrix`` is set. The answer is the piece screen with what happened.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, request, url_for
from werkzeug.wrappers import Response

from kiosk.labels import LayoutError, piece_label
from kiosk.labels.cli import choose_printer
from kiosk.labels.printers import PrinterError, print_labels
from kiosk.ledger import NotFound
from kiosk.state import get_ledger, kiosk_state
from kiosk.ui import auth
from kiosk.i18n import _
from kiosk.ui.names import role_label
from kiosk.ui.view import see

bp = Blueprint("labels", __name__)

LABEL_ROLES = ("supervisor",)


@bp.app_context_processor
def _printers() -> dict[str, Any]:
    """Give every screen the printer names the "Print label" form offers (none: no form)."""
    return {"label_printers": [p.name for p in kiosk_state().config.labels.printers],
            "label_roles": LABEL_ROLES}


@bp.post("/pieces/<piece_id>/label")
@auth.login_required
def print_piece_label(piece_id: str) -> Response:
    operator = auth.current_operator()
    assert operator is not None
    if operator.role not in LABEL_ROLES:
        abort(403, description=_("Printing labels is for a supervisor; %(name)s is %(role)s.", name=operator.name,
                                 role=role_label(operator.role)))
    try:
        label = piece_label(get_ledger().piece(piece_id))
    except NotFound:
        abort(404, description=_("Unknown piece %(code)s: it is not in the ledger.", code=piece_id))
    try:
        config = kiosk_state().config
        printer = choose_printer(config, request.form.get("printer") or None)
        print_labels([label], printer, datamatrix=config.labels.datamatrix,
                     usb_backend=current_app.config.get("LABELS_USB_BACKEND"))
    except (PrinterError, LayoutError) as exc:
        flash(_("%(piece)s: label not printed: %(why)s.", piece=piece_id, why=str(exc)), "error")
    else:
        flash(_("%(piece)s: label sent to %(printer)s.", piece=piece_id, printer=printer.name), "done")
    return see(url_for("ui.piece", piece_id=piece_id))
