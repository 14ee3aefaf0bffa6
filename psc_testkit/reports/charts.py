"""The charts of the load section of reports/summary.html, as inline SVG (no script, no font,
nothing fetched): throughput, latency and failures by class over the run, from the summary's
`timeline`, and the latency per step.

Each chart is drawn twice, once wide (screens and print) and once narrow (phones, chosen by a
CSS media query), both scaled to the page width by their viewBox: one drawing scaled down to a
phone's width would leave its text a few pixels high. The legend is HTML under the chart, so it
wraps as text does. Series are told apart by colour and by dash or lightness, so a page printed
in grey still reads.

The summary may come from anyone: every value is checked (a number, finite, within range, else
a gap), names are escaped, and the number of points drawn is bounded (consecutive intervals are
merged beyond MAX_POINTS, and the page says so)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from html import escape

MAX_POINTS = 2000  # points drawn per series; more than a wide chart has pixels
MAX_VALUE = 1e15  # larger values (or non-finite ones) are not drawn
CLASSES = ("provider", "protocol", "tool")
X_LABEL = "s since start"

# Okabe-Ito blue and vermillion (colour-blind safe), told apart in grey by dash or lightness.
BLUE, VERMILLION = "#0b4f8a", "#d55e00"
CLASS_COLOURS = {"provider": VERMILLION, "protocol": "#16235e", "tool": "#f0c05a"}
CLASS_NOTES = {
    "provider": "the provider answered wrongly or not at all",
    "protocol": "the exchange broke the protocol",
    "tool": "psc-testkit itself failed",
}

STYLE = """
.load .scroll{overflow-x:auto}.load td code{overflow-wrap:anywhere}
.load .unsure{background:#feecc2}.load .facts th{width:12rem}
.chart{margin:1rem 0 1.5rem;break-inside:avoid}.chart figcaption{font-weight:bold;margin:.3rem 0}
.chart svg{display:block;width:100%;height:auto}.chart svg.narrow{display:none}
.chart text{font-family:system-ui,sans-serif;fill:#1e1e1e}
.legend{list-style:none;padding:0;margin:.3rem 0;display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;
font-size:.9rem}.legend svg{display:inline-block;width:1.8rem;height:.8rem;
vertical-align:middle;margin-right:.3rem}.chart .note{font-size:.85rem;color:#555;margin:.2rem 0}
@media screen and (max-width:40rem){.chart svg.wide{display:none}.chart svg.narrow{display:block}
.load .facts th{width:auto}}
@media print{body{max-width:none;margin:0}.chart svg.wide{display:block}
.chart svg.narrow{display:none}h2,h3,figcaption{break-after:avoid}}
"""


def number(value: object) -> float | None:
    """A drawable number: int or float (not bool), finite, within MAX_VALUE; else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    if not math.isfinite(value) or abs(value) > MAX_VALUE:
        return None
    return value


# --- nice numbers (Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990) ---


def nice_number(x: float, round_: bool) -> float:
    """1, 2 or 5 times a power of ten, near x: rounded to it, or the smallest not below it."""
    if x <= 0:
        return 1.0
    x = max(x, 1e-300)  # a subnormal's power of ten would underflow to 0
    exponent = math.floor(math.log10(x))
    fraction = x / 10**exponent
    if round_:
        nice = 1 if fraction < 1.5 else 2 if fraction < 3 else 5 if fraction < 7 else 10
    else:
        nice = 1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10
    return nice * 10.0**exponent


def nice_ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """About `count` ticks, multiples of a nice step, from at or below `low` to at or above
    `high`. `integer`: the step is at least 1 (counts). The charts' ranges all include 0, so
    the step is never lost in the precision of the bounds."""
    if not high - low >= 1e-9:  # no range to speak of (a chart of zeros): 0 to 1
        high = low + 1
    step = nice_number(nice_number(high - low, False) / max(count - 1, 1), True)
    if integer:
        step = max(step, 1.0)
    # k * step, rounded to the step's decimals: no 0.30000000000000004.
    decimals = max(0, -math.floor(math.log10(step)))
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    first -= round(first * step, decimals) > low  # the tolerance must not leave low out
    last += round(last * step, decimals) < high
    return [round(k * step, decimals) for k in range(first, last + 1)]


def tick_labels(ticks: list[float]) -> list[str]:
    """The labels of an axis: one suffix (k, M, G) and one number of decimals for all."""
    top = max((abs(t) for t in ticks), default=0)
    thresholds = ((1e12, 1e12, "T"), (1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k"))
    scale, suffix = next(((s, x) for low, s, x in thresholds if top >= low), (1.0, ""))
    step = (ticks[1] - ticks[0]) / scale if len(ticks) > 1 else 1.0
    decimals = max(0, math.ceil(-math.log10(step) - 1e-9)) if step > 0 else 0
    return [f"{t / scale:.{decimals}f}{suffix}" for t in ticks]


def short(value: float) -> str:
    """A value for a sentence: three significant digits, no exponent for ordinary figures."""
    if value == 0 or 0.01 <= abs(value) < 1e7:
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:.3g}"


# --- the timeline of a summary ---


@dataclass
class Timeline:
    interval: float
    t: list[float]
    values: dict[str, list[float | None]]  # flows_per_s, requests_per_s, p50_ms, p95_ms
    failures: list[dict[str, float] | None]  # per point, by class; None: not measured
    merged: int = 1  # intervals merged into one point
    dropped: int = 0  # points without a usable t
    out_of_range: int = 0  # values present but not drawable
    duration: float | None = None  # the run's, when it ends within the last interval

    @property
    def end(self) -> float:
        """The end of the x axis: the end of the last interval, or of the run if it ended
        within that interval (the last interval is then a short one)."""
        full = max(self.t) + self.interval
        if self.duration is not None and max(self.t) < self.duration < full:
            return self.duration
        return full

    def span(self, t: float) -> tuple[float, float]:
        """The time the interval starting at t covers."""
        return t, min(t + self.interval, self.end)


LINE_KEYS = ("flows_per_s", "requests_per_s", "p50_ms", "p95_ms")


def timeline(summary: dict) -> Timeline | None:
    """The summary's timeline, checked, in time order; None when it has none (older runs)."""
    raw = summary.get("timeline")
    if not isinstance(raw, dict) or not isinstance(raw.get("points"), list):
        return None
    rows, dropped, out_of_range = [], 0, 0
    for point in raw["points"]:
        t = number(point.get("t")) if isinstance(point, dict) else None
        if t is None or t < 0:
            dropped += 1
            continue
        row: dict = {"t": t}
        for key in LINE_KEYS:
            row[key] = number(point.get(key))
            out_of_range += row[key] is None and point.get(key) is not None
        failures = point.get("failures")
        if isinstance(failures, dict):
            row["failures"] = {c: max(0.0, number(failures.get(c)) or 0.0) for c in CLASSES}
        else:
            row["failures"] = None
        rows.append(row)
    if not rows:
        return None
    rows.sort(key=lambda r: r["t"])
    ts = [r["t"] for r in rows]
    interval = number(raw.get("interval_s"))
    if interval is None or interval <= 0:
        steps = [b - a for a, b in itertools.pairwise(ts) if b > a]
        interval = min(steps) if steps else 1.0
    line = Timeline(
        interval=interval,
        t=ts,
        values={k: [r[k] for r in rows] for k in LINE_KEYS},
        failures=[r["failures"] for r in rows],
        dropped=dropped,
        out_of_range=out_of_range,
        duration=number(summary.get("duration_s")),
    )
    return _merge(line) if len(ts) > MAX_POINTS else line


def _merge(line: Timeline) -> Timeline:
    """Consecutive points merged k by k: mean of the rates and of p50, max of p95, sum of the
    failures. Drawn as it is, a longer series would only cost bytes, not detail."""
    k = math.ceil(len(line.t) / MAX_POINTS)

    def groups(values: list) -> list[list]:
        return [values[i : i + k] for i in range(0, len(values), k)]

    def mean(group: list) -> float | None:
        present = [v for v in group if v is not None]
        return sum(present) / len(present) if present else None

    def top(group: list) -> float | None:
        return max((v for v in group if v is not None), default=None)

    def total(group: list) -> dict | None:
        present = [f for f in group if f is not None]
        return {c: sum(f[c] for f in present) for c in CLASSES} if present else None

    how = {"flows_per_s": mean, "requests_per_s": mean, "p50_ms": mean, "p95_ms": top}
    return Timeline(
        interval=line.interval * k,
        t=[g[0] for g in groups(line.t)],
        values={key: [how[key](g) for g in groups(v)] for key, v in line.values.items()},
        failures=[total(g) for g in groups(line.failures)],
        merged=k,
        dropped=line.dropped,
        out_of_range=line.out_of_range,
        duration=line.duration,
    )


# --- drawing ---


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    colour: str
    values: list[float | None]
    dash: str = ""  # stroke-dasharray


@dataclass(frozen=True)
class Panel:
    unit: str  # the y axis label, with the unit
    series: list[Series]
    stacked: bool = False  # failures: stacked bars, one per interval
    integer: bool = False


@dataclass(frozen=True)
class Layout:
    name: str  # wide or narrow: the svg's class
    width: int
    font: int
    panel_height: int
    left: int = 0
    right: int = 24
    top: int = 10
    gap: int = 16
    bottom: int = 0
    y_ticks: int = 5


WIDE = Layout("wide", 960, 13, 190, left=66, bottom=46, y_ticks=6)
NARROW = Layout("narrow", 420, 14, 170, left=62, bottom=48, y_ticks=4)


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _x_ticks(end: float, plot_width: float, font: int) -> list[float]:
    """As many nice ticks as fit without their labels touching, within [0, end]."""
    for count in range(12, 1, -1):
        ticks = [t for t in nice_ticks(0, end, count) if t <= end * (1 + 1e-9)]
        labels = tick_labels(ticks)
        room = plot_width / max(len(ticks), 1)
        if max(len(s) for s in labels) * font * 0.62 + font <= room:
            return ticks
    return [0.0]


def _series_stats(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "no data"
    return (
        f"min {short(min(present))}, max {short(max(present))}, "
        f"mean {short(sum(present) / len(present))}"
    )


def _svg(
    chart_id: str,
    title: str,
    description: str,
    line: Timeline,
    panels: list[Panel],
    layout: Layout,
) -> str:
    plot_w = layout.width - layout.left - layout.right
    height = layout.top + len(panels) * layout.panel_height + (len(panels) - 1) * layout.gap
    height += layout.bottom
    font = layout.font
    end = line.end

    def x(t: float) -> float:
        return layout.left + t / end * plot_w

    out = [
        f'<svg class="{layout.name}" id="{chart_id}-{layout.name}" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {layout.width} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" font-size="{font}">'
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>"
    ]
    x_ticks = _x_ticks(end, plot_w, font)
    for index, panel in enumerate(panels):
        top = layout.top + index * (layout.panel_height + layout.gap)
        bottom = top + layout.panel_height
        if panel.stacked:
            present = [sum(f.values()) for f in line.failures if f is not None]
        else:
            present = [v for s in panel.series for v in s.values if v is not None]
        low = min([0.0, *present])
        high = max([0.0, *present])
        # The tighter of two tick counts: 0–59 gets 0, 20, …, 60 rather than 0, 50, 100.
        y_ticks = min(
            (
                nice_ticks(low, high, n, integer=panel.integer)
                for n in (layout.y_ticks, layout.y_ticks + 1)
            ),
            key=lambda ticks: (ticks[-1] - ticks[0], len(ticks)),
        )
        y0, y1 = y_ticks[0], y_ticks[-1]

        def y(value: float, top=top, bottom=bottom, y0=y0, y1=y1) -> float:
            return bottom - (value - y0) / (y1 - y0) * (bottom - top)

        # Grid and y axis.
        out.append(f'<g class="y-axis" data-ticks="{" ".join(_f(t) for t in y_ticks)}">')
        for tick, label in zip(y_ticks, tick_labels(y_ticks), strict=True):
            ty = y(tick)
            out.append(
                f'<line x1="{layout.left}" x2="{layout.left + plot_w}" y1="{ty:.1f}" '
                f'y2="{ty:.1f}" stroke="#d6d6d6" stroke-width="1"/>'
                f'<text x="{layout.left - 6}" y="{ty + font * 0.35:.1f}" '
                f'text-anchor="end">{escape(label)}</text>'
            )
        mid = (top + bottom) / 2
        out.append(
            f'<text class="axis-label y-label" x="{font}" y="{mid:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 {font} {mid:.1f})">{escape(panel.unit)}</text></g>'
        )
        # Series.
        if panel.stacked:
            out.append(_bars(line, panel, x, y))
        else:
            for series in panel.series:
                out.append(_line(line, series, x, y))
        if not present:
            out.append(
                f'<text class="no-data" x="{layout.left + plot_w / 2:.1f}" y="{mid:.1f}" '
                f'text-anchor="middle" fill="#555">no data</text>'
            )
        # x axis of the panel; labels under the last one only.
        last = index == len(panels) - 1
        out.append(
            f'<g class="x-axis" data-ticks="{" ".join(_f(t) for t in x_ticks)}">'
            f'<line x1="{layout.left}" x2="{layout.left + plot_w}" y1="{bottom}" y2="{bottom}" '
            f'stroke="#1e1e1e"/><line x1="{layout.left}" x2="{layout.left}" y1="{top}" '
            f'y2="{bottom}" stroke="#1e1e1e"/>'
        )
        for tick, label in zip(x_ticks, tick_labels(x_ticks), strict=True):
            tx = x(tick)
            out.append(
                f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{bottom}" y2="{bottom + 5}" '
                'stroke="#1e1e1e"/>'
            )
            if last:
                out.append(
                    f'<text x="{tx:.1f}" y="{bottom + 6 + font:.1f}" '
                    f'text-anchor="middle">{escape(label)}</text>'
                )
        out.append("</g>")
    bottom = height - layout.bottom
    out.append(
        f'<text class="axis-label x-label" x="{layout.left + plot_w / 2:.1f}" '
        f'y="{bottom + 12 + font * 2:.1f}" text-anchor="middle">{X_LABEL}</text></svg>'
    )
    return "".join(out)


def _line(line: Timeline, series: Series, x, y) -> str:
    """One path per series, drawn at the middle of each interval; a None, or a missing
    interval, starts a new piece (M) instead of joining over the gap. A point alone between
    two gaps gets a dot, since a path of one point draws nothing."""
    parts, dots, count = [], [], 0
    previous: float | None = None
    values = series.values
    for i, (t, value) in enumerate(zip(line.t, values, strict=True)):
        if value is None:
            previous = None
            continue
        joined = previous is not None and t - previous <= line.interval * 1.5
        cx, cy = x(sum(line.span(t)) / 2), y(value)
        parts.append(f"{'L' if joined else 'M'}{cx:.1f} {cy:.1f}")
        count += 1
        after = values[i + 1] if i + 1 < len(values) else None
        close_after = i + 1 < len(values) and line.t[i + 1] - t <= line.interval * 1.5
        if not joined and (after is None or not close_after):
            dots.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{series.colour}"/>')
        previous = t
    dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
    return (
        f'<g class="series" data-series="{series.key}">'
        f"<title>{escape(series.label)}: {_series_stats(values)}</title>"
        f'<path d="{"".join(parts)}" data-points="{count}" fill="none" '
        f'stroke="{series.colour}" stroke-width="2" stroke-linejoin="round"{dash}/>'
        + "".join(dots)
        + "</g>"
    )


def _bars(line: Timeline, panel: Panel, x, y) -> str:
    """Failures per interval, stacked by class in the order of CLASSES (bottom first)."""

    def shown(t: float) -> float:
        start, end = line.span(t)
        width = x(end) - x(start)
        return width * 0.85 if x(line.interval) - x(0) > 3 else width

    out = [f'<g class="bars" data-bars="{sum(f is not None for f in line.failures)}">']
    for t, failures in zip(line.t, line.failures, strict=True):
        if failures is None or not sum(failures.values()):
            continue
        group = [
            f"<title>{_f(t)}–{_f(line.span(t)[1])} s: "
            + ", ".join(f"{c} {_f(failures[c])}" for c in CLASSES)
            + "</title>"
        ]
        base = 0.0
        for cls in CLASSES:
            value = failures[cls]
            if value <= 0:
                continue
            y_top, y_bottom = y(base + value), y(base)
            group.append(
                f'<rect class="{cls}" x="{x(t):.1f}" y="{y_top:.1f}" width="{shown(t):.2f}" '
                f'height="{y_bottom - y_top:.2f}" fill="{CLASS_COLOURS[cls]}"/>'
            )
            base += value
        out.append("<g>" + "".join(group) + "</g>")
    out.append("</g>")
    return "".join(out)


def _legend(panels: list[Panel]) -> str:
    items = []
    for panel in panels:
        for series in panel.series:
            if panel.stacked:
                key = f'<rect x="2" y="1" width="20" height="10" fill="{series.colour}"/>'
            else:
                dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
                key = (
                    f'<line x1="0" x2="24" y1="6" y2="6" stroke="{series.colour}" '
                    f'stroke-width="2.5"{dash}/>'
                )
            items.append(
                f'<li><svg viewBox="0 0 24 12" aria-hidden="true">{key}</svg>'
                f"{escape(series.label)}</li>"
            )
    return '<ul class="legend">' + "".join(items) + "</ul>"


def _figure(chart_id: str, caption: str, line: Timeline, panels: list[Panel], note: str) -> str:
    per = f"per {_f(line.interval)} s interval"
    description = f"{caption} {per}, over {_f(line.end)} s, {len(line.t)} intervals. " + " ".join(
        f"{s.label}: {_series_stats(s.values)}." for p in panels for s in p.series
    )
    title = f"{caption} over the run ({per}; x: {X_LABEL}; y: " + (
        ", ".join(p.unit for p in panels) + ")"
    )
    return (
        f'<figure class="chart" id="{chart_id}"><figcaption>{escape(caption)}</figcaption>'
        + _svg(chart_id, title, description, line, panels, WIDE)
        + _svg(chart_id, title, description, line, panels, NARROW)
        + _legend(panels)
        + (f'<p class="note">{escape(note)}</p>' if note else "")
        + "</figure>"
    )


def timeline_charts(summary: dict) -> str:
    """Throughput, latency and failures by class over the run, or a line saying there is no
    time series (summaries written before the timeline existed)."""
    line = timeline(summary)
    if line is None:
        return '<p id="no-timeline" class="note">No time series in this run.</p>'
    notes = []
    if line.merged > 1:
        notes.append(
            f"{line.merged} consecutive intervals are merged into each point "
            f"(mean of the rates and of p50, highest p95, sum of failures)."
        )
    if line.dropped:
        notes.append(f"{line.dropped} points without a time are left out.")
    if line.out_of_range:
        notes.append(f"{line.out_of_range} values that are not numbers in range are left out.")
    if len(line.t) == 1:
        notes.append("The run has one interval: each series is one point.")
    v = line.values
    throughput = [
        Panel("requests/s", [Series("requests_per_s", "requests/s", BLUE, v["requests_per_s"])]),
        Panel("flows/s", [Series("flows_per_s", "flows/s", VERMILLION, v["flows_per_s"])]),
    ]
    latency = [
        Panel(
            "ms",
            [
                Series("p50_ms", "p50 of flows (ms)", BLUE, v["p50_ms"]),
                Series("p95_ms", "p95 of flows (ms)", VERMILLION, v["p95_ms"], dash="7 4"),
            ],
        )
    ]
    classes = [
        Series(
            c,
            f"{c}: {CLASS_NOTES[c]}",
            CLASS_COLOURS[c],
            [None if f is None else f[c] for f in line.failures],
        )
        for c in CLASSES
    ]
    failures = [Panel("failures per interval", classes, stacked=True, integer=True)]
    totals = {c: sum(f[c] for f in line.failures if f) for c in CLASSES}
    failure_note = (
        "No failure in any interval."
        if not any(totals.values())
        else "Totals: " + ", ".join(f"{c} {_f(totals[c])}" for c in CLASSES) + "."
    )
    if all(f is None for f in line.failures):
        failure_note = "No failure counts in this time series."
    shared = " ".join(notes)
    return "".join(
        [
            _figure("chart-throughput", "Throughput", line, throughput, shared),
            _figure(
                "chart-latency",
                "Latency",
                line,
                latency,
                "Successful flows ended in each interval.",
            ),
            _figure("chart-failures", "Failures by class", line, failures, failure_note),
        ]
    )


# --- latency per step (the summary's steps, no time) ---


def step_latency(steps: object) -> str:
    """Bars of p50/p95/p99 per step, wide and narrow like the charts over time."""
    if not isinstance(steps, dict):
        return ""
    rows = []
    for name, s in steps.items():
        if not isinstance(s, dict):
            continue
        values = {k: number(s.get(k)) for k in ("p50", "p95", "p99")}
        if values["p99"] is not None and all(v is not None and v >= 0 for v in values.values()):
            rows.append((str(name)[:80], values))
    if not rows:
        return ""
    top = max(v["p99"] for _, v in rows) or 1.0
    title = "Latency per step (ms): p50, p95 and p99 of successful requests"
    legend = (
        '<ul class="legend">'
        + "".join(
            f'<li><svg viewBox="0 0 24 12" aria-hidden="true"><rect x="0" y="{(12 - h) / 2}" '
            f'width="24" height="{h}" fill="{c}"/></svg>{k}</li>'
            for k, c, h in (("p50", "#000091", 4), ("p95", "#6a6af4", 8), ("p99", "#c3c3f7", 12))
        )
        + "</ul>"
    )

    def draw(layout: str) -> str:
        narrow = layout == "narrow"
        width, label, font = (420, 0, 14) if narrow else (1040, 150, 12)
        bar = width - 10 if narrow else 560
        row = 46 if narrow else 26
        height = row * len(rows) + 8
        out = [
            f'<svg class="{layout}" xmlns="http://www.w3.org/2000/svg" width="100%" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{title}" '
            f'font-size="{font}"><title>{title}</title>'
        ]
        for i, (name, v) in enumerate(rows):
            y = 6 + row * i + (20 if narrow else 0)
            figures = f"p50 {v['p50']:.1f} · p95 {v['p95']:.1f} · p99 {v['p99']:.1f} ms"
            if narrow:
                out.append(
                    f'<text x="0" y="{y - 5}"><tspan font-weight="bold">{escape(name)}</tspan> '
                    f"{figures}</text>"
                )
            else:
                out.append(f'<text x="0" y="{y + 14}">{escape(name)}</text>')
            for key, colour, thickness in (
                ("p99", "#c3c3f7", 18),
                ("p95", "#6a6af4", 12),
                ("p50", "#000091", 6),
            ):
                length = max(1.0, v[key] / top * bar)
                out.append(
                    f'<rect x="{label}" y="{y + (18 - thickness) / 2}" width="{length:.1f}" '
                    f'height="{thickness}" fill="{colour}"><title>{escape(name)} {key} '
                    f"{v[key]:.1f} ms</title></rect>"
                )
            if not narrow:
                out.append(f'<text x="{label + bar + 8}" y="{y + 14}">{figures}</text>')
        return "".join(out) + "</svg>"

    return (
        '<figure class="chart" id="latency-chart">'
        + draw("wide")
        + draw("narrow")
        + legend
        + '<p class="note">Successful requests, exact samples.</p></figure>'
    )
