"""The login flow as explicit sans-I/O steps.

Each step builds an `HttpRequest` or interprets a response; it does no I/O. The conformance suite
sends them with httpx, the Locust scenarios with their own client: the login logic exists once.
Interpreting is lenient on purpose: a step reports what it found (a missing state, an error
instead of a code) and leaves judging to the checks, so one defect fails one check.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html.parser
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt

from psc_testkit.client.config import ClientProfile

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] | None = None
    client_id: str | None = None  # whose TLS client certificate to present, for mTLS


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 §4.1/§4.2: a 64-character verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    return verifier, b64url(hashlib.sha256(verifier.encode("ascii")).digest())


# Authorization ------------------------------------------------------------------------------


@dataclass
class AuthorizationRequest:
    endpoint: str
    params: dict[str, str]
    verifier: str | None = None

    @classmethod
    def new(
        cls,
        endpoint: str,
        client: ClientProfile,
        scope: str,
        *,
        acr_values: str | None = None,
        pkce: str | None = "S256",
        extra: dict[str, str] | None = None,
        omit: tuple[str, ...] = (),
    ) -> AuthorizationRequest:
        verifier = None
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "scope": scope,
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
        }
        if acr_values:
            params["acr_values"] = acr_values
        if pkce == "S256":
            verifier, params["code_challenge"] = pkce_pair()
            params["code_challenge_method"] = "S256"
        elif pkce == "plain":
            verifier = secrets.token_urlsafe(48)
            params["code_challenge"] = verifier
            params["code_challenge_method"] = "plain"
        params.update(extra or {})
        for name in omit:
            params.pop(name, None)
        return cls(endpoint, params, verifier)

    @property
    def state(self) -> str | None:
        return self.params.get("state")

    @property
    def nonce(self) -> str | None:
        return self.params.get("nonce")

    @property
    def redirect_uri(self) -> str:
        return self.params.get("redirect_uri", "")

    def url(self) -> str:
        sep = "&" if "?" in self.endpoint else "?"
        return f"{self.endpoint}{sep}{urlencode(self.params)}"

    def post(self) -> HttpRequest:
        return HttpRequest("POST", self.endpoint, form=dict(self.params))


@dataclass
class AuthorizationResponse:
    """What came back to the redirect URI (query, fragment or form_post), or why nothing did."""

    params: dict[str, str]
    mode: str  # query | fragment | form_post | none
    location: str | None = None
    problem: str | None = None  # e.g. "the provider showed an error page (HTTP 400)"
    status: int | None = None

    @property
    def code(self) -> str | None:
        return self.params.get("code")

    @property
    def error(self) -> str | None:
        return self.params.get("error")

    @property
    def redirected(self) -> bool:
        return self.mode != "none"


def is_callback(location: str, redirect_uri: str) -> bool:
    """Whether a Location goes back to the client's redirect URI (query and fragment aside)."""
    target = urlsplit(location)
    expected = urlsplit(redirect_uri)
    return (target.scheme, target.netloc, target.path) == (
        expected.scheme,
        expected.netloc,
        expected.path,
    )


def parse_redirect(location: str) -> AuthorizationResponse:
    parts = urlsplit(location)
    if parts.fragment and not parse_qsl(parts.query):
        return AuthorizationResponse(dict(parse_qsl(parts.fragment)), "fragment", location)
    return AuthorizationResponse(dict(parse_qsl(parts.query)), "query", location)


class _FormParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.scripts: list[str] = []  # inline scripts and the body's onload, for auto-submits
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script":
            self._in_script = True
        elif tag == "body" and a.get("onload"):
            self.scripts.append(a["onload"])
        if tag == "form":
            self.forms.append(
                {
                    "action": a.get("action", ""),
                    "method": a.get("method", "get"),
                    "id": a.get("id", ""),
                    "inputs": [],
                }
            )
        elif tag in ("input", "button", "select", "textarea") and self.forms:
            # A control may sit outside its form and name it (`form="id"`), as oidc-provider's
            # logout buttons do; otherwise it belongs to the form opened last.
            owner = next((f for f in self.forms if a.get("form") and f["id"] == a["form"]), None)
            (owner or self.forms[-1])["inputs"].append({"tag": tag, **a})


def _parse(page: str) -> tuple[list[dict], bool]:
    """A page's forms, and whether a script of it submits one."""
    parser = _FormParser()
    parser.feed(page)
    return parser.forms, any(".submit()" in s for s in parser.scripts)


# A driver reads one page for a form_post answer, an auto-submit and its login form: parsed
# once (html.parser costs ~300 µs a login page). A few pages, small ones only: a hostile 10 MB
# page is parsed each time rather than kept. Callers get copies, never the cached forms.
_parse_cached = functools.lru_cache(maxsize=4)(_parse)
CACHED_PAGE = 256 * 1024


def _parsed(page: str) -> tuple[list[dict], bool]:
    return _parse_cached(page) if len(page) <= CACHED_PAGE else _parse(page)


def _copy(form: dict) -> dict:
    return {**form, "inputs": [dict(i) for i in form["inputs"]]}


def parse_forms(page: str) -> list[dict]:
    """The forms of an HTML page: action, method and inputs (name, type, value, checked)."""
    return [_copy(form) for form in _parsed(page)[0]]


def auto_submit_form(page: str) -> dict | None:
    """The form a page submits by itself (a script or the body's onload calls submit()), as an
    OP's pages hop through its own URLs (RFC 6749 §1.7: any redirection method of the
    user-agent is allowed). A person's browser posts it at once; so do the drivers."""
    # A script's text is the page's own (no character reference is decoded inside <script>);
    # only an onload attribute is decoded. Neither there: no script can call submit().
    if ".submit()" not in page and "onload" not in page.lower():
        return None
    forms, submits = _parsed(page)
    return _copy(forms[0]) if forms and submits else None


def form_fields(form: dict) -> dict[str, str]:
    """What submitting a form as it is sends: its named inputs other than buttons."""
    return {
        i["name"]: i.get("value", "")
        for i in form["inputs"]
        if i.get("name") and i["tag"] != "button" and i.get("type", "").lower() != "submit"
    }


def parse_form_post(page: str, redirect_uri: str) -> AuthorizationResponse | None:
    """OAuth 2.0 Form Post Response Mode: an auto-submitting form to the redirect URI."""
    # Without "&" no character reference is decoded: a form's action is then the page's own
    # text, and one going back to the redirect URI holds its path.
    path = urlsplit(redirect_uri).path
    if path and "&" not in page and path not in page:
        return None
    for form in _parsed(page)[0]:
        if is_callback(form["action"], redirect_uri) and form["method"].lower() == "post":
            params = {i["name"]: i.get("value", "") for i in form["inputs"] if i.get("name")}
            return AuthorizationResponse(params, "form_post", form["action"])
    return None


# Client authentication ----------------------------------------------------------------------


def client_assertion(client: ClientProfile, audience: str, lifetime: int = 60) -> str:
    """RFC 7523 / OIDC Core §9 private_key_jwt assertion."""
    if client.private_key_file is None:
        raise ValueError(f"client {client.client_id}: private_key_jwt needs private_key_file")
    key, algorithm = _read_key(client.private_key_file)
    now = int(time.time())
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": audience,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + lifetime,
    }
    return jwt.encode(claims, key, algorithm=algorithm)


_KEYS: dict[Path, tuple[object, str]] = {}
# The assertion's alg follows the key: RSA keys sign RS256, EC keys the ES alg of their curve.
_EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


def _read_key(path: Path) -> tuple[object, str]:
    if path not in _KEYS:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        key = load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            algorithm = "RS256"
        elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _EC_ALGS:
            algorithm = _EC_ALGS[key.curve.name]
        else:
            raise ValueError(f"{path}: private_key_jwt needs an RSA or EC (P-256/384/521) key")
        _KEYS[path] = (key, algorithm)
    return _KEYS[path]


def authenticate(client: ClientProfile, audience: str) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, form fields) that authenticate `client` by its registered method."""
    method = client.auth_method
    if method == "client_secret_basic":
        from urllib.parse import quote_plus

        # RFC 6749 §2.3.1: form-urlencode id and secret before the Basic encoding.
        raw = f"{quote_plus(client.client_id)}:{quote_plus(client.secret or '')}"
        return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}, {}
    if method == "client_secret_post":
        return {}, {"client_id": client.client_id, "client_secret": client.secret or ""}
    if method == "private_key_jwt":
        return {}, {
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(client, audience),
        }
    return {}, {"client_id": client.client_id}  # tls_client_auth and public clients


def endpoint_for(meta: dict, name: str, client: ClientProfile | None) -> str:
    """Where `client` sends a request to the endpoint `name`: a client presenting a certificate
    uses the endpoint's mTLS alias when the provider advertises one (RFC 8705 §5: the aliases
    are the endpoints "to be used ... by clients intending to use mutual TLS")."""
    if client is not None and client.tls_cert_file is not None:
        aliases = meta.get("mtls_endpoint_aliases")
        if isinstance(aliases, dict) and isinstance(aliases.get(name), str):
            return aliases[name]
    return meta[name]


def _back(url: str, client: ClientProfile, audience: str, form: dict[str, str]) -> HttpRequest:
    headers, fields = authenticate(client, audience)
    return HttpRequest("POST", url, headers, {**fields, **form}, client_id=client.client_id)


# Back channel -------------------------------------------------------------------------------


def token_request(
    meta: dict,
    client: ClientProfile,
    code: str,
    redirect_uri: str | None,
    verifier: str | None,
    **extra: str | None,
) -> HttpRequest:
    form = {"grant_type": "authorization_code", "code": code}
    if redirect_uri is not None:
        form["redirect_uri"] = redirect_uri
    if verifier is not None:
        form["code_verifier"] = verifier
    form.update({k: v for k, v in extra.items() if v is not None})
    for name in [k for k, v in extra.items() if v is None]:
        form.pop(name, None)
    return _back(endpoint_for(meta, "token_endpoint", client), client, meta["token_endpoint"], form)


def refresh_request(
    meta: dict, client: ClientProfile, refresh_token: str, scope: str | None = None
) -> HttpRequest:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if scope:
        form["scope"] = scope
    return _back(endpoint_for(meta, "token_endpoint", client), client, meta["token_endpoint"], form)


def userinfo_request(meta: dict, access_token: str, how: str = "get") -> HttpRequest:
    url = meta["userinfo_endpoint"]
    bearer = {"Authorization": f"Bearer {access_token}"}
    if how == "get":
        return HttpRequest("GET", url, bearer)
    if how == "post-header":
        return HttpRequest("POST", url, bearer, form={})
    return HttpRequest("POST", url, form={"access_token": access_token})


def introspection_request(
    meta: dict, client: ClientProfile, token: str, hint: str | None = None
) -> HttpRequest:
    form = {"token": token, **({"token_type_hint": hint} if hint else {})}
    url = meta["introspection_endpoint"]
    return _back(endpoint_for(meta, "introspection_endpoint", client), client, url, form)


def revocation_request(
    meta: dict, client: ClientProfile, token: str, hint: str | None = None
) -> HttpRequest:
    form = {"token": token, **({"token_type_hint": hint} if hint else {})}
    url = meta["revocation_endpoint"]
    return _back(endpoint_for(meta, "revocation_endpoint", client), client, url, form)


def ciba_request(
    meta: dict,
    client: ClientProfile,
    login_hint: str,
    scope: str,
    *,
    binding_message: str | None = None,
    acr_values: str | None = None,
    channel: str | None = None,
) -> HttpRequest:
    form = {"scope": scope, "login_hint": login_hint}
    for key, value in (
        ("binding_message", binding_message),
        ("acr_values", acr_values),
        ("channel", channel),
    ):
        if value is not None:
            form[key] = value
    url = meta["backchannel_authentication_endpoint"]
    alias = endpoint_for(meta, "backchannel_authentication_endpoint", client)
    return _back(alias, client, url, form)


def ciba_token_request(meta: dict, client: ClientProfile, auth_req_id: str) -> HttpRequest:
    form = {"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id}
    return _back(endpoint_for(meta, "token_endpoint", client), client, meta["token_endpoint"], form)


def logout_url(meta: dict, **params: str | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    endpoint = meta["end_session_endpoint"]
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}" if query else endpoint
