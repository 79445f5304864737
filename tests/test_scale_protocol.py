"""Bench balance protocols: MT-SICS, A&D, Ohaus replies, units, framing, 7E1, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from firmware_bridge.scales import (GRAMS_PER_UNIT, BalanceError, CommandReply, ScaleLineError, ScaleLineFramer,
                                    Weight, even_parity, protocol_for)
from firmware_bridge.scales import aandd, mtsics, ohaus

KINDS = ("mt-sics", "and", "ohaus")


# ----------------------------------------------------------------------------- MT-SICS


@pytest.mark.parametrize("line, expected", [
    (b"S S      12.345 g\r\n", Weight(12.345, True, 0.001)),
    (b"S D      12.340 g", Weight(12.34, False, 0.001)),
    (b"S S     -0.012 g", Weight(-0.012, True, 0.001)),
    (b"S S    1234.5 mg", Weight(1.2345, True, 0.0001)),
    (b"S S    0.25 kg", Weight(250.0, True, 10.0)),
    (b"S S      61.725 ct", Weight(12.345, True, 0.0002)),
    (b"S +", Weight(None, False, fault="overload")),
    (b"S -", Weight(None, False, fault="underload")),
])
def test_mtsics_parse_weights(line, expected):
    assert mtsics.parse_line(line) == expected


@pytest.mark.parametrize("line, expected", [
    (b"Z A", CommandReply("zero", True, "zero set")),
    (b"Z I", CommandReply("zero", False, "not carried out (balance busy or not stable in time)")),
    (b"T S     100.00 g", CommandReply("tare", True, "tared 100.00 g")),
    (b"T I", CommandReply("tare", False, "not carried out (balance busy or not stable in time)")),
    (b"T +", CommandReply("tare", False, "upper limit of its range exceeded")),
])
def test_mtsics_parse_command_replies(line, expected):
    assert mtsics.parse_line(line) == expected


@pytest.mark.parametrize("line, code", [(b"ES", "ES"), (b"ET", "ET"), (b"EL", "EL"), (b"S I", "S I")])
def test_mtsics_errors_are_balance_errors(line, code):
    reply = mtsics.parse_line(line)
    assert isinstance(reply, BalanceError) and reply.code == code and reply.detail


# ----------------------------------------------------------------------------- A&D


@pytest.mark.parametrize("line, expected", [
    (b"ST,+00012.345  g\r\n", Weight(12.345, True, 0.001)),
    (b"ST,+0012.345  g", Weight(12.345, True, 0.001)),
    (b"US,+0012.340  g", Weight(12.34, False, 0.001)),
    (b"ST,-0000.012  g", Weight(-0.012, True, 0.001)),
    (b"OL,+9999999.9  g", Weight(None, False, fault="overload")),
    (b"OL,-9999999.9  g", Weight(None, False, fault="underload")),
    # The GX manual's own examples ("Data Format Examples"): two decimals, and the overload in
    # exponent form with no unit.
    (b"ST,+00001.27  g\r\n", Weight(1.27, True, 0.01)),
    (b"US,-00183.69  g\r\n", Weight(-183.69, False, 0.01)),
    (b"OL,+9999999E+19\r\n", Weight(None, False, fault="overload")),
    (b"OL,-9999999E+19\r\n", Weight(None, False, fault="underload")),
    (b"\x06", CommandReply(None, True, "acknowledged")),
])
def test_aandd_parse(line, expected):
    assert aandd.parse_line(line) == expected


@pytest.mark.parametrize("kind, line, grams, step", [
    ("and", b"ST,+0000.397ozt", 12.348080, 0.0311035),
    ("and", b"ST,+00007.94dwt", 12.348080, 0.0155517),
    ("and", b"ST,+00190.5 GN", 12.344192, 0.00647989),
    ("and", b"ST,+0061.725 ct", 12.345, 0.0002),
    ("and", b"ST,+0.012345 kg", 12.345, 0.001),
    ("and", b"ST,+12345.00 mg", 12.345, 0.00001),
    ("ohaus", b"   0.4340 oz", 12.303693, 0.00283495),
    ("ohaus", b"   3.2920 mom", 12.345, 0.000375),
    ("ohaus", b"   190.5 GN ?", 12.344192, 0.00647989),
    ("mt-sics", b"S S      7.938 dwt", 12.344970, 0.00155517),
    ("mt-sics", b"S S    0.3969 ozt", 12.344970, 0.00311035),
])
def test_units_are_converted_to_grams_with_their_resolution(kind, line, grams, step):
    reply = protocol_for(kind).parse_line(line)
    assert isinstance(reply, Weight)
    assert reply.grams == pytest.approx(grams, abs=1e-6) and reply.resolution_g == pytest.approx(step, rel=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_minus_zero_reads_as_zero(kind):
    reply = protocol_for(kind).parse_line(protocol_for(kind).format_weight(-0.0, "g", 3))
    assert isinstance(reply, Weight) and reply.grams == 0.0 and str(reply.grams) == "0.0"


def test_aandd_error_codes_and_counting_mode():
    assert aandd.parse_line(b"EC,E11") == BalanceError("EC,E11", "stability error (not stable enough to tare or zero)")
    with pytest.raises(ScaleLineError, match="counting"):
        aandd.parse_line(b"QT,+00000123 PC")


# ----------------------------------------------------------------------------- Ohaus


@pytest.mark.parametrize("line, expected", [
    (b"   12.345 g\r\n", Weight(12.345, True, 0.001)),
    (b"   12.345 g  ", Weight(12.345, True, 0.001)),
    (b"   12.340 g ?", Weight(12.34, False, 0.001)),
    (b"   12.340 g ? N", Weight(12.34, False, 0.001)),
    (b"   12.345 g   N", Weight(12.345, True, 0.001)),
    (b"   -0.012 g", Weight(-0.012, True, 0.001)),
    (b"OK!", CommandReply(None, True, "OK!")),
])
def test_ohaus_parse(line, expected):
    assert ohaus.parse_line(line) == expected


def test_ohaus_es_is_a_refusal():
    assert isinstance(ohaus.parse_line(b"ES"), BalanceError)


# ----------------------------------------------------------------------------- all families


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("line, problem", [
    (b"", "empty line"),
    (b"   \t", "empty|control"),
    (b"S S 12.3\xff g", "non-ASCII byte 0xff"),
    (b"x" * 60, "line too long"),
    (b"hello", "not an?"),
])
def test_garbage_is_a_clear_error(kind, line, problem):
    with pytest.raises(ScaleLineError, match=problem):
        protocol_for(kind).parse_line(line)


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_unit_is_named(kind):
    line = protocol_for(kind).format_weight(12.3, "xy", 1)
    with pytest.raises(ScaleLineError, match="not a weight unit: 'xy'"):
        protocol_for(kind).parse_line(line)


values = st.integers(min_value=-99_999, max_value=999_999)
decimals_st = st.integers(min_value=0, max_value=3)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), raw=values, decimals=decimals_st, stable=st.booleans())
def test_format_then_parse_converts_every_unit(kind, data, raw, decimals, stable):
    protocol = protocol_for(kind)
    unit = data.draw(st.sampled_from(protocol.units))
    value = raw / 10 ** decimals
    reply = protocol.parse_line(protocol.format_weight(value, unit, decimals, stable=stable))
    assert isinstance(reply, Weight) and reply.stable == stable and reply.fault is None
    factor = GRAMS_PER_UNIT[unit]
    assert reply.grams == pytest.approx(value * factor, abs=1e-6 * max(1.0, factor))
    assert reply.resolution_g == pytest.approx(factor / 10 ** decimals, rel=1e-5)


def stream_of(kind: str, items: list[tuple[float, bool]]) -> bytes:
    protocol = protocol_for(kind)
    return b"".join(protocol.format_weight(v, "g", 3, stable=s) for v, s in items)


items_st = st.lists(st.tuples(st.integers(-9999, 99999).map(lambda n: n / 1000), st.booleans()), max_size=15)


@pytest.mark.parametrize("kind", KINDS)
@given(items=items_st, data=st.data(), seven_e_one=st.booleans(), line_end=st.sampled_from([b"\r\n", b"\r", b"\n"]))
def test_framer_gives_the_same_replies_however_split_merged_or_parity_framed(kind, items, data, seven_e_one, line_end):
    protocol = protocol_for(kind)
    stream = stream_of(kind, items).replace(b"\r\n", line_end)
    if seven_e_one:
        stream = even_parity(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    framer = ScaleLineFramer(split_after=protocol.split_after)
    lines: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)]):
        lines += framer.feed(stream[start:end])
    replies = [protocol.parse_line(line) for line in lines]
    assert [(r.grams, r.stable) for r in replies if isinstance(r, Weight)] == [
        (pytest.approx(v), s) for v, s in items]
    assert (framer.high_bit_bytes > 0) == (seven_e_one and any(b & 0x80 for b in stream))


def test_seven_e_one_bytes_read_right_and_are_counted():
    line = b"S S      12.345 g\r\n"
    on_the_wire = even_parity(line)
    assert on_the_wire != line and any(b & 0x80 for b in on_the_wire)  # '1' (0x31) carries a parity bit
    framer = ScaleLineFramer()
    assert [mtsics.parse_line(x) for x in framer.feed(on_the_wire)] == [Weight(12.345, True, 0.001)]
    assert framer.high_bit_bytes == sum(1 for b in on_the_wire if b & 0x80)


def test_aandd_ack_without_terminator_is_a_line_of_its_own():
    framer = ScaleLineFramer(split_after=aandd.AK)
    lines = framer.feed(b"\x06ST,+0012.345  g\r\n")
    assert [aandd.parse_line(x) for x in lines] == [CommandReply(None, True, "acknowledged"),
                                                     Weight(12.345, True, 0.001)]


@pytest.mark.parametrize("kind", KINDS)
def test_unstable_then_stable_sequence(kind):
    protocol = protocol_for(kind)
    stream = stream_of(kind, [(0.0, True), (8.1, False), (12.2, False), (12.345, False), (12.345, True)])
    framer = ScaleLineFramer(split_after=protocol.split_after)
    replies = [protocol.parse_line(line) for line in framer.feed(stream)]
    assert [r.stable for r in replies if isinstance(r, Weight)] == [True, False, False, False, True]
    assert replies[-1] == Weight(12.345, True, 0.001)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.binary(max_size=120))
def test_fuzz_parse_line_raises_only_its_own_error(kind, data):
    try:
        reply = protocol_for(kind).parse_line(data)
    except ScaleLineError:
        return
    assert isinstance(reply, (Weight, CommandReply, BalanceError))


@given(data=st.binary(max_size=2000))
def test_fuzz_framer_lines_are_bounded_seven_bit_and_unterminated(data):
    framer = ScaleLineFramer(max_line=32, split_after=aandd.AK)
    for line in framer.feed(data):
        assert 0 < len(line) <= 33 and b"\n" not in line and b"\r" not in line and max(line) < 0x80


def test_protocol_for_unknown_family():
    with pytest.raises(ValueError, match="unknown balance family"):
        protocol_for("sartorius")
