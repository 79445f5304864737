"""The kiosk JSON API through Flask's test client: auth, 201/409/404/400, trees, health."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from benchpin.config import ConfigError, parse_config
from kiosk.app import close_app, create_app
from kiosk.state import get_ledger
from kiosk.ledger import Ledger
from tests.kiosk_support import add_operators, spec
from tests.stations import station_config

TOKEN = "s3cret-token-for-tests-0123456789"


def kiosk_config(tmp_path: Path, database: str = "", **kiosk: object):  # type: ignore[no-untyped-def]
    token_file = tmp_path / "api-token"
    token_file.write_text(TOKEN + "\n")
    database = {"database": database} if database else {}
    return station_config(tmp_path, kiosk={"station": "qc", "api_token_file": str(token_file),
                                           "outbox_file": str(tmp_path / "outbox.sqlite"), **database, **kiosk})


@pytest.fixture
def app(tmp_path: Path, ledger_url: str) -> Iterator[Flask]:
    """The kiosk app over a SQLite ledger, then over PostgreSQL."""
    app = create_app(kiosk_config(tmp_path, ledger_url), {"TESTING": True, "KIOSK_EVENTS": False})
    with app.app_context():
        ledger: Ledger = get_ledger()
        add_operators(ledger)
        ledger.import_pieces([spec("PC-1", metal="silver_925", ring_size="N", tree_id="TR-1"),
                              spec("PC-2", tree_id="TR-1")])
    yield app
    close_app(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_api_refuses_calls_without_the_right_token(client: FlaskClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = client.get("/api/pieces/PC-1", headers=headers)
        assert response.status_code == 401 and "bearer token" in response.json["error"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/api/pieces/PC-1/moves", json={"to": "cad", "operator": "OP-SUP"}).status_code == 401


def test_api_healthz_needs_no_token(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"ok": True}


def test_api_get_piece_returns_stage_attributes_and_history(client: FlaskClient) -> None:
    body = client.get("/api/pieces/PC-1", headers=AUTH).json
    assert (body["piece_id"], body["route"], body["stage"], body["metal"], body["ring_size"]) == (
        "PC-1", "production", "design", "silver_925", "N")
    assert [e["to"] for e in body["history"]] == ["design"]
    assert client.get("/api/pieces/PC-404", headers=AUTH).status_code == 404


def test_api_move_answers_201_with_the_event_then_409_with_why(client: FlaskClient) -> None:
    response = client.post("/api/pieces/PC-1/moves", headers=AUTH,
                           json={"to": "cad", "operator": "OP-ART", "note": "CAD approved"})
    assert response.status_code == 201
    event = response.json
    assert (event["piece_id"], event["from"], event["to"], event["operator"], event["station"], event["note"]) == (
        "PC-1", "design", "cad", "OP-ART", "qc", "CAD approved")
    assert set(event) >= {"event_id", "piece_id", "from", "to", "station", "operator", "ts", "note"}
    again = client.post("/api/pieces/PC-1/moves", headers=AUTH,
                        json={"to": "cad", "operator": "OP-SUP", "from": "design"})
    assert again.status_code == 409 and "already moved to cad by OP-ART" in again.json["error"]
    role = client.post("/api/pieces/PC-1/moves", headers=AUTH, json={"to": "mold", "operator": "OP-QC"})
    assert role.status_code == 409 and "role qc may not advance" in role.json["error"]
    stage = client.post("/api/pieces/PC-1/moves", headers=AUTH, json={"to": "qc", "operator": "OP-SUP"})
    assert stage.status_code == 409 and "cannot go to qc" in stage.json["error"]
    history = client.get("/api/pieces/PC-1", headers=AUTH).json["history"]
    assert [e["to"] for e in history] == ["design", "cad"]


def test_api_move_answers_404_and_400(client: FlaskClient) -> None:
    missing = client.post("/api/pieces/PC-404/moves", headers=AUTH, json={"to": "cad", "operator": "OP-SUP"})
    assert missing.status_code == 404 and "PC-404" in missing.json["error"]
    for body, problem in (({"operator": "OP-SUP"}, "to: is required"),
                          ({"to": "cad", "operator": 7}, "operator: must be a string"),
                          ({"to": "cad", "operator": "OP-SUP", "colour": "red"}, "colour: unknown field"),
                          ({"to": "cad", "operator": "OP-SUP", "version": "1"}, "version: must be an integer"),
                          ({"to": "cad", "operator": "OP-SUP", "note": "nul\x00"}, "note: contains a control"),
                          ({"to": "cad\n", "operator": "OP-SUP"}, "to: contains a control character"),
                          ([1, 2], "must be a JSON object")):
        response = client.post("/api/pieces/PC-1/moves", headers=AUTH, json=body)
        assert response.status_code == 400 and problem in response.json["error"], body
    assert client.get("/api/pieces/PC-1%00", headers=AUTH).status_code == 404
    assert client.post("/api/pieces/PC%0A1/moves", headers=AUTH, json={"to": "cad", "operator": "OP-SUP"}).status_code == 404
    raw = client.post("/api/pieces/PC-1/moves", headers={**AUTH, "Content-Type": "application/json"},
                      data=b"{not json")
    assert raw.status_code == 400


def test_api_get_tree_lists_its_pieces(client: FlaskClient) -> None:
    body = client.get("/api/trees/TR-1", headers=AUTH).json
    assert body["tree_id"] == "TR-1" and [p["piece_id"] for p in body["pieces"]] == ["PC-1", "PC-2"]
    assert client.get("/api/trees/TR-404", headers=AUTH).status_code == 404


def test_api_is_off_without_a_token_file_and_refuses_a_short_token(tmp_path: Path) -> None:
    app = create_app(kiosk_config(tmp_path, api_token_file=""), {"KIOSK_EVENTS": False})
    response = app.test_client().get("/api/pieces/PC-1", headers={"Authorization": "Bearer "})
    assert response.status_code == 401 and "api_token_file" in response.json["error"]
    close_app(app)
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(ConfigError, match="shorter than 16"):
        create_app(kiosk_config(tmp_path, api_token_file=str(short)), {"KIOSK_EVENTS": False})


def test_api_answers_503_when_the_ledger_is_gone(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        get_ledger().close()
    assert client.get("/healthz").status_code == 503
    response = client.get("/api/pieces/PC-1", headers=AUTH)
    assert response.status_code == 503 and "unavailable" in response.json["error"]


def test_api_a_move_out_of_engraving_needs_a_done_job_or_a_supervisor_override(client: FlaskClient,
                                                                               app: Flask) -> None:
    with app.app_context():
        ledger = get_ledger()
        while ledger.piece("PC-1").stage != "engraving":
            ledger.advance("PC-1", operator="OP-SUP", station="setup")
        job_id = ledger.history("PC-1")[-1].event_id
        ledger.record_job(job_id, "rejected", detail="serial already engraved")
    body = client.get("/api/pieces/PC-1", headers=AUTH).json
    assert body["laser_job"]["job_id"] == job_id and body["laser_job"]["state"] == "rejected"
    refused = client.post("/api/pieces/PC-1/moves", headers=AUTH, json={"to": "qc", "operator": "OP-ENG"})
    assert refused.status_code == 409 and "not engraved yet" in refused.json["error"]
    not_super = client.post("/api/pieces/PC-1/moves", headers=AUTH,
                            json={"to": "qc", "operator": "OP-ENG", "override": True, "note": "fine"})
    assert not_super.status_code == 409 and "only a supervisor" in not_super.json["error"]
    no_note = client.post("/api/pieces/PC-1/moves", headers=AUTH,
                          json={"to": "qc", "operator": "OP-SUP", "override": True})
    assert no_note.status_code == 409 and "needs a reason" in no_note.json["error"]
    assert client.post("/api/pieces/PC-1/moves", headers=AUTH,
                       json={"to": "qc", "operator": "OP-SUP", "override": "yes"}).status_code == 400
    laser = client.post("/api/pieces/PC-1/moves", headers=AUTH, json={"to": "qc", "operator": "laser"})
    assert laser.status_code == 400 and "a person's badge" in laser.json["error"]
    moved = client.post("/api/pieces/PC-1/moves", headers=AUTH,
                        json={"to": "qc", "operator": "OP-SUP", "override": True, "note": "engraved by hand"})
    assert moved.status_code == 201 and moved.json["override"] is True
    history = client.get("/api/pieces/PC-1", headers=AUTH).json["history"]
    assert history[-1]["override"] is True and not any(e.get("override") for e in history[:-1])


def test_api_time_report_as_json_and_csv_over_a_period(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        ledger = get_ledger()
        ledger.work("PC-1", "start", operator="OP-ART", station="qc")
        ledger.work("PC-1", "done", operator="OP-ART", station="qc")
        ledger.advance("PC-1", operator="OP-ART", station="qc")  # design → cad: one stay ended, timed
        ledger.advance("PC-2", operator="OP-ART", station="qc")  # untimed: its dwell counts
    answer = client.get("/api/reports/time", headers=AUTH)
    assert answer.status_code == 200
    body = answer.json
    assert set(body) == {"from", "to", "rows"} and body["from"] < body["to"]
    [row] = body["rows"]
    assert (row["stage"], row["operator"], row["name"], row["stays"]) == ("design", "OP-ART", "Artisan One", 2)
    assert set(row) == {"stage", "operator", "name", "stays", "work_median_s", "work_p90_s", "dwell_median_s",
                        "dwell_p90_s"}
    csv = client.get("/api/reports/time?format=csv&from=2020-01-01", headers=AUTH)
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0] == "stage,operator,name,stays,work_median_s,work_p90_s,dwell_median_s,dwell_p90_s"
    assert lines[1].startswith("design,OP-ART,Artisan One,2,")
    assert "attachment" in csv.headers["Content-Disposition"]
    empty = client.get("/api/reports/time?from=2020-01-01&to=2020-01-31", headers=AUTH)
    assert empty.status_code == 200 and empty.json["rows"] == []
    bad = client.get("/api/reports/time?from=yesterday", headers=AUTH)
    assert bad.status_code == 400 and "'from' must be a date (2026-12-01)" in bad.json["error"]
    backwards = client.get("/api/reports/time?from=2026-12-05&to=2026-12-01", headers=AUTH)
    assert backwards.status_code == 400 and "must be after" in backwards.json["error"]
    assert client.get("/api/reports/time").status_code == 401


def test_api_moves_carry_weights_the_piece_lists_them_and_the_loss_report_sums_them(
        app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        ledger = get_ledger()
        for _ in range(4):  # PC-1 (925 silver): design → … → casting
            ledger.advance("PC-1", operator="OP-SUP", station="setup")
    assert client.post("/api/pieces/PC-1/moves", json={"to": "filing", "operator": "OP-ART", "weight_g": 10},
                       headers=AUTH).status_code == 201
    out = client.post("/api/pieces/PC-1/moves", json={"to": "decoration", "operator": "OP-ART", "weight_g": 9.75},
                      headers=AUTH)
    assert out.status_code == 201
    for bad, why in ((0, "more than 0"), ("9 g", "a number (grams)"), (True, "a number (grams)")):
        refused = client.post("/api/pieces/PC-1/moves", json={"to": "plating", "operator": "OP-ART", "weight_g": bad},
                              headers=AUTH)
        assert refused.status_code == 400 and why in refused.json["error"], refused.json
    weights = client.get("/api/pieces/PC-1", headers=AUTH).json["weights"]
    assert [(w["from"], w["to"], w["grams"]) for w in weights] == [("casting", "filing", 10), ("filing", "decoration", 9.75)]
    assert weights[1]["loss_g"] == pytest.approx(0.25) and weights[1]["flagged"] is False
    loss = client.get("/api/metal/loss?by=stage", headers=AUTH).json
    assert loss["by"] == "stage"
    assert loss["rows"] == [{"key": "filing", "stage": "filing", "in_g": 10.0, "out_g": 9.75, "loss_g": 0.25,
                             "loss_fine_g": pytest.approx(0.231, abs=1e-3), "loss_pct": 2.5, "weighings": 1,
                             "flagged": 0}]
    csv = client.get("/api/metal/loss?by=metal&format=csv", headers=AUTH).get_data(as_text=True).splitlines()
    assert csv[0] == "key,in_g,out_g,loss_g,loss_fine_g,loss_pct,weighings,flagged"
    assert csv[1].startswith("silver_925,10.0,9.75,0.25,")
    assert client.get("/api/metal/loss?by=colour", headers=AUTH).status_code == 400


def test_api_refining_lots_over_a_period_with_totals(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        get_ledger().add_refining_lot(metal="gold_18ct", source="scrap", grams=2.0, operator="OP-SUP", station="qc")
    body = client.get("/api/metal/refining", headers=AUTH).json
    assert [lot["source"] for lot in body["lots"]] == ["scrap"]
    assert (body["total_g"], body["total_fine_g"]) == (2.0, 1.5)
    assert client.get("/api/metal/refining?from=2020-01-01&to=2020-02-01", headers=AUTH).json["lots"] == []


def test_api_probe_readings_series_with_a_step_and_its_bounds(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        get_ledger().store_readings([("casting-1", "furnace-1", seq, f"2026-12-03T08:00:{seq:02d}.000Z",
                                      1000.0 + seq, "") for seq in range(0, 60)])
    url = "/api/probes/casting-1/furnace-1/readings?from=2026-12-03T08:00:00Z&to=2026-12-03T08:01:00Z"
    body = client.get(url + "&step=30", headers=AUTH).json
    assert body["points"] == [["2026-12-03T08:00:00.000Z", 1000.0, 1014.5, 1029.0],
                              ["2026-12-03T08:00:30.000Z", 1030.0, 1044.5, 1059.0]]
    assert len(client.get(url, headers=AUTH).json["points"]) == 60  # default step: 1 s here
    assert client.get(url + "&step=fast", headers=AUTH).status_code == 400
    many = client.get("/api/probes/casting-1/furnace-1/readings?from=2026-01-01&to=2026-12-01&step=1", headers=AUTH)
    assert many.status_code == 400 and "at most 5000 points" in many.json["error"]


def test_api_passport_holds_every_event_in_order(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        ledger = get_ledger()
        ledger.advance("PC-1", operator="OP-ART", station="qc")
        events = [e.event_id for e in ledger.history("PC-1")]
    body = client.get("/api/pieces/PC-1/passport", headers=AUTH).json
    assert [s["event_id"] for s in body["history"]] == events
    assert body["piece"]["piece_id"] == "PC-1" and body["engraving"] is None and body["pour"] is None
    assert client.get("/api/pieces/PC-404/passport", headers=AUTH).status_code == 404
