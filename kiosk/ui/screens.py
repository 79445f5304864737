"""The screens an artisan works in: scan/idle, piece, rework/scrap reasons, wax tree."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, abort, flash, jsonify, request, url_for
from werkzeug.wrappers import Response

from benchpin.outbox import MessageTooLarge, too_large_text
from benchpin.topics import utc_ts
from kiosk.i18n import _, ngettext
from kiosk.state import get_bridge, get_ledger, kiosk_state
from kiosk.ledger import ADVANCE as ADVANCE_MOVE
from kiosk.ledger import (LASER, REWORK, SCRAP, SCRAPPED, Ledger, MoveOption, MoveRefused, NotFound, Piece,
                          Tree, WorkSession)
from kiosk.ledger.checks import CheckResult, CheckValue, judge
from kiosk.ledger.metal import TREE_WEIGHTS
from kiosk.pour import CASTING, tree_window
from kiosk.ui.charts import furnace_svg
from kiosk.ledger.model import NOTE_MAX, PAUSED, WORK_ACTIONS, WORK_DONE, parse_ts
from kiosk.throttle import client_address, failures, seconds
from kiosk.ui import auth
from kiosk.ui.barcodes import ADVANCE, COMMAND, LOGOUT, OPERATOR, PIECE, TREE, read_barcode
from kiosk.ui.pin import confirm_pin, needs_pin
from kiosk.ui.state import ui_state
from kiosk.ui.stations import duration_text, job_state
from kiosk.ui import names
from kiosk.ui.names import role_label, stage_label
from kiosk.ui.view import render_screen, see
from kiosk.ui.words import say
from kiosk.ledger.says import N_, Say

POUR_READING_MAX_AGE_S = 10.0  # the furnace reading a pour records is at most this old

bp = Blueprint("ui", __name__)

NO_ROUTE_MOVE = {REWORK: N_("the route offers no rework from %(stage)s"),
                 SCRAP: N_("the route offers no scrap from %(stage)s")}
CANNOT = {REWORK: N_("Cannot rework %(piece)s: %(why)s."), SCRAP: N_("Cannot scrap %(piece)s: %(why)s.")}

Answer = Response | tuple[str, int] | str


@bp.get("/")
def idle() -> Answer:
    return render_screen("idle.html", page="idle")


@bp.post("/logout")
def logout() -> Answer:
    operator = auth.current_operator()
    auth.logout()
    if operator is not None:
        flash(_("%(name)s logged out.", name=operator.name), "info")
    return see(url_for("ui.idle"))


# ---------------------------------------------------------------------------- scanning

@bp.post("/scan")
def scan() -> Answer:
    """Act on one scan: a badge logs in, a piece or tree opens, a command acts like its button."""
    code = request.form.get("code", "")
    back = auth.local_path(request.form.get("next", "")) or url_for("ui.idle")
    if nonce := request.form.get("badge", ""):  # a badge scanned over MQTT: its code stayed here
        code = ui_state().live.redeem_badge(nonce) or ""
        if not code:
            flash(_("That badge scan was already used or is too old: scan your badge again."), "error")
            return see(back)
    barcode = read_barcode(code, kiosk_state().config.barcodes)
    if barcode.problem:
        flash(_("Scan “%(code)s”: %(problem)s.", code=barcode.code, problem=barcode.problem), "error")
        return see(back)
    if barcode.kind == OPERATOR:
        return _badge_in(barcode.code)
    if barcode.code == LOGOUT:
        return logout()
    if auth.current_operator() is None:
        flash(_("Scan your badge first (%(code)s was not opened).", code=barcode.code), "error")
        return see(url_for("ui.idle"))
    ledger = get_ledger()
    try:
        if barcode.kind == PIECE:
            ledger.piece(barcode.code)
            return see(url_for("ui.piece", piece_id=barcode.code))
        if barcode.kind == TREE:
            found = ledger.tree(barcode.code)
            bridge = get_bridge()
            if bridge is not None and CASTING in ui_state().stages and any(p.stage == CASTING for p in found.pieces):
                bridge.open_window(found)  # the furnace's stack light shows this tree's pour window
            return see(url_for("ui.tree", tree_id=barcode.code))
    except NotFound:
        flash(_("Unknown piece %(code)s: it is not in the ledger.", code=barcode.code) if barcode.kind == PIECE
              else _("Unknown wax tree %(code)s: it is not in the ledger.", code=barcode.code), "error")
        return see(back)
    assert barcode.kind == COMMAND
    return _command(barcode.code, back)


def _badge_in(code: str) -> Answer:
    """Log a badge in; wrong badges count against this client, which must wait after too many."""
    throttle, client = failures(), client_address()
    if wait := throttle.wait_s(client):
        return render_screen("idle.html", status=429, page="idle",
                             error=_("Too many wrong badges here: wait %(seconds)s s, then scan again.",
                                     seconds=seconds(wait)))
    try:
        operator = get_ledger().operator(code)
    except NotFound:
        wait = throttle.failed(client)
        later = " " + _("Too many wrong badges: wait %(seconds)s s before the next scan.", seconds=seconds(wait)) \
            if wait else ""
        flash(_("Badge %(code)s is not registered. Ask the supervisor to add it.", code=code) + later, "error")
        return see(url_for("ui.idle"))
    auth.login(operator)
    flash(_("Welcome, %(name)s (%(role)s).", name=operator.name, role=role_label(operator.role)), "info")
    if needs_pin(operator) and not operator.has_pin:
        flash(_("%(name)s: supervisor actions (scrap, override, laser retry and cancel) need your PIN, and you "
                "have none yet: ask the administrator to set it (%(command)s).", name=operator.name,
                command="benchpin operators set-pin " + operator.operator_id), "error")
    return see(url_for("ui.idle"))


def _command(code: str, back: str) -> Answer:
    piece_id = request.form.get("piece", "")
    tree_id = request.form.get("tree", "")
    if not piece_id and not tree_id:
        flash(_("%(code)s: scan a piece or a tree first.", code=code), "error")
        return see(back)
    if tree_id:
        if code != ADVANCE:
            flash(_("%(code)s: rework and scrap are per piece; open the piece first.", code=code), "error")
            return see(url_for("ui.tree", tree_id=tree_id))
        following = _tree_next_stage(tree_id)
        if following is None:
            return tree(tree_id, error=_("These pieces have no common next stage: advance them one by one."),
                        status=409)
        return _move_tree(tree_id, following)
    if code == ADVANCE:
        return _move_piece(piece_id, "", request.form.get("version", ""), note="")
    return see(url_for("ui.reasons", piece_id=piece_id, kind=REWORK if code.endswith("REWORK") else SCRAP))


# ---------------------------------------------------------------------------- pieces

@bp.get("/pieces/<piece_id>")
@auth.login_required
def piece(piece_id: str, error: str = "", status: int = 200, failed: list[CheckResult] | None = None,
          answers: dict[str, CheckValue] | None = None) -> Answer:
    ledger = get_ledger()
    operator = auth.current_operator()
    assert operator is not None
    try:
        current = ledger.piece(piece_id)
        history = ledger.history(piece_id)
        options = ledger.options(piece_id, operator.operator_id, stages=ui_state().stages)
    except NotFound:
        abort(404, description=_("Unknown piece %(code)s: it is not in the ledger.", code=piece_id))
    route = ledger.workflow.route(current.route)
    stages = [s.name for s in route.stages if s.applies_to(current)]
    laser = job_state(history[-1].event_id) if current.stage == route.engraving else None
    here = route.stage(current.stage).checks if current.stage in {s.name for s in route.stages} else ()
    work = ledger.work_session(piece_id) if current.stage in ui_state().stages else None
    following = route.next_stage(current.stage, current)
    weigh = following is not None and _weighed(current, following)
    return render_screen("piece.html", status=status, page="piece", piece=current, laser=laser,
                         timed=current.stage in ui_state().stages, work=work, work_text=_work_text(work),
                         weigh=weigh, weight=ui_state().live.weight() if weigh else None,
                         weighed={w["event_id"]: w for w in ledger.weights(piece_id)},
                         pour_chart=_pour_chart(ledger.pour_record(current.tree_id)) if current.tree_id else "",
                         history=list(reversed(history)), names=_names(ledger), stages=stages, error=error,
                         checks=[c for c in here if c.applies_to(current)], failed=failed or [],
                         answers=answers or {}, reworks=[o for o in options if o.kind == REWORK and o.allowed],
                         advance=[o for o in options if o.kind not in (REWORK, SCRAP)],
                         rework=_summary(options, REWORK), scrap=_summary(options, SCRAP),
                         scan_piece=current.piece_id, scan_version=current.version)


def _work_text(work: WorkSession | None) -> str:
    """Say how the work on this stay stands ("" when nobody timed it)."""
    if work is None:
        return ""
    minutes = round(work.worked_until(datetime.now(timezone.utc)) / 60)
    name = _name_of(work.operator)
    if work.state == WORK_DONE:
        return _("Work done by %(name)s: %(minutes)d min.", name=name, minutes=minutes)
    if work.state == PAUSED:
        return _("Paused by %(name)s after %(minutes)d min of work.", name=name, minutes=minutes)
    return _("%(name)s is working on it (%(minutes)d min so far).", name=name, minutes=minutes)


def _name_of(operator_id: str) -> str:
    try:
        return get_ledger().operator(operator_id).name
    except NotFound:
        return operator_id


@bp.post("/pieces/<piece_id>/photos")
@auth.login_required
def take_photo(piece_id: str) -> tuple[Response, int]:
    """Keep a photo the screen's camera took (the body is the JPEG); answer its id for the check."""
    operator = auth.current_operator()
    assert operator is not None
    try:
        photo_id = get_ledger().add_photo(piece_id, request.get_data(cache=False), check=request.args.get("check", ""),
                                          operator=operator.operator_id,
                                          station=kiosk_state().config.kiosk.id)  # type: ignore[union-attr]
    except NotFound as exc:
        return jsonify({"error": say(exc)}), 404
    except MoveRefused as exc:
        return jsonify({"error": _("Photo not kept: %(why)s.", why=say(exc))}), 400
    return jsonify({"photo_id": photo_id, "url": url_for("ui.photo", photo_id=photo_id)}), 201


@bp.get("/photos/<photo_id>")
@auth.login_required
def photo(photo_id: str) -> Response:
    try:
        _, mime, data = get_ledger().photo(photo_id)
    except NotFound:
        abort(404, description=_("There is no photo %(photo)s.", photo=photo_id))
    return Response(data, mimetype=mime, headers={"Cache-Control": "private, max-age=86400"})


@bp.post("/pieces/<piece_id>/work/<action>")
@auth.login_required
def work(piece_id: str, action: str) -> Answer:
    """Start, pause, resume or finish timing the work on a piece here (one tap each)."""
    if action not in WORK_ACTIONS:
        abort(404, description=_("Unknown action %(action)s (start, pause, resume or done).", action=repr(action)))
    operator = auth.current_operator()
    assert operator is not None
    try:
        get_ledger().work(piece_id, action, operator=operator.operator_id,
                          station=kiosk_state().config.kiosk.id,  # type: ignore[union-attr]
                          stages=ui_state().stages)
    except NotFound as exc:
        abort(404, description=f"{say(exc)}.")
    except MoveRefused as exc:
        return piece(piece_id, error=_("Not done: %(why)s.", why=say(exc)), status=409)
    flash({"start": _("%(piece)s: work started.", piece=piece_id), "pause": _("%(piece)s: work paused.", piece=piece_id),
           "resume": _("%(piece)s: work resumed.", piece=piece_id),
           "done": _("%(piece)s: work done.", piece=piece_id)}[action], "done")
    return see(url_for("ui.piece", piece_id=piece_id))


def _names(ledger: Ledger) -> dict[str, str]:
    """Every badge's name, for a history (one query; a badge not registered shows as itself)."""
    return {**ledger.operator_names(), LASER: _("the laser")}


def _weighed(current: Piece, to: str) -> bool:
    """Whether a move of the piece to ``to`` records its weight here (a weighed stage and a scale)."""
    if kiosk_state().config.kiosk.scale_ref is None:  # type: ignore[union-attr]
        return False
    route = get_ledger().workflow.route(current.route)
    names = {s.name for s in route.stages}
    leaving = route.stage(current.stage).weigh if current.stage in names else ""
    entering = route.stage(to).weigh if to in names else ""
    return leaving in ("out", "both") or entering in ("in", "both")


def _failing(piece_id: str, answers: dict[str, CheckValue]) -> list[CheckResult]:
    """Return the answered checks of the piece's current stage that fail."""
    ledger = get_ledger()
    current = ledger.piece(piece_id)
    route = ledger.workflow.route(current.route)
    if current.stage not in {s.name for s in route.stages}:
        return []
    results, _ = judge(route.stage(current.stage).checks, answers, current, complete=False)
    return [r for r in results if not r.passed]


def _summary(options: list[MoveOption], kind: str) -> dict[str, Any] | None:
    of_kind = [o for o in options if o.kind == kind]
    if not of_kind:
        return None
    allowed = [o for o in of_kind if o.allowed]
    return {"allowed": bool(allowed), "why": "" if allowed else of_kind[0].why,
            "targets": [o.to for o in allowed or of_kind]}


@bp.post("/pieces/<piece_id>/moves")
@auth.login_required
def move_piece(piece_id: str) -> Answer:
    note = (request.form.get("note") or request.form.get("other_note") or "").strip()
    try:
        answers = _check_answers(piece_id)
    except ValueError as exc:
        return piece(piece_id, error=_("Not moved: %(why)s.", why=str(exc)), status=400)
    to, override = request.form.get("to", ""), request.form.get("override") == "1"
    if len(note) > NOTE_MAX:  # checked before the PIN is asked: nobody types a PIN for a refusal
        return piece(piece_id, error=_("Not moved: the note is %(length)d characters long; the most is %(most)d. "
                                       "Shorten it and try again.", length=len(note), most=NOTE_MAX), status=400)
    typed = (request.form.get("manual_weight") or "").strip()
    if typed:
        operator = auth.current_operator()
        assert operator is not None
        if operator.role != "supervisor":
            return piece(piece_id, error=_("Not moved: only a supervisor may type a weight in; use the scale."),
                         status=409)
        try:
            manual = float(typed.replace(",", "."))
        except ValueError:
            return piece(piece_id, error=_("Not moved: %(typed)s is not a number of grams.", typed=repr(typed[:20])),
                         status=400)
        if (ask := confirm_pin(_("Typed weight %(grams)s g for %(piece)s", grams="%g" % manual, piece=piece_id),
                               cancel=url_for("ui.piece", piece_id=piece_id), scan_piece=piece_id)) is not None:
            return ask
        return _move_piece(piece_id, to, request.form.get("version", ""), note, answers=answers, manual_g=manual)
    if to == SCRAPPED or override:
        if to == SCRAPPED:
            what = (_("Scrap %(piece)s: %(why)s", piece=piece_id, why=names.reason_label(note)) if note
                    else _("Scrap %(piece)s", piece=piece_id))
        else:
            what = (_("Override: %(piece)s to %(stage)s", piece=piece_id, stage=stage_label(to)) if to
                    else _("Override: %(piece)s to its next stage", piece=piece_id))
        if (ask := confirm_pin(what, cancel=url_for("ui.piece", piece_id=piece_id), scan_piece=piece_id)) is not None:
            return ask
    return _move_piece(piece_id, to, request.form.get("version", ""), note, override=override, answers=answers)


def _photo_checks(piece_id: str) -> set[str]:
    """The names of the photo checks of the piece's current stage."""
    ledger = get_ledger()
    try:
        current = ledger.piece(piece_id)
    except NotFound:
        return set()
    route = ledger.workflow.route(current.route)
    if current.stage not in {s.name for s in route.stages}:
        return set()
    return {c.name for c in route.stage(current.stage).checks if c.kind == "photo"}


def _check_answers(piece_id: str) -> dict[str, CheckValue]:
    """Read the QC answers a form carries (``check.<name>``): pass/fail, a number, a photo reference."""
    answers: dict[str, CheckValue] = {}
    photos = _photo_checks(piece_id)
    for key, raw in request.form.items():
        if not key.startswith("check.") or raw == "":
            continue
        name = key[len("check."):]
        if name in photos:
            answers[name] = raw  # the id of the photo the camera took
        elif raw in ("pass", "fail"):
            answers[name] = raw == "pass"
        else:
            try:
                answers[name] = float(raw.replace(",", "."))
            except ValueError:
                raise ValueError(_("%(check)s: %(value)s is not a number", check=name, value=repr(raw[:20]))) from None
    return answers


@bp.get("/pieces/<piece_id>/passport")
@auth.login_required
def passport(piece_id: str) -> Answer:
    """The piece's passport (printable); ``?view=certificate``: the customer's, with no internal names."""
    try:
        found = get_ledger().passport(piece_id)
    except NotFound:
        abort(404, description=_("Unknown piece %(code)s: it is not in the ledger.", code=piece_id))
    pour = found["pour"]
    certificate = request.args.get("view") == "certificate"
    return render_screen("certificate.html" if certificate else "passport.html", page="passport", p=found,
                         piece=found["piece"], pour_chart=_pour_chart(pour) if not certificate else "",
                         laser=kiosk_state().config.kiosk.engraver,  # type: ignore[union-attr]
                         duration=duration_text, scan_piece=piece_id)


@bp.get("/pieces/<piece_id>/override")
@auth.login_required
def override(piece_id: str) -> Answer:
    """Ask a supervisor for the reason to move a piece on past a rule (engraving not done)."""
    operator = auth.current_operator()
    assert operator is not None
    to = request.args.get("to", "")
    try:
        current = get_ledger().piece(piece_id)
        options = get_ledger().options(piece_id, operator.operator_id, stages=ui_state().stages)
    except NotFound:
        abort(404, description=_("Unknown piece %(code)s: it is not in the ledger.", code=piece_id))
    option = next((o for o in options if o.to == to and o.override), None)
    if option is None:
        why = next((say(o.why) for o in options if o.to == to and o.why), _("nothing here needs an override"))
        return piece(piece_id, error=_("No override for %(piece)s to %(stage)s: %(why)s.", piece=piece_id,
                                       stage=stage_label(to), why=why), status=409)
    return render_screen("override.html", page="override", piece=current, to=to, why=option.why,
                         scan_piece=current.piece_id, scan_version=current.version)


def _move_piece(piece_id: str, to: str, version: str, note: str, *, override: bool = False,
                answers: dict[str, CheckValue] | None = None, manual_g: float | None = None) -> Answer:
    """Advance (``to`` empty) or move a piece; a refusal shows the piece with why (409)."""
    operator = auth.current_operator()
    assert operator is not None
    if not version.isdigit():
        abort(400, description=_("This screen did not say which version of the piece it showed; scan the piece "
                                 "again."))
    ledger = get_ledger()
    station = kiosk_state().config.kiosk.id  # type: ignore[union-attr]
    try:
        kinds = {o.to: o.kind for o in ledger.options(piece_id, operator.operator_id, stages=ui_state().stages)}
        if not to or kinds.get(to) == ADVANCE_MOVE:
            failed = _failing(piece_id, answers or {})
            if failed:  # a failing check is never advanced past: offer rework with it as the reason
                return piece(piece_id, error=_("Not moved: %(why)s.", why="; ".join(say(r.why) for r in failed)),
                             status=409, failed=failed, answers=answers)
        current = ledger.piece(piece_id)
        target = to or ledger.workflow.route(current.route).next_stage(current.stage, current) or ""
        grams = manual_g
        if grams is None and kinds.get(target) == ADVANCE_MOVE and _weighed(current, target):
            grams = ui_state().live.stable_weight()
            if grams is None:
                return piece(piece_id, error=_("Not moved: the scale has no stable weight yet. Put the piece on the "
                                               "pan and wait until it reads stable."), status=409)
        if to:
            event = ledger.move(piece_id, to, operator=operator.operator_id, station=station, note=note,
                                expected_version=int(version), override=override, checks=answers,
                                stages=ui_state().stages, weight_g=grams, weight_manual=manual_g is not None)
        else:
            event = ledger.advance(piece_id, operator=operator.operator_id, station=station, note=note,
                                   expected_version=int(version), override=override, checks=answers,
                                   stages=ui_state().stages, weight_g=grams, weight_manual=manual_g is not None)
    except NotFound as exc:
        abort(404, description=f"{say(exc)}.")
    except MoveRefused as exc:
        return piece(piece_id, error=_("Not moved: %(why)s.", why=say(exc)), status=409)
    except MessageTooLarge as exc:
        return piece(piece_id, error=_("Not moved: %(why)s", why=too_large_text(exc)), status=413)
    moved = f"{piece_id}: {stage_label(event.from_stage or '')} → {stage_label(event.to_stage)}"
    if grams is not None:
        weight = "%g" % grams
        moved += " " + (_("at %(grams)s g (typed in)", grams=weight) if manual_g is not None
                        else _("at %(grams)s g", grams=weight))
    if event.override:
        moved += " " + _("(override recorded)")
    flash(moved + ".", "done")
    return see(url_for("ui.piece", piece_id=piece_id))


@bp.get("/pieces/<piece_id>/reasons")
@auth.login_required
def reasons(piece_id: str) -> Answer:
    """Offer the rework targets (or scrap) with the route's reasons as big buttons."""
    kind = request.args.get("kind", REWORK)
    if kind not in (REWORK, SCRAP):
        abort(400, description=_("kind must be %(rework)s or %(scrap)s", rework=REWORK, scrap=SCRAP))
    operator = auth.current_operator()
    assert operator is not None
    try:
        current = get_ledger().piece(piece_id)
        options = get_ledger().options(piece_id, operator.operator_id, stages=ui_state().stages)
    except NotFound:
        abort(404, description=_("Unknown piece %(code)s: it is not in the ledger.", code=piece_id))
    of_kind = [o for o in options if o.kind == kind]
    allowed = [o for o in of_kind if o.allowed]
    if not allowed:
        why = say(of_kind[0].why) if of_kind else _(NO_ROUTE_MOVE[kind], stage=stage_label(current.stage))
        return piece(piece_id, error=_(CANNOT[kind], piece=piece_id, why=why), status=409)
    if kind == REWORK:
        return _rework(current, [o.to for o in allowed])
    suggested = sorted({r for o in options if o.kind == REWORK for r in o.reasons})
    return render_screen("reasons.html", page="reasons", piece=current, kind=kind, options=allowed,
                         suggested=suggested, scan_piece=current.piece_id, scan_version=current.version)


def _rework(current: Piece, allowed: list[str]) -> Answer:
    """Rework asks the reason first, then offers only the targets that reason allows."""
    rework = get_ledger().workflow.route(current.route).stage(current.stage).rework
    assert rework is not None  # the route offered a rework from here
    reason = (request.args.get("reason") or "").strip()
    common: dict[str, Any] = dict(page="reasons", piece=current, kind=REWORK, scan_piece=current.piece_id,
                                  scan_version=current.version)
    if not reason:
        reasons = [r for r in rework.all_reasons() if set(rework.targets_for(r)) & set(allowed)]
        return render_screen("rework.html", step="reason", reasons=reasons, **common)
    if len(reason) > NOTE_MAX:
        abort(400, description=_("The reason is %(length)d characters long; the most is %(most)d.",
                                 length=len(reason), most=NOTE_MAX))
    targets = [t for t in rework.targets_for(reason) if t in allowed]
    return render_screen("rework.html", step="target", reason=reason, targets=targets or allowed, **common)


# ---------------------------------------------------------------------------- wax trees

@bp.get("/trees/<tree_id>")
@auth.login_required
def tree(tree_id: str, error: str = "", status: int = 200) -> Answer:
    try:
        found = get_ledger().tree(tree_id)
    except NotFound:
        abort(404, description=_("Unknown wax tree %(code)s: it is not in the ledger.", code=tree_id))
    live = [p for p in found.pieces if p.stage != SCRAPPED]
    return render_screen("tree.html", status=status, page="tree", tree=found, error=error,
                         live_count=len(live), following=_tree_next_stage(tree_id),
                         stages=sorted({p.stage for p in live}), scan_tree=tree_id,
                         casting=get_ledger().casting(tree_id), tree_weights=TREE_WEIGHTS,
                         pour=(pour := get_ledger().pour_record(tree_id)), pour_here=_pour_here(found),
                         pour_chart=_pour_chart(pour),
                         scale=kiosk_state().config.kiosk.scale_ref is not None)  # type: ignore[union-attr]


def _pour_chart(pour: dict[str, Any] | None) -> str:
    """The furnace curve around a pour, the window as a band and the pour as a dashed line."""
    if pour is None:
        return ""
    at = parse_ts(str(pour["ts"]))
    return furnace_svg(pour["curve"], window=(pour["min_c"], pour["max_c"]), mark=str(pour["ts"]),
                       start=utc_ts(at - timedelta(minutes=15)), end=utc_ts(at + timedelta(minutes=2)),
                       title=_("the pour of %(tree)s", tree=pour["tree_id"]))


def _pour_here(found: Tree) -> Say | tuple[str, tuple[float, float]] | None:
    """At a casting kiosk with a gateway: the tree's window (or why none); elsewhere None."""
    config = kiosk_state().config
    if CASTING not in ui_state().stages or not config.kiosk.gateway:  # type: ignore[union-attr]
        return None
    return tree_window(found, config.metals)


@bp.post("/trees/<tree_id>/pour")
@auth.login_required
def pour_tree(tree_id: str) -> Answer:
    """Record the pour: the furnace's temperature now against the tree's window (outside: a supervisor's reason)."""
    operator = auth.current_operator()
    assert operator is not None
    config = kiosk_state().config
    kiosk = config.kiosk
    assert kiosk is not None
    try:
        found = get_ledger().tree(tree_id)
    except NotFound:
        abort(404, description=_("Unknown wax tree %(code)s: it is not in the ledger.", code=tree_id))
    window = _pour_here(found)
    if not isinstance(window, tuple):
        why = say(window) if window is not None else _("this kiosk does not serve casting")
        return tree(tree_id, error=_("Not poured: %(why)s.", why=why), status=409)
    metal, (low, high) = window
    reading = next((r for r in ui_state().live.temperatures() if r["probe"] == kiosk.furnace), None)
    fresh = reading is not None and time.time() * 1000 - reading["received_ms"] <= POUR_READING_MAX_AGE_S * 1000
    if reading is None or not fresh or reading["fault"] or reading["value_c"] is None:
        probe = kiosk.gateway + "/" + kiosk.furnace
        return tree(tree_id, error=_("Not poured: no fresh reading from the furnace probe %(probe)s.", probe=probe),
                    status=409)
    value = float(reading["value_c"])
    reason = (request.form.get("reason") or "").strip()
    if not low <= value <= high and operator.role == "supervisor" and reason:
        if (ask := confirm_pin(_("Pour %(tree)s at %(value)s °C, outside %(low)s–%(high)s °C: %(why)s", tree=tree_id,
                                 value="%g" % value, low="%g" % low, high="%g" % high, why=reason),
                               cancel=url_for("ui.tree", tree_id=tree_id), scan_tree=tree_id)) is not None:
            return ask
    try:
        record = get_ledger().pour(tree_id, gateway=kiosk.gateway, probe=kiosk.furnace, value_c=value, metal=metal,
                                   window=(low, high), operator=operator.operator_id, station=kiosk.id, reason=reason)
    except MoveRefused as exc:
        return tree(tree_id, error=_("Not poured: %(why)s.", why=say(exc)), status=409)
    poured = (N_("%(tree)s poured at %(value)s °C (inside %(low)s–%(high)s °C).") if record["inside"]
              else N_("%(tree)s poured at %(value)s °C (outside %(low)s–%(high)s °C)."))
    flash(_(poured, tree=tree_id, value="%g" % value, low="%g" % low, high="%g" % high), "done")
    return see(url_for("ui.tree", tree_id=tree_id))


@bp.post("/trees/<tree_id>/weights")
@auth.login_required
def weigh_tree(tree_id: str) -> Answer:
    """Record a tree's wax, metal issued, sprues or scrap: from the scale, or typed by a supervisor."""
    operator = auth.current_operator()
    assert operator is not None
    kind = request.form.get("kind", "")
    typed = "" if request.form.get("from_scale") else (request.form.get("grams") or "").strip()
    try:
        if typed:
            if operator.role != "supervisor":
                raise MoveRefused(Say("only a supervisor may type a weight in (it is marked manual); use the scale"))
            try:
                grams = float(typed.replace(",", "."))
            except ValueError:
                raise MoveRefused(Say("%(typed)s is not a number of grams", typed=repr(typed[:20]))) from None
        else:
            stable = ui_state().live.stable_weight()
            if stable is None:
                raise MoveRefused(Say("the scale has no stable weight yet: wait until it reads stable"))
            grams = stable
        get_ledger().weigh_tree(tree_id, kind, grams, operator=operator.operator_id, manual=bool(typed))
    except NotFound:
        abort(404, description=_("Unknown wax tree %(code)s: it is not in the ledger.", code=tree_id))
    except MoveRefused as exc:
        return tree(tree_id, error=_("Not recorded: %(why)s.", why=say(exc)), status=409)
    weighed = N_("%(tree)s: %(kind)s %(grams)s g (typed in).") if typed else N_("%(tree)s: %(kind)s %(grams)s g.")
    flash(_(weighed, tree=tree_id, kind=names.weight_label(kind), grams="%g" % grams), "done")
    return see(url_for("ui.tree", tree_id=tree_id))


def _tree_next_stage(tree_id: str) -> str | None:
    """Return the one next stage all the tree's live pieces share, or None."""
    ledger = get_ledger()
    live: list[Piece] = [p for p in ledger.tree(tree_id).pieces if p.stage != SCRAPPED]
    following = {ledger.workflow.route(p.route).next_stage(p.stage, p) for p in live}
    return following.pop() if len(following) == 1 else None


@bp.post("/trees/<tree_id>/moves")
@auth.login_required
def move_tree(tree_id: str) -> Answer:
    to = request.form.get("to", "")
    if not to:
        abort(400, description=_("Which stage? The form did not say; scan the tree again."))
    return _move_tree(tree_id, to)


def _move_tree(tree_id: str, to: str) -> Answer:
    operator = auth.current_operator()
    assert operator is not None
    try:
        events = get_ledger().move_tree(tree_id, to, operator=operator.operator_id,
                                        station=kiosk_state().config.kiosk.id,  # type: ignore[union-attr]
                                        stages=ui_state().stages)
    except NotFound as exc:
        abort(404, description=f"{say(exc)}.")
    except MoveRefused as exc:
        return tree(tree_id, error=_("Nothing moved: %(why)s.", why=say(exc)), status=409)
    except MessageTooLarge as exc:
        return tree(tree_id, error=_("Nothing moved: %(why)s", why=too_large_text(exc)), status=413)
    flash(ngettext("%(tree)s: %(num)d piece → %(stage)s.", "%(tree)s: %(num)d pieces → %(stage)s.", len(events),
                   tree=tree_id, num=len(events), stage=stage_label(to)), "done")
    return see(url_for("ui.tree", tree_id=tree_id))
