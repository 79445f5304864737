"""Rendering helpers shared by the screens: the common context, redirects, labels."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from benchpin.contract import METALS
from kiosk.ledger.model import parse_ts
from kiosk.state import kiosk_state
from kiosk.ui import auth
from kiosk.ui.state import ui_state

SWATCHES = {metal.name: metal.swatch for metal in METALS.values()}


def stage_label(stage: str | None) -> str:
    """Return a stage name as words (``casting_inspection`` → ``casting inspection``)."""
    return (stage or "—").replace("_", " ")


def hallmark(metal: str) -> str:
    """Return the metal's hallmark (``"750"`` for 18ct gold), or ``"—"`` when unknown."""
    known = METALS.get(metal)
    return known.hallmark if known else "—"


def metal_label(metal: str) -> str:
    known = METALS.get(metal)
    return known.label if known else (metal.replace("_", " ") if metal else "—")


def render_screen(template: str, *, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render a screen with what every screen shows (station, operator, furnace, idle limit)."""
    kiosk = kiosk_state().config.kiosk
    assert kiosk is not None
    state = ui_state()
    context.setdefault("scan_piece", "")
    context.setdefault("scan_version", "")
    context.setdefault("scan_tree", "")
    return render_template(template, station=kiosk.id, kiosk_name=kiosk.name, operator=auth.current_operator(),
                           local_time=local_time, timezone=kiosk_state().config.site.timezone,
                           furnace="casting" in state.stages,
                           temperatures=state.live.temperatures(),
                           idle_ms=int(state.idle_logout_s * 1000), here=_here(context),
                           stage_label=stage_label, metal_label=metal_label, hallmark=hallmark, swatches=SWATCHES,
                           **context), status


def local_time(ts: str) -> str:
    """Show a ledger timestamp (UTC, RFC 3339) as ``YYYY-MM-DD HH:MM`` in ``site.timezone``."""
    try:
        moment = parse_ts(ts)
    except ValueError:
        return ts
    return moment.astimezone(ZoneInfo(kiosk_state().config.site.timezone)).strftime("%Y-%m-%d %H:%M")


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
