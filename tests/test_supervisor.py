"""The device supervisor: failure streaks, their reports, and bugs told apart from hardware."""

from __future__ import annotations

import logging
import threading

from gateway.supervisor import DeviceFailure, Supervisor
from tests.helpers import wait_until


class FlakyDevice:
    """A device whose poll raises what the test queues, then runs quietly."""

    name = "flaky 1"

    def __init__(self) -> None:
        self.failures: list[BaseException] = []
        self.opened = 0
        self.polls = 0
        self.lock = threading.Lock()

    def fail_with(self, *errors: BaseException) -> None:
        with self.lock:
            self.failures.extend(errors)

    def open(self) -> None:
        self.opened += 1

    def poll(self) -> None:
        self.polls += 1
        with self.lock:
            error = self.failures.pop(0) if self.failures else None
        if error is not None:
            raise error
        threading.Event().wait(0.005)

    def close(self) -> None:
        pass


def run_supervisor(device: FlakyDevice, reports: list[str], *, stable_s: float = 0.2) -> Supervisor:
    supervisor = Supervisor(device, backoff_initial=0.01, backoff_max=0.02, stable_s=stable_s,
                            when_state_changed=lambda s: reports.append(f"{s.state}:{s.detail or ''}"))
    supervisor.start()
    return supervisor


def test_supervisor_logs_a_hardware_streak_once_without_a_traceback(caplog):
    device, reports = FlakyDevice(), []
    device.fail_with(*(DeviceFailure("port vanished") for _ in range(5)))
    with caplog.at_level(logging.DEBUG, logger="gateway.supervisor"):
        supervisor = run_supervisor(device, reports)
        try:
            wait_until(lambda: device.opened >= 6 and supervisor.state == "up", timeout=10)
        finally:
            supervisor.stop()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["flaky 1 failed: port vanished; reopening with backoff"]
    assert warnings[0].exc_info is None
    # Logged once, but the listeners see every change: each time it came up, then down again.
    assert reports[:10] == ["up:", "down:port vanished"] * 5 and reports[10] == "up:"


def test_supervisor_tells_nothing_more_while_the_device_cannot_even_be_opened():
    class Unopenable(FlakyDevice):
        def open(self) -> None:
            self.opened += 1
            if self.opened <= 5:
                raise DeviceFailure("no such port")

    device, reports = Unopenable(), []
    supervisor = run_supervisor(device, reports)
    try:
        wait_until(lambda: supervisor.state == "up", timeout=10)
    finally:
        supervisor.stop()
    assert reports == ["down:no such port", "up:", "stopped:"]


def test_supervisor_logs_a_bug_with_its_traceback(caplog):
    device, reports = FlakyDevice(), []
    device.fail_with(KeyError("job_id"))
    with caplog.at_level(logging.WARNING, logger="gateway.supervisor"):
        supervisor = run_supervisor(device, reports)
        try:
            wait_until(lambda: device.opened >= 2 and supervisor.state == "up", timeout=10)
        finally:
            supervisor.stop()
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR and "a bug" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_supervisor_reports_a_second_outage_after_a_stable_run():
    device, reports = FlakyDevice(), []
    device.fail_with(DeviceFailure("unplugged"))
    supervisor = run_supervisor(device, reports, stable_s=0.2)
    try:
        wait_until(lambda: device.opened >= 2 and supervisor.state == "up", timeout=10)
        polls = device.polls
        wait_until(lambda: device.polls > polls + 60, timeout=10)  # well past stable_s of quiet running
        device.fail_with(DeviceFailure("unplugged again"))
        wait_until(lambda: "down:unplugged again" in reports, timeout=10)
    finally:
        supervisor.stop()
    assert [r for r in reports if r.startswith("down")] == ["down:unplugged", "down:unplugged again"]
