"""The trend chart as SVG drawn on the server: no script, no chart library, readable offline."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

WIDTH, HEIGHT = 640, 200
TOP, BOTTOM, LEFT = 16, 28, 8


def trend_svg(points: Sequence[tuple[str, Decimal]], title: str, value_text: dict[str, str]) -> str:
    """One bar per period (oldest left), the newest highlighted; a negative net amount (more cancelled
    than sold) hangs below the zero line. ``value_text`` gives each period's amount as shown in tooltips."""
    if not points:
        return ""
    highest = max((v for _, v in points), default=Decimal(0))
    lowest = min((v for _, v in points), default=Decimal(0))
    top, bottom = max(highest, Decimal(0)), min(lowest, Decimal(0))
    span = (top - bottom) or Decimal(1)
    plot = HEIGHT - TOP - BOTTOM
    zero = TOP + float(top / span) * plot
    slot = (WIDTH - LEFT * 2) / len(points)
    bars = []
    for i, (label, value) in enumerate(points):
        size = float(abs(value) / span) * plot
        y = zero - size if value >= 0 else zero
        x = LEFT + i * slot + slot * 0.15
        css = "bar now" if i == len(points) - 1 else "bar"
        tip = escape(f"{label}: {value_text.get(label, value)}")
        bars.append(
            f'<g><title>{tip}</title><rect class="{css}" x="{x:.1f}" y="{y:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{max(size, 0.5):.1f}"/>'
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
            f"{escape(label[2:])}</text></g>"
        )
    return (
        f'<svg class="trend" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
        f'<line class="zero" x1="{LEFT}" x2="{WIDTH - LEFT}" y1="{zero:.1f}" y2="{zero:.1f}"/>'
        + "".join(bars)
        + "</svg>"
    )
