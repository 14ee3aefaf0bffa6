"""Credentials stay home, and malformed metadata reads in one line.

Against tests/hostile_hosts.py (the provider on 127.0.0.1, two other hosts on 127.0.0.2/.3
that record what reaches them): metadata that points the back channel at another host, a login
that hops across hosts, and a discovery document of the wrong types. Each test proves what
did NOT arrive at the other hosts, not only that checks failed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest

from psc_testkit.client.config import ClientProfile, Target, load_target
from psc_testkit.client.destinations import Destinations
from psc_testkit.conformance.harness import Harness, TargetError
from tests import hostile_hosts
from tests.measure import Measured, run_measured

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("PSC_CHROMIUM") or "/usr/bin/chromium"
# Secrets that need encoding everywhere they travel: a leak cannot hide behind %2B.
BASIC_SECRET = "b4sic+se/cret=&%"
POST_SECRET = "p0st+se/cret=€"
PASSWORD = "Hunter2+pass/word="


@pytest.fixture(scope="module")
def hosts():
    with hostile_hosts.started() as started:
        yield started


def profile(tmp_path: Path, discovery_url: str, extra: str = "", driver: str = "") -> Path:
    path = tmp_path / "hostile.toml"
    path.write_text(
        f'[target]\nname = "hostile"\ndiscovery_url = "{discovery_url}"\ntimeout = 1\n'
        f"{extra}\n"
        '[driver]\nusers = ["899700000005"]\n'
        f"{driver}\n"
        "[[clients]]\n"
        'client_id = "rp-basic"\nauth_method = "client_secret_basic"\n'
        'client_secret_env = "HOSTILE_BASIC_SECRET"\n'
        'redirect_uri = "http://127.0.0.1:8080/callback"\n'
        "[[clients]]\n"
        'client_id = "rp-post"\nauth_method = "client_secret_post"\n'
        'client_secret_env = "HOSTILE_POST_SECRET"\n'
        'redirect_uri = "http://127.0.0.1:8080/callback"\n'
    )
    return path


HTML_FORM = (
    'name = "html_form"\n'
    '[driver.fields]\nusername = "{user}"\npassword = "{env:HOSTILE_PASSWORD}"\n'
)
ENV = {
    **os.environ,
    "HOSTILE_BASIC_SECRET": BASIC_SECRET,
    "HOSTILE_POST_SECRET": POST_SECRET,
    "HOSTILE_PASSWORD": PASSWORD,
}


def run(*args: str, timeout: float = 300) -> tuple[Measured, float]:
    """psc-testkit as a child, measured: every run here stays under 500 MB and ends in time."""
    result = run_measured(
        [sys.executable, "-m", "psc_testkit", *args], cwd=ROOT, timeout=timeout, env=ENV
    )
    assert not result.timed_out, result.stdout[-2000:]
    assert result.peak_mb < 500, result.peak_mb
    return result, result.seconds


def conformance(tmp_path: Path, path: Path) -> tuple[Measured, float, dict]:
    result, seconds = run("conformance", "--target", str(path), "--reports", str(tmp_path))
    return result, seconds, json.loads((tmp_path / "summary.json").read_text())


def credentials_seen(host: hostile_hosts.Host) -> list[str]:
    """Every request that reached `host` with a credential of the profile, in any form."""
    forms = {
        form
        for secret in (BASIC_SECRET, POST_SECRET, PASSWORD)
        for form in (secret, quote(secret, safe=""), quote_plus(secret))
    }
    found = []
    for seen in host.seen:
        text = seen.path + seen.body.decode("utf-8", "replace")
        if (
            "Authorization" in seen.headers
            or any(f in text for f in forms)
            or any(name in seen.body for name in (b"client_secret", b"client_assertion"))
        ):
            found.append(f"{seen.method} {seen.path}")
    return found


def messages(summary: dict) -> list[str]:
    return [c["message"] for c in summary["checks"] if c["verdict"] in ("failed", "error")]


def assert_one_line_reasons(result: Measured, summary: dict) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output
    for message in messages(summary):
        assert message and "\n" not in message, message


def test_back_channel_on_another_host_gets_no_credential(hosts, tmp_path):
    home, second = hosts["home"], hosts["second"]
    second.seen.clear()
    url = f"{home.origin}/elsewhere/.well-known/openid-configuration"
    result, seconds, summary = conformance(tmp_path, profile(tmp_path, url))
    assert_one_line_reasons(result, summary)
    assert seconds < 120
    assert not credentials_seen(second), credentials_seen(second)
    refused = [m for m in messages(summary) if re.search(r"would go to 127\.0\.0\.2\b", m)]
    assert refused, set(messages(summary))
    output = result.stdout + json.dumps(summary)
    for secret in (BASIC_SECRET, POST_SECRET, quote(BASIC_SECRET, safe="")):
        assert secret not in output


def test_trusting_the_other_host_lets_the_requests_through(hosts, tmp_path):
    """The guard refuses what the profile does not allow, not everything: listed, the second
    host receives the token requests (and their client authentication)."""
    home, second = hosts["home"], hosts["second"]
    second.seen.clear()
    url = f"{home.origin}/elsewhere/.well-known/openid-configuration"
    path = profile(tmp_path, url, 'trusted_hosts = ["127.0.0.2"]')
    result, _, summary = conformance(tmp_path, path)
    assert "Traceback" not in result.stdout + result.stderr
    assert credentials_seen(second)
    assert not [m for m in messages(summary) if "would go to" in m]


def test_login_never_follows_to_a_host_the_profile_does_not_name(hosts, tmp_path):
    home, second, third = hosts["home"], hosts["second"], hosts["third"]
    second.seen.clear()
    third.seen.clear()
    url = f"{home.origin}/login-elsewhere/.well-known/openid-configuration"
    result, _, summary = conformance(tmp_path, profile(tmp_path, url, driver=HTML_FORM))
    assert_one_line_reasons(result, summary)
    assert not second.seen and not third.seen  # not even a GET: the login stopped at home
    assert any("the login went to 127.0.0.2," in m for m in messages(summary)), set(
        messages(summary)
    )
    assert PASSWORD not in result.stdout + json.dumps(summary)


def test_a_login_on_listed_hosts_is_followed_and_a_refused_password_not_reposted(hosts, tmp_path):
    """Listed, the second and third hosts get the login (plain HTTP is fine on loopback). The
    form comes back after the password was posted (this provider refuses every login): the
    driver stops there instead of posting the password again."""
    home, third = hosts["home"], hosts["third"]
    third.seen.clear()
    url = f"{home.origin}/login-elsewhere/.well-known/openid-configuration"
    extra = 'trusted_hosts = ["127.0.0.2", "127.0.0.3"]'
    path = profile(tmp_path, url, extra, driver=HTML_FORM)
    args = ("--target", str(path), "--reports", str(tmp_path), "--", "-k", "nonce")
    result, _ = run("conformance", *args)
    assert "Traceback" not in result.stdout + result.stderr
    # The third refused login stops the run (exit 3) with one line that says why.
    assert result.returncode == 3, result.stdout[-2000:]
    assert "the login form came back" in result.stderr
    posts = [s for s in third.seen if s.method == "POST"]
    assert posts and quote_plus(PASSWORD).encode() in posts[0].body
    logins = [s for s in third.seen if s.method == "GET"]
    assert len(posts) == len(logins), (len(posts), len(logins))  # one post per login, no more


def test_profile_check_fails_before_sending_a_secret_elsewhere(hosts, tmp_path):
    home, second = hosts["home"], hosts["second"]
    second.seen.clear()
    url = f"{home.origin}/elsewhere/.well-known/openid-configuration"
    result, seconds = run("profile", "check", str(profile(tmp_path, url)), timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    hosts_line = next(line for line in lines if line.split()[1:2] == ["hosts"])
    assert hosts_line.startswith("FAIL") and "credentials would go to 127.0.0.2" in hosts_line
    assert "token_endpoint" in hosts_line
    clients = [line for line in lines if line.split()[1:2] == ["client"]]
    assert clients and all(c.startswith("FAIL") and "not tried" in c for c in clients), clients
    assert not second.seen  # the probes were not sent
    assert seconds < 30


def test_malformed_metadata_fails_its_checks_in_one_line(hosts, tmp_path):
    url = f"{hosts['home'].origin}/bad-types/.well-known/openid-configuration"
    result, seconds, summary = conformance(tmp_path, profile(tmp_path, url))
    assert_one_line_reasons(result, summary)
    assert seconds < 60
    verdicts = {c["check"].split("::")[1]: c for c in summary["checks"]}
    assert verdicts["test_required_member_is_present[token_endpoint]"]["verdict"] == "passed"
    https = verdicts["test_every_endpoint_is_an_https_url"]  # one verdict, every endpoint
    assert https["verdict"] == "failed" and "token_endpoint: 42" in https["message"]
    listed = "test_list_member_is_an_array_of_strings[response_types_supported]"
    assert verdicts[listed]["verdict"] == "failed"
    found = messages(summary)
    assert any("discovery: token_endpoint is not a URL (42)" in m for m in found)
    assert any("discovery does not advertise userinfo_endpoint" in m for m in found)
    assert not [m for m in found if "TypeError" in m or "KeyError" in m or "'int'" in m]


def test_profile_check_names_the_malformed_member(hosts, tmp_path):
    url = f"{hosts['home'].origin}/bad-types/.well-known/openid-configuration"
    result, _ = run("profile", "check", str(profile(tmp_path, url)), timeout=60)
    assert result.returncode == 1
    assert "FAIL discovery issuer" in result.stdout
    assert "token_endpoint is not a URL (42)" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


# The rules themselves, on hosts loopback cannot play -------------------------------------------


def target(**options: object) -> Target:
    client = ClientProfile("rp", "client_secret_basic", "https://rp/cb", secret="s3cret+/=")
    url = "https://auth.example.org/realm/.well-known/openid-configuration"
    return Target("t", url, clients=(client,), **options)  # type: ignore[arg-type]


def test_plain_http_off_loopback_is_refused_unless_allowed():
    rules = Destinations(target())
    assert "plain HTTP to auth.example.org" in rules.problem("http://auth.example.org/token")
    assert rules.problem("https://auth.example.org/token") is None
    assert rules.problem("http://127.0.0.1:8080/token") is not None  # another host
    allowed = Destinations(target(allow_plain_http=True))
    assert allowed.problem("http://auth.example.org/token") is None


def test_trusted_hosts_and_wildcards():
    rules = Destinations(target(trusted_hosts=("wallet.example.org", "*.idp.example")))
    assert rules.problem("https://wallet.example.org/auth") is None
    assert rules.problem("https://a.b.idp.example/login") is None
    assert "would go to evil.example" in rules.problem("https://evil.example/token")
    assert rules.problem("https://idp.example.evil/x") is not None


def test_credentials_are_recognised_in_every_carrier():
    rules = Destinations(target())
    form = {"content-type": "application/x-www-form-urlencoded"}

    def carried(url: str, **kwargs: object) -> str | None:
        return rules.credentials_in(httpx.Request("POST", url, **kwargs))

    assert carried("https://x/t", headers={"Authorization": "Basic abc"})
    assert carried("https://x/t", data={"client_assertion": "eyJ"})
    assert carried("https://x/t", data={"password": "pw"})
    assert carried("https://x/t", content=f"a={quote_plus('s3cret+/=')}", headers=form)
    assert carried(f"https://x/t?x={quote('s3cret+/=', safe='')}")
    assert carried("https://x/t", data={"grant_type": "client_credentials"}) is None
    assert rules.credentials_in(httpx.Request("GET", "https://x/"), certificate=True)


PYTHON_ERRORS = re.compile(
    r"\b(TypeError|AttributeError|KeyError|IndexError|RecursionError|UnicodeDecodeError|"
    r"JSONDecodeError|LocalProtocolError|InvalidKeyError)\b"
)


@pytest.mark.parametrize("mode", sorted(hostile_hosts.GARBAGE))
def test_endpoints_answering_nonsense_fail_checks_with_reasons(hosts, tmp_path, mode):
    """A valid discovery, then every endpoint answers 200 with nonsense (a list, a string, JSON
    100,000 deep, members of the wrong types): checks fail or error with a reason of their own,
    never a Python exception's name."""
    url = f"{hosts['home'].origin}/{mode}/.well-known/openid-configuration"
    result, seconds, summary = conformance(tmp_path, profile(tmp_path, url))
    assert_one_line_reasons(result, summary)
    assert seconds < 60
    leaked = [m for m in messages(summary) if PYTHON_ERRORS.search(m)]
    assert not leaked, leaked[:5]


BROWSER_STEPS = """
name = "browser"
step_timeout = 5
[[driver.steps]]
fill = "input[name=username]"
value = "{user}"
[[driver.steps]]
fill = "input[name=password]"
value = "{env:HOSTILE_PASSWORD}"
[[driver.steps]]
click = "button"
"""


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
def test_the_browser_does_not_follow_a_login_to_an_unnamed_host(hosts, tmp_path, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    second, third = hosts["second"], hosts["third"]
    second.seen.clear()
    third.seen.clear()
    url = f"{hosts['home'].origin}/login-elsewhere/.well-known/openid-configuration"
    harness = Harness(load_target(profile(tmp_path, url, driver=BROWSER_STEPS)))
    try:
        with pytest.raises(TargetError, match=r"login: the login went to 127\.0\.0\.2, a host"):
            harness.code()
    finally:
        harness.close()
    assert not second.seen and not third.seen  # Chromium's navigation was stopped before it
