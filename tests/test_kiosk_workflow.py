"""Routes as data: the packaged routes, and a broken workflow file named key by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchpin.config import DEFAULT_MATERIALS, ConfigError, parse_config
from benchpin.contract import METALS
from kiosk.settings import kiosk_checks
from kiosk.ledger import PieceSpec, WorkflowError, load_workflow
from kiosk.routes import DEFAULT_ROUTES_FILE


def test_workflow_default_routes_follow_the_seeds() -> None:
    workflow = load_workflow(DEFAULT_ROUTES_FILE)
    production, bespoke = workflow.route("production"), workflow.route("bespoke")
    assert [s.name for s in production.stages][:5] == ["design", "cad", "mold", "wax_tree", "casting"]
    assert production.stage("enamel").only_if == "enamel" and production.engraving == "engraving"
    qc = production.stage("qc").rework
    assert qc is not None and "loose stone" in qc.all_reasons()
    # Each reason leads only to the stages that mend it (the rework screen asks the reason first).
    assert qc.targets_for("engraving illegible") == ("engraving",)
    assert qc.targets_for("scratches") == ("filing", "plating")
    assert qc.targets_for("a reason of the operator's own") == qc.to
    assert set(bespoke.stage("casting_inspection").rework.reasons) >= {"pits", "porosity"}  # type: ignore[union-attr]
    plain = PieceSpec("PC-1", "production")
    assert production.next_stage("plating", plain) == "engraving"
    assert production.next_stage("plating", PieceSpec("PC-2", "production", enamel=True)) == "enamel"
    assert {"silver_925", "vermeil_18ct", "gold_plated_brass"} <= set(workflow.metals)


BROKEN = """
[materials]
metals = []

[tiny]
engraving = "laser"
[[tiny.stages]]
name = "start"
advance = ["wizard"]
[tiny.stages.rework]
to = ["later"]
roles = ["qc"]
[[tiny.stages]]
name = "start"
advance = ["qc"]
colour = "red"
"""


def test_workflow_loader_names_every_problem_with_its_key_path(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(BROKEN)
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    problems = [p.split(": ", 1)[1] for p in caught.value.problems]
    assert "materials.metals: must not be empty" in problems
    assert "tiny.stages[0].advance: unknown 'wizard' (one of artisan, setter, qc, engraver, supervisor)" in problems
    assert "tiny.stages[1].colour: unknown key" in problems
    assert "tiny.stages[1].name: duplicate stage 'start'" in problems
    assert "tiny.stages[0].rework.to: 'later' is not a stage before 'start'" in problems
    assert "tiny.stages[1].advance: the last stage ends the route: no advance" in problems
    assert "tiny.engraving: 'laser' is not a stage of this route" in problems


def test_config_kiosk_checks_routes_file_serial_pattern_and_engraver(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(BROKEN)
    kiosk = {"station": "qc", "routes_file": str(path), "serial_pattern": "BP-{year}",
             "engraver": "laser-1", "database": "postgresql://db/ledger"}
    with pytest.raises(ConfigError) as caught:
        parse_config({"site": {"id": "jaipur"}, "kiosk": kiosk}, checks=(kiosk_checks,))
    text = "\n".join(caught.value.problems)
    assert "kiosk.serial_pattern: must contain {seq} or {piece_id}" in text
    assert "kiosk.routes_file: " in text and "tiny.stages[1].colour: unknown key" in text
    assert "kiosk.engraver: must be GATEWAY/ENGRAVER" in text
    assert "kiosk.outbox_file: is required with a PostgreSQL ledger" in text
    good = parse_config({"site": {"id": "jaipur"}, "kiosk": {"station": "engraving", "engraver": "casting-1/laser-1",
                                                             "serial_pattern": "JP-{seq:05d}"}},
                        checks=(kiosk_checks,))
    assert good.kiosk is not None and good.kiosk.engraver == "casting-1/laser-1"


def test_workflow_metals_default_to_the_contract_table_and_every_metal_has_laser_settings() -> None:
    workflow = load_workflow(DEFAULT_ROUTES_FILE)
    assert workflow.metals == tuple(METALS)
    assert set(DEFAULT_MATERIALS) == set(METALS)  # a laser job for any metal a piece may be made of


def test_workflow_rework_targets_must_be_rework_destinations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    routes = tmp_path / "routes.toml"
    routes.write_text('[r]\n[[r.stages]]\nname = "a"\nadvance = ["artisan"]\n[[r.stages]]\nname = "b"\n'
                      'advance = ["artisan"]\n[r.stages.rework]\nto = ["a"]\nroles = ["qc"]\n'
                      '[r.stages.rework.targets]\na = ["pits"]\nz = ["cracks"]\n[[r.stages]]\nname = "c"\n')
    with pytest.raises(WorkflowError, match=r"r.stages\[1\].rework.targets.z: 'z' is not one of rework.to \(a\)"):
        load_workflow(routes)
