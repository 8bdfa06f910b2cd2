"""Charts as inline SVG, laid out here in Python: no JavaScript, nothing fetched, and every chart
is an image with a title and a description (role="img"); its exact figures are in the table the
page puts beside it, so the picture is never the only way to read a figure.

Each chart is drawn twice, for wide and for narrow screens, and CSS shows one (dashboard.css,
`hl-from-*` / `hl-below-*`): an SVG scales with its container, so one drawing would shrink its
text below 12 px on a phone. Each drawing is at most its own width (never scaled up) and is shown
only where its container keeps its text at 12 px or more; flows fall back to bars when narrow."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from services.reporting.read.charts import Bars, Chart, Flows, Link, Series

PALETTE = ("#1d70b8", "#00703c", "#4c2c92", "#d4351c", "#505a5f")
"""GOV.UK blue, green, purple, red, grey: each at least 3:1 against white (WCAG 1.4.11)."""
TEXT = "#0b0c0c"
Fmt = str | Callable[[float], str]
"""A value's text: a format string, or a function (pounds from pence)."""
NARROW = 320
"""The narrow drawing's width: at 320 px wide (WCAG 1.4.10) its container is 290 px, and 14 px text
scaled by 290/320 stays above 12 px."""


def _svg(
    width: int,
    height: int,
    title: str,
    desc: str,
    body: list[str],
    chart_id: str,
    shown: str = "hl-from-tablet",
) -> Markup:
    return Markup(
        f'<svg class="hl-chart {shown}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" focusable="false">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


def _text(
    x: float,
    y: float,
    text: str,
    anchor: str = "start",
    weight: str = "normal",
    size: int = 16,
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" fill="{TEXT}" font-size="{size}" text-anchor="{anchor}" '
        f'font-weight="{weight}" dominant-baseline="middle">{escape(text)}</text>'
    )


def _legend(series: list[Series], y: float) -> list[str]:
    out, x = [], 0.0
    for i, s in enumerate(series):
        out.append(
            f'<rect x="{x:.1f}" y="{y - 7:.1f}" width="14" height="14" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
        )
        out.append(_text(x + 20, y, s.name, size=14))
        x += 30 + 8 * len(s.name)
    return out


def draw(chart: Chart) -> Markup:
    """A view's chart as declared in the catalogue (services/reporting/read/charts.py), drawn."""
    if isinstance(chart, Bars):
        return bar_chart(
            chart.title, chart.desc, chart.labels, chart.series, chart.chart_id, chart.fmt
        )
    if isinstance(chart, Flows):
        return sankey(
            chart.title,
            chart.desc,
            chart.links,
            chart.columns,
            chart.headings,
            chart.chart_id,
            chart.fmt,
            chart.width,
            chart.height,
        )
    raise TypeError(f"no drawing for {type(chart).__name__}")


def bar_chart(
    title: str,
    desc: str,
    labels: list[str],
    series: list[Series],
    chart_id: str,
    fmt: str = "{:,.0f}",
    width: int = 720,
) -> Markup:
    """Horizontal bars, one group per label and one bar per series, each labelled with its value:
    labels beside the bars on wide screens, above them on narrow ones."""
    return _wide_bars(title, desc, labels, series, chart_id, fmt, width) + narrow_bars(
        title, desc, labels, series, f"{chart_id}-n", fmt
    )


def _wide_bars(
    title: str,
    desc: str,
    labels: list[str],
    series: list[Series],
    chart_id: str,
    fmt: str,
    width: int,
) -> Markup:
    label_w, bar_h, gap = 230, 22, 12
    group_h = bar_h * len(series) + gap
    top = 30 if len(series) > 1 else 4
    height = top + group_h * max(len(labels), 1)
    peak = _peak(series)
    room = width - label_w - 120
    body = _legend(series, 10) if len(series) > 1 else []
    for i, label in enumerate(labels):
        y0 = top + i * group_h
        body.append(
            _text(label_w - 8, y0 + bar_h * len(series) / 2, _clip(label, 24), anchor="end")
        )
        for j, s in enumerate(series):
            y = y0 + j * bar_h
            body += _bar(label_w, y, bar_h - 3, room, peak, s, i, j, label, fmt, 16)
    return _svg(width, height, title, desc, body, chart_id)


def narrow_bars(
    title: str,
    desc: str,
    labels: list[str],
    series: list[Series],
    chart_id: str,
    fmt: Fmt,
    shown: str = "hl-below-tablet",
) -> Markup:
    """Bars for a phone: each label on its own line above its bars, in 14 px text."""
    bar_h, label_h, gap = 20, 20, 10
    group_h = label_h + bar_h * len(series) + gap
    top = 30 if len(series) > 1 else 4
    height = top + group_h * max(len(labels), 1)
    peak = _peak(series)
    room = NARROW - 110
    body = _legend(series, 10) if len(series) > 1 else []
    for i, label in enumerate(labels):
        y0 = top + i * group_h
        body.append(_text(0, y0 + label_h / 2, _clip(label, 40), size=14))
        for j, s in enumerate(series):
            y = y0 + label_h + j * bar_h
            body += _bar(0, y, bar_h - 3, room, peak, s, i, j, label, fmt, 14)
    return _svg(NARROW, height, title, desc, body, chart_id, shown)


def _peak(series: list[Series]) -> float:
    return max((v for s in series for v in s.values if v), default=1) or 1


def _bar(
    x: float,
    y: float,
    h: float,
    room: float,
    peak: float,
    s: Series,
    i: int,
    j: int,
    label: str,
    fmt: Fmt,
    size: int,
) -> list[str]:
    value = s.values[i]
    w = 0 if value is None else max(room * value / peak, 1 if value else 0)
    shown = (
        "unknown" if value is None else fmt.format(value) if isinstance(fmt, str) else fmt(value)
    )
    return [
        f'<rect x="{x}" y="{y:.1f}" width="{w:.1f}" height="{h}" '
        f'fill="{PALETTE[j % len(PALETTE)]}">'
        f"<title>{escape(f'{label}, {s.name}: {shown}')}</title></rect>",
        _text(x + w + 6, y + h / 2, shown, size=size),
    ]


def node_label(node: str) -> str:
    return node.split(":", 1)[-1].replace("_", " ")


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# ---------------------------------------------------------------- Sankey


@dataclass
class _Node:
    name: str
    column: int
    value: int = 0
    y: float = 0.0
    height: float = 0.0
    out_at: float = 0.0
    in_at: float = 0.0


def sankey_layout(
    links: list[Link], columns: dict[str, int], height: float, pad: float = 14
) -> dict[str, _Node]:
    """Nodes stacked per column, heights proportional to the larger of what enters and leaves."""
    into: dict[str, int] = defaultdict(int)
    out: dict[str, int] = defaultdict(int)
    for link in links:
        out[link.source] += link.value
        into[link.target] += link.value
    nodes = {n: _Node(n, c, max(into[n], out[n])) for n, c in columns.items() if into[n] or out[n]}
    by_column: dict[int, list[_Node]] = defaultdict(list)
    for node in nodes.values():
        by_column[node.column].append(node)
    scale = min(
        (
            (height - pad * (len(col) - 1)) / max(sum(n.value for n in col), 1)
            for col in by_column.values()
        ),
        default=1.0,
    )
    for col in by_column.values():
        y = 0.0
        for node in col:
            node.y, node.height = y, max(node.value * scale, 2)
            node.out_at = node.in_at = y
            y += node.height + pad
    return nodes


def sankey(
    title: str,
    desc: str,
    links: list[Link],
    columns: dict[str, int],
    headings: list[str],
    chart_id: str,
    fmt: Callable[[int], str] = str,
    width: int = 960,
    height: int = 420,
) -> Markup:
    """Flows between columns of nodes named '<column>:<label>'; a band's width is its amount, and
    each node says its amount. Below the width where its 14 px text would shrink under 12 px, the
    same flows are drawn as bars."""
    links = [link for link in links if link.value > 0]
    tablet = width * 12 / 14 + 60 <= 641  # the container at the tablet breakpoint keeps 12 px
    wide = _sankey(title, desc, links, columns, headings, chart_id, fmt, width, height, tablet)
    labels = [f"{node_label(k.source)} → {node_label(k.target)}" for k in links]
    values: list[float | None] = [float(k.value) for k in links]
    fallback = narrow_bars(
        title,
        desc,
        labels,
        [Series("amount", values)],
        f"{chart_id}-n",
        lambda v: fmt(int(v)),
        "hl-below-tablet" if tablet else "hl-below-desktop",
    )
    return wide + fallback


def _sankey(
    title: str,
    desc: str,
    links: list[Link],
    columns: dict[str, int],
    headings: list[str],
    chart_id: str,
    fmt: Callable[[int], str],
    width: int,
    height: int,
    tablet: bool,
) -> Markup:
    nodes = sankey_layout(links, columns, height)
    node_w, top, label_room = 14, 30, 190
    step = (width - label_room - node_w - 10) / max(len(headings) - 1, 1)
    scale = min((n.height / n.value) for n in nodes.values() if n.value) if nodes else 1
    x = {c: 10 + c * step for c in range(len(headings))}
    body = [_text(x[c], 10, h, weight="bold", size=14) for c, h in enumerate(headings)]
    for link in sorted(links, key=lambda k: (nodes[k.source].y, nodes[k.target].y)):
        s, t = nodes[link.source], nodes[link.target]
        w = max(link.value * scale, 1)
        body.append(
            _band(
                x[s.column] + node_w,
                top + s.out_at,
                x[t.column],
                top + t.in_at,
                w,
                PALETTE[s.column % len(PALETTE)],
                f"{node_label(link.source)} to {node_label(link.target)}: {fmt(link.value)}",
            )
        )
        s.out_at += w
        t.in_at += w
    for n in nodes.values():
        body.append(
            f'<rect x="{x[n.column]:.1f}" y="{top + n.y:.1f}" width="{node_w}" '
            f'height="{n.height:.1f}" fill="{PALETTE[n.column % len(PALETTE)]}"/>'
        )
        middle = top + n.y + n.height / 2
        at = x[n.column] + node_w + 6
        body.append(_text(at, middle - 8, _clip(node_label(n.name), 22), size=14))
        body.append(_text(at, middle + 9, fmt(n.value), weight="bold", size=14))
    shown = "hl-from-tablet" if tablet else "hl-from-desktop"
    return _svg(width, height + top + 10, title, desc, body, chart_id, shown)


def _band(x0: float, y0: float, x1: float, y1: float, w: float, colour: str, title: str) -> str:
    """A filled band of constant width between two node edges
    (a thick stroke would kink on steep curves)."""
    mid = (x0 + x1) / 2
    d = (
        f"M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f} "
        f"L{x1:.1f},{y1 + w:.1f} C{mid:.1f},{y1 + w:.1f} {mid:.1f},{y0 + w:.1f} "
        f"{x0:.1f},{y0 + w:.1f} Z"
    )
    return (
        f'<path d="{d}" fill="{colour}" fill-opacity="0.35"><title>{escape(title)}</title></path>'
    )
