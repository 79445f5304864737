"""The durable outbox: order, seq across restarts, bounds, and the sender's window."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading

from hypothesis import given, strategies as st

from benchpin.config import MqttConfig
from benchpin.mqtt import MqttSession, OutboxSender
from benchpin.outbox import Outbox, OutboxClosed, id_runs
from tests.helpers import Subscriber, wait_until


def payloads(messages) -> list[dict]:
    return [json.loads(m.payload) for m in messages]


def test_outbox_keeps_messages_in_order_until_acknowledged(tmp_path):
    with Outbox(tmp_path / "o.sqlite") as outbox:
        for value in range(5):
            outbox.put("t", {"v": value}, wait=True)
        rows = outbox.fetch(0, 10)
        assert [p["v"] for p in payloads(rows)] == [0, 1, 2, 3, 4]
        outbox.ack([rows[0].id, rows[1].id])
        assert outbox.pending == 3
        assert [p["v"] for p in payloads(outbox.fetch(0, 10))] == [2, 3, 4]
        assert [p["v"] for p in payloads(outbox.fetch(rows[3].id, 10))] == [4]


def test_outbox_seq_rises_per_key_and_survives_a_reopen(tmp_path):
    with Outbox(tmp_path / "o.sqlite") as outbox:
        assert [outbox.put("t", {"seq": None, "v": 1}, seq_key="a") for _ in range(3)] == [1, 2, 3]
        assert outbox.put("t", {"seq": None}, seq_key="b") == 1
    with Outbox(tmp_path / "o.sqlite") as outbox:
        assert outbox.put("t", {"seq": None}, seq_key="a", wait=True) == 4
        assert outbox.pending == 5
        first = json.loads(outbox.fetch(0, 1)[0].payload)
    assert list(first) == ["seq", "v"]  # seq fills the caller's slot, order kept


def test_outbox_commits_before_put_with_wait_returns(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.put("t", {"v": 1}, wait=True)
    # A second connection (another process after a crash) sees the committed row.
    import sqlite3
    with sqlite3.connect(tmp_path / "o.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
    outbox.close()
    outbox.close()  # idempotent


def test_outbox_when_full_drops_oldest_telemetry_never_events(tmp_path):
    with Outbox(tmp_path / "o.sqlite", max_messages=100) as outbox:
        outbox.put("event", {"v": "keep"}, kind="event", wait=True)
        for value in range(150):
            outbox.put("t", {"v": value}, wait=True)
        assert outbox.pending == 100
        assert outbox.dropped == 51
        kept = payloads(outbox.fetch(0, 200))
    assert kept[0] == {"v": "keep"}
    assert [p["v"] for p in kept[1:]] == list(range(51, 150))
    with Outbox(tmp_path / "o.sqlite", max_messages=100) as outbox:
        assert outbox.dropped == 51  # the count survives a restart too


def test_a_full_outbox_is_said_once_in_every_run(tmp_path, caplog):
    for run in range(2):
        with caplog.at_level(logging.WARNING, logger="benchpin.outbox"):
            with Outbox(tmp_path / "o.sqlite", max_messages=10) as outbox:
                for value in range(30):
                    outbox.put("t", {"v": value}, wait=True)
        warnings = [r.getMessage() for r in caplog.records if "is full" in r.getMessage()]
        assert len(warnings) == 1, (run, warnings)
        assert f"({20 * run} dropped before this start)" in warnings[0]
        caplog.clear()


def test_outbox_group_commit_takes_many_writers(tmp_path):
    with Outbox(tmp_path / "o.sqlite") as outbox:
        def writer(key: str) -> None:
            for _ in range(200):
                outbox.put("t", {"seq": None, "k": key}, seq_key=key)

        threads = [threading.Thread(target=writer, args=(f"dev{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outbox.flush(10)
        rows = payloads(outbox.fetch(0, 1000))
    assert len(rows) == 800
    for i in range(4):
        assert [r["seq"] for r in rows if r["k"] == f"dev{i}"] == list(range(1, 201))


def test_sender_keeps_at_most_window_messages_unacknowledged(tmp_path, broker):
    outbox = Outbox(tmp_path / "o.sqlite")
    session = MqttSession(MqttConfig(port=broker.port), client_id="window-test")
    sender = OutboxSender(outbox, session, window=25, rate=0)
    peak = 0
    original = session.publish

    def counting_publish(*args, **kwargs):
        nonlocal peak
        peak = max(peak, sender.inflight + 1)
        return original(*args, **kwargs)

    session.publish = counting_publish  # type: ignore[method-assign]
    sub = Subscriber(broker.port, "w/#")
    for value in range(2000):
        outbox.put("w/t", {"v": value})
    session.start()
    sender.start()
    sub.wait_for(lambda p: len(p) >= 2000, "w/#", timeout=30)
    wait_until(lambda: outbox.pending == 0, message="outbox emptied by PUBACKs")
    sender.stop()
    session.stop()
    outbox.close()
    sub.close()
    assert [p["v"] for p in sub.payloads("w/#")] == list(range(2000))
    assert 1 < peak <= 25


def test_sender_honours_the_replay_rate(tmp_path, broker):
    outbox = Outbox(tmp_path / "o.sqlite")
    session = MqttSession(MqttConfig(port=broker.port), client_id="rate-test")
    sender = OutboxSender(outbox, session, window=1000, rate=200)
    for value in range(300):
        outbox.put("r/t", {"v": value})
    outbox.flush()
    sub = Subscriber(broker.port, "r/#")
    session.start()
    sender.start()
    session.connected.wait(10)
    # The bucket starts empty and refills at 200/s: after the first ticks, far fewer than
    # 300 messages can have been handed over. Counted in ticks of the limiter, not seconds.
    wait_until(lambda: sender.sent >= 1, message="first messages")
    sent_early = sender.sent
    sub.wait_for(lambda p: len(p) >= 300, "r/#", timeout=30)
    sender.stop()
    session.stop()
    outbox.close()
    sub.close()
    assert sent_early < 300


def test_a_replay_rate_below_one_per_second_still_sends(tmp_path, broker):
    """The bucket holds at most `rate` tokens: below 1 it never held a whole one, and nothing went."""
    outbox = Outbox(tmp_path / "o.sqlite")
    session = MqttSession(MqttConfig(port=broker.port), client_id="slow-rate-test")
    sender = OutboxSender(outbox, session, rate=0.9)
    for value in range(2):
        outbox.put("slow/t", {"v": value})
    sub = Subscriber(broker.port, "slow/#")
    session.start()
    sender.start()
    sub.wait_for(lambda p: len(p) >= 2, "slow/#", timeout=15, message="both messages, about 1.1 s apart")
    sender.stop()
    session.stop()
    outbox.close()
    sub.close()


@given(st.sets(st.integers(1, 400), max_size=300), st.integers(1, 10))
def test_id_runs_cover_every_id_once_and_nothing_else(ids, min_run):
    ranges, scattered = id_runs(ids, min_run)
    covered = [i for first, last in ranges for i in range(first, last + 1)] + scattered
    assert sorted(covered) == sorted(ids)  # each exactly once, nothing between that is not an id
    assert all(last - first + 1 >= min_run for first, last in ranges)
    assert scattered == sorted(scattered)


def test_acknowledged_runs_and_stragglers_are_deleted_from_disk(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite", commit_interval_ms=0)
    for value in range(100):
        outbox.put("r/t", {"v": value})
    assert outbox.flush(5)
    outbox.ack(list(range(1, 41)) + [45, 47, 60] + list(range(70, 101)))  # two runs, three stragglers
    left = [i for i in range(1, 101) if not (i <= 40 or i in (45, 47, 60) or i >= 70)]
    assert outbox.pending == len(left)
    outbox.close()  # the writer's last commit deletes what was acknowledged
    with sqlite3.connect(tmp_path / "o.sqlite") as db:
        assert [r[0] for r in db.execute("SELECT id FROM outbox ORDER BY id")] == left


def test_put_reading_numbers_and_stores_a_reading_as_put_does(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.put_reading("p/t", b'{"seq":', b',"v":1}', "probe/p1")
    outbox.put("p/t", {"seq": None, "v": 2}, seq_key="probe/p1")  # one sequence per key, either way
    outbox.put_reading("p/t", b'{"seq":', b',"v":3}', "probe/p1")
    rows = outbox.fetch(0, 10)
    assert [json.loads(r.payload) for r in rows] == [{"seq": 1, "v": 1}, {"seq": 2, "v": 2}, {"seq": 3, "v": 3}]
    assert [(r.topic, r.qos, r.retain) for r in rows] == [("p/t", 1, False)] * 3
    outbox.close()
    reopened = Outbox(tmp_path / "o.sqlite")  # the seqs continue after a restart, never repeat
    reopened.put_reading("p/t", b'{"seq":', b"}", "probe/p1")
    assert [json.loads(r.payload) for r in reopened.fetch(3, 10)] == [{"seq": 4}]
    assert reopened.pending == 4
    reopened.close()
    try:
        reopened.put_reading("p/t", b'{"seq":', b"}", "probe/p1")
    except OutboxClosed:
        pass
    else:
        raise AssertionError("a closed outbox accepted a reading")
