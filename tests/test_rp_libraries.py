"""Real relying parties through the whole RP plan: an app on panva's openid-client (npm, an
OpenID Certified RP library) and one on Authlib (PyPI), each configured as a PSC client
(interop/rp-apps/). Every verdict other than PASSED or NOT APPLICABLE must be the one listed
in interop/rp-apps/expected-results.toml, with its verified reason, and every listed one must
occur: a library that improves or regresses shows here."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from psc_testkit.rp.app_profile import load_app_profile
from psc_testkit.rp.engine import run_plan
from psc_testkit.rp.plan import BY_NAME, PLAN
from psc_testkit.rp.verdicts import NOT_APPLICABLE, PASSED
from tests.rp_apps import ROOT, naive_profile

EXPECTED = tomllib.loads((ROOT / "interop/rp-apps/expected-results.toml").read_text())
APPS = {
    "openid-client": ('["node", "interop/rp-apps/openid_client_app.mjs"]', "openid-client-app", 60),
    "authlib": ('["{python}", "interop/rp-apps/authlib_app.py"]', "authlib-app", 0),
}
pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium (.ci/run installs it)"
)


def test_expected_results_name_real_tests_with_reasons() -> None:
    for app, entries in EXPECTED.items():
        assert app in APPS
        for name, entry in entries.items():
            assert name in BY_NAME, name
            verdict, reason = entry["verdict"], entry["reason"]
            assert verdict in ("FAILED", "WARNED", "NOTED", "ERROR") and len(reason) > 40


@pytest.mark.timeout(600)  # the whole plan: about 40 logins in Chromium
@pytest.mark.parametrize("library", sorted(APPS))
def test_a_library_app_gets_its_expected_results(library: str, tmp_path: Path) -> None:
    command, client_id, refetch = APPS[library]
    if library == "openid-client" and not (ROOT / "node_modules/openid-client").is_dir():
        pytest.skip("node_modules/openid-client missing: run `npm ci` (.ci/run does)")
    profile = naive_profile(
        tmp_path, command=command, client_id=client_id, jwks_refetch_limit=refetch
    )
    result = run_plan(load_app_profile(profile), PLAN, tmp_path / "rp")
    got = {
        r.test.name: (r.verdict.status, r.verdict.reason)
        for r in result.results
        if r.verdict.status not in (PASSED, NOT_APPLICABLE)
    }
    expected = {name: entry["verdict"] for name, entry in EXPECTED[library].items()}
    assert {name: status for name, (status, _) in got.items()} == expected, got
    assert len(result.results) == len(PLAN)
