"""The token endpoint: authorization_code (with PKCE), refresh_token (rotating) and CIBA poll."""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from psc_testkit.simulator.clients import Client, client_cert
from psc_testkit.simulator.discovery import CIBA_GRANT
from psc_testkit.simulator.http import NO_STORE, OAuthError, json_response, read_form
from psc_testkit.simulator.provider import Provider
from psc_testkit.simulator.store import Grant


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    """RFC 7636 §4.6."""
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        computed = verifier
    return hmac.compare_digest(computed, challenge)


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
            raise OAuthError("invalid_grant", "code is invalid or expired")
        if code.request.client_id != client.client_id:
            raise OAuthError("invalid_grant", "code was issued to another client")
        if code.grant is not None and "code-reusable" not in p.defects:
            # RFC 6749 §4.1.2: a second use is refused and SHOULD revoke what the first issued.
            p.revoke_grant(code.grant)
            raise OAuthError("invalid_grant", "code was already used")
        if form.get("redirect_uri") != code.request.redirect_uri:
            raise OAuthError(
                "invalid_grant", "redirect_uri does not match the authorization request"
            )
        verifier = form.get("code_verifier")
        if "pkce-not-enforced" not in p.defects:
            if code.request.code_challenge is not None:
                if not verifier:
                    raise OAuthError("invalid_grant", "code_verifier is required")
                method = code.request.code_challenge_method or "plain"
                if not pkce_matches(verifier, code.request.code_challenge, method):
                    raise OAuthError("invalid_grant", "code_verifier does not match code_challenge")
            elif verifier is not None:
                # RFC 9700 §2.1.1: a verifier without a challenge is a PKCE downgrade attempt.
                raise OAuthError("invalid_grant", "code_verifier sent but no code_challenge was")
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

    def refresh_token(request: Request, client: Client, form: dict[str, str]) -> dict:
        value = form.get("refresh_token")
        if not value:
            raise OAuthError("invalid_request", "refresh_token is required")
        token = p.refresh_token(value)
        if token is None:
            raise OAuthError("invalid_grant", "refresh token is invalid or expired")
        if token.grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "refresh token was issued to another client")
        if token.rotated:
            # RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the whole grant.
            p.revoke_grant(token.grant)
            raise OAuthError("invalid_grant", "refresh token was already used")
        grant = token.grant
        if scope := form.get("scope"):
            requested = tuple(scope.split())
            if not set(requested) <= set(grant.scope):
                raise OAuthError("invalid_scope", "scope exceeds what was granted")
        return p.issue_tokens(client, grant, nonce=None, refresh_parent=token)

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
        if status == "denied":
            del p.store.pending[auth_req_id]
            raise OAuthError("access_denied", "the user denied the authentication")
        if status == "pending":
            too_fast = now - pending.last_poll < pending.interval
            pending.last_poll = now
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
                raise OAuthError("invalid_request", "grant_type is required")
            handler = grants.get(grant_type)
            if handler is None:
                raise OAuthError("unsupported_grant_type", f"unsupported grant_type {grant_type}")
            if grant_type == CIBA_GRANT and not client.settings.ciba:
                raise OAuthError("unauthorized_client", "CIBA is not enabled for this client")
            body = handler(request, client, form)
        except OAuthError as exc:
            return exc.response()
        headers = None if "token-cache-control-missing" in p.defects else NO_STORE
        return json_response(body, 200, headers)

    return [Route(oidc_path + "/token", token, methods=["POST"])]
