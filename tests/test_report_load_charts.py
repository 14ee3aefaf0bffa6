"""The load section of reports/summary.html: the charts over time (throughput, latency,
failures by class) drawn as inline SVG from handcrafted summaries, the verdict fields of the
header, and one look in Chromium at a desktop's and a phone's width."""

import itertools
import math
import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from psc_testkit.reports import charts
from psc_testkit.reports.html import load_section, render
from tests.test_reports_in_a_browser import SHOTS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SVG = "{http://www.w3.org/2000/svg}"


def point(t, flows=15.0, requests=160.0, p50=28.1, p95=51.0, failures=None):
    return {
        "t": t,
        "flows": 30,
        "flows_per_s": flows,
        "requests_per_s": requests,
        "p50_ms": p50,
        "p95_ms": p95,
        "failures": failures or {"provider": 0, "protocol": 0, "tool": 0},
    }


def summary(points=None, interval=2.0, **fields):
    base = {
        "target": "simulator",
        "discovery_url": "https://127.0.0.1:8443/.well-known/openid-configuration",
        "users": 10,
        "planned_run_time_s": 30.0,
        "duration_s": 29.8,
        "interrupted": False,
        "verdict": "PASSED",
        "verdict_reason": "every SLO holds, availability proven",
        "flows": {
            "first-login": {
                "count": 300,
                "failures": 3,
                "p50": 28.1,
                "p95": 51.0,
                "p99": 70.0,
                "avg": 30.0,
                "max": 90.0,
                "failure_reasons": {"timeout": 3},
                "failures_by_class": {"provider": 2, "protocol": 1, "tool": 0},
            }
        },
        "steps": {
            "authorize": {"count": 300, "failures": 0, "p50": 5.0, "p95": 9.0, "p99": 12.0},
            "token": {"count": 300, "failures": 0, "p50": 8.0, "p95": 15.0, "p99": 22.0},
        },
        "throughput": {"flows_per_s": 17.3, "requests_per_s": 179.8},
        "failures_by_class": {"provider": 2, "protocol": 1, "tool": 0},
        "availability": {
            "successes": 297,
            "attempts": 300,
            "ratio": 0.99,
            "target": 0.999,
            "wilson_95": [0.97, 0.997],
            "verdict": "not proven",
        },
        "slos": [{"slo": "p95(first-login)<=800ms", "measured": 51.0, "verdict": "pass"}],
        "passed": True,
    }
    if points is not None:
        base["timeline"] = {"interval_s": interval, "points": points}
    base.update(fields)
    return base


def run_points(n=15):
    """A run of n intervals with some failures, a latency gap at 9 and varying rates."""
    return [
        point(
            2.0 * i,
            flows=15 + i % 4,
            requests=150 + 7 * (i % 5),
            p50=None if i == 9 else 28 + i % 3,
            p95=None if i == 9 else 50 + 3 * (i % 4),
            failures={"provider": int(i in (5, 6)), "protocol": 2 * (i == 6), "tool": int(i == 12)},
        )
        for i in range(n)
    ]


def svgs(html: str, layout: str = "wide") -> dict[str, ET.Element]:
    """The charts' SVG elements by id (each must be well-formed XML on its own)."""
    found = {}
    for text in re.findall(r"<svg\b.*?</svg>", html, re.S):
        element = ET.fromstring(text)
        if element.get("id", "").endswith(f"-{layout}"):
            found[element.get("id").removesuffix(f"-{layout}")] = element
    return found


def path_of(svg: ET.Element, series: str) -> ET.Element:
    (group,) = [g for g in svg.iter(f"{SVG}g") if g.get("data-series") == series]
    return group.find(f"{SVG}path")


def pieces(d: str) -> list[list[tuple[float, float]]]:
    """A path's d as its pieces (one per M), each a list of points."""
    out: list[list[tuple[float, float]]] = []
    for command, x, y in re.findall(r"([ML])(-?[\d.]+) (-?[\d.]+)", d):
        if command == "M":
            out.append([])
        out[-1].append((float(x), float(y)))
    return out


def texts(svg: ET.Element, cls: str) -> list[str]:
    return [t.text for t in svg.iter(f"{SVG}text") if cls in (t.get("class") or "").split()]


def ticks(svg: ET.Element, axis: str) -> list[list[float]]:
    return [
        [float(v) for v in g.get("data-ticks").split()]
        for g in svg.iter(f"{SVG}g")
        if g.get("class") == axis
    ]


def assert_nice(values: list[float]) -> None:
    """Equally spaced multiples of a step that is 1, 2 or 5 times a power of ten."""
    step = (values[-1] - values[0]) / (len(values) - 1)
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 5, 10)), values
    for a, b in itertools.pairwise(values):
        assert math.isclose(b - a, step, rel_tol=1e-6), values
    assert all(math.isclose(v / step, round(v / step), abs_tol=1e-6) for v in values), values


# --- nice numbers ---


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 17.3, [0, 5, 10, 15, 20]),
        (0, 179.8, [0, 50, 100, 150, 200]),
        (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0, 3.7e9, [0, 1e9, 2e9, 3e9, 4e9]),
        (0, 0.0123, [0, 0.005, 0.01, 0.015]),
        (-3, 7, [-4, -2, 0, 2, 4, 6, 8]),
    ],
)
def test_nice_ticks(low, high, expected):
    assert charts.nice_ticks(low, high, 5) == pytest.approx(expected)


@given(
    st.floats(0, 1e12, allow_nan=False),
    st.floats(0, 1e12, allow_nan=False),
    st.integers(2, 10),
)
@example(0.0, 5e-324, 2)  # a subnormal range: its power of ten underflowed to 0 once
def test_nice_ticks_cover_the_range_with_a_nice_step(below, above, count):
    """Ranges as the charts have them: from at most 0 to at least 0."""
    low, high = -below, above
    values = charts.nice_ticks(low, high, count)
    assert values[0] <= low and values[-1] >= high
    assert 2 <= len(values) <= 2 * count + 2
    assert_nice(values)


def test_integer_ticks_and_labels():
    assert charts.nice_ticks(0, 1, 4, integer=True) == [0, 1]
    assert charts.tick_labels([0, 1e9, 2e9]) == ["0G", "1G", "2G"]
    assert charts.tick_labels([0, 20000, 40000]) == ["0k", "20k", "40k"]
    assert charts.tick_labels([0, 0.5, 1]) == ["0.0", "0.5", "1.0"]
    assert charts.tick_labels([0, 5, 10]) == ["0", "5", "10"]


# --- the charts over time ---


def test_each_series_is_one_path_with_a_point_per_interval_and_labelled_axes():
    html = render(None, summary(run_points(15)))
    for layout in ("wide", "narrow"):
        found = svgs(html, layout)
        assert set(found) == {"chart-throughput", "chart-latency", "chart-failures"}
        for chart_id, svg in found.items():
            assert svg.get("width") == "100%" and svg.get("viewBox")
            assert svg.get("role") == "img" and svg.get("aria-label")
            assert svg.find(f"{SVG}title").text and svg.find(f"{SVG}desc").text
            assert texts(svg, "x-label") == ["s since start"], chart_id
        throughput = found["chart-throughput"]
        assert texts(throughput, "y-label") == ["requests/s", "flows/s"]
        for series in ("requests_per_s", "flows_per_s"):
            path = path_of(throughput, series)
            assert path.get("data-points") == "15"
            (piece,) = pieces(path.get("d"))  # no gap: one piece
            assert len(piece) == 15
            assert [x for x, _ in piece] == sorted(x for x, _ in piece)
        assert texts(found["chart-latency"], "y-label") == ["ms"]
        assert texts(found["chart-failures"], "y-label") == ["failures per interval"]
    # x from 0 to the end of the last interval (30 s), ticks nice, labelled once at the bottom.
    wide = svgs(html)["chart-throughput"]
    x_ticks = ticks(wide, "x-axis")
    assert x_ticks[0] == x_ticks[1] and x_ticks[0][0] == 0 and x_ticks[0][-1] <= 29.8
    assert_nice(x_ticks[0])
    assert ticks(wide, "y-axis") == [[0, 50, 100, 150, 200], [0, 5, 10, 15, 20]]
    legend = re.search(r'id="chart-latency".*?<ul class="legend">(.*?)</ul>', html, re.S)
    assert "p50 of flows (ms)" in legend.group(1) and "p95 of flows (ms)" in legend.group(1)


def test_points_lie_in_their_interval_and_inside_the_drawing():
    html = render(None, summary(run_points(15)))
    svg = svgs(html)["chart-throughput"]
    width, height = (float(v) for v in svg.get("viewBox").split()[2:])
    (piece,) = pieces(path_of(svg, "flows_per_s").get("d"))
    left = charts.WIDE.left
    plot = width - charts.WIDE.left - charts.WIDE.right
    for i, (x, y) in enumerate(piece):
        # The middle of the interval [2i, 2i + 2) on an axis from 0 to the run's 29.8 s; the
        # last interval, [28, 29.8), is a short one.
        middle = 2 * i + 1 if i < 14 else (28 + 29.8) / 2
        assert x == pytest.approx(left + middle / 29.8 * plot, abs=0.1)
        assert 0 <= y <= height
    assert x == pytest.approx(left + plot - 0.9 / 29.8 * plot, abs=0.1)
    # Without a duration (or one past the last interval) the axis ends with the last interval.
    older = svgs(render(None, summary(run_points(15), duration_s=None)))["chart-throughput"]
    last = pieces(path_of(older, "flows_per_s").get("d"))[0][-1]
    assert last[0] == pytest.approx(left + 29 / 30 * plot, abs=0.1)


def test_a_none_or_a_missing_interval_breaks_the_line():
    html = render(None, summary(run_points(15)))
    latency = svgs(html)["chart-latency"]
    for series in ("p50_ms", "p95_ms"):
        path = path_of(latency, series)
        assert [len(p) for p in pieces(path.get("d"))] == [9, 5]  # None at interval 9
        assert path.get("data-points") == "14"
    # Intervals 5 to 7 are missing (t jumps from 8 to 16 s): no line over them.
    points = [point(2.0 * i) for i in (0, 1, 2, 3, 4, 8, 9, 10)]
    svg = svgs(render(None, summary(points)))["chart-throughput"]
    assert [len(p) for p in pieces(path_of(svg, "flows_per_s").get("d"))] == [5, 3]


def test_a_point_alone_gets_a_dot():
    points = [point(0.0), point(2.0, p50=None), point(4.0), point(6.0, p50=None)]
    latency = svgs(render(None, summary(points)))["chart-latency"]
    group = next(g for g in latency.iter(f"{SVG}g") if g.get("data-series") == "p50_ms")
    assert [len(p) for p in pieces(group.find(f"{SVG}path").get("d"))] == [1, 1]
    assert len(group.findall(f"{SVG}circle")) == 2
    p95 = next(g for g in latency.iter(f"{SVG}g") if g.get("data-series") == "p95_ms")
    assert not p95.findall(f"{SVG}circle")  # joined points get none


def test_one_point():
    html = render(None, summary([point(0.0, failures={"provider": 1, "protocol": 0, "tool": 0})]))
    found = svgs(html)
    path = path_of(found["chart-throughput"], "flows_per_s")
    assert path.get("data-points") == "1" and len(pieces(path.get("d"))[0]) == 1
    assert found["chart-throughput"].find(f".//{SVG}circle") is not None
    assert ticks(found["chart-throughput"], "x-axis")[0][0] == 0
    assert "each series is one point" in html
    assert len(found["chart-failures"].findall(f".//{SVG}rect")) == 1


def test_all_zeros():
    points = [point(2.0 * i, flows=0, requests=0, p50=0, p95=0) for i in range(5)]
    html = render(None, summary(points))
    found = svgs(html)
    assert ticks(found["chart-throughput"], "y-axis")[0] == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert ticks(found["chart-failures"], "y-axis") == [[0, 1]]  # counts: whole numbers
    assert not found["chart-failures"].findall(f".//{SVG}rect")
    assert "No failure in any interval." in html
    assert path_of(found["chart-latency"], "p50_ms").get("data-points") == "5"


def test_huge_values_get_nice_ticks_with_a_suffix_and_stay_in_the_drawing():
    points = [point(2.0 * i, requests=3.7e9 * (i + 1) / 10, p95=7.2e6) for i in range(10)]
    found = svgs(render(None, summary(points)))
    svg = found["chart-throughput"]
    requests_ticks = ticks(svg, "y-axis")[0]
    assert_nice(requests_ticks)
    assert requests_ticks[-1] >= 3.7e9 > requests_ticks[-2]
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.text and t.text.endswith("G")]
    assert "4G" in labels and all(len(label) <= 5 for label in labels)
    height = float(svg.get("viewBox").split()[3])
    for _, y in pieces(path_of(svg, "requests_per_s").get("d"))[0]:
        assert 0 <= y <= height
    assert "8M" in [t.text for t in found["chart-latency"].iter(f"{SVG}text")]


def test_garbage_in_a_timeline_is_a_gap_not_a_crash():
    points = [
        point(0.0),
        point(2.0, flows="many", requests=float("nan"), p50=True, p95=1e300),
        "not a point",
        {"flows_per_s": 3},  # no t
        point(4.0, failures="none"),
        point(6.0),
    ]
    html = render(None, summary(points, interval="two"))
    found = svgs(html)
    assert path_of(found["chart-throughput"], "flows_per_s").get("data-points") == "3"
    assert [len(p) for p in pieces(path_of(found["chart-latency"], "p95_ms").get("d"))] == [1, 2]
    assert "2 points without a time are left out" in html
    assert "4 values that are not numbers in range are left out" in html


def test_a_long_run_is_merged_to_a_bounded_number_of_points():
    points = [
        point(2.0 * i, failures={"provider": 1, "protocol": 0, "tool": 0}) for i in range(5000)
    ]
    html = render(None, summary(points))
    path = path_of(svgs(html)["chart-throughput"], "flows_per_s")
    assert int(path.get("data-points")) == 1667  # 3 intervals per point
    assert len(pieces(path.get("d"))) == 1
    assert "3 consecutive intervals are merged into each point" in html
    assert "Totals: provider 5000, protocol 0, tool 0." in html
    assert len(html) < 1_500_000


def test_no_timeline_says_so():
    for s in (summary(), summary([]), summary(timeline="garbage")):
        html = load_section(s)
        assert "No time series in this run." in html
        assert "chart-throughput" not in html
        assert 'id="latency-chart"' in html  # the latency per step stays


# --- the header ---


def test_header_shows_verdict_reason_throughput_failures_and_interruption():
    html = load_section(
        summary(
            run_points(3),
            verdict="BREACHED",
            verdict_reason="p95(first-login)<=50ms measured 61.0 ms <b>",
            interrupted=True,
            passed=False,
        )
    )
    assert '<p class="verdict ko" id="load-verdict"><strong id="load-verdict-word">BREACHED' in html
    assert "measured 61.0 ms &lt;b&gt;" in html
    assert '<span id="load-throughput">17.3 flows/s · 179.8 requests/s</span>' in html
    failures = re.search(r'<span id="load-failures">(.*?)</span></td>', html).group(1)
    assert re.sub("<[^>]+>", "", failures) == "provider 2 · protocol 1 · tool 0"
    assert 'id="load-interrupted"' in html and "(interrupted)" in html
    assert "provider 2 · protocol 1 · tool 0" in re.sub("<[^>]+>", "", html)  # flow row
    quiet = load_section(summary(run_points(3)))
    assert 'class="verdict ok"' in quiet and "PASSED" in quiet
    assert "interrupted" not in quiet.lower()
    for word, cls in (("INCONCLUSIVE", "unsure"), ("STOPPED", "unsure"), ("INVALID", "ko")):
        assert f'class="verdict {cls}"' in load_section(summary(verdict=word))


def test_an_older_summary_still_renders():
    old = summary(passed=False)
    for key in ("verdict", "verdict_reason", "throughput", "failures_by_class"):
        del old[key]
    del old["flows"]["first-login"]["failures_by_class"]
    html = load_section(old)
    assert "BREACHED" in html and "SLO breached" in html
    assert "load-throughput" not in html and "load-failures" not in html
    assert "No time series in this run." in html and "Availability" in html
    assert "PASSED" in load_section({**old, "passed": True})
    assert "Unreadable summary" in render(None, ["not", "a", "dict"])


# --- in a browser ---


@pytest.mark.xdist_group("reports-in-a-browser")
@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed here (.ci/run installs it)"
)
@pytest.mark.parametrize(("width", "layout"), [(1400, "wide"), (400, "narrow")])
def test_charts_fit_the_page_in_chromium(chromium, tmp_path, width, layout):
    page_file = tmp_path / "summary.html"
    page_file.write_text(
        render(
            None,
            summary(
                run_points(15),
                verdict="BREACHED",
                verdict_reason="p95(first-login)<=50ms: measured 59.0 ms",
                interrupted=True,
            ),
        ),
        encoding="utf-8",
    )
    page = chromium.new_page(viewport={"width": width, "height": 900})
    page.goto(page_file.as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no overflow
    for chart_id in ("chart-throughput", "chart-latency", "chart-failures", "latency-chart"):
        figure = page.locator(f"#{chart_id}")
        figure.scroll_into_view_if_needed()
        svg = figure.locator(f"svg.{layout}")
        other = figure.locator(f"svg.{'narrow' if layout == 'wide' else 'wide'}")
        assert svg.is_visible() and not other.is_visible()
        box = svg.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width and box["height"] > 50
        if chart_id == "latency-chart":
            continue
        labels = svg.locator("text.axis-label")
        assert labels.count() >= 2
        for i in range(labels.count()):
            label = labels.nth(i).bounding_box()
            # Drawn, inside the chart, and big enough to read (≥ 9 px high).
            assert label["height"] >= 9, (chart_id, label)
            assert box["x"] <= label["x"] and label["x"] + label["width"] <= box["x"] + box["width"]
            assert (
                box["y"] <= label["y"] and label["y"] + label["height"] <= box["y"] + box["height"]
            )
        assert "s since start" in svg.locator("text.x-label").text_content()
        assert svg.locator("path[data-points]").count() >= 1 or chart_id == "chart-failures"
    assert "BREACHED" in page.inner_text("#load-verdict")
    page.locator("#load").screenshot(path=str(SHOTS / f"load-chart-{width}.png"))
    page.close()
