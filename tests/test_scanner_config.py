"""Scanner and barcode config keys: defaults, errors with key paths, and the simulator's framing."""

from __future__ import annotations

import pytest
import serial

from benchpin.config import ConfigError, parse_config
from firmware_bridge.barcodes import BarcodeRules
from firmware_bridge.hid import Scan
from firmware_bridge.scanner import ScanLineFramer
from firmware_bridge.sim.scanner import SerialScannerSim
from tests import stations


def station(scanner: dict, **top: object) -> dict:
    return stations.station(gateway={"id": "bench-1", "scanners": [scanner]}, **top)


def test_scanner_config_reads_keys_and_barcodes_section():
    config = parse_config(station(
        {"id": "bench-3", "kind": "usb-hid", "vendor_id": 0x0C2E, "product_id": 0x0B61, "layout": "de",
         "bus_path": "1-1.3", "endpoint": 0x81, "dedupe_s": 2.0},
        barcodes={"prefixes": ["PC-", "RING-"], "check_digit": "iso7064-mod37-36", "check_digit_exempt": []}))
    scanner = config.gateway.scanners[0]
    assert (scanner.layout, scanner.bus_path, scanner.endpoint, scanner.dedupe_s) == ("de", "1-1.3", 0x81, 2.0)
    assert config.barcodes == BarcodeRules(("PC-", "RING-"), "iso7064-mod37-36", ())


def test_scanner_config_defaults():
    config = parse_config(station({"id": "bench-3", "kind": "serial", "port": "/dev/benchpin-scanner"}))
    scanner = config.gateway.scanners[0]
    assert (scanner.dedupe_s, scanner.idle_s, scanner.layout, scanner.prefix) == (1.5, 0.3, "us", "")
    assert config.barcodes == BarcodeRules()


@pytest.mark.parametrize("scanner, top, problem", [
    ({"layout": "xx"}, {}, "gateway.scanners[0].layout: must be one of 'us', 'de' (got 'xx')"),
    ({"endpoint": 0x01}, {}, "gateway.scanners[0].endpoint: must be an IN endpoint address"),
    ({"prefix": "é"}, {}, "gateway.scanners[0].prefix: must be ASCII"),
    ({}, {"barcodes": {"prefixes": "PC-"}}, "barcodes.prefixes: must be a list of non-empty strings"),
    ({}, {"barcodes": {"prefixes": []}}, "barcodes.prefixes: must name at least one prefix"),
    ({}, {"barcodes": {"check_digit": "luhn"}}, "barcodes.check_digit: must be one of 'none', 'iso7064-mod37-36'"),
    ({}, {"barcodes": {"prefix": ["PC-"]}}, "barcodes.prefix: unknown key"),
])
def test_scanner_config_errors_name_key_path(scanner, top, problem):
    with pytest.raises(ConfigError) as info:
        parse_config(station({"id": "bench-3", "kind": "serial", "port": "/dev/x", **scanner}, **top))
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_serial_scanner_sim_sends_framed_codes_over_its_pty(tmp_path):
    with SerialScannerSim(str(tmp_path / "ttySCAN"), prefix=b"\x02", suffix=b"\x03", terminator=b"\r") as sim, \
            serial.Serial(sim.link, timeout=2) as port:
        sim.scan("PC-1")
        sim.scan("CMD-ADVANCE")
        framer, events = ScanLineFramer(prefix=b"\x02", suffix=b"\x03"), []
        while len(events) < 2 and (data := port.read(port.in_waiting or 1)):
            events += framer.feed(data)
    assert events == [Scan("PC-1"), Scan("CMD-ADVANCE")] and sim.sent == 2
