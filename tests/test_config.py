"""Config parsing: every problem with its key path; check-config and gateway refuse bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchpin.config import ConfigError, load_config, parse_config
from benchpin.topics import Topics

GOOD = """
[site]
id = "jaipur"
[mqtt]
host = "127.0.0.1"
port = 1883
[gateway]
id = "casting-1"
state_dir = "{state}"
[[gateway.probes]]
id = "furnace-1"
kind = "serial"
port = "/dev/benchpin-probe"
baudrate = 9600
[[gateway.probes]]
id = "crucible"
kind = "max31855"
spi_device = 1
[kiosk]
station = "casting"
database = "sqlite:///{state}/ledger.sqlite"
listen = "0.0.0.0:8080"
"""


def test_parse_config_reads_a_full_station(tmp_path):
    path = tmp_path / "station.toml"
    path.write_text(GOOD.format(state=tmp_path))
    config = load_config(path)
    assert config.site.id == "jaipur"
    assert config.gateway.probes[0].port == "/dev/benchpin-probe"
    assert config.gateway.probes[1].kind == "max31855" and config.gateway.probes[1].spi_device == 1
    assert config.kiosk.station == "casting"
    assert Topics(config.site.id).prefix == "benchpin/jaipur"


def problems_of(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def test_parse_config_names_every_problem_with_its_key_path():
    problems = problems_of({
        "site": {"id": "jai pur"},
        "mqtt": {"port": "1883", "password": "hunter2"},
        "gateway": {
            "id": "casting-1",
            "probes": [
                {"id": "a", "kind": "serial", "port": "/dev/x"},
                {"id": "b", "kind": "serial", "port": "/dev/y", "baudrate": "fast"},
                {"id": "a", "kind": "thermistor", "colour": "red"},
            ],
        },
        "kiosk": {"station": "qc", "database": "mysql://x", "listen": "8080"},
        "extra": {},
    })
    assert "gateway.probes[1].baudrate: must be an integer" in problems
    assert "mqtt.port: must be an integer" in problems
    assert "mqtt.password: put the password in a file and name it in mqtt.password_file" in problems
    assert any(p.startswith("site.id: must use only letters") for p in problems)
    assert any(p.startswith("gateway.probes[2].kind: must be one of") for p in problems)
    assert "gateway.probes[2].colour: unknown key" in problems
    assert "gateway.probes[2].id: duplicate id 'a'" in problems
    assert any(p.startswith("kiosk.database: must be a sqlite") for p in problems)
    assert any(p.startswith("kiosk.listen: must be HOST:PORT") for p in problems)
    assert "extra: unknown key" in problems


def test_parse_config_requires_site_and_serial_port():
    problems = problems_of({"gateway": {"id": "g", "probes": [{"id": "p", "kind": "serial"}]}})
    assert "site: is required" in problems
    assert "gateway.probes[0].port: is required for a serial probe" in problems


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchpin", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_check_config_prints_problems_and_exits_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[site]\nid = "x"\n[gateway]\nid = "g"\n[[gateway.probes]]\nid = "p"\nkind = "serial"\n'
                    'port = "/dev/p"\n[[gateway.probes]]\nid = "q"\nkind = "serial"\nport = "/dev/q"\n'
                    'baudrate = "9600"\n')
    result = run_cli("check-config", str(path))
    assert result.returncode == 2
    assert "gateway.probes[1].baudrate: must be an integer" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_accepts_a_good_file(tmp_path):
    path = tmp_path / "station.toml"
    path.write_text(GOOD.format(state=tmp_path))
    result = run_cli("check-config", str(path))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "2 probes" in result.stdout


def test_check_config_explains_toml_syntax_errors(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[site\nid = 1\n")
    result = run_cli("check-config", str(path))
    assert result.returncode == 2
    assert "not valid TOML" in result.stderr and "line 1" in result.stderr


def test_gateway_refuses_a_bad_config_with_the_same_messages(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[site]\nid = "x"\n[gateway]\nid = "g"\nstatus_interval_s = -1\n')
    result = run_cli("gateway", "--config", str(path))
    assert result.returncode == 2
    assert "gateway.status_interval_s: must be at least 0.1 (got -1)" in result.stderr


def test_gateway_reads_config_path_from_environment(tmp_path):
    import os

    path = tmp_path / "bad.toml"
    path.write_text('[site]\nid = "x"\n[gateway]\nid = 7\n')
    result = run_cli("gateway", env={**os.environ, "BENCHPIN_CONFIG": str(path)})
    assert result.returncode == 2
    assert "gateway.id: must be a string" in result.stderr


def test_check_config_names_an_unknown_station_stage_and_missing_secret_files(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[site]\nid = "x"\n[kiosk]\nstation = "castng,filing"\n'
                    f'database = "sqlite:///{tmp_path}/l.sqlite"\napi_token_file = "{tmp_path}/none"\n'
                    f'secret_key_file = "{tmp_path}/nokey"\n')
    result = run_cli("check-config", str(path))
    assert result.returncode == 2
    assert "kiosk.station: 'castng' is no stage of any route" in result.stderr
    assert f"kiosk.api_token_file: file not found: {tmp_path}/none" in result.stderr
    assert f"kiosk.secret_key_file: file not found: {tmp_path}/nokey" in result.stderr


def test_kiosk_refuses_an_unusable_token_file_without_a_traceback(tmp_path):
    (tmp_path / "token").write_text("short\n")
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[site]\nid = "x"\n[kiosk]\nstation = "casting"\n'
                    f'database = "sqlite:///{tmp_path}/l.sqlite"\napi_token_file = "{tmp_path}/token"\n'
                    'listen = "127.0.0.1:0"\n')
    result = run_cli("kiosk", "--config", str(path))
    assert result.returncode == 2
    assert "kiosk.api_token_file: the token in" in result.stderr and "shorter than 16" in result.stderr
    assert "Traceback" not in result.stderr
