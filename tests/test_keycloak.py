"""Keycloak, the software PSC runs on, as a real target: the pinned keycloak-quarkus-dist from
Maven Central (`make keycloak-dist`), the esante-wallet realm of interop/keycloak/realm.jsonc,
the whole suite held to interop/keycloak/expected-results.toml, targets/keycloak.toml proven
against it, one login in a real browser, and the load journeys.

One Keycloak serves these tests (xdist group "keycloak": one worker, one start, ~25 s)."""

import json
import os
import time
from pathlib import Path

import pytest

from psc_testkit import interop
from psc_testkit.client.config import load_target
from psc_testkit.conformance.harness import Harness
from psc_testkit.interop import keycloak
from tests.cli import ROOT, psc_testkit

# Starting Keycloak (25-50 s) counts in the first test's time, the whole suite after it.
pytestmark = pytest.mark.timeout(600)
REASON = keycloak.unavailable()
needs_keycloak = pytest.mark.skipif(REASON is not None, reason=REASON or "Keycloak is ready")
one_worker = pytest.mark.xdist_group("keycloak")
CHROMIUM = os.environ.get("PSC_CHROMIUM") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def kc():
    # Session-wide: the worker running the "keycloak" group may run other modules' tests
    # between this module's, and a module-scoped Keycloak would be started again after them.
    with keycloak.KeycloakProcess(users=8) as provider:
        yield provider


@needs_keycloak
@one_worker
def test_the_whole_suite_against_keycloak_is_as_expected(kc, tmp_path: Path, capsys) -> None:
    expected = interop.load_expected(keycloak.EXPECTED)
    code = interop.held_to("keycloak", kc.profile, expected, tmp_path, [])
    out = capsys.readouterr().out
    assert code == 0, out[-4000:]
    assert f"as expected: {len(expected)} listed outcome(s), 0 unexpected, 0 stale" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"]["passed"] >= 200
    passed = {c["requirement"] for c in summary["checks"] if c["verdict"] == "passed"}
    # Real logins through Keycloak's page, refresh, revocation, introspection, logout, tokens
    # bound to the mTLS certificate, CIBA approved and denied through the channel, PSC claims.
    for requirement in (
        "OIDCC-3.1.3.7-6",
        "RFC7009-2.1",
        "RFC7662-2.2",
        "OIDCRIL-3",
        "RFC8705-3",
        "CIBA-10.1.1",
        "PSC-SCHEMA",
        "PSC-SCOPE-ALL",
    ):
        assert requirement in passed, requirement
    # Keycloak asked the phones through the channel, and took their answers at its callback.
    assert kc.channel.requests
    assert ("SUCCEED", 200) in kc.channel.answers
    assert ("UNAUTHORIZED", 200) in kc.channel.answers


@needs_keycloak
@one_worker
def test_targets_keycloak_toml_is_proven_against_the_realm(kc, tmp_path: Path) -> None:
    """The shipped profile, pointed at this Keycloak by the environment only: a real login of
    its first user through Keycloak's page, then the PSC claim checks over both its users."""
    env = kc.targets_env()
    profile = str(ROOT / "targets" / "keycloak.toml")
    checked = psc_testkit("profile", "check", "--login", profile, env=env, timeout=120)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
    assert "a code received, tokens obtained" in checked.stdout
    ran = psc_testkit(
        "conformance",
        "--target",
        profile,
        "--reports",
        str(tmp_path),
        "--",
        "-k",
        "psc_userinfo_claims",
        env=env,
        timeout=180,
    )
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"]["passed"] >= 10 and not summary["counts"].get("failed")


@needs_keycloak
@one_worker
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
def test_a_real_browser_logs_in_at_keycloak_once(kc) -> None:
    """The browser driver on Keycloak's own login page (keycloak.v2 theme), in Chromium; the
    SSO session then answers without a form."""
    harness = Harness(load_target(kc.write_profile("browser")))
    try:
        first = harness.code()
        assert first.prompted and harness.driver.steps_run == [1, 2, 3]
        assert harness.exchange(first).ok
        again = harness.code()
        assert again.code and not again.prompted and harness.driver.steps_run == []
    finally:
        harness.close()


@needs_keycloak
@one_worker
def test_load_journeys_run_against_keycloak(kc, tmp_path: Path) -> None:
    """First login, returning user (SSO), refresh and CIBA (approved by the channel), short and
    bounded: every flow of each journey succeeds."""
    result = psc_testkit(
        "load",
        "--target",
        str(kc.profile),
        "--users",
        "6",
        "--run-time",
        "12s",
        "--think",
        "0.5",
        "--weights",
        "first-login=2,returning=2,refresh=1,userinfo-poll=1,ciba=1",
        "--reports",
        str(tmp_path),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    for name in ("first-login", "returning", "refresh", "userinfo-poll", "ciba"):
        row = summary["flows"][name]
        assert row["count"] > 0 and row["failures"] == 0, (name, row)
        assert row["p50"] is not None and row["p95"] is not None, (name, row)
    for name in ("authorize", "authenticate", "token", "userinfo", "introspection", "refresh"):
        assert summary["steps"][name]["p95"] is not None, name
    assert summary["failures_by_class"]["tool"] == 0
    assert summary["availability"]["ratio"] >= 0.999


# Without a Keycloak: the realm as data, and the one-line reasons --------------------------------


def test_the_realm_template_is_json_once_comments_are_dropped() -> None:
    realm = keycloak.read_realm()
    assert realm["realm"] == "esante-wallet" and realm["accessTokenLifespan"] == 120
    clients = {c["clientId"]: c for c in realm["clients"]}
    methods = {c.get("clientAuthenticatorType") for c in clients.values()}
    assert {"client-secret", "client-jwt", "client-x509"} <= methods
    assert clients["psc-testkit-public"]["publicClient"] is True
    assert clients["psc-testkit-ciba"]["attributes"]["oidc.ciba.grant.enabled"] == "true"
    scope_all = next(s for s in realm["clientScopes"] if s["name"] == "scope_all")
    released = {m["config"]["claim.name"] for m in scope_all["protocolMappers"]}
    assert {"SubjectRefPro", "SubjectOrganization", "Secteur_Activite", "SubjectRole"} <= released
    # No secret in the template: Keycloak resolves them from its environment.
    assert all(c.get("secret", "${").startswith("${") for c in clients.values())


def test_a_user_carries_the_psc_claims_as_attributes() -> None:
    from psc_testkit.simulator import annuaire

    pro = annuaire.Annuaire(1, 1).professionals[0]
    user = keycloak.user_representation(pro, "PSC_KC_PASSWORD_0")
    assert user["username"] == pro.id_nat
    assert json.loads(user["attributes"]["SubjectRefPro"][0])["exercices"]
    assert user["credentials"][0]["value"] == "${PSC_KC_PASSWORD_0}"


def test_java_is_found_by_its_release_file(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").touch()
    (tmp_path / "release").write_text('JAVA_VERSION="17.0.15"\n')
    assert keycloak.java_version(tmp_path) == 17
    (tmp_path / "release").write_text('JAVA_VERSION="25.0.3"\n')
    assert keycloak.java_version(tmp_path) == 25
    assert keycloak.java_version(tmp_path / "nothing") == 0
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert keycloak.find_java() == tmp_path


def test_a_missing_distribution_is_said_in_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(keycloak, "BUILT", tmp_path / "not-built")
    monkeypatch.setattr(keycloak, "find_java", lambda: tmp_path)
    reason = keycloak.unavailable()
    assert reason and "\n" not in reason and "make keycloak-dist" in reason


def test_fetch_without_maven_says_so_in_one_line(tmp_path: Path, monkeypatch) -> None:
    import io

    monkeypatch.setattr(keycloak, "DIST", tmp_path / "keycloak")
    monkeypatch.setattr(keycloak, "BUILT", tmp_path / "keycloak" / ".built")
    monkeypatch.setattr(keycloak, "find_java", lambda: tmp_path)
    monkeypatch.setattr(keycloak.shutil, "which", lambda name: None)
    out = io.StringIO()
    assert keycloak.fetch(out) == 2
    assert out.getvalue().count("\n") == 1 and "Maven (mvn) is needed" in out.getvalue()


def test_the_last_error_line_is_the_reason() -> None:
    output = "[ERROR] Could not resolve org.keycloak:x\nWARNING: sun.misc.Unsafe was called\n"
    assert keycloak._last_error(output) == "[ERROR] Could not resolve org.keycloak:x"
    assert keycloak._last_error("") == "no output"


def test_the_ciba_channel_answers_keycloak_as_the_phone_decides() -> None:
    """The channel alone, with a stand-in for Keycloak's callback endpoint that refuses the
    first answer (the request not stored yet): ignore keeps a request pending, a later approve
    answers it with its own Bearer, deny answers UNAUTHORIZED."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx

    from psc_testkit.interop.ciba_channel import CibaChannel

    calls: list[tuple[str, str, int]] = []

    class Callback(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = 400 if not calls else 200
            calls.append((self.headers["Authorization"], body["status"], status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    keycloak_side = ThreadingHTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=keycloak_side.serve_forever, daemon=True).start()
    issuer = f"http://127.0.0.1:{keycloak_side.server_address[1]}/auth/realms/esante-wallet"
    channel = CibaChannel(issuer).start()
    try:
        with httpx.Client(base_url=channel.origin, timeout=5) as http:
            assert http.post("/phone", json={"login_hint": "u1", "decision": "ignore"}).is_success
            notified = http.post(
                "/channel", json={"login_hint": "u1"}, headers={"Authorization": "Bearer t1"}
            )
            assert notified.status_code == 201
            time.sleep(0.5)
            assert calls == []  # pending: nobody answered
            assert http.post("/phone", json={"login_hint": "u1", "decision": "approve"}).is_success
            deadline = time.monotonic() + 5
            while not channel.answers and time.monotonic() < deadline:
                time.sleep(0.05)
            assert channel.answers == [("SUCCEED", 200)]
            assert [c[:2] for c in calls] == [("Bearer t1", "SUCCEED")] * 2  # refused, retried
            http.post("/phone", json={"login_hint": "u2", "decision": "deny"})
            http.post("/channel", json={"login_hint": "u2"}, headers={"Authorization": "Bearer t2"})
            deadline = time.monotonic() + 5
            while len(channel.answers) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert channel.answers[1] == ("UNAUTHORIZED", 200)
            assert http.post("/phone", json={"decision": "maybe"}).status_code == 400
            assert http.post("/channel", json={"login_hint": "u3"}).status_code == 401
    finally:
        channel.stop()
        keycloak_side.shutdown()
