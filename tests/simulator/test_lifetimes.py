"""PSC's lifetimes, with the provider's clock moved forward (its own simulator: the clock is
shared by everything that simulator serves)."""

from tests.simulator.flows import query_of


def test_max_age_forces_reauthentication_once_exceeded(clock_sim):
    sim = clock_sim
    sim.code()
    assert sim.authorize(sim.params(max_age="10000")).status_code == 302
    sim.advance(2)
    assert sim.authorize(sim.params(max_age="1")).status_code == 200  # login page again
    callback = query_of(sim.authorize(sim.params(max_age="1", prompt="none")).headers["location"])
    assert callback["error"] == "login_required"


def test_access_token_lives_120_seconds(clock_sim):
    sim = clock_sim
    tokens = sim.tokens()
    assert tokens["expires_in"] == 120
    assert sim.userinfo(tokens["access_token"]).status_code == 200
    sim.advance(121)
    expired = sim.userinfo(tokens["access_token"])
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]


def test_refresh_token_expires_with_thirty_minutes_of_inactivity(clock_sim):
    sim = clock_sim
    tokens = sim.tokens()
    assert 0 < tokens["refresh_expires_in"] <= 1800
    sim.advance(20 * 60)
    refreshed = sim.back(
        "token_endpoint", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    sim.advance(31 * 60)
    late = sim.back(
        "token_endpoint",
        {"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"]},
    )
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


def test_sso_session_ends_after_thirty_idle_minutes(clock_sim):
    sim = clock_sim
    sim.code()
    sim.advance(29 * 60)
    assert sim.authorize(sim.params(prompt="none")).status_code == 302
    response = sim.authorize(sim.params(prompt="none"))
    assert "code" in query_of(response.headers["location"])
    sim.advance(31 * 60)
    callback = query_of(sim.authorize(sim.params(prompt="none")).headers["location"])
    assert callback["error"] == "login_required"


def test_sso_session_ends_after_four_hours_even_when_active(clock_sim):
    sim = clock_sim
    sim.code()
    for _ in range(11):  # 11 × 20 min = 3 h 40 min of activity
        sim.advance(20 * 60)
        callback = query_of(sim.authorize(sim.params(prompt="none")).headers["location"])
        assert "code" in callback
    sim.advance(21 * 60)  # 4 h 01 min after the login
    callback = query_of(sim.authorize(sim.params(prompt="none")).headers["location"])
    assert callback["error"] == "login_required"


def test_codes_expire(clock_sim):
    sim = clock_sim
    result = sim.code()
    sim.advance(61)
    response = sim.token(result)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_ciba_request_expires(clock_sim):
    sim = clock_sim
    id_nat = sim.user()
    sim.phone(id_nat, "ignore")
    started = sim.back(
        "backchannel_authentication_endpoint",
        {"scope": "openid scope_all", "login_hint": id_nat, "binding_message": "42"},
    ).json()
    sim.advance(started["expires_in"] + 1)
    poll = sim.back(
        "token_endpoint",
        {"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": started["auth_req_id"]},
    )
    assert poll.status_code == 400 and poll.json()["error"] == "expired_token"
