"""A MAX31855 on gpiozero's mock SPI bus, read by the gateway and published to a real broker."""

from __future__ import annotations

from gpiozero.pins.mock import MockSPIDevice

from firmware_bridge.max31855 import encode_frame
from gateway.service import Gateway
from tests.helpers import Subscriber
from tests.stations import station_config

TOPIC = "benchpin/jaipur/casting-1/probe/crucible/temperature"


class MockMAX31855(MockSPIDevice):
    """The slave side of a MAX31855 on the Pi's SPI0/CE0 pins: clocks out queued frames."""

    def __init__(self, frames: list[int]) -> None:
        super().__init__(clock_pin=11, miso_pin=9, select_pin=8)
        self.frames = list(frames)
        self.reads = 0

    def on_start(self) -> None:
        super().on_start()
        frame = self.frames.pop(0) if len(self.frames) > 1 else self.frames[0]
        self.reads += 1
        self.tx_word(frame, 32)


def test_gateway_publishes_max31855_readings_from_mock_spi(tmp_path, broker, mock_factory):
    chip = MockMAX31855([
        encode_frame(1052.25, 31.5),
        encode_frame(0, 31.5, fault="open"),
        0xFFFFFFFF,  # chip missing: a bad frame, counted and published as a fault once
        encode_frame(-12.75, 20.0),
    ])
    config = station_config(tmp_path, broker.port,
                            gateway={"probes": [{"id": "crucible", "kind": "max31855", "interval_s": 0.05}]})
    sub = Subscriber(broker.port, TOPIC)
    with Gateway(config, pin_factory=mock_factory) as gateway:
        readings = sub.wait_for(lambda p: len(p) >= 5 and p, TOPIC)
        counters = gateway.counters["probe crucible"]
    sub.close()
    assert [(r["seq"], r["value_c"], r["fault"]) for r in readings[:5]] == [
        (1, 1052.25, None), (2, None, "open"), (3, None, "bad_frame"), (4, -12.75, None), (5, -12.75, None)]
    assert counters.bad_lines == 1
