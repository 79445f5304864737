"""MAX31855 cold-junction-compensated thermocouple-to-digital converter: 32-bit SPI frames.

Per the datasheet (read-only, MSB first):

====== =======================================================================
bits   meaning
====== =======================================================================
31..18 thermocouple temperature, 14-bit two's complement, 0.25 °C per count
17     reserved (always 0)
16     fault: set when any of SCV, SCG or OC is set
15..4  internal (cold-junction) temperature, 12-bit two's complement, 0.0625 °C
3      reserved (always 0)
2      SCV: thermocouple shorted to VCC
1      SCG: thermocouple shorted to GND
0      OC: thermocouple open (no connection)
====== =======================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

FRAME_BYTES = 4
RANGE_C = (-270.0, 1800.0)  # the converter's specified range; outside it a frame is noise


class Max31855Error(ValueError):
    """A frame that cannot have come from a working MAX31855."""


@dataclass(frozen=True)
class Max31855Reading:
    """One conversion: thermocouple and internal temperatures, and the fault if any."""

    thermocouple_c: float | None
    internal_c: float
    fault: str | None = None


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def decode_frame(frame: int | bytes | bytearray | list[int]) -> Max31855Reading:
    """Decode one 32-bit frame (an int, or 4 bytes MSB first)."""
    if not isinstance(frame, int):
        data = bytes(frame)
        if len(data) != FRAME_BYTES:
            raise Max31855Error(f"a frame is {FRAME_BYTES} bytes, got {len(data)}")
        frame = int.from_bytes(data, "big")
    if not 0 <= frame <= 0xFFFFFFFF:
        raise Max31855Error(f"a frame is 32 bits, got {frame:#x}")
    if frame == 0xFFFFFFFF:
        raise Max31855Error("all bits high: no MAX31855 answering (MISO floating or chip missing)")
    if frame & (1 << 17) or frame & (1 << 3):
        raise Max31855Error(f"reserved bit set in frame {frame:#010x}: wiring or clock problem")
    thermocouple = _signed(frame >> 18, 14) * 0.25
    internal = _signed((frame >> 4) & 0xFFF, 12) * 0.0625
    fault_bit = bool(frame & (1 << 16))
    if frame & 1:
        fault = "open"
    elif frame & 2:
        fault = "short_gnd"
    elif frame & 4:
        fault = "short_vcc"
    else:
        fault = None
    if fault_bit != (fault is not None):
        raise Max31855Error(f"fault bit and fault flags disagree in frame {frame:#010x}")
    if fault is None and not RANGE_C[0] <= thermocouple <= RANGE_C[1]:
        raise Max31855Error(f"thermocouple reading {thermocouple} °C outside the chip's range "
                            f"{RANGE_C[0]:g}..{RANGE_C[1]:g} °C: noise on the SPI lines")
    return Max31855Reading(None if fault else thermocouple, internal, fault)


def encode_frame(thermocouple_c: float, internal_c: float, *, fault: str | None = None) -> int:
    """Build the frame a MAX31855 sends for these values (for simulators and tests)."""
    tc = round(thermocouple_c / 0.25)
    it = round(internal_c / 0.0625)
    if not -(1 << 13) <= tc < (1 << 13):
        raise ValueError(f"thermocouple temperature {thermocouple_c} out of the 14-bit range")
    if not -(1 << 11) <= it < (1 << 11):
        raise ValueError(f"internal temperature {internal_c} out of the 12-bit range")
    flags = {None: 0, "open": 1, "short_gnd": 2, "short_vcc": 4}[fault]
    frame = ((tc & 0x3FFF) << 18) | ((it & 0xFFF) << 4) | flags
    if flags:
        frame |= 1 << 16
    return frame
