"""End to end: USB HID and serial scanners → gateway → real mosquitto → subscriber."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from firmware_bridge.hid import RIGHT_SHIFT, encode_text, report
from firmware_bridge.sim.usb_hid import SimHidScanner, SimUsbBus
from gateway.service import Gateway
from tests import stations
from tests.helpers import Subscriber, wait_until

SCANS = "benchpin/jaipur/bench-1/scanner/+/scan"


def station(tmp_path: Path, port: int, *scanners: dict[str, Any], **barcodes: Any) -> Any:
    extra = {"barcodes": barcodes} if barcodes else {}
    return stations.station_config(tmp_path, port, gateway={"id": "bench-1", "scanners": list(scanners)}, **extra)


def hid(scanner_id: str = "bench-3", **extra: Any) -> dict[str, Any]:
    return {"id": scanner_id, "kind": "usb-hid", "vendor_id": 0x0C2E, "product_id": 0x0B61, **extra}


def codes(sub: Subscriber, n: int) -> list[dict[str, Any]]:
    return sub.wait_for(lambda p: len(p) >= n and p, SCANS, message=f"{n} scans")


def test_gateway_hid_scanner_publishes_exactly_the_scans_made(tmp_path, broker, caplog):
    caplog.set_level(logging.WARNING, logger="gateway.scanners")
    bus = SimUsbBus()
    mine, other = SimHidScanner(serial_number="S-MINE"), SimHidScanner(serial_number="S-OTHER")
    bus.plug(other, (1, 2))
    bus.plug(mine, (1, 3))
    sub = Subscriber(broker.port, SCANS)
    with Gateway(station(tmp_path, broker.port, hid(serial_number="S-MINE")), usb_backend=bus) as gateway:
        supervisor = gateway.supervisors[0]
        wait_until(lambda: mine.claimed, message="scanner claimed")
        assert other.kernel_driver and not other.claimed  # the twin scanner is left alone
        other.scan("PC-NOT-MINE")
        mine.scan("PC-000123")
        mine.scan("TR-2026-11", rollover=True, shift=RIGHT_SHIFT)
        mine.scan("OP-0007", repeat=3)  # a held key repeats its report: still one character
        # A person scans, the cable is pulled mid-code; the partial code must not be published.
        mine.play(encode_text("PC-999", terminator=None)[:6])
        assert mine.wait_drained()
        first_address = mine.plug.address
        bus.unplug(mine)
        wait_until(lambda: supervisor.state == "down", message="unplug noticed")
        bus.plug(mine, (1, 3))
        assert mine.plug.address != first_address
        wait_until(lambda: mine.claimed, message="scanner claimed again")
        mine.scan("PC-999")
        mine.play([report(0, 0x04), report(0, 0x64), report(0), report(0, 0x28), report(0)])  # unknown key
        mine.scan("XX-1")
        scans = codes(sub, 5)
        wait_until(lambda: gateway.counters["scanner bench-3"].bad_reads == 2, message="bad reads counted")
        assert mine.protocol == 0  # boot protocol requested
    assert mine.kernel_driver and not mine.claimed  # given back to the kernel on stop
    sub.close()
    assert [(s["seq"], s["code"], s["valid"]) for s in scans] == [
        (1, "PC-000123", True), (2, "TR-2026-11", True), (3, "OP-0007", True), (4, "PC-999", True),
        (5, "XX-1", False)]
    assert "no known prefix" in scans[4]["reason"] and scans[0]["reason"] is None
    assert all(set(s) == {"ts", "seq", "code", "valid", "reason"} for s in scans)
    assert gateway.counters["scanner bench-3"].reopens == 1
    warnings = [r.getMessage() for r in caplog.records]
    assert any("disconnected mid-code: unfinished code 'PC-' dropped" in w for w in warnings)
    assert any("unknown key code 0x64 for layout us after 'a'" in w for w in warnings)


def test_gateway_hid_scanner_picked_by_bus_path_among_twins(tmp_path, broker):
    bus = SimUsbBus()
    left, right = SimHidScanner(serial_number="SAME"), SimHidScanner(serial_number="SAME")
    bus.plug(left, (1, 1, 4))
    bus.plug(right, (1, 1, 2))
    sub = Subscriber(broker.port, SCANS)
    config = station(tmp_path, broker.port, hid("left", bus_path="1-1.1.4"), hid("right", bus_path="1-1.1.2"))
    with Gateway(config, usb_backend=bus):
        wait_until(lambda: left.claimed and right.claimed, message="both claimed")
        left.scan("PC-L")
        right.scan("PC-R")
        sub.wait_for(lambda p: len(p) >= 2, SCANS)
    sub.close()
    got = sorted((topic.split("/")[-2], json.loads(raw)["code"]) for topic, raw, _ in sub.messages)
    assert got == [("left", "PC-L"), ("right", "PC-R")]


def test_gateway_hid_twins_without_selector_stay_down_with_clear_detail(tmp_path, broker):
    bus = SimUsbBus()
    for port in (2, 3):
        bus.plug(SimHidScanner(serial_number=f"S{port}"), (port,))
    with Gateway(station(tmp_path, broker.port, hid()), usb_backend=bus) as gateway:
        supervisor = gateway.supervisors[0]
        wait_until(lambda: supervisor.state == "down", message="refused")
        assert "2 USB scanners 0c2e:0b61 found (1-2, 1-3); set serial_number or bus_path" in supervisor.detail


def test_gateway_serial_scanner_terminators_garbage_and_overlong_line(tmp_path, broker, pty_link):
    sub = Subscriber(broker.port, SCANS)
    config = station(tmp_path, broker.port, {"id": "bench-3", "kind": "serial", "port": str(pty_link.link),
                                             "idle_s": 0.1})
    with Gateway(config) as gateway:
        supervisor, counters = gateway.supervisors[0], gateway.counters["scanner bench-3"]
        wait_until(lambda: supervisor.state == "up", message="port open")
        pty_link.write(b"PC-1\rPC-2\nPC-3\r\n")
        pty_link.write(b"PC-\x07\x00X\r\n")  # garbage: rejected, named
        pty_link.write(b"Z" * 4096)  # no terminator at all: cut, reported once when the scanner goes quiet
        wait_until(lambda: counters.bad_reads == 2, message="overlong line reported")
        assert "line too long: 4096 bytes" in counters.last_bad_read
        pty_link.write(b"OP-7\r\n")
        scans = codes(sub, 4)
        assert supervisor.failures == 0
    sub.close()
    assert [s["code"] for s in scans] == ["PC-1", "PC-2", "PC-3", "OP-7"]


def test_gateway_scanner_dedupe_window(tmp_path, broker, pty_link):
    sub = Subscriber(broker.port, SCANS)
    config = station(tmp_path, broker.port, {"id": "bench-3", "kind": "serial", "port": str(pty_link.link),
                                             "dedupe_s": 0.5})
    with Gateway(config) as gateway:
        wait_until(lambda: gateway.supervisors[0].state == "up", message="port open")
        pty_link.write(b"PC-7\r\nPC-7\r\n")  # a double read: one scan
        codes(sub, 1)
        published_by = time.monotonic()
        wait_until(lambda: gateway.counters["scanner bench-3"].duplicates == 1, message="duplicate counted")
        wait_until(lambda: time.monotonic() > published_by + 0.5, message="window over")
        pty_link.write(b"PC-7\r\n")  # after the window: a new scan
        scans = codes(sub, 2)
    sub.close()
    assert [(s["seq"], s["code"]) for s in scans] == [(1, "PC-7"), (2, "PC-7")]


def test_gateway_check_digit_scheme_from_barcodes_section(tmp_path, broker, pty_link):
    sub = Subscriber(broker.port, SCANS)
    config = station(tmp_path, broker.port, {"id": "bench-3", "kind": "serial", "port": str(pty_link.link)},
                     check_digit="iso7064-mod37-36")
    with Gateway(config) as gateway:
        wait_until(lambda: gateway.supervisors[0].state == "up", message="port open")
        pty_link.write(b"PC-A12425GABC1234002M\r\nPC-A12425GABC1234002N\r\n")
        scans = codes(sub, 2)
    sub.close()
    assert [s["valid"] for s in scans] == [True, False]
    assert scans[1]["reason"] == "check character is N, expected M (misread or mistyped code)"
