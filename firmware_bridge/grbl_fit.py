"""Does a laser program fit the machine? Pure checks of a program against GRBL's ``$$`` settings.

GRBL 1.1 clamps an ``S`` above ``$30`` (the power at full PWM) silently, so a material's power
above it would engrave weaker than asked: refused. Machine space is ``-$130..0`` in X and
``-$131..0`` in Y (GRBL's ``system_check_travel_limits``, homing towards +X/+Y), and a job's
machine position is its work position plus ``WCO``. On a machine with soft limits (``$20=1``)
or homing (``$22=1``) the program's box must lie in machine space; without either the
machine does not know where it is, so only the box's size is checked against the travel.
"""

from __future__ import annotations

from collections.abc import Mapping

from firmware_bridge.gcode import ProgramExtent


def _setting(settings: Mapping[int, str], number: int) -> float | None:
    try:
        return float(settings[number])
    except (KeyError, ValueError):
        return None


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def needs_work_offset(settings: Mapping[int, str]) -> bool:
    """Return whether the box check needs the work offset (soft limits or homing on)."""
    return bool(_setting(settings, 20)) or bool(int(_setting(settings, 22) or 0) & 1)


def fit_problems(settings: Mapping[int, str], extent: ProgramExtent,
                 wco: tuple[float, ...] | None) -> list[str]:
    """Return why the program cannot run on this machine (empty when it fits), with the figures."""
    problems = []
    max_power = _setting(settings, 30)
    if max_power is None:
        problems.append("the laser did not report $30 (maximum power): cannot check the job's power")
    elif extent.max_power > max_power:
        problems.append(f"power S{_num(extent.max_power)} exceeds $30={_num(max_power)}: GRBL would clamp "
                        f"it; lower the material's power or raise $30")
    travel_x, travel_y = _setting(settings, 130), _setting(settings, 131)
    if travel_x is None or travel_y is None:
        problems.append("the laser did not report $130/$131 (travel): cannot check the job's box")
        return problems
    box = (f"X{_num(extent.x0)}..{_num(extent.x1)} Y{_num(extent.y0)}..{_num(extent.y1)}")
    if needs_work_offset(settings):
        if wco is None:
            problems.append("no work offset (WCO) in the laser's status reports: cannot place the job's box")
            return problems
        wx, wy = wco[0], wco[1] if len(wco) > 1 else 0.0
        mx0, mx1, my0, my1 = extent.x0 + wx, extent.x1 + wx, extent.y0 + wy, extent.y1 + wy
        if mx0 < -travel_x or mx1 > 0 or my0 < -travel_y or my1 > 0:
            limits = "soft limits" if _setting(settings, 20) else "travel"
            problems.append(
                f"the job's box {box} (work mm) is X{_num(mx0)}..{_num(mx1)} Y{_num(my0)}..{_num(my1)} in "
                f"machine mm with WCO {_num(wx)},{_num(wy)}: outside the {limits} X{_num(-travel_x)}..0 "
                f"Y{_num(-travel_y)}..0 ($20={settings.get(20, '?')}, $130={_num(travel_x)}, "
                f"$131={_num(travel_y)}); set origin_x_mm/origin_y_mm inside the bed")
    elif extent.x1 - extent.x0 > travel_x or extent.y1 - extent.y0 > travel_y:
        problems.append(f"the job's box {box} is larger than the travel $130={_num(travel_x)} x "
                        f"$131={_num(travel_y)} mm")
    return problems
