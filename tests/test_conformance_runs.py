"""`psc-testkit conformance` as users run it: against a target that is not the embedded
simulator's own profile (the generic html_form driver), and SHOULD versus --strict."""

import json
import subprocess
import sys
from pathlib import Path

from tests.html_form_profile import SECRET_ENV, html_form_profile

ROOT = Path(__file__).resolve().parent.parent


def conformance(*args: str, reports: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "psc_testkit", "conformance", "--reports", str(reports), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_another_target_with_the_html_form_driver(own_simulator, tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "sim-basic-6f1d2c9a4e")
    profile = html_form_profile(own_simulator, tmp_path / "provider.toml")
    result = conformance("--target", str(profile), reports=tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    bad = [
        (c["check"], c["message"]) for c in summary["checks"] if c["verdict"] in ("failed", "error")
    ]
    assert not bad and result.returncode == 0, result.stdout[-4000:]
    assert summary["counts"]["passed"] >= 150
    # What needs the simulator's phone or a driver that picks the means of login is skipped.
    skipped = {c["check"].split("::")[1] for c in summary["checks"] if c["verdict"] == "skipped"}
    assert "test_denied_request_is_access_denied" in skipped
    # No secret reached the reports.
    for name in ("summary.json", "junit.xml"):
        assert "sim-basic-6f1d2c9a4e" not in (tmp_path / name).read_text()


def test_should_failures_warn_unless_strict(tmp_path):
    lenient = conformance("--defect", "token-pragma-missing", reports=tmp_path / "a")
    assert lenient.returncode == 0, lenient.stdout[-2000:]
    assert "SHOULD-level warnings" in lenient.stdout and "RFC6749-5.1" in lenient.stdout
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["requirements"]["RFC6749-5.1"]["verdict"] == "warning"
    strict = conformance("--defect", "token-pragma-missing", "--strict", reports=tmp_path / "b")
    assert strict.returncode == 1


def test_unknown_profile_is_a_usage_error(tmp_path):
    result = conformance("--target", str(tmp_path / "missing.toml"), reports=tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()  # one line, before any check
    assert "profile error" in line and "missing.toml" in line
