"""The systemd units pass ``systemd-analyze verify`` and agree with what the services do."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchpin.config import GatewayConfig

SYSTEMD_DIR = Path(__file__).resolve().parents[1] / "systemd"
UNITS = sorted(SYSTEMD_DIR.glob("*.service"))
INSTALLED_BENCHPIN = "/opt/benchpin/venv/bin/benchpin"


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
    assert Path(tool).exists(), "systemd-analyze is missing: install the Debian package systemd (make system-packages)"
    return tool


def venv_benchpin() -> str:
    """The benchpin script of the environment running the tests (stands in for /opt/benchpin)."""
    script = Path(sys.executable).parent / "benchpin"
    assert script.exists(), f"no benchpin script beside {sys.executable}: run `make install`"
    return str(script)


def verify(directory: Path, unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([systemd_analyze(), "verify", "--man=no", str(unit)], cwd=directory,
                          capture_output=True, text=True, timeout=60)


def directives(unit: Path) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file, continuation lines joined (keys may repeat)."""
    found: dict[str, list[str]] = {}
    pending = ""
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", ";", "["))):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line, pending = pending + line, ""
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_units_exist_for_gateway_kiosk_and_screen():
    assert [u.name for u in UNITS] == ["benchpin-gateway.service", "benchpin-kiosk.service",
                                       "benchpin-screen.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_passes_systemd_analyze_verify(unit, tmp_path):
    # Verify all units side by side (they refer to each other), ExecStart pointing at a real benchpin.
    for each in UNITS:
        (tmp_path / each.name).write_text(each.read_text().replace(INSTALLED_BENCHPIN, venv_benchpin()))
    result = verify(tmp_path, tmp_path / unit.name)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not output, output


def test_systemd_analyze_verify_reports_a_broken_unit(tmp_path):
    broken = tmp_path / "benchpin-gateway.service"
    broken.write_text((SYSTEMD_DIR / "benchpin-gateway.service").read_text()
                      .replace(INSTALLED_BENCHPIN, venv_benchpin())
                      .replace("Type=notify", "Type=notfy").replace("WatchdogSec=", "WatchDogSec="))
    result = verify(tmp_path, broken)
    output = result.stdout + result.stderr
    assert "notfy" in output and "WatchDogSec" in output


@pytest.mark.parametrize("name", ["benchpin-gateway.service", "benchpin-kiosk.service"])
def test_service_unit_expects_notify_readiness_and_watchdog(name):
    unit = directives(SYSTEMD_DIR / name)
    assert unit["Type"] == ["notify"]
    assert unit["NotifyAccess"] == ["main"]  # only the service itself, not a child it starts
    assert unit["Restart"] == ["on-failure"]
    assert unit["User"] == ["benchpin"]
    assert unit["StateDirectory"] == ["benchpin"]
    assert unit["ConfigurationDirectory"] == ["benchpin"]
    assert unit["ProtectSystem"] == ["strict"]
    assert int(unit["WatchdogSec"][0]) >= 10
    # A start that waits for the broker until ready_timeout_s must end before systemd gives up.
    assert int(unit["TimeoutStartSec"][0]) > GatewayConfig(id="x").ready_timeout_s


def test_gateway_unit_allows_serial_spi_gpio_and_usb_devices():
    unit = directives(SYSTEMD_DIR / "benchpin-gateway.service")
    assert unit["PrivateDevices"] == ["no"]
    assert unit["DevicePolicy"] == ["closed"]
    allowed = {entry.split()[0] for entry in unit["DeviceAllow"]}
    assert {"char-ttyUSB", "char-ttyACM", "char-ttyAMA", "char-spi", "char-gpiochip", "char-usb_device"} <= allowed
    assert unit["SupplementaryGroups"] == ["dialout gpio spi plugdev"]
    environment = " ".join(unit["Environment"])
    assert "GPIOZERO_PIN_FACTORY=lgpio" in environment and "BENCHPIN_CONFIG=/etc/benchpin/station.toml" in environment


def test_screen_unit_runs_chromium_kiosk_in_cage_on_tty1():
    unit = directives(SYSTEMD_DIR / "benchpin-screen.service")
    command = unit["ExecStart"][0].split()
    assert command[0] == "/usr/bin/cage" and "--kiosk" in command
    assert command[command.index("--") + 1].endswith(("chromium", "chromium-browser"))
    assert unit["TTYPath"] == ["/dev/tty1"] and unit["PAMName"] == ["benchpin-screen"]
    assert (SYSTEMD_DIR / "pam.d" / "benchpin-screen").exists()


@pytest.mark.parametrize("example", ["station.toml.example", "kiosk.toml.example"])
def test_example_config_is_valid(example, tmp_path):
    from benchpin.config import load_config

    text = (SYSTEMD_DIR / example).read_text()
    for secret in ("gateway-mqtt-password", "kiosk-mqtt-password", "api-token"):
        (tmp_path / secret).write_text("secret\n")
        text = text.replace(f"/etc/benchpin/{secret}", str(tmp_path / secret))
    path = tmp_path / "station.toml"
    path.write_text(text)
    config = load_config(path)
    assert config.site.id == "jaipur"
    assert config.mqtt.username == ("kiosk" if config.kiosk else config.gateway.id)


RULE_PAIR = re.compile(r'\s*([A-Z_]+)(?:\{([^}]+)\})?\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(?:,|$)')
MATCH_KEYS = {"SUBSYSTEM", "ATTRS", "ATTR", "ENV", "KERNELS", "KERNEL", "ACTION", "SUBSYSTEMS"}


def udev_rules(path: Path) -> list[dict[str, tuple[str, str]]]:
    """Parse each rule into {KEY or KEY{attr}: (operator, value)}; fail on anything malformed."""
    rules = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs, pos = {}, 0
        while pos < len(line):
            match = RULE_PAIR.match(line, pos)
            assert match, f"{path.name}:{number}: cannot parse from column {pos}: {line[pos:]!r}"
            key, attr, op, value = match.groups()
            if key in MATCH_KEYS and key != "ENV":
                assert op in ("==", "!="), f"{path.name}:{number}: {key} must be matched with =="
            pairs[f"{key}{{{attr}}}" if attr else key] = (op, value)
            pos = match.end()
        rules.append(pairs)
    return rules


def test_udev_rules_give_stable_names_and_groups():
    rules = udev_rules(SYSTEMD_DIR / "udev" / "99-benchpin.rules")
    serial = {r["SYMLINK"][1]: r for r in rules if "SYMLINK" in r}
    assert set(serial) == {"benchpin-probe", "benchpin-laser", "benchpin-scanner"}
    for rule in serial.values():
        assert rule["SUBSYSTEM"] == ("==", "tty") and rule["SYMLINK"][0] == "+="
        assert rule["GROUP"] == ("=", "dialout") and rule["MODE"] == ("=", "0660")
        assert {"ATTRS{idVendor}", "ATTRS{idProduct}", "ATTRS{serial}"} <= set(rule)
    hid = [r for r in rules if r.get("SUBSYSTEM") == ("==", "usb")]
    assert len(hid) == 1 and hid[0]["GROUP"] == ("=", "plugdev") and hid[0]["ENV{DEVTYPE}"] == ("==", "usb_device")
