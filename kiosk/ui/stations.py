"""Station screens: the work in progress here and the laser engraving queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, url_for
from werkzeug.wrappers import Response

from benchpin.contract import JobAction, JobDecision
from benchpin.topics import utc_ts
from kiosk.state import get_bridge, get_ledger
from kiosk.ui import auth
from kiosk.ui.pin import confirm_pin
from kiosk.ui.state import ui_state
from kiosk.ui.view import render_screen, see

bp = Blueprint("station", __name__)

JOB_ROLES = ("engraver", "supervisor")
# The job states the engraver's gateway accepts each command in (the contract's rule).
JOB_ACTIONS = {action.value: tuple(s.value for s in action.allowed_from) for action in JobAction}
PAST = {action.value: action.past for action in JobAction}


@bp.get("/wip")
@auth.login_required
def wip() -> tuple[str, int]:
    stages = ui_state().stages
    return render_screen("wip.html", page="wip", stages=stages, pieces=get_ledger().wip(stages))


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
    return render_screen("engraving.html", page="engraving", jobs=engraving_jobs(),
                         may_command=operator is not None and operator.role in JOB_ROLES)


@bp.post("/engraving/<job_id>/<action>")
@auth.login_required
def job_command(job_id: str, action: str) -> Response | tuple[str, int]:
    """Send retry or cancel for a laser job to the engraver's gateway (through the outbox)."""
    if action not in JOB_ACTIONS:
        abort(404, description=f"Unknown job action {action!r} (retry or cancel).")
    operator = auth.current_operator()
    assert operator is not None
    problem = ""
    bridge = get_bridge()
    job = next((j for j in engraving_jobs() if j["job_id"] == job_id), None)
    if operator.role not in JOB_ROLES:
        problem = f"role {operator.role} may not {action} a laser job (allowed: {', '.join(JOB_ROLES)})"
    elif job is None:
        problem = f"job {job_id} is not in the engraving queue (its piece has moved on)"
    elif bridge is None or not bridge.engraver:
        problem = "this kiosk does not talk to an engraver (kiosk.engraver is not set)"
    elif job["state"] not in JOB_ACTIONS[action]:
        problem = (f"job {job_id[:8]} is {job['state']}: only a job that is "
                   f"{' or '.join(JOB_ACTIONS[action])} can be {PAST[action]}")
    if problem:
        return render_screen("engraving.html", status=409, page="engraving", jobs=engraving_jobs(),
                             may_command=operator.role in JOB_ROLES, error=f"Not sent: {problem}.")
    assert bridge is not None and job is not None
    ask = confirm_pin(f"{action.title()} the laser job of {job['piece'].piece_id}", cancel=url_for("station.engraving"))
    if ask is not None:
        return ask
    topic = bridge.topics.engraver_job_command(bridge.gateway, bridge.engraver, job_id)
    decision = JobDecision(job_id=job_id, action=JobAction(action), operator=operator.operator_id, ts=utc_ts())
    bridge.outbox.put(topic, decision.to_payload(), kind="command", wait=True)
    flash(f"{action.title()} sent for {job['piece'].piece_id} (job {job_id[:8]}).", "done")
    return see(url_for("station.engraving"))
