"""Exit codes that mean something, and one cause in one line (DESIGN.md): 0 every MUST holds,
1 a MUST failed, 2 usage or profile error, 3 target unreachable or a prerequisite broken.
What makes every check meaningless stops `psc-testkit conformance` before the checks with one
line on stderr; the terminal ends with a `verdict:` line; the terminal, junit.xml and
summary.json agree on every count.

Every run here is a real one: `python -m psc_testkit conformance` as a child, against the real
simulator or a real closed port."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.measure import run_measured

ROOT = Path(__file__).resolve().parent.parent
CLIENT = """
[[clients]]
client_id = "psc-testkit-basic"
auth_method = "client_secret_basic"
client_secret = "sim-basic-6f1d2c9a4e"
redirect_uri = "http://127.0.0.1:8080/callback"
"""


def conformance(reports: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "psc_testkit", "conformance", "--reports", str(reports), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def summary_of(reports: Path) -> dict:
    return json.loads((reports / "summary.json").read_text(encoding="utf-8"))


def assert_stopped(result: subprocess.CompletedProcess, reports: Path, code: int) -> str:
    """Stopped before the checks: `code`, one line on stderr, no check run, a fresh summary
    that says why; returns the line."""
    output = result.stdout + result.stderr
    assert result.returncode == code, output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("psc-testkit conformance: ")
    assert result.stdout.strip().splitlines()[-1].startswith("verdict: STOPPED before the checks")
    assert lines[0].split(": ", 1)[1] not in result.stdout  # said once (no "!!! Exit" banner)
    summary = summary_of(reports)
    assert summary["exit_code"] == code and summary["checks"] == []
    assert summary["stopped"] == {"reason": lines[0], "exit_code": code, "before_checks": True}
    return lines[0]


def stale_reports(reports: Path) -> None:
    """What a previous run left: a stopped run must not leave it standing for itself."""
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "summary.json").write_text('{"counts": {"passed": 214}, "checks": []}')
    (reports / "junit.xml").write_text('<testsuites><testsuite tests="214"/></testsuites>')


def test_a_missing_profile_is_one_line_and_exit_2(tmp_path):
    stale_reports(tmp_path)
    result = conformance(tmp_path, "--target", str(tmp_path / "missing.toml"))
    line = assert_stopped(result, tmp_path, 2)
    assert "profile error" in line and "missing.toml" in line
    assert (
        not (tmp_path / "junit.xml").exists()
        or 'tests="214"' not in (tmp_path / "junit.xml").read_text()
    )


def test_a_profile_with_a_syntax_error_is_exit_2(tmp_path):
    profile = tmp_path / "broken.toml"
    profile.write_text('[target\nname = "x"\n')
    line = assert_stopped(conformance(tmp_path, "--target", str(profile)), tmp_path, 2)
    assert "not valid TOML" in line


def test_an_unknown_defect_says_which_was_meant(tmp_path):
    result = conformance(tmp_path, "--defect", "nonce-not-echo")
    line = assert_stopped(result, tmp_path, 2)
    assert "unknown defect 'nonce-not-echo'" in line
    assert "did you mean nonce-not-echoed?" in line


def test_a_simulator_that_does_not_start_is_one_line(tmp_path):
    """The simulator cannot listen where it is told to (PSC_SIMULATOR_ARGS, a busy port): it
    exits 2, a usage error, and so does the run, with the simulator's own line."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "PSC_SIMULATOR_ARGS": f"--port {port}"}
        result = subprocess.run(
            [sys.executable, "-m", "psc_testkit", "conformance", "--reports", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    line = assert_stopped(result, tmp_path, 2)
    assert "the simulator did not start" in line and "cannot listen" in line


def closed_port() -> int:
    """A port on 127.0.0.1 that nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_target_is_one_line_and_exit_3_in_seconds(tmp_path):
    port = closed_port()
    profile = tmp_path / "closed.toml"
    profile.write_text(
        f'[target]\nname = "closed"\n'
        f'discovery_url = "http://127.0.0.1:{port}/.well-known/openid-configuration"\n'
        f'[driver]\nusers = ["899700000005"]\n{CLIENT}'
    )
    stale_reports(tmp_path)
    command = [sys.executable, "-m", "psc_testkit", "conformance", "--reports", str(tmp_path)]
    result = run_measured([*command, "--target", str(profile)], cwd=ROOT, timeout=120)
    assert not result.timed_out
    line = assert_stopped(result, tmp_path, 3)
    assert "target unreachable" in line and "cannot connect" in line and str(port) in line
    junit = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert junit is not None and junit.get("tests") == "0"  # this run's, not the stale one
    # Collection and one refused connection: ~2 s of CPU (the wall time is as long as a
    # loaded box makes it), not a run of 225 checks.
    assert result.cpu_seconds < 8, f"{result.cpu_seconds:.1f} s of CPU"
    assert result.seconds < 60, f"{result.seconds:.1f} s"


# Verdicts and counts --------------------------------------------------------------------------

STATS = re.compile(r"(\d+) (failed|passed|skipped|errors?|warned|noted)\b")
TERMINAL_NAMES = {"error": "error", "errors": "error", "warned": "warning", "noted": "info"}


def terminal_counts(stdout: str) -> dict[str, int]:
    """pytest's statistics line ("1 failed, 212 passed, 1 warned, 1 skipped in 30.1s")."""
    line = next(line for line in reversed(stdout.splitlines()) if re.search(r" in [\d.]+s\b", line))
    counts = dict.fromkeys(("failed", "error", "warning", "info", "passed", "skipped"), 0)
    for number, name in STATS.findall(line):
        counts[TERMINAL_NAMES.get(name, name)] += int(number)
    return counts


def verdict_counts(stdout: str) -> tuple[str, dict[str, int], dict[str, int]]:
    line = stdout.strip().splitlines()[-1]
    assert line.startswith("verdict: "), stdout[-2000:]
    requirements, checks = line.split(": ", 2)[2].split("; ")
    number = {name: int(n) for n, name in re.findall(r"(\d+) ([a-z ]+?)(?:,|$)", checks)}
    number.pop("not run", None)
    required = {name: int(n) for n, name in re.findall(r"(\d+) ([a-z ]+?)(?:,|$)", requirements)}
    return line, required, number


def junit_counts(path: Path) -> dict[str, int]:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    tests, failures, errors, skipped = (
        int(suite.get(name, "0")) for name in ("tests", "failures", "errors", "skipped")
    )
    return {
        "failed": failures,
        "error": errors,
        "skipped": skipped,
        "passed+warning": tests - failures - errors - skipped,
    }


def assert_counts_agree(result: subprocess.CompletedProcess, reports: Path) -> dict:
    summary = summary_of(reports)
    counts = summary["counts"]
    assert terminal_counts(result.stdout) == counts, result.stdout[-1500:]
    assert junit_counts(reports / "junit.xml") == {
        "failed": counts["failed"],
        "error": counts["error"],
        "skipped": counts["skipped"],
        "passed+warning": counts["passed"] + counts["warning"] + counts["info"],
    }
    line, required, checks = verdict_counts(result.stdout)
    assert line == summary["verdict"]
    assert checks == {
        "passed": counts["passed"],
        "failed": counts["failed"],
        "errors": counts["error"],
        "warned": counts["warning"],
        "skipped": counts["skipped"],
    }
    by_requirement = summary["requirement_counts"]
    assert required == {
        "passed": by_requirement["passed"],
        "failed": by_requirement["failed"],
        "warned": by_requirement["warning"],
        "not checked": by_requirement["error"] + by_requirement["skipped"],
    }
    verdicts = [r["verdict"] for r in summary["requirements"].values()]
    assert by_requirement == {v: verdicts.count(v) for v in by_requirement}
    assert sum(counts.values()) == len(summary["checks"])
    return summary


def test_a_must_failure_is_exit_1_and_every_count_agrees(tmp_path):
    """A MUST defect and a SHOULD defect together: one failure, one warning; the terminal's
    statistics, its verdict line, junit.xml and summary.json say the same numbers."""
    result = conformance(
        tmp_path, "--defect", "nonce-not-echoed", "--defect", "token-pragma-missing"
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert result.stderr.strip() == "", result.stderr[-2000:]
    summary = assert_counts_agree(result, tmp_path)
    assert summary["exit_code"] == 1 and summary["stopped"] is None
    assert summary["counts"]["failed"] >= 1 and summary["counts"]["warning"] >= 1
    assert summary["verdict"].startswith("verdict: FAILED (exit 1): ")


def test_a_clean_run_is_exit_0(tmp_path):
    result = conformance(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    summary = assert_counts_agree(result, tmp_path)
    assert summary["exit_code"] == 0 and summary["counts"]["passed"] >= 150
    assert summary["counts"]["failed"] == summary["counts"]["error"] == 0


def test_an_interrupted_run_is_inconclusive_exit_4(tmp_path):
    """Ctrl-C once the checks run: exit 4 (inconclusive), with the summary of what ran."""
    command = [sys.executable, "-m", "psc_testkit", "conformance", "--reports", str(tmp_path)]
    # Unbuffered: each dot reaches the pipe as pytest writes it, not in a block at the end
    # (with a 4 KiB buffer the run could be over before three dots were read).
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    seen = ""
    while child.poll() is None and seen.count(".") < 3:  # the first checks have passed
        seen += child.stdout.read(1)
    time.sleep(0.2)  # inside a later check, not on the boundary pytest writes a dot at
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 4, (seen + out)[-3000:]
    summary = summary_of(tmp_path)
    assert summary["exit_code"] == 4 and summary["stopped"] is None
    assert (seen + out).strip().splitlines()[-1].startswith("verdict: INCONCLUSIVE (exit 4)")
    assert 0 < len(summary["checks"]) < 200


# The plugin on a suite of its own: checks that raise what real checks could ------------------

CHECKS = """
import pytest

from psc_testkit.client.errors import RunStopped


@pytest.mark.requirement("OIDCC-3.1.3.7-3", "SHOULD")
def test_a_should_assertion_warns():
    assert False, "Expected: a header; Actual: none"


@pytest.mark.requirement("OIDCC-3.1.3.7-6", "SHOULD")
def test_a_should_that_breaks_errors():
    {}["access_token"]  # an answer the check did not expect, or a bug in it


@pytest.mark.requirement("OIDCC-3.1.3.7-7", "MUST")
def test_a_must_that_holds():
    pass
"""

STOPPING = """

@pytest.mark.requirement("OIDCC-3.1.3.7-8", "MUST")
def test_b_the_third_refused_login():
    raise RunStopped("3 logins refused: stopped before the account is locked")


@pytest.mark.requirement("OIDCC-3.1.3.7-9", "MUST")
def test_c_never_runs():
    pass
"""


def own_suite(folder: Path, checks: str, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    (folder / "test_checks.py").write_text(textwrap.dedent(checks), encoding="utf-8")
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
        "--tb=short",
        "-q",
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    return done, reports


def test_a_should_check_that_raises_other_than_an_assertion_is_an_error(tmp_path):
    result, reports = own_suite(tmp_path, CHECKS)
    assert result.returncode == 1, result.stdout[-3000:]
    summary = assert_counts_agree(result, reports)
    verdicts = {c["check"].split("::")[1]: c for c in summary["checks"]}
    assert verdicts["test_a_should_assertion_warns"]["verdict"] == "warning"
    broke = verdicts["test_a_should_that_breaks_errors"]
    assert broke["verdict"] == "error" and "KeyError" in broke["message"], broke
    assert summary["requirements"]["OIDCC-3.1.3.7-6"]["verdict"] == "error"
    assert "ERROR at call of test_a_should_that_breaks_errors" in result.stdout


def test_run_stopped_stops_the_whole_run_with_its_line_and_exit_3(tmp_path):
    result, reports = own_suite(tmp_path, CHECKS + STOPPING)
    output = result.stdout + result.stderr
    assert result.returncode == 3, output[-3000:]
    assert "Traceback" not in output
    assert result.stderr.strip().splitlines() == [
        "psc-testkit conformance: run stopped: "
        "3 logins refused: stopped before the account is locked"
    ]
    summary = assert_counts_agree(result, reports)
    assert summary["exit_code"] == 3 and summary["stopped"]["before_checks"] is False
    checks = {c["check"].split("::")[1]: c["verdict"] for c in summary["checks"]}
    assert checks["test_b_the_third_refused_login"] == "error"
    assert "test_c_never_runs" not in checks  # stopped at once
    assert summary["verdict"].startswith("verdict: STOPPED (exit 3): ")
    assert summary["verdict"].endswith(", 1 not run")


MAY_CHECKS = """
import pytest


@pytest.mark.requirement("OIDCD-3", "MAY")
def test_a_may_observation_is_noted():
    assert False, "Expected: none not advertised; Actual: none advertised"


@pytest.mark.requirement("RFC6750-2.2", "MAY")
def test_a_may_that_breaks_errors():
    {}["access_token"]
"""


def test_a_may_check_is_noted_never_failed_even_strict(tmp_path):
    """What a spec allows either way (MAY) is reported as "info" and fails no run, not even
    with --psc-strict; a MAY check that breaks did not judge: an error, as for SHOULD."""
    checks = MAY_CHECKS.split('@pytest.mark.requirement("RFC6750-2.2"')[0]
    result, reports = own_suite(tmp_path, checks, "--psc-strict")
    assert result.returncode == 0, result.stdout[-3000:]
    summary = summary_of(reports)
    (check,) = summary["checks"]
    assert check["verdict"] == "info" and "none advertised" in check["message"], check
    assert summary["requirements"]["OIDCD-3"]["verdict"] == "info"
    assert "MAY-level observations (never fail)" in result.stdout
    assert "1 noted (MAY)" in summary["verdict"]


def test_a_may_check_that_raises_other_than_an_assertion_is_an_error(tmp_path):
    result, reports = own_suite(tmp_path, MAY_CHECKS)
    assert result.returncode == 1, result.stdout[-3000:]
    verdicts = {c["check"].split("::")[1]: c["verdict"] for c in summary_of(reports)["checks"]}
    assert verdicts == {
        "test_a_may_observation_is_noted": "info",
        "test_a_may_that_breaks_errors": "error",
    }


def test_a_ctrl_c_the_run_swallowed_still_makes_it_inconclusive():
    """pluggy turns a KeyboardInterrupt raised in an old-style hook wrapper's teardown into a
    warning, and the run goes on; the plugin's own SIGINT handler remembered the Ctrl-C."""
    from psc_testkit.conformance.pytest_plugin import count, exit_code

    clean = count(["passed", "passed"])
    assert exit_code(None, 0, clean) == 0  # pytest.ExitCode.OK
    assert exit_code(None, 0, clean, interrupted=True) == 4
