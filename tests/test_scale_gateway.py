"""End to end, per balance family: simulated balance on a pty → gateway → mosquitto → subscriber."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchpin.config import parse_config
from benchpin.contract import ScaleState, ScaleWeight
from firmware_bridge.sim.scale import BalanceSim
from gateway.service import Gateway
from tests import stations
from tests.helpers import Subscriber, wait_until

BASE = "benchpin/jaipur/bench-1/scale/balance-1"
WEIGHT, STATE, COMMAND = f"{BASE}/weight", f"{BASE}/state", f"{BASE}/command"


def station(tmp_path: Path, port: int, link: Path, kind: str, **scale: object) -> dict:
    return stations.station(tmp_path, port, gateway={
        "id": "bench-1", "backoff_max_s": 0.3, "status_interval_s": 0.5,
        "scales": [{"id": "balance-1", "kind": kind, "port": str(link), "poll_s": 0.1, "stall_timeout_s": 1.0,
                    **scale}]})


@pytest.fixture
def balance(tmp_path, request):
    sim = BalanceSim(str(tmp_path / "balance"), request.param, settle_s=0.4)
    sim.start()
    yield sim
    sim.close()


@pytest.mark.parametrize("balance", ["mt-sics", "and", "ohaus"], indirect=True)
def test_balance_weights_tare_and_unplug_reach_mqtt(tmp_path, broker, balance):
    sub = Subscriber(broker.port, f"{BASE}/#")
    config = parse_config(station(tmp_path, broker.port, balance.pty.link, balance.kind))
    with Gateway(config) as gateway:
        counters = gateway.counters["scale balance-1"]
        wait_until(lambda: gateway.supervisors[0].state == "up", message="balance open")
        sub.wait_for(lambda p: p, WEIGHT, message="the empty pan's weight")

        balance.place(12.345)
        sub.wait_for(lambda p: p[-1]["grams"] == 12.345, WEIGHT, message="12.345 g")
        polls = balance.polls
        wait_until(lambda: balance.polls >= polls + 5, message="five more polls")
        weights = sub.payloads(WEIGHT)
        # The settling (unstable) readings publish nothing; the stable weight once.
        assert [(w["grams"], w["stable"], w["fault"]) for w in weights] == [(0.0, True, None), (12.345, True, None)]
        assert all(set(w) == {"ts", "seq", "grams", "stable", "fault"} for w in weights)
        assert all(ScaleWeight.from_payload(json.dumps(w)) for w in weights)

        sub.client.publish(COMMAND, json.dumps({"action": "tare", "operator": "OP-0005"}), qos=1)
        wait_until(lambda: balance.tares == 1, message="the tare reaching the balance")
        sub.wait_for(lambda p: p[-1]["grams"] == 0.0, WEIGHT, message="0 g after the tare")
        wait_until(lambda: counters.commands_done == 1, message="the balance's answer")
        assert "T" in balance.requests

        balance.unplug()
        sub.wait_for(lambda p: p[-1]["fault"] == "disconnected", WEIGHT, message="disconnected")
        balance.replug()
        balance.place(20.0)
        sub.wait_for(lambda p: p[-1]["grams"] == 7.655 and p[-1]["stable"], WEIGHT, message="weighing again")
        weights = sub.payloads(WEIGHT)
        assert [w["fault"] for w in weights].count("disconnected") == 1
        assert [w["seq"] for w in weights] == list(range(weights[0]["seq"], weights[0]["seq"] + len(weights)))
        assert counters.bad_lines == 0 and counters.bad_commands == 0
    sub.close()

    late = Subscriber(broker.port, STATE)  # a screen started later reads the retained state
    state = late.wait_for(lambda p: p and p[-1], STATE, message="the retained state")
    late.close()
    assert ScaleState.from_payload(json.dumps(state)).grams == 7.655 and state["fault"] is None


@pytest.mark.parametrize("balance", ["mt-sics"], indirect=True)
def test_a_7e1_balance_on_a_port_opened_8n1_still_weighs(tmp_path, broker, balance):
    balance.seven_e_one = True  # the balance sends even parity in bit 7; the gateway opens 8N1
    sub = Subscriber(broker.port, WEIGHT)
    config = parse_config(station(tmp_path, broker.port, balance.pty.link, balance.kind))
    with Gateway(config) as gateway:
        balance.place(3.21)
        sub.wait_for(lambda p: p and p[-1]["grams"] == 3.21, WEIGHT, message="3.21 g")
        device = gateway.supervisors[0].device
        assert gateway.counters["scale balance-1"].high_bit_bytes > 0 and device.seven_bit_fallback
        assert gateway.counters["scale balance-1"].bad_lines == 0
    sub.close()


@pytest.mark.parametrize("balance", ["mt-sics"], indirect=True)
def test_bad_commands_are_counted_and_never_reach_the_balance(tmp_path, broker, balance):
    sub = Subscriber(broker.port, WEIGHT)
    config = parse_config(station(tmp_path, broker.port, balance.pty.link, balance.kind))
    with Gateway(config) as gateway:
        counters = gateway.counters["scale balance-1"]
        sub.wait_for(lambda p: p, WEIGHT, message="the first weight")
        for bad in (b"tare", b'{"action": "calibrate"}', b'{"operator": "OP-1"}'):
            sub.client.publish(COMMAND, bad, qos=1)
        sub.client.publish(COMMAND, json.dumps({"action": "zero"}), qos=1)
        wait_until(lambda: balance.zeros == 1, message="the zero")
        assert counters.bad_commands == 3 and balance.tares == 0
        assert [r for r in balance.requests if r not in ("SI",)] == ["Z"]
        status = Subscriber(broker.port, "benchpin/jaipur/bench-1/status")
        wait_until(lambda: counters.commands_done == 1, message="the zero's answer")
        gateway.session.publish_status()  # as the gateway's run loop does every status_interval_s
        entry = status.wait_for(lambda p: [s["devices"]["scale:balance-1"] for s in p if "devices" in s
                                           and s["devices"]["scale:balance-1"]["commands_done"] == 1],
                                message="the balance's counters in the gateway status")[-1]
        status.close()
        assert entry["state"] == "up" and entry["bad_commands"] == 3 and entry["polls"] > 0
    sub.close()


@pytest.mark.parametrize("balance", ["mt-sics", "and"], indirect=True)
def test_balance_faults_reach_mqtt_once_each(tmp_path, broker, balance):
    sub = Subscriber(broker.port, WEIGHT)
    config = parse_config(station(tmp_path, broker.port, balance.pty.link, balance.kind, unstable_timeout_s=0.6))
    with Gateway(config) as gateway:
        counters = gateway.counters["scale balance-1"]
        sub.wait_for(lambda p: p, WEIGHT, message="the empty pan")
        mark = len(sub.payloads(WEIGHT))
        balance.place(300.0)  # capacity 220 g
        sub.wait_for(lambda p: any(w["fault"] == "overload" for w in p[mark:]), WEIGHT, message="overload")
        polls = balance.polls
        wait_until(lambda: balance.polls >= polls + 5, message="five polls in overload")
        balance.place(5.0)
        sub.wait_for(lambda p: p[-1]["grams"] == 5.0, WEIGHT, message="5 g")

        mark = len(sub.payloads(WEIGHT))
        for _ in range(4):
            balance.send(b"#?garbage?#\r\n")
        # Any message since the garbage, not the last one: the next good reading may follow at once.
        sub.wait_for(lambda p: any(w["fault"] == "bad_line" for w in p[mark:]), WEIGHT, message="bad_line")
        wait_until(lambda: counters.bad_lines == 4, message="every bad line counted")
        sub.wait_for(lambda p: p[-1]["grams"] == 5.0, WEIGHT, message="5 g again")

        mark = len(sub.payloads(WEIGHT))
        balance.vibrating = True  # a draught: it never settles
        balance.place(9.0)
        timeout = sub.wait_for(lambda p: next((w for w in p[mark:] if w["fault"] == "unstable_timeout"), None),
                               WEIGHT, message="unstable_timeout")
        assert timeout["grams"] == pytest.approx(9.0, abs=0.01) and not timeout["stable"]  # the unstable reading
        balance.vibrating = False
        sub.wait_for(lambda p: p[-1]["grams"] == 9.0 and p[-1]["stable"], WEIGHT, message="9 g")
        faults = [w["fault"] for w in sub.payloads(WEIGHT) if w["fault"]]
    sub.close()
    assert faults == ["overload", "bad_line", "unstable_timeout"]
