"""The laser enclosure's door switch on a GPIO input (gpiozero).

Wiring: the switch between ``pin`` and ground, closed when the door is shut. The input is
pulled up, so a cut wire reads as an open door: the laser must not fire.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from gateway.supervisor import DeviceFailure

log = logging.getLogger(__name__)


class LaserDoor:
    """The door of one laser's enclosure; calls ``when_opened``/``when_closed`` on gpiozero's thread."""

    def __init__(self, pin: int, *, pin_factory: Any = None, when_opened: Callable[[], None] = lambda: None,
                 when_closed: Callable[[], None] = lambda: None) -> None:
        from gpiozero import DigitalInputDevice  # imported here so the gateway imports on any dev box
        from gpiozero.exc import GPIOZeroError

        self.pin = pin
        try:
            self._input: Any = DigitalInputDevice(pin, pull_up=True, pin_factory=pin_factory)
        except (GPIOZeroError, OSError) as exc:
            raise DeviceFailure(f"cannot read the laser door on GPIO{pin}: {exc}") from exc
        self._input.when_deactivated = when_opened
        self._input.when_activated = when_closed

    @property
    def is_open(self) -> bool:
        """Return whether the door is open (or its wire cut); a released door reads open."""
        device = self._input
        return device is None or not device.is_active

    def close(self) -> None:
        """Release the GPIO input; idempotent."""
        device, self._input = self._input, None
        if device is not None:
            device.close()

    def __repr__(self) -> str:
        if self._input is None:
            return f"<LaserDoor GPIO{self.pin} released>"
        return f"<LaserDoor GPIO{self.pin} {'open' if self.is_open else 'shut'}>"
