"""The gateway under a real NOTIFY_SOCKET: READY when up, WATCHDOG only while every loop beats."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import given, strategies as st

from benchpin.config import parse_config
from gateway.health import parse_write_bytes, process_write_bytes
from gateway.service import Gateway
from gateway.supervisor import DeviceFailure
from tests import stations
from tests.helpers import write_toml
from tests.notify_socket import NotifySocket

ROOT = Path(__file__).resolve().parents[1]
WATCHDOG_S = 2.0  # WatchdogSec for these tests: pings every second while healthy


def station(tmp_path: Path, port: int, *, probe_link: Path | None = None, ready_timeout_s: float = 60.0) -> dict:
    gateway: dict = {"ready_timeout_s": ready_timeout_s}
    if probe_link is not None:
        gateway["probes"] = [{"id": "furnace-1", "kind": "serial", "port": str(probe_link)}]
    return stations.station(tmp_path, port, gateway=gateway)


class HangingDevice:
    """A device whose ``poll()`` blocks forever once ``hang`` is set (until ``release``)."""

    name = "stuck-1"

    def __init__(self) -> None:
        self.hang = threading.Event()
        self.release = threading.Event()
        self.polls = 0

    def open(self) -> None:
        pass

    def poll(self) -> None:
        self.polls += 1
        if self.hang.is_set():
            self.release.wait()
        else:
            time.sleep(0.05)

    def close(self) -> None:
        pass


class UnpluggedDevice:
    """A device that cannot open until ``plug_in`` is set."""

    name = "laser-1"

    def __init__(self) -> None:
        self.plug_in = threading.Event()

    def open(self) -> None:
        if not self.plug_in.is_set():
            raise DeviceFailure("/dev/benchpin-laser: no such device")

    def poll(self) -> None:
        time.sleep(0.05)

    def close(self) -> None:
        pass


@pytest.fixture
def notify(monkeypatch) -> Iterator[NotifySocket]:
    """systemd's side: NOTIFY_SOCKET and WATCHDOG_USEC set for the gateway under test."""
    with NotifySocket() as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", sock.address)
        monkeypatch.setenv("WATCHDOG_USEC", str(int(WATCHDOG_S * 1_000_000)))
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        yield sock


@contextmanager
def running(gateway: Gateway) -> Iterator[None]:
    """Run ``gateway.run`` in a thread for the block, then stop it as SIGTERM would."""
    stop = threading.Event()
    thread = threading.Thread(target=gateway.run, args=(stop,), name="gateway-run")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(15)


def test_gateway_sends_ready_when_devices_and_broker_are_up_then_watchdog_pings(tmp_path, broker, pty_link,
                                                                                  notify):
    gateway = Gateway(parse_config(station(tmp_path, broker.port, probe_link=pty_link.link)))
    with running(gateway):
        notify.wait_for(lambda: notify.count("READY"), message="READY=1")
        assert gateway.session.connected.is_set()
        assert gateway.supervisors[0].state == "up"
        ready_at = notify.times_of("READY")[0]
        notify.wait_for(lambda: len([t for t in notify.times_of("WATCHDOG") if t > ready_at]) >= 3,
                        message="three watchdog pings after READY")
        assert {"READY": "1", "STATUS": "ready"} in notify.all()
    notify.wait_for(lambda: notify.count("STOPPING"), message="STOPPING=1")


def test_gateway_is_not_ready_until_every_device_has_been_up(tmp_path, broker, notify):
    gateway = Gateway(parse_config(station(tmp_path, broker.port)))
    device = UnpluggedDevice()
    gateway.add_device(device)
    with running(gateway):
        expected = "starting: waiting for laser-1 (/dev/benchpin-laser: no such device)"
        notify.wait_for(lambda: expected in notify.statuses(), message="status naming the device")
        assert gateway.session.connected.is_set()
        assert notify.count("READY") == 0
        device.plug_in.set()
        notify.wait_for(lambda: notify.count("READY"), message="READY=1 once the device opened")


def test_gateway_is_not_ready_while_the_broker_is_down(tmp_path, broker, notify):
    broker.stop()
    gateway = Gateway(parse_config(station(tmp_path, broker.port)))
    with running(gateway):
        expected = f"starting: waiting for broker 127.0.0.1:{broker.port}"
        notify.wait_for(lambda: expected in notify.statuses(), message="status naming the broker")
        assert notify.count("READY") == 0
        broker.start()
        notify.wait_for(lambda: notify.count("READY"), message="READY=1 once the broker is up")


def test_gateway_sends_degraded_ready_after_its_start_timeout(tmp_path, broker, notify):
    broker.stop()
    gateway = Gateway(parse_config(station(tmp_path, broker.port, ready_timeout_s=0.5)))
    with running(gateway):
        notify.wait_for(lambda: notify.count("READY"), message="READY=1 after the start timeout")
        ready = next(fields for fields in notify.all() if "READY" in fields)
        assert ready["STATUS"] == f"degraded: waiting for broker 127.0.0.1:{broker.port}"
        assert not gateway.session.connected.is_set()
        # The outbox still takes data while degraded, so the service keeps its watchdog alive.
        notify.wait_for(lambda: notify.count("WATCHDOG") >= 2, message="watchdog pings while degraded")


def test_gateway_stalled_device_loop_stops_watchdog_pings(tmp_path, broker, notify):
    gateway = Gateway(parse_config(station(tmp_path, broker.port)))
    device = HangingDevice()
    gateway.add_device(device)
    with running(gateway):
        try:
            notify.wait_for(lambda: notify.count("READY"), message="READY=1")
            notify.wait_for(lambda: notify.count("WATCHDOG") >= 2, message="pings while the loop is alive")
            device.hang.set()
            hung_at = time.monotonic()

            def silent_for_two_intervals() -> bool:
                last_ping = max(notify.times_of("WATCHDOG"))
                return time.monotonic() - max(last_ping, hung_at) > 2 * WATCHDOG_S

            # systemd restarts a service that sends no WATCHDOG=1 for WatchdogSec.
            notify.wait_for(silent_for_two_intervals, timeout=30, message="pings to stop")
            assert any(s.startswith("unhealthy: stuck-1 loop silent for") for s in notify.statuses())
            assert gateway.supervisors[0].alive  # the loop is stuck inside poll(), not gone
            pings = notify.count("WATCHDOG")
            device.release.set()
            device.hang.clear()
            notify.wait_for(lambda: notify.count("WATCHDOG") > pings, message="pings once the loop beats again")
        finally:
            device.release.set()


def test_gateway_process_notifies_an_abstract_socket_and_stops_cleanly(tmp_path, broker, pty_link):
    config_path = write_toml(tmp_path / "station.toml",
                             station(tmp_path, broker.port, probe_link=pty_link.link))
    with NotifySocket(abstract=True) as notify:
        env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": notify.address,
               "WATCHDOG_USEC": str(int(WATCHDOG_S * 1_000_000))}
        process = subprocess.Popen([sys.executable, "-m", "benchpin", "gateway", "--config", str(config_path)],
                                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            notify.wait_for(lambda: notify.count("READY"), timeout=30, message="READY=1 from the process")
            notify.wait_for(lambda: notify.count("WATCHDOG") >= 2, message="pings from the process")
            process.send_signal(signal.SIGTERM)
            assert process.wait(20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            stderr = process.stderr.read().decode() if process.stderr else ""
            if process.stderr:
                process.stderr.close()
        assert notify.count("STOPPING") == 1, stderr
        assert "Traceback" not in stderr


PROC_IO_SAMPLE = ("rchar: 6976\nwchar: 120\nsyscr: 10\nsyscw: 2\nread_bytes: 0\n"
                  "write_bytes: 409600\ncancelled_write_bytes: 4096\n")


def test_write_bytes_is_read_from_proc_io_text() -> None:
    assert parse_write_bytes(PROC_IO_SAMPLE) == 409600
    assert parse_write_bytes(PROC_IO_SAMPLE.replace("write_bytes: 409600", "write_bytes: lots")) is None
    assert parse_write_bytes("rchar: 1\n") is None
    assert process_write_bytes(Path("/nonexistent/io")) is None
    assert isinstance(process_write_bytes(), int)  # Linux: /proc/self/io


@given(st.text())
def test_write_bytes_never_raises_on_any_text(text: str) -> None:
    value = parse_write_bytes(text)
    assert value is None or isinstance(value, int)
