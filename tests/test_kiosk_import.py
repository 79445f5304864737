"""Pieces CSV import and the operators commands: line-numbered errors, all rows or none."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from benchpin.cli import main
from kiosk.ledger import ImportRejected, Ledger, parse_pieces_csv
from tests.stations import station, station_file

GOOD = """piece_id,route,style,order_id,metal,ring_size,chain_length_cm,metal_colour,stone_type,stone_colour,stone_shape,enamel,tree_id
PC-0001,production,Molten Wave Stacking Ring,ORD-77,vermeil_18ct,N,,yellow,,,,no,TR-0001
PC-0002,production,Savi Droplet Pendant,ORD-77,silver_925,,45.5,,pearl,white,baroque,yes,TR-0001
PC-0003,bespoke,Emerald Band,ORD-78,gold_18ct,6.5,,,emerald,green,oval,,
"""

BAD = """route,piece_id,metal,enamel,chain_length_cm,tree_id
production,PC-0001,silver_925,no,,TR-1
production,PC-0002,brass_unknown,maybe,,
custom,PC-0003,,,-4,XX-9

production,PC-0001,,,,
production,,silver_925,,,
production,PC-0006
"""


def test_import_csv_reads_every_column(ledger: Ledger) -> None:
    assert ledger.import_pieces(parse_pieces_csv(GOOD.encode(), ledger.workflow)) == 3
    pendant = ledger.piece("PC-0002")
    assert (pendant.metal, pendant.chain_length_cm, pendant.stone_type, pendant.stone_shape, pendant.enamel,
            pendant.tree_id, pendant.order_id, pendant.stage) == (
        "silver_925", 45.5, "pearl", "baroque", True, "TR-0001", "ORD-77", "design")
    band = ledger.piece("PC-0003")
    assert (band.route, band.stage, band.ring_size, band.tree_id) == ("bespoke", "consultation", "6.5", "")
    assert [p.piece_id for p in ledger.tree("TR-0001").pieces] == ["PC-0001", "PC-0002"]
    assert ledger.history("PC-0001")[0].note == "imported (line 2)"


def test_import_csv_names_every_bad_row_by_line_and_column() -> None:
    from kiosk.ledger import load_workflow
    from kiosk.routes import DEFAULT_ROUTES_FILE

    with pytest.raises(ImportRejected) as caught:
        parse_pieces_csv(BAD.encode(), load_workflow(DEFAULT_ROUTES_FILE))
    problems = caught.value.problems
    assert problems[0].startswith("line 3: metal: must be one of silver_925")
    assert problems[1].startswith("line 3: enamel: must be yes or no")
    assert problems[2].startswith("line 4: route: must be one of production, bespoke (got 'custom')")
    assert problems[3].startswith("line 4: chain_length_cm: must be between 0 and 300")
    assert problems[4].startswith("line 4: tree_id: must look like TR-0001")
    assert problems[5] == "line 6: piece_id: PC-0001 is also on line 2"
    assert problems[6] == "line 7: piece_id: is required"
    assert problems[7] == "line 8: row: has 2 fields, the header has 6"
    assert len(problems) == 8


@pytest.mark.parametrize("header, problem", [
    ("piece_id,route,colour", "line 1: colour: unknown column"),
    ("piece_id,style", "line 1: route: required column missing"),
    ("piece_id,route,route", "line 1: route: column appears twice"),
])
def test_import_csv_checks_the_header(header: str, problem: str) -> None:
    from kiosk.ledger import load_workflow
    from kiosk.routes import DEFAULT_ROUTES_FILE

    with pytest.raises(ImportRejected, match=problem):
        parse_pieces_csv(f"{header}\nPC-1,production,x\n".encode(), load_workflow(DEFAULT_ROUTES_FILE))


def test_import_is_all_or_nothing_when_a_piece_exists(ledger: Ledger) -> None:
    ledger.import_pieces(parse_pieces_csv(b"piece_id,route\nPC-0002,production\n", ledger.workflow))
    with pytest.raises(ImportRejected) as caught:
        ledger.import_pieces(parse_pieces_csv(GOOD.encode(), ledger.workflow))
    assert caught.value.problems == ["line 3: piece_id: PC-0002 already exists in the ledger"]
    assert ledger.wip(["design", "consultation"]) == [ledger.piece("PC-0002")]
    with pytest.raises(Exception):
        ledger.tree("TR-0001")


def write_station(tmp_path: Path) -> Path:
    return station_file(tmp_path, station(tmp_path, kiosk={}))


def test_cli_pieces_import_prints_problems_and_imports_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_station(tmp_path)
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text(BAD)
    good.write_text(GOOD)
    assert main(["pieces", "import", str(bad), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "nothing imported; 8 problem(s)" in err and "  line 8: row: has 2 fields" in err
    assert main(["pieces", "import", str(good), "--config", str(config)]) == 0
    assert "imported 3 piece(s)" in capsys.readouterr().out
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as led:
        assert sorted(p.piece_id for p in led.wip(["design", "consultation"])) == ["PC-0001", "PC-0002", "PC-0003"]


def test_cli_operators_add_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_station(tmp_path)
    assert main(["operators", "add", "OP-0007", "--name", "Asha Rao", "--role", "qc", "--config", str(config)]) == 0
    assert main(["operators", "add", "OP-0002", "--name", "Ravi", "--role", "setter", "--config", str(config)]) == 0
    assert main(["operators", "add", "OP-0007", "--name", "Twice", "--role", "qc", "--config", str(config)]) == 1
    assert "OP-0007 already exists" in capsys.readouterr().err
    assert main(["operators", "list", "--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines() == ["OP-0002\tsetter\tRavi\t-", "OP-0007\tqc\tAsha Rao\t-"]
    with pytest.raises(SystemExit):
        main(["operators", "add", "OP-0008", "--name", "X", "--role", "wizard", "--config", str(config)])
    assert main(["operators", "add", "PC-0007", "--name", "Test", "--role", "qc", "--config", str(config)]) == 1
    assert "'PC-0007' cannot be a badge: it would scan as a PC- code" in capsys.readouterr().err
    assert main(["operators", "add", "OP-0009", "--name", " ", "--role", "qc", "--config", str(config)]) == 1
    assert "OP-0009 needs a name" in capsys.readouterr().err
    assert main(["operators", "list", "--config", str(config)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # neither was added


@given(st.binary(max_size=400) | st.text(alphabet="PC-TR,\n\"\r yesno0123456789.productionbespoke", max_size=300).map(str.encode))
@example(b"PC-1\x00,production,,\n")
@settings(max_examples=300, deadline=None)
def test_import_csv_fuzz_raises_only_import_rejected(data: bytes) -> None:
    from kiosk.ledger import load_workflow
    from kiosk.routes import DEFAULT_ROUTES_FILE

    workflow = _WORKFLOW.setdefault("w", load_workflow(DEFAULT_ROUTES_FILE))
    for body in (data, b"piece_id,route,enamel,chain_length_cm\n" + data):
        try:
            specs = parse_pieces_csv(body, workflow)
        except ImportRejected as exc:
            assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        else:
            assert specs
            assert all(s.piece_id.startswith("PC-") and s.piece_id.isprintable() and s.route in workflow.routes
                       for s in specs)


_WORKFLOW: dict = {}


def test_import_csv_checks_ids_against_the_site_barcode_rules() -> None:
    from firmware_bridge.barcodes import BarcodeRules, with_check_digit
    from kiosk.ledger import load_workflow
    from kiosk.routes import DEFAULT_ROUTES_FILE

    rules = BarcodeRules(check_digit="iso7064-mod37-36")
    good = with_check_digit("PC-2026-0042", rules)
    data = f"piece_id,route\n{good},production\nPC-2026-00430,production\n".encode()
    with pytest.raises(ImportRejected) as caught:
        parse_pieces_csv(data, load_workflow(DEFAULT_ROUTES_FILE), rules=rules)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("line 3: piece_id: PC-2026-00430 is not a valid barcode: check character")
