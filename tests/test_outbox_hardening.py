"""The outbox's central promises under faults: acked only on PUBACK, seq never reused, no poison
pills, corrupt or deleted files, a full disk."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from benchpin.broker import Mosquitto
from benchpin.config import MqttConfig
from benchpin.mqtt import MqttSession, OutboxSender
from benchpin.outbox import MessageTooLarge, Outbox, OutboxWriteError, mqtt_packet_size
from tests.helpers import ROOT, Subscriber, wait_until
from tests.stations import station, station_config, station_file


def disk_rows(path: Path) -> list[dict]:
    with sqlite3.connect(path) as db:
        return [json.loads(p) for (p,) in db.execute("SELECT payload FROM outbox ORDER BY id")]


class Unchecked(Outbox):
    """Test hook: lets an oversize message in, as a bug or an older version might."""

    def check_size(self, topic: str, payload: bytes, qos: int) -> None:
        return None


# ---------------------------------------------------------------------- acked only on PUBACK

def test_a_message_handed_to_paho_stays_pending_until_the_broker_acknowledges_it(tmp_path, broker):
    outbox = Outbox(tmp_path / "o.sqlite", commit_interval_ms=100)
    session = MqttSession(MqttConfig(port=broker.port, keepalive_s=60), client_id="puback-test")
    sender = OutboxSender(outbox, session, window=100, rate=0)
    session.start()
    sender.start()
    assert session.connected.wait(10)
    assert broker.process is not None
    os.kill(broker.process.pid, signal.SIGSTOP)  # the broker takes no more packets, acks nothing
    try:
        for value in range(50):
            outbox.put("stop/t", {"seq": None, "v": value}, seq_key="k")
        wait_until(lambda: sender.sent >= 50, message="all 50 handed to paho")
        time.sleep(0.5)  # several commit intervals: unacknowledged, so they must reach the disk
        assert outbox.pending == 50
        assert [r["v"] for r in disk_rows(tmp_path / "o.sqlite")] == list(range(50))
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
    wait_until(lambda: outbox.pending == 0, message="PUBACKs after SIGCONT")
    wait_until(lambda: not disk_rows(tmp_path / "o.sqlite"), message="acknowledged rows deleted")
    sender.stop()
    session.stop()
    outbox.close()


def test_telemetry_acknowledged_before_its_commit_is_never_written(tmp_path, broker):
    outbox = Outbox(tmp_path / "o.sqlite", commit_interval_ms=2000)
    session = MqttSession(MqttConfig(port=broker.port), client_id="skip-test")
    sender = OutboxSender(outbox, session, rate=0)
    session.start()
    sender.start()
    assert session.connected.wait(10)
    for value in range(200):
        outbox.put("skip/t", {"v": value})
    wait_until(lambda: outbox.pending == 0, message="all acknowledged")
    sender.stop()
    session.stop()
    outbox.close()
    assert outbox.commits == 0 and outbox.db_bytes_written == 0


# ---------------------------------------------------------------------- seq never reused

CRASHER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[1])
    from benchpin.outbox import Outbox

    class CrashAfterCommit(Outbox):
        # Fault injection: die right after the Nth commit, before anything else runs.
        def _commit(self, *args, **kwargs):
            super()._commit(*args, **kwargs)
            self.crash_in -= 1
            if self.crash_in == 0:
                os._exit(9)

    outbox = CrashAfterCommit(sys.argv[2], seq_block=int(sys.argv[3]))
    outbox.crash_in = int(sys.argv[4])
    while True:
        outbox.put("t", {"seq": None}, seq_key="probe/p1", wait=True)
""")


@pytest.mark.parametrize("crash_at", [1, 7])
def test_seq_is_not_reused_after_a_crash_right_after_a_commit(tmp_path, crash_at):
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER)
    path = tmp_path / "o.sqlite"
    run = subprocess.run([sys.executable, str(script), str(ROOT), str(path), "5", str(crash_at)],
                         capture_output=True, timeout=60)
    assert run.returncode == 9, run.stderr.decode()
    committed = [r["seq"] for r in disk_rows(path)]
    assert committed == list(range(1, crash_at + 1))
    with Outbox(path, seq_block=5) as outbox:
        assert outbox.put("t", {"seq": None}, seq_key="probe/p1", wait=True) > max(committed)


def test_seq_is_not_reused_after_sigkill_in_the_middle_of_a_stream(tmp_path):
    script = tmp_path / "stream.py"
    script.write_text(textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        from benchpin.outbox import Outbox
        outbox = Outbox(sys.argv[2], seq_block=50, commit_interval_ms=20)
        print("ready", flush=True)
        while True:
            outbox.put("t", {"seq": None}, seq_key="k")
    """))
    path = tmp_path / "o.sqlite"
    highest = 0
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(ROOT), str(path)], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        wait_until(lambda: path.exists() and len(disk_rows(path)) > highest + 100, timeout=30,
                   message="readings committed")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        seqs = [r["seq"] for r in disk_rows(path)]
        assert len(seqs) == len(set(seqs)), "a seq was used twice"
        assert min(seqs[-100:]) > highest or highest == 0
        highest = max(seqs)


# ---------------------------------------------------------------------- poison pills

def test_packet_size_counts_fixed_header_topic_packet_id_and_payload():
    assert mqtt_packet_size("a/b", 100, qos=1) == 1 + 1 + 2 + 3 + 2 + 100
    assert mqtt_packet_size("a/b", 100, qos=0) == 1 + 1 + 2 + 3 + 100
    assert mqtt_packet_size("a/b", 200, qos=1) == 1 + 2 + 2 + 3 + 2 + 200  # two length bytes past 127


def test_an_oversize_message_is_refused_at_put(tmp_path):
    with Outbox(tmp_path / "o.sqlite", max_packet_bytes=2000) as outbox:
        with pytest.raises(MessageTooLarge) as caught:
            outbox.put("big/t", {"seq": None, "blob": "x" * 3000}, seq_key="k", wait=True)
        assert caught.value.limit == 2000 and caught.value.size > 3000
        assert "2000" in str(caught.value) and str(caught.value.size) in str(caught.value)
        assert "max_packet_bytes" in str(caught.value)
        assert outbox.pending == 0 and outbox.last_seq("k") == 0  # nothing accepted, no seq spent
        assert outbox.put("big/t", {"seq": None, "blob": "x" * 100}, seq_key="k", wait=True) == 1


@pytest.fixture
def small_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker that disconnects a client sending a packet over 2000 bytes."""
    with Mosquitto(workdir=tmp_path / "small", extra_config="max_packet_size 2000") as mosquitto:
        yield mosquitto


def test_the_size_check_matches_the_broker_limit_to_the_byte(tmp_path, small_broker):
    topic = "edge/t"
    fits = max(n for n in range(2000) if mqtt_packet_size(topic, n, qos=1) <= 2000)
    assert mqtt_packet_size(topic, fits, qos=1) == 2000
    outbox = Outbox(tmp_path / "o.sqlite", max_packet_bytes=2000)
    outbox.put(topic, b"x" * fits)  # exactly 2000 bytes on the wire: the broker takes it
    with pytest.raises(MessageTooLarge):
        outbox.put(topic, b"x" * (fits + 1))
    session = MqttSession(MqttConfig(port=small_broker.port), client_id="edge-test")
    sender = OutboxSender(outbox, session, rate=0)
    session.start()
    sender.start()
    wait_until(lambda: outbox.pending == 0, timeout=15, message="the 2000-byte message acknowledged")
    assert session.counters.disconnects == 0
    sender.stop()
    session.stop()
    outbox.close()


@pytest.mark.parametrize("status_topic", ["status/dead-letter-test", None], ids=["probed", "no-status"])
def test_a_message_the_broker_keeps_refusing_goes_to_dead_letters_and_the_rest_flow(tmp_path, small_broker,
                                                                                     status_topic):
    outbox = Unchecked(tmp_path / "o.sqlite", max_packet_bytes=2000)
    sub = Subscriber(small_broker.port, "dl/#")
    outbox.put("dl/t", {"v": "before"}, wait=True)
    outbox.put("dl/t", {"v": "poison", "blob": "x" * 3000}, wait=True)
    for value in range(3):
        outbox.put("dl/t", {"v": value})
    session = MqttSession(MqttConfig(port=small_broker.port), client_id="dead-letter-test",
                          status_topic=status_topic)
    sender = OutboxSender(outbox, session, rate=0)
    session.start()
    sender.start()
    sub.wait_for(lambda p: [r["v"] for r in p][-3:] == [0, 1, 2], "dl/#", timeout=40,
                 message="the messages behind the refused one")
    wait_until(lambda: outbox.pending == 0, message="outbox empty")
    sender.stop()
    session.stop()
    values = [r["v"] for r in sub.payloads("dl/#")]
    sub.close()
    dead = outbox.dead_letters()
    assert outbox.dead == 1 and len(dead) == 1
    # With a status to prove each connection by, three more strikes came from the poison sent alone.
    assert sender.probes == (3 if status_topic else 0)
    assert json.loads(dead[0].payload)["v"] == "poison" and "disconnected" in dead[0].reason
    assert "poison" not in values and values[0] == "before"
    outbox.close()
    # Listed from the command line too.
    config = station_file(tmp_path, station(tmp_path, site="s", gateway={"id": "g"}))
    (tmp_path / "state").mkdir()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{tmp_path / 'o.sqlite'}{suffix}").exists():
            os.replace(f"{tmp_path / 'o.sqlite'}{suffix}", f"{tmp_path / 'state' / 'outbox.sqlite'}{suffix}")
    listing = subprocess.run([sys.executable, "-m", "benchpin", "outbox", "dead-letters", "--config", str(config)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert "1 dead letter(s)" in listing.stdout and "dl/t" in listing.stdout and "poison" in listing.stdout


def test_a_status_too_big_for_the_broker_goes_without_the_counters_and_the_session_stays_up(tmp_path, small_broker,
                                                                                               caplog):
    """Published as it is, a 3 kB status would get the gateway disconnected on every connect."""
    devices = {f"probe:furnace-{i}": {"state": "up", "readings": 123456, "faults": 0, "bad_lines": 0,
                                      "other_channel": 0, "reopens": 0, "rejected": 0} for i in range(30)}
    devices["probe:furnace-0"] = {"state": "down", "detail": "cannot open /dev/ttyUSB0", "readings": 0}
    outbox = Outbox(tmp_path / "o.sqlite", max_packet_bytes=2000)
    sub = Subscriber(small_broker.port, "big-status/#")
    session = MqttSession(MqttConfig(port=small_broker.port, max_packet_bytes=2000), client_id="big-status",
                          status_topic="big-status/status",
                          status_extra=lambda: {"outbox": {"pending": outbox.pending}, "devices": devices})
    assert len(json.dumps(devices)) > 2000
    sender = OutboxSender(outbox, session, rate=0)
    session.start()
    sender.start()
    for value in range(20):
        outbox.put("big-status/t", {"v": value})
    sub.wait_for(lambda p: len(p) >= 20, "big-status/t", message="the readings")
    statuses = sub.wait_for(lambda p: p, "big-status/status", message="the status")
    session.publish_status()  # the periodic refresh is trimmed the same way
    sub.wait_for(lambda p: len(p) >= 2, "big-status/status", message="the refreshed status")
    assert session.counters.connects == 1 and session.counters.disconnects == 0
    sender.stop()
    session.stop()
    outbox.close()
    sub.close()
    online = statuses[0]
    assert online["state"] == "online" and online["outbox"] == {"pending": online["outbox"]["pending"]}
    assert online["devices"]["probe:furnace-1"] == {"state": "up"}
    assert online["devices"]["probe:furnace-0"] == {"state": "down", "detail": "cannot open /dev/ttyUSB0"}
    warnings = [r.getMessage() for r in caplog.records if "max_packet_bytes" in r.getMessage()]
    assert len(warnings) == 1 and "without the devices' counters" in warnings[0]


def test_a_broker_whose_limit_is_below_the_configured_one_gets_a_smaller_status_not_a_reconnect_storm(
        tmp_path, caplog):
    """mqtt.max_packet_bytes left at 65536, the broker at 1024: the status alone gets every connection dropped."""
    devices = {f"probe:furnace-{i}": {"state": "down", "detail": "cannot open /dev/" + "y" * 150, "readings": 0}
               for i in range(4)}
    with Mosquitto(workdir=tmp_path / "tiny", extra_config="max_packet_size 1024") as tiny:
        outbox = Outbox(tmp_path / "o.sqlite")
        sub = Subscriber(tiny.port, "storm/#")
        session = MqttSession(MqttConfig(port=tiny.port), client_id="storm", status_topic="storm/status",
                              status_extra=lambda: {"outbox": {"pending": outbox.pending}, "devices": devices})
        sender = OutboxSender(outbox, session, rate=0)
        with caplog.at_level(logging.ERROR, logger="benchpin.mqtt"):
            session.start()
            sender.start()
            started = time.monotonic()
            for value in range(20):
                outbox.put("storm/t", {"v": value}, kind="event", wait=True)  # events: never dropped
            sub.wait_for(lambda p: len(p) >= 20, "storm/t", timeout=40, message="the readings")
            took = time.monotonic() - started
            status = sub.wait_for(lambda p: p, "storm/status", message="a status")[-1]
        connects = session.counters.connects
        sender.stop()
        session.stop()
        outbox.close()
        sub.close()
    # Backoff doubles while no connection is answered (1, 2, 4 s); each lost one trims the status more.
    assert connects <= 5, f"{connects} connections in {took:.0f} s"
    assert status["state"] == "online" and status["outbox"]["pending"] >= 0
    assert all(set(device) == {"state", "detail"} for device in status["devices"].values())
    errors = [r.getMessage() for r in caplog.records if "max_packet_size" in r.getMessage()]
    assert errors and "smaller than mqtt.max_packet_bytes (65536)" in errors[0]


def test_connections_dropped_after_a_small_status_never_trim_it() -> None:
    """A crash-looping broker drops connections too: a status no broker limit can be below stays whole."""
    big = {f"probe:p{i}": {"state": "up", "readings": 123456, "faults": 0} for i in range(40)}
    for devices, drops, trimmed in ((big, 2, True), ({"probe:p1": {"state": "up", "readings": 1}}, 4, False)):
        session = MqttSession(MqttConfig(), client_id="drops", status_topic="drops/status",
                              status_extra=lambda devices=devices: {"devices": devices})
        for _ in range(drops):  # connections lost half a second after the status, unanswered
            session._status_sent = len(session._status_payload("online"))
            session._up_at = time.monotonic() - 0.5
            session._attempts += 1
            session._schedule_retry()
        status = json.loads(session._status_payload("online"))
        assert (status["devices"]["probe:p1"] == {"state": "up"}) is trimmed, status


def test_a_status_is_trimmed_to_its_state_when_nothing_else_fits() -> None:
    session = MqttSession(MqttConfig(max_packet_bytes=1024), client_id="tiny", status_topic="tiny/status",
                          status_extra=lambda: {"outbox": {"note": "x" * 2000}, "devices": {}})
    payload = json.loads(session._status_payload("online"))
    assert set(payload) == {"state", "ts", "version"}


def test_a_broker_that_hangs_and_crashes_right_after_each_connect_dead_letters_nothing(tmp_path, broker):
    """Three connections in a row die with the same message unacknowledged, as a refusal would:
    the broker froze right after its CONNACK (SIGSTOP) and was then killed. Nothing proved the
    broker answered, so the message is not taken for one it refuses: it is delivered later."""
    outbox = Outbox(tmp_path / "o.sqlite")
    sub = Subscriber(broker.port, "flap/t")
    session = MqttSession(MqttConfig(port=broker.port, keepalive_s=30), client_id="flap-test",
                          status_topic="flap/status")
    sender = OutboxSender(outbox, session, window=100, rate=0)
    armed: list[bool] = []

    def freeze_on_connect() -> None:  # runs inside paho's CONNACK handling, before anything is sent
        if armed:
            armed.pop()
            assert broker.process is not None
            os.kill(broker.process.pid, signal.SIGSTOP)

    session.when_connected(freeze_on_connect)
    session.start()
    sender.start()
    try:
        for value in range(1, 6):
            outbox.put("flap/t", {"v": value}, kind="event", wait=True)
        sub.wait_for(lambda p: len(p) == 5, "flap/t", message="the first five")
        for round_ in range(3):
            connects = session.counters.connects
            armed.append(True)
            broker.restart()
            wait_until(lambda: session.counters.connects > connects, message="the gateway reconnecting")
            if round_ == 0:  # accepted (on disk) while the broker hangs
                outbox.put("flap/t", {"v": 6}, kind="event", wait=True)
            time.sleep(1.0)  # the connection hangs; well within refusal_window_s
            broker.stop(kill=True)
        broker.start()
        for value in range(7, 11):
            outbox.put("flap/t", {"v": value}, kind="event", wait=True)
        sub.wait_for(lambda p: {r["v"] for r in p} >= set(range(1, 11)), "flap/t", timeout=30,
                     message="every accepted message")
        assert outbox.dead == 0 and sender.dead_lettered == 0
        wait_until(lambda: outbox.pending == 0, message="the outbox empty")
    finally:
        sender.stop()
        session.stop()
        sub.close()
        outbox.close()


class SilentBroker:
    """Speaks just enough MQTT 3.1.1 to connect a client, acknowledges no PUBLISH, and drops the
    connection 0.3 s after the first one on ``topic``: a broker that never proves it answers."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent_per_connection: list[int] = []
        self._closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.sent_per_connection.append(0)
            threading.Thread(target=self._handle, args=(conn, len(self.sent_per_connection) - 1), daemon=True).start()

    @staticmethod
    def _packet(reader: Any) -> tuple[int, bytes] | None:
        head = reader.read(1)
        if not head:
            return None
        length, shift = 0, 0
        while True:
            byte = reader.read(1)
            if not byte:
                return None
            length |= (byte[0] & 0x7F) << shift
            shift += 7
            if not byte[0] & 0x80:
                break
        return head[0] >> 4, reader.read(length)

    def _handle(self, conn: socket.socket, index: int) -> None:
        reader = conn.makefile("rb")
        try:
            while (packet := self._packet(reader)) is not None:
                kind, body = packet
                if kind == 1:  # CONNECT
                    conn.sendall(b"\x20\x02\x00\x00")
                elif kind == 3 and body[2:2 + int.from_bytes(body[:2], "big")].decode() == self.topic:
                    self.sent_per_connection[index] += 1
                    if self.sent_per_connection[index] == 1:
                        threading.Timer(0.3, lambda: conn.shutdown(socket.SHUT_RDWR)).start()
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()


def test_a_broker_that_never_acknowledges_the_status_still_gets_every_message_and_dead_letters_nothing(tmp_path):
    """Probing waits for the status's PUBACK; if it never comes, the sender sends anyway (and
    counts no strike), instead of holding the queue for ever."""
    broker = SilentBroker("silent/t")
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.put("silent/t", {"v": 1}, kind="event", wait=True)
    session = MqttSession(MqttConfig(port=broker.port), client_id="silent-test", status_topic="silent/status")
    sender = OutboxSender(outbox, session, rate=0)
    sender.proof_timeout_s = 0.5
    session.start()
    sender.start()
    try:
        # Connection 1 earns the message its first strike; on every later one the sender probes,
        # gets no proof, and sends it after proof_timeout_s all the same.
        wait_until(lambda: sum(1 for n in broker.sent_per_connection if n) >= 4, timeout=30,
                   message="the message sent on four connections")
        assert outbox.dead == 0 and sender.dead_lettered == 0 and outbox.pending == 1
    finally:
        sender.stop()
        session.stop()
        outbox.close()
        broker.close()


def test_qos0_messages_do_not_hold_the_window(tmp_path, broker):
    """paho reports a QoS 0 message published as soon as it writes it, inside publish()."""
    outbox = Outbox(tmp_path / "o.sqlite")
    sub = Subscriber(broker.port, "q/#")
    session = MqttSession(MqttConfig(port=broker.port), client_id="qos0-test")
    sender = OutboxSender(outbox, session, window=10, rate=0)
    session.start()
    sender.start()
    try:
        assert session.connected.wait(10)
        for value in range(25):
            outbox.put("q/zero", {"v": value}, qos=0)
        for value in range(5):
            outbox.put("q/one", {"v": value}, kind="event", wait=True)
        sub.wait_for(lambda p: len(p) == 5, "q/one", message="the QoS 1 messages behind 25 QoS 0 ones")
        wait_until(lambda: outbox.pending == 0 and sender.inflight == 0, message="nothing left in flight")
    finally:
        sender.stop()
        session.stop()
        sub.close()
        outbox.close()


# ---------------------------------------------------------------------- corrupt or deleted files

def test_a_corrupt_outbox_is_moved_aside_and_seq_continues(tmp_path, caplog):
    path = tmp_path / "state" / "outbox.sqlite"
    with Outbox(path) as outbox:
        for _ in range(5):
            outbox.put("t", {"seq": None}, seq_key="k", wait=True)
    path.write_bytes(b"this is not a database, it is what a bad SD card returns" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with caplog.at_level(logging.ERROR, logger="benchpin.outbox"):
        with Outbox(path) as outbox:
            assert outbox.recovered_from is not None
            assert Path(outbox.recovered_from).name.startswith("outbox.sqlite.corrupt-")
            assert Path(outbox.recovered_from).read_bytes().startswith(b"this is not a database")
            assert outbox.put("t", {"seq": None}, seq_key="k", wait=True) == 6
            assert outbox.pending == 1
    assert any("corrupt" in r.getMessage() and "moved it aside" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("crashed", [False, True], ids=["stopped", "killed"])
def test_an_empty_outbox_file_is_taken_for_a_truncated_one_not_a_new_one(tmp_path, caplog, crashed):
    """SQLite opens a 0-byte file as a fresh database: the loss would go unsaid."""
    path = tmp_path / "state" / "outbox.sqlite"
    if crashed:  # the rows are in the WAL, as a SIGKILL leaves them
        script = "import sys; sys.path.insert(0, sys.argv[1]); import os; from benchpin.outbox import Outbox\n" \
                 "o = Outbox(sys.argv[2])\nfor _ in range(50): o.put('t', {'seq': None}, seq_key='k', wait=True)\n" \
                 "os._exit(9)\n"
        assert subprocess.run([sys.executable, "-c", script, str(ROOT), str(path)], timeout=60).returncode == 9
        assert Path(f"{path}-wal").stat().st_size > 0
    else:
        with Outbox(path) as outbox:
            for _ in range(50):
                outbox.put("t", {"seq": None}, seq_key="k", wait=True)
    os.truncate(path, 0)
    with caplog.at_level(logging.ERROR, logger="benchpin.outbox"):
        with Outbox(path) as outbox:
            assert outbox.recovered_from is not None and Path(outbox.recovered_from).stat().st_size == 0
            assert outbox.put("t", {"seq": None}, seq_key="k", wait=True) > 50
    (message,) = [r.getMessage() for r in caplog.records if "moved it aside" in r.getMessage()]
    assert "empty" in message and ("its WAL holds" in message) == crashed
    if crashed:  # kept beside it, for whoever wants to dig the rows out
        assert Path(f"{outbox.recovered_from}-wal").stat().st_size > 0


def test_a_second_process_on_the_same_outbox_is_refused_naming_the_first(tmp_path):
    from benchpin.outbox import OutboxInUse

    path = tmp_path / "state" / "outbox.sqlite"
    with Outbox(path) as first:
        first.put("t", {"seq": None}, seq_key="k", wait=True)
        with pytest.raises(OutboxInUse) as caught:
            Outbox(path)
        assert f"pid {os.getpid()}" in str(caught.value) and "same seq" in str(caught.value)
    with Outbox(path) as again:  # closed: free again
        assert again.put("t", {"seq": None}, seq_key="k", wait=True) == 2


def test_a_file_system_without_locks_runs_the_outbox_and_says_so(tmp_path, monkeypatch, caplog):
    """NFS mounted nolock answers flock with ENOLCK: that must not stop a gateway (nothing here has such a mount)."""
    import errno
    import fcntl

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with caplog.at_level(logging.WARNING, logger="benchpin.outbox"):
        with Outbox(tmp_path / "o.sqlite") as outbox:
            assert outbox.put("t", {"seq": None}, seq_key="k", wait=True) == 1
    assert any("cannot lock" in r.getMessage() and "second gateway" in r.getMessage() for r in caplog.records)


def test_two_gateways_on_one_state_dir_the_second_stops_with_one_clear_line(tmp_path, broker):
    from tests.helpers import start_gateway_process, write_toml

    config = write_toml(tmp_path / "station.toml", station(tmp_path, broker.port, gateway={}))
    first = start_gateway_process(config)
    try:
        wait_until(lambda: (tmp_path / "state" / "outbox.lock").exists(), message="the first gateway's lock")
        second = start_gateway_process(config)
        output = second.communicate(timeout=60)[0].decode()
    finally:
        first.terminate()
        first.communicate(timeout=20)
    assert second.returncode == 3, output
    assert "cannot start the gateway" in output and f"pid {first.pid}" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("marks", ['{"probe/p1": null}', "[5]", '{"probe/p1": 1e999}', '{"probe/p1": -50}'])
def test_unusable_seq_marks_stop_the_outbox_naming_the_file(tmp_path, marks):
    from benchpin.outbox import SeqMarksUnreadable

    path = tmp_path / "state" / "outbox.sqlite"
    path.parent.mkdir()
    (path.parent / "outbox.seq-hwm").write_text(marks)
    with pytest.raises(SeqMarksUnreadable, match="outbox.seq-hwm is unreadable"):
        Outbox(path)
    (path.parent / "outbox.seq-hwm").write_text('{"probe/p1": 7}')
    with Outbox(path) as outbox:  # nothing left locked or open by the refusal
        assert outbox.put("t", {"seq": None}, seq_key="probe/p1", wait=True) == 8


def test_a_deleted_outbox_never_restarts_seq_at_one(tmp_path):
    path = tmp_path / "state" / "outbox.sqlite"
    with Outbox(path, seq_block=3) as outbox:
        for _ in range(7):
            outbox.put("t", {"seq": None}, seq_key="k")
    for leftover in path.parent.glob("outbox.sqlite*"):
        leftover.unlink()
    with Outbox(path, seq_block=3) as outbox:
        assert outbox.put("t", {"seq": None}, seq_key="k", wait=True) == 8


def test_gateway_status_says_it_recovered_from_a_corrupt_outbox(tmp_path):
    from gateway.service import Gateway

    state = tmp_path / "state"
    state.mkdir()
    (state / "outbox.sqlite").write_bytes(b"\x00garbage" * 512)
    config = station_config(site="s", mqtt={"port": 1}, gateway={"id": "g", "state_dir": str(state)})
    gateway = Gateway(config)
    try:
        assert gateway.status_extra()["outbox"]["recovered_from"].startswith(str(state / "outbox.sqlite.corrupt-"))
    finally:
        gateway.stop()


# ---------------------------------------------------------------------- a full disk

@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_refuses_puts_clearly_keeps_what_was_accepted_and_closes_fast(tiny_disk, caplog):
    path = tiny_disk / "state" / "outbox.sqlite"
    outbox = Outbox(path, seq_block=1_000_000)
    accepted: list[int] = []
    with caplog.at_level(logging.ERROR, logger="benchpin.outbox"):
        with pytest.raises(OutboxWriteError) as caught:
            for _ in range(10_000):
                seq = outbox.put("t", {"seq": None, "pad": "x" * 4000}, seq_key="k", wait=True)
                assert seq is not None
                accepted.append(seq)
        assert "full" in str(caught.value) and str(path) in str(caught.value)
        with pytest.raises(OutboxWriteError):
            outbox.put("t", {"v": "later"})  # nothing new is accepted while writes fail
        started = time.monotonic()
        outbox.close()
        assert time.monotonic() - started < 10
    messages = [r.getMessage() for r in caplog.records]
    assert any("database or disk is full" in m for m in messages), messages
    assert not any("cannot rollback" in m for m in messages), messages
    assert len(accepted) > 10
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        on_disk = {json.loads(p)["seq"] for (p,) in db.execute("SELECT payload FROM outbox")}
    assert set(accepted) <= on_disk  # everything put(wait=True) returned for is on disk


def test_a_put_whose_own_commit_fails_is_taken_back_and_never_sent(tiny_disk):
    """Refused means never sent: else an artisan's rescan of a refused scan reaches the kiosk twice."""
    outbox = Outbox(tiny_disk / "state" / "outbox.sqlite", seq_block=1_000_000)
    accepted: list[int] = []
    with pytest.raises(OutboxWriteError) as caught:
        for number in range(10_000):
            outbox.put("t", {"n": number, "pad": "x" * 4000}, wait=True)
            accepted.append(number)
    assert "not accepted" in str(caught.value)
    refused = len(accepted)  # the put that raised: its own commit failed
    queued, after = [], 0
    while batch := outbox.fetch(after, 1000):  # what a sender would send, from disk, then memory
        queued += [json.loads(m.payload)["n"] for m in batch]
        after = batch[-1].id
    assert refused not in queued and queued == accepted
    assert outbox.pending == len(accepted)
    outbox.close()


@pytest.mark.parametrize("acknowledged", [True, False], ids=["acked", "no-puback"])
def test_a_put_whose_commit_fails_after_a_sender_took_it_waits_for_its_puback(tmp_path, acknowledged):
    """With telemetry flowing the sender fetches a scan before its commit ends: refusing it then
    would let the artisan's rescan reach the kiosk as a second copy."""
    from benchpin import outbox as outbox_module

    outbox = Outbox(tmp_path / "o.sqlite")
    commit, failing = outbox._commit, [True]

    def refusing_commit(*args):  # type: ignore[no-untyped-def]  # the disk refuses writes
        if failing[0]:
            time.sleep(0.05)  # long enough for the sender to fetch what waits
            raise sqlite3.OperationalError("database or disk is full")
        return commit(*args)

    outbox._commit = refusing_commit  # type: ignore[method-assign]
    stop = threading.Event()

    def sender() -> None:  # fetches as OutboxSender does; the broker acknowledges, or never does
        after = 0
        while not stop.is_set():
            if rows := outbox.fetch(after, 1000):
                after = rows[-1].id
                if acknowledged:
                    outbox.ack([r.id for r in rows])
            time.sleep(0.002)

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        if acknowledged:  # the broker has it: accepted, though not on disk
            assert outbox.put("scan/t", {"code": "PC-0042"}, kind="scan", wait=True) is None
        else:
            with pytest.raises(OutboxWriteError, match="it may arrive"):
                outbox.put("scan/t", {"code": "PC-0042"}, kind="scan", wait=True)
            assert time.monotonic() - started >= outbox_module.ACK_WAIT_S
    finally:
        stop.set()
        thread.join(5)
        failing[0] = False
        outbox.close()


def fill_up(disk: Path) -> Path:
    """Fill the disk behind the gateway's back; return the filler file (unlink it to free the disk)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:  # unbuffered, down to the last byte (a buffered file's close may fail on what it kept)
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    if os.write(fd, b"\0" * size) < size:
                        break
                except OSError:
                    break
    finally:
        os.close(fd)
    return filler


def test_a_job_arriving_on_a_full_disk_is_answered_rejected_and_accepted_once_there_is_room(
        tiny_disk, broker, tmp_path, caplog):
    from benchpin.config import parse_config
    from gateway.service import Gateway
    from tests.engraving import JOB_TOPIC, PREFIX, job, publish, states, station, wait_state

    data = station(tiny_disk, broker.port, tmp_path / "ttyNOLASER", door=False)
    sub = Subscriber(broker.port, f"{PREFIX}/#")
    with Gateway(parse_config(data)) as gateway:
        wait_until(gateway.session.connected.is_set, message="gateway connected")
        filler = fill_up(tiny_disk)
        with pytest.raises(OutboxWriteError):
            for _ in range(1000):
                gateway.outbox.put("t", {"pad": "x" * 4000}, wait=True)
        with caplog.at_level(logging.ERROR, logger="gateway.engraver_jobs"):
            publish(sub, JOB_TOPIC, job("J-FULL"))
            rejected = wait_state(sub, "J-FULL", "rejected")
        assert rejected["detail"] == "the gateway's disk is full"
        assert any("J-FULL" in r.getMessage() and "disk is full" in r.getMessage() for r in caplog.records)
        desk = gateway.counters["jobs laser-1"]
        assert desk.disk_full_refusals == 1 and desk.jobs_rejected == 1
        assert gateway.engravers[0].journal.get("J-FULL") is None  # refused, so the sender may send it again
        late = Subscriber(broker.port, f"{PREFIX}/job/J-FULL")  # the answer is retained
        late.wait_for(lambda p: any(m.get("state") == "rejected" for m in p), f"{PREFIX}/job/J-FULL")
        late.close()
        filler.unlink()
        wait_until(lambda: gateway.outbox.write_error is None, timeout=15, message="the outbox writes again")
        publish(sub, JOB_TOPIC, job("J-FULL"))
        wait_until(lambda: states(sub, "J-FULL")[-1:] == ["accepted"], message="accepted once there is room")
        assert gateway.engravers[0].journal.get("J-FULL") is not None
    sub.close()


def test_a_scan_on_a_full_disk_is_refused_counted_and_taken_when_rescanned(tiny_disk, caplog):
    from firmware_bridge.barcodes import BarcodeRules
    from gateway.scan_bridge import ScanBridge

    outbox = Outbox(tiny_disk / "state" / "outbox.sqlite", seq_block=1_000_000)
    bridge = ScanBridge(outbox, "benchpin/s/g/scanner/sc/scan", "sc", BarcodeRules(), dedupe_s=600)
    filler = fill_up(tiny_disk)
    with pytest.raises(OutboxWriteError):
        for _ in range(1000):
            outbox.put("t", {"pad": "x" * 4000}, wait=True)
    with caplog.at_level(logging.ERROR, logger="gateway.scan_bridge"):
        assert bridge.handle_code("PC-0042") is False
    assert bridge.counters.rejected == 1 and bridge.counters.scans == 0
    assert any("PC-0042" in r.getMessage() and "not accepted" in r.getMessage() for r in caplog.records)
    filler.unlink()
    wait_until(lambda: outbox.write_error is None, timeout=15, message="the outbox writes again")
    assert bridge.handle_code("PC-0042") is True  # the artisan's rescan is not taken for a double read
    assert bridge.counters.scans == 1
    outbox.close()


def test_a_kiosk_move_the_full_disk_refuses_goes_out_with_the_next_move_in_order(tiny_disk, broker, tmp_path,
                                                                                     caplog):
    from kiosk.events import KioskBridge
    from kiosk.ledger import Ledger
    from tests.kiosk_support import add_operators, spec

    config = station_config(tmp_path, broker.port, kiosk={"station": "plating",
                                                         "outbox_file": str(tiny_disk / "kiosk-outbox.sqlite")})
    assert config.kiosk is not None
    ledger = Ledger.from_config(config.kiosk)
    add_operators(ledger)
    ledger.import_pieces([spec("PC-1"), spec("PC-2")])
    bridge = KioskBridge(config, ledger)
    sub = Subscriber(broker.port, "benchpin/jaipur/pieces/+/events")
    bridge.start()
    try:
        filler = fill_up(tiny_disk)
        with pytest.raises(OutboxWriteError):
            for _ in range(1000):
                bridge.outbox.put("t", {"pad": "x" * 4000}, wait=True)
        with caplog.at_level(logging.ERROR, logger="kiosk.events"):
            refused = ledger.advance("PC-1", operator="OP-SUP", station="plating").event_id
        assert any(refused in r.getMessage() and "not published yet" in r.getMessage() for r in caplog.records)
        assert [e.event_id for e in ledger.unpublished(config.kiosk.id)] == [refused]
        filler.unlink()
        wait_until(lambda: bridge.outbox.write_error is None, timeout=15, message="the outbox writes again")
        later = ledger.advance("PC-2", operator="OP-SUP", station="plating").event_id
        events = sub.wait_for(lambda p: len(p) >= 2 and p, "benchpin/jaipur/pieces/+/events",
                              message="both moves")
        assert ledger.unpublished(config.kiosk.id) == []
    finally:
        bridge.stop()
        ledger.close()
        sub.close()
    assert [e["event_id"] for e in events] == [refused, later]  # in order, each once


def test_an_outbox_opened_on_a_full_disk_is_not_taken_for_corrupt(tiny_disk):
    """The disk's error at start says nothing of the file: moving it aside would strand what it holds."""
    from benchpin.outbox import OutboxUnusable

    path = tiny_disk / "state" / "outbox.sqlite"
    with Outbox(path) as outbox:
        for value in range(20):
            outbox.put("t", {"v": value}, wait=True)
    for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    filler = fill_up(tiny_disk)
    try:
        with pytest.raises(OutboxUnusable, match=str(path)):
            Outbox(path).close()
    finally:
        filler.unlink()
    assert not list(path.parent.glob("*.corrupt-*"))
    with Outbox(path) as outbox:
        assert outbox.recovered_from is None and outbox.pending == 20


def test_a_gateway_on_a_full_disk_stops_within_ten_seconds(tiny_disk):
    from gateway.service import Gateway

    state = tiny_disk / "state"
    config = station_config(site="s", mqtt={"port": 1}, gateway={"id": "g", "state_dir": str(state)})
    gateway = Gateway(config)
    gateway.start()
    fill_up(tiny_disk)
    with pytest.raises(OutboxWriteError):
        for _ in range(1000):
            gateway.outbox.put("t", {"seq": None, "pad": "x" * 4000}, seq_key="k", wait=True)
    started = time.monotonic()
    gateway.stop()
    assert time.monotonic() - started < 10
