"""RP-Initiated Logout 1.0."""

from tests.simulator.flows import LOGGED_OUT_URI, query_of


def test_logout_with_hint_redirects_with_state_and_ends_the_session(sim):
    tokens = sim.tokens()
    response = sim.http.get(
        sim.meta["end_session_endpoint"],
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": LOGGED_OUT_URI,
            "state": "bye",
        },
    )
    assert response.status_code == 302
    assert response.headers["location"] == LOGGED_OUT_URI + "?state=bye"
    callback = query_of(sim.authorize(sim.params(prompt="none")).headers["location"])
    assert callback["error"] == "login_required"
    refresh = sim.back(
        "token_endpoint", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 400
    assert sim.userinfo(tokens["access_token"]).status_code == 401


def test_unregistered_post_logout_redirect_uri_is_refused_and_the_session_kept(sim):
    tokens = sim.tokens()
    response = sim.http.get(
        sim.meta["end_session_endpoint"],
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://attacker.example/",
        },
    )
    assert response.status_code == 400 and "location" not in response.headers
    assert sim.authorize(sim.params(prompt="none")).status_code == 302


def test_invalid_id_token_hint_is_refused(sim):
    response = sim.http.get(sim.meta["end_session_endpoint"], params={"id_token_hint": "a.b.c"})
    assert response.status_code == 400


def test_logout_without_hint_asks_the_user_first(sim):
    sim.tokens()
    page = sim.http.get(sim.meta["end_session_endpoint"])
    assert page.status_code == 200 and 'name="confirm"' in page.text
    assert sim.authorize(sim.params(prompt="none")).status_code == 302  # not logged out yet
    done = sim.http.post(sim.meta["end_session_endpoint"], data={"confirm": "yes"})
    assert done.status_code == 200
    callback = query_of(sim.authorize(sim.params(prompt="none")).headers["location"])
    assert callback["error"] == "login_required"


def test_post_logout_redirect_uri_with_client_id_only(sim):
    sim.tokens()
    response = sim.http.get(
        sim.meta["end_session_endpoint"],
        params={
            "client_id": "psc-testkit-basic",
            "post_logout_redirect_uri": LOGGED_OUT_URI,
            "confirm": "yes",
        },
    )
    assert response.status_code == 302 and response.headers["location"] == LOGGED_OUT_URI
