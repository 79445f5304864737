"""The kiosk's catalogs: every message id translated in every language, placeholders kept."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from babel.messages.catalog import Catalog, Message
from flask import Flask, g

from benchpin.cli import main
from benchpin.config import LANGUAGES, ConfigError
from kiosk.app import close_app, create_app
from kiosk.catalogs import extract_messages, placeholders
from kiosk.i18n import SOURCE_LANGUAGE, compile_catalog, day, decimal, read_catalog, when
from kiosk.ledger import Ledger, Operator
from kiosk.state import get_ledger
from tests.kiosk_ui_support import SECRET, Kiosk, messages, seed, ui_config
from tests.stations import station, station_file

TRANSLATED = [language for language in LANGUAGES if language != SOURCE_LANGUAGE]


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (list, tuple)) else (message.id,)


def _strings(message: Message) -> tuple[str, ...]:
    return tuple(message.string) if isinstance(message.string, (list, tuple)) else (message.string,)


def _problems(extracted: Catalog, catalog: Catalog) -> list[str]:
    problems = []
    for source in extracted:
        if not source.id:
            continue
        key = _ids(source)[0]
        found = catalog.get(key, source.context)
        if found is None:
            problems.append(f"{key!r}: not in the catalog (run scripts/update-translations)")
            continue
        strings = _strings(found)
        if not all(strings) or len(strings) != (catalog.num_plurals if source.pluralizable else 1):
            problems.append(f"{key!r}: no translation")
        elif found.fuzzy:
            problems.append(f"{key!r}: marked fuzzy")
        wanted = set().union(*(placeholders(i) for i in _ids(source)))
        for string in strings:
            if string and placeholders(string) != wanted:
                problems.append(f"{key!r}: placeholders {sorted(placeholders(string))} instead of {sorted(wanted)}")
            if string and string.count("%%") != _ids(source)[0].count("%%"):
                problems.append(f"{key!r}: a literal %% lost or added")
    return problems


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_translates_every_message_id_with_its_placeholders(language: str) -> None:
    extracted = extract_messages()
    assert len([m for m in extracted if m.id]) > 300  # the screens, the flashes, the stage names
    catalog = read_catalog(language)
    assert catalog.locale is not None and str(catalog.locale) == language
    assert _problems(extracted, catalog) == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_holds_no_message_the_screens_no_longer_use(language: str) -> None:
    used = {_ids(m)[0] for m in extract_messages() if m.id}
    assert sorted(_ids(m)[0] for m in read_catalog(language) if m.id and _ids(m)[0] not in used) == []


def test_completeness_check_names_a_missing_a_fuzzy_and_a_broken_translation() -> None:
    extracted = Catalog()
    extracted.add("Back to %(stage)s")
    extracted.add("Pause")
    extracted.add("Resume")
    extracted.add("Casting: yield %(pct)s %%")
    catalog = Catalog(locale="hi")
    catalog.add("Back to %(stage)s", "वापस %(चरण)s पर")  # a translated placeholder name
    catalog.add("Pause", "रोकें", flags=("fuzzy",))
    catalog.add("Casting: yield %(pct)s %%", "ढलाई: उपज %(pct)s")
    assert _problems(extracted, catalog) == [
        "'Back to %(stage)s': placeholders ['चरण'] instead of ['stage']",
        "'Pause': marked fuzzy",
        "'Resume': not in the catalog (run scripts/update-translations)",
        "'Casting: yield %(pct)s %%': a literal %% lost or added",
    ]


@pytest.mark.parametrize("language", TRANSLATED)
def test_compiled_catalog_translates_and_fills_placeholders(language: str) -> None:
    translations = compile_catalog(read_catalog(language))
    text = translations.gettext("Advance to %(stage)s")
    assert text != "Advance to %(stage)s" and text % {"stage": "X"} != text
    assert "7" in translations.ngettext("At %(stages)s: %(num)d piece", "At %(stages)s: %(num)d pieces", 7) % {
        "stages": "qc", "num": 7}


# ------------------------------------------------------------------ the badge decides the language

@pytest.fixture
def app(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The seeded casting kiosk, with OP-HI (Hindi) and OP-TH (Thai) beside the role badges."""
    kiosk = getattr(request, "param", {})
    app = create_app(ui_config(tmp_path, timezone="Asia/Kolkata", **kiosk),
                     {"TESTING": True, "KIOSK_EVENTS": False, "KIOSK_LIVE": False, "SECRET_KEY": SECRET})
    with app.app_context():
        ledger = get_ledger()
        seed(ledger)
        ledger.add_operator("OP-HI", "Meera Soni", "artisan", language="hi")
        ledger.add_operator("OP-TH", "Somchai Dee", "artisan", language="th")
    yield app
    close_app(app)


def lang_of(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)">', html)
    assert match, "no <html lang>"
    return match.group(1)


def test_operator_language_speaks_the_session_and_logout_returns_to_the_kiosk_default(app: Flask) -> None:
    kiosk = Kiosk(app)
    idle = kiosk.get("/").get_data(as_text=True)
    assert lang_of(idle) == "en" and "Scan your badge" in idle
    welcome = kiosk.scan("OP-HI").get_data(as_text=True)
    assert lang_of(welcome) == "hi"
    assert "स्वागत है, Meera Soni (कारीगर)।" in messages(welcome)
    assert "पीस या मोम ट्री स्कैन करें" in welcome and ">यहाँ का काम</a>" in welcome
    piece = kiosk.scan("PC-1").get_data(as_text=True)
    assert "अभी" in piece and ">ढलाई</strong>" in piece and "रेतीकरण पर बढ़ाएँ" in piece  # stage names too
    assert "PC-1" in piece and "Lotus ring" in piece  # ids and data stay as they are
    thai = kiosk.scan("OP-TH").get_data(as_text=True)  # the next badge decides
    assert lang_of(thai) == "th" and "ยินดีต้อนรับ Somchai Dee (ช่างฝีมือ)" in messages(thai)
    out = kiosk.scan("CMD-LOGOUT").get_data(as_text=True)
    assert lang_of(out) == "en" and "Scan your badge" in out


@pytest.mark.parametrize("app", [{"language": "th"}], indirect=True)
def test_kiosk_language_is_the_default_for_nobody_and_for_an_operator_without_one(app: Flask) -> None:
    kiosk = Kiosk(app)
    idle = kiosk.get("/").get_data(as_text=True)
    assert lang_of(idle) == "th" and "สแกนบัตรของคุณ" in idle
    artisan = kiosk.scan("OP-ART").get_data(as_text=True)  # no language of their own
    assert lang_of(artisan) == "th" and "ยินดีต้อนรับ Artisan One (ช่างฝีมือ)" in messages(artisan)
    hindi = kiosk.scan("OP-HI").get_data(as_text=True)
    assert lang_of(hindi) == "hi"


def test_times_and_numbers_follow_the_operator_locale_in_the_site_timezone(app: Flask) -> None:
    ts = "2026-12-02T18:45:00.000Z"  # 00:15 on the 3rd in Asia/Kolkata
    seen = {}
    for language in ("en", "hi", "th"):
        with app.test_request_context():
            g.operator = Operator("OP-X", "X", "artisan", language=language)
            seen[language] = (when(ts), day(ts), decimal(1234.5), decimal(0.19512))
    assert seen == {
        "en": ("Dec 3, 2026, 00:15", "2026-12-03", "1,234.500", "0.195"),
        "hi": ("3 दिस॰ 2026, 00:15", "2026-12-03", "1,234.500", "0.195"),
        "th": ("3 ธ.ค. 2026 00:15", "2026-12-03", "1,234.500", "0.195"),
    }


def test_kiosk_language_must_be_a_known_language(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        ui_config(tmp_path, language="fr")
    assert caught.value.problems == ["kiosk.language: must be one of 'en', 'hi', 'th' (got 'fr')"]
    assert ui_config(tmp_path, language="hi").kiosk.language == "hi"  # type: ignore[union-attr]
    assert ui_config(tmp_path).kiosk.language == "en"  # type: ignore[union-attr]


def test_cli_operators_add_with_a_language(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = station_file(tmp_path, station(tmp_path, kiosk={}))
    assert main(["operators", "add", "OP-0011", "--name", "Meera Soni", "--role", "artisan", "--lang", "hi",
                 "--config", str(config)]) == 0
    assert "added OP-0011 (Meera Soni, artisan, screens in hi)" in capsys.readouterr().out
    assert main(["operators", "add", "OP-0012", "--name", "Ravi", "--role", "qc", "--config", str(config)]) == 0
    with pytest.raises(SystemExit):
        main(["operators", "add", "OP-0013", "--name", "X", "--role", "qc", "--lang", "fr", "--config", str(config)])
    assert "invalid choice: 'fr'" in capsys.readouterr().err
    assert main(["operators", "list", "--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines() == ["OP-0011\tartisan\tMeera Soni\thi", "OP-0012\tqc\tRavi\t-"]
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        assert ledger.operator("OP-0011").language == "hi" and ledger.operator("OP-0012").language == ""
        with pytest.raises(ValueError, match="unknown language 'fr'"):
            ledger.add_operator("OP-0014", "Y", "qc", language="fr")
