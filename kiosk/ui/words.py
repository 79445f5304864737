"""The ledger's sentences on a screen: a :class:`~kiosk.ledger.says.Say` in the request's language.

In English a screen shows exactly what the API says (``str()``); in another language the
message id is translated, and its parameters with it: a nested sentence in turn, a stage,
role, check label, job or work state by its display name, a moment in the locale and the site's
time zone. Ids, names and numbers stay as they are.
"""

from __future__ import annotations

from kiosk.i18n import SOURCE_LANGUAGE, current_language, translate, when
from kiosk.ledger.model import LedgerError
from kiosk.ledger.says import JOB_STATE, LABEL, MOMENT, ROLE, STAGE, WORK_STATE, Many, Param, Say, Word
from kiosk.ui import names


def say(text: str | LedgerError) -> str:
    """Return what the ledger said (a sentence, a refusal, or plain text) in this request's language."""
    if isinstance(text, LedgerError):
        text = text.says
    if not isinstance(text, Say) or current_language() == SOURCE_LANGUAGE:
        return str(text)
    return _render(text)


def _render(text: Say) -> str:
    message = translate(text.message)
    if not text.params:
        return message
    return message % {name: _param(value) for name, value in text.params.items()}


def _param(value: Param) -> str | int | float:
    if isinstance(value, Say):
        return _render(value)
    if isinstance(value, Word):
        return _word(value)
    if isinstance(value, Many):
        sep = translate(value.sep) if value.sep.strip(" ,;") else value.sep
        return sep.join(str(_param(item)) for item in value.items)
    return value


def _word(word: Word) -> str:
    if word.kind == STAGE:
        return names.stage_label(word.value)
    if word.kind == ROLE:
        return names.role_label(word.value)
    if word.kind == LABEL:
        return names.check_label(word.value)
    if word.kind == JOB_STATE:
        return names.job_state_label(word.value)
    if word.kind == WORK_STATE:
        return names.work_state_label(word.value)
    if word.kind == MOMENT:
        return when(word.value)
    return word.english
