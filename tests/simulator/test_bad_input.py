"""Hostile and malformed input gets an RFC-shaped 4xx, never a 500, and nothing is lost."""

import base64
import hashlib
import itertools
import json
import math
import time
import uuid
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import client_context, start
from tests.simulator.flows import query_of

POST_ENDPOINTS = [
    "token_endpoint",
    "introspection_endpoint",
    "revocation_endpoint",
    "backchannel_authentication_endpoint",
    "userinfo_endpoint",
]
BODIES = [
    ("application/x-www-form-urlencoded", b"%zz=%%%&&=="),
    ("application/x-www-form-urlencoded", b"grant_type=\xff\xfe"),
    ("application/x-www-form-urlencoded", b"a=1&a=2"),
    ("application/x-www-form-urlencoded", b"=" * 5000),
    ("application/json", b'{"grant_type": "authorization_code"}'),
    ("text/plain", b"hello"),
    (
        "multipart/form-data; boundary=x",
        b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--",
    ),
    ("", b""),
    ("application/x-www-form-urlencoded", b"grant_type=authorization_code&code=" + b"A" * 60000),
]


@pytest.mark.parametrize(("endpoint", "body"), list(itertools.product(POST_ENDPOINTS, BODIES)))
def test_malformed_bodies_get_a_4xx_json_error(sim, endpoint, body):
    content_type, payload = body
    headers = {"Content-Type": content_type} if content_type else {}
    response = sim.http.post(
        sim.meta[endpoint],
        content=payload,
        headers=headers,
        auth=("psc-testkit-basic", "sim-basic-6f1d2c9a4e"),
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["error"]


@pytest.mark.parametrize("endpoint", POST_ENDPOINTS)
def test_a_huge_body_is_refused_with_413(sim, endpoint):
    response = sim.http.post(
        sim.meta[endpoint],
        content=b"token=" + b"x" * (1024 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=("psc-testkit-basic", "sim-basic-6f1d2c9a4e"),
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "query",
    [
        "client_id=" + "x" * 20000,
        "%zz",
        "client_id=psc-testkit-basic&client_id=psc-testkit-basic",
        "client_id=%FF%FE",
        "client_id=psc-testkit-basic&redirect_uri=http://127.0.0.1:8080/callback&response_type=code"
        "&scope=openid&state=" + "s" * 5000,
        "",
    ],
)
def test_malformed_authorization_requests_never_error_500(sim, query):
    response = sim.http.get(sim.meta["authorization_endpoint"] + "?" + query)
    assert response.status_code < 500
    if response.status_code == 302:
        assert response.headers["location"].startswith("http://127.0.0.1:8080/callback?")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic " + "eA=="},  # "x": no colon
        {"Authorization": "Basic"},
        {"Authorization": "Bearer abc"},
    ],
)
def test_malformed_client_credentials_are_invalid_client(sim, headers):
    response = sim.http.post(
        sim.meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers=headers,
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_client", "invalid_request")


def test_garbage_client_assertion_is_invalid_client(sim):
    response = sim.http.post(
        sim.meta["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "not.a.jwt",
        },
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("path", ["/auth/login", "/auth/ecps?tx=unknown", "/auth/ecps/status"])
def test_login_pages_with_junk_do_not_error(sim, path):
    url = sim.wallet_origin + path
    response = (
        sim.http.post(url, content=b"\xff\xfe", headers={"Content-Type": "text/plain"})
        if path == "/auth/login"
        else sim.http.get(url)
    )
    assert response.status_code < 500


def test_control_api_rejects_junk(sim):
    origin = sim.process.origin
    assert sim.http.post(origin + "/_simulator/clock", content=b"{").status_code == 400
    assert sim.http.post(origin + "/_simulator/clock", json={"advance": -5}).status_code == 400
    assert sim.http.post(origin + "/_simulator/phone", json={"decision": "x"}).status_code == 400
    assert sim.http.get(origin + "/_simulator/users?limit=abc").status_code == 400


def test_logout_with_junk_does_not_error(sim):
    for params in (
        {"id_token_hint": "x" * 10000},
        {"client_id": "nobody"},
        {"post_logout_redirect_uri": "https://a.example"},
    ):
        assert sim.http.get(sim.meta["end_session_endpoint"], params=params).status_code == 400


@pytest.mark.parametrize("path", ["/auth/ecps", "/auth/ecps/status"])
@pytest.mark.parametrize("query", ["tx=a&tx=b", "tx=%FF%FE", "tx=%zz&tx=", "tx=a&" * 3000])
def test_e_cps_pages_refuse_a_repeated_or_malformed_tx_with_a_4xx(sim, path, query):
    """Was a 500: the e-CPS pages parsed their query without catching the parser's refusal."""
    response = sim.http.get(f"{sim.wallet_origin}{path}?{query}")
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    if path.endswith("/status"):
        assert response.json()["error"] == "invalid_request"
    else:
        assert response.headers["content-type"].startswith("text/html")


# "²" passes str.isdigit() but not int(); 5,000 digits pass both checks of old but exceed
# Python's int-string conversion limit: each was a 500.
AWKWARD_INTEGERS = ["²", "٣", "9" * 5000, "1" * 19, " 5", "5\n", "+5", "0x10", ""]


@pytest.mark.parametrize("value", AWKWARD_INTEGERS)
def test_max_age_that_is_not_a_small_ascii_integer_is_invalid_request(sim, value):
    response = sim.authorize(sim.params(max_age=value))
    assert response.status_code == 302, (response.status_code, response.text[:200])
    callback = query_of(response.headers["location"])
    assert callback["error"] == "invalid_request"


@pytest.mark.parametrize("value", AWKWARD_INTEGERS)
def test_requested_expiry_that_is_not_a_small_ascii_integer_is_invalid_request(sim, value):
    response = sim.back(
        "backchannel_authentication_endpoint",
        {"scope": "openid", "login_hint": sim.user(), "requested_expiry": value},
    )
    assert response.status_code == 400, (response.status_code, response.text[:200])
    assert response.json()["error"] == "invalid_request"


def test_ascii_integers_with_leading_zeros_still_work(sim):
    assert sim.authorize(sim.params(max_age="00")).status_code == 200  # the login page
    response = sim.back(
        "backchannel_authentication_endpoint",
        {"scope": "openid", "login_hint": sim.user(), "requested_expiry": "007"},
    )
    assert response.status_code == 200 and response.json()["expires_in"] == 7


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def assertion_request(sim, assertion: str):
    return sim.http.post(
        sim.meta["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


@pytest.mark.parametrize("alg", ["ES256", "HS256"])
def test_an_assertion_whose_alg_does_not_fit_the_registered_rsa_key_is_invalid_client(sim, alg):
    """Was a 500: pyjwt raised TypeError for an ES256 assertion checked with an RSA key."""
    now = int(time.time())
    claims = {
        "iss": "psc-testkit-jwt",
        "sub": "psc-testkit-jwt",
        "aud": sim.meta["token_endpoint"],
        "jti": str(uuid.uuid4()),
        "exp": now + 60,
    }
    key = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else "x" * 32
    response = assertion_request(sim, jwt.encode(claims, key, algorithm=alg))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "members",
    [
        '"exp": 1e999',
        '"exp": NaN',
        '"exp": []',
        '"exp": {"a": 1}',
        '"exp": ' + "9" * 400,
        '"exp": "soon"',
        '"exp": 4102444800, "iat": []',
        '"exp": 4102444800, "nbf": 1e999',
        '"exp": 4102444800, "aud": {"a": 1}',
    ],
)
def test_a_well_signed_assertion_with_absurd_claims_is_invalid_client(sim, members):
    """Signed with the client's own key, so only the claims' checks can refuse it."""
    key = (sim.process.state_dir / "psc-testkit-jwt.key.pem").read_bytes()
    aud = "" if '"aud"' in members else f'"aud": {json.dumps(sim.meta["token_endpoint"])}, '
    payload = (
        f'{{"iss": "psc-testkit-jwt", "sub": "psc-testkit-jwt", {aud}"jti": "{uuid.uuid4()}", '
    )
    payload += members + "}"
    assertion = jwt.api_jws.encode(payload.encode(), key, algorithm="RS256")
    response = assertion_request(sim, assertion)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("method", ["plain", "S256"])
@pytest.mark.parametrize("verifier", ["é" * 43, "a" * 42 + "€", "a" * 43 + "\x00", "a b" * 20])
def test_a_verifier_outside_the_pkce_alphabet_is_invalid_grant(sim, method, verifier):
    """Was a 500 with plain: hmac.compare_digest refuses non-ASCII str."""
    challenge = "a" * 43
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    result = sim.code(code_challenge=challenge, code_challenge_method=method)
    response = sim.token(result, code_verifier=verifier)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "body",
    [
        b'{"advance": NaN}',
        b'{"advance": Infinity}',
        b'{"advance": -Infinity}',
        b'{"advance": 1e999}',
        b'{"advance": 1e300}',
        b'{"advance": ' + b"9" * 400 + b"}",
        b'{"advance": ' + b"9" * 5000 + b"}",
        b'{"advance": true}',
        b'{"advance": "5"}',
        b'{"advance": -0.5}',
        b'{"advance": []}',
    ],
)
def test_the_clock_refuses_what_would_poison_it(sim, body):
    """NaN, infinities and numbers beyond a float were 500s, and NaN stayed in the clock: every
    later time was NaN."""
    url = sim.process.origin + "/_simulator/clock"
    response = sim.http.post(url, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert "error" in response.json()
    after = sim.http.post(url, json={"advance": 0})
    assert after.status_code == 200 and math.isfinite(after.json()["offset"])


@pytest.mark.parametrize("decision", [[], {}, ["deny"], None, 1])
def test_the_phone_refuses_a_decision_that_is_not_a_string(sim, decision):
    """Found by the fuzz: a list or an object as decision was a 500 (unhashable in a set)."""
    response = sim.http.post(
        sim.process.origin + "/_simulator/phone",
        json={"login_hint": sim.user(), "decision": decision},
    )
    assert response.status_code == 400 and "decision" in response.json()["error"]


@pytest.mark.parametrize("name", ["Ā", "é", 'a"b', "a\\b", "€"])
def test_userinfo_errors_that_quote_the_request_keep_the_challenge_header_valid(sim, name):
    """Found by the fuzz: a repeated parameter named "Ā" was a 500, its name quoted in the
    error_description could not be written in WWW-Authenticate."""
    body = urlencode([(name, "1"), (name, "2")])
    response = sim.http.post(
        sim.meta["userinfo_endpoint"],
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400, response.text
    assert repr(name) in response.json()["error_description"]  # the body says it in full
    challenge = response.headers["www-authenticate"]
    assert challenge.isascii() and challenge.count('"') == 6, challenge  # realm, error, text


@pytest.fixture(scope="module")
def unverified_hints():
    """A simulator that takes id_token_hint unverified (a defect): any claims reach logout."""
    process = start(["logout-hint-not-verified"])
    yield process
    process.stop()


@pytest.mark.parametrize(
    "claims",
    [{"aud": []}, {"aud": {"a": 1}}, {"aud": [["x"]]}, {"aud": 5}, {"sid": []}, {"sid": {}}],
)
def test_logout_refuses_an_unverified_hint_of_impossible_shape_with_400(unverified_hints, claims):
    """Found reading the code: aud [] (IndexError), aud {} or sid [] (unhashable) were
    500s when the hint is not verified."""
    hint = jwt.encode(claims, None, algorithm="none")
    with httpx.Client(verify=client_context(unverified_hints), timeout=10) as http:
        for extra in ({}, {"post_logout_redirect_uri": "http://127.0.0.1:8080/logged-out"}):
            response = http.get(
                unverified_hints.issuer + "/protocol/openid-connect/logout",
                params={"id_token_hint": hint, **extra},
            )
            assert response.status_code == 400, (claims, response.text[:200])
