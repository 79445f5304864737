"""The pre-fire checks of a program against GRBL's settings and work offset, without a machine."""

from __future__ import annotations

from firmware_bridge.gcode import LaserSettings, Layout, ProgramExtent, program_extent, render_text
from firmware_bridge.grbl_fit import fit_problems, needs_work_offset

HOMED = {20: "1", 22: "1", 30: "1000", 130: "300.000", 131: "200.000"}


def extent(origin: tuple[float, float] = (0.0, 0.0), power: int = 800) -> ProgramExtent:
    lines = render_text("PC-0042", Layout(1.5, 40.0, *origin), LaserSettings(power, 600.0)).lines
    return program_extent(lines)


def test_extent_is_the_box_of_every_target_and_the_highest_power() -> None:
    box = extent((-150.0, -100.0), power=450)
    assert (box.x0, box.y0, box.x1, box.y1, box.max_power) == (-150.0, -100.0, -141.0, -98.5, 450)


def test_power_above_dollar_30_is_refused_with_both_figures() -> None:
    assert fit_problems({**HOMED, 30: "255"}, extent((-150.0, -100.0)), (0.0, 0.0, 0.0)) == [
        "power S800 exceeds $30=255: GRBL would clamp it; lower the material's power or raise $30"]


def test_the_work_offset_places_the_box_in_machine_space() -> None:
    assert fit_problems(HOMED, extent(), (-150.0, -100.0, 0.0)) == []  # G54 at the fixture, origin 0,0
    [problem] = fit_problems(HOMED, extent(), (0.0, 0.0, 0.0))
    assert problem.startswith("the job's box X0..9 Y0..1.5 (work mm) is X0..9 Y0..1.5 in machine mm with WCO 0,0: "
                              "outside the soft limits X-300..0 Y-200..0 ($20=1, $130=300, $131=200)")
    [problem] = fit_problems(HOMED, extent((-5.0, -100.0)), (-300.0, 0.0, 0.0))  # past the far end
    assert "is X-305..-296 Y-100..-98.5 in machine mm with WCO -300,0" in problem


def test_homing_without_soft_limits_still_checks_the_travel_and_no_wco_is_a_reason() -> None:
    travel = {**HOMED, 20: "0"}
    assert needs_work_offset(travel) and "outside the travel" in fit_problems(travel, extent(), (0.0, 0.0))[0]
    assert fit_problems(travel, extent(), None) == [
        "no work offset (WCO) in the laser's status reports: cannot place the job's box"]


def test_an_unhomed_machine_only_checks_the_size() -> None:
    loose = {20: "0", 22: "0", 30: "1000", 130: "5", 131: "200"}
    assert not needs_work_offset(loose)
    assert fit_problems(loose, extent((1000.0, 1000.0)), None) == [
        "the job's box X1000..1009 Y1000..1001.5 is larger than the travel $130=5 x $131=200 mm"]
    assert fit_problems({**loose, 130: "300"}, extent((1000.0, 1000.0)), None) == []
    assert "did not report $30" in fit_problems({130: "1", 131: "1"}, extent(), None)[0]
