"""The RP plan, proven both ways on the naive sample app (examples/naive_app.py): the clean app
passes every test, and each switch that skips one validation is caught by the test written for
it, with nothing else failing. Real parts: the simulator over HTTPS, the app as a process,
Chromium."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from psc_testkit.rp import report
from psc_testkit.rp.app_profile import load_app_profile
from psc_testkit.rp.engine import run_plan, run_verdict, simulator_for
from psc_testkit.rp.plan import BY_NAME, PLAN, select
from psc_testkit.rp.verdicts import ERROR, FAILED, NOT_APPLICABLE, NOTED, PASSED, WARNED
from tests.rp_apps import free_port, naive_profile

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium (.ci/run installs it)"
)

# Each switch of the naive app, and the tests that must catch it.
CAUGHT_BY = {
    "state": ("refuses-wrong-state", "refuses-missing-state"),
    "iss-param": ("refuses-callback-of-another-issuer",),
    "nonce": ("refuses-wrong-nonce",),
    "iss": ("refuses-id-token-of-another-issuer",),
    "aud": ("refuses-id-token-for-another-client",),
    "azp": ("refuses-extra-audience-without-azp",),
    "sub": ("refuses-id-token-without-sub",),
    "exp": ("refuses-expired-id-token",),
    "iat": ("refuses-id-token-issued-in-the-future",),
    "signature": ("refuses-bad-signature", "refuses-key-not-in-the-jwks", "refuses-unknown-kid"),
    "alg": ("refuses-unsigned-id-token", "refuses-hs256-with-client-secret"),
    "jwks-cache": ("accepts-rotated-signing-key",),
    "acr": ("refuses-acr-below-requested", "refuses-missing-acr"),
    "userinfo-sub": ("refuses-userinfo-of-another-sub", "refuses-userinfo-of-another-professional"),
    "pkce": ("sends-pkce-s256",),
    "first-exercice": ("same-exercice-whatever-the-order",),
    "claims-required": ("copes-without-subjectrefpro",),
    "token-in-query": ("honest-login", "honest-login-again", "userinfo-with-bearer-header"),
}


@pytest.fixture(scope="module")
def naive_sim():
    """One simulator for the module's runs: the naive app's client, always on the same port."""
    folder = Path(tempfile.mkdtemp(prefix="psc-rp-test-"))
    port = free_port()
    app = load_app_profile(naive_profile(folder, port=port))
    with simulator_for(app, folder) as sim:
        yield sim, port, folder
    shutil.rmtree(folder, ignore_errors=True)


def run(naive_sim, tmp_path: Path, skip: str = "", tests=None, **profile):
    sim, port, _ = naive_sim
    app = load_app_profile(naive_profile(tmp_path, skip, port=port, **profile))
    chosen = select(list(tests) if tests else None)
    result = run_plan(app, chosen, tmp_path / "rp", simulator=sim)
    return result, {r.test.name: r.verdict for r in result.results}, chosen


@pytest.mark.timeout(600)  # the whole plan: about 40 logins in Chromium
def test_the_clean_sample_passes_the_whole_plan(naive_sim, tmp_path: Path) -> None:
    result, verdicts, chosen = run(naive_sim, tmp_path)
    assert len(verdicts) == len(PLAN) >= 30
    wrong = {n: (v.status, v.reason) for n, v in verdicts.items() if v.status != PASSED}
    # Only signed UserInfo does not apply: the naive app's client is registered for JSON.
    assert wrong == {
        "refuses-badly-signed-userinfo": (
            NOT_APPLICABLE,
            "the client is not registered for signed UserInfo",
        )
    }
    assert run_verdict(result, len(chosen)) == ("PASSED", 0)
    # The signed-or-not report: every test with its evidence, and no secret in it.
    json_path, html_path = report.write(result, len(chosen), tmp_path / "rp", None)
    document = json.loads(json_path.read_text())
    assert document["verdict"] == "PASSED" and len(document["tests"]) == len(PLAN)
    issuer_test = next(t for t in document["tests"] if t["name"] == "refuses-wrong-nonce")
    claims = issuer_test["evidence"]["tokens"][0]["id_token"]["claims"]
    assert claims["iss"] == result.issuer and claims["nonce"].startswith("«secret:")
    assert issuer_test["evidence"]["screenshot"]["file"].endswith("refuses-wrong-nonce.png")
    secrets = {"naive-secret-for-the-self-tests-0123456789"}
    for r in result.results:
        for e in r.entries:
            for match in re.finditer(
                r'"(?:access_token|refresh_token|id_token)":"([^"]+)"', e.get("response") or ""
            ):
                secrets.add(match.group(1))
            for match in re.finditer(r"code=([^&]+)", e.get("location", "")):
                secrets.add(match.group(1))
    assert len(secrets) > 40
    for path in (json_path, html_path):
        text = path.read_text()
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path.name} shows {len(leaked)} secret(s)"


@pytest.mark.parametrize("switch", sorted(CAUGHT_BY))
def test_each_switch_is_caught_by_its_test(naive_sim, tmp_path: Path, switch: str) -> None:
    own = CAUGHT_BY[switch]
    _, verdicts, _ = run(naive_sim, tmp_path, switch, tests=own)
    for name in own:
        expected = {"MUST": FAILED, "SHOULD": WARNED, "MAY": NOTED}[verdicts[name].level]
        assert verdicts[name].status == expected, (name, verdicts[name])
    others = {n: v for n, v in verdicts.items() if n not in own}
    if switch == "token-in-query":  # no login completes: nothing else can be judged
        assert all(v.status == ERROR for v in others.values())
    else:
        assert verdicts["honest-login"].status == PASSED
        assert {n: v.status for n, v in others.items() if v.status != PASSED} == {}


def test_silence_is_never_a_pass(naive_sim, tmp_path: Path) -> None:
    """An app whose refusals show no rejection marker (here: a marker it never shows) fails
    every negative test, "no evidence of rejection", and never passes one by staying quiet."""
    negative = ("refuses-wrong-nonce", "refuses-id-token-of-another-issuer")
    _, verdicts, _ = run(
        naive_sim, tmp_path, tests=negative, rejected='{ selector = "#never-shown" }', timeout=2
    )
    assert verdicts["honest-login"].status == PASSED
    for name in negative:
        assert verdicts[name].status == FAILED
        assert verdicts[name].reason.startswith("no evidence of rejection: neither marker showed")


def test_an_app_that_refuses_everything_proves_nothing(naive_sim, tmp_path: Path) -> None:
    """The positive control: an app that fails the honest login (here: it skips the Bearer
    header, which the simulator refuses) gets no refusal counted as a pass."""
    result, verdicts, chosen = run(
        naive_sim, tmp_path, "token-in-query", tests=("refuses-wrong-nonce",)
    )
    assert verdicts["honest-login"].status == FAILED
    assert verdicts["refuses-wrong-nonce"].status == ERROR
    assert "would prove nothing" in verdicts["refuses-wrong-nonce"].reason
    assert run_verdict(result, len(chosen)) == ("FAILED", 1)


def test_every_test_names_a_requirement_and_a_level() -> None:
    assert len({t.name for t in PLAN}) == len(PLAN)
    for test in PLAN:
        assert re.fullmatch(r"(OIDCC|OIDCRPIL|RFC\d+|PSC)-[\w.-]+", test.requirement), test.name
        assert test.level in ("MUST", "SHOULD", "MAY") and test.spec and test.source
    assert PLAN[0] is BY_NAME["honest-login"]
