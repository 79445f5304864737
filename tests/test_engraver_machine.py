"""The engraver against the faithful GRBL 1.1h simulator: jobs in a row, long tails, the machine's
own limits and door, alarms cleared by a person, progress and bounded retained topics.

Real mosquitto, real ptys, gpiozero's MockFactory for the Pi's door input.
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

from benchpin.broker import Mosquitto
from benchpin.config import GatewayConfig, parse_config
from firmware_bridge.sim.grbl import GrblSim
from gateway.engraver import Engraver, Phase
from gateway.engravers import journal_path
from gateway.job_journal import JobJournal
from gateway.service import Gateway
from tests.engraving import (DOOR_PIN, JOB_TOPIC, PREFIX, STATE_TOPIC, job, job_messages, laser, program, publish,
                             station, states, wait_polls, wait_state)
from tests.helpers import ROOT, Subscriber, wait_until, write_toml

COMMAND_TOPIC = f"{PREFIX}/command"


class Bench:
    """A running gateway with one engraver on a simulated laser, and a subscriber to its topics."""

    def __init__(self, gateway: Gateway, sub: Subscriber, data: dict[str, Any], sim: GrblSim, door: Any,
                 config_path: Path) -> None:
        self.gateway, self.sub, self.data, self.sim, self.door = gateway, sub, data, sim, door
        self.config_path = config_path

    @property
    def engraver(self) -> Engraver:
        device = next(s.device for s in self.gateway.supervisors if s.name == "engraver laser-1")
        assert isinstance(device, Engraver)
        return device

    def fired_programs(self) -> list[list[str]]:
        """The G-code the laser received after each pre-fire ``$$``, one list per firing."""
        chunks = bytes(self.sim.received).split(b"$$\n")[1:]
        return [[line for line in chunk.decode().splitlines() if not line.startswith("$")] for chunk in chunks]

    def benchpin(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "benchpin", "engraver", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)


@contextmanager
def bench(tmp_path: Path, broker: Any, mock_factory: Any, *, speedup: float = 5.0,
          sim_options: dict[str, Any] | None = None, **options: Any) -> Iterator[Bench]:
    with laser(tmp_path / "ttyLASER", speedup, **(sim_options or {})) as sim:
        data = station(tmp_path, broker.port, sim.pty.link, **options)
        config_path = write_toml(tmp_path / "station.toml", data)
        sub = Subscriber(broker.port, f"{PREFIX}/#")
        door = mock_factory.pin(DOOR_PIN)
        try:
            with Gateway(parse_config(data), pin_factory=mock_factory) as gateway:
                wait_until(lambda: all(s.state == "up" for s in gateway.supervisors), message="engraver open")
                door.drive_low()  # shut the door
                sub.wait_for(lambda p: p and p[-1]["state"] == "Idle", STATE_TOPIC, message="laser Idle, door shut")
                yield Bench(gateway, sub, data, sim, door, config_path)
        finally:
            sub.close()


def test_engraver_five_jobs_in_a_row_each_done_with_its_own_gcode(tmp_path: Path, broker: Mosquitto, mock_factory: Any) -> None:
    with bench(tmp_path, broker, mock_factory) as b:
        messages = [job(f"J-{n}", text=f"PC-01{n:02d}") for n in range(1, 6)]
        for message in messages:
            publish(b.sub, JOB_TOPIC, message)
        for message in messages:
            wait_state(b.sub, message["job_id"], "done", timeout=60)
        assert [states(b.sub, m["job_id"]) for m in messages] == [["accepted", "running", "done"]] * 5
        assert b.fired_programs() == [program(b.data, m) for m in messages]
        assert b.sim.overflows == 0 and b.sim.alarm is None
        wait_until(lambda: b.engraver.phase is Phase.IDLE and b.engraver.job is None, message="engraver idle")
        publish(b.sub, JOB_TOPIC, job("J-6", text="PC-0106"))  # and it still takes the next one
        wait_state(b.sub, "J-6", "done", timeout=30)


def test_engraver_tail_burning_three_reply_timeouts_after_the_last_line_ends_done(tmp_path: Path, broker: Mosquitto, mock_factory: Any) -> None:
    # GRBL answers M5 and M2 only once every planned block has burnt: seconds with no ok at all.
    timeout = 1.0
    with bench(tmp_path, broker, mock_factory, speedup=0.3, reply_timeout_s=timeout) as b:
        message = job("J-T")
        publish(b.sub, JOB_TOPIC, message)
        wait_until(lambda: "M2" in b.sim.lines, timeout=30, message="the last line sent")
        last_line_at = time.monotonic()
        wait_state(b.sub, "J-T", "done", timeout=60)
        tail = time.monotonic() - last_line_at
        assert tail >= 3 * timeout, f"the tail lasted {tail:.1f}s: the test needs a longer one"
        assert states(b.sub, "J-T") == ["accepted", "running", "done"]
        assert ("rt", "!") not in b.sim.events and b.sim.resets == 1  # the reset at open only
        assert b.fired_programs() == [program(b.data, message)]


def test_engraver_silent_laser_interrupts_the_job_within_the_reply_timeout(tmp_path: Path, broker: Mosquitto, mock_factory: Any) -> None:
    timeout = 1.0
    with bench(tmp_path, broker, mock_factory, speedup=0.5, reply_timeout_s=timeout) as b:
        publish(b.sub, JOB_TOPIC, job("J-S", text="PC-000000000042"))
        wait_until(lambda: len(b.sim.gcode_lines) >= 20, message="the job under way")
        b.sim.stop()  # the controller hangs: the port stays open, nothing answers, not even "?"
        stopped_at = time.monotonic()
        interrupted = wait_state(b.sub, "J-S", "interrupted", timeout=20)
        assert time.monotonic() - stopped_at < timeout + 1.5  # the timeout plus a poll and the outbox
        assert "serial link" in interrupted["detail"]


def test_engraver_same_serial_new_job_id_is_rejected_and_a_supervisor_reengraves_it_once(tmp_path: Path, broker: Mosquitto,
                                                                                         mock_factory: Any) -> None:
    with bench(tmp_path, broker, mock_factory) as b:
        first = job("J-1", text="PC-0042")
        publish(b.sub, JOB_TOPIC, first)
        wait_state(b.sub, "J-1", "done")
        publish(b.sub, JOB_TOPIC, {**job("J-2", text="PC-0042"), "piece_id": "PC-0042"})
        rejected = wait_state(b.sub, "J-2", "rejected")
        assert "serial PC-0042 was already fired by job J-1" in rejected["detail"]
        wait_polls(b.sim, 10)
        assert b.sim.lines.count("$$") == 1 and b.fired_programs() == [program(b.data, first)]  # nothing fired

        refused = b.benchpin("reengrave", "--config", str(b.config_path), "--operator", "OP-0001",
                             "--reason", "  ", "J-1")
        assert refused.returncode == 1 and "needs a reason" in refused.stderr
        again = b.benchpin("reengrave", "--config", str(b.config_path), "--operator", "OP-0001",
                           "--reason", "engraving smudged at polishing", "J-1")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "J-1.r2" in again.stdout
        done = wait_state(b.sub, "J-1.r2", "done")
        assert b.fired_programs() == [program(b.data, first)] * 2  # fired once more, exactly
        wait_polls(b.sim, 10)
        assert b.sim.lines.count("$$") == 2
        journal = JobJournal(journal_path(gateway_config(b.data)))
        try:
            [decision] = journal.decisions()
            assert (decision.action, decision.job_id, decision.new_job_id, decision.serial, decision.operator,
                    decision.reason) == ("reengrave", "J-1", "J-1.r2", "PC-0042", "OP-0001",
                                         "engraving smudged at polishing")
        finally:
            journal.close()
        # The desk publishes the journal's current state: a re-engraving that starts at once may go
        # straight to running, so `accepted` is not always on the wire; when it is, it says why.
        accepted = [m for m in job_messages(b.sub, "J-1.r2") if m["state"] == "accepted"]
        assert all("re-engraving of J-1 by OP-0001" in m["detail"] for m in accepted), accepted
        assert done["progress"] == 1


def gateway_config(data: dict[str, Any]) -> GatewayConfig:
    config = parse_config(data).gateway
    assert config is not None
    return config


def test_engraver_refuses_a_power_above_dollar_30_with_the_figures(tmp_path: Path, broker: Mosquitto, mock_factory: Any) -> None:
    with bench(tmp_path, broker, mock_factory, sim_options={"settings": {30: 255}}) as b:
        publish(b.sub, JOB_TOPIC, job("J-P", material="silver_925"))  # S800
        rejected = wait_state(b.sub, "J-P", "rejected")
        assert "power S800 exceeds $30=255" in rejected["detail"]
        assert b.sim.gcode_lines == []


def test_engraver_refuses_a_box_outside_the_soft_limits_and_fits_one_inside(tmp_path: Path, broker: Mosquitto, mock_factory: Any) -> None:
    # A homed machine with soft limits: machine space is -300..0; work offset 0, origin 0,0.
    homed = {"settings": {20: 1, 22: 1}, "homed": True}
    with bench(tmp_path, broker, mock_factory, sim_options=homed) as b:
        publish(b.sub, JOB_TOPIC, job("J-L"))
        rejected = wait_state(b.sub, "J-L", "rejected")
        assert "outside the soft limits X-300..0 Y-300..0" in rejected["detail"]
        assert "with WCO 0,0" in rejected["detail"] and "X0..9 Y0..1.5" in rejected["detail"]
        assert b.sim.gcode_lines == [] and b.sim.alarm is None


def test_engraver_fires_inside_the_soft_limits_from_a_negative_origin(tmp_path: Path, broker: Mosquitto, mock_factory: Any) -> None:
    homed = {"settings": {20: 1, 22: 1}, "homed": True}
    with bench(tmp_path, broker, mock_factory, sim_options=homed, origin_x_mm=-150.0, origin_y_mm=-100.0) as b:
        publish(b.sub, JOB_TOPIC, job("J-IN"))
        wait_state(b.sub, "J-IN", "done")
        assert b.sim.alarm is None


def test_engraver_door_opened_at_the_controller_interrupts_at_once(tmp_path: Path, broker: Mosquitto, mock_factory: Any) -> None:
    # A door switch wired to GRBL's door input only: the Pi's GPIO stays shut.
    with bench(tmp_path, broker, mock_factory, speedup=1.0, reply_timeout_s=5.0) as b:
        message = job("J-D", text="PC-000000000042")
        publish(b.sub, JOB_TOPIC, message)
        wait_until(lambda: len(b.sim.gcode_lines) >= 30, message="the job under way")
        b.sim.set_door(True)
        opened_at = time.monotonic()
        interrupted = wait_state(b.sub, "J-D", "interrupted", timeout=20)
        assert time.monotonic() - opened_at < 1.0  # not the 5 s stall path
        assert "door was opened at the laser" in interrupted["detail"]
        assert len(b.sim.gcode_lines) < len(program(b.data, message))
        sent = len(b.sim.gcode_lines)
        b.sim.set_door(False)
        b.sub.wait_for(lambda p: p and p[-1]["state"] == "Idle", STATE_TOPIC, message="Idle once shut")
        wait_polls(b.sim, 10)
        assert len(b.sim.gcode_lines) == sent and states(b.sub, "J-D")[-1] == "interrupted"  # not resumed


def test_engraver_alarm_waits_for_an_unlock_from_the_cli_then_the_next_job_is_done(tmp_path: Path, broker: Mosquitto, mock_factory: Any) -> None:
    with bench(tmp_path, broker, mock_factory, speedup=1.0) as b:
        publish(b.sub, JOB_TOPIC, job("J-A", text="PC-000000000042"))
        wait_until(lambda: len(b.sim.gcode_lines) >= 20, message="the job under way")
        b.sim.trigger_alarm(1)  # hard limit: GRBL is silent until a reset, then locked
        assert wait_state(b.sub, "J-A", "interrupted")["detail"].startswith("ALARM:1 Hard limit")
        b.sub.wait_for(lambda p: p and p[-1]["state"] == "Alarm", STATE_TOPIC, message="state Alarm")
        b.door.drive_high()  # door open: the unlock is refused
        b.sub.wait_for(lambda p: p and p[-1]["state"] == "Door", STATE_TOPIC, message="state Door")
        refused = b.benchpin("unlock", "--config", str(b.config_path), "--yes", "laser-1")
        assert refused.returncode == 1 and "refused: the door is open" in refused.stdout
        assert "$X" not in b.sim.lines
        b.door.drive_low()
        publish(b.sub, JOB_TOPIC, job("J-B", text="PC-0044"))
        wait_state(b.sub, "J-B", "accepted")
        wait_polls(b.sim, 20)
        assert "$X" not in b.sim.lines and states(b.sub, "J-B") == ["accepted"]  # never unlocked by itself
        no_tty = subprocess.run([sys.executable, "-m", "benchpin", "engraver", "unlock", "--config",
                                 str(b.config_path), "laser-1"], cwd=ROOT, capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=60)
        assert no_tty.returncode == 1 and "--yes" in no_tty.stderr  # no confirmation, no unlock
        unlocked = b.benchpin("unlock", "--config", str(b.config_path), "--yes", "--operator", "OP-0007", "laser-1")
        assert unlocked.returncode == 0, unlocked.stdout + unlocked.stderr
        assert "unlocked by OP-0007" in unlocked.stdout
        wait_state(b.sub, "J-B", "done", timeout=30)
        assert b.sim.lines.count("$X") == 1
        assert b.fired_programs()[-1] == program(b.data, job("J-B", text="PC-0044"))


def test_engraver_unlock_over_mqtt_is_refused_with_the_door_open_then_done(tmp_path: Path, broker: Mosquitto, mock_factory: Any) -> None:
    with bench(tmp_path, broker, mock_factory) as b:
        b.sim.trigger_alarm(2)
        b.sub.wait_for(lambda p: p and p[-1]["state"] == "Alarm", STATE_TOPIC, message="state Alarm")
        b.door.drive_high()
        publish(b.sub, COMMAND_TOPIC, {"action": "unlock", "operator": "OP-0007"})
        publish(b.sub, COMMAND_TOPIC, {"action": "explode", "operator": "OP-0007"})  # counted, ignored
        journal = JobJournal(journal_path(gateway_config(b.data)))
        try:
            wait_until(lambda: [d.outcome for d in journal.decisions()] == [
                "refused: the door is open; close it, then ask again"], message="unlock refused")
            assert "$X" not in b.sim.lines
            b.door.drive_low()
            publish(b.sub, COMMAND_TOPIC, {"action": "unlock", "operator": "OP-0007"})
            wait_until(lambda: journal.decisions()[-1].outcome == "unlocked by OP-0007", message="unlocked")
        finally:
            journal.close()
        b.sub.wait_for(lambda p: p and p[-1]["state"] == "Idle", STATE_TOPIC, message="laser Idle")
        assert b.gateway.counters["jobs laser-1"].bad_messages == 1


def _ts(message: dict[str, Any]) -> float:
    return datetime.fromisoformat(message["ts"].replace("Z", "+00:00")).timestamp()


def test_engraver_progress_rises_to_one_and_the_retained_job_topic_is_cleared(tmp_path: Path, broker: Mosquitto, mock_factory: Any) -> None:
    with bench(tmp_path, broker, mock_factory, speedup=1.0, job_retain_s=1.0) as b:
        publish(b.sub, JOB_TOPIC, job("J-G", text="PC-2026112300"))
        done = wait_state(b.sub, "J-G", "done", timeout=60)
        running = [m for m in job_messages(b.sub, "J-G") if m["state"] == "running"]
        progress = [m["progress"] for m in running]
        assert progress[0] == 0 and progress == sorted(progress) and len(set(progress)) >= 3
        assert all(0 <= p < 1 for p in progress) and done["progress"] == 1
        assert all(m["eta_s"] >= 0 for m in running[1:])
        gaps = [_ts(later) - _ts(earlier) for earlier, later in zip(running[1:], running[2:])]
        assert all(gap >= 0.9 for gap in gaps), gaps  # at most one update a second

        topic = f"{PREFIX}/job/J-G"
        wait_until(lambda: any(t == topic and p == b"" for t, p, _ in list(b.sub.messages)), timeout=20,
                   message="the retained job state cleared")
        late = Subscriber(broker.port, f"{PREFIX}/job/#")
        try:
            time.sleep(1.5)  # a retained message would arrive right after subscribing
            assert [t for t, _, _ in list(late.messages) if t == topic] == []
        finally:
            late.close()


@pytest.mark.parametrize("job_retain_s", [3600.0])
def test_engraver_keeps_the_retained_job_topic_within_job_retain_s(tmp_path: Path, broker: Mosquitto, mock_factory: Any,
                                                                   job_retain_s: float) -> None:
    with bench(tmp_path, broker, mock_factory, job_retain_s=job_retain_s) as b:
        publish(b.sub, JOB_TOPIC, job("J-K"))
        wait_state(b.sub, "J-K", "done")
        time.sleep(2.0)
        late = Subscriber(broker.port, f"{PREFIX}/job/#")
        try:
            late.wait_for(lambda p: any(m["state"] == "done" for m in p), f"{PREFIX}/job/J-K")
        finally:
            late.close()
