"""A simulated furnace probe board on a pty: one ``T<channel>=<celsius>*HH`` line per reading."""

from __future__ import annotations

import math
import threading
import time
from typing import Callable

from firmware_bridge.probe import ProbeReading, format_line
from firmware_bridge.sim.pty import PtyLink


def pour_curve(period_s: float = 120.0, *, idle_c: float = 650.0, melt_c: float = 1060.0) -> Callable[[float], float]:
    """A casting furnace's temperature over time: heat to the melt, hold, pour, cool, repeat.

    The defaults suit 925 silver (melts near 893 °C, poured around 1000–1060 °C).
    """

    def curve(t: float) -> float:
        phase = (t % period_s) / period_s
        if phase < 0.4:  # heating
            value = idle_c + (melt_c - idle_c) * math.sin(phase / 0.4 * math.pi / 2)
        elif phase < 0.6:  # holding at melt, small controller ripple
            value = melt_c + 3.0 * math.sin(t * 1.7)
        elif phase < 0.65:  # the pour: the flask takes heat, the reading drops fast
            value = melt_c - (melt_c - idle_c) * 0.35 * (phase - 0.6) / 0.05
        else:  # cooling back to idle
            start = melt_c - (melt_c - idle_c) * 0.35
            value = idle_c + (start - idle_c) * math.exp(-(phase - 0.65) * 12)
        return round(value, 2)

    return curve


class ProbeBoardSim:
    """A probe board that streams readings on a pty at ``rate_hz`` from ``curve(t)``."""

    def __init__(self, link: str, *, channel: int = 1, rate_hz: float = 1.0,
                 curve: Callable[[float], float] | None = None, with_checksum: bool = True) -> None:
        self.pty = PtyLink(link)
        self.channel = channel
        self.rate_hz = rate_hz
        self.curve = curve or pour_curve()
        self.with_checksum = with_checksum
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def line(self, value_c: float | None = None, fault: str | None = None) -> bytes:
        return format_line(ProbeReading(self.channel, value_c, fault), with_checksum=self.with_checksum)

    def send_reading(self, value_c: float | None = None, fault: str | None = None) -> None:
        self.pty.write(self.line(value_c, fault))
        self.sent += 1

    def start(self) -> None:
        """Stream readings in the background until ``stop``; survives unplug/replug."""
        self._thread = threading.Thread(target=self._run, name="probe-sim", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            if self.pty.plugged:
                try:
                    self.send_reading(self.curve(time.monotonic() - t0))
                except OSError:
                    pass
            self._stop.wait(1.0 / self.rate_hz)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)

    def close(self) -> None:
        self.stop()
        self.pty.close()
