"""A gateway killed mid-job: the job ends interrupted and nothing reaches the laser until a retry."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.engraving import (JOB_TOPIC, PREFIX, STATE_TOPIC, gcode_after_last_settings_query, job, job_messages,
                             laser, program,
                             publish, station, states, wait_polls, wait_state)
from tests.helpers import Subscriber, wait_until
from tests.helpers import ROOT, start_gateway_process, write_toml


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=20)[0].decode()


def test_engraver_job_killed_mid_job_is_interrupted_and_never_resent(tmp_path, broker):
    with laser(tmp_path / "ttyLASER", 1.0) as sim:
        data = station(tmp_path, broker.port, sim.pty.link, door=False)
        config_path = write_toml(tmp_path / "station.toml", data)
        message = job("J-K", text="PC-000000000042")
        sub = Subscriber(broker.port, f"{PREFIX}/#")
        first = start_gateway_process(config_path)
        try:
            sub.wait_for(lambda p: p and p[-1]["state"] == "Idle", STATE_TOPIC, message="first gateway up")
            publish(sub, JOB_TOPIC, message)
            wait_state(sub, "J-K", "running")
            wait_until(lambda: len(sim.gcode_lines) >= 20, message="the job under way")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            stop(first)
        wait_until(lambda: sim.wire_empty, message="bytes on the wire delivered")
        sent = len(sim.gcode_lines)
        assert 20 <= sent < len(program(data, message))
        resets = sim.resets

        second = start_gateway_process(config_path)
        try:
            interrupted = wait_state(sub, "J-K", "interrupted", timeout=30)
            assert "gateway stopped mid-job" in interrupted["detail"]
            wait_until(lambda: sim.resets > resets, message="the restarted gateway resets the laser")
            wait_polls(sim, 20)  # the new gateway has been running its loop for a while
            assert len(sim.gcode_lines) == sent  # nothing sent again
            assert states(sub, "J-K")[-1] == "interrupted"

            # The laser stopped mid-motion (ALARM:3); the operator clears it and retries.
            sim.unlock()
            retry = subprocess.run([sys.executable, "-m", "benchpin", "engraver", "retry", "--config",
                                    str(config_path), "--operator", "OP-0007", "J-K"],
                                   cwd=ROOT, capture_output=True, text=True, timeout=30)
            assert retry.returncode == 0, retry.stdout + retry.stderr
            wait_state(sub, "J-K", "done", timeout=40)
            listing = subprocess.run([sys.executable, "-m", "benchpin", "engraver", "list", "--config",
                                      str(config_path)], cwd=ROOT, capture_output=True, text=True, timeout=30)
            header, row = listing.stdout.splitlines()
            assert header.split("\t") == ["JOB", "ENGRAVER", "STATE", "PIECE", "TEXT", "ATTEMPTS", "QUEUED", "UPDATED",
                                          "DETAIL"]
            assert row.startswith("J-K\tlaser-1\tdone\tPC-0042\tPC-000000000042\t2\t")
            queued, updated = row.split("\t")[6:8]
            assert queued.endswith("Z") and queued < updated
        finally:
            output = stop(second)
        sub.close()
    assert second.returncode == 0, output
    assert gcode_after_last_settings_query(bytes(sim.received)).decode().splitlines() == program(data, message)
    seen = states(sub, "J-K")
    assert seen == ["accepted", "running", "interrupted", "accepted", "running", "done"], job_messages(sub, "J-K")
