"""A stack light and buzzer at a furnace: is the melt inside the pour window of the tree at it?

The kiosk publishes the window retained on ``<gw>/probe/<probe>/window`` when a tree is
scanned at casting; the light follows the probe's readings inside the gateway (from its
:class:`~gateway.probes.ProbeBridge`, not through the broker). Green: inside the window;
amber: below it; red: above it, or the probe faulted or sent nothing for its stall time;
all off without a window. A short beep sounds when the light turns green.

Wiring: each LED (or the stack light's relay input) between its GPIO pin and ground, active
high; the buzzer the same way.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from benchpin.config import IndicatorConfig, ProbeConfig
from benchpin.contract import ContractError, ProbeWindow
from gateway.probes import ProbeBridge
from gateway.supervisor import DeviceFailure
from gateway.wiring import Wiring

log = logging.getLogger(__name__)



class Light(enum.Enum):
    OFF = "off"
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


def light_for(window: ProbeWindow | None, value_c: float | None, faulted: bool) -> Light:
    """Decide the light for a window and the probe's latest reading.

    ``value_c`` None (no reading yet) or not finite counts as a fault: the light never shows
    green or amber for a furnace it cannot read.
    """
    if window is None:
        return Light.OFF
    if faulted or value_c is None or not math.isfinite(value_c):
        return Light.RED
    if value_c < window.min_c:
        return Light.AMBER
    if value_c > window.max_c:
        return Light.RED
    return Light.GREEN


@dataclass
class IndicatorCounters:
    """What the gateway status shows for one stack light (``devices["indicator:<id>"]``)."""

    light: str = Light.OFF.value
    tree_id: str | None = None
    min_c: float | None = None
    max_c: float | None = None
    beeps: int = 0
    windows: int = 0  # window messages received (set or cleared)
    bad_windows: int = 0  # window payloads refused (the light goes off: no usable window)


class StackLight:
    """One stack light following one probe: a supervised device whose ``poll`` watches for silence.

    ``on_reading`` runs on the probe's thread, ``on_window`` on the MQTT thread and ``poll``
    on the supervisor's; the state is guarded by one lock and the pins are set under it.
    """

    def __init__(self, config: IndicatorConfig, stall_timeout_s: float, *, pin_factory: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.name = f"indicator {config.id}"
        self.stall_timeout_s = stall_timeout_s
        self.pin_factory = pin_factory
        self.counters = IndicatorCounters()
        self._clock = clock
        self._lock = threading.Lock()
        self._window: ProbeWindow | None = None
        self._value_c: float | None = None
        self._fault = False
        self._last_reading = clock()
        self._light = Light.OFF
        self._leds: dict[Light, Any] = {}
        self._buzzer: Any = None
        self._tick = threading.Event()
        self._beep_until: float | None = None

    # ------------------------------------------------------------------ inputs

    def on_reading(self, value_c: float | None, fault: str | None) -> None:
        """A reading (``fault`` None) or a fault from the probe."""
        with self._lock:
            self._last_reading = self._clock()
            self._fault = fault is not None
            self._value_c = None if fault is not None else value_c
            self._refresh()

    def on_window(self, topic: str, payload: bytes) -> None:
        """The retained window message: a window, or the empty payload that clears it."""
        try:
            window = ProbeWindow.from_retained(payload)
        except ContractError as exc:
            log.warning("%s: window refused, light off: %s", self.name, exc)
            window = None
            self.counters.bad_windows += 1
        with self._lock:
            self.counters.windows += 1
            self._window = window
            self.counters.tree_id = window.tree_id if window else None
            self.counters.min_c = window.min_c if window else None
            self.counters.max_c = window.max_c if window else None
            self._refresh()

    @property
    def light(self) -> Light:
        return self._light

    # ------------------------------------------------------------------ device

    def open(self) -> None:
        from gpiozero import LED, Buzzer  # imported here so the gateway imports on any dev box
        from gpiozero.exc import GPIOZeroError

        config = self.config
        try:
            self._leds = {Light.GREEN: LED(config.green, pin_factory=self.pin_factory),
                          Light.AMBER: LED(config.amber, pin_factory=self.pin_factory),
                          Light.RED: LED(config.red, pin_factory=self.pin_factory)}
            if config.buzzer is not None:
                self._buzzer = Buzzer(config.buzzer, pin_factory=self.pin_factory)
        except (GPIOZeroError, OSError) as exc:
            self._release()
            raise DeviceFailure(f"cannot drive the stack light pins: {exc}") from exc
        with self._lock:
            self._light = Light.OFF  # shown afresh on the new pins (no beep for a light already green)
            self._refresh(beep=False)

    def poll(self) -> None:
        self._tick.wait(0.05)
        with self._lock:
            if self._beep_until is not None and self._clock() >= self._beep_until and self._buzzer is not None:
                self._buzzer.off()
                self._beep_until = None
            self._refresh()

    def close(self) -> None:
        with self._lock:
            self._release()

    def _release(self) -> None:
        devices = [*self._leds.values(), self._buzzer]
        self._leds, self._buzzer, self._beep_until = {}, None, None
        for device in devices:
            if device is not None:
                device.off()
                device.close()

    # ------------------------------------------------------------------ output

    def _refresh(self, *, beep: bool = True) -> None:
        """Set the pins for the current state (caller holds the lock)."""
        stale = self._clock() - self._last_reading > self.stall_timeout_s
        light = light_for(self._window, self._value_c, self._fault or stale)
        if light is self._light and self._leds:
            return
        entered = light is Light.GREEN and self._light is not Light.GREEN
        log.debug("%s: %s -> %s", self.name, self._light.value, light.value)
        self._light = light
        self.counters.light = light.value
        for colour, led in self._leds.items():
            if colour is light:
                led.on()
            else:
                led.off()
        if entered and beep and self._buzzer is not None and self.config.beep_s > 0:
            # Switched off by poll() on the supervisor's thread, not by a gpiozero blink thread.
            self._buzzer.on()
            self._beep_until = self._clock() + self.config.beep_s
            self.counters.beeps += 1


def window_topic(wiring: Wiring, probe_id: str) -> str:
    """The retained pour window of one probe of this gateway."""
    return f"{wiring.topics.prefix}/{wiring.gateway_id}/probe/{probe_id}/window"


def build_indicators(indicators: Sequence[IndicatorConfig], probes: Sequence[ProbeConfig],
                     bridges: Mapping[str, ProbeBridge], wiring: Wiring) -> list[StackLight]:
    """Put every stack light under supervision, following its probe and its probe's window."""
    stall = {p.id: p.stall_timeout_s for p in probes}
    lights = []
    for config in indicators:
        light = StackLight(config, stall[config.probe], pin_factory=wiring.pin_factory)
        bridges[config.probe].listeners.append(light.on_reading)
        wiring.subscribe(window_topic(wiring, config.probe), light.on_window)
        wiring.add_device(light, counters=light.counters)
        lights.append(light)
    return lights
