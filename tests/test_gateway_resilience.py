"""The gateway through a broker outage, a SIGKILL, a vanished port, silence and garbage."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import threading
from pathlib import Path

from benchpin.config import parse_config
from firmware_bridge.probe import ProbeLineError, ProbeReading, format_line, parse_line
from firmware_bridge.sim.pty import PtyLink
from gateway.service import Gateway
from tests import stations
from tests.helpers import Subscriber, start_gateway_process, wait_until, write_toml

TOPIC = "benchpin/jaipur/casting-1/probe/furnace-1/temperature"


def station(tmp_path: Path, port: int, link: Path, *, stall_timeout_s: float = 30.0) -> dict:
    return stations.station(tmp_path, port, gateway={"probes": [
        {"id": "furnace-1", "kind": "serial", "port": str(link), "stall_timeout_s": stall_timeout_s}]})


def stream(link: PtyLink, values: range) -> None:
    for value in values:
        link.write(format_line(ProbeReading(1, float(value))))


def delivered_in_order(payloads: list[dict]) -> list[float]:
    """Drop duplicates by ``seq`` as a subscriber would; return values in seq order."""
    by_seq = {p["seq"]: p["value_c"] for p in payloads if p["fault"] is None}
    return [by_seq[s] for s in sorted(by_seq)]


def outbox_rows(state_dir: Path) -> int:
    with sqlite3.connect(state_dir / "outbox.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]


def accepted_values(state_dir: Path) -> set[float]:
    """The reading values committed to the outbox (what the gateway has accepted)."""
    with sqlite3.connect(state_dir / "outbox.sqlite") as db:
        return {json.loads(payload)["value_c"] for (payload,) in db.execute("SELECT payload FROM outbox")}


def test_gateway_delivers_every_reading_in_order_across_a_broker_outage(tmp_path, broker, pty_link):
    sub = Subscriber(broker.port, TOPIC, persistent=True, client_id="engineer-1")
    config = parse_config(station(tmp_path, broker.port, pty_link.link))
    with Gateway(config) as gateway:
        wait_until(lambda: gateway.supervisors[0].state == "up", message="probe open")
        stream(pty_link, range(0, 200))
        sub.wait_for(lambda p: len(p) >= 200, TOPIC, message="readings before the outage")
        broker.stop()
        stream(pty_link, range(200, 700))
        wait_until(lambda: gateway.outbox.pending >= 500, message="readings buffered in the outbox")
        broker.start()
        stream(pty_link, range(700, 900))
        sub.wait_for(lambda p: len(delivered_in_order(p)) >= 900, TOPIC, timeout=30,
                     message="every reading after the outage")
        wait_until(lambda: gateway.outbox.pending == 0, message="outbox drained")
    payloads = sub.payloads(TOPIC)
    sub.close()
    assert delivered_in_order(payloads) == [float(v) for v in range(900)]
    assert sorted({p["seq"] for p in payloads}) == list(range(1, 901))
    # Any duplicate is a true duplicate: the same seq always carries the same reading.
    assert len({(p["seq"], p["value_c"]) for p in payloads}) == 900
    # Per device, messages arrive in seq order (a resent message may repeat one already seen).
    firsts = list(dict.fromkeys(p["seq"] for p in payloads))
    assert firsts == sorted(firsts)


def test_gateway_killed_while_broker_down_loses_nothing_it_accepted(tmp_path, broker, pty_link):
    config_path = write_toml(tmp_path / "station.toml", station(tmp_path, broker.port, pty_link.link))
    broker.stop()
    first = start_gateway_process(config_path)
    try:
        # pyserial discards input on open: send warm-up readings until the first is accepted.
        def warm_up() -> bool:
            stream(pty_link, range(-1, 0))
            return (tmp_path / "state" / "outbox.sqlite").exists() and outbox_rows(tmp_path / "state") >= 1

        wait_until(warm_up, timeout=20, interval=0.1, message="the gateway to read its probe")
        stream(pty_link, range(300))
        # Warm-up readings may still be arriving: wait for the 300 themselves, not a row count.
        wait_until(lambda: {float(v) for v in range(300)} <= accepted_values(tmp_path / "state"), timeout=20,
                   message="300 readings accepted")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    accepted = outbox_rows(tmp_path / "state")
    broker.start()
    sub = Subscriber(broker.port, TOPIC)
    second = start_gateway_process(config_path)
    try:
        sub.wait_for(lambda p: len(delivered_in_order(p)) >= accepted, TOPIC, timeout=30,
                     message="every accepted reading after the restart")
    finally:
        second.send_signal(signal.SIGTERM)
        output = second.communicate(timeout=15)[0].decode()
    sub.close()
    assert second.returncode == 0, output
    values = [v for v in delivered_in_order(sub.payloads(TOPIC)) if v != -1.0]
    assert values[:300] == [float(v) for v in range(300)]
    assert "replaying them first" in output


def test_gateway_reports_a_vanished_port_and_resumes_when_it_returns(tmp_path, broker, pty_link):
    sub = Subscriber(broker.port, TOPIC)
    config = parse_config(station(tmp_path, broker.port, pty_link.link))
    with Gateway(config) as gateway:
        supervisor = gateway.supervisors[0]
        wait_until(lambda: supervisor.state == "up", message="probe open")
        stream(pty_link, range(3))
        sub.wait_for(lambda p: len(p) >= 3, TOPIC)
        pty_link.unplug()
        sub.wait_for(lambda p: any(r["fault"] == "disconnected" for r in p), TOPIC,
                     message="the disconnected fault")
        assert supervisor.state == "down"
        pty_link.replug()
        wait_until(lambda: supervisor.state == "up", message="probe reopened by itself")
        stream(pty_link, range(100, 103))
        payloads = sub.wait_for(lambda p: [r["value_c"] for r in p][-3:] == [100.0, 101.0, 102.0] and p,
                                TOPIC, message="readings after the replug")
    sub.close()
    faults = [r["fault"] for r in payloads if r["fault"]]
    assert faults.count("disconnected") == 1  # one report per failure streak, not one per retry
    assert [r["seq"] for r in payloads] == list(range(1, len(payloads) + 1))


def test_a_port_that_fails_again_soon_after_readings_resumed_is_reported_again(tmp_path, broker, pty_link):
    """A loose connector: the second failure comes within the supervisor's 5 s streak, after readings."""
    sub = Subscriber(broker.port, TOPIC)
    config = parse_config(station(tmp_path, broker.port, pty_link.link))
    with Gateway(config) as gateway:
        supervisor = gateway.supervisors[0]
        wait_until(lambda: supervisor.state == "up", message="probe open")
        for round_ in range(2):
            pty_link.unplug()
            sub.wait_for(lambda p: [r["fault"] for r in p].count("disconnected") == round_ + 1, TOPIC,
                         message=f"disconnected fault {round_ + 1}")
            pty_link.replug()
            wait_until(lambda: supervisor.state == "up", message="probe reopened by itself")
            first = 100 * (round_ + 1)
            wait_until(lambda: stream(pty_link, range(first, first + 1)) or
                       any(r["value_c"] == first for r in sub.payloads(TOPIC)), interval=0.1,
                       message="a reading after the replug")
        assert supervisor.failures >= 2  # one streak for the supervisor's backoff, two for the subscriber
    payloads = sub.payloads(TOPIC)
    sub.close()
    assert [r["fault"] for r in payloads if r["fault"]] == ["disconnected", "disconnected"]
    assert gateway.counters["probe furnace-1"].reopens == 2


def test_gateway_reopens_a_port_that_goes_silent(tmp_path, broker, pty_link):
    sub = Subscriber(broker.port, TOPIC)
    config = parse_config(station(tmp_path, broker.port, pty_link.link, stall_timeout_s=0.3))
    with Gateway(config) as gateway:
        stream(pty_link, range(1))
        sub.wait_for(lambda p: any(r["fault"] == "stalled" for r in p), TOPIC, message="stall reported")
        supervisor = gateway.supervisors[0]
        wait_until(lambda: supervisor.failures >= 3, message="stalled, reopened, stalled again")
        # pyserial discards input on open, so a board that wakes up keeps sending until heard.
        wait_until(lambda: stream(pty_link, range(5, 6)) or any(r["value_c"] == 5.0 for r in sub.payloads(TOPIC)),
                   interval=0.1, message="a reading after the stall")
    payloads = sub.payloads(TOPIC)
    sub.close()
    # Three failures in one streak: reported once, not once per reopen.
    assert [r["fault"] for r in payloads].count("stalled") == 1


def test_a_silent_port_that_then_vanishes_is_reported_as_both(tmp_path, broker, pty_link):
    sub = Subscriber(broker.port, TOPIC)
    config = parse_config(station(tmp_path, broker.port, pty_link.link, stall_timeout_s=1.0))
    with Gateway(config) as gateway:
        supervisor = gateway.supervisors[0]
        sub.wait_for(lambda p: any(r["fault"] == "stalled" for r in p), TOPIC, message="stall reported")
        wait_until(lambda: supervisor.state == "up", interval=0.01, message="reopened, silent again")
        pty_link.unplug()  # within the second before it would stall again
        sub.wait_for(lambda p: any(r["fault"] == "disconnected" for r in p), TOPIC, message="then disconnected")
    faults = [r["fault"] for r in sub.payloads(TOPIC) if r["fault"]]
    sub.close()
    assert faults == ["stalled", "disconnected"]


def test_gateway_survives_10000_lines_of_random_bytes_and_counts_them(tmp_path, broker, pty_link):
    rng = random.Random(31855)
    garbage = []
    while len(garbage) < 10_000:
        line = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))).replace(b"\n", b"")
        try:
            parse_line(line)
        except ProbeLineError:
            garbage.append(line + b"\n")
    sub = Subscriber(broker.port, TOPIC)
    config = parse_config(station(tmp_path, broker.port, pty_link.link))
    with Gateway(config) as gateway:
        wait_until(lambda: gateway.supervisors[0].state == "up", message="probe open")
        writer = threading.Thread(target=lambda: pty_link.write(b"".join(garbage)))
        writer.start()
        writer.join(60)
        stream(pty_link, range(42, 43))
        payloads = sub.wait_for(lambda p: any(r["value_c"] == 42.0 for r in p) and p, TOPIC,
                                message="the good reading after the garbage")
        counters = gateway.counters["probe furnace-1"]
        assert gateway.supervisors[0].state == "up"
    sub.close()
    assert counters.bad_lines == 10_000
    assert [r["fault"] for r in payloads] == ["bad_line", None]


def test_the_status_counts_what_the_gateway_process_wrote_to_disk(tmp_path, broker, pty_link):
    """``disk_bytes_written`` is the kernel's count: at least the outbox's own bytes, pages and WAL on top."""
    config = parse_config(station(tmp_path, broker.port, pty_link.link))
    with Gateway(config) as gateway:
        wait_until(lambda: gateway.supervisors[0].state == "up", message="probe open")
        before = gateway.status_extra()["disk_bytes_written"]
        broker.stop()  # no PUBACKs: every reading must reach the disk
        stream(pty_link, range(500))
        wait_until(lambda: gateway.outbox.pending >= 500 and gateway.outbox.db_bytes_written > 0,
                   message="readings committed to the outbox")
        gateway.outbox.flush(timeout=5.0)
        status = gateway.status_extra()
        broker.start()
    stored = gateway.outbox.db_bytes_written  # the status's outbox.bytes_written, without the seq marks
    assert stored >= 500 * 60  # topic and payload of each reading
    # SQLite writes whole pages (WAL frames, then the checkpoint) around the rows themselves:
    # the kernel's count exceeds the outbox's own by at least a page (here about 1.7x).
    assert status["disk_bytes_written"] - before >= stored + 4096
