"""The sd_notify client and the READY/WATCHDOG policy, against a real datagram socket."""

from __future__ import annotations

import os
import threading
import time
from typing import Iterator

import pytest

from benchpin.sdnotify import Notifier, ServiceWatch, http_problems, watch_http_service, watchdog_interval
from tests.helpers import wait_until
from tests.notify_socket import NotifySocket


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    with NotifySocket() as sock:
        yield sock


def test_notifier_sends_ready_with_status_in_one_datagram(notify):
    notifier = Notifier(notify.address)
    assert notifier.ready("ready")
    notify.wait_for(lambda: notify.all(), message="a datagram")
    assert notify.all() == [{"READY": "1", "STATUS": "ready"}]


def test_notifier_reaches_an_abstract_socket():
    with NotifySocket(abstract=True) as sock:
        assert sock.address.startswith("@")
        notifier = Notifier(sock.address)
        notifier.watchdog()
        notifier.stopping()
        sock.wait_for(lambda: len(sock.all()) == 2, message="two datagrams")
        assert sock.all() == [{"WATCHDOG": "1"}, {"STOPPING": "1", "STATUS": "stopping"}]
    

def test_notifier_reads_notify_socket_from_the_environment(notify, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", notify.address)
    Notifier().status("hello")
    notify.wait_for(lambda: notify.statuses() == ["hello"], message="status")


def test_notifier_keeps_a_multiline_status_on_one_line(notify):
    Notifier(notify.address).status("first\nREADY=1")
    notify.wait_for(lambda: notify.all(), message="a datagram")
    assert notify.all() == [{"STATUS": "first READY=1"}]


def test_notifier_without_socket_does_nothing(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.ready() is False


def test_notifier_survives_a_socket_that_is_gone(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "nobody-listens"))
    assert notifier.watchdog() is False
    assert notifier.watchdog() is False
    assert sum("cannot notify systemd" in r.getMessage() for r in caplog.records) == 1


def test_watchdog_interval_reads_usec_and_respects_watchdog_pid():
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid())}) == 0.5
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval({}) is None


def test_service_watch_sends_ready_only_when_nothing_is_missing(notify):
    missing = ["broker 127.0.0.1:1883", "furnace-1 (starting)"]
    watch = ServiceWatch(waiting_for=lambda: list(missing), problems=lambda: [],
                         notifier=Notifier(notify.address), interval_s=None, ready_timeout_s=3600)
    watch.tick()
    missing.pop(0)
    watch.tick()
    watch.tick()  # unchanged status: not sent again
    missing.clear()
    watch.tick()
    notify.wait_for(lambda: notify.count("READY") == 1, message="READY")
    assert notify.all() == [
        {"STATUS": "starting: waiting for broker 127.0.0.1:1883; furnace-1 (starting)"},
        {"STATUS": "starting: waiting for furnace-1 (starting)"},
        {"READY": "1", "STATUS": "ready"},
    ]
    assert watch.ready


def test_service_watch_sends_degraded_ready_after_the_start_timeout(notify):
    watch = ServiceWatch(waiting_for=lambda: ["broker plant:1883"], problems=lambda: [],
                         notifier=Notifier(notify.address), interval_s=None, ready_timeout_s=0.0)
    watch.tick()
    notify.wait_for(lambda: notify.count("READY") == 1, message="READY")
    assert notify.all() == [{"READY": "1", "STATUS": "degraded: waiting for broker plant:1883"}]


def test_service_watch_pings_only_while_healthy(notify):
    problems: list[str] = []
    watch = ServiceWatch(waiting_for=lambda: [], problems=lambda: list(problems),
                         notifier=Notifier(notify.address), interval_s=0.2)

    def tick_until(predicate, message):
        def step():
            watch.tick()
            return predicate()
        wait_until(step, timeout=10, interval=0.01, message=message)

    tick_until(lambda: notify.count("WATCHDOG") >= 3, "three pings")
    problems.append("device-x loop silent for 9s")
    tick_until(lambda: "unhealthy: device-x loop silent for 9s" in notify.statuses(), "unhealthy status")
    pings = notify.count("WATCHDOG")
    for _ in range(20):
        watch.tick()
    assert notify.count("WATCHDOG") == pings  # no ping while a problem stands
    problems.clear()
    tick_until(lambda: notify.count("WATCHDOG") > pings, "pings again once healthy")
    assert notify.statuses()[-1] == "ready"


def test_service_watch_run_thread_stops_with_stopping(notify):
    stop = threading.Event()
    watch = ServiceWatch(waiting_for=lambda: [], problems=lambda: [],
                         notifier=Notifier(notify.address), interval_s=0.2)
    thread = threading.Thread(target=watch.run, args=(stop,))
    thread.start()
    notify.wait_for(lambda: notify.count("WATCHDOG") >= 2, message="pings from the thread")
    stop.set()
    thread.join(5)
    notify.wait_for(lambda: notify.count("STOPPING") == 1, message="STOPPING")
    assert notify.count("READY") == 1


class HealthServer:
    """A real HTTP server answering /healthz with ``status``; ``hang`` makes it stop answering."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.status = 200
        self.hang = threading.Event()
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if owner.hang.is_set():
                    owner.release.wait()
                self.send_response(owner.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/healthz"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def health_server() -> Iterator[HealthServer]:
    server = HealthServer()
    yield server
    server.close()


def test_http_problems_names_a_bad_answer_and_an_unreachable_url(health_server):
    assert http_problems(health_server.url) == []
    health_server.status = 503
    assert http_problems(health_server.url) == [f"{health_server.url} answered 503"]
    health_server.close()
    problems = http_problems(health_server.url, timeout=2)
    assert len(problems) == 1 and problems[0].startswith(f"{health_server.url} unreachable")


def test_watch_http_service_pings_only_while_the_server_answers(notify, health_server):
    broker_up = threading.Event()
    stop = watch_http_service(health_server.url, waiting_for=lambda: [] if broker_up.is_set() else ["broker"],
                              timeout_s=0.2, notifier=Notifier(notify.address), interval_s=0.4)
    try:
        notify.wait_for(lambda: "starting: waiting for broker" in notify.statuses(), message="waiting status")
        assert notify.count("READY") == 0
        broker_up.set()
        notify.wait_for(lambda: notify.count("READY") and notify.count("WATCHDOG") >= 2, message="ready, pings")
        health_server.hang.set()
        hung_at = time.monotonic()
        notify.wait_for(lambda: time.monotonic() - max(max(notify.times_of("WATCHDOG")), hung_at) > 3 * 0.4,
                        message="pings to stop")
        assert f"unhealthy: {health_server.url} unreachable (timed out)" in notify.statuses()
        pings = notify.count("WATCHDOG")
        health_server.hang.clear()
        health_server.release.set()
        notify.wait_for(lambda: notify.count("WATCHDOG") > pings, message="pings once it answers again")
    finally:
        stop.set()
    notify.wait_for(lambda: notify.count("STOPPING") == 1, message="STOPPING=1")
