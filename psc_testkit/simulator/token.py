"""The token endpoint: authorization_code (with PKCE), refresh_token (rotating) and CIBA poll."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from psc_testkit.simulator.clients import Client, client_cert
from psc_testkit.simulator.discovery import CIBA_GRANT
from psc_testkit.simulator.http import NO_STORE, OAuthError, json_response, read_form
from psc_testkit.simulator.provider import Provider
from psc_testkit.simulator.store import Grant, new_id

# RFC 7636 §4.1: code-verifier = 43*128unreserved.
VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    """RFC 7636 §4.6. A verifier outside §4.1's alphabet never matches: hmac.compare_digest
    raises TypeError on non-ASCII str (a plain "é…" verifier was a 500), and the old
    ascii-"replace" encoding made every non-ASCII verifier hash like "?…"."""
    if not VERIFIER.fullmatch(verifier):
        return False
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        computed = verifier
    return hmac.compare_digest(computed.encode(), challenge.encode())


def error_response(p: Provider, exc: OAuthError) -> Response:
    """An RFC 6749 §5.2 error; without error_description under errors-without-description
    (OPTIONAL: "Human-readable ASCII text providing additional information")."""
    if "errors-without-description" not in p.quirks:
        return exc.response()
    return json_response({"error": exc.error}, exc.status, {**NO_STORE, **exc.headers})


def json_response_for(p: Provider, data: object, status: int, headers: dict[str, str]) -> Response:
    """A JSON response, typed `application/json;charset=UTF-8` as Keycloak does (RFC 8259 §11:
    the charset parameter has no effect, but a client must accept it) under json-charset."""
    response = json_response(data, status, headers)
    if "json-charset" in p.quirks:
        response.headers["content-type"] = "application/json;charset=UTF-8"
    return response


def quirky_body(p: Provider, body: dict) -> dict:
    """The token response as a quirk shapes it: "bearer", or extra members in another order
    (RFC 6749 §5.1: "The client MUST ignore unrecognized value names in the response")."""
    q = p.quirks
    if "token-type-lowercase" in q:
        body["token_type"] = "bearer"  # RFC 6749 §5.1: "The value is case insensitive"
    if "token-response-extra-members" in q:
        extra = {"upgraded": False, "x-request-id": new_id(8), "id_token_expires_in": 120}
        body = {**extra, **dict(reversed(list(body.items())))}
    return body


def routes(p: Provider, oidc_path: str) -> list[Route]:
    def thumbprint(request: Request, client: Client) -> str | None:
        """Certificate-bound tokens (RFC 8705 §3) for clients that authenticated with mTLS."""
        if client.auth_method != "tls_client_auth":
            return None
        cert = client_cert(request)
        return cert[1] if cert else None

    def authorization_code(request: Request, client: Client, form: dict[str, str]) -> dict:
        value = form.get("code")
        if not value:
            raise OAuthError("invalid_request", "code is required")
        code = p.store.codes.get(value)
        if code is None or code.expires_at <= p.now():
            error = "invalid_request" if "token-unknown-code-invalid-request" in p.defects else None
            raise OAuthError(error or "invalid_grant", "code is invalid or expired")
        d = p.defects
        if code.request.client_id != client.client_id and "code-not-bound-to-client" not in d:
            raise OAuthError("invalid_grant", "code was issued to another client")
        if code.grant is not None and "code-reusable" not in d:
            # RFC 6749 §4.1.2: a second use is refused and SHOULD revoke what the first issued.
            if "code-reuse-keeps-tokens" not in d:
                p.revoke_grant(code.grant)
            raise OAuthError("invalid_grant", "code was already used")
        sent_uri = form.get("redirect_uri")
        if sent_uri != code.request.redirect_uri and not (
            (sent_uri is None and "token-redirect-uri-optional" in d)
            or (sent_uri is not None and "token-redirect-uri-mismatch-accepted" in d)
        ):
            raise OAuthError(
                "invalid_grant", "redirect_uri does not match the authorization request"
            )
        check_pkce(
            code.request.code_challenge,
            code.request.code_challenge_method,
            form.get("code_verifier"),
        )
        if not p.session_alive(code.session):
            raise OAuthError("invalid_grant", "the session of this code has ended")
        grant = Grant(
            client.client_id,
            code.session,
            code.request.scope,
            code.request.nonce,
            thumbprint(request, client),
        )
        code.grant = grant
        return p.issue_tokens(client, grant, nonce=code.request.nonce)

    def check_pkce(challenge: str | None, method: str | None, verifier: str | None) -> None:
        """RFC 7636 §4.6, and RFC 9700 §2.1.1 against downgrades."""
        d = p.defects
        if "pkce-not-enforced" in d:
            return
        if challenge is not None:
            if not verifier:
                if "pkce-verifier-optional" in d:
                    return
                raise OAuthError("invalid_grant", "code_verifier is required")
            method = method or "plain"
            if "pkce-plain-broken" in d and method == "plain":
                method = "S256"
            if "pkce-s256-refused" in d and method == "S256":
                raise OAuthError("invalid_grant", "code_verifier does not match code_challenge")
            if "pkce-s256-accepts-challenge" in d and verifier == challenge:
                return
            if not pkce_matches(verifier, challenge, method):
                raise OAuthError("invalid_grant", "code_verifier does not match code_challenge")
        elif verifier is not None and "pkce-downgrade-accepted" not in d:
            # A verifier without a challenge is a PKCE downgrade attempt.
            raise OAuthError("invalid_grant", "code_verifier sent but no code_challenge was")

    def refresh_token(request: Request, client: Client, form: dict[str, str]) -> dict:
        value = form.get("refresh_token")
        if not value:
            raise OAuthError("invalid_request", "refresh_token is required")
        token = p.refresh_token(value)
        d = p.defects
        if token is None or "refresh-broken" in d:
            raise OAuthError("invalid_grant", "refresh token is invalid or expired")
        if token.grant.client_id != client.client_id and "refresh-not-bound-to-client" not in d:
            raise OAuthError("invalid_grant", "refresh token was issued to another client")
        if token.rotated:
            # RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the whole grant.
            p.revoke_grant(token.grant)
            raise OAuthError("invalid_grant", "refresh token was already used")
        grant = token.grant
        q = p.quirks
        requested = tuple(form["scope"].split()) if form.get("scope") else None
        if requested is not None and not set(requested) <= set(grant.scope):
            if "refresh-scope-widening" in d:
                # The defect: the grant really widens (RFC 6749 §6 forbids it).
                grant.scope = tuple(dict.fromkeys([*grant.scope, *requested]))
            elif "refresh-scope-narrowed" not in q:
                raise OAuthError("invalid_scope", "scope exceeds what was granted")
            # The quirk: the tokens keep the original grant, and the response's scope says so.
        # Rotation is a MUST for public clients only (RFC 9700 §2.2.2): the quirks keep a
        # confidential client's refresh token.
        keep = not client.public and ("refresh-not-rotated" in q or "refresh-not-reissued" in q)
        body = p.issue_tokens(client, grant, nonce=None, refresh_parent=token, rotate=not keep)
        if keep and "refresh-not-reissued" in q:
            del body["refresh_token"]  # RFC 6749 §6: the server MAY issue a new refresh token
            body.pop("refresh_expires_in", None)
        if "refresh-no-scope" in q and (requested is None or set(requested) == set(grant.scope)):
            del body["scope"]  # RFC 6749 §5.1: OPTIONAL when identical to the scope requested
        if "refresh-without-id-token" in q:
            body.pop("id_token", None)  # OIDC Core §12.2: "it might not contain an id_token"
        return body

    def ciba(request: Request, client: Client, form: dict[str, str]) -> dict:
        auth_req_id = form.get("auth_req_id")
        if not auth_req_id:
            raise OAuthError("invalid_request", "auth_req_id is required")
        pending = p.store.pending.get(auth_req_id)
        if pending is None or pending.client_id is None:
            raise OAuthError("invalid_grant", "unknown auth_req_id")
        if pending.client_id != client.client_id:
            raise OAuthError("invalid_grant", "auth_req_id was issued to another client")
        now = p.now()
        status = p.phone_status(pending)
        if status == "expired":
            del p.store.pending[auth_req_id]
            raise OAuthError("expired_token", "the authentication request has expired")
        d = p.defects
        if (status == "denied" and "ciba-denial-ignored" in d) or (
            status == "approved" and "ciba-approval-ignored" in d
        ):
            status = "pending"
        if "ciba-slow-down" in p.quirks:
            # The interval counts from the acknowledgment, and every poll is held to it,
            # whatever the answer would be (CIBA §11: the client then waits 5 s longer).
            too_fast = now - pending.last_poll < pending.interval
            pending.last_poll = now
            if too_fast:
                pending.interval += 5
                raise OAuthError("slow_down", "polling faster than the interval")
        if status == "denied":
            del p.store.pending[auth_req_id]
            raise OAuthError("access_denied", "the user denied the authentication")
        if status == "pending":
            too_fast = now - pending.last_poll < pending.interval
            pending.last_poll = now
            if "ciba-slow-down" in p.quirks:
                too_fast = False  # judged above, before the status
            if "ciba-pending-as-slow-down" in d:
                too_fast = True
            if "ciba-no-slow-down" in d:
                too_fast = False
            if too_fast:
                # CIBA §11: the client MUST then wait 5 s longer between polls.
                pending.interval += 5
                raise OAuthError("slow_down", "polling faster than the interval")
            raise OAuthError("authorization_pending", "the user has not answered yet")
        del p.store.pending[auth_req_id]
        session = p.open_session(pending.user.id_nat, pending.auth_mode)
        grant = Grant(client.client_id, session, pending.scope, None, thumbprint(request, client))
        return p.issue_tokens(client, grant, nonce=None)

    grants = {
        "authorization_code": authorization_code,
        "refresh_token": refresh_token,
        CIBA_GRANT: ciba,
    }

    async def token(request: Request) -> Response:
        try:
            form = await read_form(request)
            if "token-endpoint-flaky" in p.defects and p.random.random() < 0.01:
                raise OAuthError("temporarily_unavailable", "injected failure", status=503)
            client = p.authenticator.authenticate(request, form, p.now())
            grant_type = form.get("grant_type")
            if not grant_type:
                status = 500 if "token-missing-grant-type-500" in p.defects else 400
                raise OAuthError("invalid_request", "grant_type is required", status=status)
            handler = grants.get(grant_type)
            if handler is None:
                error = "unsupported_grant_type"
                if "token-error-wrong-code" in p.defects:
                    error = "invalid_request"
                raise OAuthError(error, f"unsupported grant_type {grant_type}")
            if grant_type == CIBA_GRANT and not client.settings.ciba:
                raise OAuthError("unauthorized_client", "CIBA is not enabled for this client")
            body = handler(request, client, form)
        except OAuthError as exc:
            if "token-error-bad-charset" in p.defects:
                exc.description = f'"{exc.description}"'
            return error_response(p, exc)
        if p.quirks:
            body = quirky_body(p, body)
        if not p.defects:
            return json_response_for(p, body, 200, NO_STORE)
        headers = dict(NO_STORE)
        if "token-cache-control-missing" in p.defects:
            del headers["Cache-Control"]
        if "token-pragma-missing" in p.defects:
            del headers["Pragma"]
        response = json_response(body, 200, headers)
        if "token-response-not-json" in p.defects:
            response.headers["content-type"] = "text/plain"
        return response

    return [Route(oidc_path + "/token", token, methods=["POST"])]
