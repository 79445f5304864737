"""Engraver jobs end to end: real mosquitto, the GRBL simulator on a pty, gpiozero's MockFactory door."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from benchpin.config import parse_config
from firmware_bridge.sim.grbl import GrblSim
from gateway.service import Gateway
from tests.engraving import (DOOR_PIN, JOB_TOPIC, PREFIX, STATE_TOPIC, gcode_after_last_settings_query, job, laser,
                             program, publish, station, states, wait_polls, wait_state)
from tests.helpers import Subscriber, wait_until


@pytest.fixture
def sim(tmp_path: Path, request) -> Iterator[GrblSim]:
    speedup = getattr(request, "param", 20.0)
    with laser(tmp_path / "ttyLASER", speedup) as machine:
        yield machine


@pytest.fixture
def door(mock_factory):
    return mock_factory.pin(DOOR_PIN)


@pytest.fixture
def reply_timeout() -> float:
    return 5.0


@pytest.fixture
def running(tmp_path, broker, sim, door, mock_factory, reply_timeout) -> Iterator[tuple[Gateway, Subscriber, dict]]:
    data = station(tmp_path, broker.port, sim.pty.link, reply_timeout_s=reply_timeout)
    sub = Subscriber(broker.port, f"{PREFIX}/#")
    with Gateway(parse_config(data), pin_factory=mock_factory) as gateway:
        wait_until(lambda: all(s.state == "up" for s in gateway.supervisors), message="engraver open")
        door.drive_low()  # the pulled-up input reads open until the switch closes: shut the door
        sub.wait_for(lambda p: p and p[-1]["state"] == "Idle", STATE_TOPIC, message="laser Idle, door shut")
        yield gateway, sub, data
    sub.close()


def test_engraver_job_reaches_the_laser_byte_for_byte_and_ends_done(running, sim, broker):
    gateway, sub, data = running
    message = job("J-1")
    publish(sub, JOB_TOPIC, message)
    done = wait_state(sub, "J-1", "done")
    expected = program(data, message)
    assert gcode_after_last_settings_query(bytes(sim.received)) == "".join(line + "\n" for line in expected).encode()
    assert states(sub, "J-1") == ["accepted", "running", "done"]
    assert done["job_id"] == "J-1" and done["detail"] == ""
    assert sim.overflows == 0
    late = Subscriber(broker.port, f"{PREFIX}/#")  # job and machine states are retained
    late.wait_for(lambda p: any(m.get("state") == "done" for m in p), f"{PREFIX}/job/J-1")
    late.wait_for(lambda p: p and p[-1]["state"] == "Idle", STATE_TOPIC)
    late.close()


def test_engraver_same_job_id_twice_engraves_once(running, sim):
    gateway, sub, data = running
    message = job("J-2")
    publish(sub, JOB_TOPIC, message)
    publish(sub, JOB_TOPIC, message)
    wait_state(sub, "J-2", "done")
    publish(sub, JOB_TOPIC, message)
    sub.wait_for(lambda p: [m["state"] for m in p].count("done") >= 2, f"{PREFIX}/job/J-2",
                 message="done answered again")
    assert sim.gcode_lines == program(data, message)  # fired once
    assert sim.lines.count("$$") == 1
    assert gateway.counters["jobs laser-1"].duplicates == 2


@pytest.mark.parametrize("sim", [1.0], indirect=True)
def test_engraver_door_opened_mid_job_holds_before_the_next_line(running, sim, door):
    gateway, sub, data = running
    message = job("J-3", text="PC-000000000042")
    publish(sub, JOB_TOPIC, message)
    wait_until(lambda: len(sim.gcode_lines) >= 30, message="the job under way")
    door.drive_high()
    interrupted = wait_state(sub, "J-3", "interrupted")
    assert "door" in interrupted["detail"]
    events = list(sim.events)
    hold = events.index(("rt", "!"))
    assert [e for e in events[hold:] if e[0] == "line"] == []  # no line after the feed hold
    assert len(sim.gcode_lines) < len(program(data, message))
    sub.wait_for(lambda p: p and p[-1]["state"] == "Door", STATE_TOPIC, message="state Door")
    sent = len(sim.gcode_lines)
    door.drive_low()
    sub.wait_for(lambda p: p and p[-1]["state"] == "Idle", STATE_TOPIC, message="Idle once closed")
    wait_polls(sim, 10)
    assert len(sim.gcode_lines) == sent and states(sub, "J-3")[-1] == "interrupted"  # not resumed
    # An operator retries from the kiosk: the whole job runs again.
    publish(sub, f"{PREFIX}/job/J-3/command", {"action": "retry", "operator": "OP-0007"})
    wait_state(sub, "J-3", "done", timeout=30)
    assert gcode_after_last_settings_query(bytes(sim.received)).decode().splitlines() == program(data, message)


def test_engraver_rejects_a_job_sent_with_the_door_open(running, sim, door):
    gateway, sub, data = running
    door.drive_high()
    sub.wait_for(lambda p: p and p[-1]["state"] == "Door", STATE_TOPIC, message="state Door")
    publish(sub, JOB_TOPIC, job("J-4"))
    rejected = wait_state(sub, "J-4", "rejected")
    assert "door is open" in rejected["detail"]
    assert sim.gcode_lines == [] and "$$" not in sim.lines


def test_engraver_door_opened_during_the_settings_check_is_caught_before_firing(running, sim, door):
    """The door opens while GRBL answers ``$$``: the check just before firing refuses the job."""
    gateway, sub, data = running
    engraver = gateway.engravers[0]

    def open_door_on_settings_query(line: str) -> None:
        if line == "$$":
            door.drive_high()
            wait_until(engraver.door_is_open, timeout=5, message="the gateway sees the door open")

    sim.when_line = open_door_on_settings_query
    publish(sub, JOB_TOPIC, job("J-4b"))
    rejected = wait_state(sub, "J-4b", "rejected")
    assert "door is open" in rejected["detail"]
    assert sim.lines.count("$$") == 1  # the door opened during the check, not before it
    assert sim.gcode_lines == [] and states(sub, "J-4b") == ["accepted", "rejected"]


def test_engraver_door_opened_and_shut_while_idle_fires_the_next_job(running, sim, door):
    gateway, sub, data = running
    # One door switch, wired to GRBL's door input and to the Pi's GPIO.
    sim.set_door(True)
    door.drive_high()
    sub.wait_for(lambda p: p and p[-1]["state"] == "Door", STATE_TOPIC, message="state Door")
    sim.set_door(False)
    door.drive_low()
    sub.wait_for(lambda p: p and p[-1]["state"] == "Idle", STATE_TOPIC, message="GRBL back to Idle")
    publish(sub, JOB_TOPIC, job("J-20"))
    wait_state(sub, "J-20", "done")
    assert program(data, job("J-20"))[-1] in sim.gcode_lines


def test_engraver_error_mid_job_fails_it_with_grbl_meaning_and_the_queue_goes_on(running, sim):
    gateway, sub, data = running
    sim.fail_line(12, 20)
    publish(sub, JOB_TOPIC, job("J-5"))
    publish(sub, JOB_TOPIC, job("J-6", text="PC-0043"))
    failed = wait_state(sub, "J-5", "failed")
    line = program(data, job("J-5"))[11]
    assert failed["detail"] == f"line 12 {line!r}: error:20 Unsupported command: unsupported or invalid " \
                               "g-code command found in block."
    wait_state(sub, "J-6", "done")
    assert gcode_after_last_settings_query(bytes(sim.received)).decode().splitlines() == \
        program(data, job("J-6", text="PC-0043"))


@pytest.mark.parametrize("sim", [2.0], indirect=True)
def test_engraver_alarm_mid_job_interrupts_it_and_the_queue_waits_until_cleared(running, sim):
    gateway, sub, data = running
    publish(sub, JOB_TOPIC, job("J-7", text="PC-000000000042"))
    wait_until(lambda: len(sim.gcode_lines) >= 20, message="the job under way")
    sim.trigger_alarm(1)
    interrupted = wait_state(sub, "J-7", "interrupted")
    assert interrupted["detail"].startswith("ALARM:1 Hard limit: hard limit has been triggered")
    sub.wait_for(lambda p: p and p[-1]["state"] == "Alarm", STATE_TOPIC, message="state Alarm")
    publish(sub, JOB_TOPIC, job("J-8", text="PC-0044"))
    wait_state(sub, "J-8", "accepted")
    sent = len(sim.lines)
    wait_polls(sim, 10)
    assert len(sim.lines) == sent and states(sub, "J-8") == ["accepted"]  # waits while the alarm stands
    sim.unlock()
    wait_state(sub, "J-8", "done")
    assert gcode_after_last_settings_query(bytes(sim.received)).decode().splitlines() == \
        program(data, job("J-8", text="PC-0044"))


def test_engraver_rejects_bad_jobs_with_the_reason(running, sim):
    gateway, sub, data = running
    publish(sub, JOB_TOPIC, job("J-9", material="platinum"))
    publish(sub, JOB_TOPIC, job("J-10", text="PC_42@"))
    assert "unknown material 'platinum'" in wait_state(sub, "J-9", "rejected")["detail"]
    assert "no glyph for '@_'" in wait_state(sub, "J-10", "rejected")["detail"]
    sim.settings[32] = "0"
    publish(sub, JOB_TOPIC, job("J-11"))
    assert "laser mode is off ($32=0)" in wait_state(sub, "J-11", "rejected")["detail"]
    assert sim.gcode_lines == []


@pytest.mark.parametrize("sim", [1.0], indirect=True)
def test_engraver_port_vanishing_mid_job_interrupts_it_and_recovers(running, sim):
    gateway, sub, data = running
    publish(sub, JOB_TOPIC, job("J-12", text="PC-000000000042"))
    wait_until(lambda: len(sim.gcode_lines) >= 20, message="the job under way")
    sim.pty.unplug()
    assert "serial link" in wait_state(sub, "J-12", "interrupted")["detail"]
    sub.wait_for(lambda p: p and p[-1]["state"] == "offline", STATE_TOPIC, message="state offline")
    sim.pty.replug()
    sub.wait_for(lambda p: p and p[-1]["state"] in ("Idle", "Alarm"), STATE_TOPIC, timeout=20,
                 message="the engraver back")
    assert states(sub, "J-12")[-1] == "interrupted"


def test_engraver_survives_garbage_from_the_laser_mid_job_and_counts_it(running, sim):
    gateway, sub, data = running
    publish(sub, JOB_TOPIC, job("J-13"))
    wait_state(sub, "J-13", "running")
    noise = [b"\xff\xfe\x00garbage\r\n", b"<Walk|MPos:1>\r\n", b"error:x\r\n", b"[MSG\r\n", b"ok ok\r\n"]
    sim.send_raw(b"".join(noise * 20))
    wait_state(sub, "J-13", "done")
    assert gcode_after_last_settings_query(bytes(sim.received)).decode().splitlines() == program(data, job("J-13"))
    assert gateway.counters["engraver laser-1"].bad_replies == 100


@pytest.mark.parametrize("reply_timeout", [1.0])
@pytest.mark.parametrize("sim", [1.0], indirect=True)
def test_engraver_laser_going_silent_mid_job_interrupts_it(running, sim):
    gateway, sub, data = running
    publish(sub, JOB_TOPIC, job("J-14", text="PC-000000000042"))
    wait_until(lambda: len(sim.gcode_lines) >= 20, message="the job under way")
    sim.stop()  # the controller hangs: the port stays, nothing answers
    assert "serial link" in wait_state(sub, "J-14", "interrupted")["detail"]
    sub.wait_for(lambda p: p and p[-1]["state"] == "offline", STATE_TOPIC, message="state offline")
    assert len(sim.gcode_lines) < len(program(data, job("J-14", text="PC-000000000042")))
