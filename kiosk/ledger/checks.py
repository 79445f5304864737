"""QC checks as route data: what is measured or judged at a stage before a piece may move on.

A stage of a routes file may list checks::

    [[production.stages.checks]]
    name = "plating_um"                 # the key of the result in a move (``checks`` in the API)
    label = "Plating thickness"
    kind = "measure"                    # "pass_fail" | "measure" | "photo"
    unit = "µm"
    metals = ["vermeil_18ct", "gold_plated_brass"]   # only pieces of these metals (default: all)
    min_by_metal = { vermeil_18ct = 2.5, gold_plated_brass = 2.0 }

``min``/``max`` bound a measurement; ``nominal`` names a piece attribute (``chain_length_cm``)
the measurement is compared with, within ``tolerance``. A ``photo`` check is never required.
:func:`evaluate` is pure: it says whether one answer passes and, if not, why in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from benchpin.tables import Table
from kiosk.ledger import says
from kiosk.ledger.says import Say

PASS_FAIL, MEASURE, PHOTO = "pass_fail", "measure", "photo"
KINDS = (PASS_FAIL, MEASURE, PHOTO)
NOMINALS = ("chain_length_cm",)  # piece attributes a measurement may be compared with

CheckValue = bool | float | str
"""An answer: true/false for pass/fail, a number for a measurement, a reference for a photo."""


@dataclass(frozen=True)
class Check:
    name: str
    label: str
    kind: str
    unit: str = ""
    required: bool = True
    metals: tuple[str, ...] = ()  # () = every metal
    min: float | None = None
    max: float | None = None
    min_by_metal: Mapping[str, float] = field(default_factory=dict)
    nominal: str = ""  # a piece attribute the measurement must match within ``tolerance``
    tolerance: float = 0.0

    def applies_to(self, piece: Any) -> bool:
        """Say whether the piece is checked here: its metal, and its attribute for a ``nominal`` check."""
        if self.metals and getattr(piece, "metal", "") not in self.metals:
            return False
        return not self.nominal or isinstance(getattr(piece, self.nominal, None), (int, float))

    def bounds(self, piece: Any) -> tuple[float | None, float | None]:
        """Return the (min, max) a measurement of this piece must lie within."""
        low = self.min_by_metal.get(getattr(piece, "metal", ""), self.min)
        high = self.max
        if self.nominal:
            target = getattr(piece, self.nominal, None)
            if isinstance(target, (int, float)):
                low, high = float(target) - self.tolerance, float(target) + self.tolerance
        return low, high


@dataclass(frozen=True)
class CheckResult:
    name: str
    value: CheckValue
    passed: bool
    why: str = ""  # why it failed, in words (a Say: English, and translatable on a screen)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "passed": self.passed, **({"why": str(self.why)} if self.why else {})}


class BadAnswer(ValueError):
    """An answer that is not of the check's kind; ``says`` tells why (``str()`` in English)."""

    def __init__(self, says: Say) -> None:
        self.says = says
        super().__init__(str(says))


def evaluate(check: Check, value: object, piece: Any) -> CheckResult:
    """Judge one answer to a check; raise ValueError when it is not an answer of the right kind."""
    if check.kind == PASS_FAIL:
        if not isinstance(value, bool):
            raise BadAnswer(Say("%(check)s: answer true (passed) or false (failed), not %(value)s",
                                check=check.name, value=repr(value)))
        return CheckResult(check.name, value, value, "" if value else Say("%(label)s failed",
                                                                          label=says.label(check.label)))
    if check.kind == PHOTO:
        if not isinstance(value, str) or not value or len(value) > 200:
            raise BadAnswer(Say("%(check)s: a photo reference (1 to 200 characters)", check=check.name))
        return CheckResult(check.name, value, True)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        if check.unit:
            raise BadAnswer(Say("%(check)s: a measurement in %(unit)s is a number, not %(value)s",
                                check=check.name, unit=check.unit, value=repr(value)))
        raise BadAnswer(Say("%(check)s: a measurement in its unit is a number, not %(value)s",
                            check=check.name, value=repr(value)))
    number = float(value)
    low, high = check.bounds(piece)
    unit = f" {check.unit}" if check.unit else ""
    if low is not None and number < low:
        return CheckResult(check.name, number, False, Say("%(label)s %(value)s%(unit)s is below %(limit)s%(unit)s",
                                                          label=says.label(check.label), value="%g" % number,
                                                          unit=unit, limit="%g" % low))
    if high is not None and number > high:
        return CheckResult(check.name, number, False, Say("%(label)s %(value)s%(unit)s is above %(limit)s%(unit)s",
                                                          label=says.label(check.label), value="%g" % number,
                                                          unit=unit, limit="%g" % high))
    return CheckResult(check.name, number, True)


def judge(checks: tuple[Check, ...], answers: Mapping[str, object], piece: Any, *,
          complete: bool) -> tuple[list[CheckResult], list[Say]]:
    """Judge a move's answers; return the results and every problem (unknown, missing, failing).

    ``complete``: the move leaves the stage forward, so every required check must be answered
    and pass. A rework or scrap may carry answers (the failing measurement) but needs none.
    """
    applicable = {c.name: c for c in checks if c.applies_to(piece)}
    results: list[CheckResult] = []
    problems: list[Say] = []
    for name, value in answers.items():
        check = applicable.get(name)
        if check is None:
            known = says.Many(tuple(applicable)) if applicable else Say("none")
            problems.append(Say("%(name)s: no such check at this stage for this piece (checks here: %(known)s)",
                                name=name, known=known))
            continue
        try:
            result = evaluate(check, value, piece)
        except BadAnswer as exc:
            problems.append(exc.says)
            continue
        results.append(result)
        if complete and not result.passed:
            problems.append(Say("check %(name)s failed: %(why)s", name=name, why=result.why))
    if complete:
        answered = {r.name for r in results}
        for check in applicable.values():
            if check.required and check.kind != PHOTO and check.name not in answered and check.name not in answers:
                problems.append(Say("check %(name)s (%(label)s) is required before %(piece)s moves on",
                                    name=check.name, label=says.label(check.label), piece=piece.piece_id))
    return results, problems


def passing_answers(checks: tuple[Check, ...], piece: Any) -> dict[str, CheckValue]:
    """Answer every required check so that it passes (the demo's seeding; tests)."""
    answers: dict[str, CheckValue] = {}
    for check in checks:
        if not check.applies_to(piece) or check.kind == PHOTO:
            continue
        if check.kind == PASS_FAIL:
            answers[check.name] = True
        else:
            low, high = check.bounds(piece)
            answers[check.name] = low if low is not None else (high if high is not None else 1.0)
    return answers


def parse_checks(t: Table) -> tuple[Check, ...]:
    """Read a stage's ``[[…checks]]`` entries; problems go to the table's report."""
    checks = []
    for c in t.tables("checks"):
        kind = c.text("kind", MEASURE, choices=KINDS)
        name = c.text("name", nonempty=True)
        if name and not name.replace("_", "").isalnum():
            c.problem("name", f"must be letters, digits and '_' (it is a key of the move's checks; got {name!r})")
        by_metal: dict[str, float] = {}
        mt = c.table("min_by_metal")
        if mt is not None:
            for metal in mt.keys():
                by_metal[metal] = mt.number(metal, 0.0)
            mt.done()
        nominal = c.text("nominal", "", choices=("",) + NOMINALS) if c.has("nominal") else ""
        check = Check(name=name, label=c.text("label", name.replace("_", " ")), kind=kind,
                      unit=c.text("unit", ""), required=c.flag("required", kind != PHOTO),
                      metals=c.texts("metals", ()),
                      min=c.number("min", None) if c.has("min") else None,
                      max=c.number("max", None) if c.has("max") else None,
                      min_by_metal=by_metal, nominal=nominal,
                      tolerance=c.number("tolerance", 0.0, min=0.0))
        if kind != MEASURE and (check.min is not None or check.max is not None or by_metal or nominal):
            c.problem("kind", f"only a measure check has min, max, min_by_metal or nominal (this one is {kind})")
        c.done()
        checks.append(check)
    names = [c.name for c in checks]
    for name in {n for n in names if names.count(n) > 1}:
        t.problem("checks", f"two checks named {name!r}")
    return tuple(checks)
