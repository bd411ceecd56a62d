"""``./salesops bench --scale N`` (issue #30): the year part on N times today's full year (N × 500
distributors and 20 branches, N × 2 M events) plus ten years of history imported through R14's real import
path (``services/reporting/history.py``), and a plot of rebuild time and report p99 against data size.

Each run records its figures per scale in ``docs/benchmarks-scale.json`` (the runs of the other scales
kept), and the plot (``docs/benchmarks-scale.svg``) is drawn from every scale recorded there: 1×, 3× and
10× may come from different runs, each with its own same-run baselines.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from xml.sax.saxutils import escape

from deploy.bench.common import FULL, Sizes

OVERVIEW = "overview page"  # kept beside the reports, not drawn with them: its seconds would flatten them
HISTORY_YEARS = 10  # R14: what a company brings from its old system at adoption
SCALES = (1, 3, 10)


def scaled(n: int) -> Sizes:
    """Today's full year times ``n``: customers and events grow together (each customer orders as often as
    today), the report and page requests stay as many; a customer's history is a line a month."""
    return replace(
        FULL,
        year_events=FULL.year_events * n,
        distributors=FULL.distributors * n,
        branches=FULL.branches * n,
        history_rows=(FULL.distributors + FULL.branches) * n * 12 * HISTORY_YEARS,
    )


def scales_up_to(n: int) -> list[int]:
    """The sizes a ``--scale n`` run measures: 1× and 3× below it too, so that memory is seen to stay flat."""
    return sorted({s for s in SCALES if s < n} | {n})


@dataclass(frozen=True)
class ScalePoint:
    """What one scale measured (each figure beside its baseline of the same run)."""

    scale: int
    history_rows: int
    import_seconds: float
    rebuild: dict[str, float]  # the rebuild child's figures: events, seconds, rate, peak_rss_mb
    read: dict[str, float]  # its same-run baseline's: asyncpg read + orjson decode of the same rows
    report_p99_ms: dict[str, float]  # uncached, by report (and the overview page)
    load_average: float  # before the scale's year was generated: what else the machine ran


def record(path: Path, point: ScalePoint) -> list[ScalePoint]:
    """Add ``point`` to the file (replacing that scale's earlier one); every point recorded, by scale."""
    points = {p.scale: p for p in recorded(path)}
    points[point.scale] = point
    ordered = [points[s] for s in sorted(points)]
    path.write_text(json.dumps([asdict(p) for p in ordered], indent=1) + "\n")
    return ordered


def recorded(path: Path) -> list[ScalePoint]:
    if not path.exists():
        return []
    return [ScalePoint(**p) for p in json.loads(path.read_text())]


# ------------------------------------------------------------------------------------------- the SVG plot

WIDTH, HEIGHT, MARGIN = 360, 240, 48
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")


def _ticks(top: float) -> list[float]:
    """Round steps (1, 2 or 5 times a power of ten) from 0 to at least ``top``, about four of them."""
    raw = top / 4 if top > 0 else 0.25
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1 if top > 0 else 2)]


def panel(
    title: str, unit: str, xs: list[float], series: dict[str, list[float]], left: float, target: float | None
) -> list[str]:
    """One chart: a line per series over ``xs`` (millions of events), its axes and an optional target."""
    ys = [y for values in series.values() for y in values] + ([target] if target else [])
    y_ticks = _ticks(max(ys) if ys else 1.0)
    x_ticks = _ticks(max(xs) if xs else 1.0)
    top_y, top_x = y_ticks[-1], x_ticks[-1]
    plot_w, plot_h = WIDTH - MARGIN - 12, HEIGHT - 2 * MARGIN

    def px(x: float) -> float:
        return left + MARGIN + x / top_x * plot_w

    def py(y: float) -> float:
        return MARGIN + plot_h - y / top_y * plot_h

    out = [
        f'<text x="{left + WIDTH / 2:.0f}" y="20" text-anchor="middle" font-weight="bold">'
        f"{escape(title)}</text>",
        f'<line x1="{px(0):.1f}" y1="{py(0):.1f}" x2="{px(top_x):.1f}" y2="{py(0):.1f}" stroke="black"/>',
        f'<line x1="{px(0):.1f}" y1="{py(0):.1f}" x2="{px(0):.1f}" y2="{py(top_y):.1f}" stroke="black"/>',
        f'<text x="{left + MARGIN + plot_w / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle">'
        "events in the log (millions)</text>",
        f'<text x="{left + 12}" y="{MARGIN - 8}">{escape(unit)}</text>',
    ]
    for t in y_ticks:
        out.append(f'<text x="{px(0) - 4:.1f}" y="{py(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    for t in x_ticks:
        out.append(f'<text x="{px(t):.1f}" y="{py(0) + 16:.1f}" text-anchor="middle">{t:g}</text>')
    if target:
        out.append(
            f'<line x1="{px(0):.1f}" y1="{py(target):.1f}" x2="{px(top_x):.1f}" y2="{py(target):.1f}" '
            'stroke="grey" stroke-dasharray="4 3"/>'
        )
        out.append(f'<text x="{px(top_x):.1f}" y="{py(target) - 4:.1f}" text-anchor="end">target</text>')
    for i, (name, values) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        at = [(px(x), py(y)) for x, y in zip(xs, values, strict=True)]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in at)
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in at]
        if len(series) > 1:  # a legend right of the panel
            out.append(
                f'<text x="{left + WIDTH + 4:.0f}" y="{MARGIN + 14 * i:.0f}" fill="{colour}">'
                f"{escape(name)}</text>"
            )
    return out


def plot(points: list[ScalePoint]) -> str:
    """Rebuild time and every report's uncached p99 against the log's size, as an SVG document (the
    overview page's p99 is in the record, not drawn)."""
    xs = [p.rebuild["events"] / 1e6 for p in points]
    reports = sorted({name for p in points for name in p.report_p99_ms} - {OVERVIEW})
    legend = 180  # room for the report names right of the second panel
    body = panel(
        "Rebuild of all projections", "s", xs, {"rebuild": [p.rebuild["seconds"] for p in points]}, 0, None
    )
    body += panel(
        "Reports, uncached p99",
        "ms",
        xs,
        {name: [p.report_p99_ms.get(name, 0.0) for p in points] for name in reports},
        WIDTH,
        20.0,
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * WIDTH + legend}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="11">\n' + "\n".join(body) + "\n</svg>\n"
    )
