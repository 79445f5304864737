"""[[gateway.scales]]: parsed once, every problem under its key path, check-config says so."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from benchpin.config import ConfigError, ScaleConfig, parse_config
from tests import stations

ROOT = Path(__file__).resolve().parent.parent


def station(*scales: dict) -> dict:
    return stations.station(gateway={"id": "bench-1", "scales": list(scales)})


def test_scales_are_parsed_with_their_serial_settings():
    config = parse_config(station({"id": "balance-1", "kind": "mt-sics", "port": "/dev/benchpin-balance"},
                                  {"id": "balance-2", "kind": "and", "port": "/dev/b2", "baudrate": 2400,
                                   "bytesize": 7, "parity": "E", "poll_s": 0.25}))
    assert config.gateway is not None
    first, second = config.gateway.scales
    assert (first.kind, first.port) == ("mt-sics", "/dev/benchpin-balance")
    assert (second.baudrate, second.bytesize, second.parity, second.poll_s) == (2400, 7, "E", 0.25)


def test_every_left_out_scale_key_reads_as_its_dataclass_default():
    config = parse_config(station({"id": "b", "kind": "ohaus", "port": "/dev/b"}))
    assert config.gateway is not None
    parsed = config.gateway.scales[0]
    for f in fields(ScaleConfig):
        if f.name not in ("id", "kind", "port"):
            assert getattr(parsed, f.name) == f.default, f.name


def test_a_bad_scale_entry_names_every_key_path():
    with pytest.raises(ConfigError) as info:
        parse_config(station({"id": "ok", "kind": "mt-sics", "port": "/dev/a"},
                             {"id": "bench scale", "kind": "sartorius", "baudrate": "9600", "parity": "even",
                              "bytesize": 9, "poll_s": 0, "stall_timeout_s": 0.2, "baud": 9600},
                             {"id": "ok", "kind": "and", "port": "/dev/c", "bytesize": 7}))
    problems = info.value.problems
    expected = [
        "gateway.scales[1].id: must use only letters",
        "gateway.scales[1].kind: must be one of 'mt-sics', 'and', 'ohaus' (got 'sartorius')",
        "gateway.scales[1].port: is required",
        "gateway.scales[1].baudrate: must be an integer",
        "gateway.scales[1].parity: must be one of 'N', 'E', 'O' (got 'even')",
        "gateway.scales[1].bytesize: must be at most 8",
        "gateway.scales[1].poll_s: must be at least 0.05",
        "gateway.scales[1].baud: unknown key",
        "gateway.scales[2].parity: must be \"E\" or \"O\" with bytesize = 7",
        "gateway.scales[2].id: duplicate id 'ok'",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), f"{start!r} not in {problems}"


def test_stall_timeout_must_outlast_a_poll():
    with pytest.raises(ConfigError, match=r"gateway.scales\[0\].stall_timeout_s: must be longer than poll_s"):
        parse_config(station({"id": "b", "kind": "and", "port": "/dev/b", "poll_s": 2.0, "stall_timeout_s": 1.0}))


def test_check_config_prints_scale_problems_and_exits_2(tmp_path):
    path = stations.station_file(tmp_path / "bad.toml", station({"id": "b", "kind": "mt-sics", "port": "/dev/b"},
                                                                {"id": "c", "kind": "mettler", "port": "/dev/c"}))
    result = subprocess.run([sys.executable, "-m", "benchpin", "check-config", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "gateway.scales[1].kind: must be one of 'mt-sics', 'and', 'ohaus' (got 'mettler')" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_station_has_an_mt_sics_balance_and_weigh_loads_it(tmp_path):
    from benchpin.demo import BALANCE, Demo

    demo = Demo(tmp_path / "demo")
    config = parse_config(demo.station())
    assert config.gateway is not None
    assert [(s.id, s.kind) for s in config.gateway.scales] == [(BALANCE, "mt-sics")]

    placed: list[float] = []
    scanned: list[str] = []
    demo.sims["balance"] = type("Pan", (), {"place": lambda self, grams: placed.append(grams)})()
    demo.sims["scanner"] = type("Scanner", (), {"scan": lambda self, code: scanned.append(code)})()
    demo.handle("weigh 12.5")
    demo.handle("weigh lots")  # not a weight: scanned as a code, as any other line
    assert placed == [12.5] and scanned == ["weigh lots"]
