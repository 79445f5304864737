"""Gateway checks of a station config: what only matters to the gateway that runs it.

:mod:`benchpin.config` parses the shape of ``[gateway]``; :func:`gateway_checks` adds the
constraints of running it on one Pi. Pass it to :func:`benchpin.config.load_config` as one of
the ``checks``.
"""

from __future__ import annotations

from benchpin.config import Report, StationConfig


def gateway_checks(config: StationConfig, report: Report) -> None:
    """Report what keeps ``[gateway]`` from running on one Pi (nothing without a ``[gateway]``)."""
    gateway = config.gateway
    if gateway is None:
        return
    # One GPIO line can be claimed once: a second engraver on the same door pin would only
    # fail when its supervisor opens it, long after start-up.
    owners: dict[int, str] = {}
    for i, engraver in enumerate(gateway.engravers):
        if engraver.door_pin is None:
            continue
        if engraver.door_pin in owners:
            report(f"gateway.engravers[{i}].door_pin",
                   f"GPIO{engraver.door_pin} is already {owners[engraver.door_pin]}")
        else:
            owners[engraver.door_pin] = f"the door of engraver {engraver.id!r}"
    # A stack light's pins are outputs: none may be a door input or another light's pin.
    for i, indicator in enumerate(gateway.indicators):
        for colour in ("green", "amber", "red", "buzzer"):
            pin = getattr(indicator, colour)
            if pin is None:
                continue
            if pin in owners:
                report(f"gateway.indicators[{i}].{colour}", f"GPIO{pin} is already {owners[pin]}")
            else:
                owners[pin] = f"the {colour} pin of indicator {indicator.id!r}"
