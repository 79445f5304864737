"""The kiosk touch screens through Flask's test client: every screen and every error path."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from kiosk.app import close_app, create_app
from kiosk.state import get_ledger
from kiosk.ledger import Ledger
from kiosk.ledger.workflow import parse_workflow
from firmware_bridge.barcodes import BarcodeRules, with_check_digit
from kiosk.ui.barcodes import COMMAND, OPERATOR, PIECE, TREE, Barcode, read_barcode
from kiosk.ui.state import ui_state
from tests.kiosk_support import SUPERVISOR_PIN, spec
from tests.kiosk_ui_support import SECRET, Kiosk, messages, seed, ui_config


@pytest.fixture
def app(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The seeded casting kiosk (``parametrize("app", [{kiosk keys}], indirect=True)`` changes it)."""
    kiosk = getattr(request, "param", {})
    app = create_app(ui_config(tmp_path, **kiosk), {"TESTING": True, "KIOSK_EVENTS": False, "KIOSK_LIVE": False,
                                                    "SECRET_KEY": SECRET})
    with app.app_context():
        seed(get_ledger())
    yield app
    close_app(app)


@pytest.fixture
def ledger(app: Flask) -> Ledger:
    with app.app_context():
        return get_ledger()


@pytest.fixture
def kiosk(app: Flask) -> Kiosk:
    return Kiosk(app)


@pytest.fixture
def supervisor(kiosk: Kiosk) -> Kiosk:
    kiosk.scan("OP-SUP")
    kiosk.pin = SUPERVISOR_PIN  # typed on the PIN pad before a scrap or an override
    return kiosk


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def test_ui_idle_screen_asks_for_a_badge(kiosk: Kiosk) -> None:
    response = kiosk.get("/")
    assert response.status_code == 200
    assert "Scan your badge" in text(response) and "not badged in" in text(response)
    assert 'id="scan-input"' in text(response) and 'inputmode="none"' in text(response)


def test_ui_badge_scan_logs_in_and_unknown_badge_is_refused(kiosk: Kiosk) -> None:
    refused = kiosk.scan("OP-9999")
    assert "Badge OP-9999 is not registered" in " ".join(messages(text(refused)))
    welcome = kiosk.scan("OP-ART")
    assert "Welcome, Artisan One (artisan)." in messages(text(welcome))
    assert 'data-operator="OP-ART"' in text(welcome) and "Scan a piece or a wax tree" in text(welcome)


def test_ui_screens_need_a_badge(kiosk: Kiosk) -> None:
    for url in ("/pieces/PC-1", "/trees/TR-1", "/wip", "/engraving", "/pieces/PC-1/reasons?kind=rework"):
        response = kiosk.get(url)
        assert response.request.path == "/" and "Scan your badge first." in messages(text(response)), url
    scanned = kiosk.scan("PC-1")
    assert "Scan your badge first (PC-1 was not opened)." in messages(text(scanned))


def test_ui_piece_screen_shows_the_piece_its_history_and_its_moves(supervisor: Kiosk) -> None:
    response = supervisor.scan("PC-1")
    html = text(response)
    assert response.request.path == "/pieces/PC-1"
    for shown in ("Lotus ring", "order ORD-9", "925 silver", "topaz, blue", "TR-1", ">casting<",
                  "Advance to filing", "Scrap…", 'data-version="4"'):
        assert shown in html, shown
    assert html.count('<tr class="kind-') == 5  # created + 4 moves, newest first
    assert html.index("wax tree → <b>casting") < html.index("<b>design</b>")


def test_ui_advance_moves_the_piece_and_shows_it_in_the_history(supervisor: Kiosk, ledger: Ledger) -> None:
    response = supervisor.post("/pieces/PC-1/moves", to="filing", version="4")
    assert response.status_code == 200 and response.request.path == "/pieces/PC-1"
    assert "PC-1: casting → filing." in messages(text(response))
    assert ledger.piece("PC-1").stage == "filing"
    last = ledger.history("PC-1")[-1]
    assert (last.operator, last.station, last.to_stage) == ("OP-SUP", "casting", "filing")


def test_ui_refused_move_says_the_role_is_wrong(kiosk: Kiosk, ledger: Ledger) -> None:
    kiosk.scan("OP-SET")
    response = kiosk.post("/pieces/PC-1/moves", to="filing", version="4")
    assert response.status_code == 409
    assert "Not moved: role setter may not advance a piece at casting (allowed: artisan, supervisor)." \
        in messages(text(response))
    assert ledger.piece("PC-1").stage == "casting"
    assert 'name="next" value="/pieces/PC-1"' in text(response)  # a scan from here returns to the piece
    assert "needs artisan or supervisor (you are setter)" in text(kiosk.get("/pieces/PC-1"))


def test_ui_refused_move_says_the_stage_is_wrong(supervisor: Kiosk) -> None:
    response = supervisor.post("/pieces/PC-1/moves", to="qc", version="4")
    assert response.status_code == 409
    assert "it cannot go to qc (from casting it can go to filing, scrapped)" in text(response)


def test_ui_stale_screen_says_who_moved_the_piece_first(app: Flask, supervisor: Kiosk) -> None:
    other = Kiosk(app)
    other.scan("OP-ART")
    assert other.post("/pieces/PC-1/moves", to="filing", version="4").status_code == 200
    response = supervisor.post("/pieces/PC-1/moves", to="filing", version="4")
    assert response.status_code == 409
    shown = " ".join(messages(text(response)))
    assert "PC-1 was already moved to filing by OP-ART at " in shown and "(station casting)" in shown


def test_ui_post_without_or_with_a_wrong_csrf_token_is_refused(app: Flask, supervisor: Kiosk,
                                                                ledger: Ledger) -> None:
    client = supervisor.client
    for form in ({}, {"csrf_token": "forged"}, {"csrf_token": Kiosk(app).token}):
        response = client.post("/pieces/PC-1/moves", data={"to": "filing", "version": "4", **form})
        assert response.status_code == 400 and "security token" in text(response)
    assert client.post("/scan", data={"code": "OP-SUP"}).status_code == 400
    assert client.post("/logout").status_code == 400
    assert ledger.piece("PC-1").stage == "casting"


def test_ui_escapes_a_note_containing_a_script(supervisor: Kiosk, ledger: Ledger) -> None:
    ledger.advance("PC-1", operator="OP-SUP", station="casting")
    note = '<script>alert("x")</script>'
    response = supervisor.post("/pieces/PC-1/moves", to="casting", version="5", other_note=note)
    html = text(response)
    assert ledger.history("PC-1")[-1].note == note
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_ui_unknown_piece_and_tree_get_a_clear_message(supervisor: Kiosk) -> None:
    for code, said in (("PC-404", "Unknown piece PC-404: it is not in the ledger."),
                       ("TR-404", "Unknown wax tree TR-404: it is not in the ledger.")):
        response = supervisor.scan(code, next="/wip")
        assert response.request.path == "/wip" and said in messages(text(response))
    direct = supervisor.get("/pieces/PC-404")
    assert direct.status_code == 404 and "Unknown piece PC-404" in text(direct) and "Back to scanning" in text(direct)
    assert supervisor.get("/no/such/screen").status_code == 404


def test_ui_invalid_barcodes_get_a_clear_message(supervisor: Kiosk) -> None:
    cases = {"pc-1": "lower case: is Caps Lock on", "XYZ-1": "no known prefix (expected one of PC-, TR-, OP-, CMD-)",
             "CMD-JUMP": "unknown command (known: CMD-ADVANCE", "PC-": "nothing after the prefix PC-",
             "   ": "empty code", "PC-1 2": "contains spaces"}
    for code, said in cases.items():
        shown = " ".join(messages(text(supervisor.scan(code))))
        assert said in shown, (code, shown)


def test_read_barcode_applies_the_site_rules_and_knows_the_kinds() -> None:
    rules = BarcodeRules(check_digit="iso7064-mod37-36")
    good = with_check_digit("PC-2026-0042", rules)
    assert read_barcode(f" {good}\r\n", rules) == Barcode(good, PIECE)
    assert "expected" in read_barcode(good[:-1] + ("0" if good[-1] != "0" else "1"), rules).problem
    assert read_barcode("CMD-ADVANCE", rules) == Barcode("CMD-ADVANCE", COMMAND)
    assert read_barcode("OP-7") == Barcode("OP-7", OPERATOR) and read_barcode("TR-7") == Barcode("TR-7", TREE)
    assert "means nothing to the kiosk" in read_barcode("BX-1", BarcodeRules(prefixes=("BX-",))).problem
    assert "too long" in read_barcode("PC-" + "9" * 80).problem


def test_ui_scan_never_redirects_to_another_site(supervisor: Kiosk) -> None:
    response = supervisor.client.post("/scan", data={"code": "PC-404", "next": "//evil.example/",
                                                     "csrf_token": supervisor.token})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_ui_command_barcodes_act_like_the_buttons(supervisor: Kiosk, ledger: Ledger) -> None:
    assert "scan a piece or a tree first" in text(supervisor.scan("CMD-ADVANCE"))
    advanced = supervisor.scan("CMD-ADVANCE", piece="PC-1", version="4")
    assert "PC-1: casting → filing." in messages(text(advanced)) and ledger.piece("PC-1").stage == "filing"
    rework = supervisor.scan("CMD-REWORK", piece="PC-1", version="5")
    assert rework.request.path == "/pieces/PC-1/reasons" and "what is wrong?" in text(rework)
    scrap = supervisor.scan("CMD-SCRAP", piece="PC-1", version="5")
    assert "Scrap (metal back to refining)" in text(scrap)
    tree = supervisor.scan("CMD-ADVANCE", tree="TR-1")
    assert tree.status_code == 409 and "no common next stage" in text(tree)
    out = supervisor.scan("CMD-LOGOUT")
    assert "Supervisor One logged out." in messages(text(out)) and "Scan your badge" in text(out)


def test_ui_rework_and_scrap_take_a_reason_from_the_route(supervisor: Kiosk, ledger: Ledger) -> None:
    ledger.advance("PC-1", operator="OP-SUP", station="casting")
    page = text(supervisor.get("/pieces/PC-1/reasons?kind=rework"))
    for reason in ("porosity", "pits", "incomplete fill", "cracks"):
        assert f'kind=rework&amp;reason={reason.replace(" ", "+")}">{reason}</a>' in page
    targets = text(supervisor.get("/pieces/PC-1/reasons?kind=rework&reason=porosity"))
    assert '<input type="hidden" name="note" value="porosity">' in targets and "Back to casting" in targets
    reworked = supervisor.post("/pieces/PC-1/moves", to="casting", version="5", note="porosity")
    assert "PC-1: filing → casting." in messages(text(reworked))
    assert ledger.history("PC-1")[-1].note == "porosity" and ledger.history("PC-1")[-1].kind == "rework"
    no_reason = supervisor.post("/pieces/PC-2/moves", to="scrapped", version="4")
    assert no_reason.status_code == 409 and "a scrap needs a reason in the note" in text(no_reason)
    scrapped = supervisor.post("/pieces/PC-2/moves", to="scrapped", version="4", other_note="cracked sprue")
    assert "PC-2: casting → scrapped." in messages(text(scrapped)) and ledger.piece("PC-2").stage == "scrapped"
    assert "Scrapped: its metal goes back to refining." in text(scrapped)


def test_ui_scrap_offers_the_stage_scrap_reasons(supervisor: Kiosk, ledger: Ledger) -> None:
    page = text(supervisor.get("/pieces/PC-1/reasons?kind=scrap"))
    for reason in ledger.workflow.route("production").stage("casting").scrap_reasons:
        assert f'name="note" value="{reason}"' in page
    scrapped = supervisor.post("/pieces/PC-1/moves", to="scrapped", version="4", note="wrong alloy")
    assert ledger.history("PC-1")[-1].note == "wrong alloy" and "PC-1: casting → scrapped." in text(scrapped)


def test_workflow_scrap_reasons_need_scrap_roles() -> None:
    problems: list[str] = []
    parse_workflow({"materials": {"metals": ["silver_925"]}, "r": {"stages": [
        {"name": "a", "advance": ["artisan"], "scrap_reasons": ["cracks"]}, {"name": "b"}]}}, problems)
    assert problems == ["r.stages[0].scrap_reasons: given but nobody may scrap here (add `scrap` roles)"]


def test_ui_reasons_screen_refuses_what_the_operator_may_not_do(kiosk: Kiosk) -> None:
    kiosk.scan("OP-SET")
    response = kiosk.get("/pieces/PC-1/reasons?kind=scrap")
    assert response.status_code == 409
    assert "Cannot scrap PC-1: needs artisan or qc or supervisor (you are setter)." in messages(text(response))
    assert kiosk.get("/pieces/PC-1/reasons?kind=polish").status_code == 400


def test_ui_tree_advances_all_its_pieces_or_none(supervisor: Kiosk, ledger: Ledger, app: Flask) -> None:
    page = supervisor.get("/trees/TR-1")
    assert "2 pieces on it, all at <strong>casting</strong>" in text(page)
    assert "Advance all 2 to filing" in text(page)
    setter = Kiosk(app)
    setter.scan("OP-SET")
    refused = setter.post("/trees/TR-1/moves", to="filing")
    assert refused.status_code == 409 and "Nothing moved: tree TR-1 not moved" in text(refused)
    assert {p.stage for p in ledger.tree("TR-1").pieces} == {"casting"}
    moved = supervisor.scan("CMD-ADVANCE", tree="TR-1")
    assert "TR-1: 2 pieces → filing." in messages(text(moved))
    assert {p.stage for p in ledger.tree("TR-1").pieces} == {"filing"}
    ledger.advance("PC-1", operator="OP-SUP", station="filing")
    assert "open and advance them one by one" in text(supervisor.get("/trees/TR-1"))
    assert supervisor.post("/trees/TR-1/moves").status_code == 400


def test_ui_wip_lists_the_pieces_at_this_station(supervisor: Kiosk, ledger: Ledger) -> None:
    ledger.advance("PC-2", operator="OP-SUP", station="casting")
    html = text(supervisor.get("/wip"))
    assert "At casting: 2 pieces" in html
    assert "/pieces/PC-1" in html and "/pieces/PC-3" in html and "/pieces/PC-2" not in html


def test_ui_engraving_queue_lists_jobs_and_refuses_commands_it_cannot_send(kiosk: Kiosk, ledger: Ledger) -> None:
    for _ in range(4):  # casting → filing → decoration → plating → engraving (no enamel)
        ledger.advance("PC-1", operator="OP-SUP", station="setup")
    assert ledger.piece("PC-1").stage == "engraving"
    job_id = ledger.history("PC-1")[-1].event_id
    kiosk.scan("OP-ART")
    page = text(kiosk.get("/engraving"))
    assert "queue: 1 job" in page and "BP-" in page and job_id[:8] in page
    assert 'Laser job: <a href="/engraving"><span class="state state-unknown">unknown</span>' in \
        text(kiosk.get("/pieces/PC-1"))  # this test kiosk has no MQTT, so it cannot know
    refused = kiosk.post(f"/engraving/{job_id}/retry")
    assert refused.status_code == 409 and "role artisan may not retry a laser job" in text(refused)
    kiosk.scan("OP-ENG")
    no_mqtt = kiosk.post(f"/engraving/{job_id}/cancel")
    assert no_mqtt.status_code == 409 and "does not talk to an engraver" in text(no_mqtt)
    assert kiosk.post("/engraving/nope/retry").status_code == 409
    assert kiosk.post(f"/engraving/{job_id}/explode").status_code == 404


def test_ui_logout_ends_the_badge_session(supervisor: Kiosk) -> None:
    response = supervisor.post("/logout")
    assert "Supervisor One logged out." in messages(text(response))
    assert supervisor.get("/pieces/PC-1").request.path == "/"


def test_ui_idle_logout_after_the_configured_time(app: Flask, supervisor: Kiosk) -> None:
    state = ui_state(app)
    now = [1_000_000.0]
    state.clock = lambda: now[0]
    supervisor.scan("OP-SUP")
    now[0] += state.idle_logout_s - 1
    assert supervisor.get("/pieces/PC-1").request.path == "/pieces/PC-1"  # a tap starts the wait over
    now[0] += state.idle_logout_s - 1
    assert supervisor.get("/wip").request.path == "/wip"
    now[0] += state.idle_logout_s + 1
    response = supervisor.get("/pieces/PC-1")
    assert response.request.path == "/" and "Logged out after 5 min without a touch or scan." in text(response)


def test_ui_api_errors_stay_json(app: Flask) -> None:
    response = app.test_client().get("/api/pieces/PC-1")
    assert response.status_code == 401 and response.is_json


def test_ui_ledger_outage_shows_a_503_screen_not_a_traceback(supervisor: Kiosk, ledger: Ledger) -> None:
    ledger.close()
    for response in (supervisor.get("/pieces/PC-1"), supervisor.post("/pieces/PC-1/moves", to="filing", version="4")):
        assert response.status_code == 503
        assert "The ledger database does not answer" in text(response) and "Traceback" not in text(response)


def to_engraving_with_job(ledger: Ledger, state: str, detail: str = "") -> str:
    for _ in range(4):  # casting → filing → decoration → plating → engraving (no enamel)
        ledger.advance("PC-1", operator="OP-SUP", station="setup")
    job_id = ledger.history("PC-1")[-1].event_id
    ledger.record_job(job_id, state, detail=detail)
    return job_id


@pytest.mark.parametrize("app", [{"station": "casting, engraving"}], indirect=True)
@pytest.mark.parametrize("state", ["rejected", "interrupted"])
def test_ui_a_piece_whose_laser_job_failed_offers_no_advance_to_an_artisan_or_engraver(
        kiosk: Kiosk, ledger: Ledger, state: str) -> None:
    to_engraving_with_job(ledger, state, "serial BP-1 already engraved")
    for badge, why in (("OP-ART", "may not advance"), ("OP-ENG", "not engraved yet")):
        kiosk.scan(badge)
        page = text(kiosk.get("/pieces/PC-1"))
        assert f'<span class="state state-{state}">{state}</span>' in page
        assert "disabled>Advance to qc</button>" in page and "Override:" not in page
        refused = kiosk.post("/pieces/PC-1/moves", version=str(ledger.piece("PC-1").version))
        assert refused.status_code == 409 and why in text(refused)
        forced = kiosk.post("/pieces/PC-1/moves", version=str(ledger.piece("PC-1").version), override="1",
                            note="trust me")
        assert forced.status_code == 409 and why in text(forced)
        assert kiosk.get("/pieces/PC-1/override?to=qc").status_code == 409
    assert "only a supervisor may override" in text(kiosk.get("/pieces/PC-1"))
    assert ledger.piece("PC-1").stage == "engraving"


def test_ui_supervisor_override_asks_for_a_reason_and_shows_in_the_history(supervisor: Kiosk,
                                                                           ledger: Ledger) -> None:
    to_engraving_with_job(ledger, "interrupted", "the laser's door opened")
    page = text(supervisor.get("/pieces/PC-1"))
    assert "Override: advance to qc…" in page and 'href="/pieces/PC-1/override?to=qc"' in page
    form = text(supervisor.get("/pieces/PC-1/override?to=qc"))
    assert "Override: PC-1 to qc" in form and 'name="override" value="1"' in form and "required" in form
    version = str(ledger.piece("PC-1").version)
    no_reason = supervisor.post("/pieces/PC-1/moves", version=version, override="1", note=" ")
    assert no_reason.status_code == 409 and "override needs a reason" in text(no_reason)
    done = supervisor.post("/pieces/PC-1/moves", version=version, override="1", note="engraved by hand")
    assert done.status_code == 200 and "override recorded" in text(done)
    assert ledger.piece("PC-1").stage == "qc"
    history = text(supervisor.get("/pieces/PC-1"))
    assert 'kind-advance override' in history and '<strong class="flag">Override</strong> engraved by hand' in history


def test_ui_running_job_shows_a_progress_bar(supervisor: Kiosk, ledger: Ledger) -> None:
    job_id = to_engraving_with_job(ledger, "running")
    ledger.record_job(job_id, "running", progress=0.4, eta_s=6.2)
    page = text(supervisor.get("/pieces/PC-1"))
    assert f'data-job="{job_id}" data-state="running"' in page
    assert '<progress max="1" value="0.4">40 %</progress>' in page and "about 6 s left" in page
    queue = text(supervisor.get("/engraving"))
    assert '<progress max="1" value="0.4">40 %</progress>' in queue


def test_ui_a_kiosk_shows_a_piece_from_elsewhere_says_where_it_is_and_moves_it_only_for_a_supervisor(
        kiosk: Kiosk, ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-9")])  # at design; this kiosk serves casting
    kiosk.scan("OP-ART")
    page = text(kiosk.get("/pieces/PC-9"))
    assert "disabled>Advance to cad</button>" in page
    assert "PC-9 is at design, not at a stage of this kiosk (casting): move it at the design station" in page
    refused = kiosk.post("/pieces/PC-9/moves", version="0")
    assert refused.status_code == 409 and "not at a stage of this kiosk" in text(refused)
    assert ledger.piece("PC-9").stage == "design"
    kiosk.scan("OP-SUP")
    kiosk.pin = SUPERVISOR_PIN
    moved = kiosk.post("/pieces/PC-9/moves", version="0")
    assert moved.status_code == 200 and "PC-9: design → cad" in text(moved).replace("&#8594;", "→")
    assert ledger.history("PC-9")[-1].station == "casting"  # the kiosk's id: the history shows where


def test_ui_start_pause_resume_done_one_tap_each_and_someone_else_is_refused(kiosk: Kiosk, ledger: Ledger) -> None:
    kiosk.scan("OP-ART")
    page = text(kiosk.get("/pieces/PC-1"))
    assert 'data-work="start"' in page and 'data-work="pause"' not in page
    started = kiosk.post("/pieces/PC-1/work/start")
    assert "PC-1: work started." in text(started)
    assert 'data-work="pause"' in text(started) and 'data-work="done"' in text(started)
    assert "Artisan One is working on it (0 min so far)." in text(started)
    paused = kiosk.post("/pieces/PC-1/work/pause")
    assert 'data-work="resume"' in text(paused) and "Paused by Artisan One" in text(paused)
    kiosk.scan("OP-SET")  # another operator at the same bench
    other = text(kiosk.get("/pieces/PC-1"))
    assert 'data-work="resume"' not in other and "Paused by Artisan One" in other
    refused = kiosk.post("/pieces/PC-1/work/resume")
    assert refused.status_code == 409 and "Artisan One is working on PC-1 at casting" in text(refused)
    kiosk.scan("OP-ART")
    kiosk.post("/pieces/PC-1/work/resume")
    done = kiosk.post("/pieces/PC-1/work/done")
    assert "PC-1: work done." in text(done) and "Work done by Artisan One" in text(done)
    session = ledger.work_session("PC-1")
    assert session is not None and session.state == "done"
    assert kiosk.post("/pieces/PC-1/work/lunch").status_code == 404


def test_ui_time_report_is_a_supervisor_screen_with_its_csv(kiosk: Kiosk, ledger: Ledger) -> None:
    ledger.advance("PC-1", operator="OP-ART", station="casting")
    kiosk.scan("OP-ART")
    assert kiosk.get("/reports/time").status_code == 403
    kiosk.scan("OP-SUP")
    wip = text(kiosk.get("/wip"))
    assert 'id="time-report"' in wip
    report = kiosk.get("/reports/time")
    assert report.status_code == 200
    page = text(report)
    assert '<tr data-stage="casting" data-operator="OP-ART">' in page and "Artisan One" in page
    assert 'id="time-csv"' in page
    csv = kiosk.get("/reports/time?format=csv")
    assert csv.mimetype == "text/csv" and "casting,OP-ART,Artisan One,1," in csv.get_data(as_text=True)
    assert kiosk.get("/reports/time?from=soon").status_code == 400


def test_ui_passport_lists_the_history_and_the_certificate_names_no_one(kiosk: Kiosk, ledger: Ledger) -> None:
    kiosk.scan("OP-ART")
    page = text(kiosk.get("/pieces/PC-1/passport"))
    assert "Passport PC-1" in page and "Supervisor One" in page
    assert page.count("<tr class=\"kind-") == len(ledger.history("PC-1"))
    certificate = text(kiosk.get("/pieces/PC-1/passport?view=certificate"))
    assert "Certificate of the piece" in certificate and "925 silver" in certificate
    assert "Supervisor One" not in certificate and "OP-SUP" not in certificate  # no internal names
    assert kiosk.get("/pieces/PC-404/passport").status_code == 404
