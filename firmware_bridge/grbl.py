"""GRBL 1.1 replies and status reports: bytes from the controller → typed messages.

Pure functions, no serial I/O. :func:`parse_reply` takes one line as GRBL sends it (without
its ``\\r\\n``) and returns an :class:`Ok`, :class:`Error`, :class:`Alarm`, :class:`Status`,
:class:`Message`, :class:`Welcome`, :class:`Setting` or :class:`Feedback`; anything else
raises :class:`GrblReplyError` with a message saying what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from firmware_bridge.grbl_codes import ALARM_TEXTS, ERROR_TEXTS

REALTIME_STATUS = b"?"
REALTIME_HOLD = b"!"
REALTIME_RESUME = b"~"
REALTIME_RESET = b"\x18"
MAX_REPLY = 256  # longest line we accept from the controller ($$ lines and [GC:] are shorter)


class GrblReplyError(ValueError):
    """A line from the controller that is not a GRBL 1.1 reply."""


@dataclass(frozen=True)
class Ok:
    pass


@dataclass(frozen=True)
class Error:
    code: int

    @property
    def text(self) -> str:
        return ERROR_TEXTS.get(self.code, "unknown error code")

    def describe(self) -> str:
        return f"error:{self.code} {self.text}"


@dataclass(frozen=True)
class Alarm:
    code: int

    @property
    def text(self) -> str:
        return ALARM_TEXTS.get(self.code, "unknown alarm code")

    def describe(self) -> str:
        return f"ALARM:{self.code} {self.text}"


@dataclass(frozen=True)
class Status:
    """A ``<State|MPos:…|FS:…|Pn:…>`` report; ``fields`` keeps every field as sent."""

    state: str  # Idle, Run, Hold, Jog, Alarm, Door, Check, Home, Sleep
    substate: int | None = None
    mpos: tuple[float, ...] | None = None
    wpos: tuple[float, ...] | None = None
    feed: float | None = None
    spindle: float | None = None
    pins: str = ""
    fields: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Message:
    text: str  # from [MSG:…]


@dataclass(frozen=True)
class Welcome:
    version: str  # "1.1h" from "Grbl 1.1h ['$' for help]"


@dataclass(frozen=True)
class Setting:
    number: int
    value: str


@dataclass(frozen=True)
class Feedback:
    kind: str  # GC, HLP, VER, OPT, echo, PRB, G54…, TLO, …
    text: str


Reply = Ok | Error | Alarm | Status | Message | Welcome | Setting | Feedback

STATES = ("Idle", "Run", "Hold", "Jog", "Alarm", "Door", "Check", "Home", "Sleep")
_WELCOME = re.compile(r"Grbl (\d+\.\d+[a-z]?) \['\$' for help\]")
_SETTING = re.compile(r"\$(\d{1,3})=(-?[0-9.]+)")
_CODE = re.compile(r"[0-9]{1,3}")


def _numbers(value: str, key: str, count: int | None = None) -> tuple[float, ...]:
    try:
        numbers = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise GrblReplyError(f"status field {key} has a value that is not numbers: {value!r}") from None
    if count is not None and len(numbers) != count:
        raise GrblReplyError(f"status field {key} needs {count} numbers, got {len(numbers)}")
    return numbers


def parse_status(body: str) -> Status:
    """Parse the inside of a ``<…>`` status report."""
    parts = body.split("|")
    state, _, sub = parts[0].partition(":")
    if state not in STATES:
        raise GrblReplyError(f"unknown machine state {parts[0]!r} in status report")
    substate = None
    if sub:
        if not _CODE.fullmatch(sub):
            raise GrblReplyError(f"bad substate {sub!r} in status report")
        substate = int(sub)
    fields: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, value = part.partition(":")
        if not sep or not key:
            raise GrblReplyError(f"status field {part!r} is not KEY:VALUE")
        fields[key] = value
    mpos = _numbers(fields["MPos"], "MPos") if "MPos" in fields else None
    wpos = _numbers(fields["WPos"], "WPos") if "WPos" in fields else None
    feed = spindle = None
    if "FS" in fields:
        feed, spindle = _numbers(fields["FS"], "FS", 2)
    elif "F" in fields:
        (feed,) = _numbers(fields["F"], "F", 1)
    return Status(state, substate, mpos, wpos, feed, spindle, fields.get("Pn", ""), fields)


def parse_reply(line: bytes | str) -> Reply:
    """Turn one line from a GRBL 1.1 controller into a typed reply."""
    if isinstance(line, bytes):
        if len(line) > MAX_REPLY:
            raise GrblReplyError(f"reply longer than {MAX_REPLY} bytes")
        try:
            line = line.decode("ascii")
        except UnicodeDecodeError:
            raise GrblReplyError("reply is not ASCII") from None
    text = line.strip("\r\n")
    if len(text) > MAX_REPLY:
        raise GrblReplyError(f"reply longer than {MAX_REPLY} characters")
    if not text.isprintable():
        raise GrblReplyError(f"reply has control characters: {text!r}")
    if text == "ok":
        return Ok()
    for prefix, kind in (("error:", Error), ("ALARM:", Alarm)):
        if text.startswith(prefix):
            code = text[len(prefix):]
            if not _CODE.fullmatch(code):
                raise GrblReplyError(f"{prefix} needs a number, got {code!r}")
            return kind(int(code))
    if text.startswith("<") and text.endswith(">"):
        return parse_status(text[1:-1])
    if text.startswith("[") and text.endswith("]"):
        label, sep, rest = text[1:-1].partition(":")
        if not sep:
            raise GrblReplyError(f"feedback message without a kind: {text!r}")
        return Message(rest) if label == "MSG" else Feedback(label, rest)
    match = _WELCOME.fullmatch(text)
    if match:
        return Welcome(match.group(1))
    match = _SETTING.fullmatch(text)
    if match:
        return Setting(int(match.group(1)), match.group(2))
    raise GrblReplyError(f"not a GRBL 1.1 reply: {text[:60]!r}")


def format_status(status: Status) -> str:
    """Render a status report as GRBL sends it (used by the simulator)."""
    state = status.state if status.substate is None else f"{status.state}:{status.substate}"
    parts = [state]
    if status.mpos is not None:
        parts.append("MPos:" + ",".join(f"{v:.3f}" for v in status.mpos))
    if status.feed is not None:
        parts.append(f"FS:{status.feed:g},{(status.spindle or 0):g}")
    if status.pins:
        parts.append(f"Pn:{status.pins}")
    return "<" + "|".join(parts) + ">"
