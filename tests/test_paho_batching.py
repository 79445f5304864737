"""The batching paho client: few system calls, every byte in order, every PUBACK seen (real mosquitto)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

from paho.mqtt.enums import CallbackAPIVersion

from benchpin.config import MqttConfig
from benchpin.mqtt import MqttSession, OutboxSender
from benchpin.outbox import Outbox
from benchpin.paho_batching import BatchingClient, supported
from tests.helpers import Subscriber, wait_until


def test_this_paho_has_what_the_batching_client_builds_on() -> None:
    # An upgrade of paho that renames its internals fails here, not silently in the field.
    assert supported()


def test_a_burst_leaves_in_few_sends_arrives_in_order_and_is_acknowledged(tmp_path, broker) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    session = MqttSession(MqttConfig(port=broker.port), client_id="batch-test")
    sender = OutboxSender(outbox, session, window=1000, rate=0)
    sub = Subscriber(broker.port, "batch/#")
    session.start()
    sender.start()
    assert session.connected.wait(10)
    client = session.client
    assert isinstance(client, BatchingClient) and client.batching
    sends_before = client.sends
    for value in range(5000):
        outbox.put("batch/t", {"seq": None, "v": value}, seq_key="k")
    wait_until(lambda: outbox.pending == 0, timeout=30, message="every message acknowledged")
    received = sub.wait_for(lambda p: len(p) >= 5000 and p, "batch/t", timeout=30)
    sends = session.client.sends - sends_before
    sender.stop()
    session.stop()
    outbox.close()
    sub.close()
    assert [m["v"] for m in received] == list(range(5000))
    assert session.counters.acknowledged >= 5000
    assert sends < 5000 / 10, sends  # one write per publish would be 5,000


def test_bytes_held_back_by_a_full_socket_stay_ahead_of_later_packets(tmp_path, broker) -> None:
    """With the broker stopped the socket fills; a status publish made meanwhile goes behind the burst."""
    outbox = Outbox(tmp_path / "o.sqlite")
    session = MqttSession(MqttConfig(port=broker.port), client_id="order-test", status_topic="order/status")
    sender = OutboxSender(outbox, session, window=6000, rate=0)
    sub = Subscriber(broker.port, "order/#")
    session.start()
    sender.start()
    assert session.connected.wait(10)
    assert broker.process is not None
    pad = "x" * 2000  # 5,000 × 2 KB: more than the socket buffers hold while the broker sleeps
    os.kill(broker.process.pid, signal.SIGSTOP)
    try:
        for value in range(5000):
            outbox.put("order/t", {"seq": None, "v": value, "pad": pad}, seq_key="k")
        wait_until(lambda: sender.sent >= 5000, message="all handed to paho")
        client = session.client
        assert isinstance(client, BatchingClient)
        wait_until(lambda: client.want_write(), timeout=5, message="bytes waiting for the socket")
        session.publish_status()  # a packet made while the burst waits
        time.sleep(0.3)
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
    wait_until(lambda: outbox.pending == 0, timeout=60, message="every message acknowledged")
    sub.wait_for(lambda p: len(p) >= 5000, "order/t", timeout=60, message="the burst")
    sub.wait_for(lambda p: len(p) >= 2, "order/status", message="the status made during the stall")
    sender.stop()
    session.stop()
    outbox.close()
    sub.close()
    arrived = [(t, json.loads(p)) for t, p, _ in sub.messages if t != "order/status" or not _]
    topics = [t for t, _ in arrived]
    assert [m["v"] for t, m in arrived if t == "order/t"] == list(range(5000))  # nothing reordered or lost
    second_status = [i for i, t in enumerate(topics) if t == "order/status"][1]
    assert second_status > max(i for i, t in enumerate(topics) if t == "order/t")  # behind the whole burst


def test_a_packet_sent_while_bytes_wait_goes_behind_them_even_when_the_socket_has_room() -> None:
    """At the socket: what paho sends while a corked burst still waits may not cut into it."""
    ours, peer = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    ours.setblocking(False)
    client = BatchingClient(CallbackAPIVersion.VERSION2)
    client.batching = True
    client._sock = ours  # the socket paho would have opened (a test stands in for connect())
    burst = bytes(range(256)) * 4096  # 1 MiB: far more than the socket takes at once
    try:
        with client.corked():
            assert client._sock_send(burst) == len(burst)
        assert client.want_write()  # the rest waits for the socket
        got = bytearray(peer.recv(65536))  # the peer reads a little: the socket has room again
        assert client._sock_send(b"STATUS") == 6  # paho writing on its own, outside any cork
        peer.setblocking(False)
        deadline = time.monotonic() + 10
        while len(got) < len(burst) + 6 and time.monotonic() < deadline:
            client.loop_write()
            try:
                got += peer.recv(1 << 20)
            except BlockingIOError:
                time.sleep(0.001)
        assert bytes(got) == burst + b"STATUS"
        assert not client.want_write()
    finally:
        client._sock = None
        ours.close()
        peer.close()


def test_a_steady_stream_is_sent_by_the_putting_thread_while_the_sender_sleeps(tmp_path, broker) -> None:
    """At a furnace's pace each put publishes from its own thread and reads the PUBACKs of the
    ones before: the sender's thread is not woken per message, and every message is acknowledged
    before the outbox would write it (no commit at all)."""
    # Margins for a busy machine: puts count as a stream up to 0.2 s apart, and the outbox
    # writes what is unacknowledged after 1.25 s (a quarter of commit_interval_ms).
    outbox = Outbox(tmp_path / "o.sqlite", commit_interval_ms=5000)
    session = MqttSession(MqttConfig(port=broker.port), client_id="direct-test")
    sender = OutboxSender(outbox, session, window=1000, rate=0, ack_linger_s=0.2)
    sub = Subscriber(broker.port, "direct/#")
    session.start()
    sender.start()
    assert session.connected.wait(10)
    wait_until(lambda: sender.inflight == 0, timeout=10, message="connected and idle")
    rounds = sender.rounds
    n = 300
    for value in range(n):
        outbox.put("direct/t", {"seq": None, "v": value}, seq_key="k")
        time.sleep(0.005)  # the pace is what is tested: ~200 messages a second
    wait_until(lambda: outbox.pending == 0, timeout=30, message="every message acknowledged")
    received = sub.wait_for(lambda p: len(p) >= n and p, "direct/t", timeout=30)
    woken = sender.rounds - rounds
    sender.stop()
    session.stop()
    outbox.close()
    sub.close()
    assert [m["v"] for m in received] == list(range(n))
    assert outbox.commits == 0  # acknowledged in memory: nothing reached the disk
    assert woken < n / 4, woken  # woken per message would be ~n


def test_a_batch_of_puts_tells_the_listeners_once_and_other_threads_at_once(tmp_path) -> None:
    import threading

    outbox = Outbox(tmp_path / "o.sqlite")
    told: list[str] = []
    outbox.when_put(lambda: told.append(threading.current_thread().name))
    with outbox.batch():
        for value in range(50):
            outbox.put("batch/t", {"v": value})
        with outbox.batch():  # nested: still one call, at the end of the outer block
            outbox.put("batch/t", {"v": "inner"})
        other = threading.Thread(target=lambda: outbox.put("batch/t", {"v": "other"}), name="other")
        other.start()
        other.join()
        assert told == ["other"]  # another thread's put is not held back by this thread's batch
    assert told == ["other", threading.current_thread().name]
    with outbox.batch():
        pass
    assert len(told) == 2  # an empty batch tells nobody
    assert outbox.pending == 52
    outbox.close()
