"""conformance/COVERAGE.md's table of every check is generated from the checks themselves."""

from __future__ import annotations

from psc_testkit.conformance import check_table


def test_coverage_lists_every_check_with_its_level_as_the_code_has_it():
    text = check_table.COVERAGE.read_text(encoding="utf-8")
    assert check_table.updated(text) == text, "run: python -m psc_testkit.conformance.check_table"


def test_every_check_is_in_the_table_once_and_judges_the_provider():
    found = check_table.checks()
    names = [f"{c.path}::{c.name}" for c in found]
    rows = [(name, c.requirement) for name, c in zip(names, found, strict=True)]
    assert len(rows) == len(set(rows)) and len(set(names)) >= 150
    assert {c.level for c in found} <= {"MUST", "SHOULD", "MAY"}
    assert all(c.obligation.startswith("OP") for c in found)
    assert all(c.sentence for c in found), [
        n for n, c in zip(names, found, strict=True) if not c.sentence
    ]
