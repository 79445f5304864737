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


# ----------------------------------------------------------------------------- the config's final shape

from dataclasses import fields  # noqa: E402

from benchpin.commands import print_problems  # noqa: E402
from benchpin.config import (DeviceRef, EngraverConfig, GatewayConfig, KioskConfig, MqttConfig,  # noqa: E402
                             OutboxConfig, ProbeConfig, ScannerConfig, cross_checks)
from gateway.settings import gateway_checks  # noqa: E402
from kiosk.settings import kiosk_checks  # noqa: E402

SITE = {"site": {"id": "jaipur"}}


def test_unknown_key_names_the_nearest_known_one():
    problems = problems_of({**SITE, "gateway": {"id": "g", "probes": [
        {"id": "p", "kind": "serial", "port": "/dev/p", "baudrat": 9600},
        {"id": "q", "kind": "serial", "port": "/dev/q", "baudrate": 9600, "baudrat": 9600}]}})
    assert "gateway.probes[0].baudrat: unknown key (did you mean 'baudrate'?)" in problems
    # A key the table already has is no suggestion: the second one is a plain unknown key.
    assert "gateway.probes[1].baudrat: unknown key" in problems


def test_problem_count_is_plural_only_for_several(capsys):
    print_problems("a.toml", ConfigError(["site: is required"]))
    print_problems("b.toml", ConfigError(["site: is required", "extra: unknown key"]))
    err = capsys.readouterr().err
    assert "benchpin: a.toml: the config has 1 problem:\n" in err
    assert "benchpin: b.toml: the config has 2 problems:\n" in err


def test_kiosk_station_list_engraver_and_scanners_are_parsed_once():
    config = parse_config({**SITE, "kiosk": {"station": " filing, decoration ,", "engraver": "casting-1/laser-1",
                                             "scanners": ["bench-1/bench-3", "casting-1/door"]}})
    kiosk = config.kiosk
    assert kiosk.station == " filing, decoration ," and kiosk.stations == ("filing", "decoration")
    assert kiosk.engraver == "casting-1/laser-1" and kiosk.engraver_ref == DeviceRef("casting-1", "laser-1")
    assert kiosk.scanners == (DeviceRef("bench-1", "bench-3"), DeviceRef("casting-1", "door"))
    assert str(kiosk.scanners[0]) == "bench-1/bench-3"
    bare = parse_config({**SITE, "kiosk": {"station": "qc"}}).kiosk
    assert (bare.stations, bare.engraver_ref, bare.scanners) == (("qc",), None, ())


@pytest.mark.parametrize("scanners, problem", [
    ("bench-1/bench-3", "kiosk.scanners: must be a list of GATEWAY/DEVICE strings"),
    (["bench-1/bench-3", "bench-3"], "kiosk.scanners[1]: must be GATEWAY/DEVICE, e.g. 'bench-1/bench-scanner' (got 'bench-3')"),
    (["a/b/c"], "kiosk.scanners[0]: must be GATEWAY/DEVICE"),
    (["bench 1/x"], "kiosk.scanners[0]: must be GATEWAY/DEVICE"),
    ([7], "kiosk.scanners[0]: must be GATEWAY/DEVICE, e.g. 'bench-1/bench-scanner' (got 7)"),
])
def test_kiosk_scanners_entries_are_two_topic_segments(scanners, problem):
    problems = problems_of({**SITE, "kiosk": {"station": "qc", "scanners": scanners}})
    assert any(p.startswith(problem) for p in problems), problems


def _defaults(cls: type) -> dict[str, object]:
    return {f.name: f.default for f in fields(cls) if f.default is not f.default_factory}


@pytest.mark.parametrize("section, cls", [
    (lambda c: c.mqtt, MqttConfig),
    (lambda c: c.gateway, GatewayConfig),
    (lambda c: c.gateway.outbox, OutboxConfig),
    (lambda c: c.gateway.probes[0], ProbeConfig),
    (lambda c: c.gateway.scanners[0], ScannerConfig),
    (lambda c: c.gateway.engravers[0], EngraverConfig),
    (lambda c: c.kiosk, KioskConfig),
])
def test_every_left_out_key_reads_as_its_dataclass_default(section, cls):
    config = parse_config({**SITE, "mqtt": {}, "kiosk": {"station": "qc"},
                           "gateway": {"id": "g", "outbox": {},
                                       "probes": [{"id": "p", "kind": "max31855"}],
                                       "scanners": [{"id": "s", "kind": "usb-hid", "vendor_id": 1, "product_id": 2}],
                                       "engravers": [{"id": "e", "port": "/dev/e"}]}})
    parsed = section(config)
    given = {"id", "kind", "port", "vendor_id", "product_id", "station", "stations", "probes", "scanners",
             "engravers", "outbox", "name"}  # a kiosk's id and name are derived from its stations
    for name, default in _defaults(cls).items():
        if name not in given:
            assert getattr(parsed, name) == default, f"{cls.__name__}.{name}"


GW_KIOSK = {**SITE, "gateway": {"id": "casting-1", "engravers": [{"id": "laser-1", "port": "/dev/l"}],
                                "scanners": [{"id": "bench-3", "kind": "serial", "port": "/dev/s"}]}}


def kiosk_with(**keys: object) -> dict:
    return {**GW_KIOSK, "kiosk": {"station": "engraving", **keys}}


def test_cross_checks_name_the_missing_device_and_what_the_file_has():
    data = kiosk_with(engraver="casting-1/laser-9", scanners=["casting-1/bench-3", "casting-1/bench-9"])
    assert parse_config(data).kiosk is not None  # the shape alone is fine
    with pytest.raises(ConfigError) as info:
        parse_config(data, checks=(cross_checks,))
    assert info.value.problems == [
        "kiosk.engraver: gateway 'casting-1' in this file has no engraver 'laser-9' (it has: laser-1)",
        "kiosk.scanners[1]: gateway 'casting-1' in this file has no scanner 'bench-9' (it has: bench-3)",
    ]
    no_engravers = {**SITE, "gateway": {"id": "casting-1"}, "kiosk": {"station": "qc", "engraver": "casting-1/l"}}
    with pytest.raises(ConfigError, match=r"has no engraver 'l' \(it has none\)"):
        parse_config(no_engravers, checks=(cross_checks,))


def test_cross_checks_pass_references_to_a_gateway_not_in_the_file():
    other = kiosk_with(engraver="bench-2/laser-9", scanners=["bench-2/anything"], gateway="bench-2")
    assert parse_config(other, checks=(cross_checks,)).kiosk.engraver_ref == DeviceRef("bench-2", "laser-9")
    good = kiosk_with(engraver="casting-1/laser-1", scanners=["casting-1/bench-3"], gateway="casting-1")
    assert parse_config(good, checks=(cross_checks,)).kiosk.gateway == "casting-1"
    assert parse_config({**SITE, "kiosk": {"station": "qc", "engraver": "casting-1/laser-9"}},
                        checks=(cross_checks,)).gateway is None


def test_area_checks_run_only_when_handed_to_the_loader(tmp_path):
    data = {**SITE, "kiosk": {"station": "castng", "api_token_file": str(tmp_path / "none")},
            "gateway": {"id": "g", "engravers": [{"id": "a", "port": "/dev/a", "door_pin": 17},
                                                 {"id": "b", "port": "/dev/b", "door_pin": 17}]}}
    assert parse_config(data).kiosk.station == "castng"
    with pytest.raises(ConfigError) as info:
        parse_config(data, checks=(kiosk_checks, gateway_checks))
    assert any(p.startswith("kiosk.station: 'castng' is no stage of any route") for p in info.value.problems)
    assert f"kiosk.api_token_file: file not found: {tmp_path / 'none'}" in info.value.problems
    assert "gateway.engravers[1].door_pin: GPIO17 is already the door of engraver 'a'" in info.value.problems


def test_check_config_takes_config_option_or_environment_and_cross_checks(tmp_path):
    import os

    import tomli_w

    path = tmp_path / "station.toml"
    path.write_text(tomli_w.dumps(kiosk_with(engraver="casting-1/laser-9")))
    for args, env in ((["--config", str(path)], None), ([], {**os.environ, "BENCHPIN_CONFIG": str(path)})):
        result = run_cli("check-config", *args, env=env)
        assert result.returncode == 2, result
        assert f"benchpin: {path}: the config has 1 problem:" in result.stderr
        assert "kiosk.engraver: gateway 'casting-1' in this file has no engraver 'laser-9' (it has: laser-1)" \
            in result.stderr
    path.write_text(tomli_w.dumps(kiosk_with(engraver="casting-1/laser-1")))
    result = run_cli("check-config", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "gateway casting-1 (0 probes, 1 scanner, 1 engraver)" in result.stdout


def test_the_shared_floor_imports_no_area():
    code = ("import sys, benchpin.config, benchpin.tables, benchpin.topics, benchpin.outbox, benchpin.mqtt, "
            "benchpin.sdnotify, benchpin.commands; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gateway', 'kiosk')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ['we"ird', "back\\slash", "both \\\" and ünïcode"])
def test_demo_config_is_loadable_whatever_its_directory_is_called(tmp_path, name):
    from benchpin.demo import Demo

    workdir = tmp_path / name
    demo = Demo(workdir, kiosk_port=8123)
    demo.config_path.write_text(demo.station_toml(), encoding="utf-8")
    config = load_config(demo.config_path)
    assert config.gateway.state_dir == str(workdir / "state")
    assert config.gateway.engravers[0].port == str(workdir / "dev" / "laser")
    assert config.kiosk.database == f"sqlite:///{workdir / 'ledger.sqlite'}"
    assert config.kiosk.engraver_ref == DeviceRef("bench-1", "laser-1")


def test_write_toml_helper_quotes_any_path(tmp_path):
    from tests.helpers import write_toml

    odd = str(tmp_path / 'a"b\\c')
    path = write_toml(tmp_path / "s.toml", {**SITE, "gateway": {"id": "g", "state_dir": odd}})
    assert load_config(path).gateway.state_dir == odd


def test_config_site_timezone_is_an_iana_name_checked_at_load() -> None:
    assert parse_config({"site": {"id": "x"}}).site.timezone == "UTC"
    assert parse_config({"site": {"id": "x", "timezone": "Asia/Kolkata"}}).site.timezone == "Asia/Kolkata"
    with pytest.raises(ConfigError, match=r"site.timezone: unknown time zone 'India/Jaipur'"):
        parse_config({"site": {"id": "x", "timezone": "India/Jaipur"}})


def test_config_metals_table_overrides_pour_windows_and_names_what_is_wrong() -> None:
    config = parse_config({"site": {"id": "x"}, "metals": {"silver_925": {"pour_c": [940, 1000]}}})
    assert config.metals["silver_925"].pour_c == (940.0, 1000.0)
    assert config.metals["gold_18ct"].pour_c == (960.0, 1030.0) and config.metals["gold_18ct"].fineness == 0.75
    with pytest.raises(ConfigError) as caught:
        parse_config({"site": {"id": "x"}, "metals": {"tin": {}, "gold_18ct": {"pour_c": [1000, 900]}}})
    assert "metals.tin: unknown metal" in str(caught.value)
    assert "metals.gold_18ct.pour_c: must be [min, max] in °C" in str(caught.value)
