"""The HTML reports, looked at in a real browser: Debian's Chromium driven by Playwright opens
reports/summary.html and the Allure report, checks that their key elements render, and saves
screenshots under reports/screenshots/."""

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

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


def test_summary_page_renders_verdicts_evidence_and_load(chromium, served):
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{served}/summary.html")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "summary-top.png"))
    assert "MUST requirements failed" in page.inner_text("#conformance-verdict")
    assert page.locator("table.requirements tr").count() > 80
    failed = page.locator("td.failed")
    assert failed.count() >= 1 and "OIDCC-3.1.3.7-11" in page.content()
    failure = page.locator("tr", has=page.locator("td.failed")).locator("details").first
    failure.locator("summary").click()
    text = failure.inner_text()
    assert "curl" in text and "POST" in text and "«secret:" in text  # redacted evidence
    assert page.locator("#latency-chart rect").count() >= 3
    assert "Availability" in page.inner_text("#availability")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "summary-failure.png"))
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
