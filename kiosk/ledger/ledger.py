"""The piece ledger: where every piece is, who moved it, and the moves it may make next.

One :class:`Ledger` serves the touch UI, the JSON API, the CLI and the MQTT bridge::

    ledger = Ledger("sqlite:////var/lib/benchpin/ledger.sqlite")   # or "postgresql://…"
    ledger.operator("OP-0007")                       # Operator (badge login; NotFound if unknown)
    piece = ledger.piece("PC-0001")                  # Piece: stage, version, attributes, serial
    ledger.history("PC-0001")                        # [Event], oldest first (creation first)
    ledger.options("PC-0001", "OP-0007")             # [MoveOption(to, kind, allowed, why, reasons, …)]
    ledger.advance("PC-0001", operator="OP-0007", station="casting",
                   expected_version=piece.version)   # Event, or MoveRefused saying why
    ledger.move("PC-0001", "casting", operator="OP-0002", station="qc", note="porosity")  # rework
    ledger.move("PC-0001", SCRAPPED, operator="OP-0002", station="qc", note="cracked")   # scrap
    ledger.tree("TR-0001"); ledger.move_tree("TR-0001", "casting", operator=…, station=…)
    ledger.wip(["casting"])                          # a station's work in progress
    ledger.when_moved(lambda event, piece: …)        # after each commit (live screens, MQTT)

Every move is checked against the piece's route (the workflow file) and the operator's role,
then committed with a *conditional* UPDATE on the piece's version: of two kiosks moving the
same piece at once exactly one wins; the other gets :class:`MoveRefused` "… was already moved
to X by OP-… at <ts>". Pass ``expected_version`` (or ``expected_stage``) from what the screen
showed, so a stale screen is refused the same way. Rework and scrap need a ``note`` (the
reason; the route's suggested reasons are in ``MoveOption.reasons``). Entering the route's
engraving stage assigns the serial from ``serial_pattern`` (UNIQUE in the database). The
``when_moved`` listeners get ``(event, piece_after)`` on the mover's thread: keep them short.

Errors: :class:`NotFound` (unknown piece/tree/operator/event), :class:`MoveRefused` (an
unknown operator too), :class:`ImportRejected`, :class:`DuplicateOperator` — all
:class:`LedgerError` — and ``DatabaseUnavailable`` when the database cannot be reached. A
ledger is safe to share between threads (a pool of connections); ``close()`` it when done.

Opening a ledger creates its tables or upgrades them (:mod:`kiosk.ledger.migrations`); a
ledger upgraded by a newer benchpin is refused with :class:`LedgerTooNew`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Mapping, Sequence

from benchpin.config import LANGUAGES, KioskConfig, MetalSettings
from benchpin.topics import utc_ts
from kiosk.ledger import history, metal, rows, sessions, worktime
from kiosk.ledger.history import Reading as ProbeReadingRow
from kiosk.ledger.metal import add_lot as _add_lot
from kiosk.ledger.metal import check_weight as _check_weight
from kiosk.ledger.metal import lots as _lots
from kiosk.ledger.checks import judge
from kiosk.ledger.db import Connection, Database, IntegrityViolation
from kiosk.ledger.imports import insert_pieces
from kiosk.ledger.migrations import upgrade
from kiosk.ledger.model import (ADVANCE, DONE, LASER, NAME_MAX, NOTE_MAX, ROLES, SCRAPPED, SUPERVISOR,
                                DuplicateOperator, Event, LaserJob, MoveOption, MoveRefused, NotFound, Operator,
                                Piece, PieceSpec, StageBlock, TimeRow, Tree, WipStage, WORK_ACTIONS, WorkSession,
                                parse_ts)
from kiosk.ledger.pins import hash_pin, pin_matches
from kiosk.ledger.sessions import SessionCheck
from kiosk.ledger.serials import DEFAULT_SERIAL_PATTERN, format_serial
from kiosk.ledger.workflow import Move, Workflow, load_workflow
from kiosk.ledger import says
from kiosk.ledger.says import N_, Say
from kiosk.routes import DEFAULT_ROUTES_FILE

log = logging.getLogger(__name__)

MoveListener = Callable[[Event, Piece], None]


class _Lost(Exception):
    """The conditional UPDATE matched nothing: someone else moved the piece first."""


def _check_note(note: str) -> None:
    """Refuse a note longer than NOTE_MAX (never cut it: the reason would be lost)."""
    if len(note) > NOTE_MAX:
        raise MoveRefused(Say("the note is %(length)d characters long; the most is %(most)d: shorten it",
                              length=len(note), most=NOTE_MAX))


PHOTO_MAX = 60_000  # bytes: the kiosk's camera sends a 640x480 JPEG, well under the 64 KiB request limit


def photo_type(data: bytes) -> str:
    """``image/jpeg`` or ``image/png`` by the file's own signature, else ""."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return ""


SUPERVISOR_ONLY = {"block a stage": N_("only a supervisor may block a stage (you are %(role)s)"),
                   "unblock a stage": N_("only a supervisor may unblock a stage (you are %(role)s)")}


def _out_of_scope(piece: Piece, role: str, stages: Collection[str] | None) -> Say | None:
    """Why a kiosk serving ``stages`` may not move ``piece`` (None if it may: a supervisor always may)."""
    if stages is None or piece.stage in stages or role == SUPERVISOR:
        return None
    return Say("%(piece)s is at %(stage)s, not at a stage of this kiosk (%(stages)s): "
               "move it at the %(stage)s station (or ask a supervisor)", piece=piece.piece_id,
               stage=says.stage(piece.stage, words=True), stages=says.Many(tuple(says.stage(s) for s in stages)))


class Ledger:
    """The ledger of one workshop over SQLite or PostgreSQL (see the module docstring)."""

    def __init__(self, database: str, workflow: Workflow | None = None, *,
                 serial_pattern: str = DEFAULT_SERIAL_PATTERN, pool_size: int = 32,
                 fineness: Mapping[str, float] | None = None) -> None:
        self.workflow = workflow or load_workflow(DEFAULT_ROUTES_FILE)
        self.fineness = fineness  # the site's [metals.<name>] fineness; None: the contract's table
        self.serial_pattern = serial_pattern
        self.db = Database(database, pool_size=pool_size)
        self._listeners: list[MoveListener] = []
        self._checks: list[Callable[[Event], None]] = []
        try:  # create or upgrade the schema; two kiosks opening at once apply each step once
            upgrade(self.db)
        except BaseException:
            self.db.close()
            raise

    @classmethod
    def from_config(cls, kiosk: KioskConfig, metals: Mapping[str, MetalSettings] | None = None) -> Ledger:
        """Open the ledger a ``[kiosk]`` config names (database, routes_file, serial_pattern), with the
        site's metals table (``[metals.<name>] fineness``) when given."""
        return cls(kiosk.database, load_workflow(Path(kiosk.routes_file or DEFAULT_ROUTES_FILE)),
                   serial_pattern=kiosk.serial_pattern,
                   fineness={name: m.fineness for name, m in metals.items()} if metals is not None else None)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self) -> bool:
        """Return True when the database answers a query."""
        with self.db.connect() as conn:
            return conn.row("SELECT 1") == (1,)

    def when_moved(self, listener: MoveListener) -> None:
        """Call ``listener(event, piece_after)`` after every committed move."""
        self._listeners.append(listener)

    def when_checking(self, check: Callable[[Event], None]) -> None:
        """Call ``check(event)`` on every move before it commits; what it raises refuses the move.

        The kiosk's MQTT bridge checks here that the move's message fits the broker's packet
        limit, so a move it could never publish is refused instead of committed.
        """
        self._checks.append(check)

    # ------------------------------------------------------------------ operators

    def add_operator(self, operator_id: str, name: str, role: str, *, pin: str | None = None,
                     language: str = "") -> Operator:
        """Register an operator badge with a role (one of ROLES), optionally a PIN and a language.

        ``language`` (one of LANGUAGES) is what the screens speak while the operator is badged
        in; "" leaves it to each kiosk's ``kiosk.language``.
        """
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        if language and language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r} (one of {', '.join(LANGUAGES)})")
        if not operator_id.isprintable() or " " in operator_id or not operator_id or operator_id == LASER:
            raise ValueError(f"bad operator id {operator_id!r}")
        if not name.strip():
            raise ValueError(f"operator {operator_id} needs a name (shown on the kiosk when they badge in)")
        if len(name) > NAME_MAX or not name.isprintable():
            raise ValueError(f"the name of {operator_id} must be at most {NAME_MAX} printable characters "
                             f"on one line (it has {len(name)})")
        pin_hash = hash_pin(pin) if pin is not None else None
        operator = Operator(operator_id, name, role, utc_ts(), has_pin=pin_hash is not None, language=language)
        try:
            with self.db.transaction() as conn:
                conn.execute("INSERT INTO operators (operator_id, name, role, created, pin_hash, language) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (operator.operator_id, operator.name, operator.role, operator.created, pin_hash,
                              language))
        except IntegrityViolation:
            raise DuplicateOperator(f"operator {operator_id} already exists") from None
        return operator

    def set_pin(self, operator_id: str, pin: str) -> None:
        """Set (or replace) an operator's PIN; ValueError for a PIN that is not 4–8 digits."""
        pin_hash = hash_pin(pin)
        with self.db.transaction() as conn:
            if not conn.rowcount("UPDATE operators SET pin_hash = ? WHERE operator_id = ?", (pin_hash, operator_id)):
                raise NotFound(Say("unknown operator %(operator)s", operator=operator_id))

    def check_pin(self, operator_id: str, pin: str) -> bool:
        """Say whether ``pin`` is the operator's PIN (False without one)."""
        with self.db.connect() as conn:
            row = conn.row("SELECT pin_hash FROM operators WHERE operator_id = ?", (operator_id,))
        return row is not None and pin_matches(pin, row[0])

    def operator(self, operator_id: str) -> Operator:
        with self.db.connect() as conn:
            return rows.load_operator(conn, operator_id)

    def operators(self) -> list[Operator]:
        with self.db.connect() as conn:
            return [rows.operator_from_row(r) for r in conn.rows(f"{rows.OPERATOR_SELECT} ORDER BY operator_id")]

    # ------------------------------------------------------------------ badge sessions

    def start_session(self, operator_id: str, *, now: float, kiosk: str = "") -> str:
        """Open a badge session (see :mod:`kiosk.ledger.sessions`); return its random id."""
        return sessions.start_session(self.db, operator_id, now=now, kiosk=kiosk)

    def check_session(self, session_id: str, *, now: float, idle_s: float, touch: bool = True) -> SessionCheck:
        """Return whose open session this is (ending it when idle longer than ``idle_s``)."""
        return sessions.check_session(self.db, session_id, now=now, idle_s=idle_s, touch=touch)

    def end_session(self, session_id: str, *, now: float) -> bool:
        """End a badge session (logout); a replayed cookie of it is refused from then on."""
        return sessions.end_session(self.db, session_id, now=now)

    # ------------------------------------------------------------------ reading

    def piece(self, piece_id: str) -> Piece:
        with self.db.connect() as conn:
            return rows.load_piece(conn, piece_id)

    def history(self, piece_id: str) -> list[Event]:
        """Return every event of a piece, oldest first (the first is its creation)."""
        with self.db.connect() as conn:
            rows.load_piece(conn, piece_id)
            return rows.load_history(conn, piece_id)

    def event(self, event_id: str) -> Event:
        with self.db.connect() as conn:
            row = conn.row(f"{rows.EVENT_SELECT} WHERE event_id = ?", (event_id,))
        if row is None:
            raise NotFound(Say("unknown event %(event)s", event=event_id))
        return rows.event_from_row(row)

    def tree(self, tree_id: str) -> Tree:
        """Return a wax tree with its pieces (ordered by piece id)."""
        with self.db.connect() as conn:
            row = conn.row("SELECT tree_id, created FROM trees WHERE tree_id = ?", (tree_id,))
            if row is None:
                raise NotFound(Say("unknown tree %(tree)s", tree=tree_id))
            pieces = conn.rows(f"{rows.PIECE_SELECT} WHERE tree_id = ? ORDER BY piece_id", (tree_id,))
        return Tree(tree_id=row[0], created=row[1], pieces=tuple(rows.piece_from_row(p) for p in pieces))

    def wip(self, stages: str | Iterable[str]) -> list[Piece]:
        """Return the pieces now at any of ``stages`` (a station's work in progress), oldest move first."""
        names = [stages] if isinstance(stages, str) else list(stages)
        if not names:
            return []
        with self.db.connect() as conn:
            found = conn.rows(f"{rows.PIECE_SELECT} WHERE stage IN ({', '.join('?' * len(names))}) "
                              "ORDER BY updated, piece_id", names)
        return [rows.piece_from_row(r) for r in found]

    def wip_board(self, *, now: datetime | None = None) -> list[WipStage]:
        """Return every stage of every route with the pieces at it, oldest first (the WIP board).

        The last stage of a route (shipped, delivered) and scrapped pieces are left out: they
        are done, not waiting.
        """
        now = now or datetime.now(timezone.utc)
        with self.db.connect() as conn:
            found = conn.rows(f"{rows.PIECE_SELECT} WHERE stage <> ? ORDER BY updated, piece_id", (SCRAPPED,))
        at: dict[tuple[str, str], list[Piece]] = {}
        for row in found:
            piece = rows.piece_from_row(row)
            at.setdefault((piece.route, piece.stage), []).append(piece)
        blocks = self.blocks()
        board = []
        for route in self.workflow.routes.values():
            for stage in route.stages[:-1]:
                pieces = tuple(at.get((route.name, stage.name), ()))
                oldest = (now - parse_ts(pieces[0].updated)).total_seconds() if pieces else None
                block = blocks.get(stage.name)
                board.append(WipStage(route.name, stage.name, pieces, oldest, stage.target_hours,
                                      block.reason if block else None))
        return board

    # ------------------------------------------------------------------ working time

    def work(self, piece_id: str, action: str, *, operator: str, station: str,
             stages: Collection[str] | None = None) -> WorkSession:
        """Start, pause, resume or finish ``operator``'s work on the piece's stay where it is now.

        ``stages`` as for :meth:`move`. Only the operator who started may pause, resume or finish
        (a supervisor may too). Raises :class:`MoveRefused` saying why, naming who holds it.
        """
        if action not in WORK_ACTIONS:
            raise MoveRefused(Say("unknown work action %(action)s (one of %(actions)s)", action=repr(action),
                                  actions=", ".join(WORK_ACTIONS)))
        piece = self.piece(piece_id)
        role = self._role(operator)
        if role == LASER:
            raise MoveRefused(Say("the laser does not time work"))
        if elsewhere := _out_of_scope(piece, role, stages):
            raise MoveRefused(elsewhere)
        names = self.operator_names()
        try:
            with self.db.transaction() as conn:
                done = worktime.act(conn, piece, action, operator, station, names, supervisor=role == SUPERVISOR)
        except IntegrityViolation:  # another operator's start won, a moment ago
            raise MoveRefused(worktime.taken(piece, self.work_session(piece_id), names)) from None
        log.info("work on %s at %s: %s by %s (%.0f s worked)", piece_id, piece.stage, action, operator,
                 done.worked_s)
        return done

    def work_session(self, piece_id: str) -> WorkSession | None:
        """Return the timed work on the piece's current stay, or None if nobody started it."""
        piece = self.piece(piece_id)
        with self.db.connect() as conn:
            return worktime.session(conn, piece.piece_id, piece.version)

    def time_report(self, start: str, end: str) -> list[TimeRow]:
        """Working time and dwell per stage and operator, over the stays that ended in [start, end)."""
        with self.db.connect() as conn:
            return worktime.report(conn, start, end, self.operator_names())

    def operator_names(self) -> dict[str, str]:
        """Every registered badge and its operator's name."""
        with self.db.connect() as conn:
            return {row[0]: row[1] for row in conn.rows("SELECT operator_id, name FROM operators")}

    # ------------------------------------------------------------------ metal

    def weights(self, piece_id: str) -> list[dict[str, Any]]:
        """The weights recorded with the piece's moves, oldest first (with each stage's loss)."""
        piece = self.piece(piece_id)
        with self.db.connect() as conn:
            return metal.weights(conn, piece.piece_id)

    def metal_loss(self, start: str, end: str, by: str = "stage") -> list[dict[str, Any]]:
        """Metal in, out and lost per stage, operator or metal over the weighings in [start, end)."""
        with self.db.connect() as conn:
            return metal.loss_report(conn, start, end, by)

    def add_refining_lot(self, *, metal: str, source: str, grams: float, operator: str, station: str,
                         pieces: Sequence[str] = (), note: str = "") -> dict[str, Any]:
        """Record scrap, filings or sprues returned to refining, with their weight; return the lot."""
        weight = _check_weight(grams)
        _check_note(note)
        self._role(operator)
        for piece_id in pieces:
            self.piece(piece_id)  # NotFound for an unknown piece
        with self.db.transaction() as conn:
            lot = _add_lot(conn, f"RL-{uuid.uuid4().hex[:10]}", metal=metal, source=source,
                                grams=weight, pieces=tuple(pieces), note=note.strip(), operator=operator,
                                station=station, ts=utc_ts(), rates=self.fineness)
        log.info("refining lot %s: %.3f g of %s (%s) by %s", lot["lot_id"], weight, lot["metal"], source, operator)
        return lot

    def weigh_tree(self, tree_id: str, kind: str, grams: float, *, operator: str, manual: bool = False) -> None:
        """Record a tree's wax, the metal issued for its pour, or the sprues or scrap back from it."""
        weight = _check_weight(grams)
        self._role(operator)
        self.tree(tree_id)  # NotFound for an unknown tree
        with self.db.transaction() as conn:
            metal.set_tree_weight(conn, tree_id, kind, weight, manual=manual, operator=operator, ts=utc_ts())
        log.info("tree %s: %s %.3f g by %s", tree_id, kind, weight, operator)

    def casting(self, tree_id: str) -> dict[str, Any]:
        """The tree's casting yield (see :func:`kiosk.ledger.metal.casting`)."""
        self.tree(tree_id)
        with self.db.connect() as conn:
            return metal.casting(conn, tree_id)

    def pour(self, tree_id: str, *, gateway: str, probe: str, value_c: float, metal: str, window: tuple[float, float],
             operator: str, station: str, reason: str = "") -> dict[str, Any]:
        """Record a tree's pour at ``value_c``; outside ``window`` it needs a supervisor and a reason."""
        self.tree(tree_id)
        role = self._role(operator)
        _check_note(reason)
        low, high = window
        inside = low <= value_c <= high
        if not inside:
            if role != SUPERVISOR:
                raise MoveRefused(Say("the furnace reads %(value)s °C, outside the pour window %(low)s–%(high)s °C: "
                                      "wait for it, or a supervisor pours with a reason",
                                      value="%g" % value_c, low="%g" % low, high="%g" % high))
            if not reason.strip():
                raise MoveRefused(Say("pouring at %(value)s °C, outside %(low)s–%(high)s °C, needs a reason",
                                      value="%g" % value_c, low="%g" % low, high="%g" % high))
        record = {"tree_id": tree_id, "gateway": gateway, "probe": probe, "ts": utc_ts(), "value_c": value_c,
                  "metal": metal, "min_c": low, "max_c": high, "inside": inside, "operator": operator,
                  "station": station, "reason": reason.strip() if not inside else ""}
        try:
            with self.db.transaction() as conn:
                conn.execute("INSERT INTO pours (tree_id, gateway, probe, ts, value_c, metal, min_c, max_c, inside, "
                             "operator, station, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (tree_id, gateway, probe, record["ts"], value_c, metal, low, high, int(inside),
                              operator, station, record["reason"]))
        except IntegrityViolation:
            raise MoveRefused(Say("tree %(tree)s was already poured", tree=tree_id)) from None
        log.info("tree %s poured at %g °C (%s %g-%g) by %s", tree_id, value_c, "inside" if inside else "OUTSIDE",
                 low, high, operator)
        return record

    def pour_record(self, tree_id: str, *, before_s: float = 900.0, after_s: float = 120.0,
                    step_s: float = 10.0) -> dict[str, Any] | None:
        """The tree's pour with the furnace curve from ``before_s`` before to ``after_s`` after, or None."""
        with self.db.connect() as conn:
            row = conn.row("SELECT tree_id, gateway, probe, ts, value_c, metal, min_c, max_c, inside, operator, "
                           "station, reason FROM pours WHERE tree_id = ?", (tree_id,))
        if row is None:
            return None
        keys = ("tree_id", "gateway", "probe", "ts", "value_c", "metal", "min_c", "max_c", "inside", "operator",
                "station", "reason")
        record = dict(zip(keys, row))
        record["inside"] = bool(record["inside"])
        at = parse_ts(record["ts"])
        record["curve"] = self.readings(record["gateway"], record["probe"], utc_ts(at - timedelta(seconds=before_s)),
                                        utc_ts(at + timedelta(seconds=after_s)), step_s)
        return record

    def refining_lots(self, start: str, end: str) -> list[dict[str, Any]]:
        """The metal returned to refining in [start, end), oldest first."""
        with self.db.connect() as conn:
            return _lots(conn, start, end)

    # ------------------------------------------------------------------ passport

    def passport(self, piece_id: str) -> dict[str, Any]:
        """Everything that happened to a piece, in order: stays with who, where and how long; checks,
        weights and losses; the pour of its tree with its curve; its engraving. Raises NotFound."""
        piece = self.piece(piece_id)
        events = self.history(piece_id)
        names = self.operator_names()
        weights = {w["event_id"]: w for w in self.weights(piece_id)}
        stays = []
        for event, following in zip(events, [*events[1:], None]):
            left = following.ts if following else None
            stays.append({**event.to_dict(), "operator_name": names.get(event.operator, event.operator),
                          "until": left, "duration_s": round((parse_ts(left) - parse_ts(event.ts)).total_seconds(), 1)
                          if left else None, "weight": weights.get(event.event_id)})
        with self.db.connect() as conn:
            job = conn.row("SELECT job_id, state, detail, updated FROM laser_jobs WHERE piece_id = ? AND state = ? "
                           "ORDER BY updated DESC LIMIT 1", (piece_id, DONE))
        engraving = {"serial": piece.serial, "job_id": job[0], "done": job[3]} if job else None
        pour = self.pour_record(piece.tree_id) if piece.tree_id else None
        return {"piece": piece.to_dict(), "history": stays, "engraving": engraving, "pour": pour,
                "metal_loss_g": round(sum(w["loss_g"] or 0.0 for w in weights.values()), 4) if weights else None}

    # ------------------------------------------------------------------ furnace history

    def store_readings(self, readings: Sequence[ProbeReadingRow]) -> int:
        """Keep probe readings (a reading seen again, same gateway, probe and seq, is skipped)."""
        with self.db.transaction() as conn:
            return history.store(conn, readings)

    def age_readings(self, *, raw_before: str, minutes_before: str) -> tuple[int, int]:
        """Roll raw readings older than ``raw_before`` up into minutes; drop minutes older than ``minutes_before``."""
        with self.db.transaction() as conn:
            return history.roll_up(conn, raw_before), history.prune(conn, minutes_before)

    def readings(self, gateway: str, probe: str, start: str, end: str, step_s: float) -> list[list[object]]:
        """A probe's series over [start, end): ``[ts, min_c, avg_c, max_c]`` every ``step_s`` seconds."""
        if not step_s > 0:
            raise MoveRefused(Say("step must be a number of seconds, more than 0"))
        with self.db.connect() as conn:
            return history.series(conn, gateway, probe, start, end, step_s)

    # ------------------------------------------------------------------ photos

    def add_photo(self, piece_id: str, data: bytes, *, check: str, operator: str, station: str) -> str:
        """Keep a photo (JPEG or PNG, at most PHOTO_MAX bytes) for the piece's stay; return its id."""
        piece = self.piece(piece_id)
        self._role(operator)
        mime = photo_type(data)
        if not mime:
            raise MoveRefused(Say("the photo is not a JPEG or PNG picture"))
        if len(data) > PHOTO_MAX:
            raise MoveRefused(Say("the photo is %(size)d bytes; the most is %(most)d", size=len(data), most=PHOTO_MAX))
        if not check or len(check) > 64:
            raise MoveRefused(Say("a photo names the check it answers (1 to 64 characters)"))
        photo_id = f"PH-{uuid.uuid4().hex[:16]}"
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO photos (photo_id, piece_id, version, stage, check_name, operator, station, "
                         "ts, mime, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (photo_id, piece.piece_id, piece.version, piece.stage, check, operator, station,
                          utc_ts(), mime, data))
        log.info("photo %s of %s at %s (%d bytes) by %s", photo_id, piece_id, piece.stage, len(data), operator)
        return photo_id

    def photo(self, photo_id: str) -> tuple[str, str, bytes]:
        """Return ``(piece_id, mime, data)`` of a photo; raise NotFound."""
        with self.db.connect() as conn:
            row = conn.row("SELECT piece_id, mime, data FROM photos WHERE photo_id = ?", (photo_id,))
        if row is None:
            raise NotFound(Say("unknown photo %(photo)s", photo=photo_id))
        return row[0], row[1], bytes(row[2])

    # ------------------------------------------------------------------ blocked stages

    def blocks(self) -> dict[str, StageBlock]:
        """Return every blocked stage and why."""
        with self.db.connect() as conn:
            found = conn.rows("SELECT stage, reason, operator, station, since FROM stage_blocks ORDER BY stage")
        return {row[0]: StageBlock(*row) for row in found}

    def block_stage(self, stage: str, *, reason: str, operator: str, station: str) -> StageBlock:
        """Block a stage (a supervisor: "waiting for the mold"); moves into it are refused until unblocked."""
        self._supervisor(operator, "block a stage")
        known = {s.name for route in self.workflow.routes.values() for s in route.stages}
        if stage not in known:
            raise MoveRefused(Say("%(stage)s is no stage of any route", stage=says.stage(stage)))
        if not reason.strip():
            raise MoveRefused(Say("blocking a stage needs a reason"))
        block = StageBlock(stage, reason.strip()[:500], operator, station, utc_ts())
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO stage_blocks (stage, reason, operator, station, since) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT (stage) DO UPDATE SET reason = excluded.reason, operator = excluded.operator, "
                         "station = excluded.station, since = excluded.since",
                         (block.stage, block.reason, block.operator, block.station, block.since))
        log.info("stage %s blocked by %s at %s: %s", stage, operator, station, block.reason)
        return block

    def unblock_stage(self, stage: str, *, operator: str) -> bool:
        """Unblock a stage; return False if it was not blocked."""
        self._supervisor(operator, "unblock a stage")
        with self.db.transaction() as conn:
            done = conn.rowcount("DELETE FROM stage_blocks WHERE stage = ?", (stage,)) == 1
        if done:
            log.info("stage %s unblocked by %s", stage, operator)
        return done

    def _supervisor(self, operator: str, what: str) -> None:
        role = self._role(operator)
        if role != SUPERVISOR:
            raise MoveRefused(Say(SUPERVISOR_ONLY[what], role=says.role(role)))

    def options(self, piece_id: str, operator: str, *, stages: Collection[str] | None = None) -> list[MoveOption]:
        """List the moves the piece's route offers now, each allowed or not for this operator.

        ``stages``: those of the kiosk asking; a piece elsewhere offers nothing allowed there,
        except to a supervisor.
        """
        piece = self.piece(piece_id)
        role = self._role(operator)
        elsewhere = _out_of_scope(piece, role, stages)
        options = []
        unengraved = self._not_engraved(piece)
        blocks = self.blocks()
        for move in self.workflow.route(piece.route).moves(piece):
            allowed = move.auto if role == LASER else role in move.roles
            why: Say | str = "" if allowed else Say(
                "needs %(roles)s (you are %(role)s)", roles=says.either(tuple(says.role(r) for r in move.roles)),
                role=says.role(role))
            if allowed and elsewhere:
                allowed, why = False, elsewhere
            if allowed and move.to in blocks:
                allowed, why = False, Say("%(stage)s is blocked: %(reason)s", stage=says.stage(move.to, words=True),
                                          reason=blocks[move.to].reason)
            override = False
            if allowed and unengraved and move.kind == ADVANCE:
                allowed, override = False, role == SUPERVISOR
                why = unengraved if override else Say("%(why)s; only a supervisor may override", why=unengraved)
            options.append(MoveOption(to=move.to, kind=move.kind, allowed=allowed, why=why,
                                      roles=move.roles, reasons=move.reasons,
                                      needs_note=move.kind != "advance" or override, override=override))
        return options

    # ------------------------------------------------------------------ laser jobs

    def laser_job(self, piece_id: str) -> LaserJob | None:
        """Return the laser job of the piece's current stay at engraving, or None elsewhere.

        Its id is the id of the move that put the piece there; ``state`` is ``"sent"`` until
        the engraver reports.
        """
        piece = self.piece(piece_id)
        route = self.workflow.route(piece.route)
        if not route.engraving or piece.stage != route.engraving:
            return None
        with self.db.connect() as conn:
            entered = rows.last_event(conn, piece_id)
        assert entered is not None
        return self.job(entered.event_id) or LaserJob(entered.event_id, piece_id, "sent", updated=entered.ts)

    def job(self, job_id: str) -> LaserJob | None:
        """Return the last state recorded for a laser job, or None if none was."""
        with self.db.connect() as conn:
            row = conn.row("SELECT job_id, piece_id, state, detail, progress, eta_s, updated FROM laser_jobs "
                           "WHERE job_id = ?", (job_id,))
        return LaserJob(*row) if row else None

    def record_job(self, job_id: str, state: str, *, detail: str = "", progress: float | None = None,
                   eta_s: float | None = None) -> bool:
        """Keep the state an engraver reported for a job; False if the job is not one of ours."""
        with self.db.transaction() as conn:
            event = conn.row("SELECT piece_id, to_stage FROM events WHERE event_id = ?", (job_id,))
            if event is None:
                return False
            conn.execute(
                "INSERT INTO laser_jobs (job_id, piece_id, state, detail, progress, eta_s, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, "
                "detail = excluded.detail, progress = excluded.progress, eta_s = excluded.eta_s, "
                "updated = excluded.updated",
                (job_id, event[0], state, detail[:500], progress, eta_s, utc_ts()))
        return True

    def _check_not_blocked(self, stage: str) -> None:
        with self.db.connect() as conn:
            row = conn.row("SELECT reason, operator, since FROM stage_blocks WHERE stage = ?", (stage,))
        if row is not None:
            raise MoveRefused(Say("%(stage)s is blocked: %(reason)s (by %(operator)s since %(since)s)",
                                  stage=says.stage(stage), reason=row[0], operator=row[1],
                                  since=says.moment(row[2], row[2][:16].replace("T", " "))))

    def _not_engraved(self, piece: Piece) -> Say | None:
        """Say why the piece may not advance out of engraving yet (None when it may)."""
        route = self.workflow.route(piece.route)
        if not route.engraving or piece.stage != route.engraving:
            return None
        job = self.laser_job(piece.piece_id)
        if job is None or job.state == DONE:
            return None
        if job.state == "sent":
            return Say("%(piece)s is not engraved yet: the laser has not reported", piece=piece.piece_id)
        if job.detail:  # the engraver's own words, as it reported them
            return Say("%(piece)s is not engraved yet: its laser job is %(state)s (%(detail)s)",
                       piece=piece.piece_id, state=says.job_state(job.state), detail=job.detail)
        return Say("%(piece)s is not engraved yet: its laser job is %(state)s", piece=piece.piece_id,
                   state=says.job_state(job.state))

    def unpublished(self, station: str, limit: int = 1000) -> list[Event]:
        """Return moves made at ``station`` not yet marked published, oldest first."""
        with self.db.connect() as conn:
            found = conn.rows(f"{rows.EVENT_SELECT} WHERE published = 0 AND station = ? "
                              "ORDER BY ts, version LIMIT ?", (station, limit))
        return [rows.event_from_row(r) for r in found]

    def mark_published(self, event_id: str) -> None:
        """Record that a move is safely in the MQTT outbox."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE events SET published = 1 WHERE event_id = ?", (event_id,))

    # ------------------------------------------------------------------ importing

    def import_pieces(self, specs: Sequence[PieceSpec], *, station: str = "import",
                      operator: str = "import") -> int:
        """Add pieces at their route's first stage, all or none; return how many were added.

        Raises :class:`ImportRejected` with ``line N: column: problem`` for every piece that
        exists already or names an unknown route.
        """
        with self.db.transaction() as conn:
            return insert_pieces(conn, self.workflow, specs, station=station, operator=operator)

    # ------------------------------------------------------------------ moving

    def advance(self, piece_id: str, *, operator: str, station: str, note: str = "",
                expected_stage: str | None = None, expected_version: int | None = None,
                override: bool = False, checks: Mapping[str, object] | None = None,
                stages: Collection[str] | None = None, weight_g: float | None = None,
                weight_manual: bool = False) -> Event:
        """Move a piece to the next stage of its route that applies to it."""
        piece = self.piece(piece_id)
        self._check_expected(piece, expected_stage, expected_version)
        following = self.workflow.route(piece.route).next_stage(piece.stage, piece)
        if following is None or piece.stage == SCRAPPED:
            raise MoveRefused(Say("%(piece)s is at %(stage)s: the end of its route", piece=piece_id,
                                  stage=says.stage(piece.stage)))
        return self.move(piece_id, following, operator=operator, station=station, note=note,
                         expected_version=piece.version, override=override, checks=checks, stages=stages,
                         weight_g=weight_g, weight_manual=weight_manual)

    def move(self, piece_id: str, to: str, *, operator: str, station: str, note: str = "",
             expected_stage: str | None = None, expected_version: int | None = None,
             override: bool = False, checks: Mapping[str, object] | None = None,
             stages: Collection[str] | None = None, weight_g: float | None = None,
             weight_manual: bool = False) -> Event:
        """Move a piece to stage ``to`` (advance, rework or ``"scrapped"``); return the event.

        ``stages`` are those of the kiosk making the move: a piece at another stage is moved
        there only by a supervisor (the event's ``station`` and ``from`` show it). None (the
        API, the laser): no such limit. ``weight_g``: the piece's weight now (see
        :mod:`kiosk.ledger.metal`; ``weight_manual`` when typed in, not read from a scale): an
        advance whose loss is outside the stage's ``loss_pct`` needs a note and is flagged.
        Rework and scrap need a ``note`` (the reason). An advance out of engraving needs the
        piece's laser job ``done``, or ``override`` by a supervisor with a note (the event then
        carries ``override``). Raises :class:`NotFound` for an unknown piece and
        :class:`MoveRefused` (with why) for anything the route, the operator's role, the
        engraving rule or a concurrent move forbids.
        """
        _check_note(note)
        grams = None if weight_g is None else metal.check_weight(weight_g)
        piece = self.piece(piece_id)
        role = self._role(operator)
        self._check_expected(piece, expected_stage, expected_version)
        route = self.workflow.route(piece.route)
        move = route.check(piece, to, role, note)
        if elsewhere := _out_of_scope(piece, role, stages):
            raise MoveRefused(elsewhere)
        self._check_not_blocked(move.to)
        results, problems = judge(route.stage(piece.stage).checks, checks or {}, piece, complete=move.kind == ADVANCE)
        if problems:
            raise MoveRefused(Say("%(piece)s not moved: %(problems)s", piece=piece_id,
                                  problems=says.Many(tuple(problems), "; ")))
        overridden = False
        if move.kind == ADVANCE and (unengraved := self._not_engraved(piece)):
            if not override:
                raise MoveRefused(Say("%(why)s: it cannot leave %(stage)s until the job is done "
                                      "(a supervisor may override, with a reason)", why=unengraved,
                                      stage=says.stage(piece.stage)))
            if role != SUPERVISOR:
                raise MoveRefused(Say("%(why)s: only a supervisor may override (you are %(role)s)", why=unengraved,
                                      role=says.role(role)))
            if not note.strip():
                raise MoveRefused(Say("an override needs a reason in the note"))
            overridden = True
        try:
            with self.db.transaction() as conn:
                event, after = self._apply(conn, piece, move, operator, station, note, overridden)
                if grams is not None:
                    here = route.stage(piece.stage) if piece.stage in {s.name for s in route.stages} else None
                    expected = here.loss_pct if here is not None and move.kind == ADVANCE else None
                    weighing = metal.weigh(conn, piece, grams, expected, note, piece.stage, self.fineness)
                    metal.record(conn, event.event_id, piece, move.to, weighing, manual=weight_manual,
                                 operator=operator, ts=event.ts, reason=note)
                rows.insert_checks(conn, event.event_id, results)
                if results:
                    event = replace(event, checks={r.name: r.to_dict() for r in results})
        except _Lost:
            raise self._already_moved(piece_id) from None
        self._notify([(event, after)])
        return event

    def move_tree(self, tree_id: str, to: str, *, operator: str, station: str,
                  note: str = "", stages: Collection[str] | None = None) -> list[Event]:
        """Move every (not scrapped) piece of a wax tree to ``to``: all of them or none (``stages``: see :meth:`move`)."""
        _check_note(note)
        tree = self.tree(tree_id)
        pieces = [p for p in tree.pieces if p.stage != SCRAPPED]
        if not pieces:
            raise MoveRefused(Say("tree %(tree)s has no piece left to move", tree=tree_id))
        role = self._role(operator)
        planned: list[tuple[Piece, Move]] = []
        problems: list[Say] = []
        for piece in pieces:
            try:
                route = self.workflow.route(piece.route)
                move = route.check(piece, to, role, note)
                if elsewhere := _out_of_scope(piece, role, stages):
                    problems.append(elsewhere)  # it names the piece
                    continue
                self._check_not_blocked(move.to)
                _, missing = judge(route.stage(piece.stage).checks, {}, piece, complete=move.kind == ADVANCE)
                if missing:
                    raise MoveRefused(Say("%(problems)s (scan the piece to answer its checks)",
                                          problems=says.Many(tuple(missing), "; ")))
                if move.kind == ADVANCE and (unengraved := self._not_engraved(piece)):
                    raise MoveRefused(unengraved)
                planned.append((piece, move))
            except MoveRefused as exc:
                problems.append(Say("%(piece)s: %(why)s", piece=piece.piece_id, why=exc.says))
        if problems:
            raise MoveRefused(Say("tree %(tree)s not moved: %(problems)s", tree=tree_id,
                                  problems=says.Many(tuple(problems), "; ")))
        try:
            with self.db.transaction() as conn:
                done = [self._apply(conn, piece, move, operator, station, note) for piece, move in planned]
        except _Lost as lost:
            raise MoveRefused(Say("tree %(tree)s not moved: %(problems)s", tree=tree_id,
                                  problems=self._already_moved(str(lost)).says)) from None
        except MoveRefused as exc:
            raise MoveRefused(Say("tree %(tree)s not moved: %(problems)s", tree=tree_id, problems=exc.says)) from None
        self._notify(done)
        return [event for event, _ in done]

    # ------------------------------------------------------------------ internals

    def _role(self, operator: str) -> str:
        if operator == LASER:
            return LASER
        try:
            return self.operator(operator).role
        except NotFound:
            raise MoveRefused(Say("unknown operator %(operator)s: a move must name a registered operator's badge",
                                  operator=operator)) from None

    def _check_expected(self, piece: Piece, stage: str | None, version: int | None) -> None:
        if (stage is not None and piece.stage != stage) or (version is not None and piece.version != version):
            raise self._already_moved(piece.piece_id)

    def _already_moved(self, piece_id: str) -> MoveRefused:
        with self.db.connect() as conn:
            last = rows.last_event(conn, piece_id)
        if last is None:
            return MoveRefused(Say("%(piece)s was changed by someone else; look again", piece=piece_id))
        return MoveRefused(Say("%(piece)s was already moved to %(stage)s by %(operator)s at %(ts)s (station %(station)s)",
                               piece=piece_id, stage=says.stage(last.to_stage), operator=last.operator,
                               ts=says.moment(last.ts, last.ts), station=last.station))

    def _apply(self, conn: Connection, piece: Piece, move: Move, operator: str, station: str,
               note: str, override: bool = False) -> tuple[Event, Piece]:
        ts = utc_ts()
        route = self.workflow.route(piece.route)
        serial = piece.serial
        if move.to == route.engraving and serial is None:
            row = conn.row("UPDATE counters SET value = value + 1 WHERE name = 'serial' RETURNING value")
            assert row is not None
            serial = format_serial(self.serial_pattern, seq=int(row[0]), route=piece.route,
                                   piece_id=piece.piece_id)
        try:
            changed = conn.rowcount(
                "UPDATE pieces SET stage = ?, version = version + 1, updated = ?, serial = ? "
                "WHERE piece_id = ? AND version = ?",
                (move.to, ts, serial, piece.piece_id, piece.version))
        except IntegrityViolation:
            raise MoveRefused(Say("serial %(serial)s for %(piece)s is already used by another piece "
                                  "(check kiosk.serial_pattern)", serial=str(serial), piece=piece.piece_id)) from None
        if changed != 1:
            raise _Lost(piece.piece_id)
        event = Event(event_id=str(uuid.uuid4()), piece_id=piece.piece_id, version=piece.version + 1,
                      from_stage=piece.stage, to_stage=move.to, kind=move.kind, station=station,
                      operator=operator, ts=ts, note=note, override=override)
        for check in self._checks:
            check(event)  # raising rolls the whole transaction back
        try:
            rows.insert_event(conn, event)
        except IntegrityViolation:
            raise _Lost(piece.piece_id) from None
        return event, replace(piece, stage=move.to, version=event.version, serial=serial, updated=ts)

    def _notify(self, done: list[tuple[Event, Piece]]) -> None:
        for event, piece in done:
            for listener in self._listeners:
                try:
                    listener(event, piece)
                except Exception:  # the move is committed; a listener's failure must not undo the answer
                    log.exception("move listener failed for event %s of %s", event.event_id, event.piece_id)

