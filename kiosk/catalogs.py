"""The message catalogs' upkeep: extract the kiosk's message ids, merge them into each ``.po``.

``scripts/update-translations`` runs :func:`update_catalogs` after a screen's wording changes;
new ids arrive untranslated (and the completeness test fails until a translator fills them
in), ids no longer used are dropped. :func:`extract_messages` is what the test compares the
catalogs with.
"""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import write_po

from kiosk.i18n import DOMAIN, SOURCE_LANGUAGE, catalog_path, read_catalog
from benchpin.config import LANGUAGES

PACKAGE_DIR = Path(__file__).parent
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "Say": None}  # Say: the ledger's sentences
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdgf]")


def extract_messages() -> Catalog:
    """Return every message id the screens use (templates and Python), with where it is used."""
    catalog = Catalog(domain=DOMAIN, project="benchpin", charset="utf-8", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
            PACKAGE_DIR, METHODS, keywords=KEYWORDS, comment_tags=("Translators:",), strip_comment_tags=True):
        catalog.add(message, None, [(f"kiosk/{filename}", lineno)], auto_comments=comments, context=context)
    return catalog


def placeholders(text: str) -> set[str]:
    """Return the ``%(name)s`` placeholders of a message."""
    return set(PLACEHOLDER.findall(text))


def update_catalogs() -> list[Path]:
    """Merge the extracted ids into every language's catalog (creating it) and write it back."""
    template = extract_messages()
    written = []
    for language in LANGUAGES:
        if language == SOURCE_LANGUAGE:
            continue
        path = catalog_path(language)
        if path.exists():
            catalog = read_catalog(language)
            catalog.update(template, no_fuzzy_matching=True)
            catalog.obsolete.clear()
        else:
            catalog = Catalog(locale=language, domain=DOMAIN, project="benchpin", fuzzy=False)
            catalog.update(template, no_fuzzy_matching=True)
            path.parent.mkdir(parents=True, exist_ok=True)
        write_catalog(catalog, language)
        written.append(path)
    return written


def write_catalog(catalog: Catalog, language: str) -> None:
    """Write a language's catalog back to its ``.po`` file, with benchpin's own header."""
    catalog.header_comment = (f"# {catalog.locale.english_name if catalog.locale else language} messages of the "
                              "benchpin kiosk's screens.\n# Written by scripts/update-translations; translators "
                              "fill in the msgstr lines.")
    catalog.project, catalog.version = "benchpin", "0.1"
    catalog.msgid_bugs_address = catalog.last_translator = ""
    catalog.language_team = f"benchpin {language}"
    with catalog_path(language).open("wb") as f:
        write_po(f, catalog, width=100, omit_header=False, sort_output=False, include_previous=False)
