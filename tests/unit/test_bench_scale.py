"""``./salesops bench --scale N`` (issue #30): the sizes of a scaled year, the figures recorded per scale and
the SVG plot drawn from them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from deploy.bench.common import FULL
from deploy.bench.scale import OVERVIEW, ScalePoint, _ticks, plot, record, recorded, scaled

SVG = "{http://www.w3.org/2000/svg}"


def point(scale: int, rebuild_seconds: float, reports: dict[str, float]) -> ScalePoint:
    events = FULL.year_events * scale
    return ScalePoint(
        scale,
        62_400 * scale,
        5.0,
        {"events": events, "seconds": rebuild_seconds, "rate": events / rebuild_seconds, "peak_rss_mb": 140},
        {"events": events, "seconds": rebuild_seconds / 2, "rate": 2 * events / rebuild_seconds},
        reports,
        1.0,
    )


def test_ten_times_the_data_is_5000_distributors_200_branches_20_m_events_and_600_000_history_lines() -> None:
    ten = scaled(10)

    assert (ten.distributors, ten.branches, ten.year_events) == (5_000, 200, 20_000_000)
    assert ten.history_rows == 5_200 * 12 * 10 == 624_000  # a line a month, ten years, every customer
    assert (ten.report_requests, ten.customers) == (FULL.report_requests, FULL.customers)
    assert scaled(1).year_events == FULL.year_events


def test_a_scale_recorded_again_replaces_its_earlier_point_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "scale.json"
    record(path, point(10, 150.0, {"staff": 3.0}))
    record(path, point(1, 15.0, {"staff": 1.0}))

    points = record(path, point(10, 120.0, {"staff": 2.0}))

    assert [(p.scale, p.rebuild["seconds"]) for p in points] == [(1, 15.0), (10, 120.0)]
    assert recorded(path) == points


def test_ticks_are_round_steps_from_zero_reaching_the_top() -> None:
    assert _ticks(20.5) == [0, 10, 20, 30]
    assert _ticks(7.0) == [0, 2, 4, 6, 8]
    assert _ticks(0.0) == [0, 0.5]  # nothing to show still gets an axis


def test_the_plot_has_a_line_per_series_through_a_point_per_scale_and_names_each_report() -> None:
    reports = {"staff": 2.0, "annual_statistics": 9.0, OVERVIEW: 900.0}
    points = [point(s, 15.0 * s, {name: p99 * s for name, p99 in reports.items()}) for s in (1, 3, 10)]

    svg = ET.fromstring(plot(points))

    lines = svg.findall(f"{SVG}polyline")
    assert len(lines) == 3  # the rebuild's, then one per report (the overview page is not drawn)
    assert all(len(line.attrib["points"].split()) == 3 for line in lines)
    texts = {t.text for t in svg.findall(f"{SVG}text")}
    assert {"annual_statistics", "staff", "Rebuild of all projections", "target"} <= texts
    assert OVERVIEW not in texts
    # the rebuild's line rises with the data: larger y values are drawn higher (smaller SVG y)
    ys = [float(p.split(",")[1]) for p in lines[0].attrib["points"].split()]
    assert ys == sorted(ys, reverse=True)
