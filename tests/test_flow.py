"""Pure parts of the client core: client assertions and HTML form parsing."""

from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from psc_testkit.client import flow
from psc_testkit.client.config import ClientProfile


def client_with(tmp_path: Path, key) -> ClientProfile:
    path = tmp_path / "client.key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ClientProfile("c", "private_key_jwt", "https://rp/cb", private_key_file=path)


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        (ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (ec.generate_private_key(ec.SECP384R1()), "ES384"),
    ],
)
def test_client_assertion_is_signed_with_the_alg_of_its_key(tmp_path, key, alg):
    assertion = flow.client_assertion(client_with(tmp_path, key), "https://op/token")
    assert jwt.get_unverified_header(assertion)["alg"] == alg
    claims = jwt.decode(assertion, key.public_key(), algorithms=[alg], audience="https://op/token")
    assert claims["iss"] == claims["sub"] == "c"


def test_client_assertion_names_an_unusable_key(tmp_path):
    client = client_with(tmp_path, ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(ValueError, match="RSA or EC"):
        flow.client_assertion(client, "https://op/token")


def test_a_control_outside_its_form_belongs_to_the_form_it_names():
    page = (
        '<form id="op.logoutForm" method="post" action="/end"><input type="hidden" name="xsrf" '
        'value="t"></form><form id="other"></form>'
        '<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes</button>'
    )
    logout, other = flow.parse_forms(page)
    assert [i["name"] for i in logout["inputs"]] == ["xsrf", "logout"]
    assert other["inputs"] == []


@pytest.mark.parametrize(
    "page",
    [
        '<body onload="document.forms[0].submit()"><form method="post" action="/next">'
        '<input type="hidden" name="h" value="k1"><noscript><button type="submit">Go</button>'
        "</noscript></form></body>",
        '<form id="f" method="post" action="/next"><input type="hidden" name="h" value="k1">'
        '</form><script>document.getElementById("f").submit();</script>',
    ],
    ids=["body-onload", "script"],
)
def test_a_page_that_submits_itself_is_recognised_with_its_fields(page):
    form = flow.auto_submit_form(page)
    assert form is not None and form["action"] == "/next"
    assert flow.form_fields(form) == {"h": "k1"}


def test_a_form_waiting_for_the_user_is_not_an_auto_submit():
    page = (
        '<form method="post" action="/auth/login"><input name="idNat">'
        '<button type="submit">Go</button></form><script>let x = 1;</script>'
    )
    assert flow.auto_submit_form(page) is None
