"""Routes as data: which stage follows which, who may move a piece, where rework may send it.

A workflow file (TOML, see ``kiosk/routes/default.toml``) holds one table per route with an
ordered array of stages, and optionally ``[materials] metals`` (the metals a workshop
accepts; by default every metal of :data:`benchpin.contract.METALS`). :func:`load_workflow`
reports every problem with its key path, like the station config.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchpin.contract import METALS
from benchpin.tables import Table
from kiosk.ledger.checks import Check, parse_checks
from kiosk.ledger import says
from kiosk.ledger.model import ADVANCE, LASER, REWORK, ROLES, SCRAP, SCRAPPED, MoveRefused
from kiosk.ledger.says import N_, Say

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ONLY_IF_FLAGS = ("enamel",)
WEIGH_CHOICES = ("", "in", "out", "both")
ROLE_MAY_NOT = {  # a move a role is not given, per kind of move
    ADVANCE: N_("role %(role)s may not advance a piece at %(stage)s (allowed: %(roles)s)"),
    REWORK: N_("role %(role)s may not rework a piece at %(stage)s (allowed: %(roles)s)"),
    SCRAP: N_("role %(role)s may not scrap a piece at %(stage)s (allowed: %(roles)s)"),
}
NEEDS_REASON = {REWORK: N_("a rework needs a reason in the note"), SCRAP: N_("a scrap needs a reason in the note")}


def _loss_pct(t: Table) -> tuple[float, float] | None:
    """``loss_pct = [min, max]``: the loss expected at a weighed stage, in % of the weight in."""
    raw = t.value("loss_pct")
    if raw is None:
        return None
    if (not isinstance(raw, list) or len(raw) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)):
        t.problem("loss_pct", "must be [min, max] in percent, like [0.5, 3.0]")
        return None
    low, high = float(raw[0]), float(raw[1])
    if not -100.0 <= low <= high <= 100.0:
        t.problem("loss_pct", f"must be [min, max] with min <= max, both between -100 and 100 (got {raw})")
        return None
    return low, high


class WorkflowError(Exception):
    """A workflow file that cannot be used; ``problems`` lists each with its key path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Rework:
    """Where a piece may be sent back from a stage, by whom, and for which reasons.

    ``targets`` gives a target its own reasons (``[ROUTE.stages.rework.targets] filing = [...]``);
    a target it does not name takes ``reasons``.
    """

    to: tuple[str, ...]
    roles: tuple[str, ...]
    reasons: tuple[str, ...]
    targets: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def reasons_for(self, target: str) -> tuple[str, ...]:
        return dict(self.targets).get(target, self.reasons)

    def all_reasons(self) -> tuple[str, ...]:
        """Every reason of any target, in order, once each."""
        return tuple(dict.fromkeys(r for target in self.to for r in self.reasons_for(target)))

    def targets_for(self, reason: str) -> tuple[str, ...]:
        """The targets a reason may send the piece back to (every target for a reason of one's own)."""
        known = self.all_reasons()
        if reason not in known:
            return self.to
        return tuple(target for target in self.to if reason in self.reasons_for(target))


@dataclass(frozen=True)
class Stage:
    name: str
    advance: tuple[str, ...] = ()
    auto: bool = False
    only_if: str = ""
    scrap: tuple[str, ...] = ()
    rework: Rework | None = None
    scrap_reasons: tuple[str, ...] = ()
    target_hours: float | None = None  # a piece here longer than this is late on the WIP board
    weigh: str = ""  # "in", "out" or "both": the moves into / out of this stage carry the piece's weight
    loss_pct: tuple[float, float] | None = None  # the metal loss expected here, % of the weight in
    checks: tuple[Check, ...] = ()  # what is measured or judged here before a piece moves on

    def applies_to(self, piece: Any) -> bool:
        """Say whether a piece passes through this stage (``only_if`` flags)."""
        return not self.only_if or bool(getattr(piece, self.only_if, False))


@dataclass(frozen=True)
class Move:
    """A move a route offers from a piece's current stage (before any role check)."""

    to: str
    kind: str
    roles: tuple[str, ...]
    reasons: tuple[str, ...] = ()
    auto: bool = False


@dataclass(frozen=True)
class Route:
    name: str
    description: str
    stages: tuple[Stage, ...]
    engraving: str = ""

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def first(self, piece: Any) -> str:
        return next(s.name for s in self.stages if s.applies_to(piece))

    def next_stage(self, current: str, piece: Any) -> str | None:
        """Return the stage after ``current`` that applies to the piece, or None at the end."""
        names = [s.name for s in self.stages]
        if current not in names:
            return None
        for stage in self.stages[names.index(current) + 1:]:
            if stage.applies_to(piece):
                return stage.name
        return None

    def moves(self, piece: Any) -> list[Move]:
        """List the moves out of the piece's current stage: advance, rework targets, scrap."""
        if piece.stage == SCRAPPED or piece.stage not in {s.name for s in self.stages}:
            return []
        stage = self.stage(piece.stage)
        moves: list[Move] = []
        following = self.next_stage(stage.name, piece)
        if stage.advance and following:
            moves.append(Move(following, ADVANCE, stage.advance, auto=stage.auto))
        if stage.rework:
            for target in stage.rework.to:
                if self.stage(target).applies_to(piece):
                    moves.append(Move(target, REWORK, stage.rework.roles, stage.rework.reasons_for(target)))
        if stage.scrap:
            moves.append(Move(SCRAPPED, SCRAP, stage.scrap, stage.scrap_reasons))
        return moves

    def check(self, piece: Any, to: str, role: str, note: str) -> Move:
        """Return the move to ``to`` if ``role`` may make it now, else raise :class:`MoveRefused`."""
        moves = {m.to: m for m in self.moves(piece)}
        move = moves.get(to)
        here = says.stage(piece.stage)
        if move is None:
            offered = says.Many(tuple(says.stage(m) for m in moves)) if moves else Say("nothing (end of route)")
            raise MoveRefused(Say("%(piece)s is at %(stage)s: it cannot go to %(to)s "
                                  "(from %(stage)s it can go to %(offered)s)",
                                  piece=piece.piece_id, stage=here, to=says.stage(to), offered=offered))
        if role == LASER:
            if not move.auto:
                raise MoveRefused(Say("%(piece)s at %(stage)s cannot be moved by the system",
                                      piece=piece.piece_id, stage=here))
        elif role not in move.roles:
            raise MoveRefused(Say(ROLE_MAY_NOT[move.kind], role=says.role(role), stage=here,
                                  roles=says.Many(tuple(says.role(r) for r in move.roles))))
        if move.kind in (REWORK, SCRAP) and not note.strip():
            raise MoveRefused(Say(NEEDS_REASON[move.kind]))
        return move


@dataclass(frozen=True)
class Workflow:
    routes: dict[str, Route]
    metals: tuple[str, ...]

    def route(self, name: str) -> Route:
        return self.routes[name]


def load_workflow(path: str | Path) -> Workflow:
    """Read and check a workflow file; raise :class:`WorkflowError` listing every problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WorkflowError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WorkflowError([f"{path}: not valid TOML: {exc}"]) from exc
    problems: list[str] = []
    workflow = parse_workflow(data, problems)
    if problems:
        raise WorkflowError([f"{path}: {p}" for p in problems])
    return workflow


def parse_workflow(data: dict[str, Any], problems: list[str]) -> Workflow:
    """Turn a parsed workflow document into a :class:`Workflow`, appending problems."""
    root = Table(data, "", problems)
    materials = root.table("materials")  # optional: every metal of the contract's table by default
    metals = _strings(materials, "metals", nonempty=True) if materials else tuple(METALS)
    if materials:
        materials.done()
    routes: dict[str, Route] = {}
    for name in data:
        if name == "materials":
            continue
        if not _NAME.match(name):
            problems.append(f"{name}: a route name must be lower_snake_case")
        routes[name] = _parse_route(name, root.table(name))
    if not routes:
        problems.append("no route defined (add a [production] table with [[production.stages]])")
    root.done()
    return Workflow(routes=routes, metals=metals)


def _strings(t: Table, key: str, *, nonempty: bool = False, choices: tuple[str, ...] = ()) -> tuple[str, ...]:
    # A missing list reads as an empty one: a required list says "must not be empty" either way.
    empty = t.data.get(key, []) == []
    value = t.texts(key, ())
    if nonempty and empty:
        t.problem(key, "must not be empty")
    for v in value:
        if choices and v not in choices:
            t.problem(key, f"unknown {v!r} (one of {', '.join(choices)})")
    return value


def _parse_route(name: str, t: Table | None) -> Route:
    assert t is not None
    stages = [_parse_stage(s) for s in t.tables("stages")]
    route = Route(name=name, description=t.text("description", ""), stages=tuple(stages),
                  engraving=t.text("engraving", ""))
    t.done()
    names = [s.name for s in stages]
    if len(stages) < 2:
        t.problem("stages", "a route needs at least two stages")
    for i, stage in enumerate(stages):
        where = f"stages[{i}]"
        if names.count(stage.name) > 1:
            t.problem(f"{where}.name", f"duplicate stage {stage.name!r}")
        if stage.rework:
            for target in stage.rework.to:
                if target not in names[:i]:
                    t.problem(f"{where}.rework.to", f"{target!r} is not a stage before {stage.name!r}")
        if stage.loss_pct and stage.weigh != "both":
            t.problem(f"{where}.loss_pct", "a loss needs the weight in and out: set weigh = \"both\"")
        if stage.auto and not stage.advance:
            t.problem(f"{where}.auto", "an auto stage needs `advance` roles too")
    if stages and stages[-1].advance:
        t.problem(f"stages[{len(stages) - 1}].advance", "the last stage ends the route: no advance")
    if stages and (stages[0].only_if or stages[-1].only_if):
        t.problem("stages", "the first and last stages cannot be optional (only_if)")
    if route.engraving and route.engraving not in names:
        t.problem("engraving", f"{route.engraving!r} is not a stage of this route")
    return route


def _parse_stage(t: Table) -> Stage:
    name = t.text("name", nonempty=True)
    if name and (not _NAME.match(name) or name == SCRAPPED):
        t.problem("name", f"must be lower_snake_case and not {SCRAPPED!r} (got {name!r})")
    rework = None
    rt = t.table("rework")
    if rt is not None:
        to = _strings(rt, "to", nonempty=True)
        targets: list[tuple[str, tuple[str, ...]]] = []
        tt = rt.table("targets")
        if tt is not None:
            for target in tt.keys():
                if target not in to:
                    tt.problem(target, f"{target!r} is not one of rework.to ({', '.join(to)})")
                targets.append((target, _strings(tt, target, nonempty=True)))
        rework = Rework(to=to, roles=_strings(rt, "roles", nonempty=True, choices=ROLES),
                        reasons=_strings(rt, "reasons"), targets=tuple(targets))
        rt.done()
    stage = Stage(name=name, advance=_strings(t, "advance", choices=ROLES),
                  auto=t.flag("auto", False), only_if=t.text("only_if", "", choices=ONLY_IF_FLAGS),
                  scrap=_strings(t, "scrap", choices=ROLES), rework=rework,
                  scrap_reasons=_strings(t, "scrap_reasons"),
                  target_hours=t.number("target_hours", None, min=0.01, max=10_000.0) if t.has("target_hours") else None,
                  weigh=t.text("weigh", "", choices=WEIGH_CHOICES), loss_pct=_loss_pct(t),
                  checks=parse_checks(t))
    if stage.scrap_reasons and not stage.scrap:
        t.problem("scrap_reasons", "given but nobody may scrap here (add `scrap` roles)")
    t.done()
    return stage
