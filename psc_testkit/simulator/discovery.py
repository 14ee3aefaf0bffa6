"""Provider metadata (OIDC Discovery 1.0 §3, RFC 8414) and the JWKS."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from psc_testkit.simulator import claims as psc_claims
from psc_testkit.simulator import lies
from psc_testkit.simulator.clients import ASSERTION_ALGS
from psc_testkit.simulator.defects import (
    BOOLEAN_MEMBERS,
    LIST_MEMBERS,
    LOCALE_MEMBERS,
    REQUIRED_MEMBERS,
    member_as_string,
    missing_member,
    non_bcp47,
)
from psc_testkit.simulator.keys import new_signing_key, rsa_public_jwk
from psc_testkit.simulator.provider import Provider

CIBA_GRANT = "urn:openid:params:grant-type:ciba"


def metadata(p: Provider) -> dict:
    e = p.endpoints
    auth_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
    if p.tls:
        auth_methods.append("tls_client_auth")
    doc: dict = {
        "issuer": p.issuer,
        "authorization_endpoint": e.authorization,
        "token_endpoint": e.token,
        "userinfo_endpoint": e.userinfo,
        "jwks_uri": e.jwks,
        "end_session_endpoint": e.end_session,
        "introspection_endpoint": e.introspection,
        "revocation_endpoint": e.revocation,
        "backchannel_authentication_endpoint": e.ciba,
        "scopes_supported": ["openid", "scope_all", "profile", "email", "identity", "eidas1"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", CIBA_GRANT],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "userinfo_signing_alg_values_supported": ["RS256"],
        "acr_values_supported": list(psc_claims.ACR_LEVELS),
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
            "sid",
            "at_hash",
            *psc_claims.PIVOT_CLAIMS[1:],
            *psc_claims.SECTORAL_CLAIMS,
        ],
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "code_challenge_methods_supported": ["plain", "S256"],
        "backchannel_token_delivery_modes_supported": ["poll"],
        "backchannel_user_code_parameter_supported": False,
        "ui_locales_supported": ["fr", "en"],
        "claims_locales_supported": ["fr"],
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
    }
    if p.tls:
        doc["tls_client_certificate_bound_access_tokens"] = True
        # The same listener asks for client certificates, so the aliases are the endpoints.
        doc["mtls_endpoint_aliases"] = {
            "token_endpoint": e.mtls(e.token),
            "userinfo_endpoint": e.mtls(e.userinfo),
            "introspection_endpoint": e.mtls(e.introspection),
            "revocation_endpoint": e.mtls(e.revocation),
            "backchannel_authentication_endpoint": e.mtls(e.ciba),
        }
    if p.defects:
        _break_metadata(p, doc)
    if p.quirks:
        doc = _quirky_metadata(p, doc)
    return doc


# What Keycloak 24 publishes beyond the members the simulator needs (quirk
# discovery-extra-members); the endpoints are https, as the real ones are.
def _keycloak_members(p: Provider) -> dict:
    realm = p.issuer
    return {
        "check_session_iframe": realm + "/protocol/openid-connect/login-status-iframe.html",
        "device_authorization_endpoint": realm + "/protocol/openid-connect/auth/device",
        "pushed_authorization_request_endpoint": realm + "/protocol/openid-connect/ext/par/request",
        "require_pushed_authorization_requests": False,
        "id_token_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"],
        "id_token_encryption_enc_values_supported": ["A256GCM", "A128CBC-HS256"],
        "userinfo_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"],
        "userinfo_encryption_enc_values_supported": ["A256GCM", "A128CBC-HS256"],
        "request_object_signing_alg_values_supported": ["RS256", "PS256", "ES256", "none"],
        "request_object_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256"],
        "request_object_encryption_enc_values_supported": ["A256GCM", "A128CBC-HS256"],
        "authorization_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
        "authorization_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256"],
        "authorization_encryption_enc_values_supported": ["A256GCM", "A128CBC-HS256"],
        "frontchannel_logout_session_supported": True,
        "backchannel_logout_session_supported": True,
        "backchannel_authentication_request_signing_alg_values_supported": ["RS256", "ES256"],
        "require_request_uri_registration": True,
        "dpop_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
    }


def _quirky_metadata(p: Provider, doc: dict) -> dict:
    """Metadata quirks: what a compliant provider may publish differently."""
    q = p.quirks
    if "alg-none-listed" in q:
        doc["id_token_signing_alg_values_supported"] = [
            *doc["id_token_signing_alg_values_supported"],
            "none",
        ]
    if "subject-types-unusual" in q:
        doc["subject_types_supported"] = [*doc["subject_types_supported"], "ephemeral"]
    if "discovery-extra-members" in q:
        doc = {**doc, **{k: v for k, v in _keycloak_members(p).items() if k not in doc}}
    if "discovery-member-order" in q:
        doc = dict(reversed(list(doc.items())))
    return doc


def _break_metadata(p: Provider, doc: dict) -> None:
    """Metadata defects: each alters one member, as a misconfigured provider would."""
    d = p.defects
    if "discovery-issuer-mismatch" in d:
        doc["issuer"] = p.issuer + "-elsewhere"
    for member in REQUIRED_MEMBERS:
        if missing_member(member) in d:
            del doc[member]
    for member in LIST_MEMBERS:
        if member_as_string(member) in d:  # advertised or not, served malformed
            doc[member] = " ".join(doc.get(member) or ["psc-testkit"])
    for member in BOOLEAN_MEMBERS:
        if member_as_string(member) in d:
            doc[member] = "true" if doc.get(member) else "false"
    for member in LOCALE_MEMBERS:
        if non_bcp47(member) in d:
            doc[member] = [*doc[member], "en_US"]
    if "discovery-http-endpoint" in d:
        plain = p.issuer.replace("https://", "http://", 1)
        doc["registration_endpoint"] = plain + "/clients-registrations/openid-connect"
        # A second plain endpoint no check uses: the one verdict lists both.
        doc["pushed_authorization_request_endpoint"] = plain + "/protocol/openid-connect/ext/par"
    if "discovery-no-code-response-type" in d:
        doc["response_types_supported"] = ["id_token"]
    if "discovery-no-rs256" in d:
        doc["id_token_signing_alg_values_supported"] = ["PS256"]
    if "discovery-bad-scope-token" in d:
        doc["scopes_supported"] = [*doc["scopes_supported"], 'scope"all']
    if "discovery-no-authorization-code-grant" in d:
        doc["grant_types_supported"] = ["refresh_token", CIBA_GRANT]
    if "discovery-missing-auth-method" in d:
        doc["token_endpoint_auth_methods_supported"] = [
            m for m in doc["token_endpoint_auth_methods_supported"] if m != "private_key_jwt"
        ]
    if "ciba-no-delivery-modes" in d:
        del doc["backchannel_token_delivery_modes_supported"]
    if "psc-discovery-no-scope-all" in d:
        doc["scopes_supported"] = [s for s in doc["scopes_supported"] if s != "scope_all"]
    if "psc-discovery-no-eidas1" in d:
        doc["acr_values_supported"] = [a for a in doc["acr_values_supported"] if a != "eidas1"]
    if "psc-discovery-no-psc-claims" in d:
        doc["claims_supported"] = [c for c in doc["claims_supported"] if c[0].islower()]


def quirky_jwks(p: Provider, extra: dict[str, dict]) -> bytes:
    """The JWKS as a compliant provider may publish it (quirks); `extra` holds keys made once."""
    q = p.quirks
    keys: list = [dict(k.jwk) for k in p.keys.keys]
    if "jwks-next-signing-key" in q:
        keys.insert(0, extra["next"])  # first: a verifier that takes keys[0] is wrong
    if "jwks-extra-enc-key" in q:
        keys.insert(0, extra["enc"])
    if "kid-shared-across-kty" in q:
        keys.insert(0, {**extra["ec"], "kid": p.keys.current.kid})
    return json.dumps({"keys": keys}).encode()


def quirk_keys(p: Provider) -> dict[str, dict]:
    """The public keys the JWKS quirks add, generated once at start."""
    q = p.quirks
    made: dict[str, dict] = {}
    if "jwks-next-signing-key" in q:
        made["next"] = new_signing_key().jwk
    if "jwks-extra-enc-key" in q:
        enc = rsa_public_jwk(
            rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        )
        made["enc"] = {**enc, "use": "enc", "alg": "RSA-OAEP"}
    if "kid-shared-across-kty" in q:
        ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
        made["ec"] = {**json.loads(ECAlgorithm.to_jwk(ec_key)), "use": "sig", "alg": "ES256"}
    return made


def jwks_payload(p: Provider, extra: dict[str, dict] | None = None) -> bytes:
    """The JWKS, with what a JWKS defect adds or changes (extra keys are made once)."""
    if p.lie == lies.KID_ABSENT:  # one signing key: an ID token without kid names it
        return json.dumps({"keys": [p.keys.current.jwk]}).encode()
    d = p.defects
    if not d:
        return quirky_jwks(p, extra or {}) if p.quirks else p.keys.jwks_json
    if "jwks-private-material" in d:
        return p.keys.jwks_with_private_json()
    keys: list = [dict(k.jwk) for k in p.keys.keys]
    extra = p.extra_jwk  # a second, unrelated RSA public key
    if "jwks-garbage-entry" in d:
        keys.append("garbage")
    if "jwks-symmetric-key" in d:
        keys.append({"kty": "oct", "kid": "hmac", "k": "c2ltdWxhdG9yLXNlY3JldA"})
    if "id-token-no-kid-among-keys" in d:  # two signing keys, and ID tokens without kid
        keys.append(extra)
    if "jwks-key-without-kid" in d:
        keys.append({k: v for k, v in extra.items() if k != "kid"})
    if "jwks-duplicate-kid" in d:
        keys.append({**extra, "kid": p.keys.current.kid})
    if "jwks-small-rsa-key" in d:
        keys.append(p.small_jwk)
    if "jwks-padded-base64" in d:
        keys.append({**extra, "kid": "padded", "e": extra["e"] + "="})
    if "jwks-broken-key" in d:
        keys.append({k: v for k, v in extra.items() if k != "e"} | {"kid": "broken"})
    if "jwks-encryption-keys-only" in d:
        keys = [{**k, "use": "enc"} for k in keys]
    return json.dumps({"keys": keys}).encode()


def routes(p: Provider, realm_path: str) -> list[Route]:
    # Metadata never changes while the simulator runs: serialise it once.
    body = json.dumps(metadata(p), indent=2).encode()

    status = 203 if "discovery-status-203" in p.defects else 200
    media = "text/plain" if "discovery-not-json" in p.defects else "application/json"
    jwks_media = "text/plain" if "jwks-not-json" in p.defects else "application/json"

    async def discovery(request: Request) -> Response:
        return Response(body, status, media_type=media)

    extra = quirk_keys(p)

    async def jwks(request: Request) -> Response:
        return Response(jwks_payload(p, extra), media_type=jwks_media)

    return [
        Route(realm_path + "/.well-known/wallet-openid-configuration", discovery),
        Route(realm_path + "/.well-known/openid-configuration", discovery),
        Route(realm_path + "/protocol/openid-connect/certs", jwks),
    ]
