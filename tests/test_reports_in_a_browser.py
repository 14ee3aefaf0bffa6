"""The HTML reports, looked at in a real browser: Debian's Chromium driven by Playwright opens
reports/summary.html and the Allure report, checks that their key elements render, and saves
screenshots under reports/screenshots/."""

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from psc_testkit.reports.html import natural
from tests.cli import psc_testkit

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "reports" / "screenshots"

pytestmark = [
    # One worker renders both reports: the module's run and its browser, once.
    pytest.mark.xdist_group("reports-in-a-browser"),
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed here (.ci/run installs it)"
    ),
]


run = psc_testkit


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    assert (
        run("conformance", "--defect", "nonce-not-echoed", "--reports", str(folder)).returncode == 1
    )
    assert (
        run(
            "load",
            "--run-time",
            "5s",
            "--users",
            "12",
            "--think",
            "0.3",
            "--reports",
            str(folder / "load"),
        ).returncode
        == 0
    )
    assert run("report", "--reports", str(folder)).returncode == 0
    return folder


@pytest.fixture(scope="module")
def served(reports):
    """The reports over HTTP on loopback: the Allure report fetches its data files."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(reports))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("width", [1400, 400])
def test_the_first_screen_names_the_failure_and_links_to_its_evidence(chromium, served, width):
    """At a desktop's width and a phone's, the first screen names the failed requirement and
    links to its evidence; the link lands on it; nothing is wider than the screen."""
    page = chromium.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{served}/summary.html")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"summary-top-{width}.png"))
    assert "OIDCC-3.1.3.7-11" in page.inner_text("#conformance-verdict")
    link = page.locator("#failures-index a").first
    assert "OIDCC-3.1.3.7-11" in link.inner_text()
    box = link.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 900, box  # on the first screen
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    link.click()
    article = page.locator("article.failure").first
    top = article.evaluate("e => e.getBoundingClientRect().top")
    assert -2 <= top < 200, top  # the evidence is where the link went
    page.screenshot(path=str(SHOTS / f"summary-failure-{width}.png"))
    text = article.inner_text()
    assert "Expected" in text and "Actual" in text and "If present in the Authentication" in text
    assert article.locator("pre.exchange").count() >= 1 and "«secret:" in text
    assert article.locator("pre.jwt-claims").count() >= 1  # the ID token, decoded
    replays = article.locator("pre.replay-command").all_inner_texts()
    assert replays and all("«" not in r and "--cacert" in r for r in replays)
    assert "${ACCESS_TOKEN}" in "".join(replays)
    for pre in article.locator("pre").all():  # wrapped to the page, not scrolled sideways
        assert pre.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    page.close()


def test_requirements_are_in_natural_order_and_collapsible(chromium, served):
    page = chromium.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{served}/summary.html")
    for table in page.locator("details.spec table.requirements").all():
        ids = [
            i.removeprefix("req-")
            for i in table.locator("tr[id]").evaluate_all("rows => rows.map(r => r.id)")
        ]
        assert ids == sorted(ids, key=natural)
    specs = page.locator("details.spec")
    closed = specs.evaluate_all("all => all.findIndex(d => !d.open)")
    passed_spec = specs.nth(closed)  # the first spec whose requirements all held: closed
    assert closed >= 0 and not passed_spec.locator("table").is_visible()
    passed_spec.locator("summary").click()
    assert passed_spec.locator("table").is_visible()
    assert page.locator("table.requirements tr[id]").count() > 80
    page.close()


def test_the_page_prints_everything(chromium, served, tmp_path):
    """Printed, closed sections open (an auditor's paper copy holds every requirement)."""
    page = chromium.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{served}/summary.html")
    page.emulate_media(media="print")
    assert page.locator("details.spec:not([open]) table").first.is_visible()
    page.pdf(path=str(tmp_path / "summary.pdf"))
    assert (tmp_path / "summary.pdf").stat().st_size > 10_000
    page.close()


def test_the_load_section_says_which_run_it_comes_from(chromium, served):
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{served}/summary.html")
    origin = page.inner_text("#load-run")
    assert "This load run: target simulator, started" in origin
    assert "separate run from the conformance run above" in origin
    assert page.locator("#latency-chart rect").count() >= 3
    assert "Availability" in page.inner_text("#availability")
    page.locator("#latency-chart").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "summary-load.png"))
    page.close()


def test_allure_report_renders_the_run(chromium, served, reports):
    if not (reports / "allure-report" / "index.html").exists():
        pytest.skip("the Allure command line is not installed (make report installs it)")
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{served}/allure-report/index.html")
    page.wait_for_selector("text=test cases", timeout=30_000)
    assert page.locator(".widget").count() >= 3
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "allure-overview.png"))
    page.goto(f"{served}/allure-report/index.html#behaviors")
    page.wait_for_selector("text=OpenID Connect Core 1.0", timeout=30_000)
    page.screenshot(path=str(SHOTS / "allure-behaviors.png"))
    page.close()
