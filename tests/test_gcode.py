"""Text → laser G-code: layout, laser words, and the burned path drawn and checked as an image."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.font_data import GLYPHS
from firmware_bridge.gcode import (EngravingProgram, LaserSettings, Layout, TextLayoutError, check_text,
                                   render_text)
from firmware_bridge.gcode_trace import GcodeError, GcodeTracer, Move, trace
from tests.png import Canvas

LASER = LaserSettings(power=650, feed_mm_min=900)
EPS = 1e-3


def burns(program: EngravingProgram) -> list[Move]:
    return [m for m in trace(program.lines) if m.burning]


def box_of(move: Move, program: EngravingProgram) -> int:
    """Index of the one glyph box holding the whole move (fails if none does)."""
    inside = [i for i, b in enumerate(program.boxes)
              if all(b.x0 - EPS <= x <= b.x1 + EPS and b.y0 - EPS <= y <= b.y1 + EPS
                     for x, y in ((move.x0, move.y0), (move.x1, move.y1)))]
    assert inside, f"stroke {move} leaves every glyph box"
    return inside[0]


def test_render_text_draws_every_glyph_inside_its_box(artifacts_dir):
    text = "ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789-./#"
    program = render_text(text, Layout(cap_height_mm=2.0, max_width_mm=200, origin_x_mm=1, origin_y_mm=1), LASER)
    px = 40  # pixels per mm
    right = max(b.x1 for b in program.boxes)
    canvas = Canvas(int((right + 2) * px), int(4 * px))
    to_px = lambda x, y: (x * px, canvas.height - 1 - y * px)  # noqa: E731 (image y runs down)
    for move in burns(program):
        canvas.line(*to_px(move.x0, move.y0), *to_px(move.x1, move.y1))
    canvas.save(artifacts_dir / "engraving_font.png")

    ink = canvas.ink()
    assert ink
    pixel_boxes = [(b, *to_px(b.x0, b.y1), *to_px(b.x1, b.y0)) for b in program.boxes]
    outside = [p for p in ink if not any(x0 - 1 <= p[0] <= x1 + 1 and y0 - 1 <= p[1] <= y1 + 1
                                         for _, x0, y0, x1, y1 in pixel_boxes)]
    assert outside == []  # no stroke leaves its glyph's box
    for box, x0, y0, x1, y1 in pixel_boxes:
        mine = [p for p in ink if x0 - 1 <= p[0] <= x1 + 1 and y0 - 1 <= p[1] <= y1 + 1]
        assert bool(mine) == (box.char != " "), box.char
    # Glyphs that fill their box show the box is the cap height and the glyph's width.
    for box, x0, y0, x1, y1 in pixel_boxes:
        if box.char in "HMNXEZ":
            mine = [p for p in ink if x0 - 1 <= p[0] <= x1 + 1 and y0 - 1 <= p[1] <= y1 + 1]
            assert min(p[0] for p in mine) == pytest.approx(x0, abs=1.5)
            assert max(p[0] for p in mine) == pytest.approx(x1, abs=1.5)
            assert min(p[1] for p in mine) == pytest.approx(y0, abs=1.5)
            assert max(p[1] for p in mine) == pytest.approx(y1, abs=1.5)
            assert (y1 - y0) == pytest.approx(2.0 * px, abs=1.5)


def test_render_text_writes_laser_mode_program_with_material_power_and_feed():
    program = render_text("PC-0042", Layout(cap_height_mm=1.5, max_width_mm=30), LASER)
    lines = program.lines
    assert lines[:3] == ("G21", "G90", "M5")
    assert lines.count("M4 S650") == 1 and "M3" not in " ".join(lines)
    first_burn = next(i for i, line in enumerate(lines) if line.startswith("G1"))
    assert lines.index("M4 S650") < first_burn and lines[first_burn].endswith(" F900")
    assert lines[-3:] == ("M5", "G0 X0 Y0", "M2")
    assert all(len(line) <= 80 for line in lines)
    assert all(not m.burning for m in trace(lines) if m.feed == 0)  # rapids never burn


def test_render_text_shrinks_to_fit_the_width_and_refuses_what_cannot():
    wide = render_text("PC-0000123456", Layout(cap_height_mm=3.0, max_width_mm=10), LASER)
    assert wide.width_mm == pytest.approx(10) and wide.cap_height_mm < 3.0
    assert max(b.x1 for b in wide.boxes) <= 10 + EPS
    with pytest.raises(TextLayoutError, match="do not fit in 2 mm"):
        render_text("PC-0000123456", Layout(cap_height_mm=3.0, max_width_mm=2), LASER)


def test_render_text_names_characters_the_font_lacks():
    with pytest.raises(TextLayoutError, match=r"no glyph for '@_'"):
        check_text("pc_42@")
    assert check_text("pc-42") == "PC-42"
    with pytest.raises(TextLayoutError, match="empty"):
        check_text("  ")


@pytest.mark.parametrize("direction, axis", [("+x", "x"), ("-x", "x"), ("+y", "y"), ("-y", "y")])
def test_render_text_runs_along_the_configured_direction(direction, axis):
    program = render_text("AB", Layout(2.0, 50, origin_x_mm=20, origin_y_mm=20, direction=direction), LASER)
    first, second = program.boxes
    along = (lambda b: (b.x0 + b.x1) / 2) if axis == "x" else (lambda b: (b.y0 + b.y1) / 2)
    sign = -1 if direction.startswith("-") else 1
    assert sign * (along(second) - along(first)) > 0
    across = (first.y1 - first.y0) if axis == "x" else (first.x1 - first.x0)
    assert across == pytest.approx(2.0)
    for move in burns(program):
        box_of(move, program)


texts = st.text(alphabet=sorted(GLYPHS), min_size=1, max_size=24).filter(lambda t: t.strip())


@settings(max_examples=60, deadline=None)
@given(texts, st.floats(0.5, 5), st.floats(5, 80), st.sampled_from(["+x", "-x", "+y", "-y"]),
       st.floats(-50, 50), st.floats(-50, 50))
def test_render_text_keeps_every_stroke_in_its_box_and_the_width(text, cap, width, direction, ox, oy):
    layout = Layout(cap, width, ox, oy, direction, min_cap_height_mm=0.01)
    program = render_text(text, layout, LASER)
    assert program.width_mm <= width + EPS and program.cap_height_mm <= cap + EPS
    assert [b.char for b in program.boxes] == list(text.upper())
    for move in burns(program):
        char = program.boxes[box_of(move, program)].char
        assert char != " "
    extent = [abs(v - o) for b in program.boxes for v, o in ((b.x0, ox), (b.x1, ox), (b.y0, oy), (b.y1, oy))]
    assert max(extent) <= max(width, cap) + EPS


def test_tracer_rejects_what_grbl_would_with_its_error_code():
    tracer = GcodeTracer()
    with pytest.raises(GcodeError) as err:
        tracer.feed_line("G2 X1 Y1")
    assert err.value.code == 20
    with pytest.raises(GcodeError) as err:
        tracer.feed_line("G1 X1")
    assert err.value.code == 22
    assert tracer.feed_line("G0 X1 Y2") == Move(0, 0, 1, 2, False, 0.0)
