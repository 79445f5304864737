"""GRBL 1.1 replies and the character-counting streamer: examples, properties, fuzz."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.grbl import (Alarm, Error, Feedback, GrblReplyError, Message, Ok, Setting, Status,
                                  Welcome, format_status, parse_reply)
from firmware_bridge.streamer import RX_BUFFER_SIZE, Streamer


def test_parse_reply_reads_every_kind_of_line():
    assert parse_reply(b"ok") == Ok()
    assert parse_reply(b"ok\r") == Ok()
    assert parse_reply("error:20") == Error(20)
    assert "Unsupported command: unsupported or invalid g-code" in Error(20).describe()
    assert parse_reply("ALARM:1") == Alarm(1)
    assert Alarm(1).describe().startswith("ALARM:1 Hard limit")
    assert parse_reply("Grbl 1.1h ['$' for help]") == Welcome("1.1h")
    assert parse_reply("[MSG:'$H'|'$X' to unlock]") == Message("'$H'|'$X' to unlock")
    assert parse_reply("[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]") == Feedback("GC", "G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0")
    assert parse_reply("$32=1") == Setting(32, "1")


def test_parse_reply_reads_a_status_report_field_by_field():
    status = parse_reply("<Hold:0|MPos:1.000,-2.500,0.000|FS:600,300|Pn:D>")
    assert isinstance(status, Status)
    assert (status.state, status.substate) == ("Hold", 0)
    assert status.mpos == (1.0, -2.5, 0.0)
    assert (status.feed, status.spindle, status.pins) == (600.0, 300.0, "D")
    assert parse_reply("<Idle|WPos:0.000,0.000,0.000|F:0>").feed == 0.0


@pytest.mark.parametrize("line, problem", [
    ("error:x", "needs a number"), ("ALARM:", "needs a number"), ("<Walk|MPos:0,0,0>", "unknown machine state"),
    ("<Idle|MPos:a,b>", "not numbers"), ("<Idle|FS:1>", "needs 2 numbers"), ("[MSG]", "without a kind"),
    ("okay", "not a GRBL 1.1 reply"), ("ok\x00", "control characters"), ("Grbl 1.1h", "not a GRBL"),
])
def test_parse_reply_names_what_is_wrong(line, problem):
    with pytest.raises(GrblReplyError, match=problem):
        parse_reply(line)


def test_parse_reply_rejects_non_ascii_and_overlong_lines():
    with pytest.raises(GrblReplyError, match="not ASCII"):
        parse_reply(b"ok\xff")
    with pytest.raises(GrblReplyError, match="longer than"):
        parse_reply(b"[MSG:" + b"x" * 300 + b"]")


statuses = st.builds(
    Status, st.sampled_from(["Idle", "Run", "Hold", "Door", "Alarm"]), st.one_of(st.none(), st.integers(0, 3)),
    st.tuples(*[st.integers(-99999, 99999).map(lambda v: v / 1000)] * 3), st.none(),
    st.integers(0, 24000).map(float), st.integers(0, 1000).map(float), st.sampled_from(["", "D", "XYZ"]))


@given(statuses)
def test_parse_reply_round_trips_formatted_status(status):
    assert parse_reply(format_status(status)) == status


@given(st.binary(max_size=300))
def test_parse_reply_raises_only_its_own_error_on_random_bytes(data):
    try:
        parse_reply(data)
    except GrblReplyError:
        pass


def test_parse_reply_fuzz_with_mutated_real_lines():
    rng = random.Random(1_1)
    seeds = [b"ok", b"error:22", b"ALARM:3", b"<Run|MPos:1.000,2.000,0.000|FS:600,500|Pn:D>",
             b"[MSG:Caution: Unlocked]", b"Grbl 1.1h ['$' for help]", b"$32=1"]
    kinds = set()
    for _ in range(20_000):
        line = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(3)
            pos = rng.randrange(len(line) + 1)
            if op == 0 and line:
                del line[min(pos, len(line) - 1)]
            elif op == 1:
                line.insert(pos, rng.randrange(256))
            elif line:
                line[min(pos, len(line) - 1)] = rng.randrange(32, 127)
        try:
            kinds.add(type(parse_reply(bytes(line))).__name__)
        except GrblReplyError:
            kinds.add("rejected")
    assert "rejected" in kinds and "Status" in kinds  # the fuzz reached both outcomes


# ------------------------------------------------------------------ streamer

gcode_lines = st.lists(st.text(alphabet="GXYFS0123456789. -", min_size=0, max_size=70), min_size=1, max_size=60)


def run_stream(lines: list[str], replies_per_step: list[int], error_at: int | None = None,
               max_lines: int | None = None) -> tuple[Streamer, list[bytes]]:
    """Drive a streamer like a controller that answers some lines at each step."""
    streamer = Streamer(lines, max_lines=max_lines)
    wire: list[bytes] = []
    buffered: list[bytes] = []
    answered = 0
    steps = iter(replies_per_step)
    while not streamer.finished:
        sent = streamer.take()
        wire += sent
        buffered += sent
        assert streamer.in_flight == sum(map(len, buffered)) <= RX_BUFFER_SIZE
        if streamer.next_index < len(lines) and max_lines is None:
            # As full as possible: the next line would not have fitted.
            assert streamer.in_flight + len(lines[streamer.next_index]) + 1 > RX_BUFFER_SIZE
        count = max(1, next(steps, 1))
        for _ in range(min(count, len(buffered))):
            buffered.pop(0)
            answered += 1
            streamer.handle_reply(Error(20) if answered == error_at else Ok())
    return streamer, wire


@given(gcode_lines, st.lists(st.integers(0, 5)))
def test_streamer_never_overfills_and_keeps_the_buffer_full(lines, replies):
    streamer, wire = run_stream(lines, replies)
    assert wire == [line.encode() + b"\n" for line in lines]
    assert streamer.failure is None and streamer.acknowledged == len(lines)
    assert streamer.bytes_sent == sum(len(line) + 1 for line in lines)


@given(gcode_lines, st.lists(st.integers(0, 5)), st.data())
def test_streamer_stops_at_first_error_and_names_the_line(lines, replies, data):
    error_at = data.draw(st.integers(1, len(lines)))
    streamer, wire = run_stream(lines, replies, error_at=error_at)
    assert streamer.failure is not None
    assert streamer.failure.line_number == error_at
    assert streamer.failure.line == lines[error_at - 1]
    assert f"line {error_at}" in streamer.failure.describe()
    assert streamer.take() == []  # nothing more after the failure
    assert len(wire) <= len(lines)


@given(gcode_lines)
def test_streamer_send_and_wait_has_one_line_in_flight(lines):
    streamer = Streamer(lines, max_lines=1)
    while not streamer.finished:
        assert len(streamer.take()) == 1
        assert streamer.take() == []
        streamer.handle_reply(Ok())
    assert streamer.acknowledged == len(lines)


def test_streamer_alarm_stops_streaming_and_clears_in_flight():
    streamer = Streamer(["G1 X1"] * 50)
    assert streamer.take()
    streamer.handle_reply(Alarm(1))
    assert streamer.finished and streamer.in_flight == 0 and streamer.take() == []
    assert streamer.failure.describe().startswith("ALARM:1 Hard limit")


@settings(max_examples=50)
@given(st.text(min_size=81, max_size=120))
def test_streamer_rejects_lines_grbl_cannot_take(line):
    with pytest.raises(ValueError, match="line 2 cannot be streamed"):
        Streamer(["G0 X0", line])
