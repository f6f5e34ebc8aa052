"""Charts drawn on the server as inline SVG: horizontal bars, columns over time, and time-axis lanes.

No chart library and no script: each function takes the numbers and returns escaped SVG markup. Colours
come from CSS classes (``static/css/reports.css``), never style attributes, which the CSP refuses. Every
chart carries a title and a description for screen readers; the page shows the same numbers in a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    tone: str = "accent"  # a CSS class: accent, ok, warn, bad, muted
    note: str = ""  # shown after the value, e.g. "42%"
    href: str = ""


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime
    tone: str
    title: str


@dataclass(frozen=True)
class Point:
    at: datetime
    tone: str
    title: str


@dataclass
class Lane:
    label: str
    spans: list[Span] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _svg(width: int, height: int, title: str, body: list[str], css: str) -> Markup:
    label = escape(title)
    return Markup(
        f'<svg class="chart {css}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{label}" preserveAspectRatio="xMinYMin meet">'
        f"<title>{label}</title>{''.join(body)}</svg>"
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wrap(text: str, limit: int, lines: int = 2) -> list[str]:
    """``text`` in at most ``lines`` lines of about ``limit`` characters, broken between words; only what
    still does not fit is clipped (the full text is in the row's tooltip)."""
    out, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > limit:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    out.append(current)
    if len(out) > lines:
        out = out[: lines - 1] + [_clip(" ".join(out[lines - 1 :]), limit)]
    return [_clip(line, limit) for line in out]


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 720, label_width: int = 230) -> Markup:
    """Horizontal bars, one per row, scaled to the largest value; the value is written after each bar."""
    limit = max(8, int((label_width - 14) / 7.8))
    wrapped = [_wrap(b.label, limit) for b in bars]
    # A label that needs two lines gets a taller row instead of being cut off.
    row, gap = (36 if any(len(w) > 1 for w in wrapped) else 26), 8
    height = max(1, len(bars)) * (row + gap) + gap
    top = max((b.value for b in bars), default=0) or 1
    texts = [f"{_number(b.value)}" + (f" · {b.note}" if b.note else "") for b in bars]
    # Room after the longest bar for its value and note (about 7 px a character at this font size).
    reserve = 16 + 7 * max((len(t) for t in texts), default=4)
    track = max(80, width - label_width - reserve)
    body = []
    for i, bar in enumerate(bars):
        y = gap + i * (row + gap)
        length = 0 if bar.value <= 0 else max(2.0, track * bar.value / top)
        text = texts[i]
        lines = wrapped[i]
        first_y = y + row / 2 + 4 - (len(lines) - 1) * 7
        label = Markup("").join(
            Markup(f'<tspan x="{label_width - 10}" y="{first_y + n * 14:.1f}">{escape(line)}</tspan>')
            for n, line in enumerate(lines)
        )
        if bar.href:
            label = Markup(f'<a href="{escape(bar.href)}">{label}</a>')
        body.append(
            f'<g class="bar-row"><title>{escape(bar.label)}: {escape(text)}</title>'
            f'<text class="bar-label" x="{label_width - 10}" y="{first_y:.1f}" text-anchor="end">{label}</text>'
            f'<rect class="track" x="{label_width}" y="{y}" width="{track}" height="{row}" rx="4"/>'
            f'<rect class="bar {escape(bar.tone)}" x="{label_width}" y="{y}" width="{length:.1f}" height="{row}" rx="4"/>'
            f'<text class="bar-value" x="{label_width + length + 8:.1f}" y="{y + row / 2 + 4:.1f}">{escape(text)}</text></g>'
        )
    if not bars:
        body.append(
            f'<text class="empty-note" x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle">No data</text>'
        )
    return _svg(width, height, title, body, "bars")


def column_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 720,
    height: int = 220,
    tone: str = "accent",
) -> Markup:
    """Vertical columns over time (one per bucket), a gridline at the top value, and thinned axis labels."""
    left, bottom, top_pad = 44, 28, 14
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    top = max((v for _, v in points), default=0)
    scale = top or 1
    n = max(1, len(points))
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.72)
    every = max(1, round(n / 8))
    body = [
        f'<line class="axis" x1="{left}" y1="{top_pad + plot_h}" x2="{width - 8}" y2="{top_pad + plot_h}"/>',
        f'<line class="grid" x1="{left}" y1="{top_pad}" x2="{width - 8}" y2="{top_pad}"/>',
        f'<text class="tick" x="{left - 6}" y="{top_pad + 4}" text-anchor="end">{_number(top)}</text>',
        f'<text class="tick" x="{left - 6}" y="{top_pad + plot_h + 4}" text-anchor="end">0</text>',
    ]
    for i, (label, value) in enumerate(points):
        h = 0 if value <= 0 else max(1.5, plot_h * value / scale)
        x = left + i * slot + (slot - bar_w) / 2
        body.append(
            f'<rect class="bar {escape(tone)}" x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar_w:.1f}" '
            f'height="{h:.1f}"><title>{escape(label)}: {_number(value)}</title></rect>'
        )
        if i % every == 0:
            body.append(
                f'<text class="tick" x="{x + bar_w / 2:.1f}" y="{height - 8}" text-anchor="middle">{escape(label)}</text>'
            )
    if not points or not top:
        body.append(
            f'<text class="empty-note" x="{left + plot_w / 2}" y="{top_pad + plot_h / 2}" text-anchor="middle">'
            "Nothing in this period</text>"
        )
    return _svg(width, height, title, body, "columns")


def lanes_chart(
    lanes: Sequence[Lane],
    *,
    start: datetime,
    end: datetime,
    title: str,
    width: int = 900,
    zone: tzinfo = UTC,
) -> Markup:
    """One time axis, one lane per row: spans as bars (an enrollment from start to end), points as dots
    (a message, a reply, a task). Hovering any mark shows what it is. The axis's days are ``zone``'s."""
    label_w, row, axis_h = 170, 30, 26
    height = len(lanes) * row + axis_h + 6
    plot_w = width - label_w - 16
    total = max((end - start).total_seconds(), 1.0)

    def x(at: datetime) -> float:
        return label_w + plot_w * min(max((at - start).total_seconds() / total, 0.0), 1.0)

    body = []
    for i, lane in enumerate(lanes):
        y = i * row + 4
        mid = y + row / 2 - 2
        body.append(
            f'<text class="bar-label" x="{label_w - 10}" y="{mid + 4:.1f}" text-anchor="end">'
            f"{escape(_clip(lane.label, 24))}<title>{escape(lane.label)}</title></text>"
            f'<line class="lane" x1="{label_w}" y1="{mid:.1f}" x2="{label_w + plot_w}" y2="{mid:.1f}"/>'
        )
        for span in lane.spans:
            x1, x2 = x(span.start), x(span.end)
            body.append(
                f'<rect class="span {escape(span.tone)}" x="{x1:.1f}" y="{mid - 7:.1f}" width="{max(x2 - x1, 3):.1f}" '
                f'height="14" rx="5"><title>{escape(span.title)}</title></rect>'
            )
        for point in lane.points:
            body.append(
                f'<circle class="dot {escape(point.tone)}" cx="{x(point.at):.1f}" cy="{mid:.1f}" r="6">'
                f"<title>{escape(point.title)}</title></circle>"
            )
    base = len(lanes) * row + 6
    body.append(f'<line class="axis" x1="{label_w}" y1="{base}" x2="{label_w + plot_w}" y2="{base}"/>')
    for k in range(5):
        at = start + (end - start) * (k / 4)
        anchor = "start" if k == 0 else ("end" if k == 4 else "middle")
        body.append(
            f'<text class="tick" x="{x(at):.1f}" y="{base + 16}" text-anchor="{anchor}">{at.astimezone(zone):%b %-d}</text>'
        )
    return _svg(width, height, title, body, "lanes")
