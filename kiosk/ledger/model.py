"""The ledger's typed records and errors (what the UI and the API see)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Mapping

from benchpin.contract import PieceEvent
from kiosk.ledger.says import Say, said

ROLES = ("artisan", "setter", "qc", "engraver", "supervisor")
SCRAPPED = "scrapped"
# The system actor that advances a piece when the laser reports `done` (stages with auto = true).
LASER = "laser"

ADVANCE, REWORK, SCRAP = "advance", "rework", "scrap"

# Free-text limits, enforced by the ledger and checked first by the screens and the API (which
# answer with a clear refusal): longer text is refused, never silently cut.
NOTE_MAX = 500  # a move's note or reason
NAME_MAX = 80  # an operator's name, as the kiosk's header shows it


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose.

    ``str(exc)`` is the English sentence (the API's and the CLI's); ``says`` is the same
    sentence as a :class:`~kiosk.ledger.says.Say`, which a screen shows in its own language.
    """

    def __init__(self, says: Say | str) -> None:
        self.says = said(says)
        super().__init__(str(self.says))


class NotFound(LedgerError, LookupError):
    """An unknown piece, tree, operator or event."""


class MoveRefused(LedgerError):
    """A move that is not allowed; ``str(exc)`` says why in words an artisan understands."""


class ImportRejected(LedgerError):
    """An import with bad rows; ``problems`` holds ``line N: column: problem`` for each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class DuplicateOperator(LedgerError):
    """An operator id that already exists."""


@dataclass(frozen=True)
class Operator:
    operator_id: str
    name: str
    role: str
    created: str = ""
    has_pin: bool = False  # a PIN is set (supervisor actions on the touch screens ask for it)
    language: str = ""  # the screens' language while badged in; "" = the kiosk's kiosk.language


@dataclass(frozen=True, kw_only=True)
class PieceAttributes:
    """What a piece is made of and how it is customised (metal colour, size, stones, enamel)."""

    style: str = ""
    order_id: str = ""
    metal: str = ""  # silver_925 | vermeil_18ct | gold_plated_brass | … (routes file [materials])
    ring_size: str = ""
    chain_length_cm: float | None = None
    metal_colour: str = ""
    stone_type: str = ""
    stone_colour: str = ""
    stone_shape: str = ""
    enamel: bool = False
    tree_id: str = ""


@dataclass(frozen=True)
class PieceSpec(PieceAttributes):
    """One piece to import; ``line`` is the CSV line it came from (for error messages)."""

    piece_id: str
    route: str
    line: int = 0


@dataclass(frozen=True)
class Piece(PieceAttributes):
    """A piece as it is now; ``version`` rises by one with every move."""

    piece_id: str
    route: str
    stage: str
    version: int
    serial: str | None = None
    created: str = ""
    updated: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Event:
    """One move of one piece: who, where, when, from which stage to which, and why."""

    event_id: str
    piece_id: str
    version: int
    from_stage: str | None
    to_stage: str
    kind: str  # "created" | "advance" | "rework" | "scrap"
    station: str
    operator: str
    ts: str
    note: str = ""
    override: bool = False  # a supervisor moved it past a rule (the note says why)
    checks: Mapping[str, Any] | None = None  # QC results recorded with the move: name -> {value, passed}

    def to_payload(self) -> dict[str, Any]:
        """Return the contract payload of ``pieces/<piece_id>/events``."""
        return PieceEvent(event_id=self.event_id, piece_id=self.piece_id, from_=self.from_stage,
                          to=self.to_stage, station=self.station, operator=self.operator, ts=self.ts,
                          note=self.note, override=self.override, checks=self.checks or None).to_payload()

    def to_dict(self) -> dict[str, Any]:
        return {**self.to_payload(), "kind": self.kind, "version": self.version}


@dataclass(frozen=True)
class Tree:
    """A wax tree (casting batch) and the pieces hanging on it."""

    tree_id: str
    pieces: tuple[Piece, ...] = ()
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"tree_id": self.tree_id, "created": self.created,
                "pieces": [p.to_dict() for p in self.pieces]}


@dataclass(frozen=True)
class MoveOption:
    """A move the UI may offer for a piece: ``allowed`` for this operator, else ``why`` not.

    ``reasons`` are the route's suggested reasons (rework); ``needs_note`` says a note is
    required (rework and scrap).
    """

    to: str
    kind: str
    allowed: bool
    why: str = ""  # a Say: the English, which a screen shows in its language (kiosk.ui.words.say)
    roles: tuple[str, ...] = ()
    reasons: tuple[str, ...] = field(default_factory=tuple)
    needs_note: bool = False
    override: bool = False  # allowed only as a supervisor's override, with a reason


@dataclass(frozen=True)
class WipStage:
    """One stage of one route on the WIP board: its pieces, oldest first, and how long the oldest waits."""

    route: str
    stage: str
    pieces: tuple[Piece, ...]
    oldest_s: float | None  # seconds the oldest piece has been at this stage; None when empty
    target_hours: float | None = None
    blocked: str | None = None  # why the stage is blocked, or None

    @property
    def count(self) -> int:
        return len(self.pieces)

    @property
    def late(self) -> bool:
        """True when the oldest piece has waited longer than the stage's target."""
        return bool(self.target_hours and self.oldest_s is not None and self.oldest_s > self.target_hours * 3600)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``GET /api/wip`` entry of this stage."""
        return {"route": self.route, "stage": self.stage, "count": self.count,
                "oldest_s": None if self.oldest_s is None else round(self.oldest_s, 1),
                "target_hours": self.target_hours, "late": self.late, "blocked": self.blocked,
                "pieces": [p.piece_id for p in self.pieces]}


WORKING, PAUSED, WORK_DONE = "working", "paused", "done"
WORK_ACTIONS = ("start", "pause", "resume", "done")


@dataclass(frozen=True)
class WorkSession:
    """One operator's working time on one stay of a piece at a stage."""

    piece_id: str
    version: int
    stage: str
    operator: str
    station: str
    state: str  # working | paused | done
    started: str
    since: str  # when the current state began
    worked_s: float  # working time before ``since``

    def worked_until(self, now: datetime) -> float:
        """Working seconds up to ``now`` (the time since ``since`` counts while working)."""
        if self.state != WORKING:
            return self.worked_s
        return self.worked_s + max(0.0, (now - parse_ts(self.since)).total_seconds())


@dataclass(frozen=True)
class TimeRow:
    """Working and dwell time of one operator at one stage over a period (seconds)."""

    stage: str
    operator: str
    name: str
    stays: int
    work_median_s: float
    work_p90_s: float
    dwell_median_s: float
    dwell_p90_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "operator": self.operator, "name": self.name, "stays": self.stays,
                "work_median_s": round(self.work_median_s, 1), "work_p90_s": round(self.work_p90_s, 1),
                "dwell_median_s": round(self.dwell_median_s, 1), "dwell_p90_s": round(self.dwell_p90_s, 1)}


def parse_ts(ts: str) -> datetime:
    """Read a ledger timestamp (RFC 3339 UTC, ``…Z``)."""
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


@dataclass(frozen=True)
class StageBlock:
    """A stage a supervisor blocked: no piece may move into it until it is unblocked."""

    stage: str
    reason: str
    operator: str
    station: str
    since: str

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "by": self.operator, "station": self.station, "since": self.since}


SUPERVISOR = "supervisor"
DONE = "done"  # the laser job state that lets a piece leave engraving


@dataclass(frozen=True)
class LaserJob:
    """The last state the engraver reported for the job of one stay at engraving."""

    job_id: str
    piece_id: str
    state: str  # a job state of the contract, or "sent" when the engraver has said nothing yet
    detail: str = ""
    progress: float | None = None
    eta_s: float | None = None
    updated: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
