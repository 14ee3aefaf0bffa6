"""What the checks drive: a target's metadata, its keys, logins and token exchanges.

One harness serves a whole conformance run. It keeps the browser's cookies, so after the first
login every authorization is silent (one human login per run), and it hands each check fresh
artefacts (a new code, new tokens) with the exchanges that produced them, for evidence.
"""

from __future__ import annotations

import itertools
import ssl
import time
from dataclasses import dataclass, field

import httpx

from psc_testkit.client import flow
from psc_testkit.client.config import ClientProfile, Target
from psc_testkit.client.drivers import Driver, LoginError, NoFrontChannel, make_driver
from psc_testkit.client.drivers.common import callback_of, follow, no_redirect
from psc_testkit.client.errors import TargetError
from psc_testkit.client.evidence import Exchange, Recorder
from psc_testkit.client.jsonsafe import loads
from psc_testkit.client.metadata import Metadata, shown
from psc_testkit.client.replay import TlsFiles
from psc_testkit.client.tokens import Jwt, TokenFormatError, decode
from psc_testkit.client.transport import Http

SAFE_REASON = "safe profile: this check needs a user login"


class SafeModeRefusal(Exception):
    """A safe profile (production) forbids what was asked: a user login, or a test user to
    log in or to ask on the phone. The pytest plugin turns it into a skip, not an error."""

    def __init__(self, reason: str = SAFE_REASON) -> None:
        super().__init__(reason)


def tls_problem(exc: BaseException) -> str | None:
    """The certificate verification failure behind an exception, in a few words, or None.
    httpx wraps it twice (httpx.ConnectError from httpcore's, from ssl's): follow the chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            message = current.verify_message or current.reason or "certificate verify failed"
            if current.verify_code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
                return "TLS: certificate has expired"
            if current.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
                return f"TLS: certificate is for another host ({message})"
            if current.verify_code in (18, 19, 20, 21):  # self-signed, unknown issuer
                return f"TLS: certificate not trusted ({message}): give its CA as ca_file"
            return f"TLS: certificate rejected ({message})"
        current = current.__cause__ or current.__context__
    return None


def describe(exc: Exception) -> str:
    if (tls := tls_problem(exc)) is not None:
        return f"cannot connect: {tls}"  # the words reports sort "target unreachable" by
    if isinstance(exc, httpx.TimeoutException):
        detail = f": {exc}" if str(exc) else ""
        return f"timed out ({type(exc).__name__}{detail})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc}"
    return f"{type(exc).__name__}: {exc}"


def json_body(response: httpx.Response) -> dict | None:
    try:
        data = loads(response.content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@dataclass
class Fetched:
    """A JSON document the target served, with the exchange that carried it."""

    response: httpx.Response
    data: dict
    exchanges: list[Exchange]


@dataclass
class Login:
    request: flow.AuthorizationRequest
    response: flow.AuthorizationResponse
    client: ClientProfile
    user: str
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def code(self) -> str | None:
        return self.response.code

    @property
    def prompted(self) -> bool:
        """Whether the provider asked the user to log in before answering: the driver says
        whether it filled a login form (a consent or self-submitting page is no login); for a
        driver that cannot tell, whether any page was shown."""
        login_form = getattr(self.response, "login_form", None)
        if login_form is not None:
            return bool(login_form)
        return any(e.status == 200 for e in self.exchanges[:-1]) or (
            len(self.exchanges) > 1 and self.exchanges[0].status == 200
        )


@dataclass
class Tokens:
    response: httpx.Response
    body: dict | None
    client: ClientProfile
    login: Login | None
    exchanges: list[Exchange] = field(default_factory=list)
    # When the response arrived (epoch seconds): time checks (iat recent, exp ahead) compare
    # with it, not with the moment a later check reads the tokens.
    received: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.response.status_code == 200 and self.body is not None

    def failure(self) -> str | None:
        """Why these are not usable tokens, in a few words, or None."""
        status = f"HTTP {self.response.status_code}"
        if self.body is None:
            return f"{status}, not a JSON object"
        error = self.body.get("error")
        if error is not None:
            return f"{status}, error {shown(error)}"
        if self.response.status_code != 200:
            return status
        if not self.access_token:
            return f"{status}, no access_token string"
        return None

    def get(self, name: str) -> object:
        return (self.body or {}).get(name)

    @property
    def access_token(self) -> str | None:
        value = self.get("access_token")
        return value if isinstance(value, str) else None

    @property
    def refresh_token(self) -> str | None:
        value = self.get("refresh_token")
        return value if isinstance(value, str) else None

    @property
    def id_token(self) -> Jwt | None:
        try:
            return decode(self.get("id_token"))
        except TokenFormatError:
            return None


def recorder_for(target: Target) -> Recorder:
    """A recorder whose redactor knows the profile's secrets before anything is sent, and
    keeps its client ids readable."""
    recorder = Recorder(tls=TlsFiles(target.ca_file))
    for client in target.clients:
        recorder.redact.keep(client.client_id)
        recorder.redact.add(client.secret)
    for value in target.driver_secrets:
        recorder.redact.add(value)
    return recorder


class Harness:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.recorder = recorder_for(target)
        self.http = Http(target, self.recorder)
        self.driver: Driver = make_driver(target.driver, target, self.recorder)
        self._users: list[str] = list(target.driver.users)
        self._user_cycle: itertools.cycle[str] | None = None
        self._discovery: Fetched | TargetError | None = None
        self._jwks: Fetched | TargetError | None = None

    # Metadata and keys ------------------------------------------------------------------------

    def fetch_json(self, url: str, what: str) -> Fetched:
        with self.recorder.capture() as exchanges:
            try:
                response = self.http.back().get(url)
            except httpx.HTTPError as exc:
                raise TargetError(f"{what}: {describe(exc)}") from None
        data = json_body(response)
        # Any 2xx with a JSON object will do here; the checks judge the status exactly.
        if not 200 <= response.status_code < 300 or data is None:
            raise TargetError(
                f"{what}: HTTP {response.status_code}, "
                f"{'a JSON object' if data is not None else 'not a JSON object'}"
            )
        return Fetched(response, data, exchanges)

    def _once(self, attribute: str, url: str, what: str) -> Fetched:
        """Fetch once per run; a failure is remembered too, so a broken target is asked once."""
        cached = getattr(self, attribute)
        if cached is None:
            try:
                cached = self.fetch_json(url, what)
            except TargetError as exc:
                cached = exc
            setattr(self, attribute, cached)
        if isinstance(cached, TargetError):
            raise cached
        return cached

    @property
    def discovery(self) -> Fetched:
        fetched = self._once("_discovery", self.target.discovery_url, "discovery document")
        if not isinstance(fetched.data, Metadata):
            fetched.data = Metadata(fetched.data)  # validated once, before any use
        return fetched

    @property
    def meta(self) -> Metadata:
        return self.discovery.data  # type: ignore[return-value]

    def endpoint(self, name: str) -> str:
        return self.meta[name]  # type: ignore[return-value]

    @property
    def jwks(self) -> Fetched:
        return self._once("_jwks", self.endpoint("jwks_uri"), "JWKS")

    # Users ------------------------------------------------------------------------------------

    def users(self, count: int = 20) -> list[str]:
        if self.target.safe:
            # In this suite a test user is only ever needed to log in or to ask on the phone.
            raise SafeModeRefusal()
        if not self._users and self.target.control_origin:
            response = self.http.back().get(
                f"{self.target.control_origin}/_simulator/users?limit={count}"
            )
            self._users = [u["idNat"] for u in response.json()["users"]]
            for user in self._users:
                self.recorder.redact.add(user, "personal")
        if not self._users:
            raise TargetError("no test user: list idNat values in [driver] users or PSC_USERS")
        return self._users

    def user(self, index: int = 0) -> str:
        users = self.users()
        return users[index % len(users)]

    # Front channel ----------------------------------------------------------------------------

    def authorization_request(
        self,
        client: ClientProfile | None = None,
        *,
        pkce: str | None = "S256",
        extra: dict[str, str] | None = None,
        omit: tuple[str, ...] = (),
    ) -> flow.AuthorizationRequest:
        return flow.AuthorizationRequest.new(
            self.endpoint("authorization_endpoint"),
            client or self.target.primary,
            self.target.scope,
            acr_values=self.target.acr_values,
            pkce=pkce,
            extra=extra,
            omit=omit,
        )

    def authorize(
        self,
        request: flow.AuthorizationRequest | None = None,
        *,
        client: ClientProfile | None = None,
        user: str | None = None,
        browser: httpx.Client | None = None,
        post: bool = False,
    ) -> Login:
        """Send the user through an authorization; log in if the provider asks."""
        if self.target.safe:
            raise SafeModeRefusal()
        client = client or self.target.primary
        request = request or self.authorization_request(client)
        user = user or self.user()
        browser = browser or self.http.browser
        with self.recorder.capture() as exchanges:
            try:
                if post:
                    first = browser.post(request.endpoint, data=request.params)
                    first = follow(browser, first, request.redirect_uri, self._trusts)
                    done = callback_of(first, request.redirect_uri)
                    if done is None and first.status_code == 200:
                        # A login page answered the POST: continue as with GET.
                        done = self.driver.authenticate(
                            browser, request.url(), request.redirect_uri, user
                        )
                    response = done or no_redirect(first)
                else:
                    response = self.driver.authenticate(
                        browser, request.url(), request.redirect_uri, user
                    )
            except httpx.HTTPError as exc:
                raise TargetError(f"authorization: {describe(exc)}") from None
            except NoFrontChannel:
                raise  # the plugin skips the check with its reason
            except LoginError as exc:
                raise TargetError(f"login: {exc}") from None
        return Login(request, response, client, user, exchanges)

    def attempt(
        self, request: flow.AuthorizationRequest, browser: httpx.Client | None = None
    ) -> tuple[httpx.Response, flow.AuthorizationResponse | None, list[Exchange]]:
        """Send an authorization request once, without logging in: for requests the provider
        must answer at once (errors, prompt=none). Returns the response and, if it went back
        to the redirect URI, the authorization response. The provider's own hops (redirects,
        self-submitting pages) are followed first: the response is where the chain ends."""
        browser = browser or self.http.browser
        with self.recorder.capture() as exchanges:
            response = self.front(request.url(), browser)
            try:
                response = follow(browser, response, request.redirect_uri, self._trusts)
            except httpx.HTTPError as exc:
                raise TargetError(f"authorization: {describe(exc)}") from None
        return response, callback_of(response, request.redirect_uri), exchanges

    def _trusts(self, host: str) -> bool:
        """Whether a hop to `host` stays inside the provider (the profile's hosts)."""
        return self.http.destinations.trusts(host)

    def front(self, url: str, browser: httpx.Client | None = None) -> httpx.Response:
        """One GET in the browser, no redirect followed (error pages, logout)."""
        try:
            return (browser or self.http.browser).get(url)
        except httpx.HTTPError as exc:
            raise TargetError(f"GET {url.split('?')[0]}: {describe(exc)}") from None

    def code(self, **options: object) -> Login:
        """A login that must produce a code: its absence is a broken prerequisite."""
        login = self.authorize(**options)  # type: ignore[arg-type]
        if not login.code:
            reason = login.response.error or login.response.problem or "no code"
            raise TargetError(f"the authorization did not return a code: {reason}")
        return login

    # Back channel -----------------------------------------------------------------------------

    def send(self, request: flow.HttpRequest) -> httpx.Response:
        try:
            return self.http.send(request)
        except httpx.HTTPError as exc:
            raise TargetError(f"{request.method} {request.url}: {describe(exc)}") from None

    def exchange(
        self, login: Login, client: ClientProfile | None = None, **overrides: str | None
    ) -> Tokens:
        client = client or login.client
        # An override of None leaves the parameter out (a missing redirect_uri, verifier…).
        request = flow.token_request(
            self.meta,
            client,
            overrides.pop("code", login.code) or "",
            overrides.pop("redirect_uri", login.request.redirect_uri),
            overrides.pop("code_verifier", login.request.verifier),
            **overrides,
        )
        with self.recorder.capture() as exchanges:
            response = self.send(request)
        return Tokens(response, json_body(response), client, login, exchanges)

    def tokens(self, client: ClientProfile | None = None, **login_options: object) -> Tokens:
        """A fresh code exchanged for tokens; failure is a broken prerequisite."""
        if self.target.safe:
            raise SafeModeRefusal()  # whatever the driver: tokens mean a user logged in
        if hasattr(self.driver, "tokens"):  # the ciba driver: tokens without a code
            return self.ciba_tokens(client, **login_options)  # type: ignore[arg-type]
        login = self.code(client=client, **login_options)
        tokens = self.exchange(login)
        if (failure := tokens.failure()) is not None:
            raise TargetError(f"the token request failed: {failure}")
        return tokens

    def ciba_tokens(
        self,
        client: ClientProfile | None = None,
        *,
        user: str | None = None,
        request: flow.AuthorizationRequest | None = None,
        browser: httpx.Client | None = None,
    ) -> Tokens:
        """Tokens through CIBA, the tester approving on the e-CPS app (the ciba driver); there
        is no front channel, so `browser` plays no part."""
        client = client or next((c for c in self.target.clients if c.ciba), None)
        if client is None or not client.ciba:
            name = client.client_id if client else "no client"
            raise NoFrontChannel(
                f"the ciba driver logs in through CIBA: {name} is not CIBA-enabled"
            )
        scope = request.params.get("scope", self.target.scope) if request else self.target.scope
        with self.recorder.capture() as exchanges:
            try:
                response = self.driver.tokens(  # type: ignore[attr-defined]
                    self.send, self.meta, client, user or self.user(), scope, self.target.acr_values
                )
            except LoginError as exc:
                raise TargetError(f"CIBA login: {exc}") from None
        tokens = Tokens(response, json_body(response), client, None, exchanges)
        if (failure := tokens.failure()) is not None:
            raise TargetError(f"the CIBA token request failed: {failure}")
        return tokens

    def refresh(
        self, tokens: Tokens, client: ClientProfile | None = None, scope: str | None = None
    ) -> Tokens:
        client = client or tokens.client
        request = flow.refresh_request(self.meta, client, tokens.refresh_token or "", scope)
        with self.recorder.capture() as exchanges:
            response = self.send(request)
        return Tokens(response, json_body(response), client, tokens.login, exchanges)

    def userinfo(
        self, access_token: str, how: str = "get", client_id: str | None = None
    ) -> httpx.Response:
        request = flow.userinfo_request(self.meta, access_token, how)
        if client_id:
            # A client with a certificate calls the resource at its mTLS alias (RFC 8705 §5).
            client = next((c for c in self.target.clients if c.client_id == client_id), None)
            url = flow.endpoint_for(self.meta, "userinfo_endpoint", client)
            request = flow.HttpRequest(
                request.method, url, request.headers, request.form, client_id
            )
        return self.send(request)

    def wait(self, seconds: float) -> None:
        """Let time pass for the provider: the simulator's clock is moved, others are waited."""
        if self.target.control_origin:
            self.http.back().post(
                f"{self.target.control_origin}/_simulator/clock", json={"advance": seconds}
            )
        else:
            time.sleep(seconds)

    def close(self) -> None:
        close = getattr(self.driver, "close", None)
        if close is not None:
            close()  # the browser driver's Chromium
        self.http.close()
