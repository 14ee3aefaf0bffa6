"""Front-channel quirks of the simulator (quirks.py), by hand over real HTTP, and the client
core (drivers, harness) getting through them: redirect hops, a login cookie, a consent page,
an auto-submitting hop, extra response parameters, long codes, error pages, a logout
confirmation, a delayed prompt=login."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urljoin

import httpx
import pytest

from psc_testkit.client import flow
from psc_testkit.client.config import load_target
from psc_testkit.conformance.harness import Harness
from psc_testkit.simulator.process import SimulatorProcess
from tests.conftest import PROFILE, client_context
from tests.simulator.flows import REDIRECT_URI, Sim, query_of

THROUGH = [
    "redirect-hops",
    "login-cookie",
    "consent-page",
    "auto-submit-hop",
    "authorization-response-extra-params",
    "long-codes",
    "logout-confirmation-page",
]
REFUSING = ["error-page-200", "prompt-login-delayed", "prompt-none-interaction-required"]


def started(quirks: list[str]) -> Iterator[SimulatorProcess]:
    process = SimulatorProcess(quirks=quirks, tls=True, config=PROFILE).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def through() -> Iterator[SimulatorProcess]:
    yield from started(THROUGH)


@pytest.fixture(scope="module")
def refusing() -> Iterator[SimulatorProcess]:
    yield from started(REFUSING)


def browser(process: SimulatorProcess) -> httpx.Client:
    return httpx.Client(verify=client_context(process), timeout=10)


def hop(http: httpx.Client, response: httpx.Response) -> httpx.Response:
    return http.get(urljoin(str(response.url), response.headers["location"]))


def harness_of(process: SimulatorProcess) -> Harness:
    return Harness(load_target(PROFILE, **process.runtime()))


def test_hops_cookie_consent_and_auto_submit_by_hand(through):
    with browser(through) as http:
        sim = Sim(through, http)
        params = sim.params()
        response = sim.authorize(params)
        statuses = []
        while response.is_redirect:  # 302 then 303s through /auth/hop on the wallet host
            statuses.append(response.status_code)
            assert "/auth/hop?" in response.headers["location"]
            response = hop(http, response)
        assert statuses == [302, 303, 303]
        assert response.status_code == 200 and 'name="tx"' in response.text
        assert "PSC_AUTH_SESSION" in response.headers.get("set-cookie", "")

        # The login form's POST without the cookie its page set is refused, as Keycloak does.
        jar = http.cookies
        http.cookies = httpx.Cookies()
        refused = sim.login(response, sim.user())
        assert refused.status_code == 400 and "Cookie not found" in refused.text
        http.cookies = jar

        consent = sim.login(response, sim.user())
        form = next(f for f in flow.parse_forms(consent.text) if f["id"] == "consent")
        fields = {i["name"]: i.get("value", "") for i in form["inputs"] if i.get("name")}
        auto = http.post(urljoin(str(consent.url), form["action"]), data=fields)
        submitted = flow.auto_submit_form(auto.text)
        assert auto.status_code == 200 and submitted["action"] == "/auth/continue"
        response = http.post(
            urljoin(str(auto.url), "/auth/continue"), data=flow.form_fields(submitted)
        )
        while response.is_redirect and "/auth/hop?" in response.headers["location"]:
            response = hop(http, response)
        location = response.headers["location"]
        assert location.startswith(REDIRECT_URI + "?")
        callback = query_of(location)
        assert len(callback["code"]) == 1000
        assert {"session_state", "psc_simulator_hint"} <= set(callback)
        names = list(flow.parse_redirect(location).params)
        assert names[0] == "iss" and names[-1] == "state"

        # Granted once for the client: the next authorization asks nothing (hops aside); for
        # another client prompt=none answers consent_required (OIDC Core §3.1.2.6).
        again = sim.authorize(sim.params())
        while "/auth/hop?" in again.headers.get("location", ""):
            again = hop(http, again)
        assert "code" in query_of(again.headers["location"])
        other = sim.authorize(sim.params("psc-testkit-post", prompt="none"))
        while "/auth/hop?" in other.headers.get("location", ""):
            other = hop(http, other)
        assert query_of(other.headers["location"])["error"] == "consent_required"


def test_the_client_core_gets_through_every_hop(through):
    harness = harness_of(through)
    try:
        login = harness.code()
        assert len(login.code) == 1000 and login.response.params["session_state"]
        assert login.prompted  # the driver filled the login form
        # A consent page and an auto-submitting page (HTTP 200 both) are no login: prompted
        # reads the driver's word, not "a page was shown".
        consent = harness.authorize(harness.authorization_request(extra={"prompt": "consent"}))
        assert consent.code and not consent.prompted
        assert [e for e in consent.exchanges[:-1] if e.status == 200]
        tokens = harness.exchange(login)
        assert tokens.ok, tokens.response.text
        # Silent answers come back through the hops too: attempt follows the chain.
        request = harness.authorization_request(extra={"prompt": "none"})
        response, callback, exchanges = harness.attempt(request)
        assert callback is not None and callback.code, response.status_code
        assert len(exchanges) == 4  # the request and three hops, each one recorded
        # POST to the authorization endpoint: its hops are followed the same way.
        assert harness.authorize(post=True).code
    finally:
        harness.close()


def test_logout_asks_even_with_a_valid_hint(through):
    harness = harness_of(through)
    try:
        session = harness.http.new_browser()
        tokens = harness.exchange(harness.code(browser=session))
        url = flow.logout_url(
            harness.meta,
            id_token_hint=tokens.get("id_token"),
            post_logout_redirect_uri="http://127.0.0.1:8080/logged-out",
            state="s1",
        )
        page = session.get(url)
        assert page.status_code == 200 and 'name="confirm"' in page.text
        request = harness.authorization_request(extra={"prompt": "none"})
        assert harness.attempt(request, session)[1].code  # not logged out before confirming
        form = flow.parse_forms(page.text)[0]
        fields = {i["name"]: i.get("value", "") for i in form["inputs"] if i.get("name")}
        done = session.post(urljoin(str(page.url), form["action"]), data=fields)
        assert done.headers["location"] == "http://127.0.0.1:8080/logged-out?state=s1"
        assert harness.attempt(request, session)[1].error == "login_required"
    finally:
        harness.close()


def test_error_pages_delayed_prompt_login_and_interaction_required(refusing):
    harness = harness_of(refusing)
    try:
        harness.code()
        for request in (
            harness.authorization_request(omit=("response_type",)),
            harness.authorization_request(extra={"response_type": "token"}),
        ):
            response, callback, _ = harness.attempt(request)
            assert callback is None and response.status_code == 200
            assert "location" not in response.headers and "Erreur" in response.text

        # prompt=login on a session younger than 5 s (simulator clock): silent; older: asked.
        prompt_login = {"prompt": "login"}
        assert not harness.authorize(harness.authorization_request(extra=prompt_login)).prompted
        harness.wait(6)
        assert harness.authorize(harness.authorization_request(extra=prompt_login)).prompted

        request = harness.authorization_request(extra={"prompt": "none"})
        _, callback, _ = harness.attempt(request, harness.http.new_browser())
        assert callback.error == "interaction_required"
    finally:
        harness.close()
