"""Where credentials may go: the provider's own hosts, and nowhere else.

An operator gives this suite real client secrets, private keys, certificates and a test
user's password. A provider's metadata (or a page of its login) may point anywhere: a token
endpoint on another host, a login form posting to a third one over plain HTTP. Before any
request that carries a credential leaves, its destination is checked against the hosts the
profile trusts: the discovery URL's host, and `[target] trusted_hosts` (PSC's `wallet.*` host,
say). Plain HTTP is accepted on loopback only, unless the profile says `allow_plain_http`.
Nothing here decides whether a provider is compliant: it decides what the suite may send.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import httpx

from psc_testkit.client.config import Target
from psc_testkit.client.errors import TargetError
from psc_testkit.client.evidence import forms
from psc_testkit.client.metadata import Metadata

# Form or query parameters whose value is a credential or lets one be obtained.
CREDENTIAL_FIELDS = {
    "client_secret": "a client secret",
    "client_assertion": "a client assertion",
    "password": "a password",
    "code_verifier": "a PKCE verifier",
    "refresh_token": "a refresh token",
    "token": "a token",
    "code": "an authorization code",
}


# Metadata members whose endpoint receives credentials (RFC 8705 aliases are added to them).
CREDENTIAL_ENDPOINTS = (
    "token_endpoint",
    "userinfo_endpoint",
    "introspection_endpoint",
    "revocation_endpoint",
    "backchannel_authentication_endpoint",
)


class UntrustedDestination(TargetError):
    """A request would have carried credentials to a host the profile does not trust."""


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Destinations:
    """The hosts a target's credentials and logins may go to."""

    def __init__(self, target: Target) -> None:
        self.home = (urlsplit(target.discovery_url).hostname or "").lower()
        self.trusted = {self.home, *target.trusted_hosts}
        if target.control_origin:
            self.trusted.add((urlsplit(target.control_origin).hostname or "").lower())
        self.allow_plain_http = target.allow_plain_http
        secrets = [c.secret for c in target.clients if c.secret] + list(target.driver_secrets)
        # Every spelling a secret takes in a URL or a body (the redactor's own list: encoded,
        # escaped, inside Basic), to spot it whatever carries it.
        self.secret_forms = {form for s in secrets for form in forms(s, credential=True)}

    def trusts(self, host: str) -> bool:
        host = host.lower()
        return host in self.trusted or any(
            t.startswith("*.") and host.endswith(t[1:]) for t in self.trusted
        )

    def problem(self, url: str, what: str = "credentials") -> str | None:
        """Why `what` may not be sent to `url`, in one line, or None."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not self.trusts(host):
            return (
                f"{what} would go to {host or repr(url)}, not to {self.home} (the discovery URL's "
                "host): list it in [target] trusted_hosts if it is the provider's"
            )
        if parts.scheme != "https" and not is_loopback(host) and not self.allow_plain_http:
            return (
                f"{what} would go over plain HTTP to {host}: the provider must use https "
                "(or set allow_plain_http = true in [target])"
            )
        return None

    def metadata_problems(self, meta: Metadata, login: bool = True) -> dict[str, list[str]]:
        """Each reason why credentials (or, with `login`, the login) would go where they may
        not, with the metadata members concerned; empty when everything stays home."""
        endpoints = {
            name: str(meta.raw(name))
            for name in CREDENTIAL_ENDPOINTS
            if name in meta and name not in meta.problems
        }
        aliases = meta.raw("mtls_endpoint_aliases")
        if isinstance(aliases, dict) and "mtls_endpoint_aliases" not in meta.problems:
            endpoints.update({f"mtls_endpoint_aliases.{k}": str(v) for k, v in aliases.items()})
        found: dict[str, list[str]] = {}
        for name, url in endpoints.items():
            if (problem := self.problem(url)) is not None:
                found.setdefault(problem, []).append(name)
        host = urlsplit(str(meta.raw("authorization_endpoint", ""))).hostname or ""
        if login and "authorization_endpoint" not in meta.problems and not self.trusts(host):
            reason = (
                f"the login would go to {host}, not to {self.home} (the discovery URL's host): "
                "list it in [target] trusted_hosts if it is the provider's"
            )
            found.setdefault(reason, []).append("authorization_endpoint")
        return found

    def credentials_in(self, request: httpx.Request, certificate: bool = False) -> str | None:
        """What credential `request` carries, in a few words, or None."""
        if certificate:
            return "a client certificate"
        if "authorization" in request.headers or "proxy-authorization" in request.headers:
            return "an Authorization header"
        url = str(request.url)
        body = request.content.decode("utf-8", "replace") if hasattr(request, "_content") else ""
        pairs = parse_qsl(urlsplit(url).query) + (
            parse_qsl(body)
            if "x-www-form-urlencoded" in request.headers.get("content-type", "")
            else []
        )
        for name, value in pairs:
            if name in CREDENTIAL_FIELDS and value:
                return CREDENTIAL_FIELDS[name]
        if any(form in url or form in body for form in self.secret_forms):
            return "a secret of the profile"
        return None

    def check(self, request: httpx.Request, certificate: bool = False) -> None:
        what = self.credentials_in(request, certificate)
        if what is not None and (reason := self.problem(str(request.url), what)) is not None:
            raise UntrustedDestination(reason)

    def hook(self, certificate: bool = False) -> Callable[[httpx.Request], None]:
        """An httpx request hook that refuses to send credentials to an untrusted host."""

        def check(request: httpx.Request) -> None:
            self.check(request, certificate)

        return check
