"""The sender's batching through paho's public API: corked bursts, PUBACKs read a tick at a time (real mosquitto)."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import time

from benchpin.config import MqttConfig
from benchpin.mqtt import MqttSession, OutboxSender
from benchpin.outbox import Outbox
from tests.helpers import Subscriber, wait_until


def segments_out(sock: socket.socket) -> int:
    """TCP segments the kernel has sent on ``sock`` (Linux ``tcp_info.tcpi_segs_out``)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return struct.unpack_from("I", info, 136)[0]


def test_a_burst_leaves_in_few_segments_arrives_in_order_and_is_acknowledged(tmp_path, broker) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    session = MqttSession(MqttConfig(port=broker.port), client_id="batch-test")
    sender = OutboxSender(outbox, session, window=1000, rate=0)
    sub = Subscriber(broker.port, "batch/#")
    session.start()
    sender.start()
    assert session.connected.wait(10)
    wait_until(lambda: sender.inflight == 0, timeout=10, message="connected and idle")
    sock = session.client.socket()
    assert isinstance(sock, socket.socket)
    before = segments_out(sock)
    with outbox.batch():  # what one serial read brought, told to the sender at once
        for value in range(5000):
            outbox.put("batch/t", {"seq": None, "v": value}, seq_key="k")
    wait_until(lambda: outbox.pending == 0, timeout=30, message="every message acknowledged")
    received = sub.wait_for(lambda p: len(p) >= 5000 and p, "batch/t", timeout=30)
    segments = segments_out(sock) - before
    sender.stop()
    session.stop()
    outbox.close()
    sub.close()
    assert [m["v"] for m in received] == list(range(5000))
    assert session.counters.acknowledged >= 5000
    assert segments < 5000 / 10, segments  # a segment per publish would be 5,000


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


def test_a_steady_stream_is_sent_by_the_putting_thread_while_the_sender_sleeps(tmp_path, broker) -> None:
    """At a furnace's pace each put publishes from its own thread: the sender's thread is not
    woken per message, and every message is acknowledged before the outbox would write it (no
    commit at all)."""
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


def test_a_stream_is_acknowledged_before_the_outbox_would_write_it(tmp_path, broker) -> None:
    """Nobody reads the PUBACKs of a stream one by one: the outbox's writer has the sender read
    them just before it would write what has waited, so a healthy broker costs no disk at all."""
    # The writer ticks every 0.2 s and writes what waited 0.1 s; the sender's thread, asleep
    # through the stream, would read the PUBACKs only every 0.25 s.
    outbox = Outbox(tmp_path / "o.sqlite", commit_interval_ms=400)
    session = MqttSession(MqttConfig(port=broker.port), client_id="tick-test")
    sender = OutboxSender(outbox, session, window=1000, rate=0)
    session.start()
    sender.start()
    assert session.connected.wait(10)
    wait_until(lambda: sender.inflight == 0, timeout=10, message="connected and idle")
    for value in range(300):
        outbox.put("tick/t", {"seq": None, "v": value}, seq_key="k")
        time.sleep(0.005)
    wait_until(lambda: outbox.pending == 0, timeout=30, message="every message acknowledged")
    sender.stop()
    session.stop()
    outbox.close()
    assert session.counters.acknowledged >= 300
    assert outbox.commits == 0, outbox.commits


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
