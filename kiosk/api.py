"""The kiosk's JSON API for integrations: pieces, moves, trees, health (bearer token)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from kiosk.state import get_ledger, kiosk_state
from kiosk.ledger import LASER, MoveRefused, NotFound
from kiosk.ledger.db import DatabaseUnavailable
from kiosk.ledger.history import MAX_POINTS
from kiosk.ledger.metal import WEIGHT_MAX_G
from kiosk.ledger.model import NOTE_MAX, parse_ts
from kiosk.reports import BadPeriod, csv_download, loss_csv, period, time_csv
from kiosk.throttle import client_address, failures, seconds

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__)

_MOVE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "to": str, "operator": str, "note": str, "from": str, "version": int, "override": bool, "checks": dict,
    "weight_g": (int, float), "weight_manual": bool}
_KIND_NAMES: dict[type | tuple[type, ...], str] = {str: "a string", int: "an integer", bool: "true or false",
                                                   dict: "an object", (int, float): "a number (grams)"}
_MAX_LENGTH = {"to": 64, "operator": 64, "from": 64, "note": NOTE_MAX}  # stage names and badges are short


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


@bp.before_request
def require_token() -> tuple[Response, int] | None:
    """Refuse every call but /healthz without ``Authorization: Bearer <token>``."""
    if request.endpoint == "api.healthz":
        return None
    state = kiosk_state()
    if not state.api_token:
        return _error(401, "the JSON API is off: set kiosk.api_token_file")
    throttle, client = failures(), client_address()
    if wait := throttle.wait_s(client):  # even the right token: a guesser must not learn it was right
        return _too_many(wait)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not state.token_matches(presented.strip()):
        throttle.failed(client)
        response, status = _error(401, "missing or wrong bearer token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="benchpin"'
        return response, status
    return None


def _too_many(wait: float) -> tuple[Response, int]:
    response, status = _error(429, f"too many wrong bearer tokens or badges from this address: "
                                   f"wait {seconds(wait)} s")
    response.headers["Retry-After"] = str(seconds(wait))
    return response, status


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        ok = get_ledger().ping()
    except Exception as exc:  # any database failure means unhealthy, never a 500 page
        log.warning("health check: the ledger does not answer: %s", exc)
        ok = False
    return jsonify({"ok": ok}), 200 if ok else 503


@bp.url_value_preprocessor
def refuse_unprintable_ids(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Answer 404 for an id no barcode can carry (a NUL would upset PostgreSQL)."""
    for value in (values or {}).values():
        if isinstance(value, str) and not value.isprintable():
            response, status = _error(404, f"unknown id {value!r}")
            response.status_code = status
            abort(response)


@bp.get("/api/pieces/<piece_id>")
def get_piece(piece_id: str) -> tuple[Response, int]:
    ledger = get_ledger()
    try:
        piece = ledger.piece(piece_id)
        history = ledger.history(piece_id)
    except NotFound as exc:
        return _error(404, str(exc))
    job = ledger.laser_job(piece_id)
    return jsonify({**piece.to_dict(), "history": [e.to_dict() for e in history],
                    "laser_job": job.to_dict() if job else None, "weights": ledger.weights(piece_id)}), 200


def _move_body() -> tuple[dict[str, Any] | None, str]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return None, "the body must be a JSON object like {\"to\": STAGE, \"operator\": OP-ID, \"note\": TEXT}"
    for key, value in body.items():
        kind = _MOVE_FIELDS.get(key)
        if kind is None:
            return None, f"{key}: unknown field (known: {', '.join(_MOVE_FIELDS)})"
        if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
            return None, f"{key}: must be {_KIND_NAMES[kind]}"
    for key in ("to", "operator"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            return None, f"{key}: is required"
    for name, value in (body.get("checks") or {}).items():
        if not isinstance(value, (bool, int, float, str)) or len(name) > 64:
            return None, f"checks.{name[:64]}: must be true/false, a number or a photo reference"
    weight = body.get("weight_g")
    if weight is not None and not 0 < weight <= WEIGHT_MAX_G:
        return None, f"weight_g: must be more than 0 and at most {WEIGHT_MAX_G:g} grams (got {weight:g})"
    if body["operator"].strip() == LASER:
        return None, "operator: must be a person's badge (the laser moves pieces by itself)"
    for key in ("to", "operator", "from", "note"):
        value = body.get(key) or ""
        if len(value) > _MAX_LENGTH[key]:  # refused, never cut: a cut reason would say something else
            return None, f"{key}: at most {_MAX_LENGTH[key]} characters (got {len(value)})"
        if "\x00" in value or (key != "note" and not value.isprintable()):  # a note may have line breaks
            return None, f"{key}: contains a control character"
    return body, ""


@bp.post("/api/pieces/<piece_id>/moves")
def post_move(piece_id: str) -> tuple[Response, int]:
    body, problem = _move_body()
    if body is None:
        return _error(400, problem)
    state = kiosk_state()
    try:
        event = state.ledger.move(piece_id, body["to"].strip(), operator=body["operator"].strip(),
                                  station=state.config.kiosk.id if state.config.kiosk else "api",
                                  note=body.get("note") or "", expected_stage=body.get("from"),
                                  expected_version=body.get("version"), override=body.get("override") is True,
                                  checks=body.get("checks"), weight_g=body.get("weight_g"),
                                  weight_manual=body.get("weight_manual") is True)
    except NotFound as exc:
        return _error(404, str(exc))
    except MoveRefused as exc:
        return _error(409, str(exc))
    return jsonify(event.to_dict()), 201


@bp.get("/api/wip")
def get_wip() -> tuple[Response, int]:
    """Every stage of every route: how many pieces wait there and how long the oldest has."""
    board = get_ledger().wip_board()
    route, stage = request.args.get("route"), request.args.get("stage")
    stages = [s.to_dict() for s in board if (not route or s.route == route) and (not stage or s.stage == stage)]
    return jsonify({"stages": stages}), 200


@bp.get("/api/reports/time")
def get_time_report() -> tuple[Response, int] | Response:
    """Working time and dwell per stage and operator over a period (``from``, ``to``); CSV with ``format=csv``."""
    state = kiosk_state()
    try:
        start, end = period(request.args, state.config.site.timezone)
    except BadPeriod as exc:
        return _error(400, str(exc))
    rows = get_ledger().time_report(start, end)
    if request.args.get("format") == "csv":
        return csv_download(time_csv(rows), "time", start, end)
    return jsonify({"from": start, "to": end, "rows": [r.to_dict() for r in rows]}), 200


@bp.get("/api/metal/loss")
def get_metal_loss() -> tuple[Response, int] | Response:
    """Metal in, out and lost per stage, operator or metal (``by``) over a period; CSV with ``format=csv``."""
    try:
        start, end = period(request.args, kiosk_state().config.site.timezone)
        rows = get_ledger().metal_loss(start, end, request.args.get("by", "stage"))
    except (BadPeriod, MoveRefused) as exc:
        return _error(400, str(exc))
    if request.args.get("format") == "csv":
        return csv_download(loss_csv(rows), "metal-loss", start, end)
    return jsonify({"from": start, "to": end, "by": request.args.get("by", "stage"), "rows": rows}), 200


@bp.get("/api/metal/refining")
def get_refining_lots() -> tuple[Response, int]:
    """The scrap, filings and sprues returned to refining over a period, with their totals."""
    try:
        start, end = period(request.args, kiosk_state().config.site.timezone)
    except BadPeriod as exc:
        return _error(400, str(exc))
    lots = get_ledger().refining_lots(start, end)
    return jsonify({"from": start, "to": end, "lots": lots, "total_g": round(sum(lot["grams"] for lot in lots), 3),
                    "total_fine_g": round(sum(lot["fine_g"] for lot in lots), 3)}), 200


@bp.get("/api/probes/<gateway>/<probe>/readings")
def get_probe_readings(gateway: str, probe: str) -> tuple[Response, int]:
    """A furnace probe's history over a period: ``[ts, min_c, avg_c, max_c]`` every ``step`` seconds."""
    try:
        start, end = period(request.args, kiosk_state().config.site.timezone)
    except BadPeriod as exc:
        return _error(400, str(exc))
    span = (parse_ts(end) - parse_ts(start)).total_seconds()
    raw_step = request.args.get("step", "")
    try:
        step = float(raw_step) if raw_step else max(1.0, span / 1000)
    except ValueError:
        return _error(400, f"step must be a number of seconds, not {raw_step[:20]!r}")
    if not step > 0 or span / step > MAX_POINTS:
        return _error(400, f"step must be more than 0 and give at most {MAX_POINTS} points over the period "
                           f"(at least {span / MAX_POINTS:g} s here)")
    points = get_ledger().readings(gateway, probe, start, end, step)
    return jsonify({"gateway": gateway, "probe": probe, "from": start, "to": end, "step": step,
                    "points": points}), 200


@bp.get("/api/pieces/<piece_id>/passport")
def get_passport(piece_id: str) -> tuple[Response, int]:
    """Everything that happened to the piece, in order (see the contract)."""
    try:
        passport = get_ledger().passport(piece_id)
    except NotFound as exc:
        return _error(404, str(exc))
    kiosk = kiosk_state().config.kiosk
    if passport["engraving"] is not None and kiosk is not None:
        passport["engraving"]["laser"] = kiosk.engraver
    return jsonify(passport), 200


@bp.get("/api/trees/<tree_id>")
def get_tree(tree_id: str) -> tuple[Response, int]:
    try:
        tree = get_ledger().tree(tree_id)
    except NotFound as exc:
        return _error(404, str(exc))
    return jsonify({**tree.to_dict(), "casting": get_ledger().casting(tree_id),
                    "pour": get_ledger().pour_record(tree_id)}), 200


@bp.errorhandler(DatabaseUnavailable)
def database_unavailable(exc: DatabaseUnavailable) -> tuple[Response, int]:
    log.error("ledger unavailable: %s", exc)
    return _error(503, "the ledger database is unavailable; try again")
