"""The faithful GRBL simulator as a host sees it through its pty: ordering, locks, door, limits.

Timing claims are checked with the simulator's own bookkeeping (:attr:`GrblSim.acks` records
the planner's state when each reply was sent), never against the wall clock.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.grbl import Alarm, Error, Message, Ok, Reply, Setting, Status, Welcome, parse_reply
from firmware_bridge.sim.grbl import PLANNER_BLOCKS, GrblSim
from firmware_bridge.streamer import Streamer
from tests.helpers import wait_until


class Host:
    """A test's end of the cable: send bytes, collect parsed replies."""

    def __init__(self, path: Path) -> None:
        self.port = serial.Serial(str(path), 115200, timeout=0.02)
        self.buffer = b""
        self.replies: list[Reply] = []

    def pump(self) -> list[Reply]:
        self.buffer += self.port.read(self.port.in_waiting or 1)
        *lines, self.buffer = self.buffer.split(b"\n")
        self.replies += [parse_reply(line) for line in lines if line.strip()]
        return self.replies

    def wait_for(self, predicate: Callable[[list[Reply]], Any], message: str = "reply") -> Any:
        return wait_until(lambda: predicate(self.pump()), timeout=10, interval=0, message=message)

    def status(self) -> Status:
        before = len(self.pump())
        self.port.write(b"?")
        self.wait_for(lambda r: any(isinstance(x, Status) for x in r[before:]), "status")
        return [x for x in self.replies[before:] if isinstance(x, Status)][-1]

    def send(self, *lines: str) -> None:
        self.port.write("".join(line + "\n" for line in lines).encode())

    def quiet(self, sim: GrblSim, line: str | None) -> list[Reply]:
        """Send ``line`` (if any) and a ``?``; once the simulator has both, return what came back."""
        before, polls, count = len(self.pump()), sim.events.count(("rt", "?")), len(sim.lines)
        self.port.write(b"" if line is None else line.encode() + b"\n")
        self.port.write(b"?")
        wait_until(lambda: sim.wire_empty and sim.events.count(("rt", "?")) > polls
                   and len(sim.lines) == count + (line is not None), message="bytes delivered")
        time.sleep(0.1)  # give a (wrong) answer time to come back
        return self.pump()[before:]


def job(n: int) -> list[str]:
    """One engraving job's worth of laser G-code (a different little square for each ``n``)."""
    x, y = 2.0 + n, 2.0 + 2 * n
    return ["G21", "G90", "M5", f"G0 X{x} Y{y}", "M4 S300", f"G1 X{x + 6} Y{y} F1500",
            f"G1 X{x + 6} Y{y + 6}", f"G1 X{x} Y{y + 6}", f"G1 X{x} Y{y}", "M5", "G0 X0 Y0", "M2"]


def stream(host: Host, lines: list[str]) -> Streamer:
    """Character-count ``lines`` to the simulator until all are answered or one fails."""
    streamer = Streamer(lines)
    seen = len(host.pump())
    while not streamer.finished:
        for data in streamer.take():
            host.port.write(data)
        replies = host.pump()
        for reply in replies[seen:]:
            streamer.handle_reply(reply)
        seen = len(replies)
    return streamer


class Feeder:
    """A character-counting stream the test advances step by step (``feed`` in its waits)."""

    def __init__(self, host: Host, lines: list[str]) -> None:
        self.host, self.streamer, self.seen = host, Streamer(lines), len(host.pump())

    def feed(self) -> Streamer:
        for data in self.streamer.take():
            self.host.port.write(data)
        replies = self.host.pump()
        for reply in replies[self.seen:]:
            self.streamer.handle_reply(reply)
        self.seen = len(replies)
        return self.streamer


def make_sim(tmp_path: Path, **kwargs: Any) -> GrblSim:
    kwargs.setdefault("speedup", 50.0)
    return GrblSim(str(tmp_path / "ttyGRBL"), faithful=True, **kwargs)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[GrblSim]:
    with make_sim(tmp_path, settings={10: 3}) as machine:
        yield machine


@pytest.fixture
def host(sim: GrblSim) -> Iterator[Host]:
    client = Host(sim.pty.link)
    client.wait_for(lambda r: Welcome("1.1h") in r, "banner")
    yield client
    client.port.close()


def acks_of(sim: GrblSim, line: str) -> list[Any]:
    return [a for a in sim.acks if a.line == line.replace(" ", "")]


def test_faithful_sim_laser_mode_is_off_by_default_as_in_the_firmware(sim: GrblSim, host: Host) -> None:
    host.send("$$")
    host.wait_for(lambda r: Ok() in r, "settings listed")
    assert Setting(32, "0") in host.replies
    host.send("$32=1", "$$")
    host.wait_for(lambda r: Setting(32, "1") in r, "laser mode on")


def test_faithful_sim_laser_mode_can_be_chosen(tmp_path: Path) -> None:
    with make_sim(tmp_path, laser_mode=True) as machine:
        assert machine.settings[32] == "1"
    with GrblSim(str(tmp_path / "ttyFAST")) as fast:  # the fast machine keeps the configured laser
        assert fast.settings[32] == "1"


def test_faithful_sim_spindle_changes_wait_for_the_planner_over_several_jobs(sim: GrblSim, host: Host) -> None:
    lines = [line for n in range(4) for line in job(n)]
    streamer = stream(host, lines)
    assert streamer.failure is None and streamer.acknowledged == len(lines)
    assert [a.line for a in sim.acks] == [line.replace(" ", "") for line in lines]
    waits = 0
    for index, ack in enumerate(sim.acks):
        if ack.line in ("M4S300", "M2") or (ack.line == "M5" and lines[index - 1].startswith("G1")):
            # A spindle change or program end: answered only with every queued block run.
            assert ack.planner_blocks == 0 and ack.state == "Idle", ack
            assert ack.blocks_done > sim.acks[index - 1].blocks_done, ack  # it had to wait
            waits += 1
    assert waits == 4 * 3
    # Motion lines were answered while their blocks were still queued.
    assert max(a.planner_blocks for a in sim.acks if a.line.startswith("G1")) >= 2
    assert sim.blocks_done == 4 * 6
    assert [m for m in host.replies if isinstance(m, Message)] == [Message("Pgm End")] * 4


def test_faithful_sim_answers_status_run_while_m5_waits_behind_queued_blocks(tmp_path: Path) -> None:
    with make_sim(tmp_path, speedup=20.0) as machine:  # 12 s of burning = 0.6 s here
        host = Host(machine.pty.link)
        host.send("M4 S300", "G1 X30 F300", "G1 X0", "M5", "G0 X5")
        wait_until(lambda: machine.waiting_line == "M5", message="M5 waiting for the planner")
        states = [host.status().state for _ in range(3)]
        assert machine.waiting_line == "M5" and machine.planner_blocks >= 1  # still waiting after the polls
        assert states == ["Run"] * 3
        assert host.pump().count(Ok()) == 3  # M5 and the G0 behind it unanswered
        assert machine.queued_seconds() > 0
        host.wait_for(lambda r: r.count(Ok()) == 5, "M5 and G0 answered")
        m5 = acks_of(machine, "M5")[0]
        assert (m5.planner_blocks, m5.blocks_done, m5.state) == (0, 2, "Idle")
        assert acks_of(machine, "G0X5")[0].at >= m5.at
        host.port.close()


def test_faithful_sim_dwell_waits_for_the_planner_then_for_itself(sim: GrblSim, host: Host) -> None:
    host.send("G1 X10 F600", "G4 P5", "G0 X0")
    wait_until(lambda: sim.waiting_line == "G4P5" and sim.planner_empty, message="dwelling")
    assert sim.queued_seconds() > 0  # the dwell itself
    assert host.status().state == "Idle"  # GRBL dwells in Idle
    host.wait_for(lambda r: r.count(Ok()) == 3, "all answered")
    dwell = acks_of(sim, "G4P5")[0]
    assert dwell.planner_blocks == 0 and dwell.blocks_done == 1
    assert acks_of(sim, "G0X0")[0].at >= dwell.at


def test_faithful_sim_planner_holds_fifteen_blocks(sim: GrblSim, host: Host) -> None:
    lines = [f"G1 X{(i % 2) * 40} Y{i + 1} F600" for i in range(40)]  # ~4 s a block at speedup 50
    feeder = Feeder(host, lines)
    wait_until(lambda: feeder.feed() and sim.planner_blocks == PLANNER_BLOCKS and sim.waiting_line is not None,
               interval=0, message="planner full")
    status = host.status()
    assert status.fields["Bf"].split(",")[0] == "0"
    assert len(sim.acks) == PLANNER_BLOCKS + sim.blocks_done  # the next line waits for room
    assert max(a.planner_blocks for a in sim.acks) == PLANNER_BLOCKS
    host.port.write(b"\x18")
    host.wait_for(lambda r: Alarm(3) in r, "reset while moving")


def test_faithful_sim_position_moves_along_a_block(tmp_path: Path) -> None:
    with make_sim(tmp_path, speedup=5.0) as machine:
        host = Host(machine.pty.link)
        host.send("G1 X30 Y0 F600")  # 3 s at speedup 5 = 0.6 s
        wait_until(lambda: machine.state == "Run", message="running")
        seen = [host.status().mpos for _ in range(5)]
        xs = [p[0] for p in seen if p is not None]
        assert xs == sorted(xs) and len(set(xs)) > 1
        assert any(0 < x < 30 for x in xs)
        wait_until(lambda: machine.state == "Idle", message="done")
        assert host.status().mpos == (30.0, 0.0, 0.0)
        host.port.close()


def test_faithful_sim_reports_wco_and_overrides_on_report_c_counts(sim: GrblSim, host: Host) -> None:
    reports = [host.status() for _ in range(22)]
    with_wco = [i for i, s in enumerate(reports) if "WCO" in s.fields]
    with_ov = [i for i, s in enumerate(reports) if "Ov" in s.fields]
    assert with_wco == [0, 10, 20] and with_ov == [1, 11, 21]
    host.send("G10 L2 P1 X5 Y7")
    host.wait_for(lambda r: Ok() in r, "offset set")
    assert host.status().fields["WCO"] == "5.000,7.000,0.000"  # a change is reported at once
    host.send("$10=2")  # WPos instead of MPos
    host.wait_for(lambda r: r.count(Ok()) == 2, "$10 set")
    status = host.status()
    assert status.mpos is None and status.wpos == (-5.0, -7.0, 0.0)


def test_faithful_sim_soft_limit_beyond_travel_alarms_and_a_work_offset_brings_it_in(tmp_path: Path) -> None:
    with make_sim(tmp_path, homed=True, settings={22: 1, 20: 1}) as machine:
        host = Host(machine.pty.link)
        host.wait_for(lambda r: Welcome("1.1h") in r, "banner")
        assert host.status().mpos == (-1.0, -1.0, -1.0)  # homed: machine space is negative
        # Machine X=10 is beyond the home corner (0): the soft limit trips before the move.
        host.send("G90 G0 X10 Y10")
        host.wait_for(lambda r: Alarm(2) in r, "ALARM:2")
        host.wait_for(lambda r: Message("Reset to continue") in r, "critical message")
        assert machine.blocks_done == 0 and machine.planner_empty
        assert host.quiet(machine, "G0 X0") == []  # silent: no error:9, no status report
        host.replies.clear()
        host.port.write(b"\x18")
        host.wait_for(lambda r: Message("'$H'|'$X' to unlock") in r, "alarm lock after reset")
        assert host.replies.index(Ok()) < host.replies.index(Welcome("1.1h"))  # the cut-short line
        host.send("G0 X0")
        host.wait_for(lambda r: Error(9) in r, "G-code locked out")
        host.send("$X")
        host.wait_for(lambda r: Message("Caution: Unlocked") in r and r[-1] == Ok(), "unlocked")
        # With the work origin 250 mm inside the travel the same target is inside.
        streamer = stream(host, ["G10 L2 P1 X-250 Y-250 Z0", "G90 G0 X10 Y10", "G1 X20 F3000", "M2"])
        assert streamer.failure is None
        assert not any(isinstance(r, Alarm) for r in host.replies[host.replies.index(Error(9)):])
        assert host.status().mpos == (-230.0, -240.0, -1.0)
        host.port.close()


def test_faithful_sim_soft_limit_mid_job_holds_then_alarms_without_losing_position(tmp_path: Path) -> None:
    with make_sim(tmp_path, homed=True, settings={22: 1, 20: 1}) as machine:
        host = Host(machine.pty.link)
        host.send("G10 L2 P1 X-100 Y-100", "G1 X50 F600", "G1 X150")  # the second target is at machine +50
        host.wait_for(lambda r: Alarm(2) in r, "ALARM:2")
        assert Alarm(3) not in host.replies  # the hold stopped it under control
        assert host.replies.count(Ok()) == 2  # G10 and the first G1; the offending line waits
        host.replies.clear()
        host.port.write(b"\x18")
        host.wait_for(lambda r: Message("'$H'|'$X' to unlock") in r, "locked after reset")
        status = host.status()
        assert status.state == "Alarm" and status.mpos is not None
        assert -50.0 <= status.mpos[0] < -1.0  # stopped on the way, position kept
        host.port.close()


def test_faithful_sim_soft_limits_need_homing_enabled(sim: GrblSim, host: Host) -> None:
    host.send("$20=1")
    host.wait_for(lambda r: Error(10) in r, "soft limits refused without $22=1")
    host.send("$22=1", "$20=1")
    host.wait_for(lambda r: r.count(Ok()) == 2, "accepted with homing")


def test_faithful_sim_homing_puts_the_machine_at_minus_pulloff(tmp_path: Path) -> None:
    with make_sim(tmp_path, settings={22: 1}) as machine:
        host = Host(machine.pty.link)
        host.wait_for(lambda r: Message("'$H'|'$X' to unlock") in r, "homing lock at power-up")
        host.send("G0 X1")
        host.wait_for(lambda r: Error(9) in r, "locked")
        host.send("$H")
        host.wait_for(lambda r: r[-1] == Ok(), "homed")
        status = host.status()
        assert (status.state, status.mpos) == ("Idle", (-1.0, -1.0, -1.0))
        host.port.close()


def test_faithful_sim_door_during_a_job_holds_reports_and_waits_for_cycle_start(sim: GrblSim, host: Host) -> None:
    lines = job(0) + job(1)
    feeder = Feeder(host, lines)
    wait_until(lambda: feeder.feed() and sim.blocks_done >= 1 and sim.state == "Run", interval=0,
               message="job under way")
    sim.set_door(True)
    host.wait_for(lambda r: Message("Check Door") in r, "[MSG:Check Door]")
    wait_until(lambda: (host.status().state, host.replies[-1].substate) == ("Door", 1),  # type: ignore[union-attr]
               message="Door:1 once stopped")
    assert host.status().pins == "D"
    answered = len(sim.acks)
    assert sim.rx_lines > 0  # lines wait in the RX buffer...
    assert [r for r in host.quiet(sim, None) if not isinstance(r, Status)] == []  # ...but none is read
    assert len(sim.acks) == answered
    sim.set_door(False)
    status = host.status()
    assert (status.state, status.substate) == ("Door", 0)  # closing does not resume
    host.port.write(b"~")
    wait_until(lambda: feeder.feed().finished, interval=0, message="both jobs finished after resume")
    assert feeder.streamer.failure is None and host.replies.count(Message("Pgm End")) == 2
    assert len(sim.acks) == len(lines)


def test_faithful_sim_door_opened_when_idle_and_at_reset(sim: GrblSim, host: Host) -> None:
    sim.set_door(True)
    host.wait_for(lambda r: Message("Check Door") in r, "message when the door opens")
    assert (host.status().state, host.replies[-1].substate) == ("Door", 1)  # type: ignore[union-attr]
    host.replies.clear()
    host.port.write(b"\x18")
    host.wait_for(lambda r: Message("Check Door") in r, "door still open after reset")
    assert host.replies.index(Welcome("1.1h")) < host.replies.index(Message("Check Door"))
    sim.set_door(False)
    host.port.write(b"~")
    assert host.status().state == "Idle"


def test_faithful_sim_hard_limit_silences_gcode_until_reset_then_unlock_and_next_job(sim: GrblSim,
                                                                                    host: Host) -> None:
    feeder = Feeder(host, job(0))
    wait_until(lambda: feeder.feed() and sim.blocks_done >= 1, interval=0, message="job under way")
    sim.trigger_alarm(1)
    host.wait_for(lambda r: Message("Reset to continue") in r, "critical alarm")
    assert Alarm(1) in host.replies
    replies = host.quiet(sim, "G0 X2")
    assert replies == []  # neither error:9 nor a status report
    host.replies.clear()
    host.port.write(b"\x18")
    host.wait_for(lambda r: Message("'$H'|'$X' to unlock") in r, "lock message after reset")
    assert host.status().state == "Alarm"
    host.send("G0 X3")
    host.wait_for(lambda r: Error(9) in r, "error:9 while locked")
    host.send("$X")
    host.wait_for(lambda r: Message("Caution: Unlocked") in r and r[-1] == Ok(), "unlocked")
    streamer = stream(host, job(1))
    assert streamer.failure is None
    assert host.replies.count(Message("Pgm End")) == 1
    assert host.status().state == "Idle"


def test_faithful_sim_other_alarms_reset_the_controller_and_lock_it(sim: GrblSim, host: Host) -> None:
    host.send("G1 X80 F300", "M5", "M4 S10")  # the M4 waits behind the block
    wait_until(lambda: sim.waiting_line == "M4S10", message="M4 waiting")
    host.wait_for(lambda r: r.count(Ok()) == 2, "G1 and M5 answered")
    host.replies.clear()
    sim.trigger_alarm(4)  # a probe failure: GRBL calls mc_reset, so no critical loop
    host.wait_for(lambda r: Message("'$H'|'$X' to unlock") in r, "lock message")
    assert host.replies.index(Alarm(4)) < host.replies.index(Ok()) < host.replies.index(Welcome("1.1h"))
    assert host.status().state == "Alarm" and sim.planner_empty


def test_faithful_sim_reset_while_moving_is_alarm_3_and_when_idle_just_the_banner(sim: GrblSim, host: Host) -> None:
    host.send("G1 X80 F300")
    host.wait_for(lambda r: Ok() in r, "ok")
    host.replies.clear()
    host.port.write(b"\x18")
    host.wait_for(lambda r: Message("'$H'|'$X' to unlock") in r, "locked after ALARM:3")
    assert host.replies.index(Alarm(3)) < host.replies.index(Welcome("1.1h"))
    host.send("$X")
    host.wait_for(lambda r: r[-1] == Ok(), "unlocked")
    host.replies.clear()
    host.port.write(b"\x18")
    host.wait_for(lambda r: Welcome("1.1h") in r, "banner")
    after = host.quiet(sim, "")
    assert Ok() in after and any(isinstance(r, Status) for r in after)
    assert not any(isinstance(r, (Alarm, Message)) for r in host.replies)  # no alarm, no lock message
    assert sim.resets == 2


def test_faithful_sim_feed_hold_suspends_reading_lines_until_resumed(sim: GrblSim, host: Host) -> None:
    host.send("G1 X80 F600")
    host.wait_for(lambda r: Ok() in r, "ok")
    host.port.write(b"!")
    wait_until(lambda: host.status().substate == 0, message="Hold:0 after decelerating")
    assert host.replies[-1].state == "Hold"  # type: ignore[union-attr]
    assert host.quiet(sim, "G0 X0")[:-1] == []
    host.port.write(b"~")
    host.wait_for(lambda r: r.count(Ok()) == 2, "the held line answered after resume")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["move", "burn", "stop", "dwell", "speed", "offset"]), min_size=1, max_size=25))
def test_faithful_sim_every_synced_line_is_answered_with_the_planner_empty(kinds: list[str]) -> None:
    lines, x = ["G21", "G90", "F3000"], 0.0
    for n, kind in enumerate(kinds):
        if kind == "move":
            x = 20.0 - x
            lines.append(f"G1 X{x} Y{n % 3}")
        elif kind == "burn":
            lines.append(f"M{3 + n % 2} S{100 + n}")
        elif kind == "stop":
            lines.append("M5")
        elif kind == "dwell":
            lines.append("G4 P0.5")
        elif kind == "speed":
            lines.append(f"S{200 + n}")
        else:
            lines.append(f"G92 X{n}")
    lines.append("M2")
    with tempfile.TemporaryDirectory() as tmp, make_sim(Path(tmp), speedup=200.0) as machine:
        host = Host(machine.pty.link)
        streamer = stream(host, lines)
        assert streamer.failure is None and len(machine.acks) == len(lines)
        spindle, previous = 5, 0
        for ack in machine.acks:
            word = ack.line
            synced = word.startswith(("G4", "G92", "M2")) or (word.startswith("M") and int(word[1]) != spindle)
            synced |= word.startswith("S") and spindle != 5
            if word.startswith(("M3", "M4", "M5")):
                spindle = int(word[1])
            if synced:
                assert ack.planner_blocks == 0, (ack, lines)
            assert ack.blocks_done >= previous and ack.planner_blocks <= PLANNER_BLOCKS
            previous = ack.blocks_done
        host.port.close()
