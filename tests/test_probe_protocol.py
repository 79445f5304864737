"""The probe board line protocol: parsing, checksums, faults, framing, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from firmware_bridge.probe import (MAX_LINE, LineFramer, ProbeLineError, ProbeReading, checksum,
                                   format_line, parse_line, quick_value)

temperatures = st.integers(min_value=-27_000, max_value=180_000).map(lambda n: n / 100)
faults = st.sampled_from(["open", "short_gnd", "short_vcc"])
readings = st.one_of(
    st.builds(ProbeReading, st.integers(0, 99), temperatures, st.none()),
    st.builds(lambda ch, f: ProbeReading(ch, None, f), st.integers(0, 99), faults),
)


def test_parse_line_reads_value_with_and_without_checksum():
    assert parse_line(b"T1=1052.25\n") == ProbeReading(1, 1052.25)
    assert parse_line(b"T1=1052.25*77\r\n") == ProbeReading(1, 1052.25)
    assert parse_line(b"T12=-3") == ProbeReading(12, -3.0)


def test_checksum_is_xor_of_the_characters_before_star():
    body = b"T1=1052.25"
    expected = 0
    for ch in body.decode():
        expected ^= ord(ch)
    assert checksum(body) == expected == 0x77


@pytest.mark.parametrize("code, fault", [("OC", "open"), ("SCG", "short_gnd"), ("SCV", "short_vcc")])
def test_parse_line_reads_thermocouple_faults(code, fault):
    line = f"T2=FAULT:{code}".encode()
    assert parse_line(line) == ProbeReading(2, None, fault)
    assert parse_line(line + b"*%02X" % checksum(line)) == ProbeReading(2, None, fault)


@pytest.mark.parametrize("line, problem", [
    (b"T1=1052.25*00", "checksum mismatch"),
    (b"T1=FAULT:XX", "unknown fault code"),
    (b"T1=hot", "not a temperature"),
    (b"T1=nan", "not a temperature"),
    (b"X1=10", "not a reading"),
    (b"", "empty line"),
    (b"T1=10\xff", "non-ASCII byte 0xff"),
    (b"T1=" + b"1" * MAX_LINE, "line too long"),
])
def test_parse_line_rejects_bad_lines_with_a_clear_reason(line, problem):
    with pytest.raises(ProbeLineError, match=problem):
        parse_line(line)


@given(readings, st.booleans(), st.booleans())
def test_format_then_parse_round_trips(reading, with_checksum, crlf):
    assert parse_line(format_line(reading, with_checksum=with_checksum, crlf=crlf)) == reading


@given(readings, st.integers(0, 0xFF))
def test_any_corrupted_checksum_is_rejected(reading, wrong):
    line = format_line(reading, with_checksum=True).rstrip(b"\n")
    body, good = line[:-2], int(line[-2:], 16)
    if wrong == good:
        wrong ^= 1
    with pytest.raises(ProbeLineError, match="checksum"):
        parse_line(body + b"%02X" % wrong)


@given(st.binary(max_size=200))
def test_fuzz_parse_line_raises_only_its_own_error(data):
    try:
        result = parse_line(data)
    except ProbeLineError:
        return
    assert isinstance(result, ProbeReading)


@given(readings, st.booleans(), st.booleans())
def test_the_quick_path_takes_every_temperature_the_board_sends_and_no_fault(reading, with_checksum, crlf):
    line = format_line(reading, with_checksum=with_checksum, crlf=crlf)
    if reading.fault is None:
        assert quick_value(line) == (reading.channel, reading.value_c)
    else:
        assert quick_value(line) is None  # faults go the long way, to parse_line


@given(st.one_of(st.binary(max_size=40),
                 st.builds(lambda r, junk, at: (lambda b: b[:at] + junk + b[at:])(format_line(r)),
                           readings, st.binary(min_size=1, max_size=3), st.integers(0, 20))))
def test_the_quick_path_agrees_with_parse_line_on_whatever_it_accepts(data):
    quick = quick_value(data)
    if quick is None:
        return  # declined: the caller asks parse_line, which reads it or names what is wrong
    assert parse_line(data) == ProbeReading(quick[0], quick[1])


def test_the_quick_path_declines_a_wrong_checksum():
    assert quick_value(b"T1=1052.25*77\n") == (1, 1052.25)
    assert quick_value(b"T1=1052.25*78\n") is None
    assert quick_value(b"T1=1052.25*7\n") is None


@given(st.lists(readings, max_size=20), st.data())
def test_framer_yields_the_same_lines_however_the_stream_is_split(items, data):
    stream = b"".join(format_line(r, crlf=i % 2 == 0) for i, r in enumerate(items))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    framer = LineFramer()
    lines: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)]):
        lines += framer.feed(stream[start:end])
    assert [parse_line(line) for line in lines] == items


def test_framer_cuts_an_overlong_line_and_recovers_at_the_next_newline():
    framer = LineFramer(max_line=16)
    out = framer.feed(b"x" * 40) + framer.feed(b"y" * 40) + framer.feed(b"zz\nT1=5\n")
    assert len(out) == 2
    assert len(out[0]) == 17
    assert out[1] == b"T1=5"


@given(st.binary(max_size=2000))
def test_fuzz_framer_never_returns_a_line_longer_than_its_bound(data):
    framer = LineFramer(max_line=32)
    assert all(len(line) <= 33 and b"\n" not in line for line in framer.feed(data))
