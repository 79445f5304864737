"""The scale bridge's decisions (what reaches the outbox) and the device's handling of replies,
with a recording outbox, a hand-driven clock and a fake serial port: no threads, no sleeps."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from benchpin.config import ScaleConfig
from benchpin.outbox import OutboxWriteError
from firmware_bridge.scales import Weight, even_parity
from gateway.scales import COMMAND_TTL_S, BenchScale, ScaleBridge


class RecordingOutbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def put(self, topic: str, payload: dict[str, Any], **options: Any) -> None:
        self.messages.append((topic, payload, options))

    def weights(self) -> list[tuple[Any, bool, Any]]:
        return [(p["grams"], p["stable"], p["fault"]) for t, p, _ in self.messages if t == "w"]

    def states(self) -> list[tuple[Any, Any]]:
        return [(p["grams"], p["fault"]) for t, p, _ in self.messages if t == "s"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox() -> RecordingOutbox:
    return RecordingOutbox()


@pytest.fixture
def bridge(outbox, clock) -> ScaleBridge:
    return ScaleBridge(outbox, "w", "s", "balance-1", poll_s=0.5, unstable_timeout_s=10.0, clock=clock)  # type: ignore[arg-type]


def stable(grams: float, step: float = 0.001) -> Weight:
    return Weight(grams, True, step)


def feed(bridge: ScaleBridge, clock: Clock, *weights: Weight, every: float = 0.5) -> None:
    for weight in weights:
        bridge.handle_weight(weight)
        clock.now += every


def test_bridge_publishes_a_stable_weight_only_when_it_changes_by_a_step(bridge, clock, outbox):
    feed(bridge, clock, stable(12.345), stable(12.345), stable(12.3455), stable(12.346), stable(12.346),
         stable(12.3455))
    assert outbox.weights() == [(12.345, True, None), (12.346, True, None)]


def test_bridge_resolution_comes_from_the_reply(bridge, clock, outbox):
    feed(bridge, clock, stable(12.3, 0.1), stable(12.35, 0.1), stable(12.4, 0.1))
    assert outbox.weights() == [(12.3, True, None), (12.4, True, None)]


def test_bridge_publishes_at_most_once_per_poll(bridge, clock, outbox):
    feed(bridge, clock, stable(1.0), stable(2.0), stable(3.0), every=0.1)
    assert outbox.weights() == [(1.0, True, None)]
    clock.now += 0.5
    feed(bridge, clock, stable(3.0))
    assert outbox.weights() == [(1.0, True, None), (3.0, True, None)]


def test_bridge_unstable_readings_publish_nothing_until_the_timeout(bridge, clock, outbox):
    feed(bridge, clock, stable(0.0), *[Weight(5.0 + i, False, 0.001) for i in range(19)])
    assert outbox.weights() == [(0.0, True, None)]
    feed(bridge, clock, Weight(24.0, False, 0.001), Weight(25.0, False, 0.001), Weight(26.0, False, 0.001))
    # unstable since the first of them; 10 s later (the 21st) is the timeout, published once
    assert outbox.weights() == [(0.0, True, None), (25.0, False, "unstable_timeout")]
    feed(bridge, clock, stable(25.5))
    assert outbox.weights()[-1] == (25.5, True, None)


@pytest.mark.parametrize("fault", ["overload", "underload"])
def test_bridge_publishes_a_range_fault_once_and_the_weight_again_after_it(bridge, clock, outbox, fault):
    feed(bridge, clock, stable(10.0), *[Weight(None, False, fault=fault)] * 5, stable(10.0), stable(10.0))
    assert outbox.weights() == [(10.0, True, None), (None, False, fault), (10.0, True, None)]
    assert outbox.states() == [(10.0, None), (10.0, fault), (10.0, None)]


def test_bridge_bad_lines_publish_once_per_streak_and_count_every_one(bridge, clock, outbox):
    feed(bridge, clock, stable(1.0))
    for _ in range(4):
        bridge.handle_bad_input("garbage")
    feed(bridge, clock, stable(1.0))
    bridge.handle_bad_input("garbage")
    assert outbox.weights() == [(1.0, True, None), (None, False, "bad_line"), (1.0, True, None),
                                (None, False, "bad_line")]
    assert bridge.counters.bad_lines == 5


def test_bridge_disconnected_once_per_failure_streak(bridge, clock, outbox):
    feed(bridge, clock, stable(1.0))
    bridge.handle_failure()
    bridge.handle_failure()
    assert outbox.weights()[-1] == (None, False, "disconnected") and outbox.weights().count((None, False, "disconnected")) == 1
    assert outbox.states()[-1] == (1.0, "disconnected")


def test_bridge_weights_are_never_dropped_and_state_is_retained(bridge, clock, outbox):
    feed(bridge, clock, stable(1.0))
    (_, _, weight_options), (_, _, state_options) = outbox.messages
    assert weight_options == {"seq_key": "scale/balance-1", "kind": "weight"}
    assert state_options == {"seq_key": "scale/balance-1/state", "retain": True, "kind": "state"}


# ----------------------------------------------------------------------------- the device


class FakePort:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.incoming = bytearray()
        self.in_waiting = 0

    def write(self, data: bytes) -> int:
        self.written.append(data)
        return len(data)

    def read(self, size: int = 1) -> bytes:
        data, self.incoming[:] = bytes(self.incoming), b""
        return data

    def close(self) -> None:
        pass


def device_for(kind: str, bridge: ScaleBridge) -> tuple[BenchScale, FakePort]:
    port = FakePort()
    opened: list[dict[str, Any]] = []

    def factory(*args: Any, **kwargs: Any) -> FakePort:
        opened.append(kwargs)
        return port

    config = ScaleConfig(id="balance-1", kind=kind, port="/dev/fake", bytesize=8, parity="N", poll_s=0.5)
    device = BenchScale(config, bridge, serial_factory=factory)
    device.open()
    assert opened[0]["bytesize"] == 8 and opened[0]["parity"] == "N"
    return device, port


def test_device_polls_and_sends_a_tare_with_the_family_command(bridge, outbox):
    device, port = device_for("and", bridge)
    device.poll()
    assert port.written == [b"Q\r\n"]
    device.on_command("t", b'{"action": "tare", "operator": "OP-0005"}')
    device.poll()
    assert port.written[-1] == b"T\r\n"
    port.incoming += b"\x06\r\n"
    device.poll()
    assert bridge.counters.commands_done == 1


def test_device_waits_for_a_command_answer_before_polling_again(bridge, outbox):
    device, port = device_for("mt-sics", bridge)
    device.poll()
    device.on_command("t", b'{"action": "tare", "operator": "OP-0005"}')
    device._next_poll = 0.0
    device.poll()
    assert port.written == [b"SI\r\n", b"T\r\n"]  # the poll due now waits for the tare's answer
    port.incoming += b"S I\r\n"  # busy taring: not the tare's answer
    device.poll()
    assert port.written[-1] == b"T\r\n" and bridge.counters.busy == 1
    port.incoming += b"T S      12.345 g\r\n"
    device.poll()
    device.poll()
    assert bridge.counters.commands_done == 1 and port.written[-1] == b"SI\r\n"


def test_device_counts_a_refused_tare_and_an_error_to_a_poll_is_a_bad_line(bridge, outbox):
    device, port = device_for("mt-sics", bridge)
    device.on_command("t", b'{"action": "zero"}')
    device.poll()
    port.incoming += b"Z I\r\nES\r\nS I\r\n"
    device.poll()
    assert bridge.counters.commands_refused == 1 and bridge.counters.bad_lines == 1 and bridge.counters.busy == 1


def test_device_drops_a_command_while_disconnected_or_stale(bridge, outbox, monkeypatch):
    device, port = device_for("ohaus", bridge)
    device.close()
    device.on_command("t", b'{"action": "tare"}')
    assert bridge.counters.commands_dropped == 1
    device.open()
    device.on_command("t", b'{"action": "tare"}')
    import gateway.scales as scales

    real = scales.time.monotonic
    monkeypatch.setattr(scales.time, "monotonic", lambda: real() + COMMAND_TTL_S + 1)
    port.incoming += b"   1.000 g\r\n"
    device.poll()
    assert bridge.counters.commands_dropped == 2 and b"T\r\n" not in port.written


def test_device_falls_back_to_seven_bits_when_bit_7_arrives(bridge, outbox):
    device, port = device_for("mt-sics", bridge)
    port.incoming += even_parity(b"S S      1.000 g\r\n")
    device.poll()
    assert device.seven_bit_fallback and bridge.counters.high_bit_bytes > 0
    assert outbox.weights() == [(1.0, True, None)]
    device._next_poll = 0.0
    device.poll()
    assert port.written[-1] == even_parity(b"SI\r\n") != b"SI\r\n"


class FullDiskOutbox(RecordingOutbox):
    """An outbox whose disk refuses writes while ``full`` is set, as the real one then does."""

    full = False

    def put(self, topic: str, payload: dict[str, Any], **options: Any) -> None:
        if self.full:
            raise OutboxWriteError("outbox o.sqlite cannot write to disk (database or disk is full); "
                                   f"message for {topic} not accepted")
        super().put(topic, payload, **options)


def test_a_weight_the_full_disk_refuses_is_counted_and_sent_once_it_writes_again(clock, caplog):
    outbox = FullDiskOutbox()
    bridge = ScaleBridge(outbox, "w", "s", "balance-1", poll_s=0.5, unstable_timeout_s=10.0,  # type: ignore[arg-type]
                         clock=clock)
    feed(bridge, clock, stable(10.0))
    outbox.full = True
    with caplog.at_level(logging.ERROR, logger="gateway.scales"):
        feed(bridge, clock, stable(12.5), stable(12.5), stable(12.5))
    assert bridge.counters.rejected == 3 and bridge.counters.published == 1
    assert len([r for r in caplog.records if "not accepted" in r.getMessage()]) == 1  # logged once per streak
    outbox.full = False
    feed(bridge, clock, stable(12.5))  # unchanged, yet never published: it goes now
    feed(bridge, clock, stable(12.5))  # and then, as ever, not again
    assert outbox.weights() == [(10.0, True, None), (12.5, True, None)]
    assert outbox.states() == [(10.0, None), (12.5, None)]
    assert bridge.counters.published == 2


def test_a_weight_accepted_whose_state_is_refused_counts_as_published_and_is_not_sent_again(clock):
    class StateRefused(RecordingOutbox):
        def put(self, topic: str, payload: dict[str, Any], **options: Any) -> None:
            if topic == "s":
                raise OutboxWriteError("outbox o.sqlite cannot write to disk (database or disk is full)")
            super().put(topic, payload, **options)

    outbox = StateRefused()
    bridge = ScaleBridge(outbox, "w", "s", "balance-1", poll_s=0.5, unstable_timeout_s=10.0,  # type: ignore[arg-type]
                         clock=clock)
    feed(bridge, clock, stable(12.5), stable(12.5))
    assert outbox.weights() == [(12.5, True, None)]  # once: the second is unchanged
    assert (bridge.counters.published, bridge.counters.rejected) == (1, 0)
