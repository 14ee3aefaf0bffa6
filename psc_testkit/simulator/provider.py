"""The provider's state and the operations the endpoints share: sessions, codes, token issuance."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.responses import Response

from psc_testkit.simulator import claims as psc_claims
from psc_testkit.simulator import lies
from psc_testkit.simulator.annuaire import Annuaire
from psc_testkit.simulator.clients import Client, ClientAuthenticator, build_clients
from psc_testkit.simulator.clock import Clock
from psc_testkit.simulator.defects import ActiveDefects
from psc_testkit.simulator.keys import KeySet, at_hash, rsa_public_jwk
from psc_testkit.simulator.quirks import ActiveQuirks
from psc_testkit.simulator.recorder import RequestLog
from psc_testkit.simulator.settings import SimulatorSettings
from psc_testkit.simulator.state import StateDir
from psc_testkit.simulator.store import (
    AWKWARD,
    AccessToken,
    AuthRequest,
    Code,
    Grant,
    Pending,
    RefreshToken,
    Session,
    Store,
    cookie_value,
    new_id,
    sid_of_cookie,
)
from psc_testkit.simulator.tls import LocalCA

REALM_PATH = "/auth/realms/esante-wallet"
OIDC_PATH = REALM_PATH + "/protocol/openid-connect"
SESSION_COOKIE = "KEYCLOAK_IDENTITY"


@dataclass(frozen=True)
class Endpoints:
    issuer: str
    wallet_origin: str
    # The mtls-aliases quirk: the issuer's endpoints again on a port of their own, the only
    # one where client certificates count.
    mtls_issuer: str | None = None

    def mtls(self, url: str) -> str:
        """`url`'s mTLS alias (the URL itself when there is no alias listener)."""
        if self.mtls_issuer is None or not url.startswith(self.issuer):
            return url
        return self.mtls_issuer + url[len(self.issuer) :]

    @property
    def authorization(self) -> str:
        return self.wallet_origin + "/auth"

    def _oidc(self, path: str) -> str:
        return self.issuer + "/protocol/openid-connect" + path

    @property
    def token(self) -> str:
        return self._oidc("/token")

    @property
    def userinfo(self) -> str:
        return self._oidc("/userinfo")

    @property
    def jwks(self) -> str:
        return self._oidc("/certs")

    @property
    def end_session(self) -> str:
        return self._oidc("/logout")

    @property
    def introspection(self) -> str:
        return self._oidc("/token/introspect")

    @property
    def revocation(self) -> str:
        return self._oidc("/revoke")

    @property
    def ciba(self) -> str:
        return self._oidc("/ext/ciba/auth")


class Provider:
    def __init__(
        self,
        settings: SimulatorSettings,
        endpoints: Endpoints,
        defects: ActiveDefects,
        state: StateDir,
        ca: LocalCA | None,
        quirks: ActiveQuirks | None = None,
    ) -> None:
        self.settings = settings
        self.endpoints = endpoints
        self.defects = defects
        # Compliant behaviours a real provider may show (quirks.py): the suite must pass them.
        self.quirks = quirks if quirks is not None else ActiveQuirks()
        self.issuer = endpoints.issuer
        if "issuer-not-https" in defects:
            self.issuer = endpoints.issuer.replace("https://", "http://", 1)
        self.tls = ca is not None
        self.clock = Clock()
        self.keys = KeySet()
        self.annuaire = Annuaire(settings.seed, settings.population)
        self.store = Store()
        self.clients: dict[str, Client] = build_clients(settings.clients, state, ca)
        audiences = {
            endpoints.issuer,
            endpoints.token,
            endpoints.introspection,
            endpoints.revocation,
            endpoints.ciba,
        }
        self.authenticator = ClientAuthenticator(
            self.clients, audiences, self.store.assertion_jtis, defects
        )
        # Defects that act at random (token-endpoint-flaky) draw from a seeded generator.
        self.random = random.Random(settings.seed)
        # How clients behave, for GET /_simulator/traffic (app.count_back_channel).
        self.traffic = {"back_channel": 0, "back_channel_with_cookie": 0}
        # RP certification (--rp): the lie being served (lies.py), and the defects the
        # simulator was started with, which a lie's own defects are added to.
        self.lie: str | None = None
        self.request_log: RequestLog | None = None  # set by server.build with --rp
        self._started_defects = defects.names

    def serve_lie(self, name: str | None) -> None:
        """Serve `name` (None: tell the truth) from now on; raise lies.UnknownLie."""
        lie = lies.get(name) if name is not None else None
        self.defects.names = self._started_defects | frozenset(lie.defects if lie else ())
        self.lie = name
        if name == lies.KEY_ROTATED:
            self.keys.rotate()

    @cached_property
    def foreign_key(self) -> rsa.RSAPrivateKey:
        """A signing key the JWKS never publishes, for the lies that forge a signature."""
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def now(self) -> float:
        return self.clock.now()

    def new_secret(self, kind: str, nbytes: int) -> str:
        """An opaque value of `kind` (a key of store.AWKWARD) to hand out, awkward with
        --awkward-secrets, remembered for GET /_simulator/issued."""
        value = new_id(nbytes, AWKWARD[kind] if self.settings.awkward_secrets else "")
        self.store.remember(kind, value)
        return value

    @cached_property
    def extra_jwk(self) -> dict:
        """An unrelated RSA public key, for JWKS defects that publish one more key."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return {**rsa_public_jwk(key.public_key()), "kid": "extra"}

    @cached_property
    def small_jwk(self) -> dict:
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        return {**rsa_public_jwk(key.public_key()), "kid": "small"}

    # Sessions -------------------------------------------------------------------------------

    def live_session(self, sid: str | None) -> Session | None:
        """The SSO session if it is neither ended, nor past 4 h, nor idle for 30 min."""
        if not sid:
            return None
        session = self.store.sessions.get(sid)
        if session is None or not self.session_alive(session):
            return None
        return session

    def cookie_session(self, cookies: Mapping[str, str]) -> Session | None:
        """The live SSO session the request's session cookie names, if any."""
        return self.live_session(sid_of_cookie(cookies.get(SESSION_COOKIE)))

    def set_session_cookie(self, response: Response, session: Session) -> None:
        # The sid percent-encoded where RFC 6265 does not allow its characters (awkward ids).
        value = cookie_value(session.sid)
        response.set_cookie(
            SESSION_COOKIE, value, httponly=True, secure=self.tls, samesite="lax", path="/"
        )

    def session_alive(self, session: Session) -> bool:
        now = self.now()
        s = self.settings
        return (
            not session.ended
            and now - session.created <= s.session_max
            and now - session.last_seen <= s.session_idle
        )

    def open_session(self, user_id_nat: str, auth_mode: str) -> Session:
        if "psc-authmode-always-card" in self.defects:
            auth_mode = "CARD"
        if "psc-authmode-always-mobile" in self.defects:
            auth_mode = "MOBILE"
        now = self.now()
        user = self.annuaire.get(user_id_nat)
        assert user is not None
        session = Session(self.new_secret("session_ids", 24), user, auth_mode, int(now), now, now)
        self.store.sessions[session.sid] = session
        self.store.logged_in[user.id_nat] = user
        return session

    def subject(self, session: Session) -> str:
        sub = psc_claims.subject(session.user)
        if self.defects:
            if "sub-too-long" in self.defects:
                sub = sub.ljust(300, "x")
            if "sub-per-session" in self.defects:
                sub = f"{sub}:{session.sid[:8]}"
        return sub

    def phone_status(self, pending: Pending) -> str:
        """What the simulated e-CPS phone says: approves after the configured delay unless a
        decision set through the control API says deny, or ignore (the login then expires)."""
        now = self.now()
        if now >= pending.expires_at:
            return "expired"
        decision = self.store.phone_decisions.get(pending.user.id_nat, "approve")
        if decision == "deny":
            return "denied"
        if decision == "ignore" or now < pending.approve_at:
            return "pending"
        return "approved"

    def end_session(self, session: Session) -> None:
        session.ended = True
        self.store.sessions.pop(session.sid, None)

    # Codes and tokens -------------------------------------------------------------------------

    def issue_code(self, request: AuthRequest, session: Session) -> str:
        # long-codes: 750 random bytes are 1,000 base64url characters.
        value = self.new_secret("codes", 750 if "long-codes" in self.quirks else 32)
        if self.defects:
            if "code-short" in self.defects:
                value = new_id(11)
            if "code-low-entropy" in self.defects:
                self._code_counter = getattr(self, "_code_counter", 0) + 1
                value = f"{self._code_counter:043d}"
            self.store.remember("codes", value)
        self.store.codes[value] = Code(
            value, request, session, self.now() + self.settings.code_lifetime
        )
        return value

    def issue_tokens(
        self,
        client: Client,
        grant: Grant,
        *,
        nonce: str | None,
        refresh_parent: RefreshToken | None = None,
        rotate: bool = True,
    ) -> dict:
        """The token response for a grant: a JWT access token, a rotated refresh token (the
        same one again when not `rotate`) and, when `openid` was granted, an ID token."""
        now = self.now()
        iat = int(now)
        s = self.settings
        if self.defects:
            s = self._lifetimes_for_defects(s)
        session = grant.session
        session.last_seen = now
        user = session.user
        sub = self.subject(session)
        acr = self.acr(session.auth_mode)
        jti = new_id(16)
        access_claims = {
            "exp": iat + s.access_token_lifetime,
            "iat": iat,
            "auth_time": session.auth_time,
            "jti": jti,
            "iss": self.issuer,
            "sub": sub,
            "typ": "Bearer",
            "azp": client.client_id,
            "nonce": grant.nonce or "",
            "session_state": session.sid,
            "acr": acr,
            "scope": " ".join(grant.scope),
            "sid": session.sid,
            "authMode": session.auth_mode,
            "otherIds": psc_claims.other_ids(user),
            "preferred_username": user.id_nat,
        }
        if "introspection-audience-only" in self.quirks:
            access_claims["aud"] = ["account"]  # stock Keycloak: its account console only
        if grant.cert_thumbprint:
            thumbprint = grant.cert_thumbprint
            if "mtls-cnf-wrong" in self.defects:
                thumbprint = thumbprint[::-1]
            access_claims["cnf"] = {"x5t#S256": thumbprint}
        if "access-token-alg-none" in self.defects:
            access_token = jwt.encode(access_claims, None, algorithm="none")
        elif "opaque-access-tokens" in self.quirks:
            access_token = new_id(32)  # the claims stay on the server, for introspection
        else:
            access_token = self.keys.sign(access_claims)
        if "access-token-control-character" in self.defects:
            access_token = access_token[:20] + "\t" + access_token[20:]
        token = AccessToken(jti, access_token, grant, access_claims, iat + s.access_token_lifetime)
        if not (refresh_parent is not None and "refreshed-access-token-unusable" in self.defects):
            self.store.access_tokens[access_token] = token
        self.store.remember("access_tokens", access_token)
        grant.access_jtis.add(jti)

        # The refresh token dies with the session: at most its idle time, never past its maximum.
        refresh_exp = min(now + s.refresh_token_lifetime, session.created + s.session_max)
        if refresh_parent is not None and ("refresh-not-rotated" in self.defects or not rotate):
            refresh = refresh_parent
        else:
            value = self.new_secret("refresh_tokens", 32)
            if "refresh-token-control-character" in self.defects:
                value = value[:20] + "\t" + value[20:]
                self.store.remember("refresh_tokens", value)
            refresh = RefreshToken(value, grant, now, refresh_exp)
            self.store.refresh_tokens[refresh.value] = refresh
            if refresh_parent is not None:
                refresh_parent.rotated = True

        response: dict = {
            "access_token": access_token,
            "expires_in": s.access_token_lifetime,
            "refresh_expires_in": int(refresh_exp - now),
            "refresh_token": refresh.value,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "session_state": session.sid,
            "scope": " ".join(grant.scope),
        }
        if "openid" in grant.scope and "id-token-missing" not in self.defects:
            auth_time = session.auth_time
            if refresh_parent is not None and "refresh-id-token-changes-auth-time" in self.defects:
                auth_time -= 1
            response["id_token"] = self._id_token(
                client, grant, access_token, acr, sub, iat, nonce, auth_time
            )
        if self.defects:
            if "token-type-mac" in self.defects:
                response["token_type"] = "mac"
            if "expires-in-string" in self.defects:
                response["expires_in"] = str(response["expires_in"])
        return response

    def acr(self, auth_mode: str) -> str:
        """The acr a login by this means gets: the profile's [simulator] acr (fact sheet §7)."""
        if auth_mode == "CARD" and "acr-eidas3-for-card" in self.quirks:
            return "eidas3"
        return self.settings.acr[psc_claims.MEANS[auth_mode]]

    def _lifetimes_for_defects(self, s: SimulatorSettings) -> SimulatorSettings:
        if "psc-access-token-lifetime" in self.defects:
            s = replace(s, access_token_lifetime=300)
        if "psc-refresh-lifetime" in self.defects:
            s = replace(s, refresh_token_lifetime=3600, session_idle=3600)
        return s

    def _id_token(
        self,
        client: Client,
        grant: Grant,
        access_token: str,
        acr: str,
        sub: str,
        iat: int,
        nonce: str | None,
        auth_time: int,
    ) -> str:
        session = grant.session
        lifetime = self.settings.access_token_lifetime
        claims: dict = {
            "iss": self.issuer,
            "sub": sub,
            "aud": client.client_id,
            "azp": client.client_id,
            "exp": iat + lifetime,
            "iat": iat,
            "auth_time": auth_time,
            "typ": "ID",
            "acr": acr,
            "amr": psc_claims.AMR[session.auth_mode],
            "at_hash": at_hash(access_token),
            "sid": session.sid,
            "session_state": session.sid,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if "userinfo-extra-claims" in self.quirks:
            user = session.user
            claims.update(psc_claims.EXTRA_USERINFO, preferred_username=user.id_nat)
            claims["email_verified"] = False
        if "no-at-hash" in self.quirks:
            del claims["at_hash"]
        if "id-token-azp-and-sid" in self.quirks:
            claims["aud"] = [client.client_id]  # OIDC Core §2: an array in the general case
        if self.defects:
            self._break_id_token(claims, access_token, session)
        if self.lie is not None:
            lied = self._lie_in_id_token(claims, client)
            if lied is not None:
                return lied
        d = self.defects
        if "id-token-alg-none" in d:
            return jwt.encode(claims, None, algorithm="none")
        kid = "id-token-no-kid" not in d and "id-token-no-kid-among-keys" not in d
        token = self.keys.sign(claims, kid=kid)
        if "id-token-bad-signature" in d:
            head, body, sig = token.split(".")
            token = f"{head}.{body}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
        return token

    def _lie_in_id_token(self, claims: dict, client: Client) -> str | None:
        """The ID token lies of lies.py: alter `claims`, or return the token signed as the lie
        says (None: sign as usual)."""
        lie = self.lie
        if lie == lies.EXTRA_AUD_WITHOUT_AZP:
            claims["aud"] = [client.client_id, lies.OTHER_CLIENT]
            del claims["azp"]
        elif lie == lies.SUB_MISSING:
            del claims["sub"]
        elif lie == lies.NONCE_WRONG:
            claims["nonce"] = new_id(16)
        elif lie == lies.ACR_ABSENT:
            del claims["acr"]
        elif lie == lies.ALG_NONE:
            claims.pop("at_hash", None)  # alg none names no hash to compute it with
            return jwt.encode(claims, None, algorithm="none")
        elif lie in (lies.FOREIGN_KEY, lies.UNKNOWN_KID):
            kid = self.keys.current.kid if lie == lies.FOREIGN_KEY else "k" + new_id(8)
            headers = {"kid": kid, "typ": "JWT"}
            return jwt.encode(claims, self.foreign_key, algorithm="RS256", headers=headers)
        elif lie == lies.HS256_SECRET:
            secret = client.settings.client_secret or new_id(32)
            return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})
        return None

    def _break_id_token(self, claims: dict, access_token: str, session: Session) -> None:
        """ID token defects: each alters one claim as a faulty provider would."""
        d = self.defects
        if "nonce-not-echoed" in d:
            claims.pop("nonce", None)
        if "nonce-invented" in d:
            claims.setdefault("nonce", "psc-simulator-nonce")
        if "id-token-wrong-iss" in d:
            claims["iss"] = self.issuer + "-other"
        if "id-token-wrong-aud" in d:
            claims["aud"] = "some-other-client"
        if "id-token-wrong-azp" in d:
            claims["azp"] = "some-other-client"
        if "id-token-expired" in d:
            claims["exp"] = claims["iat"] - 3600  # beyond any clock-skew allowance
        if "id-token-iat-future" in d:
            claims["iat"] += 3600
        if "at-hash-wrong" in d:
            claims["at_hash"] = at_hash(access_token + "x")
        if "acr-below-requested" in d:
            claims["acr"] = "eidas0"
        if "id-token-extra-claims" in d:
            claims["given_name"] = session.user.given_name
            claims["family_name"] = session.user.family_name
        if "auth-time-missing" in d:
            del claims["auth_time"]

    def revoke_grant(self, grant: Grant) -> None:
        grant.revoked = True

    def access_token(self, value: str) -> AccessToken | None:
        """The access token if it is still usable: not expired, revoked, or orphaned."""
        token = self.store.access_tokens.get(value)
        if token is None or token.revoked or token.grant.revoked:
            return None
        if token.expires_at <= self.now() or not self.session_alive(token.grant.session):
            return None
        return token

    def refresh_token(self, value: str) -> RefreshToken | None:
        token = self.store.refresh_tokens.get(value)
        if token is None or token.grant.revoked or token.expires_at <= self.now():
            return None
        if not self.session_alive(token.grant.session):
            return None
        return token
