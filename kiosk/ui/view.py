"""Rendering helpers shared by the screens: the common context, redirects, labels."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from benchpin.contract import METALS
from kiosk.i18n import _
from kiosk.state import kiosk_state
from kiosk.ui import auth, names
from kiosk.ui.names import stage_label
from kiosk.ui.state import ui_state
from kiosk.ui.words import say

SWATCHES = {metal.name: metal.swatch for metal in METALS.values()}


def hallmark(metal: str) -> str:
    """Return the metal's hallmark (``"750"`` for 18ct gold), or ``"—"`` when unknown."""
    known = METALS.get(metal)
    return known.hallmark if known else "—"


def metal_label(metal: str) -> str:
    known = METALS.get(metal)
    return names.metal_label(metal, known.label if known else "")


def script_text() -> dict[str, str]:
    """The sentences kiosk.js writes, in this request's language (base.html hands them over as JSON).

    Placeholders stay ``%(name)s`` for the script to fill; it writes numbers in the page's locale.
    """
    return {
        "no_server": _("The kiosk server does not answer. Check the network, then scan again."),
        "badge_scan": _("Badge scan: %(reason)s."),
        "scan_problem": _("Scan “%(code)s”: %(problem)s."),
        "not_valid": _("not a valid code"),
        "stable": _("stable"),
        "settling": _("settling…"),
        "eta": _("about %(seconds)s s left"),
        "no_camera_access": _("This browser gives no camera access here (the kiosk must be opened as localhost "
                              "or https)."),
        "no_camera": _("No camera (%(error)s): plug a USB (UVC) camera into the kiosk and allow it."),
        "take_photo": _("Take the photo"),
        "cancel": _("Cancel"),
        "take_again": _("Take it again"),
        "photo_not_kept": _("The photo was not kept."),
        "photo_not_sent": _("The photo could not be sent: try again."),
    }


def render_screen(template: str, *, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render a screen with what every screen shows (station, operator, furnace, idle limit)."""
    kiosk = kiosk_state().config.kiosk
    assert kiosk is not None
    state = ui_state()
    context.setdefault("scan_piece", "")
    context.setdefault("scan_version", "")
    context.setdefault("scan_tree", "")
    return render_template(template, station=kiosk.id, kiosk_name=kiosk.name, operator=auth.current_operator(),
                           timezone=kiosk_state().config.site.timezone,
                           furnace="casting" in state.stages,
                           temperatures=state.live.temperatures(),
                           idle_ms=int(state.idle_logout_s * 1000), here=_here(context),
                           stage_label=stage_label, metal_label=metal_label, hallmark=hallmark, swatches=SWATCHES,
                           role_label=names.role_label, route_label=names.route_label,
                           job_state_label=names.job_state_label, tree_weight_label=names.weight_label,
                           check_label=names.check_label, reason_label=names.reason_label, say=say,
                           script_text=script_text(),
                           **context), status


def _here(context: dict[str, Any]) -> str:
    """Return the screen a scan should come back to: this page, or for a refused POST its screen."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    if context["scan_piece"]:
        return url_for("ui.piece", piece_id=context["scan_piece"])
    if context["scan_tree"]:
        return url_for("ui.tree", tree_id=context["scan_tree"])
    return url_for("ui.idle")


def see(url: str) -> Response:
    """Redirect with 303 See Other (a POST answered by a GET of the result)."""
    return redirect(url, code=303)
