"""The defect matrix: the clean simulator passes every check, and each defect makes the checks
written for it fail (or warn, for a SHOULD) and nothing unrelated.

Each case is a real `psc-testkit conformance` run against a simulator started with the defect.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import pytest

from psc_testkit.simulator.defects import DEFECTS, Defect, markdown

ROOT = Path(__file__).resolve().parent.parent
CAUGHT = {"failed", "warning"}
BAD = {"failed", "error", "warning"}


def run_suite(reports: Path, defect: str | None = None, quirk: str | None = None) -> dict:
    command = [sys.executable, "-m", "psc_testkit", "conformance", "--reports", str(reports)]
    if defect:
        command += ["--defect", defect]
    if quirk:
        command += ["--quirk", quirk]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    summary = reports / "summary.json"
    assert summary.exists(), f"no summary (exit {result.returncode}):\n{result.stdout[-3000:]}"
    data = json.loads(summary.read_text())
    data["exit_code"] = result.returncode
    data["output"] = result.stdout[-4000:]
    return data


def matches(pattern: str, check: str) -> bool:
    """A pattern names a check by function (`test_x`), with parameters (`test_x[a]`), by glob
    (`test_logout_*`) or by path (`conformance/logout/*`)."""
    _, _, name = check.partition("::")
    function = name.split("[")[0]
    glob = pattern.replace("[", "[[]")  # brackets are parameters here, not glob classes
    return any(fnmatch.fnmatchcase(candidate, glob) for candidate in (check, name, function))


@pytest.fixture(scope="session")
def clean(tmp_path_factory) -> dict:
    return run_suite(tmp_path_factory.mktemp("clean"))


def test_clean_simulator_passes_every_check(clean):
    bad = [(c["check"], c["verdict"], c["message"]) for c in clean["checks"] if c["verdict"] in BAD]
    assert not bad, clean["output"]
    assert clean["exit_code"] == 0
    assert len(clean["checks"]) >= 150


def test_every_defect_names_existing_checks(clean):
    checks = [c["check"] for c in clean["checks"]]
    for defect in DEFECTS.values():
        for pattern in defect.checks + defect.breaks:
            assert any(matches(pattern, c) for c in checks), f"{defect.name}: {pattern}"


def test_defects_doc_is_up_to_date():
    assert (ROOT / "docs" / "defects.md").read_text() == markdown(), (
        "run: python -m psc_testkit.simulator.defects > docs/defects.md"
    )


PROVEN = sorted(name for name, d in DEFECTS.items() if d.checks)


@pytest.mark.parametrize("name", PROVEN)
def test_defect_is_caught_by_its_checks_and_nothing_else(name, clean, tmp_path):
    defect: Defect = DEFECTS[name]
    result = run_suite(tmp_path, name)
    verdicts = {c["check"]: c["verdict"] for c in result["checks"]}
    clean_verdicts = {c["check"]: c["verdict"] for c in clean["checks"]}
    for pattern in defect.checks:
        named = {c: v for c, v in verdicts.items() if matches(pattern, c)}
        assert any(v in CAUGHT for v in named.values()), (
            f"--defect {name}: {pattern} did not catch it: {named}\n{result['output']}"
        )
    allowed = defect.checks + defect.breaks
    unrelated = {
        c: v
        for c, v in verdicts.items()
        if v in BAD and v != clean_verdicts.get(c) and not any(matches(p, c) for p in allowed)
    }
    assert not unrelated, f"--defect {name} also broke {unrelated}\n{result['output']}"
    must = [c for c, v in verdicts.items() if v == "failed"]
    assert (result["exit_code"] != 0) == bool(must or any(v == "error" for v in verdicts.values()))
