"""The wallet host's authorization endpoint and login pages (RFC 6749 §4.1, OIDC §3.1.2)."""

import pytest

from tests.simulator.flows import query_of

ISSUER_PARAM = "iss"


def test_authorization_request_shows_the_login_page(sim):
    page = sim.authorize(sim.params())
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert (
        'name="idNat"' in page.text and 'value="cps"' in page.text and 'value="ecps"' in page.text
    )


def test_card_login_redirects_with_code_state_and_iss(sim):
    params = sim.params()
    response = sim.login(sim.authorize(params), sim.user())
    assert response.status_code == 302
    callback = query_of(response.headers["location"])
    assert response.headers["location"].startswith(params["redirect_uri"] + "?")
    assert callback["state"] == params["state"]
    assert callback[ISSUER_PARAM] == sim.process.issuer  # RFC 9207
    assert len(callback["code"]) >= 43  # 256 bits of entropy, base64url


def test_post_authorization_request_works_like_get(sim):
    page = sim.authorize(sim.params(), method="POST")
    assert page.status_code == 200 and 'name="tx"' in page.text


def test_unknown_client_gets_an_error_page_and_no_redirect(sim):
    response = sim.authorize(sim.params(client_id="nobody"))
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://attacker.example/callback",
        "http://127.0.0.1:8080/callback/../evil",
        "http://127.0.0.1:8080/callback?x=1",
        "HTTP://127.0.0.1:8080/callback",
        "",
    ],
)
def test_unregistered_redirect_uri_gets_no_redirect(sim, redirect_uri):
    response = sim.authorize(sim.params(redirect_uri=redirect_uri))
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "scope_all"}, "invalid_scope"),
        ({"code_challenge_method": "S512"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "bogus"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://rp.example/req"}, "request_uri_not_supported"),
        ({"id_token_hint": "not-a-jwt"}, "invalid_request"),
        ({"response_mode": "web_message"}, "invalid_request"),
    ],
)
def test_invalid_requests_are_redirected_with_an_rfc6749_error(sim, overrides, error):
    params = sim.params(**overrides)
    response = sim.authorize(params)
    assert response.status_code == 302, response.text
    callback = query_of(response.headers["location"])
    assert callback["error"] == error
    assert callback["state"] == params["state"]
    assert callback[ISSUER_PARAM] == sim.process.issuer
    assert "code" not in callback


def test_repeated_parameter_is_an_invalid_request(sim):
    params = sim.params()
    sent = [(k, v) for k, v in params.items() if not k.startswith("_")] + [("scope", "openid")]
    response = sim.http.get(sim.meta["authorization_endpoint"], params=sent)
    assert response.status_code == 400  # cannot trust either redirect_uri: no redirect


def test_public_client_must_use_pkce(sim):
    params = sim.params("psc-testkit-public", code_challenge=None, code_challenge_method=None)
    callback = query_of(sim.authorize(params).headers["location"])
    assert callback["error"] == "invalid_request"


def test_unknown_parameters_are_ignored(sim):
    assert sim.authorize(sim.params(vendor_extension="x")).status_code == 200


def test_prompt_none_without_session_is_login_required(sim):
    params = sim.params(prompt="none")
    callback = query_of(sim.authorize(params).headers["location"])
    assert callback["error"] == "login_required"
    assert callback["state"] == params["state"]


def test_sso_session_makes_the_next_authorization_silent(sim):
    first = sim.code()
    again = sim.authorize(sim.params(prompt="none"))
    assert again.status_code == 302
    assert "code" in query_of(again.headers["location"])
    assert query_of(again.headers["location"])["code"] != first.code
    assert sim.authorize(sim.params()).status_code == 302  # no prompt either


def test_prompt_login_forces_a_new_authentication(sim):
    sim.code()
    page = sim.authorize(sim.params(prompt="login"))
    assert page.status_code == 200 and 'name="idNat"' in page.text


def test_id_token_hint_of_another_user_forces_login(sim):
    other = sim.tokens()  # the same client, another professional, another session
    sim.http.cookies.clear()
    sim.code()
    response = sim.authorize(sim.params(prompt="none", id_token_hint=other["id_token"]))
    assert query_of(response.headers["location"])["error"] == "login_required"


def test_login_hint_prefills_the_identifier_and_ui_locales_pick_the_language(sim):
    id_nat = sim.user()
    page = sim.authorize(sim.params(login_hint=id_nat, ui_locales="en-GB fr"))
    assert f'value="{id_nat}"' in page.text
    assert 'lang="en"' in page.text and "Sign in" in page.text
    assert 'lang="fr"' in sim.authorize(sim.params()).text


def test_unknown_identifier_is_refused_on_the_login_page(sim):
    response = sim.login(sim.authorize(sim.params()), "812345678903")
    assert response.status_code == 401
    assert 'role="alert"' in response.text and "location" not in response.headers


def test_form_post_response_mode_posts_the_code_to_the_client(sim):
    params = sim.params(response_mode="form_post")
    response = sim.login(sim.authorize(params), sim.user())
    assert response.status_code == 200
    assert f'action="{params["redirect_uri"]}"' in response.text
    assert 'name="code"' in response.text and params["state"] in response.text


def test_ecps_login_waits_for_the_phone_then_completes(sim):
    id_nat = sim.user()
    page = sim.authorize(sim.params())
    pending = sim.login(page, id_nat, method="ecps")
    assert pending.status_code == 303
    wait_url = sim.wallet_origin + pending.headers["location"]
    done = sim.http.get(wait_url)  # the default delay is 0: the phone has approved
    assert done.status_code == 302 and "code" in query_of(done.headers["location"])


def test_ecps_login_denied_on_the_phone_is_access_denied(sim):
    id_nat = sim.user()
    sim.phone(id_nat, "deny")
    try:
        params = sim.params()
        pending = sim.login(sim.authorize(params), id_nat, method="ecps")
        status = sim.http.get(
            sim.wallet_origin + "/auth/ecps/status?" + pending.headers["location"].split("?")[1]
        )
        assert status.json() == {"status": "denied"}
        done = sim.http.get(sim.wallet_origin + pending.headers["location"])
        callback = query_of(done.headers["location"])
        assert callback["error"] == "access_denied" and callback["state"] == params["state"]
    finally:
        sim.phone(id_nat, "approve")


def test_ecps_login_stays_pending_while_the_phone_has_not_answered(sim):
    id_nat = sim.user()
    sim.phone(id_nat, "ignore")
    try:
        pending = sim.login(sim.authorize(sim.params()), id_nat, method="ecps")
        wait = sim.http.get(sim.wallet_origin + pending.headers["location"])
        assert wait.status_code == 200 and 'id="ecps-pending"' in wait.text
        sim.phone(id_nat, "approve")
        done = sim.http.get(sim.wallet_origin + pending.headers["location"])
        assert done.status_code == 302 and "code" in query_of(done.headers["location"])
    finally:
        sim.phone(id_nat, "approve")
