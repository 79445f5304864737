"""The kiosk in real Chromium, served by the production server, scans from a real mosquitto.

Screenshots of every screen go to tests/artifacts/kiosk-*.png (1280x800, the kiosk's screen).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import paho.mqtt.publish as publish
import pytest

from benchpin.broker import Mosquitto
from benchpin.topics import Topics
from kiosk.state import get_bridge, get_ledger
from kiosk.server import KioskServer
from tests.helpers import CHROMIUM, wait_until
from tests.kiosk_support import SUPERVISOR_PIN, passing
from tests.kiosk_ui_support import served_kiosk

playwright_api = pytest.importorskip("playwright.sync_api")

TOPICS = Topics("jaipur")
SCAN_TOPIC = TOPICS.scan("casting-1", "bench-3")


@pytest.fixture
def server(tmp_path: Path, broker: Mosquitto, request: pytest.FixtureRequest) -> Iterator[KioskServer]:
    """The seeded casting kiosk (``parametrize("server", [{kiosk keys}], indirect=True)`` changes it)."""
    with served_kiosk(tmp_path, broker.port, **getattr(request, "param", {})) as kiosk:
        yield kiosk


@pytest.fixture
def page(browser, server: KioskServer, broker: Mosquitto):  # type: ignore[no-untyped-def]
    yield from open_kiosk(browser, server, broker)


def open_kiosk(browser, server: KioskServer, broker: Mosquitto,  # type: ignore[no-untyped-def]
               viewport: tuple[int, int] = (1280, 800)):
    """Open the kiosk (1280x800 unless told) once its live stream and MQTT subscriptions are up."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, base_url=server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/")
    page.wait_for_function("document.documentElement.dataset.live === 'open'")
    # Publish furnace readings until one shows: then the kiosk's MQTT subscriptions are in place.
    reading = {"ts": "2026-11-23T10:00:00.000Z", "seq": 1, "value_c": 1052.25, "fault": None}
    wait_until(lambda: send(broker, TOPICS.temperature("casting-1", "furnace-1"), reading)
               or page.locator('#furnace [data-probe="furnace-1"]').count(), timeout=15)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def send(broker: Mosquitto, topic: str, payload: dict, retain: bool = False) -> None:
    publish.single(topic, json.dumps(payload), qos=1, retain=retain, hostname="127.0.0.1", port=broker.port)


def scan_over_mqtt(broker: Mosquitto, code: str, valid: bool = True, reason: str | None = None) -> None:
    send(broker, SCAN_TOPIC, {"ts": "2026-11-23T10:00:00.000Z", "seq": 1, "code": code, "valid": valid,
                              "reason": reason})


def wedge(page, code: str) -> None:  # type: ignore[no-untyped-def]
    """Type like a keyboard-wedge scanner: fast keystrokes then Enter, into whatever has focus."""
    page.keyboard.type(code, delay=2)
    page.keyboard.press("Enter")


def enter_pin(page, pin: str = SUPERVISOR_PIN) -> None:  # type: ignore[no-untyped-def]
    """Tap the PIN on the supervisor's PIN pad, then OK."""
    playwright_api.expect(page.locator(".pinpad")).to_be_visible()
    for digit in pin:
        page.locator(f'.pinpad [data-key="{digit}"]').click()
    page.locator("#pin-ok").click()


def shoot(page, artifacts_dir: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(artifacts_dir / f"kiosk-{name}.png"))


def test_kiosk_browser_badge_scan_advance_and_history(page, broker: Mosquitto, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    expect = playwright_api.expect
    expect(page.locator("#furnace")).to_contain_text("1052 °C")
    shoot(page, artifacts_dir, "idle")
    wedge(page, "OP-SUP")  # badge in with the keyboard-wedge scanner
    expect(page.locator(".badge")).to_contain_text("Supervisor One")
    shoot(page, artifacts_dir, "scan")
    page.evaluate("window.__notReloaded = true")
    scan_over_mqtt(broker, "PC-1")  # the gateway's scan arrives over MQTT and is pushed to the page
    expect(page.locator("#piece-id")).to_have_text("PC-1")
    expect(page.locator("#stage")).to_have_text("casting")
    assert page.evaluate("window.__notReloaded") is True
    assert page.url.endswith("/pieces/PC-1")
    shoot(page, artifacts_dir, "piece")
    page.get_by_role("button", name="Advance to filing").dblclick()  # a gloved double tap moves it once
    expect(page.locator("#messages")).to_contain_text("PC-1: casting → filing.")
    expect(page.locator("#stage")).to_have_text("filing")
    expect(page.locator("#history tbody tr").first).to_contain_text("casting → filing")
    expect(page.locator("#history tbody tr").first).to_contain_text("Supervisor One")
    expect(page.locator("#history tbody tr")).to_have_count(6)  # created + 4 seeded moves + this one
    expect(page.locator("#messages .error")).to_have_count(0)
    assert page.evaluate("window.__notReloaded") is True
    shoot(page, artifacts_dir, "piece-advanced")
    scan_over_mqtt(broker, "CMD-REWORK")
    expect(page.locator("h1")).to_contain_text("Rework PC-1")
    shoot(page, artifacts_dir, "rework")
    page.get_by_role("link", name="porosity").click()  # the reason first
    page.get_by_role("button", name="Back to casting").click()  # then where: one tap arms it
    page.get_by_role("button", name="Tap again: back to casting").click()
    expect(page.locator("#stage")).to_have_text("casting")
    expect(page.locator("#history tbody tr").first).to_contain_text("porosity")
    scan_over_mqtt(broker, "CMD-SCRAP")
    expect(page.locator("h1")).to_contain_text("Scrap PC-1")
    shoot(page, artifacts_dir, "scrap")
    page.get_by_role("button", name="wrong alloy").click()  # scrapping is final: one tap only arms it
    expect(page.get_by_role("button", name="Tap again to scrap: wrong alloy")).to_be_visible()
    shoot(page, artifacts_dir, "scrap-confirm")
    page.get_by_role("button", name="Tap again to scrap: wrong alloy").click()
    enter_pin(page)  # a supervisor's scrap asks for the PIN
    expect(page.locator("#stage")).to_have_text("scrapped")
    expect(page.locator("#history tbody tr").first).to_contain_text("wrong alloy")
    page.go_back()
    expect(page.locator("#piece-id")).to_have_text("PC-1")
    assert page.evaluate("window.__notReloaded") is True


def test_kiosk_browser_tree_wip_engraving_and_refusals(page, server: KioskServer, broker: Mosquitto,  # type: ignore[no-untyped-def]
                                                       artifacts_dir: Path) -> None:
    expect = playwright_api.expect
    with server.app.app_context():
        ledger = get_ledger()
        ledger.add_operator("OP-0042", "Meera <b>Iyer</b>", "setter")
        for _ in range(4):
            ledger.advance("PC-3", operator="OP-SUP", station="setup",  # bespoke: casting → … → try on
                           checks=passing(ledger, "PC-3"))
    wedge(page, "OP-SUP")
    expect(page.locator(".badge")).to_contain_text("Supervisor One")
    scan_over_mqtt(broker, "TR-1")
    expect(page.locator("#tree-id")).to_have_text("Wax tree TR-1")
    shoot(page, artifacts_dir, "tree")
    page.get_by_role("button", name="Advance all 2 to filing").click()
    expect(page.locator("#messages")).to_contain_text("TR-1: 2 pieces → filing.")
    page.get_by_role("link", name="Work here").click()
    expect(page.locator("h1")).to_contain_text("At casting: 0 pieces")
    with server.app.app_context():
        ledger.move_tree("TR-1", "casting", operator="OP-SUP", station="filing", note="incomplete fill")
        for _ in range(4):
            ledger.advance("PC-2", operator="OP-SUP", station="setup")  # casting → … → engraving
        job_id = ledger.history("PC-2")[-1].event_id
        bridge = get_bridge()
    send(broker, TOPICS.engraver_job_state("engrave-1", "laser-1", job_id),
         {"job_id": job_id, "state": "interrupted", "ts": "2026-11-23T10:00:00.000Z", "detail": "door opened"})
    wait_until(lambda: bridge is not None and bridge.jobs.get(job_id), timeout=10)
    page.get_by_role("link", name="Work here").click()
    expect(page.locator("#wip tbody tr")).to_have_count(1)
    shoot(page, artifacts_dir, "wip")
    page.get_by_role("link", name="Engraving", exact=True).click()
    expect(page.locator("#jobs")).to_contain_text("interrupted")
    shoot(page, artifacts_dir, "engraving")
    page.get_by_role("button", name="Retry").click()
    enter_pin(page)
    expect(page.locator("#messages")).to_contain_text("Retry sent for PC-2")
    send(broker, TOPICS.engraver_job_state("engrave-1", "laser-1", job_id),
         {"job_id": job_id, "state": "running", "ts": "2026-11-23T10:00:01.000Z", "detail": ""})
    expect(page.locator("#jobs .state")).to_have_text("running")  # pushed: no tap, no reload
    scan_over_mqtt(broker, "pc-1", valid=False, reason="no known prefix (expected one of PC-, TR-, OP-, CMD-)")
    expect(page.locator("#messages")).to_contain_text("Scan “pc-1”: no known prefix")
    shoot(page, artifacts_dir, "invalid-scan")
    wedge(page, "PC-404")
    expect(page.locator("#messages")).to_contain_text("Unknown piece PC-404")
    scan_over_mqtt(broker, "CMD-LOGOUT")
    expect(page.locator(".badge")).to_have_text("not badged in")
    wedge(page, "OP-0042")
    expect(page.locator(".badge")).to_contain_text("Meera <b>Iyer</b>")  # escaped, shown as typed
    wedge(page, "PC-3")
    expect(page.locator("#stage")).to_have_text("try on")
    scan_over_mqtt(broker, "CMD-ADVANCE")
    expect(page.locator("#messages")).to_contain_text("Not moved: role setter may not advance")
    assert page.url.endswith("/pieces/PC-3")
    shoot(page, artifacts_dir, "refused")
    page.get_by_role("link", name="Rework…").click()  # not allowed for a setter: refused with why
    expect(page.locator("#messages")).to_contain_text("Cannot rework PC-3: needs artisan or supervisor")
    page.reload()  # the refused screen's address is a real screen
    expect(page.locator("#stage")).to_have_text("try on")
    page.goto("/pieces/PC-404")
    expect(page.locator("h1")).to_have_text("Not Found")
    shoot(page, artifacts_dir, "not-found")


def test_kiosk_browser_scan_into_a_note_field_and_idle_logout(browser, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                             broker: Mosquitto) -> None:
    expect = playwright_api.expect
    with served_kiosk(tmp_path, broker.port, idle_logout_s=5) as server:
        for page in open_kiosk(browser, server, broker):
            wedge(page, "OP-SUP")
            expect(page.locator(".badge")).to_contain_text("Supervisor One")
            page.goto("/pieces/PC-2/reasons?kind=scrap")
            note = page.get_by_placeholder("other reason…").first
            note.click()
            note.type("rough", delay=120)  # typed by hand: stays in the note
            page.wait_for_timeout(120)  # the hand leaves the screen before the scanner fires
            wedge(page, "PC-1")  # a scan while the note has focus opens the piece instead
            expect(page.locator("#piece-id")).to_have_text("PC-1")  # not "roughPC-1": the burst alone
            expect(page.locator(".badge")).to_have_text("not badged in", timeout=15_000)  # idle logout


@pytest.mark.parametrize("server", [{"station": "casting, engraving"}], indirect=True)
def test_kiosk_browser_progress_moves_and_a_failed_job_needs_a_supervisor_override(  # type: ignore[no-untyped-def]
        page, server: KioskServer, broker: Mosquitto, artifacts_dir: Path) -> None:
    expect = playwright_api.expect
    with server.app.app_context():
        ledger = get_ledger()
        for _ in range(4):
            ledger.advance("PC-2", operator="OP-SUP", station="setup")  # casting → … → engraving
        job_id = ledger.history("PC-2")[-1].event_id
    topic = TOPICS.engraver_job_state("engrave-1", "laser-1", job_id)

    def job(state: str, **extra: object) -> None:
        send(broker, topic, {"job_id": job_id, "state": state, "ts": "2026-12-02T10:00:00.000Z",
                             "detail": "", **extra})

    wedge(page, "OP-ENG")
    expect(page.locator(".badge")).to_contain_text("Engraver One")
    wedge(page, "PC-2")
    expect(page.locator("#stage")).to_have_text("engraving")
    job("running", progress=0.1, eta_s=9.0)
    bar = page.locator(".laser progress")
    expect(bar).to_have_attribute("value", "0.1")
    page.evaluate("window.__notReloaded = true")
    for progress in (0.35, 0.7):  # moves in place, without fetching the page again
        job("running", progress=progress, eta_s=10 * (1 - progress))
        page.wait_for_function(f"document.querySelector('.laser progress').value === {progress}")
    assert page.evaluate("window.__notReloaded") is True
    expect(page.locator(".laser .eta")).to_have_text("about 3 s left")
    shoot(page, artifacts_dir, "engraving-progress")
    job("interrupted", detail="the laser's door opened")
    expect(page.locator(".laser .state")).to_have_text("interrupted")
    expect(page.get_by_role("button", name="Advance to qc")).to_be_disabled()
    expect(page.locator(".act")).to_contain_text("not engraved yet")
    wedge(page, "OP-SUP")
    expect(page.locator(".badge")).to_contain_text("Supervisor One")
    wedge(page, "PC-2")
    page.get_by_role("link", name="Override: advance to qc…").click()
    shoot(page, artifacts_dir, "override")
    page.get_by_placeholder("reason for the override…").fill("serial engraved by hand")
    page.get_by_role("button", name="Override and advance").click()  # armed: tap again
    page.get_by_role("button", name="Tap again to override").click()
    enter_pin(page)
    expect(page.locator("#messages")).to_contain_text("override recorded")
    expect(page.locator("#stage")).to_have_text("qc")
    expect(page.locator("#history tr.override")).to_contain_text("serial engraved by hand")
    shoot(page, artifacts_dir, "override-history")


def test_kiosk_browser_wip_board_at_800x480(browser, server: KioskServer, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    expect = playwright_api.expect
    with server.app.app_context():
        ledger = get_ledger()
        with ledger.db.transaction() as conn:  # the bespoke piece has waited two days at casting
            conn.execute("UPDATE pieces SET updated = '2026-01-01T08:00:00.000Z' WHERE piece_id = 'PC-3'")
        for _ in range(2):
            ledger.advance("PC-1", operator="OP-SUP", station="setup")  # casting → filing → decoration
    context = browser.new_context(viewport={"width": 800, "height": 480}, base_url=server.url)
    page = context.new_page()
    try:
        page.goto("/")
        page.wait_for_function("document.documentElement.dataset.live === 'open'")
        wedge(page, "OP-SUP")
        expect(page.locator(".badge")).to_contain_text("Supervisor One")
        page.get_by_role("link", name="Work here").click()
        tiles = page.locator("#board .tile")
        expect(tiles.first).to_be_visible()
        late = page.locator('#board .tile.late[data-stage="casting"][data-route="bespoke"]')
        expect(late).to_contain_text("oldest")
        box = page.locator("#board").bounding_box()
        assert box is not None and box["y"] + box["height"] <= 480, "the board fits the 7-inch screen"
        shoot(page, artifacts_dir, "wip-board-800x480")
        late.click()
        expect(page.locator("h1")).to_have_text("At casting: 1 piece")
        expect(page.locator("#wip")).to_contain_text("PC-3")
    finally:
        context.close()


def test_kiosk_browser_qc_failing_measurement_leads_to_rework_at_800x480(  # type: ignore[no-untyped-def]
        browser, tmp_path: Path, broker: Mosquitto, artifacts_dir: Path) -> None:
    expect = playwright_api.expect
    with served_kiosk(tmp_path, broker.port, station="casting, qc") as server:
        with server.app.app_context():
            ledger = get_ledger()
            while ledger.piece("PC-2").stage != "qc":  # the vermeil ring, through the laser
                job = ledger.laser_job("PC-2")
                if job is not None:
                    ledger.record_job(job.job_id, "done")
                ledger.advance("PC-2", operator="OP-SUP", station="setup", checks=passing(ledger, "PC-2"))
        context = browser.new_context(viewport={"width": 800, "height": 480}, base_url=server.url)
        page = context.new_page()
        try:
            page.goto("/")
            page.wait_for_function("document.documentElement.dataset.live === 'open'")
            wedge(page, "OP-QC")
            expect(page.locator(".badge")).to_contain_text("Qc One")
            wedge(page, "PC-2")
            expect(page.locator("#stage")).to_have_text("qc")
            page.get_by_label("Plating thickness").fill("2.1")
            page.locator(".check-pass_fail .toggle").first.click()
            shoot(page, artifacts_dir, "qc-checks-800x480")
            page.get_by_role("button", name="Advance to packing").click()
            expect(page.locator("#failed-checks")).to_contain_text("Plating thickness 2.1 µm is below 2.5 µm")
            shoot(page, artifacts_dir, "qc-failed-800x480")
            page.get_by_role("button", name="Back to plating").click()
            expect(page.locator("#stage")).to_have_text("plating")
            expect(page.locator("#history")).to_contain_text("plating um 2.1 ✗")
        finally:
            context.close()


def test_kiosk_browser_a_supervisor_scraps_with_the_pin_pad_at_800x480(  # type: ignore[no-untyped-def]
        browser, server: KioskServer, broker: Mosquitto, artifacts_dir: Path) -> None:
    expect = playwright_api.expect
    for page in open_kiosk(browser, server, broker, viewport=(800, 480)):
        wedge(page, "OP-SUP")
        expect(page.locator(".badge")).to_contain_text("Supervisor One")
        wedge(page, "PC-2")
        expect(page.locator("#stage")).to_have_text("casting")
        page.get_by_role("link", name="Scrap…").click()
        page.get_by_role("button", name="wrong alloy").click()
        page.get_by_role("button", name="Tap again to scrap: wrong alloy").click()
        expect(page.locator("h1")).to_have_text("Scrap PC-2: wrong alloy")
        keys = page.locator(".pinpad .key")
        expect(keys).to_have_count(12)
        for index in range(12):  # gloved fingers: every key at least 64 px each way, all on the screen
            box = keys.nth(index).bounding_box()
            assert box and box["width"] >= 64 and box["height"] >= 64 and box["y"] + box["height"] <= 480, box
        ok = page.locator("#pin-ok").bounding_box()
        assert ok and ok["y"] + ok["height"] <= 480
        assert page.evaluate("document.scrollingElement.scrollHeight") <= 480  # one screen tall: no scrolling
        for digit in "1357":
            page.locator(f'.pinpad [data-key="{digit}"]').click()
        page.locator('.pinpad [data-key="back"]').click()
        expect(page.locator("#pin-input")).to_have_value("135")
        page.locator('.pinpad [data-key="clear"]').click()
        enter_pin(page, "1111")
        expect(page.locator("#pin-problem")).to_contain_text("Wrong PIN for Supervisor One: nothing done.")
        expect(page.locator(".pinpad")).to_be_visible()  # asked again, nothing scrapped
        with server.app.app_context():
            assert get_ledger().piece("PC-2").stage == "casting"
        for digit in SUPERVISOR_PIN[:3]:
            page.locator(f'.pinpad [data-key="{digit}"]').click()
        shoot(page, artifacts_dir, "pin-800x480")
        page.locator('.pinpad [data-key="clear"]').click()
        enter_pin(page)
        expect(page.locator("#stage")).to_have_text("scrapped")
        expect(page.locator("#messages")).to_contain_text("PC-2: casting → scrapped.")
        shoot(page, artifacts_dir, "pin-scrapped-800x480")


def test_kiosk_browser_piece_id_stage_and_advance_above_the_fold_history_with_names_in_local_time(  # type: ignore[no-untyped-def]
        browser, tmp_path: Path, broker: Mosquitto, artifacts_dir: Path) -> None:
    """At 800×480 the piece's id, its stage and the advance button are on the first screen; the
    history shows operator names and times in ``site.timezone`` (Asia/Kolkata is UTC+05:30)."""
    expect = playwright_api.expect
    with served_kiosk(tmp_path, broker.port, timezone="Asia/Kolkata") as server:
        with server.app.app_context():
            ledger = get_ledger()
            with ledger.db.transaction() as conn:
                conn.execute("UPDATE events SET ts = '2026-12-02T18:45:00.000Z' WHERE piece_id = 'PC-1' "
                             "AND to_stage = 'casting'")
        for page in open_kiosk(browser, server, broker, viewport=(800, 480)):
            wedge(page, "OP-ART")
            expect(page.locator(".badge")).to_contain_text("Artisan One")
            wedge(page, "PC-1")
            expect(page.locator("#stage")).to_have_text("casting")
            boxes = {s: page.locator(s).first.bounding_box() for s in ("#piece-id", "#stage", "button.go")}
            for selector, box in boxes.items():
                assert box and box["y"] >= 0 and box["y"] + box["height"] <= 480, (selector, box)
            assert boxes["#piece-id"]["y"] < boxes["button.go"]["y"]  # type: ignore[index]  # the id first
            history = page.locator("#history")
            expect(history.locator("thead")).to_contain_text("When (Asia/Kolkata)")
            expect(history).to_contain_text("Dec 3, 2026, 00:15")  # 18:45 UTC on the 2nd, in English
            expect(history).to_contain_text("Supervisor One")
            shoot(page, artifacts_dir, "piece-800x480")
            page.screenshot(path=str(artifacts_dir / "kiosk-piece-800x480-whole.png"), full_page=True)


def test_kiosk_browser_timing_work_and_the_time_report_at_800x480(  # type: ignore[no-untyped-def]
        browser, server: KioskServer, broker: Mosquitto, artifacts_dir: Path) -> None:
    expect = playwright_api.expect
    for page in open_kiosk(browser, server, broker, viewport=(800, 480)):
        wedge(page, "OP-ART")
        expect(page.locator(".badge")).to_contain_text("Artisan One")
        wedge(page, "PC-1")
        page.locator('[data-work="start"]').click()
        expect(page.locator("#work-state")).to_contain_text("Artisan One is working on it")
        box = page.locator('[data-work="pause"]').bounding_box()
        assert box and box["height"] >= 64, box  # a gloved tap
        page.locator('[data-work="done"]').click()
        expect(page.locator("#work-state")).to_contain_text("Work done by Artisan One")
        page.get_by_role("button", name="Advance to filing").click()
        expect(page.locator("#stage")).to_have_text("filing")
        wedge(page, "OP-SUP")  # the supervisor badges in at the same screen
        expect(page.locator(".badge")).to_contain_text("Supervisor One")
        page.get_by_role("link", name="Work here").click()
        page.locator("#time-report").click()
        row = page.locator('#time tr[data-stage="casting"][data-operator="OP-ART"]')
        expect(row).to_contain_text("Artisan One")
        expect(row.locator("td").nth(2)).to_have_text("1")
        box = page.locator("#time").bounding_box()
        assert box and box["x"] + box["width"] <= 800, box  # nothing cut off at the right edge
        shoot(page, artifacts_dir, "time-report-800x480")
        page.screenshot(path=str(artifacts_dir / "kiosk-time-report-800x480-whole.png"), full_page=True)


def test_kiosk_browser_rework_asks_the_reason_then_only_its_targets_one_screen_at_800x480(  # type: ignore[no-untyped-def]
        browser, tmp_path: Path, broker: Mosquitto, artifacts_dir: Path) -> None:
    expect = playwright_api.expect
    with served_kiosk(tmp_path, broker.port, station="casting, qc") as server:
        with server.app.app_context():
            ledger = get_ledger()
            with ledger.db.transaction() as conn:  # PC-1 waits at QC (its earlier stages are tested elsewhere)
                conn.execute("UPDATE pieces SET stage = 'qc' WHERE piece_id = 'PC-1'")
        for page in open_kiosk(browser, server, broker, viewport=(800, 480)):
            wedge(page, "OP-QC")
            expect(page.locator(".badge")).to_contain_text("Qc One")
            wedge(page, "PC-1")
            page.get_by_role("link", name="Rework…").click()
            reasons = page.locator("#rework-reasons a")
            expect(reasons).to_have_count(8)  # 9 in the route; "enamel colour mismatch" is not for a piece without enamel
            shoot(page, artifacts_dir, "rework-reason-800x480")
            assert page.evaluate("document.scrollingElement.scrollHeight") <= 480  # one screen, no scrolling
            shoot(page, artifacts_dir, "rework-reason-800x480")
            page.get_by_role("link", name="scratches").click()
            targets = page.locator("#rework-targets button")
            expect(targets).to_have_text(["Back to filing", "Back to plating"])  # only what mends scratches
            assert page.evaluate("document.scrollingElement.scrollHeight") <= 480
            shoot(page, artifacts_dir, "rework-target-800x480")
            page.get_by_role("button", name="Back to plating").click()
            page.get_by_role("button", name="Tap again: back to plating").click()
            expect(page.locator("#stage")).to_have_text("plating")
            expect(page.locator("#history tbody tr").first).to_contain_text("scratches")


def test_kiosk_browser_a_photo_check_takes_the_picture_with_the_kiosk_camera(  # type: ignore[no-untyped-def]
        browser, tmp_path: Path, broker: Mosquitto, artifacts_dir: Path) -> None:
    """getUserMedia with Chromium's fake camera: preview, take, the thumbnail and the check's answer."""
    expect = playwright_api.expect
    camera = {**CHROMIUM, "args": [*CHROMIUM["args"], "--use-fake-ui-for-media-stream",  # type: ignore[list-item]
                                   "--use-fake-device-for-media-stream"]}
    with served_kiosk(tmp_path, broker.port, station="casting, qc") as server:
        with server.app.app_context():
            ledger = get_ledger()
            with ledger.db.transaction() as conn:
                conn.execute("UPDATE pieces SET stage = 'qc' WHERE piece_id = 'PC-1'")
        with_camera = browser.browser_type.launch(**camera)  # a second Chromium, with a fake camera
        try:
            for page in open_kiosk(with_camera, server, broker, viewport=(800, 480)):
                wedge(page, "OP-QC")
                expect(page.locator(".badge")).to_contain_text("Qc One")
                wedge(page, "PC-1")
                page.get_by_role("button", name="Take photo").click()
                expect(page.locator("#camera video")).to_be_visible()
                page.wait_for_function("document.querySelector('#camera video').videoWidth > 0")
                shoot(page, artifacts_dir, "camera-800x480")
                page.get_by_role("button", name="Take the photo").click()
                expect(page.locator('[data-thumb-for="photo"]')).to_be_visible()
                photo_id = page.locator('[data-photo-for="photo"]').input_value()
                assert photo_id.startswith("PH-")
                with server.app.app_context():
                    piece_id, mime, data = get_ledger().photo(photo_id)
                assert (piece_id, mime) == ("PC-1", "image/jpeg") and 1000 < len(data) <= 60_000
                expect(page.get_by_role("button", name="Take it again")).to_be_visible()
        finally:
            with_camera.close()


def test_kiosk_browser_the_advance_waits_for_a_stable_weight_from_the_bench_scale(  # type: ignore[no-untyped-def]
        browser, tmp_path: Path, broker: Mosquitto, artifacts_dir: Path) -> None:
    expect = playwright_api.expect
    weight_topic = TOPICS.scale_weight("bench-1", "balance-1")

    def weigh(grams: float | None, stable: bool, fault: str | None = None) -> None:
        send(broker, weight_topic, {"ts": "2026-12-03T10:00:00.000Z", "seq": 1, "grams": grams, "stable": stable,
                                    "fault": fault})

    with served_kiosk(tmp_path, broker.port, station="casting, filing", scale="bench-1/balance-1") as server:
        for page in open_kiosk(browser, server, broker, viewport=(800, 480)):
            wedge(page, "OP-ART")
            expect(page.locator(".badge")).to_contain_text("Artisan One")
            wedge(page, "PC-1")
            advance = page.get_by_role("button", name="Advance to filing (weighs it)")
            expect(advance).to_be_disabled()
            weigh(10.481, stable=False)
            expect(page.locator("#weight")).to_have_text("10.481 g")
            expect(page.locator("#weight-state")).to_have_text("settling…")
            expect(advance).to_be_disabled()
            weigh(10.5, stable=True)
            expect(page.locator("#weight-state")).to_have_text("stable")
            expect(advance).to_be_enabled()
            shoot(page, artifacts_dir, "weigh-800x480")
            advance.click()
            expect(page.locator("#messages")).to_contain_text("PC-1: casting → filing at 10.5 g.")
        with server.app.app_context():
            assert get_ledger().weights("PC-1")[0]["grams"] == 10.5


def test_kiosk_browser_metal_loss_report_with_its_bars_at_800x480(  # type: ignore[no-untyped-def]
        page, server: KioskServer, artifacts_dir: Path) -> None:
    expect = playwright_api.expect
    with server.app.app_context():
        ledger = get_ledger()
        for piece_id, grams_in, grams_out in (("PC-1", 10.0, 9.8), ("PC-2", 8.0, 7.94)):
            ledger.advance(piece_id, operator="OP-SUP", station="casting", weight_g=grams_in)
            ledger.advance(piece_id, operator="OP-SUP", station="filing", weight_g=grams_out)
    page.set_viewport_size({"width": 800, "height": 480})
    wedge(page, "OP-SUP")
    expect(page.locator(".badge")).to_contain_text("Supervisor One")
    page.get_by_role("link", name="Work here").click()
    page.locator("#metal-report").click()
    row = page.locator('#metal tr[data-key="filing"]')
    expect(row).to_contain_text("18.000 g")
    bar = row.locator(".bar-fill").bounding_box()
    assert bar and bar["width"] > 20, bar  # the only stage: the longest bar
    shoot(page, artifacts_dir, "metal-loss-800x480")
    page.screenshot(path=str(artifacts_dir / "kiosk-metal-loss-800x480-whole.png"), full_page=True)
    page.get_by_role("link", name="by metal").click()
    expect(page.locator('#metal tr[data-key="silver_925"]')).to_contain_text("925 silver")


def test_kiosk_browser_furnace_chart_with_the_window_and_the_pour_curve_on_the_tree(  # type: ignore[no-untyped-def]
        page, server: KioskServer, broker: Mosquitto, artifacts_dir: Path) -> None:
    from datetime import datetime, timedelta, timezone

    from benchpin.topics import utc_ts

    expect = playwright_api.expect
    topic = TOPICS.temperature("casting-1", "furnace-1")
    now = datetime.now(timezone.utc)
    with server.app.app_context():  # the last half hour of the furnace heating up, as the historian kept it
        get_ledger().store_readings([("casting-1", "furnace-1", 10_000 + i, utc_ts(now - timedelta(seconds=1800 - i * 20)),
                                      880.0 + i * 1.2, "") for i in range(89)])
    page.set_viewport_size({"width": 800, "height": 480})
    wedge(page, "OP-ART")
    expect(page.locator(".badge")).to_contain_text("Artisan One")
    wedge(page, "TR-1")  # scanned at casting: the pour window is set
    expect(page.locator("#tree-id")).to_contain_text("TR-1")
    send(broker, topic, {"ts": utc_ts(), "seq": 20_000, "value_c": 986.0, "fault": None})
    expect(page.locator("#furnace")).to_contain_text("986 °C")
    page.locator("#furnace-tab").click()
    expect(page.locator("#furnace-window")).to_contain_text("Pour window 950–1010 °C for tree TR-1")
    expect(page.locator("#furnace-now")).to_have_text("986 °C")
    assert "standing-inside" in (page.locator("#furnace-now").get_attribute("class") or "")
    expect(page.locator("#furnace-chart svg rect.window")).to_have_count(1)
    expect(page.locator("#furnace-chart svg polyline.avg")).to_have_count(1)
    shoot(page, artifacts_dir, "furnace-800x480")
    wedge(page, "TR-1")
    page.locator("#pour-button").click()
    expect(page.locator("#messages")).to_contain_text("TR-1 poured at 986 °C (inside 950–1010 °C).")
    expect(page.locator("#pour-chart svg line.mark")).to_have_count(1)
    page.locator("#pour").scroll_into_view_if_needed()
    shoot(page, artifacts_dir, "tree-pour-800x480")
    page.goto("/pieces/PC-1/passport")
    expect(page.locator("#passport-history tbody tr")).to_have_count(5)  # created + 4 seeded moves
    expect(page.locator("#passport .pour")).to_contain_text("poured at 986 °C")
    page.screenshot(path=str(artifacts_dir / "kiosk-passport.png"), full_page=True)
    pdf = page.pdf(format="A4")  # the print stylesheet: a typical piece fits one A4 page
    (artifacts_dir / "kiosk-passport.pdf").write_bytes(pdf)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
