"""The server-drawn furnace chart: the window band, the line, the pour mark, and how a reading stands."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from kiosk.ui.charts import furnace_svg, window_colour

START, END = "2026-12-03T08:00:00.000Z", "2026-12-03T08:30:00.000Z"
POINTS = [[f"2026-12-03T08:{m:02d}:00.000Z", 940.0 + m, 945.0 + m, 950.0 + m] for m in range(0, 30, 5)]


def test_chart_draws_the_window_band_the_average_line_and_the_pour_mark() -> None:
    svg = furnace_svg(POINTS, window=(950.0, 1010.0), start=START, end=END, mark="2026-12-03T08:20:00.000Z")
    root = ET.fromstring(svg)  # well-formed XML
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.find("s:rect[@class='window']", ns) is not None
    line = root.find("s:polyline[@class='avg']", ns)
    assert line is not None and len(line.get("points", "").split()) == len(POINTS)
    mark = root.find("s:line[@class='mark']", ns)
    assert mark is not None and float(mark.get("x1", "0")) > 52  # inside the plot
    xs = [float(p.split(",")[0]) for p in line.get("points", "").split()]
    assert xs == sorted(xs) and xs[0] >= 52 and xs[-1] <= 760  # left to right, within the plot
    assert re.search(r">950<", svg) or re.search(r">1000<", svg)  # round temperature lines


def test_chart_without_readings_says_so() -> None:
    assert "No furnace readings in this period yet" in furnace_svg([], start=START, end=END)


def test_window_colour_like_the_stack_light() -> None:
    assert window_colour(980.0, (950.0, 1010.0)) == "inside"
    assert window_colour(900.0, (950.0, 1010.0)) == "below"
    assert window_colour(1061.0, (950.0, 1010.0)) == "above"
    assert window_colour(None, (950.0, 1010.0)) == window_colour(980.0, None) == "none"
