"""End to end: probes → gateway → real mosquitto → subscriber."""

from __future__ import annotations

from pathlib import Path

from benchpin.config import parse_config
from firmware_bridge.probe import ProbeReading, format_line
from gateway.service import Gateway
from tests import stations
from tests.helpers import Subscriber, wait_until

TEMPERATURE = "benchpin/jaipur/casting-1/probe/furnace-1/temperature"
STATUS = "benchpin/jaipur/casting-1/status"


def station(tmp_path: Path, port: int, link: Path, **probe: object) -> dict:
    probe_table = {"id": "furnace-1", "kind": "serial", "port": str(link), "stall_timeout_s": 2.0, **probe}
    return stations.station(tmp_path, port, gateway={"status_interval_s": 0.5, "probes": [probe_table]})


def test_gateway_publishes_pty_probe_readings_with_contract_payloads(tmp_path, broker, pty_link):
    sub = Subscriber(broker.port, "benchpin/#")
    config = parse_config(station(tmp_path, broker.port, pty_link.link))
    with Gateway(config) as gateway:
        wait_until(lambda: gateway.supervisors[0].state == "up", message="probe open")
        pty_link.write(format_line(ProbeReading(1, 1052.25)))
        pty_link.write(b"T1=FAULT:OC\r\n")
        pty_link.write(format_line(ProbeReading(1, -3.5), with_checksum=False))
        readings = sub.wait_for(lambda p: len(p) >= 3 and p, TEMPERATURE)
    sub.close()
    assert [(r["seq"], r["value_c"], r["fault"]) for r in readings] == [
        (1, 1052.25, None), (2, None, "open"), (3, -3.5, None)]
    assert all(set(r) == {"ts", "seq", "value_c", "fault"} for r in readings)
    assert all(r["ts"].endswith("Z") and len(r["ts"]) == 24 for r in readings)
    statuses = sub.payloads(STATUS)
    assert statuses[0]["state"] == "online" and "version" in statuses[0]
    assert statuses[-1]["state"] == "offline"


def test_the_probe_hot_path_encodes_exactly_the_contract_payload(tmp_path):
    import json

    from benchpin.contract import Temperature
    from benchpin.outbox import Outbox
    from benchpin.topics import encode
    from gateway.probes import ProbeBridge

    with Outbox(tmp_path / "o.sqlite") as outbox:
        bridge = ProbeBridge(outbox, "t", "furnace-1")
        for value in (1052.25, -3.5, 0.1 + 0.2, 1e-7, 12345678901.0):
            bridge.handle_reading(value, None)
        bridge.handle_reading(None, "open")
        raw = [m.payload for m in outbox.fetch(0, 10)]
    for seq, payload in enumerate(raw, 1):
        reading = json.loads(payload)
        expected = Temperature(ts=reading["ts"], seq=seq, value_c=reading["value_c"],
                               fault=reading["fault"]).to_payload()
        assert payload == encode(expected)  # byte for byte what encode() makes of the contract payload
        assert reading["ts"].endswith("Z") and len(reading["ts"]) == 24
    assert [json.loads(p)["value_c"] for p in raw[:5]] == [1052.25, -3.5, 0.1 + 0.2, 1e-7, 12345678901.0]
