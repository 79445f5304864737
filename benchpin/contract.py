"""The MQTT contract: one typed definition per message that crosses the broker.

Every publisher builds its payload with a message's :meth:`to_payload`; every subscriber
reads one with :meth:`from_payload`, which validates each field and raises
:class:`ContractError` naming the message and the field. ``docs/contract.md`` documents the
same topics and fields for the engineers who integrate with benchpin; a test keeps the two
in step. The topic strings themselves are built by :class:`benchpin.topics.Topics`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar, Mapping, Self, TypeVar

SEGMENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
MAX_ID = 64  # job ids, piece ids, serials, operators: a topic segment or a short code
MAX_TEXT = 500  # notes, details, reasons


class ContractError(ValueError):
    """A payload that is not the message it claims to be; the text names the field."""


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """Cut a free text to ``limit`` characters (an ellipsis says so): details never outgrow a packet."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def is_segment(value: object) -> bool:
    """Return whether ``value`` can stand as one MQTT topic segment (no '/', '+', '#', spaces)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_ID and set(value) <= SEGMENT_CHARS


# ----------------------------------------------------------------------------- enums


class GatewayState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class ProbeFault(StrEnum):
    """Why a temperature reading has no value."""

    OPEN = "open"  # thermocouple open circuit
    SHORT_GND = "short_gnd"
    SHORT_VCC = "short_vcc"
    BAD_LINE = "bad_line"  # the probe board sent something that is no reading
    BAD_FRAME = "bad_frame"  # a MAX31855 frame no working chip can send
    DISCONNECTED = "disconnected"  # the port vanished or a read failed
    STALLED = "stalled"  # the port stayed open but silent past stall_timeout_s


class ScaleFault(StrEnum):
    """Why a bench balance's weight is missing or not to be trusted."""

    OVERLOAD = "overload"  # above the balance's range
    UNDERLOAD = "underload"  # below its range (pan lifted, or a big negative tare)
    UNSTABLE_TIMEOUT = "unstable_timeout"  # no stable reading for unstable_timeout_s
    DISCONNECTED = "disconnected"  # the port vanished, a read failed, or the balance stopped answering
    BAD_LINE = "bad_line"  # the balance sent something that is no reply of its family


class ScaleAction(StrEnum):
    """What an operator asks of a bench balance."""

    TARE = "tare"
    ZERO = "zero"


class JobState(StrEnum):
    """Where one laser job is: accepted → running → done | failed | interrupted, or rejected/cancelled."""

    ACCEPTED = "accepted"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True for a state the job stays in unless an operator retries it."""
        return self not in (JobState.ACCEPTED, JobState.RUNNING)


class JobAction(StrEnum):
    """An operator's decision on a job."""

    RETRY = "retry"
    CANCEL = "cancel"

    @property
    def allowed_from(self) -> tuple[JobState, ...]:
        """The job states this decision may be taken in."""
        return _ACTION_FROM[self]

    @property
    def past(self) -> str:
        return "retried" if self is JobAction.RETRY else "cancelled"


_ACTION_FROM = {
    JobAction.RETRY: (JobState.INTERRUPTED, JobState.FAILED, JobState.REJECTED),
    JobAction.CANCEL: (JobState.ACCEPTED, JobState.INTERRUPTED, JobState.FAILED, JobState.REJECTED),
}


class EngraverState(StrEnum):
    """The laser controller's state as GRBL reports it, plus ``offline`` when unreachable."""

    IDLE = "Idle"
    RUN = "Run"
    HOLD = "Hold"
    JOG = "Jog"
    DOOR = "Door"
    ALARM = "Alarm"
    CHECK = "Check"
    HOME = "Home"
    SLEEP = "Sleep"
    OFFLINE = "offline"

    @classmethod
    def of(cls, grbl_state: str) -> EngraverState | None:
        """Return the state of a GRBL status word (``Hold:0`` is ``Hold``), or None if unknown."""
        try:
            return cls(grbl_state.partition(":")[0])
        except ValueError:
            return None


# ----------------------------------------------------------------------------- metals


@dataclass(frozen=True)
class Metal:
    """A metal a piece is made of: its name on screen, its hallmark and fine content."""

    name: str
    label: str
    hallmark: str  # the fineness stamp a jeweller reads at a glance; plated brass carries none
    swatch: str  # the colour family the kiosk paints it in
    fineness: float  # precious metal per gram of the piece's base metal (plated: the base's)


METALS: Mapping[str, Metal] = {m.name: m for m in (
    Metal("silver_925", "925 silver", "925", "silver", 0.925),
    Metal("vermeil_18ct", "18ct gold vermeil 2.5 µm", "925", "gold", 0.925),  # on a 925 silver base
    Metal("gold_plated_brass", "gold-plated brass 2 µm", "GP", "brass", 0.0),
    Metal("gold_9ct", "9ct gold", "375", "gold", 0.375),
    Metal("gold_14ct", "14ct gold", "585", "gold", 0.585),
    Metal("gold_18ct", "18ct gold", "750", "gold", 0.750),
    Metal("platinum_950", "950 platinum", "950", "silver", 0.950),
)}


# ----------------------------------------------------------------------------- fields

_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)


def _req(payload: Mapping[str, Any], message: str, key: str, kind: type[_T] | tuple[type, ...]) -> _T:
    if key not in payload:
        raise ContractError(f"{message}: {key} is missing")
    return _typed(payload, message, key, kind)


def _opt(payload: Mapping[str, Any], message: str, key: str, kind: type[_T] | tuple[type, ...],
         default: Any = None) -> Any:
    if payload.get(key) is None:
        return default
    return _typed(payload, message, key, kind)


def _typed(payload: Mapping[str, Any], message: str, key: str, kind: type[_T] | tuple[type, ...]) -> _T:
    value = payload[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ContractError(f"{message}: {key} must be {_kind_name(kinds)} (got {value!r})")
    if not isinstance(value, kinds):
        raise ContractError(f"{message}: {key} must be {_kind_name(kinds)} (got {_short(value)})")
    if isinstance(value, str) and len(value) > MAX_TEXT * 4:
        raise ContractError(f"{message}: {key} is {len(value)} characters long (at most {MAX_TEXT * 4})")
    return value  # type: ignore[return-value]


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "a number", float: "a number", bool: "true or false", dict: "an object"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _enum(payload: Mapping[str, Any], message: str, key: str, enum: type[_E]) -> _E:
    value = _req(payload, message, key, str)
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(repr(e.value) for e in enum)
        raise ContractError(f"{message}: {key} must be one of {choices} (got {_short(value)})") from None



def _opt_enum(payload: Mapping[str, Any], message: str, key: str, enum: type[_E]) -> _E | None:
    return None if payload.get(key) is None else _enum(payload, message, key, enum)


def _segment(payload: Mapping[str, Any], message: str, key: str) -> str:
    value = _req(payload, message, key, str)
    if not is_segment(value):
        raise ContractError(f"{message}: {key} must be 1 to {MAX_ID} letters, digits, '-', '_' or '.' "
                            f"(got {_short(value)})")
    return value


def _number(payload: Mapping[str, Any], message: str, key: str) -> float | None:
    value = _opt(payload, message, key, (int, float))
    return None if value is None else float(value)


def decode_json(raw: bytes | str | Mapping[str, Any], message: str) -> Mapping[str, Any]:
    """Return a payload's JSON object; raise :class:`ContractError` for anything else."""
    if isinstance(raw, Mapping):
        return raw
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ContractError(f"{message}: not JSON ({exc})") from None
    except RecursionError:  # a payload of thousands of nested brackets
        raise ContractError(f"{message}: not JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ContractError(f"{message}: not a JSON object")
    return data


# ----------------------------------------------------------------------------- messages


class Message:
    """What every message says about itself: where it goes and how it is delivered."""

    NAME: ClassVar[str]
    TOPIC: ClassVar[str]  # the topic after ``benchpin/<site>/``, with {placeholders}
    RETAINED: ClassVar[bool] = False
    QOS: ClassVar[int] = 1

    def to_payload(self) -> dict[str, Any]:
        """Return the JSON object this message is published as."""
        return {f.name.rstrip("_"): _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Return the payload's field names, in order."""
        return tuple(f.name.rstrip("_") for f in fields(cls))  # type: ignore[arg-type]


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    return value


@dataclass(frozen=True)
class GatewayStatus(Message):
    """A gateway's retained status; ``offline`` is its Last Will. ``online`` adds outbox and devices."""

    NAME = "gateway status"
    TOPIC = "{gateway}/status"
    RETAINED = True

    state: GatewayState
    ts: str
    version: str
    outbox: Mapping[str, Any] | None = None
    devices: Mapping[str, Any] | None = None
    uptime_s: float | None = None
    load_1m: float | None = None  # the host's os.getloadavg()[0]
    disk_free_bytes: int | None = None  # free space where the outbox lives (gateway.state_dir)
    disk_bytes_written: int | None = None  # the process's write_bytes (/proc/self/io) since start

    def to_payload(self) -> dict[str, Any]:
        payload = super().to_payload()
        return {k: v for k, v in payload.items() if v is not None}

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        return cls(state=_enum(p, cls.NAME, "state", GatewayState), ts=_req(p, cls.NAME, "ts", str),
                   version=_req(p, cls.NAME, "version", str), outbox=_opt(p, cls.NAME, "outbox", dict),
                   devices=_opt(p, cls.NAME, "devices", dict),
                   uptime_s=_opt(p, cls.NAME, "uptime_s", (int, float)),
                   load_1m=_opt(p, cls.NAME, "load_1m", (int, float)),
                   disk_free_bytes=_opt(p, cls.NAME, "disk_free_bytes", int),
                   disk_bytes_written=_opt(p, cls.NAME, "disk_bytes_written", int))


@dataclass(frozen=True)
class KioskStatus(Message):
    """A kiosk's retained status; ``offline`` is its Last Will. ``online`` adds its name and blocked stages."""

    NAME = "kiosk status"
    TOPIC = "kiosk/{kiosk}/status"
    RETAINED = True

    state: GatewayState
    ts: str
    version: str
    name: str | None = None
    blocked: Mapping[str, Any] | None = None  # stage -> {"reason", "by", "since"}

    def to_payload(self) -> dict[str, Any]:
        payload = super().to_payload()
        return {k: v for k, v in payload.items() if v is not None}

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        return cls(state=_enum(p, cls.NAME, "state", GatewayState), ts=_req(p, cls.NAME, "ts", str),
                   version=_req(p, cls.NAME, "version", str), name=_opt(p, cls.NAME, "name", str),
                   blocked=_opt(p, cls.NAME, "blocked", dict))


@dataclass(frozen=True)
class Temperature(Message):
    """One furnace probe reading; ``value_c`` is None when ``fault`` says why."""

    NAME = "temperature"
    TOPIC = "{gateway}/probe/{probe}/temperature"

    ts: str
    seq: int | None
    value_c: float | None
    fault: ProbeFault | None

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        fault = None if p.get("fault") is None else _enum(p, cls.NAME, "fault", ProbeFault)
        return cls(ts=_req(p, cls.NAME, "ts", str), seq=_opt(p, cls.NAME, "seq", int),
                   value_c=_number(p, cls.NAME, "value_c"), fault=fault)


@dataclass(frozen=True)
class ProbeWindow(Message):
    """The pour window of the tree now at a furnace: the kiosk publishes it retained.

    An empty retained payload clears it (no window): read it with :meth:`from_retained`.
    """

    NAME = "probe window"
    TOPIC = "{gateway}/probe/{probe}/window"
    RETAINED = True

    tree_id: str
    metal: str
    min_c: float
    max_c: float

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        low, high = _number(p, cls.NAME, "min_c"), _number(p, cls.NAME, "max_c")
        if low is None:
            raise ContractError(f"{cls.NAME}: min_c is required, a number")
        if high is None:
            raise ContractError(f"{cls.NAME}: max_c is required, a number")
        if low > high:
            raise ContractError(f"{cls.NAME}: min_c {_short(low)} is above max_c {_short(high)}")
        return cls(tree_id=_req(p, cls.NAME, "tree_id", str), metal=_req(p, cls.NAME, "metal", str),
                   min_c=float(low), max_c=float(high))

    @classmethod
    def from_retained(cls, raw: bytes | str) -> Self | None:
        """Return the window, or None for the empty payload that clears it."""
        if (raw.strip() if isinstance(raw, (bytes, str)) else raw) in (b"", ""):
            return None
        return cls.from_payload(raw)

    def contains(self, value_c: float) -> bool:
        """Whether a temperature is inside the window (both ends included)."""
        return self.min_c <= value_c <= self.max_c


@dataclass(frozen=True)
class ScaleWeight(Message):
    """A bench balance's weight: a new stable weight, or a fault (once, when it starts)."""

    NAME = "scale weight"
    TOPIC = "{gateway}/scale/{scale}/weight"

    ts: str
    seq: int | None
    grams: float | None  # null for overload, underload, disconnected, bad_line
    stable: bool
    fault: ScaleFault | None

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        return cls(ts=_req(p, cls.NAME, "ts", str), seq=_opt(p, cls.NAME, "seq", int),
                   grams=_number(p, cls.NAME, "grams"), stable=_req(p, cls.NAME, "stable", bool),
                   fault=_opt_enum(p, cls.NAME, "fault", ScaleFault))


@dataclass(frozen=True)
class ScaleState(Message):
    """A bench balance's retained state: its last stable weight and its fault now."""

    NAME = "scale state"
    TOPIC = "{gateway}/scale/{scale}/state"
    RETAINED = True

    ts: str
    seq: int | None
    grams: float | None  # the last stable weight; null before the first one
    fault: ScaleFault | None

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        return cls(ts=_req(p, cls.NAME, "ts", str), seq=_opt(p, cls.NAME, "seq", int),
                   grams=_number(p, cls.NAME, "grams"), fault=_opt_enum(p, cls.NAME, "fault", ScaleFault))


@dataclass(frozen=True)
class ScaleCommand(Message):
    """An operator's tare or zero, sent to the balance's gateway."""

    NAME = "scale command"
    TOPIC = "{gateway}/scale/{scale}/command"

    action: ScaleAction
    operator: str = ""
    ts: str = ""

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        return cls(action=_enum(p, cls.NAME, "action", ScaleAction),
                   operator=str(_opt(p, cls.NAME, "operator", (str, int), "")), ts=_opt(p, cls.NAME, "ts", str, ""))


@dataclass(frozen=True)
class ScanMessage(Message):
    """One code read by one scanner; ``valid`` false with a ``reason`` for a code benchpin refuses."""

    NAME = "scan"
    TOPIC = "{gateway}/scanner/{scanner}/scan"

    ts: str
    seq: int | None
    code: str
    valid: bool
    reason: str | None  # why a code is not valid; null for a valid one

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        return cls(ts=_opt(p, cls.NAME, "ts", str, ""), seq=_opt(p, cls.NAME, "seq", int),
                   code=_req(p, cls.NAME, "code", str), valid=_req(p, cls.NAME, "valid", bool),
                   reason=_opt(p, cls.NAME, "reason", str))


@dataclass(frozen=True)
class EngraveJob(Message):
    """A laser job: engrave ``text`` (default: the serial) on a piece of ``material``."""

    NAME = "engraver job"
    TOPIC = "{gateway}/engraver/{engraver}/job"

    job_id: str
    piece_id: str
    serial: str
    text: str
    material: str
    height_mm: float | None = None

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        job_id = _segment(p, cls.NAME, "job_id")
        missing = [k for k in ("piece_id", "serial", "material")
                   if not isinstance(p.get(k), str) or not p[k].strip()]
        if missing:
            raise ContractError(f"{cls.NAME}: missing or empty: {', '.join(missing)}")
        text = _opt(p, cls.NAME, "text", str) or p["serial"]
        height = _number(p, cls.NAME, "height_mm")
        return cls(job_id=job_id, piece_id=_req(p, cls.NAME, "piece_id", str), serial=_req(p, cls.NAME, "serial", str),
                   text=text, material=_req(p, cls.NAME, "material", str), height_mm=height)


def job_id_of(raw: bytes | str | Mapping[str, Any]) -> str | None:
    """Return a job message's ``job_id`` if it is usable, even when the rest is not."""
    try:
        p = decode_json(raw, EngraveJob.NAME)
        return _segment(p, EngraveJob.NAME, "job_id")
    except ContractError:
        return None


@dataclass(frozen=True)
class JobStatus(Message):
    """The retained state of one laser job, published by the engraver's gateway."""

    NAME = "job state"
    TOPIC = "{gateway}/engraver/{engraver}/job/{job_id}"
    RETAINED = True

    job_id: str
    state: JobState
    ts: str
    detail: str = ""
    seq: int | None = None
    progress: float | None = None  # while running: lines acknowledged / total, 0..1
    eta_s: float | None = None  # while running: the estimated seconds left

    def to_payload(self) -> dict[str, Any]:
        payload = super().to_payload()
        for key in ("progress", "eta_s"):
            if payload[key] is None:
                del payload[key]
        return payload

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        progress = _number(p, cls.NAME, "progress")
        if progress is not None and not 0.0 <= progress <= 1.0:
            raise ContractError(f"{cls.NAME}: progress must be between 0 and 1 (got {progress})")
        return cls(job_id=_segment(p, cls.NAME, "job_id"), state=_enum(p, cls.NAME, "state", JobState),
                   ts=_opt(p, cls.NAME, "ts", str, ""), detail=_opt(p, cls.NAME, "detail", str, ""),
                   seq=_opt(p, cls.NAME, "seq", int), progress=progress, eta_s=_number(p, cls.NAME, "eta_s"))


@dataclass(frozen=True)
class JobDecision(Message):
    """An operator's retry or cancel of one job, sent to the engraver's gateway."""

    NAME = "job command"
    TOPIC = "{gateway}/engraver/{engraver}/job/{job_id}/command"

    job_id: str
    action: JobAction
    operator: str
    ts: str = ""

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any], *, job_id: str = "") -> Self:
        """Decode; ``job_id`` (from the topic) stands in when the payload has none."""
        p = decode_json(raw, cls.NAME)
        if "job_id" not in p and job_id:
            p = {**p, "job_id": job_id}
        return cls(job_id=_segment(p, cls.NAME, "job_id"), action=_enum(p, cls.NAME, "action", JobAction),
                   operator=str(_opt(p, cls.NAME, "operator", (str, int), "")),
                   ts=_opt(p, cls.NAME, "ts", str, ""))


class EngraverAction(StrEnum):
    """An operator's command to the laser itself (not to one job)."""

    UNLOCK = "unlock"  # send $X after an alarm, once a person has made the laser safe


@dataclass(frozen=True)
class EngraverCommand(Message):
    """An operator's command to one laser, sent to its gateway (e.g. from a kiosk button)."""

    NAME = "engraver command"
    TOPIC = "{gateway}/engraver/{engraver}/command"

    action: EngraverAction
    operator: str
    ts: str = ""

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        operator = _req(p, cls.NAME, "operator", str)
        if not operator.strip():
            raise ContractError(f"{cls.NAME}: operator is empty (the badge of who confirms the laser is safe)")
        return cls(action=_enum(p, cls.NAME, "action", EngraverAction), operator=operator,
                   ts=_opt(p, cls.NAME, "ts", str, ""))


@dataclass(frozen=True)
class EngraverStatus(Message):
    """The laser controller's retained machine state."""

    NAME = "engraver state"
    TOPIC = "{gateway}/engraver/{engraver}/state"
    RETAINED = True

    state: EngraverState
    ts: str
    seq: int | None = None

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        return cls(state=_enum(p, cls.NAME, "state", EngraverState), ts=_req(p, cls.NAME, "ts", str),
                   seq=_opt(p, cls.NAME, "seq", int))


@dataclass(frozen=True)
class PieceEvent(Message):
    """One move of one piece through its stages, published by the kiosk that recorded it."""

    NAME = "piece event"
    TOPIC = "pieces/{piece_id}/events"

    event_id: str
    piece_id: str
    from_: str | None
    to: str
    station: str
    operator: str
    ts: str
    note: str = ""
    override: bool = False  # a supervisor's override of a rule; carried only when true
    checks: Mapping[str, Any] | None = None  # QC results: name -> {"value", "passed"}; only when any

    def to_payload(self) -> dict[str, Any]:
        payload = super().to_payload()
        if not self.override:
            del payload["override"]
        if not self.checks:
            del payload["checks"]
        return payload

    @classmethod
    def from_payload(cls, raw: bytes | str | Mapping[str, Any]) -> Self:
        p = decode_json(raw, cls.NAME)
        return cls(event_id=_req(p, cls.NAME, "event_id", str), piece_id=_req(p, cls.NAME, "piece_id", str),
                   from_=_opt(p, cls.NAME, "from", str), to=_req(p, cls.NAME, "to", str),
                   station=_req(p, cls.NAME, "station", str), operator=_req(p, cls.NAME, "operator", str),
                   ts=_req(p, cls.NAME, "ts", str), note=_opt(p, cls.NAME, "note", str, ""),
                   override=_opt(p, cls.NAME, "override", bool, False), checks=_opt(p, cls.NAME, "checks", dict))


MESSAGES: tuple[type[Message], ...] = (GatewayStatus, KioskStatus, Temperature, ScanMessage, EngraveJob, JobStatus,
                                       JobDecision, EngraverCommand, EngraverStatus, PieceEvent, ScaleWeight,
                                       ScaleState, ScaleCommand, ProbeWindow)


def topic_segment(topic: str, index: int) -> str:
    """Return one segment of a topic (``-2`` of ``…/probe/furnace-1/temperature`` is the probe)."""
    parts = topic.split("/")
    return parts[index] if -len(parts) <= index < len(parts) else ""

