"""The kiosk's main screens in English, Hindi and Thai in real Chromium on the Pi's 800x480 screen.

Screenshots go to tests/artifacts/lang-<lang>-<screen>.png. Each screen must say its language,
overflow nowhere sideways, and draw its headline in a font that has the script's glyphs (the
platform fonts Chromium used, as its DevTools protocol reports them, against fontconfig's list
of fonts covering the script).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from benchpin.broker import Mosquitto
from kiosk.server import KioskServer
from kiosk.state import get_ledger
from tests.kiosk_ui_support import served_kiosk

playwright_api = pytest.importorskip("playwright.sync_api")

BADGES = {"en": "OP-SUP", "hi": "OP-HI", "th": "OP-TH"}  # a supervisor each: the reports are theirs
SCRIPT_SAMPLE = {"hi": "क", "th": "ก"}  # a letter of Devanagari / Thai
HEADLINES = {  # what each screen's headline starts with, so a screenshot shows the right screen
    "idle": {"en": "Scan a piece", "hi": "पीस या मोम", "th": "สแกนชิ้นงาน"},
    "piece": {"en": "casting", "hi": "ढलाई", "th": "หล่อ"},  # its stage
    "wip": {"en": "At casting", "hi": "ढलाई पर", "th": "ที่ หล่อ"},
    "metal": {"en": "Metal lost by stage", "hi": "चरण के अनुसार", "th": "โลหะสูญเสีย"},
}
NO_SERVER = {  # what kiosk.js writes when a fetch fails, from the table base.html renders
    "en": "The kiosk server does not answer. Check the network, then scan again.",
    "hi": "कियोस्क सर्वर जवाब नहीं दे रहा। नेटवर्क जाँचें, फिर से स्कैन करें।",
    "th": "เซิร์ฟเวอร์คีออสก์ไม่ตอบ ตรวจเครือข่ายแล้วสแกนอีกครั้ง",
}
ALREADY_MOVED = {"en": "Not moved: PC-1 was already moved to filing by OP-ART", "hi": "आगे नहीं बढ़ा: PC-1 को OP-ART पहले ही",
                 "th": "ไม่ได้ส่งต่อ: PC-1 ถูก OP-ART ส่งไป ตะไบ แล้วเมื่อ"}
NO_SIDEWAYS_OVERFLOW = """() => [document.documentElement, ...document.querySelectorAll('header.bar, nav.tabs, main, main > *')]
    .filter(el => el.scrollWidth > el.clientWidth + 1)
    .map(el => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className}: ${el.scrollWidth} > ${el.clientWidth}`)"""


def fonts_covering(char: str) -> set[str]:
    """Return the font families fontconfig says have a glyph for ``char``."""
    found = subprocess.run(["fc-list", f":charset={ord(char):x}", "family"], capture_output=True, text=True,
                           check=True).stdout
    return {family.strip() for line in found.splitlines() for family in line.split(",") if family.strip()}


@pytest.fixture
def server(tmp_path: Path, broker: Mosquitto) -> Iterator[KioskServer]:
    with served_kiosk(tmp_path, broker.port) as kiosk:
        with kiosk.app.app_context():
            ledger = get_ledger()
            ledger.add_operator("OP-HI", "मीरा सोनी", "supervisor", language="hi")
            ledger.add_operator("OP-TH", "สมชาย ดี", "supervisor", language="th")
        yield kiosk


def headline_fonts(page, selector: str) -> set[str]:  # type: ignore[no-untyped-def]
    """Return the platform font families Chromium drew ``selector``'s text with."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return {font["familyName"] for font in fonts}


@pytest.mark.parametrize("language", ["en", "hi", "th"])
def test_main_screens_in_each_language_fit_800x480_with_the_script_drawn(  # type: ignore[no-untyped-def]
        browser, server: KioskServer, language: str, artifacts_dir: Path) -> None:
    expect = playwright_api.expect
    context = browser.new_context(viewport={"width": 800, "height": 480}, base_url=server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/")
    page.locator("#scan-input").fill(BADGES[language])
    page.locator("#scan-input").press("Enter")
    expect(page.locator("body")).to_have_attribute("data-operator", BADGES[language])
    covering = fonts_covering(SCRIPT_SAMPLE[language]) if language in SCRIPT_SAMPLE else set()

    def check(screen: str, headline: str) -> None:
        expect(page.locator(headline).first).to_contain_text(HEADLINES[screen][language])
        page.screenshot(path=str(artifacts_dir / f"lang-{language}-{screen}.png"))
        assert page.evaluate("document.documentElement.lang") == language
        assert page.evaluate(NO_SIDEWAYS_OVERFLOW) == [], f"{screen} overflows sideways in {language}"
        if covering:
            used = headline_fonts(page, headline)
            assert used & covering, f"{screen} in {language} drawn with {used}, none of which covers the script"

    page.screenshot(path=str(artifacts_dir / f"lang-{language}-welcome.png"))  # the badge-in messages
    page.goto("/")
    check("idle", "main h1")
    page.goto("/pieces/PC-1")
    check("piece", "#stage")
    page.goto("/wip")
    check("wip", "main > h1")
    page.locator("#metal-report").click()
    check("metal", "main h1")

    # The page script's own sentence when the server cannot be reached, in the screen's language.
    page.goto("/pieces/PC-1")
    page.route("**/scan", lambda route: route.abort())
    page.locator("#scan-input").fill("PC-2")
    page.locator("#scan-input").press("Enter")
    expect(page.locator("#messages .msg.error")).to_have_text(NO_SERVER[language])
    page.screenshot(path=str(artifacts_dir / f"lang-{language}-no-server.png"))
    assert page.evaluate(NO_SIDEWAYS_OVERFLOW) == [], f"the script's message overflows sideways in {language}"
    page.unroute("**/scan")

    # A stale screen: another kiosk moved the piece on; the refusal says so in the operator's language.
    with server.app.app_context():
        get_ledger().advance("PC-1", operator="OP-ART", station="casting")
    page.locator("form:has(input[name=to]) button.go").first.click()
    expect(page.locator("#messages .refused")).to_contain_text(ALREADY_MOVED[language])
    page.screenshot(path=str(artifacts_dir / f"lang-{language}-refused.png"))
    assert page.evaluate(NO_SIDEWAYS_OVERFLOW) == [], f"the refusal overflows sideways in {language}"
    if covering:
        used = headline_fonts(page, "#messages .refused")
        assert used & covering, f"the refusal in {language} drawn with {used}, none of which covers the script"
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"
