"""Live push through the production server (waitress) with a real mosquitto; laser job commands."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import paho.mqtt.publish as publish
import pytest

from benchpin.broker import Mosquitto
from benchpin.topics import Topics
from kiosk.state import get_bridge, get_ledger
from kiosk.live import LISTENER_BACKLOG, LiveFeed, LiveMessage
from kiosk.server import KioskServer
from kiosk.ui.state import ui_state
from kiosk.ui.stream import event_stream
from tests.helpers import Subscriber, wait_until
from tests.notify_socket import NotifySocket
from tests.kiosk_ui_support import Kiosk, served_kiosk, ui_config
from tests.stations import station, station_file

TOPICS = Topics("jaipur")


@pytest.fixture
def server(tmp_path: Path, broker: Mosquitto) -> Iterator[KioskServer]:
    with served_kiosk(tmp_path, broker.port) as kiosk:
        yield kiosk


def send(broker: Mosquitto, topic: str, payload: dict, retain: bool = False) -> None:
    publish.single(topic, json.dumps(payload), qos=1, retain=retain, hostname="127.0.0.1", port=broker.port)


class EventStream:
    """A raw client of ``/events`` that reads one server-sent event at a time."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.request("GET", "/events")
        self.response = self.conn.getresponse()

    def next_event(self) -> tuple[str, str]:
        """Return (event, data) of the next event, skipping comments; time out after 10 s."""
        event, data = "", ""
        while True:
            line = self.response.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and event:
                return event, data

    def close(self) -> None:
        self.conn.close()


def test_kiosk_server_flushes_each_pushed_event_through_waitress(server: KioskServer, broker: Mosquitto) -> None:
    stream = EventStream(server.port)
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("Content-Type", "").startswith("text/event-stream")
        assert stream.response.getheader("Content-Length") is None
        assert stream.response.readline() == b"retry: 1000\n"  # the opening bytes are not held back
        session = server.app.extensions["benchpin.kiosk.ui"].live.session
        assert session is not None and session.connected.wait(10)
        temperature = TOPICS.temperature("casting-1", "furnace-1")
        # Publish until the subscription is in place; each reading must arrive while the stream stays open.
        wait_until(lambda: send(broker, temperature, {"ts": "t", "seq": 1, "value_c": 1052.25, "fault": None})
                   or server.app.extensions["benchpin.kiosk.ui"].live.temperatures(), timeout=10)
        event, data = stream.next_event()
        reading = json.loads(data)
        assert event == "temperature" and reading.pop("received_ms") > 0
        assert reading == {"probe": "furnace-1", "ts": "t", "value_c": 1052.25, "fault": ""}
        send(broker, TOPICS.scan("casting-1", "bench-3"), {"ts": "t", "seq": 7, "code": "PC-1", "valid": True,
                                                          "reason": None})
        while (event := stream.next_event())[0] != "scan":
            assert event[0] == "temperature"
        assert json.loads(event[1]) == {"code": "PC-1", "valid": True, "reason": "", "scanner": "bench-3"}
        send(broker, TOPICS.scan("casting-1", "bench-3"), {"ts": "t", "seq": 8, "code": "pc-1", "valid": False,
                                                          "reason": "no known prefix"})
        while (event := stream.next_event())[0] != "scan":
            pass
        assert json.loads(event[1])["valid"] is False and json.loads(event[1])["reason"] == "no known prefix"
    finally:
        stream.close()


def test_kiosk_server_ignores_garbage_on_the_scan_topic(server: KioskServer, broker: Mosquitto) -> None:
    live = server.app.extensions["benchpin.kiosk.ui"].live
    listener = live.listen()
    live.on_scan("x/scanner/s/scan", b"\xff not json")
    live.on_scan("x/scanner/s/scan", b'["a"]')
    live.on_scan("x/scanner/s/scan", b'{"valid": true}')
    live.on_scan("x/scanner/s/scan", b'{"code": "TR-1", "valid": true}')
    message = listener.get(timeout=1)
    assert message is not None and message.data["code"] == "TR-1" and listener.queue.empty()


def test_kiosk_engraving_retry_is_sent_to_the_engraver_gateway(server: KioskServer, broker: Mosquitto) -> None:
    commands = Subscriber(broker.port, TOPICS.engraver_job_command("engrave-1", "laser-1", "+"))
    state_topic = ""
    try:
        with server.app.app_context():
            ledger, bridge = get_ledger(), get_bridge()
            for _ in range(4):
                ledger.advance("PC-1", operator="OP-SUP", station="setup")
            job_id = ledger.history("PC-1")[-1].event_id
        assert bridge is not None
        kiosk = Kiosk(server.app)
        kiosk.scan("OP-ENG")
        early = kiosk.post(f"/engraving/{job_id}/retry")
        assert early.status_code == 409
        assert "is sent: only a job that is interrupted or failed or rejected can be retried" in \
            early.get_data(as_text=True)
        state_topic = TOPICS.engraver_job_state("engrave-1", "laser-1", job_id)
        send(broker, state_topic, {"job_id": job_id, "state": "interrupted", "ts": "t", "detail": "door opened"},
             retain=True)
        wait_until(lambda: getattr(bridge.jobs.get(job_id), "state", None) == "interrupted", timeout=10)
        page = kiosk.get("/engraving").get_data(as_text=True)
        assert "interrupted" in page and "door opened" in page and f"/engraving/{job_id}/retry" in page
        assert "state-interrupted" in kiosk.get("/pieces/PC-1").get_data(as_text=True)
        sent = kiosk.post(f"/engraving/{job_id}/retry")
        assert sent.status_code == 200 and "Retry sent for PC-1" in sent.get_data(as_text=True)
        [command] = commands.wait_for(lambda p: p, message="the retry command")
        assert (command["job_id"], command["action"], command["operator"]) == (job_id, "retry", "OP-ENG")
    finally:
        commands.close()
        if state_topic:
            publish.single(state_topic, b"", retain=True, hostname="127.0.0.1", port=broker.port)


def test_benchpin_kiosk_tells_systemd_it_is_ready_pings_and_stops(tmp_path: Path, broker: Mosquitto) -> None:
    config = station_file(tmp_path, station(tmp_path, broker.port, kiosk={"listen": "127.0.0.1:0",
                                                                         "gateway": "casting-1"}))
    with NotifySocket(abstract=True) as notify:
        env = {**os.environ, "NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "2000000"}
        process = subprocess.Popen([sys.executable, "-m", "benchpin", "kiosk", "--config", str(config)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            notify.wait_for(lambda: notify.count("READY"), timeout=30, message="READY=1 from benchpin kiosk")
            assert notify.statuses()[-1] == "ready"  # MQTT up and /healthz answering, not degraded
            notify.wait_for(lambda: notify.count("WATCHDOG") >= 2, message="watchdog pings")
            process.send_signal(signal.SIGTERM)
            assert process.wait(20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            stderr = process.stderr.read().decode() if process.stderr else ""
        notify.wait_for(lambda: notify.count("STOPPING"), timeout=5, message=f"STOPPING=1 ({stderr})")
        assert notify.count("STOPPING") == 1, stderr
        assert "kiosk stopped" in stderr and "Traceback" not in stderr


def test_live_feed_cuts_off_a_screen_that_fell_behind(tmp_path: Path) -> None:
    feed = LiveFeed(ui_config(tmp_path), connect=False)
    slow, fast = feed.listen(), feed.listen()
    for n in range(LISTENER_BACKLOG + 1):
        feed.push(LiveMessage("scan", {"code": f"PC-{n}"}))
        if n < LISTENER_BACKLOG:
            assert fast.get(timeout=1) is not None
    assert slow.overflowed and not fast.overflowed
    stream = event_stream(feed, heartbeat_s=0.01)
    assert next(stream).startswith(b"retry: ")
    assert next(stream) == b": heartbeat\n\n"  # nothing to say: a comment keeps the connection checked
    feed.push(LiveMessage("scan", {"code": "PC-X"}))
    assert next(stream) == b'event: scan\ndata: {"code":"PC-X"}\n\n'
    feed.stop()  # ends every open stream
    assert list(stream) == []


def test_two_kiosks_on_one_gateway_never_act_on_the_same_scan(tmp_path: Path, broker: Mosquitto) -> None:
    """Each live feed follows only the scanners configured for its kiosk."""
    feeds = {}
    for name, scanners in (("bench", ["casting-1/bench-3"]), ("qc", ["casting-1/bench-4"]), ("none", [])):
        (tmp_path / name).mkdir()
        feed = LiveFeed(ui_config(tmp_path / name, mqtt_port=broker.port, scanners=scanners))
        feeds[name] = (feed, feed.listen())
        feed.start()
    try:
        for feed, _ in feeds.values():
            if feed.session is not None:
                wait_until(feed.session.connected.is_set, timeout=10)

        def scan(scanner: str, code: str) -> None:
            send(broker, TOPICS.scan("casting-1", scanner), {"ts": "t", "seq": 1, "code": code, "valid": True,
                                                              "reason": None})

        # Subscriptions are in place once a scan for each scanner arrives at its kiosk; a last
        # marker scan, read up to, leaves nothing of the warm-up behind.
        for name, scanner in (("bench", "bench-3"), ("qc", "bench-4")):
            listener = feeds[name][1]
            wait_until(lambda: scan(scanner, "PC-WARM") or not listener.queue.empty(), timeout=10)
            scan(scanner, f"PC-MARK-{scanner}")
            while (message := listener.get(timeout=10)) is not None and message.data["code"] != f"PC-MARK-{scanner}":
                pass
        scan("bench-3", "PC-1")
        scan("bench-4", "PC-2")
        scan("bench-9", "PC-3")  # a scanner no kiosk was given
        first = feeds["bench"][1].get(timeout=10)
        second = feeds["qc"][1].get(timeout=10)
        assert first is not None and (first.data["code"], first.data["scanner"]) == ("PC-1", "bench-3")
        assert second is not None and (second.data["code"], second.data["scanner"]) == ("PC-2", "bench-4")
        scan("bench-3", "PC-END")  # ordered after the others on the same connection: a barrier
        end = feeds["bench"][1].get(timeout=10)
        assert end is not None and end.data["code"] == "PC-END"
        assert feeds["qc"][1].queue.empty() and feeds["none"][1].queue.empty()
    finally:
        for feed, _ in feeds.values():
            feed.stop()


def test_kiosk_unlock_button_sends_the_unlock_after_confirmation(server: KioskServer, broker: Mosquitto) -> None:
    """Alarm on the laser → the engraving tab offers unlock to an engraver → confirmed → command at the gateway."""
    command_topic = TOPICS.engraver_command("engrave-1", "laser-1")
    sub = Subscriber(broker.port, command_topic)
    state_topic = TOPICS.engraver_state("engrave-1", "laser-1")
    live = ui_state(server.app).live
    wait_until(lambda: send(broker, state_topic, {"state": "Alarm", "ts": "2026-12-02T10:00:00.000Z"}, retain=True)
               or (live.machine() is not None), timeout=10)
    kiosk = Kiosk(server.app)
    kiosk.scan("OP-ART")
    page = kiosk.get("/engraving").get_data(as_text=True)
    assert "state-alarm" in page and "Unlock the laser…" not in page and "may unlock it" in page
    refused = kiosk.post("/engraving/unlock", safe="yes")
    assert refused.status_code == 409 and "role artisan may not unlock" in refused.get_data(as_text=True)
    kiosk.scan("OP-ENG")
    assert "Unlock the laser…" in kiosk.get("/engraving").get_data(as_text=True)
    assert "The laser is safe: unlock it" in kiosk.get("/engraving/unlock").get_data(as_text=True)
    unconfirmed = kiosk.post("/engraving/unlock")
    assert unconfirmed.status_code == 409 and "confirm first" in unconfirmed.get_data(as_text=True)
    sent = kiosk.post("/engraving/unlock", safe="yes")
    assert sent.status_code == 200 and "Unlock sent" in sent.get_data(as_text=True)
    received = sub.wait_for(lambda p: p, command_topic)
    sub.close()
    assert [(c["action"], c["operator"]) for c in received] == [("unlock", "OP-ENG")]
    send(broker, state_topic, {"state": "Idle", "ts": "2026-12-02T10:00:05.000Z"}, retain=True)
    wait_until(lambda: (m := live.machine()) is not None and m.state == "Idle", timeout=10)
    idle = kiosk.post("/engraving/unlock", safe="yes")
    assert idle.status_code == 409 and "not in an alarm" in idle.get_data(as_text=True)
