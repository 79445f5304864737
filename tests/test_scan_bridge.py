"""ScanBridge: dedupe window, validation and counters, on a real outbox with a controlled clock."""

from __future__ import annotations

import json

from benchpin.outbox import Outbox
from firmware_bridge.barcodes import BarcodeRules
from gateway.scan_bridge import ScanBridge

TOPIC = "benchpin/jaipur/bench-1/scanner/bench-3/scan"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def published(outbox: Outbox) -> list[dict]:
    return [json.loads(m.payload) for m in outbox.fetch(0, 100)]


def test_scan_bridge_dedupes_same_code_within_window_only(tmp_path):
    clock = Clock()
    with Outbox(tmp_path / "outbox.sqlite") as outbox:
        bridge = ScanBridge(outbox, TOPIC, "bench-3", BarcodeRules(), dedupe_s=1.5, clock=clock)
        assert bridge.handle_code("PC-1")
        clock.now += 1.0
        assert not bridge.handle_code("PC-1")  # double read
        assert bridge.handle_code("PC-2")  # another code is another scan
        clock.now += 0.6  # 1.6 s after the published PC-1
        assert bridge.handle_code("PC-1")
        scans = published(outbox)
    assert [(s["seq"], s["code"]) for s in scans] == [(1, "PC-1"), (2, "PC-2"), (3, "PC-1")]
    assert (bridge.counters.scans, bridge.counters.duplicates) == (3, 1)


def test_scan_bridge_publishes_invalid_with_reason_and_counts_bad_reads(tmp_path):
    with Outbox(tmp_path / "outbox.sqlite") as outbox:
        bridge = ScanBridge(outbox, TOPIC, "bench-3", BarcodeRules(), clock=Clock())
        bridge.handle_code("ZZ-9")
        bridge.handle_bad_read("non-printable byte 0x07 at column 2")
        scans = published(outbox)
    assert scans == [{"ts": scans[0]["ts"], "seq": 1, "code": "ZZ-9", "valid": False,
                      "reason": "no known prefix (expected one of PC-, TR-, OP-, CMD-)"}]
    assert (bridge.counters.invalid, bridge.counters.bad_reads) == (1, 1)
    assert bridge.counters.last_bad_read == "non-printable byte 0x07 at column 2"
