"""Station screens: the work in progress here and the laser engraving queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, abort, flash, request, url_for
from werkzeug.wrappers import Response

from benchpin.contract import EngraverAction, EngraverCommand, JobAction, JobDecision
from benchpin.topics import utc_ts
from kiosk.i18n import _
from kiosk.ledger import MoveRefused, Operator, says
from benchpin.contract import METALS
from kiosk.ledger.metal import BY, REFINING_SOURCES
from kiosk.reports import BadPeriod, csv_download, loss_csv, period, time_csv
from kiosk.ui.charts import furnace_svg, window_colour
from kiosk.state import get_bridge, get_ledger, kiosk_state
from kiosk.ui import auth
from kiosk.ui.pin import confirm_pin
from kiosk.ui.state import ui_state
from kiosk.ui.view import render_screen, see
from kiosk.ui.names import job_state_label, metal_label, role_label, stage_label, weight_label
from kiosk.ui.words import say
from kiosk.ledger.says import N_, Say

bp = Blueprint("station", __name__)

JOB_ROLES = ("engraver", "supervisor")
# The job states the engraver's gateway accepts each command in (the contract's rule).
JOB_ACTIONS = {action.value: tuple(s.value for s in action.allowed_from) for action in JobAction}
NOT_DONE = {"block": N_("Not blocked: %(why)s."), "unblock": N_("Not unblocked: %(why)s.")}
MAY_NOT = {"retry": N_("role %(role)s may not retry a laser job (allowed: %(roles)s)"),
           "cancel": N_("role %(role)s may not cancel a laser job (allowed: %(roles)s)")}
ONLY_WHEN = {"retry": N_("job %(job)s is %(state)s: only a job that is %(states)s can be retried"),
             "cancel": N_("job %(job)s is %(state)s: only a job that is %(states)s can be cancelled")}
CONFIRM = {"retry": N_("Retry the laser job of %(piece)s"), "cancel": N_("Cancel the laser job of %(piece)s")}
SENT = {"retry": N_("Retry sent for %(piece)s (job %(job)s)."), "cancel": N_("Cancel sent for %(piece)s (job %(job)s).")}
NO_ENGRAVER = N_("this kiosk does not talk to an engraver (kiosk.engraver is not set)")


@bp.get("/wip")
@auth.login_required
def wip() -> tuple[str, int]:
    """The WIP board (where work piles up), then the pieces of one stage: this kiosk's, or a tapped one."""
    ledger = get_ledger()
    board = [s for s in ledger.wip_board() if s.count or s.stage in ui_state().stages]
    chosen = request.args.get("stage", "")
    route = request.args.get("route", "")
    if chosen:
        picked = [s for s in board if s.stage == chosen and (not route or s.route == route)]
        stages: tuple[str, ...] = (chosen,)
        pieces = sorted((p for s in picked for p in s.pieces), key=lambda p: (p.updated, p.piece_id))
    else:
        stages = ui_state().stages
        pieces = ledger.wip(stages)
    return render_screen("wip.html", page="wip", stages=stages, pieces=pieces, board=board, chosen=chosen,
                         age=age_text, blocks=ledger.blocks())


@bp.post("/wip/<stage>/<action>")
@auth.login_required
def block_stage(stage: str, action: str) -> Response | tuple[str, int]:
    """Block a stage of this kiosk with a reason, or unblock it (a supervisor)."""
    if action not in ("block", "unblock"):
        abort(404, description=_("Unknown action %(action)s (block or unblock).", action=repr(action)))
    operator = auth.current_operator()
    assert operator is not None
    ledger = get_ledger()
    reason = (request.form.get("reason") or "").strip()
    try:
        if stage not in ui_state().stages:
            raise MoveRefused(Say("%(stage)s is not a stage of this kiosk", stage=says.stage(stage)))
        if len(reason) > 500:
            raise MoveRefused(Say("the reason is longer than 500 characters"))
        if action == "block":
            ledger.block_stage(stage, reason=reason, operator=operator.operator_id,
                               station=kiosk_state().config.kiosk.id)  # type: ignore[union-attr]
        elif not ledger.unblock_stage(stage, operator=operator.operator_id):
            raise MoveRefused(Say("%(stage)s was not blocked", stage=says.stage(stage)))
    except MoveRefused as exc:
        board = [s for s in ledger.wip_board() if s.count or s.stage in ui_state().stages]
        stages = ui_state().stages
        return render_screen("wip.html", status=409, page="wip", stages=stages, pieces=ledger.wip(stages),
                             board=board, chosen="", age=age_text, blocks=ledger.blocks(),
                             error=_(NOT_DONE[action], why=say(exc)))
    bridge = get_bridge()
    if bridge is not None:
        bridge.session.publish_status()  # the retained kiosk status says what is blocked
    flash(_("%(stage)s blocked: %(why)s.", stage=stage_label(stage), why=reason) if action == "block"
          else _("%(stage)s unblocked.", stage=stage_label(stage)), "done")
    return see(url_for("station.wip"))


@bp.get("/reports/time")
@auth.login_required
def time_report() -> Response | tuple[str, int]:
    """Working time and dwell per stage and operator (a supervisor's screen), with its CSV."""
    _supervisor_only(_("The time report is a supervisor's screen."))
    tz = kiosk_state().config.site.timezone
    try:
        start, end = period(request.args, tz)
    except BadPeriod as exc:
        abort(400, description=f"{exc}.")
    rows = get_ledger().time_report(start, end)
    if request.args.get("format") == "csv":
        return csv_download(time_csv(rows), "time", start, end)
    chosen: dict[str, Any] = {key: request.args[key] for key in ("from", "to") if request.args.get(key)}
    return render_screen("time.html", page="time", rows=rows, start=start, end=end, duration=duration_text,
                         csv_url=url_for("station.time_report", format="csv", **chosen),
                         chosen_from=request.args.get("from", ""), chosen_to=request.args.get("to", ""))


@bp.get("/reports/metal")
@auth.login_required
def metal_report() -> Response | tuple[str, int]:
    """Metal in, out and lost per stage, operator or metal with a bar per row (a supervisor's screen)."""
    _supervisor_only(_("The metal loss report is a supervisor's screen."))
    by = request.args.get("by", "stage")
    try:
        start, end = period(request.args, kiosk_state().config.site.timezone)
        rows = get_ledger().metal_loss(start, end, by)
    except (BadPeriod, MoveRefused) as exc:
        abort(400, description=f"{say(exc) if isinstance(exc, MoveRefused) else exc}.")
    chosen: dict[str, Any] = {key: request.args[key] for key in ("from", "to") if request.args.get(key)}
    if request.args.get("format") == "csv":
        return csv_download(loss_csv(rows), "metal-loss", start, end)
    widest = max((abs(r["loss_fine_g"]) for r in rows), default=0.0) or 1.0
    totals = {key: round(sum(r[key] for r in rows), 3) for key in ("in_g", "out_g", "loss_g", "loss_fine_g")}
    lots = get_ledger().refining_lots(start, end)
    return render_screen("metal.html", page="metal", rows=rows, by=by, start=start, end=end, widest=widest,
                         lots=lots, lots_fine_g=round(sum(lot["fine_g"] for lot in lots), 3), metals=METALS,
                         sources=REFINING_SOURCES,
                         totals=totals, chosen_from=request.args.get("from", ""), chosen_to=request.args.get("to", ""),
                         csv_url=url_for("station.metal_report", format="csv", by=by, **chosen),
                         by_urls={key: url_for("station.metal_report", by=key, **chosen) for key in BY})


@bp.post("/reports/metal/refining")
@auth.login_required
def add_refining_lot() -> Response | tuple[str, int]:
    """Record metal returned to refining (a supervisor): metal, source, grams and a note."""
    operator = _supervisor_only(_("Only a supervisor records metal returned to refining."))
    try:
        grams = float((request.form.get("grams") or "").replace(",", "."))
    except ValueError:
        abort(400, description=_("How many grams? The weight must be a number, like 12.35."))
    try:
        lot = get_ledger().add_refining_lot(metal=request.form.get("metal", ""), source=request.form.get("source", ""),
                                            grams=grams, operator=operator.operator_id,
                                            station=kiosk_state().config.kiosk.id,  # type: ignore[union-attr]
                                            note=(request.form.get("note") or "").strip())
    except MoveRefused as exc:
        abort(409, description=_("Not recorded: %(why)s.", why=say(exc)))
    flash(_("Refining lot %(lot)s: %(grams)s g of %(metal)s (%(source)s).", lot=lot["lot_id"], grams="%g" % lot["grams"],
            metal=metal_label(lot["metal"]), source=weight_label(lot["source"])), "done")
    return see(url_for("station.metal_report"))


@bp.get("/furnace")
@auth.login_required
def furnace() -> tuple[str, int]:
    """The casting furnace's last 30 minutes as a chart, with the pour window of the tree now at it."""
    kiosk = kiosk_state().config.kiosk
    assert kiosk is not None
    if not kiosk.gateway:
        abort(404, description=_("This kiosk has no gateway (kiosk.gateway): there is no furnace to show."))
    now = datetime.now(timezone.utc)
    start, end = utc_ts(now - timedelta(minutes=30)), utc_ts(now)
    points = get_ledger().readings(kiosk.gateway, kiosk.furnace, start, end, 10.0)
    last_kept = str(points[-1][0]) if points else start
    points += ui_state().live.recent(kiosk.furnace, last_kept)  # what the historian has not written yet
    bridge = get_bridge()
    window = bridge.window if bridge is not None else None
    band = (window.min_c, window.max_c) if window is not None else None
    reading = next((r for r in ui_state().live.temperatures() if r["probe"] == kiosk.furnace), None)
    value = reading["value_c"] if reading and not reading["fault"] else None
    chart = furnace_svg(points, window=band, start=start, end=end, title=f"{kiosk.gateway}/{kiosk.furnace}")
    return render_screen("furnace.html", page="furnace", chart=chart, window=window, value=value,
                         standing=window_colour(value, band), probe=f"{kiosk.gateway}/{kiosk.furnace}")


def _supervisor_only(refusal: str) -> Operator:
    """The badged-in operator if a supervisor, else a 403 saying ``refusal``."""
    operator = auth.current_operator()
    assert operator is not None
    if operator.role != "supervisor":
        abort(403, description=refusal)
    return operator


def duration_text(seconds: float) -> str:
    """``42 s``, ``17 min``, ``3 h 05`` or ``2 d 4 h``: a working time at a glance."""
    if seconds < 60:
        return _("%(count)s s", count="%.0f" % seconds)
    minutes = round(seconds / 60)
    if minutes < 60:
        return _("%(count)s min", count=minutes)
    if minutes < 48 * 60:
        return _("%(hours)s h %(minutes)s", hours=minutes // 60, minutes="%02d" % (minutes % 60))
    return _("%(days)s d %(hours)s h", days=minutes // 1440, hours=minutes % 1440 // 60)


def age_text(seconds: float | None) -> str:
    """Say how long a piece has waited, the way a supervisor reads it (``3 d 4 h``, ``25 min``)."""
    if seconds is None:
        return ""
    minutes = int(seconds // 60)
    if minutes < 60:
        return _("%(count)s min", count=minutes)
    hours = minutes // 60
    if hours < 24:
        return _("%(hours)s h %(minutes)s min", hours=hours, minutes=minutes % 60)
    return _("%(days)s d %(hours)s h", days=hours // 24, hours=hours % 24)


@dataclass(frozen=True)
class JobView:
    """What a screen shows of one laser job."""

    job_id: str
    state: str  # a job state, "sent" (nothing heard yet) or "unknown" (no MQTT here)
    detail: str = ""
    progress: float | None = None
    eta_s: float | None = None


def job_state(job_id: str) -> JobView:
    """Return the last state the engraver reported for a job."""
    bridge = get_bridge()
    # The live feed's record first: its push is what makes a screen fetch the state again.
    seen = ui_state().live.job(job_id) or (bridge.jobs.get(job_id) if bridge is not None else None)
    if seen is not None:
        return JobView(job_id, seen.state.value, seen.detail, seen.progress, seen.eta_s)
    recorded = get_ledger().job(job_id)  # kept by the ledger across restarts and cleared topics
    if recorded is not None:
        return JobView(job_id, recorded.state, recorded.detail, recorded.progress, recorded.eta_s)
    return JobView(job_id, "sent" if bridge is not None else "unknown")


def engraving_jobs() -> list[dict[str, Any]]:
    """List the pieces at an engraving stage with their laser job (id = the move's event id) and state."""
    ledger = get_ledger()
    stages = {route.engraving for route in ledger.workflow.routes.values() if route.engraving}
    jobs = []
    for piece in ledger.wip(stages):
        entered = ledger.history(piece.piece_id)[-1]
        job = job_state(entered.event_id)
        jobs.append({"piece": piece, "job_id": entered.event_id, "since": entered.ts, "state": job.state,
                     "detail": job.detail, "job": job,
                     "actions": [action for action, states in JOB_ACTIONS.items() if job.state in states]})
    return jobs


@bp.get("/engraving")
@auth.login_required
def engraving() -> tuple[str, int]:
    operator = auth.current_operator()
    return render_screen("engraving.html", page="engraving", jobs=engraving_jobs(), machine=machine_state(),
                         may_command=operator is not None and operator.role in JOB_ROLES)


def machine_state() -> str:
    """Return the laser controller's last reported state ("" before the first)."""
    machine = ui_state().live.machine()
    return machine.state.value if machine is not None else ""


@bp.get("/engraving/unlock")
@auth.login_required
def unlock_confirm() -> tuple[str, int]:
    """Ask the operator to confirm the laser is safe before it is unlocked."""
    return render_screen("unlock.html", page="engraving", machine=machine_state())


@bp.post("/engraving/unlock")
@auth.login_required
def unlock() -> Response | tuple[str, int]:
    """Send the laser's unlock ($X) to its gateway, once the operator confirmed it is safe."""
    operator = auth.current_operator()
    assert operator is not None
    bridge = get_bridge()
    problem = ""
    if operator.role not in JOB_ROLES:
        problem = _("role %(role)s may not unlock the laser (allowed: %(roles)s)", role=role_label(operator.role),
                    roles=", ".join(role_label(r) for r in JOB_ROLES))
    elif request.form.get("safe") != "yes":
        problem = _("confirm first that the laser is safe to unlock")
    elif bridge is None or not bridge.engraver:
        problem = _(NO_ENGRAVER)
    elif machine_state() not in ("Alarm", ""):
        problem = _("the laser is %(state)s, not in an alarm: nothing to unlock", state=machine_state())
    if problem:
        return render_screen("unlock.html", status=409, page="engraving", machine=machine_state(),
                             error=_("Not sent: %(why)s.", why=problem))
    assert bridge is not None
    command = EngraverCommand(action=EngraverAction.UNLOCK, operator=operator.operator_id, ts=utc_ts())
    bridge.outbox.put(bridge.topics.engraver_command(bridge.gateway, bridge.engraver), command.to_payload(),
                      kind="command", wait=True)
    flash(_("Unlock sent to %(engraver)s: the gateway sends $X unless the door is open.", engraver=bridge.engraver),
          "done")
    return see(url_for("station.engraving"))


@bp.post("/engraving/<job_id>/<action>")
@auth.login_required
def job_command(job_id: str, action: str) -> Response | tuple[str, int]:
    """Send retry or cancel for a laser job to the engraver's gateway (through the outbox)."""
    if action not in JOB_ACTIONS:
        abort(404, description=_("Unknown job action %(action)s (retry or cancel).", action=repr(action)))
    operator = auth.current_operator()
    assert operator is not None
    problem = ""
    bridge = get_bridge()
    job = next((j for j in engraving_jobs() if j["job_id"] == job_id), None)
    if operator.role not in JOB_ROLES:
        problem = _(MAY_NOT[action], role=role_label(operator.role), roles=", ".join(role_label(r) for r in JOB_ROLES))
    elif job is None:
        problem = _("job %(job)s is not in the engraving queue (its piece has moved on)", job=job_id)
    elif bridge is None or not bridge.engraver:
        problem = _(NO_ENGRAVER)
    elif job["state"] not in JOB_ACTIONS[action]:
        problem = _(ONLY_WHEN[action], job=job_id[:8], state=job_state_label(job["state"]),
                    states=_(" or ").join(job_state_label(s) for s in JOB_ACTIONS[action]))
    if problem:
        return render_screen("engraving.html", status=409, page="engraving", jobs=engraving_jobs(),
                             may_command=operator.role in JOB_ROLES, error=_("Not sent: %(why)s.", why=problem))
    assert bridge is not None and job is not None
    ask = confirm_pin(_(CONFIRM[action], piece=job["piece"].piece_id), cancel=url_for("station.engraving"))
    if ask is not None:
        return ask
    topic = bridge.topics.engraver_job_command(bridge.gateway, bridge.engraver, job_id)
    decision = JobDecision(job_id=job_id, action=JobAction(action), operator=operator.operator_id, ts=utc_ts())
    bridge.outbox.put(topic, decision.to_payload(), kind="command", wait=True)
    flash(_(SENT[action], piece=job["piece"].piece_id, job=job_id[:8]), "done")
    return see(url_for("station.engraving"))
