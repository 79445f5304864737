"""The MAX31855 thermocouple amplifier as a gpiozero SPI device.

Wiring: SCK to SCLK (GPIO11), SO to MISO (GPIO9), CS to CE0 (GPIO8) or CE1 (GPIO7) as
``device`` 0 or 1; the chip has no MOSI. gpiozero picks hardware SPI or bit-banging from the
pin factory (a ``MockFactory`` in tests).
"""

from __future__ import annotations

from typing import Any

from gpiozero import SPIDevice

from firmware_bridge.max31855 import Max31855Reading, decode_frame


class MAX31855(SPIDevice):  # type: ignore[misc]  # gpiozero is untyped
    """One MAX31855 chip; :attr:`frame` reads its 32-bit conversion, :attr:`value` decodes it."""

    def __init__(self, *, port: int = 0, device: int = 0, pin_factory: Any = None) -> None:
        super().__init__(port=port, device=device, pin_factory=pin_factory)

    @property
    def frame(self) -> bytes:
        """Clock out one 32-bit conversion, most significant byte first."""
        return bytes(self._spi.read(4))

    @property
    def value(self) -> Max31855Reading:
        """Read and decode one conversion; raise ``Max31855Error`` for a frame no chip sends."""
        return decode_frame(self.frame)
