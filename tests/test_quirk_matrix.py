"""The quirk matrix, dual of the defect matrix: against the simulator started with each quirk
(a behaviour a compliant provider may show), no check fails or errors, and no SHOULD check warns
unless the quirk names it. A check that fails a quirk is a false failure of the suite.

Each case is a real `psc-testkit conformance` run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from psc_testkit.simulator.quirks import QUIRKS, Quirk, markdown
from tests.test_defect_matrix import matches, run_suite

ROOT = Path(__file__).resolve().parent.parent


def test_there_are_at_least_25_quirks_each_citing_its_text():
    assert len(QUIRKS) >= 25
    for quirk in QUIRKS.values():
        assert quirk.allowed_by.strip() and quirk.description.strip(), quirk.name


def test_quirks_doc_is_up_to_date():
    assert (ROOT / "docs" / "quirks.md").read_text() == markdown(), (
        "run: python -m psc_testkit.simulator.quirks > docs/quirks.md"
    )


@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_suite_passes_the_quirk(name, tmp_path):
    quirk: Quirk = QUIRKS[name]
    result = run_suite(tmp_path, quirk=name)
    assert result.get("quirks") == [name], result["output"]
    wrong = {
        c["check"]: (c["verdict"], c["message"][:300])
        for c in result["checks"]
        if c["verdict"] in ("failed", "error")
        or (c["verdict"] == "warning" and not any(matches(p, c["check"]) for p in quirk.warns))
    }
    assert not wrong, f"--quirk {name}: false verdicts {wrong}\n{result['output']}"
    assert result["exit_code"] == 0, result["output"]
