"""`psc-testkit profile check`: is a profile ready to run? One line per step, in the order a
connection needs them (DNS, TCP, TLS, discovery, JWKS), then the driver and each client.

The chain stops at the first broken link (no TLS to check without a connection), and every
step is bounded by the profile's timeout. Nothing here logs a user in or sends load: a
confidential client is tried with a made-up code (an `invalid_grant` answer means the provider
authenticated the client), a public one with an authorization request whose redirect is not
followed. So it is fit for production profiles too.

Only when asked (`--login`) does it log one test user in for real, through the profile's driver
and the suite's own harness: one authorization, one code, one token request, with the guards a
run has (no credential posted twice, no host the profile does not name). A safe profile never.
"""

from __future__ import annotations

import html
import re
import shutil
import socket
import ssl
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path
from typing import TextIO, TypeVar
from urllib.parse import urlsplit

import httpx
from cryptography import x509

from psc_testkit.client import flow
from psc_testkit.client.config import (
    ENV_REFERENCE,
    ClientProfile,
    ProfileError,
    Target,
    load_target,
)
from psc_testkit.client.destinations import Destinations
from psc_testkit.client.drivers import DRIVERS
from psc_testkit.client.drivers.common import callback_of
from psc_testkit.client.errors import TargetError
from psc_testkit.client.metadata import Metadata
from psc_testkit.client.transport import Http, tls_context
from psc_testkit.conformance.harness import (
    Harness,
    SafeModeRefusal,
    describe,
    json_body,
    recorder_for,
)

T = TypeVar("T")
MADE_UP_CODE = "psc-testkit-profile-check-not-a-code"
EXPIRY_WARNING_DAYS = 30


class Broken(Exception):
    """A prerequisite failed: the message is the FAIL line's text."""


@dataclass
class Finding:
    status: str  # ok | warn | FAIL | -- (not applicable)
    step: str
    text: str

    def line(self) -> str:
        return f"{self.status:<4} {self.step:<9} {self.text}"


class ProfileCheck:
    def __init__(self, target: Target, out: TextIO, login: bool = False) -> None:
        self.target = target
        self.out = out
        self.login_asked = login
        # What the provider says (an error_description, a page's alert) may echo a secret:
        # every line goes through a redactor that knows the profile's, as reports do.
        self.recorder = recorder_for(target)
        self.findings: list[Finding] = []
        parts = urlsplit(target.discovery_url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.destinations = Destinations(target)

    def say(self, status: str, step: str, text: str) -> None:
        finding = Finding(status, step, self.recorder.redact(text))
        self.findings.append(finding)
        print(finding.line(), file=self.out, flush=True)

    def run(self) -> bool:
        # One set of bounded clients for every request of the check.
        http = Http(self.target, self.recorder)
        try:
            try:
                address = self.step("DNS", self.dns)
                sock = self.step("TCP", lambda: self.tcp(address))
                self.step("TLS", lambda: self.tls(address, sock))
                meta = self.step("discovery", lambda: self.discovery(http))
            except Broken:
                self.say("--", "", "stopped: the next steps need the one that failed")
                return False
            self.step_soft("hosts", lambda: self.hosts(meta))
            self.step_soft("JWKS", lambda: self.jwks(http, meta))
            self.step_soft("driver", self.driver)
            for client in self.target.clients:
                self.step_soft("client", lambda c=client: self.client(http, meta, c))
            if self.login_asked:
                self.step_soft("login", self.login)
        finally:
            http.close()
        return not any(f.status == "FAIL" for f in self.findings)

    def step(self, name: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except Broken as exc:
            self.say("FAIL", name, str(exc))
            raise

    def step_soft(self, name: str, action: Callable[[], None]) -> None:
        """A step the others do not depend on: its failure is reported and the check goes on."""
        try:
            action()
        except Broken as exc:
            self.say("FAIL", name, str(exc))

    # The connection ---------------------------------------------------------------------------

    def dns(self) -> str:
        if self.scheme not in ("http", "https") or not self.host:
            raise Broken(f"discovery_url {self.target.discovery_url!r} is not an http(s) URL")
        try:
            ip_address(self.host)
        except ValueError:
            pass
        else:
            self.say("ok", "DNS", f"{self.host} (an address: nothing to resolve)")
            return self.host
        # getaddrinfo has no timeout of its own: wait for it in a thread, at most the timeout.
        pool = ThreadPoolExecutor(max_workers=1)
        lookup = pool.submit(socket.getaddrinfo, self.host, self.port, type=socket.SOCK_STREAM)
        try:
            answers = lookup.result(timeout=self.target.timeout)
        except FutureTimeout:
            raise Broken(f"{self.host}: no answer in {self.target.timeout:g} s") from None
        except (socket.gaierror, UnicodeError) as exc:
            reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
            raise Broken(f"{self.host}: cannot resolve ({reason})") from None
        finally:
            pool.shutdown(wait=False)
        addresses = list(dict.fromkeys(str(a[4][0]) for a in answers))
        shown = ", ".join(addresses[:3]) + (" …" if len(addresses) > 3 else "")
        self.say("ok", "DNS", f"{self.host} → {shown}")
        return addresses[0]

    def tcp(self, address: str) -> socket.socket:
        started = time.monotonic()
        where = f"{address}:{self.port}"
        try:
            sock = socket.create_connection((address, self.port), timeout=self.target.timeout)
        except ConnectionRefusedError:
            raise Broken(f"{where}: connection refused (nothing listens there)") from None
        except TimeoutError:
            raise Broken(f"{where}: no answer in {self.target.timeout:g} s (a firewall?)") from None
        except OSError as exc:
            raise Broken(f"{where}: {exc.strerror or exc}") from None
        self.say("ok", "TCP", f"{where} connected in {(time.monotonic() - started) * 1000:.0f} ms")
        return sock

    def tls(self, address: str, sock: socket.socket) -> None:
        if self.scheme != "https":
            sock.close()
            self.say("--", "TLS", f"plain {self.scheme.upper()}: no TLS to check")
            return
        context = tls_context(self.target.ca_file)
        try:
            with context.wrap_socket(sock, server_hostname=self.host) as tls:
                version = tls.version()
                der = tls.getpeercert(binary_form=True)
        except ssl.SSLCertVerificationError as exc:
            raise Broken(self.rejected_certificate(address, exc)) from None
        except (ssl.SSLError, OSError) as exc:
            raise Broken(f"handshake failed: {getattr(exc, 'reason', None) or exc}") from None
        finally:
            sock.close()
        cert = x509.load_der_x509_certificate(der or b"")
        expires = cert.not_valid_after_utc
        # Rounded: a certificate made for 30 days, a second ago, expires "in 30 days".
        days = round((expires - datetime.now(UTC)).total_seconds() / 86400)
        text = f"{version}, trusted, {_name(cert.subject)}, expires {expires:%Y-%m-%d}"
        if days < EXPIRY_WARNING_DAYS:
            self.say("warn", "TLS", f"{text}: in {days} days, renew it")
        else:
            self.say("ok", "TLS", f"{text} (in {days} days)")

    def rejected_certificate(self, address: str, exc: ssl.SSLCertVerificationError) -> str:
        cert = _peer_certificate(address, self.port, self.host, self.target.timeout)
        if exc.verify_code == 10 and cert is not None:  # X509_V_ERR_CERT_HAS_EXPIRED
            return f"certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}"
        names = f" ({_name(cert.subject)}, issued by {_name(cert.issuer)})" if cert else ""
        if exc.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
            return f"certificate is not for {self.host}{names}"
        hint = "; give its CA as ca_file" if exc.verify_code in (18, 19, 20, 21) else ""
        return f"certificate not trusted: {exc.verify_message}{names}{hint}"

    # The provider -----------------------------------------------------------------------------

    def discovery(self, http: Http) -> Metadata:
        url = self.target.discovery_url
        try:
            response = http.back().get(url)
        except httpx.HTTPError as exc:
            raise Broken(describe(exc)) from None
        meta = json_body(response)
        if response.status_code != 200:
            raise Broken(f"HTTP {response.status_code} (a discovery document is served with 200)")
        if meta is None:
            raise Broken("HTTP 200, but not a JSON object")
        issuer = meta.get("issuer")
        prefix = url.split("/.well-known/")[0]
        if not isinstance(issuer, str) or issuer.rstrip("/") != prefix.rstrip("/"):
            raise Broken(f"issuer {issuer!r} is not the discovery URL's prefix {prefix!r}")
        meta = Metadata(meta)
        needed = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        missing = [name for name in needed if name not in meta]
        if missing:
            raise Broken(f"issuer {issuer}, but no {', '.join(missing)}")
        broken = [meta.problems[name] for name in needed if name in meta.problems]
        if broken:
            raise Broken(f"issuer {issuer}, but {broken[0].removeprefix('discovery: ')}")
        self.say("ok", "discovery", f"issuer {issuer}")
        for problem in meta.problems.values():
            self.say("FAIL", "discovery", problem.removeprefix("discovery: "))
        aliases = meta.raw("mtls_endpoint_aliases")
        if isinstance(aliases, dict) and aliases.get("token_endpoint"):
            self.say("--", "discovery", f"mTLS token endpoint: {aliases['token_endpoint']}")
        return meta

    def hosts(self, meta: Metadata) -> None:
        """Endpoints that receive credentials, and the login's first host, all where the profile
        says they may be: a client probe would otherwise send its secret elsewhere."""
        refused = self.destinations.metadata_problems(meta, login=not self.target.safe)
        if refused:
            problem, names = next(iter(refused.items()))
            more = f" (and {len(refused) - 1} other problem(s))" if len(refused) > 1 else ""
            raise Broken(f"{', '.join(names)}: {problem}{more}")
        shown = ", ".join(sorted(self.destinations.trusted - {""}))
        self.say("ok", "hosts", f"credentials and the login stay on {shown}")

    def jwks(self, http: Http, meta: dict) -> None:
        try:
            response = http.back().get(meta["jwks_uri"])
        except httpx.HTTPError as exc:
            raise Broken(describe(exc)) from None
        keys = (json_body(response) or {}).get("keys")
        if response.status_code != 200 or not isinstance(keys, list):
            raise Broken(f"{meta['jwks_uri']}: HTTP {response.status_code}, no keys array")
        signing = [k for k in keys if isinstance(k, dict) and k.get("use", "sig") == "sig"]
        if not signing:
            raise Broken(f"{len(keys)} key(s), none for signing")
        algs = sorted({str(k.get("alg") or k.get("kty")) for k in signing})
        self.say(
            "ok", "JWKS", f"{len(keys)} key(s), {len(signing)} for signing ({', '.join(algs)})"
        )

    def driver(self) -> None:
        driver = self.target.driver
        if driver.name not in DRIVERS:
            raise Broken(f"unknown driver {driver.name!r} (one of {', '.join(DRIVERS)})")
        if self.target.safe:
            self.say("--", "driver", f"{driver.name}: not used (safe profile: no login)")
            return
        if driver.name == "html_form" and not driver.fields:
            raise Broken("html_form needs [driver.fields] (the login form's inputs)")
        if driver.name == "browser" and not shutil.which(driver.chromium):
            raise Broken(f"no Chromium at {driver.chromium} (set chromium or PSC_CHROMIUM)")
        self.say("ok", "driver", driver.name)

    def login(self) -> None:
        """One real login of the first test user with the first client, and its token request:
        what a run's first check does, with the same driver and guards."""
        if self.target.safe:
            self.say("--", "login", "not done: safe profile (no user logs in)")
            return
        driver = self.target.driver
        unset = sorted(
            {
                name
                for text in (*driver.fields.values(), *(s.value or "" for s in driver.steps))
                for name in ENV_REFERENCE.findall(text)
            }
        )
        if unset:
            raise Broken(f"not tried: set the environment variable {unset[0]} (the driver's)")
        harness = Harness(self.target)
        try:
            try:
                user = harness.user()
                if (env := ENV_REFERENCE.search(driver.passwords.get(user, ""))) is not None:
                    raise Broken(f"not tried: set the environment variable {env.group(1)}")
                tokens = harness.tokens(user=user)
            except (TargetError, SafeModeRefusal) as exc:
                raise Broken(harness.recorder.redact(str(exc))) from None
            # The user is a login name, maybe personal: the redactor decides what shows.
            who = harness.recorder.redact(user)
            got = ", ".join(
                k for k in ("access_token", "id_token", "refresh_token") if tokens.get(k)
            )
            how = "a code received, " if tokens.login is not None else ""
            self.say(
                "ok",
                "login",
                f"user {who} logged in with {tokens.client.client_id} ({driver.name}): {how}"
                f"tokens obtained ({got})",
            )
        finally:
            harness.close()

    # Clients ----------------------------------------------------------------------------------

    def client(self, http: Http, meta: dict, client: ClientProfile) -> None:
        who = f"{client.client_id} ({client.auth_method})"
        if client.auth_method.startswith("client_secret") and client.secret is None:
            raise Broken(f"{who}: ${client.secret_env} is not set (the client secret)")
        probe = self.public if client.public else self.confidential
        verdict = probe(http, meta, client)
        self.say("ok", "client", f"{who}: {verdict}")

    def confidential(self, http: Http, meta: Metadata, client: ClientProfile) -> str:
        who = f"{client.client_id} ({client.auth_method})"
        endpoint = str(meta.raw("token_endpoint"))
        if client.auth_method == "tls_client_auth":
            # RFC 8705 §5: a provider may take mTLS requests on other endpoints.
            aliases = meta.raw("mtls_endpoint_aliases")
            if isinstance(aliases, dict) and isinstance(aliases.get("token_endpoint"), str):
                endpoint = aliases["token_endpoint"]
        if (problem := self.destinations.problem(endpoint)) is not None:
            raise Broken(f"{who}: not tried: {problem}")
        try:
            request = flow.token_request(
                {**meta, "token_endpoint": endpoint},
                client,
                MADE_UP_CODE,
                client.redirect_uri,
                None,
            )
            response = http.send(request)
        except httpx.HTTPError as exc:
            raise Broken(f"{who}: {describe(exc)}") from None
        except TargetError as exc:  # the destination guard of the suite's clients
            raise Broken(f"{who}: not tried: {exc}") from None
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise Broken(f"{who}: cannot use its key or certificate: {exc}") from None
        body = json_body(response) or {}
        error = body.get("error")
        if error == "invalid_grant":
            return "accepted (invalid_grant for a made-up code: the client authenticated)"
        if error == "invalid_client" or response.status_code == 401:
            raise Broken(f"{who}: rejected ({error or 'HTTP 401'}): {_fix(client)}")
        detail = f" {error}" if error else ""
        description = str(body.get("error_description") or "")[:100]
        raise Broken(
            f"{who}: rejected or unclear: HTTP {response.status_code}{detail}"
            f"{f' ({description})' if description else ''}"
        )

    def public(self, http: Http, meta: Metadata, client: ClientProfile) -> str:
        who = f"{client.client_id} ({client.auth_method})"
        request = flow.AuthorizationRequest.new(
            meta["authorization_endpoint"],
            client,
            self.target.scope,
            acr_values=self.target.acr_values,
            pkce="S256",
        )
        browser = http.new_browser()
        try:
            response = browser.get(request.url())
        except httpx.HTTPError as exc:
            raise Broken(f"{who}: {describe(exc)}") from None
        back = callback_of(response, client.redirect_uri)
        if back is not None:
            if back.error:
                description = (back.params.get("error_description") or "")[:100]
                why = f"{back.error}{f': {description}' if description else ''}"
                raise Broken(f"{who}: rejected ({why})")
            return "accepted (sent straight back to the client)"
        if response.is_redirect:
            target = urlsplit(response.headers.get("location", ""))
            return f"accepted (redirected to {target.netloc}{target.path}: a login page)"
        if response.status_code == 200:
            return "accepted (the authorization endpoint shows a page: the login page)"
        raise Broken(f"{who}: rejected (HTTP {response.status_code}: {_page_reason(response)})")


def _fix(client: ClientProfile) -> str:
    """What to look at when the provider refuses the client's authentication."""
    if client.auth_method.startswith("client_secret"):
        where = f"${client.secret_env}" if client.secret_env else "client_secret"
        return f"check its secret in {where}"
    if client.auth_method == "private_key_jwt":
        return f"check that the key in {client.private_key_file} is the one registered"
    if client.auth_method == "tls_client_auth":
        return f"check that the certificate {client.tls_cert_file} is the one registered"
    return "check the client_id"


def _name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return f"CN={common[0].value}" if common else name.rfc4514_string() or "no name"


def _peer_certificate(
    address: str, port: int, host: str, timeout: float
) -> x509.Certificate | None:
    """The server's certificate, unverified: to say why verification failed (its dates, its
    names). Nothing is sent over this connection."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((address, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    return x509.load_der_x509_certificate(der) if der else None


_ALERT = re.compile(
    r"<(\w+)[^>]*(?:role=\"alert\"|id=\"kc-error-message\"|class=\"[^\"]*error[^\"]*\")[^>]*>"
    r"(.*?)</\1>",
    re.S | re.I,
)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.S | re.I)


def _page_reason(response: httpx.Response) -> str:
    """Why an error page says it refused: an RFC 6749 error, the page's alert, or its title."""
    body = json_body(response)
    if body and body.get("error"):
        return str(body["error"])
    text = response.text
    found = _ALERT.search(text) or _TITLE.search(text)
    if not found:
        return "no reason given"
    words = " ".join(re.sub(r"<[^>]+>", " ", found.group(found.lastindex or 1)).split())
    return html.unescape(words)[:120] or "no reason given"


def check(path: Path, out: TextIO = sys.stdout, login: bool = False) -> int:
    """Exit status: 0 ready, 1 a step failed, 2 the profile itself is unusable. `login`: log
    one test user in for real too (`--login`)."""
    try:
        probe = load_target(path, discovery_url="-", require_secrets=False)
        if not probe.simulator:
            return _report(load_target(path, require_secrets=False), out, login)
    except ProfileError as exc:
        print(f"psc-testkit profile check: {exc}", file=sys.stderr)
        return 2
    from psc_testkit.simulator.process import SimulatorProcess, SimulatorStartError

    try:
        with SimulatorProcess(config=path) as sim:
            print(f"--   simulator started for this profile: {sim.issuer}", file=out, flush=True)
            return _report(load_target(path, **sim.runtime()), out, login)
    except SimulatorStartError as exc:
        print(f"psc-testkit profile check: {exc}", file=sys.stderr)
        return 2


def _report(target: Target, out: TextIO, login: bool = False) -> int:
    check = ProfileCheck(target, out, login)
    ready = check.run()
    failed = [f for f in check.findings if f.status == "FAIL"]
    warned = [f for f in check.findings if f.status == "warn"]
    if ready:
        extra = f", {len(warned)} warning(s)" if warned else ""
        print(f"verdict: {target.name} is ready{extra}", file=out)
        return 0
    print(f"verdict: {target.name} is NOT ready: {len(failed)} problem(s)", file=out)
    return 1
