"""The RP verdict rules as pure functions: what the app showed (an Outcome) and the simulator's
log, to a verdict. Each case is one a review found could go wrong."""

from __future__ import annotations

from pathlib import Path

from psc_testkit.rp import verdicts
from psc_testkit.rp.app_profile import load_app_profile
from psc_testkit.rp.browser import Outcome
from psc_testkit.rp.engine import TestResult as Result
from psc_testkit.rp.engine import _void_refusals
from psc_testkit.rp.plan import BY_NAME
from psc_testkit.rp.verdicts import ERROR, NOT_APPLICABLE, PASSED, WARNED, Control, Verdict
from tests.rp_apps import naive_profile

AUTH = {"response_type": "code", "state": "s" * 43, "code_challenge": "c" * 43}


def app(tmp_path: Path):
    return load_app_profile(naive_profile(tmp_path, port=20001))


def test_a_lie_about_a_value_the_app_never_sent_does_not_apply(tmp_path: Path) -> None:
    control = Control(passed=True, auth=AUTH, userinfo=True)  # no nonce, no acr_values sent
    for name in ("refuses-wrong-nonce", "refuses-acr-below-requested", "refuses-missing-acr"):
        verdict = verdicts.before_login(BY_NAME[name], app(tmp_path), control)
        assert verdict is not None and verdict.status == NOT_APPLICABLE, name
    sent = Control(passed=True, auth={**AUTH, "nonce": "n" * 43}, userinfo=True)
    assert verdicts.before_login(BY_NAME["refuses-wrong-nonce"], app(tmp_path), sent) is None


def test_nothing_runs_on_an_app_that_refuses_an_honest_login(tmp_path: Path) -> None:
    failed = Control(passed=False, auth=AUTH)
    for name in (
        "refuses-wrong-nonce",
        "copes-without-subjectrefpro",
        "accepts-rotated-signing-key",
    ):
        verdict = verdicts.before_login(BY_NAME[name], app(tmp_path), failed)
        assert verdict is not None and verdict.status == ERROR, name
    assert verdicts.before_login(BY_NAME["honest-login-again"], app(tmp_path), failed) is None


def test_a_failed_closing_control_voids_refusals_and_silences_before_it() -> None:
    def result(name: str, status: str, reason: str) -> Result:
        return Result(BY_NAME[name], Verdict(status, reason, "MUST"))

    results = [
        result("refuses-wrong-nonce", PASSED, "the app showed its rejection marker"),
        result("refuses-expired-id-token", "FAILED", "no evidence of rejection: neither marker"),
        result("refuses-id-token-of-another-issuer", "FAILED", "the app logged someone in (…)"),
    ]
    _void_refusals(results)
    assert [r.verdict.status for r in results] == [ERROR, ERROR, "FAILED"]


def test_a_token_in_the_apps_own_page_url_is_seen(tmp_path: Path) -> None:
    token = {
        "seq": 1,
        "host": "issuer",
        "method": "POST",
        "path": "/auth/realms/esante-wallet/protocol/openid-connect/token",
        "query": "",
        "response": '{"access_token": "at-123", "id_token": "x.y.z"}',
    }
    auth = {"seq": 0, "host": "wallet", "method": "GET", "path": "/auth", "query": "state=s"}
    pages = ["http://127.0.0.1:20001/home?t=at-123"]
    test, login = BY_NAME["sends-no-token-in-urls"], [auth, token]
    verdict = verdicts.observe(test, login, [login], app(tmp_path), pages)
    assert verdict.status == WARNED and "the app's page /home" in verdict.reason


def test_the_same_page_test_needs_a_professional_with_two_exercices(tmp_path: Path) -> None:
    single = Control(passed=True, auth=AUTH, userinfo=True, exercices=1)
    verdict = verdicts.before_login(
        BY_NAME["same-exercice-whatever-the-order"], app(tmp_path), single
    )
    assert verdict is not None and verdict.status == NOT_APPLICABLE


def test_a_refusal_is_judged_only_on_a_delivered_lie(tmp_path: Path) -> None:
    outcome = Outcome(reached_login=True, rejected=True, url="http://127.0.0.1:20001/callback")
    control = Control(passed=True, auth={**AUTH, "nonce": "n" * 43}, userinfo=True)
    verdict = verdicts.judge(BY_NAME["refuses-wrong-nonce"], outcome, [], app(tmp_path), control)
    assert verdict.status == ERROR and "never delivered" in verdict.reason
