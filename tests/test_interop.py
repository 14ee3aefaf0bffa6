"""Interop with a certified provider: the whole suite against panva's oidc-provider (npm,
pinned), through the html_form driver. Every check passes, is skipped for a feature the
provider does not offer, or is listed with its reason in the expected-results file."""

import json
import os
import shutil
from pathlib import Path

import pytest

from psc_testkit import interop
from psc_testkit.client.config import load_target
from psc_testkit.conformance.harness import Harness
from tests.cli import ROOT, psc_testkit

CHROMIUM = os.environ.get("PSC_CHROMIUM") or "/usr/bin/chromium"
installed = shutil.which("node") and (ROOT / "node_modules" / "oidc-provider").is_dir()
needs_provider = pytest.mark.skipif(
    not installed, reason="Node.js or node_modules/oidc-provider missing: run `npm ci`"
)


@needs_provider
def test_the_whole_suite_against_oidc_provider_is_as_expected(tmp_path: Path) -> None:
    result = psc_testkit("interop", "--reports", str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "as expected: 6 listed outcome(s), 0 unexpected, 0 stale" in result.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    # The run is real: logins, tokens, refresh, revocation, introspection, logout and mTLS.
    assert summary["counts"]["passed"] >= 180
    passed = {c["requirement"] for c in summary["checks"] if c["verdict"] == "passed"}
    for requirement in ("OIDCC-3.1.3.7-6", "RFC7009-2.1", "RFC7662-2.2", "OIDCRIL-3", "RFC8705-3"):
        assert requirement in passed


@needs_provider
def test_the_provider_serves_psc_claims_under_scope_all(tmp_path: Path) -> None:
    """The stand-in is PSC-shaped where a configuration can make it so: the sectoral claims."""
    result = psc_testkit(
        "interop", "--reports", str(tmp_path), "--", "-k", "scope_all or sectoral", timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    ran = [c for c in summary["checks"] if c["verdict"] == "passed"]
    assert ran and all(c["requirement"].startswith("PSC") for c in ran)


@pytest.mark.parametrize("provider", sorted(interop.PROVIDERS))
def test_expected_results_have_one_line_reasons(provider: str) -> None:
    entries = interop.load_expected(interop.PROVIDERS[provider])
    assert entries
    for entry in entries:
        assert entry.verdict in {"failed", "warning", "error", "skipped", "info"}
        assert "\n" not in entry.reason and 20 < len(entry.reason) < 200
        path = entry.check.split("::")[0]
        assert (ROOT / path).is_file(), f"{entry.check}: no such check file"


def summary_of(*checks: tuple[str, str]) -> dict:
    return {"checks": [{"check": c, "verdict": v, "message": "m"} for c, v in checks]}


def test_an_unlisted_failure_is_unexpected() -> None:
    outcome = interop.compare(summary_of(("a::x", "passed"), ("a::y", "failed")), [])
    assert outcome.unexpected == ["a::y: failed: m"] and not outcome.ok


def test_a_listed_outcome_that_did_not_happen_is_stale() -> None:
    listed = [
        interop.Expected("a::x", "failed", "a reason"),
        interop.Expected("b::*", "warning", "r"),
    ]
    outcome = interop.compare(summary_of(("a::x", "passed"), ("a::y", "skipped")), listed)
    assert outcome.unexpected == ["a::x: passed, expected failed (a reason)"]
    assert outcome.stale == ["b::*: listed as warning but did not run"]


def test_listed_outcomes_match_by_pattern() -> None:
    listed = [interop.Expected("a::x[*", "failed", "parametrised")]
    outcome = interop.compare(summary_of(("a::x[1]", "failed"), ("a::x[2]", "failed")), listed)
    assert outcome.ok and len(outcome.as_expected) == 2


@needs_provider
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
def test_a_real_browser_logs_in_at_the_certified_provider_once() -> None:
    """The browser driver on pages it was not written for: oidc-provider's, in Chromium."""
    with interop.OidcProviderProcess(driver="browser") as provider:
        harness = Harness(load_target(provider.profile))
        try:
            first = harness.code()
            assert first.prompted and harness.driver.steps_run == [1, 2]
            assert harness.exchange(first).ok
            again = harness.code()  # the SSO session answers: no form
            assert again.code and not again.prompted and harness.driver.steps_run == []
        finally:
            harness.close()
