"""The casting stack light: a pty probe, a retained window on a real mosquitto, MockFactory pins."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

import paho.mqtt.publish as publish
import pytest
from hypothesis import given, strategies as st

from benchpin.config import ConfigError, IndicatorConfig, parse_config
from benchpin.contract import ProbeWindow
from firmware_bridge.probe import ProbeReading, format_line
from gateway.service import Gateway
from gateway.settings import gateway_checks
from gateway.stack_light import Light, StackLight, light_for
from tests import stations
from tests.helpers import Subscriber, wait_until

WINDOW = "benchpin/jaipur/casting-1/probe/furnace-1/window"
STATUS = "benchpin/jaipur/casting-1/status"
GREEN, AMBER, RED, BUZZER = 5, 6, 13, 19
SILVER = {"tree_id": "T-0042", "metal": "silver_925", "min_c": 950, "max_c": 1010}


# ---------------------------------------------------------------------- the decision

temperatures = st.floats(min_value=-300, max_value=3000, allow_nan=False)


@st.composite
def windows(draw: Any) -> ProbeWindow:
    low, high = sorted((draw(temperatures), draw(temperatures)))
    return ProbeWindow(tree_id="T-1", metal="silver_925", min_c=low, max_c=high)


@given(st.none() | windows(), st.none() | st.floats(), st.booleans())
def test_light_follows_the_window_and_never_shows_green_for_a_furnace_it_cannot_read(window, value, faulted):
    light = light_for(window, value, faulted)
    if window is None:
        assert light is Light.OFF
    elif faulted or value is None or not math.isfinite(value):
        assert light is Light.RED
    elif value < window.min_c:
        assert light is Light.AMBER
    elif value > window.max_c:
        assert light is Light.RED
    else:
        assert light is Light.GREEN
    assert (light is Light.GREEN) == (window is not None and not faulted and value is not None
                                     and math.isfinite(value) and window.contains(value))


def test_light_at_the_window_edges():
    window = ProbeWindow(tree_id="T-1", metal="silver_925", min_c=950.0, max_c=1010.0)
    assert [light_for(window, v, False) for v in (949.99, 950.0, 1010.0, 1010.01, math.inf, -math.inf)] == [
        Light.AMBER, Light.GREEN, Light.GREEN, Light.RED, Light.RED, Light.RED]


def test_a_probe_silent_for_its_stall_time_turns_the_light_red(mock_factory):
    # A MAX31855 has no stalled port to report: the light's own clock catches the silence.
    now = [100.0]
    light = StackLight(IndicatorConfig("pour-1", "furnace-1", GREEN, AMBER, RED, BUZZER), 10.0,
                       pin_factory=mock_factory, clock=lambda: now[0])
    light.open()
    light.on_window(WINDOW, json.dumps(SILVER).encode())
    light.on_reading(1000.0, None)
    assert lit(mock_factory) == {"green"} and mock_factory.pin(BUZZER).state
    now[0] += 0.25
    light.poll()
    assert not mock_factory.pin(BUZZER).state  # the beep is over
    now[0] += 9.0
    light.poll()
    assert lit(mock_factory) == {"green"}
    now[0] += 1.0
    light.poll()
    assert lit(mock_factory) == {"red"} and light.counters.light == "red"
    light.on_reading(1000.0, None)
    assert lit(mock_factory) == {"green"} and light.counters.beeps == 2
    light.close()
    assert lit(mock_factory) == set() and not mock_factory.pin(BUZZER).state


def test_the_beep_lasts_beep_s_and_zero_silences_it(mock_factory):
    now = [100.0]
    long_beep = StackLight(IndicatorConfig("pour-1", "furnace-1", GREEN, AMBER, RED, BUZZER, beep_s=1.5), 10.0,
                           pin_factory=mock_factory, clock=lambda: now[0])
    long_beep.open()
    long_beep.on_window(WINDOW, json.dumps(SILVER).encode())
    long_beep.on_reading(1000.0, None)
    now[0] += 1.0
    long_beep.poll()
    assert mock_factory.pin(BUZZER).state  # still sounding after 1 s of 1.5
    now[0] += 0.6
    long_beep.poll()
    assert not mock_factory.pin(BUZZER).state
    long_beep.close()
    silent = StackLight(IndicatorConfig("pour-1", "furnace-1", GREEN, AMBER, RED, BUZZER, beep_s=0.0), 10.0,
                        pin_factory=mock_factory, clock=lambda: now[0])
    silent.open()
    silent.on_window(WINDOW, json.dumps(SILVER).encode())
    silent.on_reading(1000.0, None)
    assert lit(mock_factory) == {"green"} and not mock_factory.pin(BUZZER).state and silent.counters.beeps == 0
    silent.close()


# ---------------------------------------------------------------------- the config

def station(tmp_path: Path, port: int, link: Path, **indicator: object) -> dict:
    return stations.station(tmp_path, port, gateway={
        "status_interval_s": 0.3,
        "probes": [{"id": "furnace-1", "kind": "serial", "port": str(link), "stall_timeout_s": 1.5}],
        "indicators": [{"id": "pour-1", "probe": "furnace-1", "green": GREEN, "amber": AMBER, "red": RED,
                        "buzzer": BUZZER, **indicator}]})


def problems_of(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, checks=(gateway_checks,))
    return info.value.problems


def test_check_config_names_a_bad_indicator_by_its_key_path(tmp_path):
    data = station(tmp_path, 1883, tmp_path / "tty")
    data["gateway"]["engravers"] = [{"id": "laser-1", "port": "/dev/l", "door_pin": 17}]
    data["gateway"]["indicators"] += [
        {"id": "pour-1", "probe": "furnace-9", "green": 17, "amber": GREEN, "red": 60, "colour": "blue"},
        {"id": "pour-3", "probe": "furnace-1", "amber": 20, "red": 21, "buzzer": "yes"}]
    problems = problems_of(data)
    assert "gateway.indicators[1].probe: names no probe of this gateway: 'furnace-9' (probes: 'furnace-1')" \
        in problems
    assert any(p.startswith("gateway.indicators[1].red: ") for p in problems)
    assert "gateway.indicators[1].colour: unknown key" in problems
    assert "gateway.indicators[1].id: duplicate id 'pour-1'" in problems
    assert any(p.startswith("gateway.indicators[2].green: ") for p in problems)
    assert any(p.startswith("gateway.indicators[2].buzzer: ") for p in problems)


def test_check_config_refuses_a_pin_claimed_twice(tmp_path):
    data = station(tmp_path, 1883, tmp_path / "tty")
    data["gateway"]["engravers"] = [{"id": "laser-1", "port": "/dev/l", "door_pin": 17}]
    data["gateway"]["probes"].append({"id": "furnace-2", "kind": "serial", "port": "/dev/p2"})
    data["gateway"]["indicators"].append({"id": "pour-2", "probe": "furnace-2", "green": 17, "amber": 20,
                                          "red": RED})
    assert problems_of(data) == [
        "gateway.indicators[1].green: GPIO17 is already the door of engraver 'laser-1'",
        "gateway.indicators[1].red: GPIO13 is already the red pin of indicator 'pour-1'"]


def test_an_indicator_without_a_buzzer_is_accepted(tmp_path):
    data = station(tmp_path, 1883, tmp_path / "tty")
    del data["gateway"]["indicators"][0]["buzzer"]
    config = parse_config(data, checks=(gateway_checks,))
    assert config.gateway is not None and config.gateway.indicators[0].buzzer is None


# ---------------------------------------------------------------------- end to end

def lit(factory: Any) -> set[str]:
    return {name for name, pin in (("green", GREEN), ("amber", AMBER), ("red", RED)) if factory.pin(pin).state}


def beeps(factory: Any) -> int:
    states = [s.state for s in factory.pin(BUZZER).states]
    return sum(1 for before, after in zip(states, states[1:]) if after and not before)


def quiet(factory: Any, count: int) -> bool:
    """The buzzer has beeped ``count`` times and is silent again."""
    return beeps(factory) == count and not factory.pin(BUZZER).state


def set_window(broker: Any, payload: dict | None) -> None:
    body = b"" if payload is None else json.dumps(payload).encode()
    publish.single(WINDOW, body, qos=1, retain=True, hostname="127.0.0.1", port=broker.port)


@pytest.fixture
def running(tmp_path, broker, pty_link, mock_factory) -> Iterator[tuple[Gateway, Any]]:
    with Gateway(parse_config(station(tmp_path, broker.port, pty_link.link)), pin_factory=mock_factory) as gw:
        wait_until(lambda: all(s.state == "up" for s in gw.supervisors), message="probe and light up")
        yield gw, mock_factory


def reading(link: Any, value: float) -> None:
    link.write(format_line(ProbeReading(1, value)))


def test_the_light_follows_pty_readings_and_the_retained_window(running, pty_link, broker):
    gateway, factory = running
    reading(pty_link, 1000.0)
    wait_until(lambda: gateway.counters["probe furnace-1"].readings >= 1, message="first reading")
    assert lit(factory) == set()  # no window: all off, whatever the furnace reads
    set_window(broker, SILVER)
    wait_until(lambda: lit(factory) == {"green"}, message="green inside the window")
    wait_until(lambda: quiet(factory, 1), message="one beep on entering the window, then quiet")
    reading(pty_link, 900.0)
    wait_until(lambda: lit(factory) == {"amber"}, message="amber below")
    reading(pty_link, 1061.0)
    wait_until(lambda: lit(factory) == {"red"}, message="red above")
    reading(pty_link, 980.0)
    wait_until(lambda: lit(factory) == {"green"}, message="green again")
    wait_until(lambda: quiet(factory, 2), message="a second beep, then quiet")
    reading(pty_link, 985.0)  # staying inside: no beep
    pty_link.write(b"T1=FAULT:OC\r\n")
    wait_until(lambda: lit(factory) == {"red"}, message="red on a thermocouple fault")
    reading(pty_link, 990.0)
    wait_until(lambda: lit(factory) == {"green"}, message="green after the fault")
    wait_until(lambda: quiet(factory, 3), message="a third beep")
    # Silence for the probe's stall time (1.5 s) turns it red before the supervisor reopens the port.
    wait_until(lambda: lit(factory) == {"red"}, timeout=5, message="red when the probe goes silent")
    # The port is reopened meanwhile: send until a reading gets through.
    wait_until(lambda: (reading(pty_link, 990.0), lit(factory) == {"green"})[1], interval=0.2,
               message="green when readings come back")
    wait_until(lambda: quiet(factory, 4), message="a fourth beep")
    set_window(broker, None)
    wait_until(lambda: lit(factory) == set(), message="all off when the window is cleared")
    assert beeps(factory) == 4
    light = gateway.indicators[0]
    assert light.counters.beeps == 4 and light.counters.tree_id is None


def test_a_bad_window_turns_the_light_off_and_is_counted(running, pty_link, broker):
    gateway, factory = running
    set_window(broker, SILVER)
    reading(pty_link, 1000.0)
    wait_until(lambda: lit(factory) == {"green"}, message="green")
    set_window(broker, {**SILVER, "min_c": 1100})  # min above max
    wait_until(lambda: lit(factory) == set(), message="off on a refused window")
    assert gateway.indicators[0].counters.bad_windows == 1


def test_the_gateway_status_reports_the_light(running, pty_link, broker):
    gateway, factory = running
    sub = Subscriber(broker.port, STATUS)
    set_window(broker, SILVER)
    reading(pty_link, 900.0)
    wait_until(lambda: lit(factory) == {"amber"}, message="amber")
    gateway.session.publish_status()  # Gateway.run() does this every status interval
    status = sub.wait_for(lambda ps: [p for p in ps if p.get("devices", {}).get("indicator:pour-1", {})
                                      .get("light") == "amber"], STATUS)[-1]
    sub.close()
    entry = status["devices"]["indicator:pour-1"]
    assert entry["state"] == "up"
    assert entry["tree_id"] == "T-0042" and entry["min_c"] == 950 and entry["max_c"] == 1010


def test_a_restarted_gateway_finds_the_retained_window_and_shows_the_right_colour(tmp_path, broker, pty_link,
                                                                                  mock_factory):
    config = parse_config(station(tmp_path, broker.port, pty_link.link))
    set_window(broker, SILVER)
    with Gateway(config, pin_factory=mock_factory) as gateway:
        wait_until(lambda: gateway.supervisors[0].state == "up", message="probe open")
        reading(pty_link, 1000.0)
        wait_until(lambda: lit(mock_factory) == {"green"}, message="green before the restart")
    assert lit(mock_factory) == set()  # a stopped gateway leaves the light dark
    mock_factory.pin(BUZZER).clear_states()
    with Gateway(config, pin_factory=mock_factory) as gateway:
        wait_until(lambda: gateway.supervisors[0].state == "up", message="probe open again")
        wait_until(lambda: gateway.indicators[0].counters.tree_id == "T-0042", message="retained window found")
        assert lit(mock_factory) == {"red"}  # a window, but no reading yet: not known to be inside
        reading(pty_link, 1061.0)
        wait_until(lambda: lit(mock_factory) == {"red"} and gateway.counters["probe furnace-1"].readings,
                   message="red above after the restart")
        reading(pty_link, 1005.0)
        wait_until(lambda: lit(mock_factory) == {"green"}, message="green after the restart")
        wait_until(lambda: quiet(mock_factory, 1), message="the beep after the restart")
