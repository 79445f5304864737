"""MAX31855 frames: the datasheet's example values, faults, fuzz, and a mock-SPI chip."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from firmware_bridge.max31855 import Max31855Error, Max31855Reading, decode_frame, encode_frame

# Datasheet Table 2 (thermocouple, 14-bit) and Table 4 (internal, 12-bit) examples.
THERMOCOUPLE_EXAMPLES = [
    (1600.00, 0b01_1001_0000_0000), (1000.00, 0b00_1111_1010_0000), (100.75, 0b00_0001_1001_0011),
    (25.00, 0b00_0000_0110_0100), (0.00, 0), (-0.25, 0b11_1111_1111_1111),
    (-1.00, 0b11_1111_1111_1100), (-250.00, 0b11_1100_0001_1000),
]
INTERNAL_EXAMPLES = [
    (127.0000, 0b0111_1111_0000), (100.5625, 0b0110_0100_1001), (25.0000, 0b0001_1001_0000),
    (0.0000, 0), (-0.0625, 0b1111_1111_1111), (-1.0000, 0b1111_1111_0000),
    (-20.0000, 0b1110_1100_0000), (-55.0000, 0b1100_1001_0000),
]


@pytest.mark.parametrize("celsius, bits", THERMOCOUPLE_EXAMPLES)
def test_decode_frame_datasheet_thermocouple_values(celsius, bits):
    assert decode_frame(bits << 18) == Max31855Reading(celsius, 0.0, None)


@pytest.mark.parametrize("celsius, bits", INTERNAL_EXAMPLES)
def test_decode_frame_datasheet_internal_values(celsius, bits):
    assert decode_frame(bits << 4).internal_c == celsius


@pytest.mark.parametrize("flag, fault", [(1, "open"), (2, "short_gnd"), (4, "short_vcc")])
def test_decode_frame_reports_each_fault_bit_with_no_value(flag, fault):
    frame = (100 << 18) | (25 * 16 << 4) | (1 << 16) | flag
    assert decode_frame(frame) == Max31855Reading(None, 25.0, fault)


def test_decode_frame_accepts_four_bytes_msb_first():
    assert decode_frame(bytes([0x06, 0x4C, 0x19, 0x00])).thermocouple_c == 100.75


@pytest.mark.parametrize("frame, problem", [
    (0xFFFFFFFF, "no MAX31855"),
    (1 << 17, "reserved bit"),
    (1 << 3, "reserved bit"),
    (1 << 16, "disagree"),
    (1, "disagree"),
    (b"\x00\x00", "4 bytes"),
    ((-3504 & 0x3FFF) << 18, "outside the chip's range"),
    ((7300 & 0x3FFF) << 18, "outside the chip's range"),
])
def test_decode_frame_rejects_impossible_frames(frame, problem):
    with pytest.raises(Max31855Error, match=problem):
        decode_frame(frame)


@given(st.integers(-1080, 7200), st.integers(-(1 << 11), (1 << 11) - 1),
       st.sampled_from([None, "open", "short_gnd", "short_vcc"]))
def test_encode_then_decode_round_trips(tc_counts, it_counts, fault):
    tc, it = tc_counts * 0.25, it_counts * 0.0625
    reading = decode_frame(encode_frame(tc, it, fault=fault))
    assert reading == Max31855Reading(None if fault else tc, it, fault)


@given(st.integers(0, 0xFFFFFFFF))
def test_fuzz_decode_frame_raises_only_its_own_error(frame):
    try:
        reading = decode_frame(frame)
    except Max31855Error:
        return
    assert reading.fault is not None or -270 <= reading.thermocouple_c <= 1800
