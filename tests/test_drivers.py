"""The browser, manual and ciba login drivers against a real simulator: headless Chromium fills
the login page, a "person" thread follows the printed URL to the manual driver's listener, a
"tester" thread answers the CIBA request the ciba driver announces. No mocks."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote, quote_plus, urljoin

import httpx
import pytest

from psc_testkit.client.config import ProfileError, Target, load_target
from psc_testkit.client.drivers import LoginError, NoFrontChannel
from psc_testkit.client.drivers.ciba import NO_CODE
from psc_testkit.client.errors import RunStopped
from psc_testkit.client.flow import parse_forms
from psc_testkit.conformance.harness import Harness, TargetError
from psc_testkit.simulator.process import SimulatorProcess
from tests import login_server
from tests.cli import psc_testkit
from tests.conftest import PROFILE, ROOT

CHROMIUM = os.environ.get("PSC_CHROMIUM") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (.ci/run installs it)"
)
TX = re.compile(r'name="tx" value="([^"]+)"')
FORM_STEPS = """
[[driver.steps]]
fill = "input[name=idNat]"
value = "{user}"
[[driver.steps]]
click = "button[type=submit]"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lines(io.TextIOBase):
    """A driver's output stream that a test thread reads line by line."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.text = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        for line in text.splitlines():
            self.lines.put(line)
        return len(text)


@pytest.fixture(scope="module")
def redirect_port() -> int:
    # Not 8080: other tests and programs on this machine may hold it, and the manual driver
    # listens on the redirect URI's port.
    return free_port()


@pytest.fixture(scope="module")
def base_profile(tmp_path_factory, redirect_port) -> str:
    return PROFILE.read_text().replace("http://127.0.0.1:8080", f"http://127.0.0.1:{redirect_port}")


@pytest.fixture(scope="module")
def simulator(tmp_path_factory, base_profile) -> Iterator[SimulatorProcess]:
    path = tmp_path_factory.mktemp("sim") / "simulator.toml"
    path.write_text(base_profile)
    with SimulatorProcess(tls=True, config=path) as sim:
        yield sim


@pytest.fixture
def profile(tmp_path, base_profile) -> Callable[[str], Path]:
    """A profile of the simulator with another [driver] table."""

    def write(driver: str) -> Path:
        text = re.sub(
            r"\[driver\].*?(?=\n\[simulator\])", driver.strip() + "\n", base_profile, flags=re.S
        )
        path = tmp_path / f"profile-{abs(hash(driver))}.toml"
        path.write_text(text)
        return path

    return write


@pytest.fixture
def harness_for(simulator, profile) -> Iterator[Callable[[str], Harness]]:
    made: list[Harness] = []

    def make(driver: str) -> Harness:
        harness = Harness(load_target(profile(driver), **simulator.runtime()))
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


def control(simulator: SimulatorProcess) -> httpx.Client:
    return httpx.Client(
        base_url=simulator.origin, verify=ssl.create_default_context(cafile=simulator.ca)
    )


# browser --------------------------------------------------------------------------------------


@needs_chromium
def test_browser_logs_in_once_then_the_sso_session_answers(harness_for):
    harness = harness_for(f'[driver]\nname = "browser"\nstep_timeout = 10\n{FORM_STEPS}')
    first = harness.code()
    assert first.prompted and harness.driver.steps_run == [1, 2]
    assert harness.exchange(first).ok
    # The SSO session came back into the httpx browser: the checks' own requests see it...
    assert harness.http.browser.cookies
    request = harness.authorization_request(extra={"prompt": "none"})
    _, callback, _ = harness.attempt(request)
    assert callback is not None and callback.code
    # ...and went into Chromium again: no form this time, in every response mode.
    for mode, expected in ((None, "query"), ("fragment", "fragment"), ("form_post", "form_post")):
        extra = {"response_mode": mode} if mode else None
        login = harness.code(request=harness.authorization_request(extra=extra))
        assert login.response.mode == expected and not login.prompted
        assert harness.driver.steps_run == []
        assert harness.exchange(login).ok
    # A fresh httpx browser is a Chromium without session: the form again.
    login = harness.code(browser=harness.http.new_browser(), user=harness.user(3))
    assert login.prompted and harness.driver.steps_run == [1, 2]
    harness.close()
    assert harness.driver._chromium is None


@needs_chromium
def test_browser_skips_optional_and_unmatched_steps_and_waits_for_ecps(harness_for, simulator):
    harness = harness_for(
        """
[driver]
name = "browser"
step_timeout = 15
[[driver.steps]]
click = ".consent-submit"
optional = true
[[driver.steps]]
click = "input[name=method][value=ecps]"
[[driver.steps]]
fill = "input[name=idNat]"
value = "{user}"
[[driver.steps]]
click = ".consent-submit"
match = "/interaction/"
[[driver.steps]]
click = "button[type=submit]"
[[driver.steps]]
wait = "#ecps-pending"
"""
    )
    user = harness.user(4)
    with control(simulator) as api:
        api.post("/_simulator/phone", json={"login_hint": user, "decision": "ignore"})

        def phone() -> None:
            # Approves a while after the waiting page shows (the driver recorded it), past the
            # 2 s a meta refresh would take: the page reloads once, by its script alone.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if any("/auth/ecps" in e.url for e in harness.recorder.exchanges):
                    break
                time.sleep(0.05)
            time.sleep(2.5)
            api.post("/_simulator/phone", json={"login_hint": user, "decision": "approve"})

        approve = threading.Thread(target=phone, daemon=True)
        approve.start()
        login = harness.code(user=user)
        approve.join()
    assert login.code and harness.driver.steps_run == [2, 3, 5, 6]
    assert login.response.params.get("state") == login.request.state
    tokens = harness.exchange(login)
    assert tokens.ok and tokens.id_token is not None


@needs_chromium
def test_browser_step_that_finds_nothing_fails_in_one_line_naming_it(harness_for):
    harness = harness_for(
        """
[driver]
name = "browser"
step_timeout = 1
[[driver.steps]]
fill = "input[name=idNat]"
value = "{user}"
[[driver.steps]]
click = "button.nope"
"""
    )
    harness.driver._launch()  # Chromium's start is not the step's time
    started = time.monotonic()
    with pytest.raises(TargetError) as failure:
        harness.code()
    elapsed = time.monotonic() - started
    message = str(failure.value)
    assert "\n" not in message
    assert "step 2/2 (click = 'button.nope') timed out after 1 s" in message
    assert "/auth?" in message and "title 'Pro Santé Connect" in message
    assert elapsed < 15, elapsed  # bounded by step_timeout, far from login_timeout (300 s)


@needs_chromium
def test_browser_trusts_the_profile_ca_only(harness_for, tmp_path):
    """Chromium accepts the simulator's certificate because ca_file holds its CA: with another
    CA it refuses it; insecure_tls = true is the only way past that."""
    from psc_testkit.client.drivers.browser import BrowserDriver
    from psc_testkit.simulator.tls import LocalCA

    harness = harness_for(f'[driver]\nname = "browser"\nstep_timeout = 5\n{FORM_STEPS}')
    other = tmp_path / "other-ca.pem"
    other.write_bytes(LocalCA().pem())
    harness.driver = BrowserDriver(harness.target.driver, ca_file=other)
    try:
        with pytest.raises(TargetError, match="ERR_CERT_AUTHORITY_INVALID"):
            harness.code()
    finally:
        harness.driver.close()
    insecure = replace(harness.target.driver, insecure_tls=True)
    harness.driver = BrowserDriver(insecure, ca_file=other)
    assert harness.code().code


# manual ---------------------------------------------------------------------------------------


def person(out: Lines, simulator: SimulatorProcess, user: str, stop: threading.Event) -> None:
    """Someone who opens each printed URL in their own browser (here httpx with its own
    cookies) and logs in with a CPS card on the simulator's page."""
    context = ssl.create_default_context(cafile=simulator.ca)
    with httpx.Client(verify=context, timeout=10) as browser:
        while not stop.is_set():
            try:
                line = out.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if not line.startswith("  https://"):
                continue
            response = browser.get(line.strip())
            if match := TX.search(response.text):
                response = browser.post(
                    urljoin(str(response.url), "/auth/login"),
                    data={"tx": match.group(1), "method": "cps", "idNat": user},
                )
            if response.is_redirect:
                browser.get(response.headers["location"])
            else:  # form_post: the page's form, submitted as its script would
                form = parse_forms(response.text)[0]
                fields = {i["name"]: i.get("value", "") for i in form["inputs"] if i.get("name")}
                browser.post(form["action"], data=fields)


@pytest.fixture
def manual(harness_for, simulator) -> Iterator[tuple[Harness, Lines]]:
    harness = harness_for('[driver]\nname = "manual"\nlogin_timeout = 20')
    out = Lines()
    harness.driver.out = out
    stop = threading.Event()
    thread = threading.Thread(
        target=person, args=(out, simulator, harness.user(), stop), daemon=True
    )
    thread.start()
    yield harness, out
    stop.set()
    thread.join(5)


@pytest.mark.parametrize("mode", ["query", "form_post"])
def test_manual_driver_catches_the_response_the_person_brings_back(manual, mode):
    harness, out = manual
    request = harness.authorization_request(extra={"response_mode": mode})
    login = harness.code(request=request)
    assert login.response.mode == mode
    assert login.response.params.get("state") == request.state
    assert harness.exchange(login).ok
    assert "log in as" in out.text and request.url() in out.text
    # The person's browser holds the session now: the next URL says so and completes at once.
    again = harness.code()
    assert harness.exchange(again).ok
    assert "SSO session should answer at once" in out.text.split(request.url())[-1]


@needs_chromium
def test_manual_driver_reads_a_fragment_through_its_page(harness_for, simulator):
    from playwright.sync_api import sync_playwright

    harness = harness_for('[driver]\nname = "manual"\nlogin_timeout = 20')
    out = Lines()
    harness.driver.out = out
    user = harness.user()
    result: dict = {}

    def authorize() -> None:
        request = harness.authorization_request(extra={"response_mode": "fragment"})
        result["login"] = harness.code(request=request)

    # Playwright's sync API belongs to this thread: the driver waits in another one.
    thread = threading.Thread(target=authorize, daemon=True)
    thread.start()
    url = out.lines.get(timeout=10)
    while not url.startswith("  https://"):
        url = out.lines.get(timeout=10)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        page = chromium.new_context(ignore_https_errors=True).new_page()
        page.goto(url.strip())
        page.fill("input[name=idNat]", user)
        page.click("button[type=submit]")
        page.wait_for_function("document.body.innerText.includes('close this tab')")
        chromium.close()
    thread.join(10)
    login = result["login"]
    assert login.response.mode == "fragment" and harness.exchange(login).ok


def test_manual_driver_gives_up_after_login_timeout(harness_for):
    harness = harness_for('[driver]\nname = "manual"\nlogin_timeout = 0.5')
    harness.driver.out = Lines()
    started = time.monotonic()
    with pytest.raises(
        TargetError, match=r"login: no response at http://127\.0\.0\.1:\d+/callback"
    ):
        harness.code()
    assert time.monotonic() - started < 3


def test_manual_driver_needs_a_certificate_for_an_https_redirect_uri(harness_for):
    harness = harness_for('[driver]\nname = "manual"')
    with pytest.raises(LoginError, match="listener_cert"):
        harness.driver.authenticate(
            harness.http.browser, "https://x/auth", "https://127.0.0.1:1/cb", "u"
        )


# ciba -----------------------------------------------------------------------------------------


def test_ciba_driver_asks_the_tester_and_ends_with_tokens(harness_for, simulator):
    harness = harness_for('[driver]\nname = "ciba"\nlogin_timeout = 20')
    out = Lines()
    harness.driver.out = out
    user = harness.user(5)
    with control(simulator) as api:
        # The simulated phone approves by itself unless told otherwise: here the tester does.
        api.post("/_simulator/phone", json={"login_hint": user, "decision": "ignore"})
        asked: dict[str, str] = {}

        def tester() -> None:
            line = out.lines.get(timeout=10)
            found = re.search(r"CIBA request for (\S+) \(showing (\d\d)\): approve", line)
            if found:
                asked.update(user=found.group(1), binding=found.group(2))
                api.post(
                    "/_simulator/phone",
                    json={"login_hint": found.group(1), "decision": "approve"},
                )

        thread = threading.Thread(target=tester, daemon=True)
        thread.start()
        tokens = harness.tokens(user=user)
        thread.join(5)
    assert tokens.ok and tokens.access_token and tokens.id_token is not None
    assert asked["user"] == user and f"showing {asked['binding']}" in out.text
    assert tokens.login is None and tokens.client.ciba


def test_ciba_driver_skips_what_needs_a_front_channel_login(harness_for):
    # The harness says why; the plugin reports it as a skip (see the CIBA run below).
    harness = harness_for('[driver]\nname = "ciba"')
    with pytest.raises(NoFrontChannel, match=NO_CODE):
        harness.code()
    public = harness.target.client("none")
    with pytest.raises(NoFrontChannel, match="psc-testkit-public is not CIBA-enabled"):
        harness.tokens(client=public)


# profiles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("driver", "message"),
    [
        (
            '[[driver.steps]]\nfill = "#a"\nvalue = "x"\n[[driver.steps]]\noptional = true',
            "driver.steps[1]: no action: give one of fill, click, wait, wait_url",
        ),
        (
            '[[driver.steps]]\nfill = "#a"\nclick = "#b"\nvalue = "x"',
            "driver.steps[0]: two actions (fill, click): one action per step",
        ),
        ('[[driver.steps]]\nfill = "#a"', "driver.steps[0]: fill needs a value"),
        ('[[driver.steps]]\nclick = "#a"\nvalue = "x"', "value goes with fill, not click"),
        ('[[driver.steps]]\nclick = "#a"\nselector = "x"', "driver.steps[0]: unknown key"),
        ('[[driver.steps]]\nwait = ""', "driver.steps[0]: wait needs a non-empty string"),
        ('[[driver.steps]]\nwait = "#a"\noptional = "yes"', "optional is true or false"),
        ("", "the browser driver needs [[driver.steps]], or headless = false"),
        ('step_timeout = 0\n[[driver.steps]]\nwait = "#a"', "step_timeout must be a positive"),
        ('headless = "no"', "headless is true or false"),
    ],
)
def test_malformed_driver_tables_are_refused_with_where_and_why(tmp_path, driver, message):
    if "headless" not in driver:
        driver = f'name = "browser"\n{driver}'
    else:
        driver = f'name = "browser"\n{driver}\n[[driver.steps]]\nwait = "#a"'
    path = tmp_path / "p.toml"
    path.write_text(
        '[target]\ndiscovery_url = "https://op.test/.well-known/openid-configuration"\n'
        f"[driver]\n{driver}\n"
        '[[clients]]\nclient_id = "c"\nauth_method = "none"\nredirect_uri = "http://127.0.0.1/cb"\n'
    )
    with pytest.raises(ProfileError) as refused:
        load_target(path)
    assert message in str(refused.value) and str(path) in str(refused.value)


def test_driver_table_is_read_into_the_profile(tmp_path, monkeypatch):
    monkeypatch.delenv("PSC_CHROMIUM", raising=False)
    path = tmp_path / "p.toml"
    path.write_text(
        '[target]\ndiscovery_url = "https://op.test/x"\n'
        '[driver]\nname = "browser"\nheadless = false\nstep_timeout = 5\nlogin_timeout = 60\n'
        'chromium = "/opt/chromium"\n[[driver.steps]]\nclick = ".go"\nmatch = "/interaction/"\n'
        '[[clients]]\nclient_id = "c"\nauth_method = "none"\nredirect_uri = "http://127.0.0.1/cb"\n'
    )
    driver: Target = load_target(path)
    profile = driver.driver
    assert (profile.headless, profile.step_timeout, profile.login_timeout) == (False, 5.0, 60.0)
    assert profile.chromium == "/opt/chromium"
    assert profile.steps[0].text() == "click = '.go', match = '/interaction/'"
    monkeypatch.setenv("PSC_CHROMIUM", "/usr/local/bin/chromium")
    assert load_target(path).driver.chromium == "/usr/local/bin/chromium"


# the whole suite ------------------------------------------------------------------------------


@needs_chromium
@pytest.mark.timeout(600)  # some 200 checks, a Chromium login each: 110 s here, more on CI
def test_the_conformance_suite_passes_with_the_browser_driver(profile, tmp_path):
    """The whole suite in headless Chromium against the simulator: as with the simulator
    driver, except the two checks only that driver can run (it picks CPS or e-CPS)."""
    path = profile(f'[driver]\nname = "browser"\nstep_timeout = 10\n{FORM_STEPS}')
    result = psc_testkit("conformance", "--target", str(path), "--reports", str(tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text())
    bad = [(c["check"], c["message"]) for c in summary["checks"] if c["verdict"] != "passed"]
    skipped = {c["check"].split("::")[-1] for c in summary["checks"] if c["verdict"] == "skipped"}
    assert result.returncode == 0, (bad, result.stdout[-3000:])
    assert {
        "test_auth_mode_matches_the_login_method[cps-CARD]",
        "test_auth_mode_matches_the_login_method[ecps-MOBILE]",
    } <= skipped, bad
    assert summary["counts"]["passed"] >= 200


def test_ciba_checks_ask_a_tester_on_a_target_that_is_not_the_simulator(simulator, tmp_path):
    """The CIBA checks and token checks against a provider described like any other (no control
    API), with the ciba driver: a tester reading the run's messages answers on the "phone"."""
    with control(simulator) as api:
        users = [u["idNat"] for u in api.get("/_simulator/users?limit=12").json()["users"]]
        for user in users:  # nobody answers unless the tester does
            api.post("/_simulator/phone", json={"login_hint": user, "decision": "ignore"})
    path = tmp_path / "provider.toml"
    path.write_text(
        f'[target]\ndiscovery_url = "{simulator.issuer}/.well-known/wallet-openid-configuration"\n'
        f'ca_file = "{simulator.ca}"\n'
        f'[driver]\nname = "ciba"\nlogin_timeout = 30\nusers = {json.dumps(users)}\n'
        '[[clients]]\nclient_id = "psc-testkit-basic"\nauth_method = "client_secret_basic"\n'
        'client_secret = "sim-basic-6f1d2c9a4e"\nredirect_uri = "http://127.0.0.1:1/callback"\n'
        "ciba = true\n"
    )
    checks = "ciba_poll_mode or rfc7009 or test_successful_authorization_returns_a_code"
    # A session of its own: no terminal, so the driver speaks on stderr; -s lets it through.
    command = ["conformance", "--target", str(path), "--reports", str(tmp_path)]
    output = (tmp_path / "stdout.txt").open("w+")
    child = subprocess.Popen(
        [sys.executable, "-m", "psc_testkit", *command, "--", "-s", "-k", checks],
        cwd=ROOT,
        stdout=output,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    heard: list[str] = []

    def tester() -> None:
        # The simulated phone keeps a decision per professional; a person answers one request:
        # once the check has its answer (the request is gone), the phone waits again.
        with control(simulator) as api:
            for line in child.stderr:
                found = re.search(r"CIBA request for (\S+) .*: (approve|REFUSE)", line)
                if not found:
                    continue
                heard.append(line.strip())
                user, decision = (
                    found.group(1),
                    "approve" if found.group(2) == "approve" else "deny",
                )
                waiting = set(api.get("/_simulator/issued").json()["pending"])
                api.post("/_simulator/phone", json={"login_hint": user, "decision": decision})
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    if waiting - set(api.get("/_simulator/issued").json()["pending"]):
                        break
                    time.sleep(0.05)
                api.post("/_simulator/phone", json={"login_hint": user, "decision": "ignore"})

    thread = threading.Thread(target=tester, daemon=True)
    thread.start()
    child.wait(timeout=120)
    thread.join(5)
    output.seek(0)
    out = output.read()
    summary = json.loads((tmp_path / "summary.json").read_text())
    verdicts = {c["check"].split("::")[-1]: c for c in summary["checks"]}
    assert child.returncode == 0, out[-3000:]
    assert verdicts["test_approved_request_returns_tokens"]["verdict"] == "passed"
    assert verdicts["test_denied_request_is_access_denied"]["verdict"] == "passed"
    revocation = [c for c in summary["checks"] if "rfc7009" in c["check"]]
    assert revocation and all(c["verdict"] == "passed" for c in revocation)
    code_flow = verdicts["test_successful_authorization_returns_a_code"]
    assert code_flow["verdict"] == "skipped" and NO_CODE in code_flow["message"]
    assert any("showing 42" in line for line in heard)  # the checks' binding message
    assert any("REFUSE" in line for line in heard)


def test_manual_driver_skips_the_checks_that_read_the_sso_session(tmp_path):
    """The session of a manual login lives in the person's browser: checks that probe it are
    skipped with that reason before anyone is asked to log in."""
    profile = tmp_path / "manual.toml"
    profile.write_text(
        '[target]\nname = "manual"\n'
        'discovery_url = "http://127.0.0.1:9/.well-known/openid-configuration"\n'
        '[driver]\nname = "manual"\nusers = ["899700000005"]\n'
        '[[clients]]\nclient_id = "c"\nauth_method = "none"\n'
        'redirect_uri = "http://127.0.0.1:8080/callback"\n'
    )
    result = psc_testkit(
        "conformance",
        "--target",
        str(profile),
        "--reports",
        str(tmp_path),
        "--",
        "-m",
        "sso_session",
        timeout=120,
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert result.returncode == 0, result.stdout[-2000:]
    assert len(summary["checks"]) >= 12
    for check in summary["checks"]:
        assert check["verdict"] == "skipped"
        assert "the manual driver's session lives in the person's browser" in check["message"]


# login safety ---------------------------------------------------------------------------------

# Passwords with characters every encoding changes: a report that holds one in any spelling shows.
ALICE_PASSWORD = 'alice pw+1&é="<ok>"'
BOB_PASSWORD = "bob/pw%2 ü;x"
USERS = (
    'users = [{ login = "alice", password = "{env:PSC_TEST_ALICE_PASSWORD}" },\n'
    '         { login = "bob", password = "{env:PSC_TEST_BOB_PASSWORD}" }]\n'
)
HTML_FORM = f'[driver]\nname = "html_form"\n{USERS}[driver.fields]\nusername = "{{user}}"\n'
PASSWORD_STEPS = """
[[driver.steps]]
fill = "#username"
value = "{user}"
[[driver.steps]]
fill = "#password"
value = "{password}"
[[driver.steps]]
click = "#kc-login"
"""


@pytest.fixture
def passwords(monkeypatch) -> None:
    monkeypatch.setenv("PSC_TEST_ALICE_PASSWORD", ALICE_PASSWORD)
    monkeypatch.setenv("PSC_TEST_BOB_PASSWORD", BOB_PASSWORD)


def login_harness(tmp_path: Path, server: login_server.LoginServer, driver: str) -> Harness:
    path = tmp_path / "login-server.toml"
    path.write_text(login_server.profile(server, driver))
    return Harness(load_target(path))


def spellings(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


def test_html_form_posts_a_refused_password_once_and_the_third_refusal_stops_the_run(
    tmp_path, passwords
):
    """Bob's password is not the provider's: each login posts it once, sees the form come back
    and stops; the third stops the run, and after it nothing reaches the provider at all."""
    with login_server.started({"alice": ALICE_PASSWORD, "bob": "another"}) as server:
        harness = login_harness(tmp_path, server, HTML_FORM + 'password = "{password}"')
        try:
            for attempt in (1, 2):
                with pytest.raises(TargetError) as refused:
                    harness.code(user="bob", browser=harness.http.new_browser())
                assert not isinstance(refused.value, RunStopped)
                assert str(refused.value) == (
                    "login: the login form came back: check [driver.fields] and the password "
                    "(not posted again)"
                )
                assert len(server.posts) == attempt  # the form came back: not posted again
            with pytest.raises(RunStopped) as stopped:
                harness.code(user="bob", browser=harness.http.new_browser())
            assert str(stopped.value) == (
                "3 logins failed in this run (the login form came back: check [driver.fields] "
                "and the password): stopped before the provider locks the account; check the "
                "profile's credentials"
            )
            # Even alice, whose password is right: the run is over, the provider hears nothing.
            with pytest.raises(RunStopped):
                harness.code(user="alice", browser=harness.http.new_browser())
        finally:
            harness.close()
        assert [(p.username, p.password) for p in server.posts] == [("bob", BOB_PASSWORD)] * 3
        assert server.pages == 3


def test_each_user_logs_in_with_their_own_password_which_no_report_shows(tmp_path, passwords):
    with login_server.started({"alice": ALICE_PASSWORD, "bob": BOB_PASSWORD}) as server:
        harness = login_harness(tmp_path, server, HTML_FORM + 'password = "{password}"')
        try:
            for user in ("alice", "bob"):
                login = harness.code(user=user, browser=harness.http.new_browser())
                assert harness.exchange(login).ok
            evidence = json.dumps(
                [e.to_dict(harness.recorder.redact) for e in harness.recorder.exchanges]
            )
        finally:
            harness.close()
        assert [(p.username, p.password) for p in server.posts] == [
            ("alice", ALICE_PASSWORD),
            ("bob", BOB_PASSWORD),
        ]
        for secret in (ALICE_PASSWORD, BOB_PASSWORD):
            assert not [s for s in spellings(secret) if s in evidence], secret
        # A whole run's reports, every user logging in with their own password.
        reports = tmp_path / "reports"
        args = ("--target", str(tmp_path / "login-server.toml"), "--reports", str(reports))
        result = psc_testkit("conformance", *args, "--", "-k", "nonce or state")
        assert "Traceback" not in result.stdout + result.stderr
        assert {p.username for p in server.posts} == {"alice", "bob"}, len(server.posts)
        assert all(
            p.password == {"alice": ALICE_PASSWORD}.get(p.username, BOB_PASSWORD)
            for p in server.posts
        )
        written = [f for f in reports.rglob("*") if f.is_file()]
        assert written
        output = result.stdout + result.stderr
        for file in written:
            text = file.read_bytes().decode("utf-8", "replace")
            for secret in (ALICE_PASSWORD, BOB_PASSWORD):
                for spelling in spellings(secret):
                    assert spelling not in text, (file.name, spelling)
                    assert spelling not in output


@needs_chromium
def test_browser_types_a_refused_password_once_and_each_user_their_own(tmp_path, passwords):
    with login_server.started({"alice": ALICE_PASSWORD, "bob": "another"}) as server:
        driver = f'[driver]\nname = "browser"\nstep_timeout = 10\n{USERS}{PASSWORD_STEPS}'
        harness = login_harness(tmp_path, server, driver)
        try:
            harness.driver._launch()  # Chromium's start is not the login's time
            started = time.monotonic()
            with pytest.raises(TargetError) as refused:
                harness.code(user="bob")
            # Seen when the form came back, not after the step timeout (10 s) ran out.
            assert time.monotonic() - started < 8
            assert str(refused.value) == (
                "login: the login form came back: check [[driver.steps]] and the password "
                "(not typed again)"
            )
            assert [(p.username, p.password) for p in server.posts] == [("bob", BOB_PASSWORD)]
            login = harness.code(user="alice", browser=harness.http.new_browser())
            assert login.code and harness.exchange(login).ok
            assert server.posts[-1].password == ALICE_PASSWORD
            for attempt in (2, 3):
                browser = harness.http.new_browser()
                expected = TargetError if attempt < 3 else RunStopped
                with pytest.raises(expected):
                    harness.code(user="bob", browser=browser)
            with pytest.raises(RunStopped, match="3 logins failed in this run"):
                harness.code(user="alice", browser=harness.http.new_browser())
        finally:
            harness.close()
        assert [p.username for p in server.posts] == ["bob", "alice", "bob", "bob"]


@needs_chromium
def test_browser_sees_a_password_refused_in_place_and_does_not_type_it_again(tmp_path, passwords):
    """A login page that posts its form by script and shows the refusal where it is (no new
    page): the password field still there after the last step is a refused login too."""
    with login_server.started({"bob": "another"}, in_place=True) as server:
        driver = f'[driver]\nname = "browser"\nstep_timeout = 2\n{USERS}{PASSWORD_STEPS}'
        harness = login_harness(tmp_path, server, driver)
        try:
            with pytest.raises(TargetError) as refused:
                harness.code(user="bob")
        finally:
            harness.close()
        assert "login: the login form came back: check [[driver.steps]]" in str(refused.value)
        assert [(p.username, p.password) for p in server.posts] == [("bob", BOB_PASSWORD)]


def test_a_run_stops_at_the_third_refused_login_before_a_fourth_post(tmp_path, monkeypatch):
    """A whole conformance run against a provider that refuses the profile's password: three
    credential posts reach it, no more, and the run says why in one line."""
    monkeypatch.setenv("PSC_TEST_WRONG_PASSWORD", "not-the-password")
    with login_server.started({"899700000005": "the-password"}) as server:
        path = tmp_path / "refusing.toml"
        driver = (
            '[driver]\nname = "html_form"\nusers = ["899700000005"]\n[driver.fields]\n'
            'username = "{user}"\npassword = "{env:PSC_TEST_WRONG_PASSWORD}"\n'
        )
        path.write_text(login_server.profile(server, driver, "refusing"))
        reports = tmp_path / "reports"
        result = psc_testkit("conformance", "--target", str(path), "--reports", str(reports))
        posts = len(server.posts)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert posts == 3, (posts, output[-3000:])
    assert result.returncode == 3, output[-3000:]  # a prerequisite broken: the run stopped
    assert result.stderr.splitlines() == [
        "psc-testkit conformance: run stopped: 3 logins failed in this run (the login form "
        "came back: check [driver.fields] and the password): stopped before the provider locks "
        "the account; check the profile's credentials"
    ]
    assert "not-the-password" not in output
    for file in (p for p in reports.rglob("*") if p.is_file()):
        assert b"not-the-password" not in file.read_bytes(), file.name
