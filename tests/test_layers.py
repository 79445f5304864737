"""The floors of the house: arrows point down only.

``firmware_bridge`` (device protocols) imports nothing of benchpin; the shared floor in
``benchpin/`` imports neither ``gateway`` nor ``kiosk``; ``gateway`` and ``kiosk`` never
import each other (they talk only through MQTT). Only the command line and the demo, on top,
import both.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ("benchpin.config", "benchpin.tables", "benchpin.commands", "benchpin.contract", "benchpin.topics", "benchpin.outbox",
         "benchpin.mqtt", "benchpin.flag", "benchpin.sdnotify", "benchpin.broker",
         "benchpin.plant", "benchpin.plant_cli")
TOP = ("benchpin.cli", "benchpin.demo", "benchpin.demo_seed", "benchpin.__main__")


def modules(package: str) -> list[str]:
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def imported(module: str) -> set[str]:
    """Every module ``module`` names in an import statement, at any depth (lazy ones too)."""
    path = ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT / module.replace(".", "/") / "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def top_packages(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


FORBIDDEN = {
    "firmware_bridge": {"benchpin", "gateway", "kiosk"},
    "gateway": {"kiosk"},
    "kiosk": {"gateway"},
}


@pytest.mark.parametrize("module", [m for p in FORBIDDEN for m in modules(p)])
def test_layers_no_area_imports_across_or_up(module: str) -> None:
    area = module.split(".")[0]
    assert not top_packages(imported(module)) & FORBIDDEN[area], f"{module} imports {imported(module)}"


@pytest.mark.parametrize("module", [m for m in modules("benchpin") if m not in TOP])
def test_layers_the_shared_floor_imports_neither_area(module: str) -> None:
    assert module in FLOOR or module == "benchpin", f"{module}: add it to FLOOR or TOP in this test"
    assert not top_packages(imported(module)) & {"gateway", "kiosk"}, f"{module} imports {imported(module)}"


def test_layers_importing_a_floor_loads_nothing_above_it() -> None:
    """Run in a fresh interpreter: what Python really loads, including through other modules."""
    program = (
        "import sys\n"
        f"for name in {FLOOR!r}:\n"
        "    __import__(name)\n"
        "from benchpin.config import parse_config\n"
        "parse_config({'site': {'id': 'x'}, 'gateway': {'id': 'g', 'state_dir': '/tmp/x'},"
        " 'kiosk': {'station': 'casting'}})\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('gateway', 'kiosk'))\n"
        "print(loaded)\n"
        "import kiosk.app, kiosk.cli, kiosk.server\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'gateway'))\n"
    )
    out = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True)
    floor_loaded, kiosk_loaded = out.stdout.splitlines()
    assert floor_loaded == "[]"
    assert kiosk_loaded == "[]"
    program = ("import sys\nimport gateway.service, gateway.cli, gateway.engraver_cli\n"
               "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kiosk'))\n")
    out = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
