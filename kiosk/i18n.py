"""The screens' languages: gettext catalogs, the badge's language, dates and numbers in its locale.

The catalogs are the ``.po`` files under ``kiosk/translations/<lang>/LC_MESSAGES/messages.po``
(English is the source text and has none). They are compiled in memory when the app starts,
so a checkout or an installed package needs no build step. While an operator is badged in the
screens speak the operator's language (``benchpin operators add … --lang hi``); with nobody
badged in, or an operator without one, they speak ``kiosk.language``.

Templates call ``_("…")`` / ``ngettext(…)`` (Jinja's i18n extension, new style: placeholders
are ``%(name)s`` and are escaped); Python code calls :func:`gettext`. Times are shown in
``site.timezone`` with :func:`when`, numbers with :func:`decimal`, both in the locale.
"""

from __future__ import annotations

import gettext as _gettext
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from flask import Flask, current_app, g

from benchpin.config import LANGUAGES
from kiosk.ledger.model import parse_ts
from kiosk.ledger.says import N_ as N_  # marks a message where it is defined; translate() shows it later

SOURCE_LANGUAGE = "en"  # the language the message ids are written in
TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DOMAIN = "messages"
EXTENSION = "benchpin.kiosk.i18n"
TIME_PATTERN = "HH:mm"  # 24 h in every language: a shift runs past noon


def catalog_path(language: str) -> Path:
    return TRANSLATIONS_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(language: str) -> Catalog:
    """Read a language's ``.po`` catalog."""
    with catalog_path(language).open("rb") as f:
        return read_po(f, locale=language, domain=DOMAIN)


def compile_catalog(catalog: Catalog) -> _gettext.GNUTranslations:
    """Compile a catalog in memory (fuzzy entries left out: they fall back to English)."""
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


@dataclass
class Languages:
    """The compiled catalog of every language, the kiosk's default and the site's time zone."""

    default: str
    timezone: str
    translations: dict[str, _gettext.NullTranslations] = field(default_factory=dict)
    locales: dict[str, Locale] = field(default_factory=dict)

    @classmethod
    def load(cls, default: str, timezone: str) -> Languages:
        """Compile every catalog once (a missing or broken one stops the start, naming the file)."""
        languages = cls(default, timezone)
        for language in LANGUAGES:
            languages.locales[language] = Locale.parse(language)
            if language == SOURCE_LANGUAGE:
                languages.translations[language] = _gettext.NullTranslations()
            else:
                languages.translations[language] = compile_catalog(read_catalog(language))
        return languages


def init_i18n(app: Flask, *, default: str, timezone: str) -> None:
    """Load the catalogs and give the templates ``_``, ``ngettext``, ``when`` and ``decimal``."""
    app.extensions[EXTENSION] = Languages.load(default, timezone)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    app.jinja_env.globals.update(when=when, day=day, decimal=decimal, language=current_language)


def _languages() -> Languages:
    languages: Languages = current_app.extensions[EXTENSION]
    return languages


def current_language() -> str:
    """Return the language of this request: the badged-in operator's, else the kiosk's."""
    operator = g.get("operator")
    language = getattr(operator, "language", "") if operator is not None else ""
    return language if language in LANGUAGES else _languages().default


def gettext(message: str, **variables: Any) -> str:
    """Translate ``message`` into this request's language, then fill its ``%(name)s`` placeholders."""
    text = _languages().translations[current_language()].gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """Translate a message whose wording depends on the count ``n``."""
    text = _languages().translations[current_language()].ngettext(singular, plural, n)
    return text % variables if variables else text


_ = gettext


def translate(message: str) -> str:
    """Translate a message kept as data (a stage, a check label): no placeholders are filled."""
    return _languages().translations[current_language()].gettext(message)


def when(ts: str | datetime) -> str:
    """Show a moment (a ledger timestamp, UTC) in ``site.timezone``, in this request's locale."""
    try:
        moment = ts if isinstance(ts, datetime) else parse_ts(ts)
    except ValueError:
        return str(ts)
    languages = _languages()
    local = moment.astimezone(ZoneInfo(languages.timezone))
    locale = languages.locales[current_language()]
    # The locale's own order and joint: "Dec 3, 2026, 00:15" · "3 दिस॰ 2026, 00:15" · "3 ธ.ค. 2026 00:15"
    joint = str(locale.datetime_formats["medium"])
    return joint.replace("{1}", format_date(local, "medium", locale=locale)).replace(
        "{0}", format_time(local, TIME_PATTERN, locale=locale))


def day(ts: str | datetime) -> str:
    """Return a moment's date in ``site.timezone`` as ``YYYY-MM-DD`` (what a date field holds)."""
    try:
        moment = ts if isinstance(ts, datetime) else parse_ts(ts)
    except ValueError:
        return ""
    return moment.astimezone(ZoneInfo(_languages().timezone)).date().isoformat()


def decimal(value: float | int | None, digits: int = 3) -> str:
    """Show a number with exactly ``digits`` decimals in this request's locale (``—`` for none)."""
    if value is None:
        return "—"
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return str(format_decimal(value, format=pattern, locale=_languages().locales[current_language()]))
