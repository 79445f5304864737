"""The GRBL simulator as a host sees it through a real pty and pyserial."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import serial

from firmware_bridge.grbl import Alarm, Error, Ok, Setting, Status, Welcome, parse_reply
from firmware_bridge.sim.grbl import GrblSim
from firmware_bridge.streamer import Streamer
from tests.helpers import wait_until


class Host:
    """A test's end of the cable: send bytes, collect parsed replies."""

    def __init__(self, path: Path) -> None:
        self.port = serial.Serial(str(path), 115200, timeout=0.05)
        self.buffer = b""
        self.replies: list = []

    def pump(self) -> list:
        self.buffer += self.port.read(self.port.in_waiting or 1)
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self.replies.append(parse_reply(line))
        return self.replies

    def wait_for(self, predicate, message: str = "reply"):
        return wait_until(lambda: predicate(self.pump()), timeout=10, interval=0, message=message)

    def status(self) -> Status:
        self.replies.clear()
        self.port.write(b"?")
        self.wait_for(lambda r: any(isinstance(x, Status) for x in r), "status")
        return [x for x in self.replies if isinstance(x, Status)][-1]


@pytest.fixture
def sim(tmp_path) -> Iterator[GrblSim]:
    with GrblSim(str(tmp_path / "ttyGRBL"), speedup=20) as machine:
        yield machine


@pytest.fixture
def host(sim) -> Iterator[Host]:
    client = Host(sim.pty.link)
    yield client
    client.port.close()


def stream(host: Host, lines: list[str]) -> Streamer:
    streamer = Streamer(lines)
    seen = 0
    while not streamer.finished:
        for data in streamer.take():
            host.port.write(data)
        replies = host.pump()
        for reply in replies[seen:]:
            streamer.handle_reply(reply)
        seen = len(replies)
    return streamer


def test_grbl_sim_streams_with_character_counting_without_overflow(sim, host):
    lines = ["G21", "G90", "M4 S500"] + [f"G1 X{i % 7} Y{i % 5} F6000" for i in range(300)] + ["M5"]
    streamer = stream(host, lines)
    assert streamer.failure is None
    assert sim.gcode_lines == lines
    assert sim.overflows == 0


def test_grbl_sim_answers_status_at_once_and_holds_and_resumes(sim, host):
    host.port.write(b"G1 X50 F600\n")  # five seconds of motion at speedup 20 = 0.25 s
    host.wait_for(lambda r: Ok() in r, "ok")
    assert host.status().state == "Run"
    host.port.write(b"!")
    assert (host.status().state, host.status().substate) == ("Hold", 0)
    host.port.write(b"~")
    assert host.status().state == "Run"
    wait_until(lambda: host.status().state == "Idle", message="motion done")


def test_grbl_sim_door_holds_until_closed_and_resumed(sim, host):
    host.port.write(b"G1 X50 F600\n")
    sim.set_door(True)
    status = host.status()
    assert (status.state, status.pins) == ("Door", "D")
    sim.set_door(False)
    assert (host.status().state, host.status().substate) == ("Door", 0)  # closing does not resume
    host.port.write(b"~")
    assert host.status().state in ("Run", "Idle")


def test_grbl_sim_alarm_locks_until_unlocked_and_reset_sends_the_banner(sim, host):
    host.wait_for(lambda r: Welcome("1.1h") in r, "banner at start")
    sim.trigger_alarm(1)
    host.wait_for(lambda r: Alarm(1) in r, "ALARM:1")
    host.replies.clear()
    host.port.write(b"G0 X1\n")
    host.wait_for(lambda r: Error(9) in r, "locked out")
    host.port.write(b"$X\n")
    host.wait_for(lambda r: Ok() in r, "unlocked")
    assert host.status().state == "Idle"
    host.replies.clear()
    host.port.write(b"\x18")
    host.wait_for(lambda r: Welcome("1.1h") in r, "banner after reset")
    assert ("rt", "reset") in sim.events


def test_grbl_sim_reset_in_motion_raises_alarm_3(sim, host):
    host.port.write(b"G1 X80 F300\n")
    host.wait_for(lambda r: Ok() in r, "ok")
    host.port.write(b"\x18")
    host.wait_for(lambda r: Alarm(3) in r, "ALARM:3")
    assert host.status().state == "Alarm"


def test_grbl_sim_fails_the_chosen_line_and_reports_settings(sim, host):
    sim.fail_line(2, 20)
    streamer = stream(host, ["G0 X0", "G0 X1", "G0 X2"])
    assert streamer.failure.line_number == 2 and streamer.failure.reply == Error(20)
    host.replies.clear()
    host.port.write(b"$$\n")
    host.wait_for(lambda r: any(isinstance(x, Setting) and x.number == 32 for x in r), "settings")
    assert Setting(32, "1") in host.replies


def test_grbl_sim_fast_mode_answers_m5_at_once_and_keeps_laser_mode_on(sim, host):
    host.port.write(b"M4 S300\nG1 X50 F600\nM5\n")  # 5 s of motion at speedup 20 = 0.25 s
    host.wait_for(lambda r: r.count(Ok()) == 3, "all three answered")
    assert not sim.faithful and sim.planner_blocks == 1  # M5 did not wait for the block
    assert sim.settings[32] == "1"
