"""A tiny SVG line chart for the growth figures: one or more series against size, log-scale x axis.

    svg = line_chart("Claim time", "waiting enrollments", "ms", {"claim": [(1e5, 4.1), (1e6, 4.3)]},
                     target=6.2, target_label="1.5× the 100k figure")
    Path("bench/plots/claim.svg").write_text(svg)

No dependency: the SVG is written by hand. The x axis is logarithmic (sizes grow tenfold), with a tick
at each power of ten in range; the y axis is linear from 0 to a little above the largest value or target.
Each point is a ``<circle>`` with a ``<title>`` giving its value, so the figures stay readable in the file.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 50
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bf8700")


def _size_label(value: float) -> str:
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if value >= scale:
            return f"{value / scale:g}{unit}"
    return f"{value:g}"


def _nice_top(value: float) -> float:
    """The smallest 1/2/5 × 10^n at or above ``value`` (1 for nothing positive)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def line_chart(
    title: str,
    x_label: str,
    y_label: str,
    series: dict[str, list[tuple[float, float]]],
    *,
    target: float | None = None,
    target_label: str = "target",
) -> str:
    """The SVG document (a string) plotting each series' (size, value) points, joined in size order, with
    ``target`` as a dashed horizontal line when given. Sizes must be positive (log scale); raises
    ``ValueError`` when there is no point at all."""
    points = [p for values in series.values() for p in values]
    if not points:
        raise ValueError("nothing to plot")
    if any(x <= 0 for x, _ in points):
        raise ValueError("sizes must be positive on a log axis")
    low = math.floor(math.log10(min(x for x, _ in points)))
    # A size just over a power of ten (1,000,100 activities) ends the axis there, not ten times further.
    high = max(math.ceil(math.log10(max(x for x, _ in points)) - 0.01), low + 1)
    top = _nice_top(max([y for _, y in points] + ([target] if target is not None else [])) * 1.1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (math.log10(x) - low) / (high - low) * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - max(y, 0) / top * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#333"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>',
    ]
    for power in range(low, high + 1):
        x = sx(10**power)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#eee"/>')
        out.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{_size_label(10**power)}</text>'
        )
    for i in range(5):
        value = top * i / 4
        y = sy(value)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 12}" text-anchor="middle">{escape(x_label)} (log scale)</text>'
    )
    out.append(f'<text x="16" y="{TOP + plot_h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {TOP + plot_h / 2})">{escape(y_label)}</text>')  # fmt: skip
    if target is not None:
        y = sy(target)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#d1242f" '
                   'stroke-dasharray="6 4" class="target"/>')  # fmt: skip
        out.append(f'<text x="{LEFT + plot_w - 4}" y="{y - 5:.1f}" text-anchor="end" fill="#d1242f">'
                   f'{escape(target_label)}</text>')  # fmt: skip
    for n, (name, values) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        ordered = sorted(values)
        if len(ordered) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in ordered)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in ordered:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{colour}">'
                       f'<title>{escape(name)}: {y:g} at {_size_label(x)}</title></circle>')  # fmt: skip
        out.append(f'<text x="{LEFT + 8}" y="{TOP + 14 + 15 * n}" fill="{colour}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
