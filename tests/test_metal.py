"""Metal accounting on SQLite and PostgreSQL: weights with moves, loss per stage, the loss report."""

from __future__ import annotations

import re

import pytest

from benchpin.topics import utc_ts
from kiosk.ledger import Ledger, MoveRefused
from tests.kiosk_support import spec

START, END = "2000-01-01T00:00:00.000Z", "2100-01-01T00:00:00.000Z"


def at_casting(ledger: Ledger, piece_id: str, metal: str) -> None:
    ledger.import_pieces([spec(piece_id, metal=metal)])
    for _ in range(4):  # design → cad → mold → wax_tree → casting
        ledger.advance(piece_id, operator="OP-SUP", station="setup")


def test_metal_loss_at_filing_from_the_weights_in_and_out_flagged_outside_its_range(ledger: Ledger) -> None:
    at_casting(ledger, "PC-1", "silver_925")
    at_casting(ledger, "PC-2", "gold_18ct")
    ledger.advance("PC-1", operator="OP-ART", station="casting", weight_g=10.0)  # into filing: 10 g
    ledger.advance("PC-2", operator="OP-ART", station="casting", weight_g=8.0)
    ledger.advance("PC-1", operator="OP-ART", station="filing", weight_g=9.8)  # out: 0.2 g = 2 %, expected
    with pytest.raises(MoveRefused, match=r"PC-2 lost 0.800 g \(10.00 %\) at filing, outside the expected "
                                          r"0.5–3 %: say why in the note"):
        ledger.advance("PC-2", operator="OP-ART", station="filing", weight_g=7.2)
    assert ledger.piece("PC-2").stage == "filing"  # refused: nothing recorded
    ledger.advance("PC-2", operator="OP-ART", station="filing", weight_g=7.2, note="sprue cut off here")
    one, two = ledger.weights("PC-1"), ledger.weights("PC-2")
    assert [(w["from"], w["to"], w["grams"], w["loss_g"]) for w in one] == [
        ("casting", "filing", 10.0, None), ("filing", "decoration", 9.8, pytest.approx(0.2))]
    assert one[1]["fine_g"] == pytest.approx(9.8 * 0.925, abs=1e-4) and not one[1]["flagged"]
    assert two[1]["flagged"] and two[1]["reason"] == "sprue cut off here"
    assert two[1]["loss_fine_g"] == pytest.approx(0.8 * 0.75, abs=1e-4)
    # Totals by hand: filing took 18 g in, gave 17 g out, lost 1 g (0.185 + 0.6 fine g).
    [filing] = ledger.metal_loss(START, END, by="stage")
    assert (filing["stage"], filing["in_g"], filing["out_g"], filing["loss_g"]) == ("filing", 18.0, 17.0, 1.0)
    assert filing["loss_fine_g"] == pytest.approx(0.2 * 0.925 + 0.8 * 0.75, abs=1e-3)
    assert (filing["weighings"], filing["flagged"], filing["loss_pct"]) == (2, 1, pytest.approx(5.56, abs=0.01))
    by_metal = {r["metal"]: r for r in ledger.metal_loss(START, END, by="metal")}
    assert by_metal["gold_18ct"]["loss_g"] == pytest.approx(0.8) and by_metal["silver_925"]["loss_g"] == pytest.approx(0.2)
    [artisan] = ledger.metal_loss(START, END, by="operator")
    assert artisan["operator"] == "OP-ART" and artisan["loss_g"] == pytest.approx(1.0)
    assert ledger.metal_loss(START, "2001-01-01T00:00:00.000Z") == []
    with pytest.raises(MoveRefused, match="by must be one of stage, operator, metal"):
        ledger.metal_loss(START, END, by="colour")


def test_metal_weight_must_be_a_sensible_number_of_grams(ledger: Ledger) -> None:
    at_casting(ledger, "PC-1", "silver_925")
    for bad in (0, -1.5, 250_000, True, "12"):
        with pytest.raises(MoveRefused, match="weight_g must be"):
            ledger.advance("PC-1", operator="OP-ART", station="casting", weight_g=bad)  # type: ignore[arg-type]
    assert ledger.piece("PC-1").stage == "casting" and ledger.weights("PC-1") == []
    ledger.advance("PC-1", operator="OP-SUP", station="casting", weight_g=12.5, weight_manual=True)
    assert ledger.weights("PC-1")[0]["manual"] is True and ledger.weights("PC-1")[0]["ts"] <= utc_ts()


@pytest.fixture
def bench(tmp_path):  # type: ignore[no-untyped-def]
    """A casting and filing kiosk with the bench scale bench-1/balance-1."""
    from kiosk.app import close_app, create_app
    from kiosk.state import get_ledger
    from tests.kiosk_ui_support import SECRET, seed, ui_config

    app = create_app(ui_config(tmp_path, station="casting, filing", scale="bench-1/balance-1"),
                     {"TESTING": True, "KIOSK_EVENTS": False, "KIOSK_LIVE": False, "SECRET_KEY": SECRET})
    with app.app_context():
        seed(get_ledger())
    yield app
    close_app(app)


def reading(app, grams: float | None, stable: bool, fault: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """A weight message from the scale, handed to the kiosk's live feed as paho would."""
    import json

    from kiosk.ui.state import ui_state

    payload = json.dumps({"ts": utc_ts(), "seq": 1, "grams": grams, "stable": stable, "fault": fault}).encode()
    with app.test_request_context():
        ui_state().live.on_weight("benchpin/jaipur/bench-1/scale/balance-1/weight", payload)


def test_kiosk_records_a_stable_weight_at_a_weighed_stage_and_refuses_an_unstable_one(bench) -> None:  # type: ignore[no-untyped-def]
    from kiosk.state import get_ledger
    from tests.kiosk_ui_support import Kiosk

    kiosk = Kiosk(bench)
    kiosk.scan("OP-ART")
    page = kiosk.get("/pieces/PC-1").get_data(as_text=True)
    assert 'id="weigh"' in page and "waiting for the scale" in page and "(weighs it)" in page
    refused = kiosk.post("/pieces/PC-1/moves", version="4")
    assert refused.status_code == 409 and "the scale has no stable weight yet" in refused.get_data(as_text=True)
    reading(bench, 10.512, stable=False)
    assert "settling…" in kiosk.get("/pieces/PC-1").get_data(as_text=True)
    assert kiosk.post("/pieces/PC-1/moves", version="4").status_code == 409
    reading(bench, None, stable=False, fault="overload")
    assert kiosk.post("/pieces/PC-1/moves", version="4").status_code == 409
    reading(bench, 10.5, stable=True)
    moved = kiosk.post("/pieces/PC-1/moves", version="4")
    assert "PC-1: casting → filing at 10.5 g." in moved.get_data(as_text=True)
    reading(bench, 10.32, stable=True)  # filed: 0.18 g of dust (1.7 %)
    kiosk.post("/pieces/PC-1/moves", version="5")
    with bench.app_context():
        weights = get_ledger().weights("PC-1")
    assert [(w["from"], w["grams"], w["manual"]) for w in weights] == [("casting", 10.5, False), ("filing", 10.32, False)]
    assert weights[1]["loss_g"] == pytest.approx(0.18) and not weights[1]["flagged"]


def test_kiosk_metal_loss_screen_totals_by_stage_operator_and_metal_for_a_supervisor(bench) -> None:  # type: ignore[no-untyped-def]
    from kiosk.state import get_ledger
    from tests.kiosk_ui_support import Kiosk

    with bench.app_context():
        ledger = get_ledger()
        for piece_id, grams_in, grams_out in (("PC-1", 10.0, 9.8), ("PC-2", 8.0, 7.9)):
            ledger.advance(piece_id, operator="OP-ART", station="casting", weight_g=grams_in)
            ledger.advance(piece_id, operator="OP-ART", station="filing", weight_g=grams_out)
    kiosk = Kiosk(bench)
    kiosk.scan("OP-ART")
    assert kiosk.get("/reports/metal").status_code == 403
    kiosk.scan("OP-SUP")
    page = kiosk.get("/reports/metal").get_data(as_text=True)
    assert '<tr data-key="filing" class="">' in page
    # By hand: 0.2 g of 925 silver and 0.1 g of vermeil (gold-plated 925 silver: its base counts).
    total = re.search(r'id="metal-total-fine">([0-9.]+) g<', page)
    assert total and float(total.group(1)) == pytest.approx(0.2 * 0.925 + 0.1 * 0.925, abs=0.001)
    by_metal = kiosk.get("/reports/metal?by=metal").get_data(as_text=True)
    assert '<tr data-key="silver_925"' in by_metal and '<tr data-key="vermeil_18ct"' in by_metal
    csv = kiosk.get("/reports/metal?by=operator&format=csv").get_data(as_text=True).splitlines()
    assert csv[1].startswith("OP-ART,18.0,17.7,0.3,")
    assert kiosk.get("/reports/metal?by=colour").status_code == 400


def test_metal_returned_to_refining_is_recorded_as_lots_with_fine_grams(ledger: Ledger) -> None:
    ledger.import_pieces([spec("PC-1", metal="silver_925")])
    lot = ledger.add_refining_lot(metal="gold_18ct", source="filings", grams=4.0, operator="OP-SUP",
                                  station="casting", note="a week of filing dust")
    assert lot["lot_id"].startswith("RL-") and lot["fine_g"] == pytest.approx(3.0)
    ledger.add_refining_lot(metal="silver_925", source="scrap", grams=12.5, operator="OP-SUP", station="casting",
                            pieces=["PC-1"])
    lots = ledger.refining_lots(START, END)
    assert [(x["metal"], x["source"], x["grams"], x["pieces"]) for x in lots] == [
        ("gold_18ct", "filings", 4.0, []), ("silver_925", "scrap", 12.5, ["PC-1"])]
    with pytest.raises(MoveRefused, match="unknown metal 'unobtainium'"):
        ledger.add_refining_lot(metal="unobtainium", source="scrap", grams=1.0, operator="OP-SUP", station="x")
    with pytest.raises(MoveRefused, match="source must be one of"):
        ledger.add_refining_lot(metal="silver_925", source="theft", grams=1.0, operator="OP-SUP", station="x")
    with pytest.raises(MoveRefused, match="weight_g must be more than 0"):
        ledger.add_refining_lot(metal="silver_925", source="scrap", grams=0.0, operator="OP-SUP", station="x")


def test_kiosk_a_supervisor_sends_metal_to_refining_from_the_loss_screen(bench) -> None:  # type: ignore[no-untyped-def]
    from kiosk.state import get_ledger
    from tests.kiosk_support import SUPERVISOR_PIN
    from tests.kiosk_ui_support import Kiosk

    kiosk = Kiosk(bench, pin=SUPERVISOR_PIN)
    kiosk.scan("OP-SUP")
    sent = kiosk.post("/reports/metal/refining", metal="silver_925", source="sprues", grams="25,5", note="tree TR-1")
    page = sent.get_data(as_text=True)
    assert "of 925 silver (sprues)." in page and "tree TR-1" in page
    with bench.app_context():
        [lot] = get_ledger().refining_lots(START, END)
    assert lot["grams"] == 25.5 and lot["operator"] == "OP-SUP"
    assert kiosk.post("/reports/metal/refining", metal="silver_925", source="sprues", grams="lots").status_code == 400
    kiosk.scan("OP-ART")
    assert kiosk.post("/reports/metal/refining", metal="silver_925", source="scrap", grams="1").status_code == 403


def test_metal_a_tree_s_casting_yield_from_metal_issued_pieces_sprues_and_scrap(ledger: Ledger) -> None:
    ledger.import_pieces([spec(f"PC-T{i}", metal="silver_925", tree_id="TR-1") for i in range(2)])
    for stage in ("cad", "mold", "wax_tree", "casting"):  # the tree moves as one
        ledger.move_tree("TR-1", stage, operator="OP-SUP", station="setup")
    assert ledger.casting("TR-1")["yield_pct"] is None  # nothing weighed yet
    ledger.weigh_tree("TR-1", "wax", 3.0, operator="OP-ART")
    ledger.weigh_tree("TR-1", "issued", 50.0, operator="OP-ART")
    ledger.advance("PC-T0", operator="OP-ART", station="casting", weight_g=10.0)
    ledger.advance("PC-T1", operator="OP-ART", station="casting", weight_g=12.0)
    ledger.weigh_tree("TR-1", "sprues", 24.0, operator="OP-ART")
    ledger.weigh_tree("TR-1", "sprues", 25.0, operator="OP-ART")  # weighed again: the last one counts
    ledger.weigh_tree("TR-1", "scrap", 1.5, operator="OP-ART", manual=True)
    cast = ledger.casting("TR-1")
    # By hand: 50 g issued; 22 g of pieces + 25 g sprues + 1.5 g scrap back: 1.5 g lost, 44 % yield.
    assert (cast["wax_g"], cast["issued_g"], cast["pieces_g"], cast["pieces_weighed"]) == (3.0, 50.0, 22.0, 2)
    assert (cast["sprues_g"], cast["scrap_g"], cast["loss_g"], cast["yield_pct"]) == (25.0, 1.5, 1.5, 44.0)
    with pytest.raises(MoveRefused, match="a tree weight is one of wax, issued, sprues, scrap"):
        ledger.weigh_tree("TR-1", "gold dust", 1.0, operator="OP-ART")


def test_kiosk_tree_weights_from_the_scale_or_typed_by_a_supervisor(bench) -> None:  # type: ignore[no-untyped-def]
    from kiosk.state import get_ledger
    from tests.kiosk_support import SUPERVISOR_PIN
    from tests.kiosk_ui_support import Kiosk

    kiosk = Kiosk(bench)
    kiosk.scan("OP-ART")
    page = kiosk.get("/trees/TR-1").get_data(as_text=True)
    assert 'id="casting"' in page and "Weigh on the scale" in page and "or type grams" not in page
    refused = kiosk.post("/trees/TR-1/weights", kind="issued", from_scale="1")
    assert refused.status_code == 409 and "no stable weight yet" in refused.get_data(as_text=True)
    reading(bench, 50.25, stable=True)
    assert "TR-1: metal issued 50.25 g." in kiosk.post("/trees/TR-1/weights", kind="issued", from_scale="1").get_data(as_text=True)
    typed = kiosk.post("/trees/TR-1/weights", kind="sprues", grams="20")
    assert typed.status_code == 409 and "only a supervisor may type a weight in" in typed.get_data(as_text=True)
    kiosk.scan("OP-SUP")
    kiosk.pin = SUPERVISOR_PIN
    assert "(typed in)" in kiosk.post("/trees/TR-1/weights", kind="sprues", grams="20,5").get_data(as_text=True)
    with bench.app_context():
        cast = get_ledger().casting("TR-1")
    assert (cast["issued_g"], cast["sprues_g"]) == (50.25, 20.5)


def test_kiosk_a_typed_weight_needs_a_supervisor_and_the_pin_and_is_marked_manual(bench) -> None:  # type: ignore[no-untyped-def]
    from kiosk.state import get_ledger
    from tests.kiosk_support import SUPERVISOR_PIN
    from tests.kiosk_ui_support import Kiosk

    kiosk = Kiosk(bench)
    kiosk.scan("OP-ART")
    assert "or type grams" not in kiosk.get("/pieces/PC-1").get_data(as_text=True)
    refused = kiosk.post("/pieces/PC-1/moves", version="4", manual_weight="10.4")
    assert refused.status_code == 409 and "only a supervisor may type a weight in" in refused.get_data(as_text=True)
    kiosk.scan("OP-SUP")
    assert "or type grams" in kiosk.get("/pieces/PC-1").get_data(as_text=True)
    asked = kiosk.post("/pieces/PC-1/moves", version="4", manual_weight="10.4")
    assert "Typed weight 10.4 g for PC-1" in asked.get_data(as_text=True)  # the PIN pad, nothing moved yet
    with bench.app_context():
        assert get_ledger().piece("PC-1").stage == "casting"
    kiosk.pin = SUPERVISOR_PIN
    moved = kiosk.post("/pieces/PC-1/moves", version="4", manual_weight="10,4")
    assert "PC-1: casting → filing at 10.4 g (typed in)." in moved.get_data(as_text=True)
    with bench.app_context():
        [weight] = get_ledger().weights("PC-1")
    assert weight["grams"] == 10.4 and weight["manual"] is True and weight["operator"] == "OP-SUP"
    assert '<span class="weighed">10.400 g typed</span>' in moved.get_data(as_text=True)  # in the history


def test_metal_the_site_s_fineness_counts_when_the_metals_table_sets_it(ledger_url: str) -> None:
    from benchpin.config import parse_config
    from tests.kiosk_support import add_operators

    config = parse_config({"site": {"id": "x"}, "kiosk": {"station": "casting", "database": ledger_url},
                           "metals": {"silver_925": {"fineness": 0.958}}})  # Britannia-grade scrap, say
    assert config.kiosk is not None
    with Ledger.from_config(config.kiosk, config.metals) as ledger:
        add_operators(ledger)
        at_casting(ledger, "PC-1", "silver_925")
        ledger.advance("PC-1", operator="OP-ART", station="casting", weight_g=10.0)
        ledger.advance("PC-1", operator="OP-ART", station="filing", weight_g=9.9)
        assert ledger.weights("PC-1")[1]["loss_fine_g"] == pytest.approx(0.1 * 0.958, abs=1e-4)
        lot = ledger.add_refining_lot(metal="silver_925", source="filings", grams=1.0, operator="OP-SUP", station="x")
        assert lot["fine_g"] == pytest.approx(0.958)
