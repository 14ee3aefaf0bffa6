"""UserInfo (OIDC Core §5.3, RFC 6750), introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from psc_testkit.simulator import claims as psc_claims
from psc_testkit.simulator import lies
from psc_testkit.simulator.clients import Client, client_cert
from psc_testkit.simulator.http import NO_STORE, OAuthError, json_response, read_body, read_form
from psc_testkit.simulator.provider import Provider
from psc_testkit.simulator.quirks import ActiveQuirks
from psc_testkit.simulator.store import AccessToken
from psc_testkit.simulator.token import error_response, json_response_for

REALM = 'Bearer realm="esante-wallet"'


# RFC 6750 §3: error_description in the header is %x20-21 / %x23-5B / %x5D-7E (no quote, no
# backslash, ASCII only). Descriptions may quote what the client sent (a parameter's name).
NOT_IN_CHALLENGE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


def _bearer_error(
    error: str, description: str, status: int = 401, quirks: ActiveQuirks | None = None
) -> Response:
    """RFC 6750 §3: the error goes in WWW-Authenticate as well as in the body (there in full,
    in the header with what a header cannot carry replaced by "?": a "Ā" was a 500)."""
    quoted = NOT_IN_CHALLENGE.sub("?", description)
    challenge = f'{REALM}, error="{error}", error_description="{quoted}"'
    body = {"error": error, "error_description": description}
    if quirks and "www-authenticate-extra-params" in quirks:
        # §3: auth-params in any order, error_uri and scope among them.
        challenge = (
            f'Bearer error="{error}", scope="openid", realm="esante-wallet", '
            f'error_uri="https://esante-wallet.test/errors#{error}", '
            f'error_description="{quoted}"'
        )
    if quirks and "errors-without-description" in quirks:
        challenge = f'{REALM}, error="{error}"'
        del body["error_description"]
    return json_response(body, status, {"WWW-Authenticate": challenge, **NO_STORE})


# Keycloak's introspection members beyond RFC 7662's (§2.2: "MAY ... additional").
KEYCLOAK_INTROSPECTION = {
    "allowed-origins": ["https://rp.psc-testkit.test"],
    "realm_access": {"roles": ["offline_access", "uma_authorization"]},
    "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
    "email_verified": False,
    "aud": "account",
}


def break_psc_claims(p: Provider, claims: dict) -> None:
    """UserInfo defects of the PSC claims: each alters one thing a real payload might get
    wrong."""
    d = p.defects
    exercices = (claims.get("SubjectRefPro") or {}).get("exercices") or []
    if exercices:  # the claims share these dicts with the directory: copy before altering
        exercices = [{**e, "activities": [dict(a) for a in e["activities"]]} for e in exercices]
        claims["SubjectRefPro"] = {**claims["SubjectRefPro"], "exercices": exercices}
    activities = [a for e in exercices for a in e["activities"]]
    if "psc-pivot-missing" in d:
        claims.pop("family_name", None)
    if "psc-scope-all-ignored" in d:
        for name in psc_claims.SECTORAL_CLAIMS:
            claims.pop(name, None)
    if "psc-schema-type" in d and claims.get("otherIds"):
        claims["otherIds"] = [{**o, "qualite": str(o["qualite"])} for o in claims["otherIds"]]
    if "psc-activity-without-mode" in d:
        for activity in activities:
            activity["codeModeExercice"] = ""
    if "psc-unknown-profession" in d:
        for exercice in exercices:
            exercice["codeProfession"] = "X1"
    if "psc-siret-check-digit" in d and activities:
        activities[0].update(numeroSiretSite="73282932000075", numeroSirenSite="732829320")
    if "psc-idnat-check-digit" in d:
        id_nat = claims["SubjectNameID"]
        wrong = id_nat[:-1] + str((int(id_nat[-1]) + 1) % 10)
        claims.update(SubjectNameID=wrong, preferred_username=wrong)
        if claims.get("otherIds"):
            claims["otherIds"] = [{**claims["otherIds"][0], "identifiant": wrong}]
    if "psc-subject-role-wrong-oid" in d and claims.get("SubjectRole"):
        claims["SubjectRole"] = [
            r.split("^")[0] + "^1.2.250.1.71.1.2.7" for r in claims["SubjectRole"]
        ]
    if "psc-organization-id-mismatch" in d and "SubjectOrganizationID" in claims:
        claims["SubjectOrganizationID"] = "R000000"
    if "psc-subject-role-mismatch" in d and "SubjectRole" in claims:
        claims["SubjectRole"] = ["60^1.2.250.1.213.1.1.5.5"]


def routes(p: Provider, oidc_path: str) -> list[Route]:
    def bearer_error(error: str, description: str, status: int = 401) -> Response:
        return _bearer_error(error, description, status, p.quirks)

    async def bearer_token(request: Request) -> str | Response:
        """The access token from the header or, for POST, the form body (RFC 6750 §2.1, §2.2)."""
        header = request.headers.get("authorization")
        body_token = None
        if request.method == "POST":
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type == "application/x-www-form-urlencoded":
                try:
                    body_token = (await read_form(request)).get("access_token")
                except OAuthError as exc:
                    return bearer_error("invalid_request", exc.description, exc.status)
                if "userinfo-body-token-ignored" in p.defects:
                    body_token = None
            else:
                await read_body(request)
        if header is not None:
            if body_token is not None:
                return bearer_error("invalid_request", "token sent by more than one method", 400)
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                return bearer_error("invalid_request", "Authorization must be a Bearer token", 400)
            return value.strip()
        if body_token:
            return body_token
        # RFC 6750 §3.1: no credentials at all gets a challenge without an error code.
        challenge = REALM
        if "www-authenticate-extra-params" in p.quirks:
            challenge = 'Bearer scope="openid", realm="esante-wallet"'
        headers = {"WWW-Authenticate": challenge, **NO_STORE}
        if "userinfo-no-challenge" in p.defects:
            del headers["WWW-Authenticate"]
        return Response(
            b'{"error":"invalid_request","error_description":"no access token"}',
            401,
            headers,
            media_type="application/json",
        )

    def usable(request: Request, value: str) -> AccessToken | None:
        token = p.access_token(value)
        if token is None:
            return None
        bound = token.grant.cert_thumbprint
        if bound is not None and "mtls-binding-not-enforced" not in p.defects:
            # RFC 8705 §3: a certificate-bound token needs the same certificate.
            cert = client_cert(request)
            if cert is None or cert[1] != bound:
                return None
        return token

    async def userinfo(request: Request) -> Response:
        if request.method == "POST" and "userinfo-post-unsupported" in p.defects:
            return bearer_error("invalid_request", "POST is not supported", 405)
        if request.method == "GET" and "userinfo-get-unsupported" in p.defects:
            return bearer_error("invalid_request", "GET is not supported", 405)
        try:
            value = await bearer_token(request)
        except OAuthError as exc:
            return bearer_error("invalid_request", exc.description, exc.status)
        if isinstance(value, Response):
            return value
        token = usable(request, value)
        if token is None:
            if "userinfo-bad-token-not-invalid-token" in p.defects:
                return bearer_error("invalid_request", "the access token is not accepted")
            refused = bearer_error("invalid_token", "the access token is invalid or expired")
            if "userinfo-invalid-token-no-challenge" in p.defects:
                del refused.headers["WWW-Authenticate"]
            return refused
        session = token.grant.session
        scope_all = "scope_all" in token.grant.scope
        extra = "userinfo-extra-claims" in p.quirks
        client = p.clients.get(token.grant.client_id)
        signed = client is not None and client.settings.userinfo_signed_response_alg
        if not signed and not p.defects and p.lie is None:
            # The hot path: the same bytes for every login of this professional.
            body = psc_claims.userinfo_json(session.user, session.auth_mode, scope_all, extra)
            media_type = "application/json"
            if "json-charset" in p.quirks:
                media_type += ";charset=UTF-8"
            return Response(body, headers=NO_STORE, media_type=media_type)
        user = session.user
        if p.lie == lies.USERINFO_OTHER:  # another professional, sub and all
            others = p.annuaire.professionals[:2]
            user = others[1] if others[0].id_nat == user.id_nat else others[0]
        claims = psc_claims.userinfo(user, session.auth_mode, scope_all, extra)
        claims["sub"] = p.subject(session) if user is session.user else psc_claims.subject(user)
        if p.lie == lies.NO_SUBJECT_REF_PRO:
            claims.pop("SubjectRefPro", None)
        elif p.lie == lies.EXERCICES_REORDERED and isinstance(claims.get("SubjectRefPro"), dict):
            ref = claims["SubjectRefPro"]
            claims["SubjectRefPro"] = {**ref, "exercices": list(reversed(ref["exercices"]))}
        d = p.defects
        if d:
            break_psc_claims(p, claims)
        if "userinfo-sub-mismatch" in d:
            claims["sub"] = psc_claims.subject(p.annuaire.professionals[0]) + "-other"
        if signed:
            claims.update(iss=p.issuer, aud=token.grant.client_id)
            if "signed-userinfo-no-aud" in d:
                del claims["aud"]
            jwt_body = p.keys.sign(claims)
            if "signed-userinfo-bad-signature" in d:
                jwt_body = jwt_body[:-6] + (
                    "AAAAAA" if not jwt_body.endswith("AAAAAA") else "BBBBBB"
                )
            return Response(jwt_body, headers=NO_STORE, media_type="application/jwt")
        response = json_response(claims, 200, NO_STORE)
        if "userinfo-wrong-content-type" in d:
            response.headers["content-type"] = "text/plain"
        return response

    def authenticate_or_pass(request: Request, form: dict[str, str], defect: str) -> Client | None:
        """Client authentication, skipped for credential-less requests under `defect` (no
        client then)."""
        try:
            return p.authenticator.authenticate(request, form, p.now(), allow_public=False)
        except OAuthError:
            no_credentials = "authorization" not in request.headers and not (
                {"client_secret", "client_assertion"} & set(form)
            )
            if not (defect in p.defects and no_credentials):
                raise
            return None

    async def introspect(request: Request) -> Response:
        try:
            form = await read_form(request)
            caller = authenticate_or_pass(request, form, "introspection-without-authentication")
        except OAuthError as exc:
            return error_response(p, exc)
        value = form.get("token")
        if not value:
            return error_response(p, OAuthError("invalid_request", "token is required"))
        hint = form.get("token_type_hint")
        access = None if hint == "refresh_token" else p.access_token(value)
        d = p.defects
        if access is not None and "introspection-active-reported-inactive" in d:
            return json_response({"active": False}, 200, NO_STORE)
        if (
            access is not None
            and "introspection-audience-only" in p.quirks
            and (caller is None or caller.client_id not in access.claims.get("aud", ()))
        ):
            # Keycloak 26: "Client '...' is not in the token audience" (RFC 7662 §4).
            return json_response_for(p, {"active": False}, 200, NO_STORE)
        if access is not None:
            user = access.grant.session.user
            body = {
                **access.claims,
                "client_id": access.grant.client_id,
                "username": user.id_nat,
                "SubjectNameID": user.id_nat,
                "token_type": "Bearer",
                "active": True,
            }
            if "introspection-no-client-id" in d:
                del body["client_id"]
            if "psc-introspection-other-professional" in d:
                other = p.annuaire.professionals[-1]
                body.update(
                    username=other.id_nat,
                    SubjectNameID=other.id_nat,
                    sub=psc_claims.subject(other),
                    preferred_username=other.id_nat,
                )
            if "psc-introspection-without-psc-fields" in d:
                body.pop("authMode", None)
                body.pop("otherIds", None)
            return introspection_response(body)
        refresh = p.refresh_token(value)
        if refresh is not None and not refresh.rotated:
            grant = refresh.grant
            body = {
                "active": True,
                "client_id": grant.client_id,
                "username": grant.session.user.id_nat,
                "sub": p.subject(grant.session),
                "iss": p.issuer,
                "iat": int(refresh.issued_at),
                "exp": int(refresh.expires_at),
                "typ": "Refresh",
                "token_type": "Refresh",
                "scope": " ".join(grant.scope),
                "sid": grant.session.sid,
            }
            return introspection_response(body)
        if "introspection-unknown-active" in d:
            return json_response({"active": True}, 200, NO_STORE)
        return json_response({"active": False}, 200, NO_STORE)

    def introspection_response(body: dict) -> Response:
        if "introspection-extra-fields" in p.quirks:
            # Keycloak's members first, then the others in reverse order: order means nothing.
            body = {**KEYCLOAK_INTROSPECTION, **dict(reversed(list(body.items())))}
        return json_response_for(p, body, 200, NO_STORE)

    async def revoke(request: Request) -> Response:
        d = p.defects
        try:
            form = await read_form(request)
            try:
                client_id = p.authenticator.authenticate(request, form, p.now()).client_id
            except OAuthError:
                if "revocation-without-authentication" not in d:
                    raise
                client_id = None
            value = form.get("token")
            if not value:
                raise OAuthError("invalid_request", "token is required")
            # RFC 7009 §2.1: the hint only speeds the search up; look everywhere regardless.
            access = p.store.access_tokens.get(value)
            refresh = p.store.refresh_tokens.get(value)
            found = access.grant if access else refresh.grant if refresh else None
            if found is None and "revocation-unknown-token-error" in d:
                raise OAuthError("invalid_request", "unknown token")
            if found is not None and client_id is not None and found.client_id != client_id:
                raise OAuthError("unauthorized_client", "the token was issued to another client")
            if access is not None and "revocation-access-token-unsupported" in p.quirks:
                # RFC 7009 §2: access tokens SHOULD (not MUST) be revocable; §2.2.1's error.
                raise OAuthError("unsupported_token_type", "access tokens cannot be revoked")
            if access is not None and "revocation-ignores-access-tokens" not in d:
                access.revoked = True
            if refresh is not None and "revocation-ignores-refresh-tokens" not in d:
                # Revoking a refresh token also ends the access tokens of its grant (§2.1).
                p.revoke_grant(refresh.grant)
        except OAuthError as exc:
            return error_response(p, exc)
        # §2.2: 200 whether or not the token was known, so tokens cannot be probed.
        return Response(b"", 200, NO_STORE)

    return [
        Route(oidc_path + "/userinfo", userinfo, methods=["GET", "POST"]),
        Route(oidc_path + "/token/introspect", introspect, methods=["POST"]),
        Route(oidc_path + "/revoke", revoke, methods=["POST"]),
    ]
