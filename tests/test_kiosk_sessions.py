"""Badge sessions in the ledger, CSRF rotation, the failure throttle, safe redirects, the supervisor's
PIN and free-text limits: each attack the kiosk must refuse, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
from flask import Flask

from benchpin.cli import main
from benchpin.topics import Topics
from firmware_bridge.barcodes import BarcodeRules, validate
from kiosk.app import close_app, create_app
from kiosk.ledger import ImportRejected, Ledger, load_workflow, parse_pieces_csv
from kiosk.ledger.pins import hash_pin, pin_matches
from kiosk.routes import DEFAULT_ROUTES_FILE
from kiosk.state import get_ledger
from kiosk.throttle import Throttle, failures
from kiosk.ui.auth import local_path
from kiosk.ui.state import ui_state
from tests.kiosk_support import SUPERVISOR_PIN, postgres_schema_url
from tests.kiosk_ui_support import SECRET, Kiosk, messages, seed, ui_config
from tests.stations import station, station_file

TOKEN = "s3cret-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_app(tmp_path: Path, database: str, *, seeded: bool = True, **kiosk: Any) -> Flask:
    token_file = tmp_path / "api-token"
    token_file.write_text(TOKEN)
    app = create_app(ui_config(tmp_path, database=database, api_token_file=str(token_file),
                               outbox_file=str(tmp_path / "outbox.sqlite"), **kiosk),
                     {"TESTING": True, "KIOSK_EVENTS": False, "KIOSK_LIVE": False, "SECRET_KEY": SECRET})
    if seeded:
        with app.app_context():
            seed(get_ledger())
    return app


@pytest.fixture
def app(tmp_path: Path, ledger_url: str) -> Iterator[Flask]:  # noqa: F811
    """A seeded casting kiosk over a SQLite ledger, then over PostgreSQL."""
    app = make_app(tmp_path, ledger_url)
    yield app
    close_app(app)


@pytest.fixture
def ledger(app: Flask) -> Ledger:
    with app.app_context():
        return get_ledger()


def text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def error(response: Any) -> str:
    """Return the ``error`` of a JSON refusal."""
    return str(response.get_json()["error"])


def cookie(kiosk: Kiosk) -> str:
    found = kiosk.client.get_cookie("session")
    assert found is not None
    return str(found.value)


def replay(app: Flask, value: str) -> Kiosk:
    """A second browser holding a copy of another's session cookie."""
    thief = Kiosk(app)
    thief.client.set_cookie("session", value)
    return thief


def badged(app: Flask, badge: str = "OP-ART") -> Kiosk:
    kiosk = Kiosk(app)
    kiosk.scan(badge)
    return kiosk


# ---------------------------------------------------------------------------- 1. sessions

def test_sessions_the_cookie_carries_only_a_random_id_and_the_ledger_keeps_a_hash(app: Flask,
                                                                                 ledger: Ledger) -> None:
    kiosk = badged(app)
    data = app.session_interface.get_signing_serializer(app).loads(cookie(kiosk))  # type: ignore[attr-defined]
    assert set(data) == {"sid", "csrf"} and len(data["sid"]) >= 43  # 256 bits, url-safe; no operator
    with ledger.db.connect() as conn:
        rows = conn.rows("SELECT session_hash, operator_id, ended FROM sessions")
    assert rows == [(rows[0][0], "OP-ART", None)] and data["sid"] not in rows[0][0]


def test_sessions_a_cookie_replayed_after_logout_is_refused(app: Flask) -> None:
    kiosk = badged(app)
    copied = cookie(kiosk)
    assert replay(app, copied).get("/pieces/PC-1").request.path == "/pieces/PC-1"  # a copy works while open
    kiosk.post("/logout")
    thief = replay(app, copied)
    refused = thief.get("/pieces/PC-1")
    assert refused.request.path == "/" and "That badge session has ended. Scan your badge." in messages(text(refused))
    assert 'data-operator=""' in text(refused)
    assert thief.post("/pieces/PC-1/moves", to="filing", version="4").request.path == "/"


def test_sessions_a_cookie_replayed_after_idle_logout_is_refused(app: Flask) -> None:
    state = ui_state(app)
    now = [1_000_000.0]
    state.clock = lambda: now[0]
    kiosk = badged(app)
    copied = cookie(kiosk)
    now[0] += state.idle_logout_s + 1
    assert "Logged out after 5 min" in text(kiosk.get("/pieces/PC-1"))
    now[0] -= state.idle_logout_s  # even within the idle limit again, the session stays ended
    refused = replay(app, copied).get("/pieces/PC-1")
    assert refused.request.path == "/" and "That badge session has ended" in text(refused)


def test_sessions_a_new_badge_in_ends_the_browsers_previous_session(app: Flask) -> None:
    kiosk = badged(app, "OP-ART")
    first = cookie(kiosk)
    kiosk.scan("OP-QC")
    assert replay(app, first).get("/wip").request.path == "/"
    assert 'data-operator="OP-QC"' in text(kiosk.get("/"))


def test_sessions_two_kiosks_on_one_postgresql_ledger(tmp_path: Path, postgres_unavailable: str | None) -> None:  # noqa: F811
    if postgres_unavailable:
        pytest.skip(postgres_unavailable)
    for url in postgres_schema_url():
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        casting = make_app(tmp_path / "a", url)
        filing = make_app(tmp_path / "b", url, seeded=False, station="filing")
        try:
            at_casting, at_filing = badged(casting, "OP-ART"), badged(filing, "OP-QC")
            copied = cookie(at_casting)
            assert replay(filing, copied).get("/wip").request.path == "/wip"  # one ledger: the row is shared
            at_casting.post("/logout")
            assert replay(filing, copied).get("/wip").request.path == "/"  # ended for every kiosk
            assert replay(casting, copied).get("/wip").request.path == "/"
            assert at_filing.get("/wip").request.path == "/wip"  # the other kiosk's session goes on
            with filing.app_context():
                with get_ledger().db.connect() as conn:
                    kiosks = conn.rows("SELECT kiosk, operator_id, ended IS NULL FROM sessions ORDER BY kiosk")
            assert kiosks == [("casting", "OP-ART", False), ("filing", "OP-QC", True)]
        finally:
            close_app(filing)
            close_app(casting)


# ---------------------------------------------------------------------------- 2. CSRF rotation

def test_csrf_token_changes_at_badge_in_and_logout_and_the_old_one_is_refused(app: Flask, ledger: Ledger) -> None:
    kiosk = Kiosk(app)
    before = kiosk.token
    kiosk.scan("OP-ART")
    assert kiosk.token != before
    stale = kiosk.client.post("/pieces/PC-1/moves", data={"csrf_token": before, "to": "filing", "version": "4"})
    assert stale.status_code == 400 and "security token" in text(stale)
    logged_in = kiosk.token
    kiosk.post("/logout")
    assert kiosk.token not in (before, logged_in)
    again = kiosk.client.post("/scan", data={"csrf_token": logged_in, "code": "OP-ART"})
    assert again.status_code == 400 and ledger.piece("PC-1").stage == "casting"


# ---------------------------------------------------------------------------- 3. throttle

def test_throttle_five_wrong_badges_then_wait(app: Flask) -> None:
    now = [100.0]
    failures(app).clock = lambda: now[0]
    kiosk = Kiosk(app)
    for n in range(5):
        shown = " ".join(messages(text(kiosk.scan(f"OP-{n:04d}"))))
        assert "is not registered" in shown
    assert "Too many wrong badges: wait 60 s before the next scan." in shown
    blocked = kiosk.scan("OP-ART")  # even a real badge: a guesser must not learn which one is real
    assert blocked.status_code == 429 and "Too many wrong badges here: wait 60 s, then scan again." in text(blocked)
    assert 'data-operator=""' in text(blocked)
    now[0] += 45
    assert "wait 15 s" in text(kiosk.scan("OP-ART"))
    now[0] += 16
    assert "Welcome, Artisan One" in text(kiosk.scan("OP-ART"))
    assert "wait" in text(kiosk.scan("OP-9999"))  # the old failures still count within their window


def test_throttle_counts_wrong_api_tokens_answers_429_and_knows_each_address(app: Flask) -> None:
    now = [100.0]
    failures(app).clock = lambda: now[0]
    client = app.test_client()
    for _ in range(5):
        assert client.get("/api/pieces/PC-1", headers={"Authorization": "Bearer guess"}).status_code == 401
    blocked = client.get("/api/pieces/PC-1", headers=AUTH)
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "60"
    assert error(blocked) == "too many wrong bearer tokens or badges from this address: wait 60 s"
    other = client.get("/api/pieces/PC-1", headers=AUTH, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200
    now[0] += 61
    assert client.get("/api/pieces/PC-1", headers=AUTH).status_code == 200


def test_throttle_memory_is_bounded_least_recently_seen_forgotten_first() -> None:
    now = [0.0]
    throttle = Throttle(limit=2, window_s=60, max_clients=3, clock=lambda: now[0])
    for client in ("a", "b", "c", "a", "d"):  # "b" is the least recently seen when "d" arrives
        throttle.failed(client)
    assert len(throttle) == 3 and throttle.wait_s("a") == 60.0
    throttle.failed("b")
    assert throttle.wait_s("b") == 0.0  # forgotten, so this is its first failure again


def test_cli_operators_add_random_issues_an_unguessable_badge_with_the_check_character(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = station_file(tmp_path, station(tmp_path, kiosk={}, barcodes={"check_digit": "iso7064-mod37-36"}))
    ids = []
    for name in ("Asha Rao", "Ravi"):
        assert main(["operators", "add", "--random", "--name", name, "--role", "qc", "--config", str(config)]) == 0
        ids.append(capsys.readouterr().out.split()[1])
    rules = BarcodeRules(check_digit="iso7064-mod37-36")
    for badge in ids:
        assert badge.startswith("OP-") and len(badge) == 3 + 8 + 1 and validate(badge, rules).valid, badge
    assert ids[0] != ids[1]
    assert main(["operators", "add", "--name", "X", "--role", "qc", "--config", str(config)]) == 1
    assert "give a badge id" in capsys.readouterr().err
    assert main(["operators", "add", "OP-77", "--random", "--name", "X", "--role", "qc", "--config", str(config)]) == 1


# ---------------------------------------------------------------------------- 4. API operators

def test_api_a_move_must_name_a_registered_operator(app: Flask, ledger: Ledger) -> None:
    client = app.test_client()
    for operator in ("OP-NOBODY", "laser-1", "engraving"):
        response = client.post("/api/pieces/PC-1/moves", headers=AUTH, json={"to": "filing", "operator": operator})
        assert response.status_code == 409, operator
        assert error(response) == f"unknown operator {operator}: a move must name a registered operator's badge"
    laser = client.post("/api/pieces/PC-1/moves", headers=AUTH, json={"to": "filing", "operator": "laser"})
    assert laser.status_code == 400
    assert ledger.piece("PC-1").stage == "casting"
    assert client.post("/api/pieces/PC-1/moves", headers=AUTH,
                       json={"to": "filing", "operator": "OP-ART"}).status_code == 201


# ---------------------------------------------------------------------------- 5. redirects

BYPASSES = ["//evil.example/", "/\\evil.example/", "\\evil.example", "/\t/evil.example/", "/\n/evil.example",
            "/\r/evil.example", "/%09/evil.example/", "/%0a/evil.example", "/%5cevil.example", "/%2F%2Fevil.example",
            "https:evil.example", "https://evil.example/", "javascript:alert(1)", "/ /evil.example", " /x",
            "/\x00/evil.example", "/\u3000/evil.example", "//", "", "evil.example", "./x", "\t//evil.example"]


@pytest.mark.parametrize("url", BYPASSES)
def test_redirects_refuse_every_known_bypass(url: str) -> None:
    assert local_path(url) == ""


def test_redirects_keep_real_screens_and_the_scan_stays_on_site(app: Flask) -> None:
    for url in ("/", "/wip", "/pieces/PC-1", "/pieces/PC-1/reasons?kind=scrap"):
        assert local_path(url) == url
    kiosk = badged(app)
    for url in BYPASSES:
        response = kiosk.client.post("/scan", data={"code": "PC-404", "next": url, "csrf_token": kiosk.token})
        if "\x00" in url:  # a NUL in any form field is refused outright (400): never a redirect either
            assert response.status_code == 400 and "Location" not in response.headers, repr(url)
            continue
        assert response.status_code == 303 and response.headers["Location"] == "/", repr(url)
    good = kiosk.client.post("/scan", data={"code": "PC-404", "next": "/wip", "csrf_token": kiosk.token})
    assert good.headers["Location"] == "/wip"


# ---------------------------------------------------------------------------- 6. supervisor PIN

@pytest.fixture
def supervisor(app: Flask) -> Kiosk:
    return badged(app, "OP-SUP")


def test_pin_a_supervisor_scrap_asks_for_the_pin_and_a_wrong_one_does_nothing(supervisor: Kiosk,
                                                                              ledger: Ledger) -> None:
    asked = supervisor.post("/pieces/PC-1/moves", to="scrapped", version="4", note="wrong alloy")
    page = text(asked)
    assert asked.status_code == 200 and "Scrap PC-1: wrong alloy" in page and 'data-key="7"' in page
    assert 'name="note" value="wrong alloy"' in page and 'name="to" value="scrapped"' in page
    assert ledger.piece("PC-1").stage == "casting"
    wrong = supervisor.post("/pieces/PC-1/moves", to="scrapped", version="4", note="wrong alloy", pin="1111")
    assert wrong.status_code == 403 and "Wrong PIN for Supervisor One: nothing done." in text(wrong)
    junk = supervisor.post("/pieces/PC-1/moves", to="scrapped", version="4", note="wrong alloy", pin="12ab" * 100)
    assert junk.status_code == 400 and "a PIN is 4 to 8 digits" in text(junk)
    assert ledger.piece("PC-1").stage == "casting"
    done = supervisor.post("/pieces/PC-1/moves", to="scrapped", version="4", note="wrong alloy", pin=SUPERVISOR_PIN)
    assert "PC-1: casting → scrapped." in messages(text(done)) and ledger.piece("PC-1").stage == "scrapped"


def test_pin_wrong_pins_are_throttled_like_wrong_badges(supervisor: Kiosk, ledger: Ledger) -> None:
    failures(supervisor.app).clock = lambda: 100.0  # each scrypt check takes a while: hold time still
    for _ in range(5):
        supervisor.post("/pieces/PC-1/moves", to="scrapped", version="4", note="cracks", pin="0000")
    blocked = supervisor.post("/pieces/PC-1/moves", to="scrapped", version="4", note="cracks", pin=SUPERVISOR_PIN)
    assert blocked.status_code == 429 and "Too many wrong PINs or badges here: wait 60 s" in text(blocked)
    assert ledger.piece("PC-1").stage == "casting"


def test_pin_the_engraving_override_asks_for_it(supervisor: Kiosk, ledger: Ledger) -> None:
    for _ in range(4):
        ledger.advance("PC-1", operator="OP-SUP", station="setup")
    ledger.record_job(ledger.history("PC-1")[-1].event_id, "interrupted")
    version = str(ledger.piece("PC-1").version)
    asked = supervisor.post("/pieces/PC-1/moves", to="qc", version=version, override="1", note="engraved by hand")
    assert "Override: PC-1 to qc" in text(asked) and 'name="override" value="1"' in text(asked)
    assert ledger.piece("PC-1").stage == "engraving"
    done = supervisor.post("/pieces/PC-1/moves", to="qc", version=version, override="1", note="engraved by hand",
                           pin=SUPERVISOR_PIN)
    assert "override recorded" in text(done) and ledger.piece("PC-1").stage == "qc"


def test_pin_a_laser_retry_by_a_supervisor_asks_for_it(supervisor: Kiosk, ledger: Ledger,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, Any]] = []
    bridge = SimpleNamespace(engraver="laser-1", gateway="engrave-1", jobs={}, topics=Topics("jaipur"),
                             outbox=SimpleNamespace(put=lambda topic, payload, **kw: sent.append((topic, payload))))
    monkeypatch.setattr("kiosk.ui.stations.get_bridge", lambda: bridge)
    for _ in range(4):
        ledger.advance("PC-1", operator="OP-SUP", station="setup")
    job_id = ledger.history("PC-1")[-1].event_id
    ledger.record_job(job_id, "interrupted")
    asked = supervisor.post(f"/engraving/{job_id}/retry")
    assert "Retry the laser job of PC-1" in text(asked) and sent == []
    assert supervisor.post(f"/engraving/{job_id}/retry", pin="9999").status_code == 403 and sent == []
    done = supervisor.post(f"/engraving/{job_id}/retry", pin=SUPERVISOR_PIN)
    assert "Retry sent for PC-1" in text(done) and len(sent) == 1
    assert (sent[0][1]["action"], sent[0][1]["operator"]) == ("retry", "OP-SUP")
    engraver = badged(supervisor.app, "OP-ENG")  # an engraver has no PIN: the badge is enough
    assert "Retry sent for PC-1" in text(engraver.post(f"/engraving/{job_id}/retry"))


def test_pin_a_supervisor_without_a_pin_is_told_to_set_one(app: Flask, ledger: Ledger) -> None:
    ledger.add_operator("OP-SUP2", "Lakshmi", "supervisor")
    kiosk = Kiosk(app)
    welcome = " ".join(messages(text(kiosk.scan("OP-SUP2"))))
    assert "you have none yet" in welcome and "benchpin operators set-pin OP-SUP2" in welcome
    refused = kiosk.post("/pieces/PC-1/moves", to="scrapped", version="4", note="cracks", pin="1234")
    assert refused.status_code == 403 and "Lakshmi has no PIN yet" in text(refused)
    assert ledger.piece("PC-1").stage == "casting"
    ledger.set_pin("OP-SUP2", "13579")
    kiosk.scan("OP-SUP2")
    done = kiosk.post("/pieces/PC-1/moves", to="scrapped", version="4", note="cracks", pin="13579")
    assert ledger.piece("PC-1").stage == "scrapped" and "casting → scrapped" in text(done)


def test_pin_an_artisan_scraps_with_the_badge_alone_and_the_api_asks_no_pin(app: Flask, ledger: Ledger) -> None:
    artisan = badged(app, "OP-ART")
    assert "casting → scrapped" in text(artisan.post("/pieces/PC-1/moves", to="scrapped", version="4", note="cracks"))
    moved = app.test_client().post("/api/pieces/PC-2/moves", headers=AUTH,
                                   json={"to": "scrapped", "operator": "OP-SUP", "note": "cracks"})
    assert moved.status_code == 201


def test_pin_hash_is_salted_scrypt_and_only_4_to_8_digits() -> None:
    first, second = hash_pin("2468"), hash_pin("2468")
    assert first != second and first.startswith("scrypt$") and "2468" not in first
    assert pin_matches("2468", first) and not pin_matches("2469", first) and not pin_matches("2468", None)
    for bad in ("123", "123456789", "12a4", "١٢٣٤"):  # Arabic-Indic digits are digits, not ours
        with pytest.raises(ValueError, match="4 to 8 digits"):
            hash_pin(bad)


def test_cli_operators_pin_from_a_file_stdin_and_set_pin(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    config = station_file(tmp_path, station(tmp_path, kiosk={}))
    pin_file = tmp_path / "pin"
    pin_file.write_text("4321\n")
    assert main(["operators", "add", "OP-0001", "--name", "Priya", "--role", "supervisor", "--pin-file",
                 str(pin_file), "--config", str(config)]) == 0
    assert "added OP-0001 (Priya, supervisor) with a PIN" in capsys.readouterr().out
    assert main(["operators", "add", "OP-0002", "--name", "Dev", "--role", "supervisor", "--config", str(config)]) == 0
    assert "need a PIN: benchpin operators set-pin OP-0002" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("97531\n"))
    assert main(["operators", "set-pin", "OP-0002", "--config", str(config)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("12\n"))
    assert main(["operators", "set-pin", "OP-0002", "--config", str(config)]) == 1
    assert "a PIN is 4 to 8 digits" in capsys.readouterr().err
    assert main(["operators", "set-pin", "OP-0404", "--pin-file", str(pin_file), "--config", str(config)]) == 1
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        assert ledger.check_pin("OP-0001", "4321") and ledger.check_pin("OP-0002", "97531")


# ---------------------------------------------------------------------------- 7. text limits

def test_limits_a_note_over_500_characters_is_refused_on_the_screen_and_by_the_api(app: Flask,
                                                                                  ledger: Ledger) -> None:
    artisan = badged(app, "OP-ART")
    long = artisan.post("/pieces/PC-1/moves", to="scrapped", version="4", other_note="x" * 501)
    assert long.status_code == 400
    assert "Not moved: the note is 501 characters long; the most is 500. Shorten it and try again." \
        in messages(text(long))
    assert ledger.piece("PC-1").stage == "casting"
    client = app.test_client()
    refused = client.post("/api/pieces/PC-2/moves", headers=AUTH,
                          json={"to": "filing", "operator": "OP-ART", "note": "y" * 501})
    assert refused.status_code == 400 and error(refused) == "note: at most 500 characters (got 501)"
    for key in ("to", "operator", "from"):
        body = {"to": "filing", "operator": "OP-ART", key: "z" * 65}
        assert client.post("/api/pieces/PC-2/moves", headers=AUTH, json=body).status_code == 400, key
    assert client.post("/api/pieces/PC-2/moves", headers=AUTH,
                       json={"to": "filing", "operator": "OP-ART", "note": "y" * 500}).status_code == 201
    assert ledger.history("PC-2")[-1].note == "y" * 500  # kept whole, never cut


def test_limits_the_ledger_refuses_long_notes_and_names(ledger: Ledger) -> None:
    from kiosk.ledger import MoveRefused

    with pytest.raises(MoveRefused, match="the note is 501 characters long; the most is 500"):
        ledger.move("PC-1", "scrapped", operator="OP-ART", station="casting", note="n" * 501)
    with pytest.raises(ValueError, match="at most 80 printable characters"):
        ledger.add_operator("OP-LONG", "N" * 81, "qc")
    with pytest.raises(ValueError, match="at most 80 printable characters"):
        ledger.add_operator("OP-LINE", "Asha\nRao", "qc")
    assert ledger.add_operator("OP-80", "N" * 80, "qc").name == "N" * 80


def test_limits_each_csv_column_has_its_own_limit() -> None:
    workflow = load_workflow(DEFAULT_ROUTES_FILE)
    header = "piece_id,route,style,order_id,ring_size,stone_type\n"
    fine = f"PC-1,production,{'s' * 120},{'o' * 40},{'r' * 10},{'t' * 60}\n"
    assert len(parse_pieces_csv((header + fine).encode(), workflow)) == 1
    too_long = f"PC-1,production,{'s' * 121},{'o' * 41},{'r' * 11},{'t' * 61}\n"
    with pytest.raises(ImportRejected) as caught:
        parse_pieces_csv((header + too_long).encode(), workflow)
    assert caught.value.problems == ["line 2: style: at most 120 characters (this one has 121)",
                                     "line 2: order_id: at most 40 characters (this one has 41)",
                                     "line 2: ring_size: at most 10 characters (this one has 11)",
                                     "line 2: stone_type: at most 60 characters (this one has 61)"]


def test_sessions_a_touch_moves_last_seen_but_a_burst_writes_once(ledger: Ledger) -> None:
    session_id = ledger.start_session("OP-ART", now=1000.0)
    for now in (1000.5, 1001.0, 1001.9):
        assert ledger.check_session(session_id, now=now, idle_s=300).state == "open"

    def last_seen() -> float:
        with ledger.db.connect() as conn:
            row = conn.row("SELECT last_seen FROM sessions")
        assert row is not None
        return float(row[0])

    assert last_seen() == 1000.0
    assert ledger.check_session(session_id, now=1250.0, idle_s=300).state == "open" and last_seen() == 1250.0
    assert ledger.check_session(session_id, now=1500.0, idle_s=300).state == "open"  # 250 s after the touch
    assert ledger.check_session(session_id, now=1801.0, idle_s=300).state == "idle"
    assert ledger.check_session(session_id, now=1802.0, idle_s=300).state == "ended"
    assert ledger.check_session("never-issued", now=1802.0, idle_s=300).state == "unknown"
