"""The defect matrix: the clean simulator passes every check, and each defect makes the checks
written for it fail (or warn, for a SHOULD) and nothing unrelated.

Each case is a real `psc-testkit conformance` run against a simulator started with the defect.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest

from psc_testkit.simulator.defects import DEFECTS, Defect, markdown
from tests import suite_server

ROOT = Path(__file__).resolve().parent.parent
# A check catches a defect by failing (or warning, for a SHOULD). A skip or an error is not a
# catch: the check did not judge the broken behaviour.
CAUGHT = {"failed", "warning"}
BAD = {"failed", "error", "warning"}


def run_suite(reports: Path, defect: str | None = None, quirk: str | None = None) -> dict:
    """A real `psc-testkit conformance` run (tests/suite_server.py forks it from a process that
    imported the suite once). No Allure results: the matrices judge summary.json."""
    argv = ["conformance", "--reports", str(reports), "--no-allure"]
    if defect:
        argv += ["--defect", defect]
    if quirk:
        argv += ["--quirk", quirk]
    code, output = suite_server.run(argv, timeout=300)
    summary = reports / "summary.json"
    assert summary.exists(), f"no summary (exit {code}):\n{output[-3000:]}"
    data = json.loads(summary.read_text())
    data["exit_code"] = code
    data["output"] = output[-4000:]
    return data


def matches(pattern: str, check: str) -> bool:
    """A pattern names a check by function (`test_x`), with parameters (`test_x[a]`), by glob
    (`test_logout_*`) or by path (`conformance/logout/*`)."""
    _, _, name = check.partition("::")
    function = name.split("[")[0]
    glob = pattern.replace("[", "[[]")  # brackets are parameters here, not glob classes
    return any(fnmatch.fnmatchcase(candidate, glob) for candidate in (check, name, function))


def lacks_prerequisite(defect: Defect, verdict: str, message: str) -> bool:
    """An error that names what the defect took away (a discovery member...) is a broken
    prerequisite of that check, not a false verdict; a failure never is."""
    return bool(defect.prerequisite) and verdict == "error" and defect.prerequisite in message


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
    messages = {c["check"]: c["message"] or "" for c in result["checks"]}
    unrelated = {
        c: v
        for c, v in verdicts.items()
        if v in BAD
        and v != clean_verdicts.get(c)
        and not any(matches(p, c) for p in allowed)
        and not lacks_prerequisite(defect, v, messages[c])
    }
    assert not unrelated, f"--defect {name} also broke {unrelated}\n{result['output']}"
    must = [c for c, v in verdicts.items() if v == "failed"]
    assert (result["exit_code"] != 0) == bool(must or any(v == "error" for v in verdicts.values()))


# MUST checks no defect can make fail, because their only failing path is a fixture (so they
# can only error): each needs its check rewritten by the owner of its file. Listed here so the
# test below stays exact: an entry that becomes proven must leave this list.
UNPROVEN: dict[str, str] = {}


def must_checks(clean: dict) -> list[str]:
    return [c["check"] for c in clean["checks"] if c["level"] == "MUST"]


def test_every_must_check_is_proven_by_a_defect(clean):
    """Each MUST check instance of the clean run is named by a defect that makes it fail; a
    skip does not count (CAUGHT has no skipped), so a skipped instance is proven by a defect
    that makes its subject appear, malformed."""
    assert "skipped" not in CAUGHT and "error" not in CAUGHT
    named = [p for d in DEFECTS.values() for p in d.checks]
    unproven = [
        c
        for c in must_checks(clean)
        if not any(matches(p, c) for p in named) and not any(matches(u, c) for u in UNPROVEN)
    ]
    assert not unproven, f"{len(unproven)} MUST checks no defect proves:\n" + "\n".join(unproven)
    for pattern in UNPROVEN:
        checks = [c for c in must_checks(clean) if matches(pattern, c)]
        assert checks, f"UNPROVEN names {pattern}, which is not a MUST check of the clean run"
        assert not any(matches(p, c) for p in named for c in checks), (
            f"{pattern} is proven now: remove it from UNPROVEN"
        )


COVERAGE_NAME = re.compile(r"`([^`\s]*test_[^`]*)`")


def coverage_names() -> list[str]:
    """Each check COVERAGE.md names, one entry per parameter (`test_x[a, b]` is two)."""
    names = []
    for token in COVERAGE_NAME.findall((ROOT / "conformance" / "COVERAGE.md").read_text()):
        if token.startswith("tests/"):  # the self-tests that make the claim a test
            continue
        function, _, params = token.partition("[")
        if params:
            names += [f"{function}[{p.strip()}]" for p in params.rstrip("]").split(",")]
        else:
            names.append(function)
    return names


def test_every_check_coverage_names_exists(clean):
    checks = [c["check"] for c in clean["checks"]]
    assert len(coverage_names()) > 50
    missing = []
    for name in coverage_names():
        if name.endswith(".py"):  # a whole module
            found = any(c.startswith(f"conformance/{name}::") for c in checks)
        elif "/" in name and "::" not in name:  # folder/function
            folder, _, function = name.rpartition("/")
            found = any(f"conformance/{folder}/" in c and matches(function, c) for c in checks)
        else:
            path, _, function = name.rpartition("::")
            found = any(matches(function, c) and f"conformance/{path}" in c for c in checks)
        if not found:
            missing.append(name)
    assert not missing, f"COVERAGE.md names checks the suite does not have: {missing}"
