"""What the ledger says when it refuses: an English sentence a screen can show in another language.

A :class:`Say` is a message id (English, with ``%(name)s`` placeholders) and its parameters.
``str(say)`` is the English sentence: what the JSON API, the CLI and the logs give. A screen
renders the same :class:`Say` in the operator's language (:func:`kiosk.ui.words.say`): the
message id is looked up in the catalogs, and each parameter that is one of the ledger's own
words (a stage, a role, a check's label, a job state, a moment) shows as that word's display
name. Each sentence is written once, where it is raised; ``scripts/update-translations``
finds it by the ``Say("…")`` (or ``N_("…")``) around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

STAGE, ROLE, LABEL, JOB_STATE, WORK_STATE, MOMENT = "stage", "role", "label", "job_state", "work_state", "moment"

Param = Union[str, int, float, "Say", "Word", "Many"]


def N_(message: str) -> str:
    """Mark a message for the catalogs where it is defined; the screens translate it later."""
    return message


@dataclass(frozen=True)
class Word:
    """A data word inside a sentence: ``value`` as the ledger knows it, ``english`` as the API says it."""

    kind: str  # STAGE, ROLE, LABEL, JOB_STATE, WORK_STATE or MOMENT
    value: str
    english: str

    def __str__(self) -> str:
        return self.english


def stage(name: str, *, words: bool = False) -> Word:
    """A stage (``words``: the English shows ``casting_inspection`` as ``casting inspection``)."""
    return Word(STAGE, name, name.replace("_", " ") if words else name)


def role(name: str) -> Word:
    return Word(ROLE, name, name)


def label(text: str) -> Word:
    """A check's label from the routes file (translated when the catalogs know it)."""
    return Word(LABEL, text, text)


def job_state(state: str) -> Word:
    return Word(JOB_STATE, state, state)


def work_state(state: str) -> Word:
    return Word(WORK_STATE, state, state)


def moment(ts: str, english: str) -> Word:
    """A ledger timestamp (UTC), ``english`` as the API writes it; a screen shows it in its locale."""
    return Word(MOMENT, ts, english)


@dataclass(frozen=True)
class Many:
    """Parameters joined into one: ``sep`` between them (a separator with words is translated)."""

    items: tuple[Param, ...]
    sep: str = ", "

    def __str__(self) -> str:
        return self.sep.join(str(item) for item in self.items)


OR = N_(" or ")  # the separator of alternatives: "needs qc or supervisor"


def either(items: tuple[Param, ...]) -> Many:
    return Many(items, OR)


class Say(str):
    """One sentence: the English text itself (a ``str``), with its message id and parameters.

    Being a ``str``, a :class:`Say` goes wherever the English went (``str(exc)``, JSON, a
    log line, ``"needs qc" in option.why``); a screen reads ``message`` and ``params`` to say
    it again in its own language.
    """

    message: str
    params: dict[str, Param]

    def __new__(cls, message: str, /, **params: Param) -> Say:
        english = message % {name: value if isinstance(value, (int, float)) else str(value)
                             for name, value in params.items()} if params else message
        self = super().__new__(cls, english)
        self.message = message
        self.params = params
        return self

    def __repr__(self) -> str:
        return f"Say({str(self)!r})"


def said(text: Say | str) -> Say:
    """A :class:`Say` for text that may be a plain string (shown as it is, untranslated)."""
    return text if isinstance(text, Say) else Say(text)
