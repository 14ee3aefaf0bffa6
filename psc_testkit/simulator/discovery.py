"""Provider metadata (OIDC Discovery 1.0 §3, RFC 8414) and the JWKS."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from psc_testkit.simulator import claims as psc_claims
from psc_testkit.simulator.clients import ASSERTION_ALGS
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
            "token_endpoint": e.token,
            "userinfo_endpoint": e.userinfo,
            "introspection_endpoint": e.introspection,
            "revocation_endpoint": e.revocation,
            "backchannel_authentication_endpoint": e.ciba,
        }
    if "discovery-issuer-mismatch" in p.defects:
        doc["issuer"] = p.issuer + "-elsewhere"
    return doc


def routes(p: Provider, realm_path: str) -> list[Route]:
    # Metadata never changes while the simulator runs: serialise it once.
    body = json.dumps(metadata(p), indent=2).encode()

    async def discovery(request: Request) -> Response:
        return Response(body, media_type="application/json")

    async def jwks(request: Request) -> Response:
        payload = p.keys.jwks_json
        if "jwks-private-material" in p.defects:
            payload = p.keys.jwks_with_private_json()
        return Response(payload, media_type="application/json")

    return [
        Route(realm_path + "/.well-known/wallet-openid-configuration", discovery),
        Route(realm_path + "/.well-known/openid-configuration", discovery),
        Route(realm_path + "/protocol/openid-connect/certs", jwks),
    ]
