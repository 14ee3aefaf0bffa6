"""pytest's own writers, fed by the plugin: the terminal (the failure text, the summary line, CI's
full messages), junit.xml, summary.json and the Allure results, then summary.html and the
certificate made from that summary. Checks fail, error in a fixture, warn, skip and print with
awkward secrets, codes and tokens (tests/test_redaction_property.py makes their exchanges); no
spelling of any of them may appear, and no message may run on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from psc_testkit.conformance import certification
from psc_testkit.reports import html as report_html
from tests.redaction_scenario import in_baseline, traces
from tests.test_redaction_property import VALUES

ROOT = Path(__file__).resolve().parent.parent
LONG = 100_000  # characters of a message that once went whole into junit.xml

CONFTEST = """
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from psc_testkit.client.evidence import Recorder
from tests.redaction_scenario import record

VALUES = json.loads(Path(__file__).with_name("values.json").read_text(encoding="utf-8"))
EXCHANGES = []


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    recorder = Recorder()
    for triple in VALUES:
        with recorder.capture() as captured:
            record(*triple, recorder=recorder)
        EXCHANGES.append(captured)
    config._psc["harness"] = SimpleNamespace(recorder=recorder)  # what the plugin reads


@pytest.fixture(params=range(len(VALUES)))
def login(request):
    return SimpleNamespace(values=VALUES[request.param], exchanges=EXCHANGES[request.param])


@pytest.fixture
def broken(login):
    secret, code, token = login.values
    raise RuntimeError(f"token request failed: {{'code': {code!r}, 'password': {secret!r}}}")
"""

CHECKS = f"""
import pytest


@pytest.mark.requirement("OIDCC-3.1.3.7-11", "MUST")
def test_fails(login):
    secret, code, token = login.values
    assert {{"code": code, "refresh_token": token}} == {{"code": secret}}, f"Expected: {{secret!r}}"


@pytest.mark.requirement("OIDCC-3.1.3.7-3", "SHOULD")
def test_warns_at_length(login):
    secret, code, token = login.values
    raise AssertionError(f"broken keys: code={{code}} " + "x" * {LONG} + f" {{token}}")


@pytest.mark.requirement("OIDCC-3.1.3.7-2", "MUST")
def test_errors(broken):
    pass


@pytest.mark.requirement("OIDCC-3.1.3.7-6", "MUST")
def test_prints(login):
    print("tokens:", login.values)  # captured: Allure attaches it, junit keeps it


@pytest.mark.requirement("OIDCC-3.1.3.7-7", "MUST")
def test_skips(login):
    pytest.skip(f"no session for code={{login.values[1]}}")


@pytest.mark.requirement("OIDCC-3.1.3.7-8", "MUST")
def test_fails_through_pytest_fail(login):
    pytest.fail(f"password={{login.values[0]}} and {{login.values[2]}}")
"""

TRIPLES = st.lists(st.tuples(VALUES, VALUES, VALUES), min_size=4, max_size=4)


def run_checks(folder: Path, triples: list) -> tuple[str, Path]:
    (folder / "values.json").write_text(json.dumps(triples), encoding="utf-8")
    (folder / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (folder / "test_checks.py").write_text(textwrap.dedent(CHECKS), encoding="utf-8")
    reports = folder / "reports"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(folder),
        "-p",
        "psc_testkit.conformance.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(folder),
        "--target",
        str(ROOT / "targets" / "simulator.toml"),
        "--summary",
        str(reports / "summary.json"),
        "--junitxml",
        str(reports / "junit.xml"),
        "-o",
        "junit_family=xunit2",
        "-o",
        "junit_logging=all",
        "--alluredir",
        str(reports / "allure-results"),
        "--tb=short",
        "-rA",
    ]
    # CI=1: pytest then prints each failure's whole message in its summary line.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "1", "COLUMNS": "100"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr, reports


def outputs(folder: Path, triples: list) -> dict[str, str]:
    terminal, reports = run_checks(folder, triples)
    texts = {"terminal": terminal}
    texts |= {
        str(p.relative_to(reports)): p.read_text(encoding="utf-8", errors="replace")
        for p in reports.rglob("*")
        if p.is_file()
    }
    summary = json.loads(texts["summary.json"])
    texts["summary.html"] = report_html.render(summary, None)
    written = certification.write(certification.build(summary, None), folder / "certificate")
    texts |= {p.name: p.read_text(encoding="utf-8") for p in written}
    return texts


@settings(
    max_examples=1,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(triples=TRIPLES)
@example(triples=[("Hunter2+pass/word=", "c0de+/=&%\\é x", "t0k/+=€\"'<>")] * 4)
def test_no_writer_shows_a_secret_or_runs_on(tmp_path_factory, triples):
    values = [v for triple in triples for v in triple]
    if in_baseline(values):
        triples = [("Hunter2+pass/word=", "c0de+/=&%\\é x", "t0k/+=€\"'<>")] * 4
        values = [v for triple in triples for v in triple]
    texts = outputs(tmp_path_factory.mktemp("writers"), triples)
    assert any(name.endswith("-result.json") for name in texts), sorted(texts)
    found = [
        (name, s)
        for name, s in traces(texts, values)
        # Allure names files by uuid and certificates carry digests: hex, which a hex-only
        # value may meet by chance.
        if not all(c in "0123456789abcdef-" for c in s)
    ]
    assert not found, found[:5]
    summary = json.loads(texts["summary.json"])
    for check in summary["checks"]:
        assert len(check["message"]) <= 2000, (check["check"], len(check["message"]))
    warned = [c for c in summary["checks"] if "warns_at_length" in c["check"]]
    assert warned and all("characters more)" in c["message"] for c in warned)
    for name, text in texts.items():
        longest = max((len(line) for line in text.splitlines()), default=0)
        # A JSON file is one line per value; no value, and no terminal line, runs on.
        assert longest < LONG, (name, longest)
