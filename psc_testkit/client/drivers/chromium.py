"""The Chromium side of the browser driver: launching it, trusting the profile's CA, sharing
cookies with the suite's httpx browser, catching the way back to the client, and recording the
pages as evidence.

TLS. Chromium does its own TLS (a person may log in with a CPS card, whose certificate only
Chromium can present), so the suite's verification of `ca_file` cannot be reused as it is, and
Chromium offers no per-process CA file. What we do:
- no ca_file: Chromium verifies as it always does (the system's trust);
- ca_file: Chromium is launched with `--ignore-certificate-errors-spki-list` set to the public
  keys of the certificates in ca_file. A certificate chain that does not verify is then accepted
  only if it presents one of those keys. That rejects a host of any other CA, but it is weaker
  than a real verification (Chromium does not check that the chain is signed by that key), so it
  guards against mistakes, not against an active attacker on the network. The suite's own HTTP
  client, which carries every back-channel request, verifies against ca_file properly;
- `insecure_tls = true` in [driver]: Chromium ignores certificate errors altogether. Only when
  the profile says so.
"""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import ipaddress
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Error as PlaywrightError

from psc_testkit.client.destinations import Destinations
from psc_testkit.client.evidence import Recorder
from psc_testkit.client.flow import AuthorizationResponse, is_callback, parse_redirect

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, CDPSession, Page, Response

# Nothing that talks to Google's services: on a closed network each attempt is refused, many
# at a time (the report test's browser uses the same flags).
FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CALLBACK_PAGE = (
    '<!doctype html><html><head><meta charset="utf-8"><title>psc-testkit</title></head>'
    '<body><p id="psc-testkit-callback">psc-testkit received the authorization response.</p>'
    "</body></html>"
)
PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def spki_pins(ca_file: Path) -> list[str]:
    """base64(SHA-256(SubjectPublicKeyInfo)) of each certificate in a PEM file."""
    pins = []
    for block in PEM.findall(ca_file.read_bytes()):
        key = x509.load_pem_x509_certificate(block).public_key()
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        pins.append(base64.b64encode(hashlib.sha256(der).digest()).decode("ascii"))
    return pins


def launch_args(ca_file: Path | None, insecure: bool) -> list[str]:
    if ca_file is None or insecure:
        return list(FLAGS)
    return [*FLAGS, f"--ignore-certificate-errors-spki-list={','.join(spki_pins(ca_file))}"]


# Cookies ----------------------------------------------------------------------------------------


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def to_chromium(jar: http.cookiejar.CookieJar) -> list[dict]:
    """The httpx jar's cookies, as Playwright's context.add_cookies takes them."""
    cookies = []
    for c in jar:
        domain = c.domain
        if not c.domain_specified and domain.endswith(".local"):
            domain = domain[: -len(".local")]  # cookiejar's name for dotless hosts (localhost)
        cookie: dict = {
            "name": c.name,
            "value": c.value or "",
            "domain": domain,
            "path": c.path or "/",
            "secure": bool(c.secure),
            "httpOnly": c.has_nonstandard_attr("HttpOnly"),
        }
        if c.expires:
            cookie["expires"] = float(c.expires)
        same_site = str(c.get_nonstandard_attr("SameSite") or "").capitalize()
        if same_site in ("Lax", "Strict", "None"):
            cookie["sameSite"] = same_site
        cookies.append(cookie)
    return cookies


def to_jar(cookies: list[dict], jar: http.cookiejar.CookieJar) -> None:
    """Replace the jar's cookies by Chromium's: what the browser now holds is the session."""
    jar.clear()
    for c in cookies:
        domain = c["domain"]
        dot = domain.startswith(".")
        if not dot and "." not in domain and not _is_ip(domain):
            domain += ".local"
        rest = {"HttpOnly": None} if c.get("httpOnly") else {}
        if c.get("sameSite"):
            rest["SameSite"] = c["sameSite"]
        expires = c.get("expires", -1)
        jar.set_cookie(
            http.cookiejar.Cookie(
                version=0,
                name=c["name"],
                value=c["value"],
                port=None,
                port_specified=False,
                domain=domain,
                domain_specified=dot,
                domain_initial_dot=dot,
                path=c.get("path", "/"),
                path_specified=True,
                secure=bool(c.get("secure")),
                expires=int(expires) if expires and expires > 0 else None,
                discard=not (expires and expires > 0),
                comment=None,
                comment_url=None,
                rest=rest,
            )
        )


# The way back to the client ------------------------------------------------------------------


@dataclass
class Arrival:
    method: str
    url: str  # with the fragment, which never reaches a server but is part of the response
    body: str


class Callback:
    """Catches the browser's navigation to the redirect URI and answers it with a tiny page, so
    no server needs to listen there.

    Through the DevTools protocol's Fetch domain rather than Playwright's page.route: route
    does not see requests reached by a redirect (Playwright documents it), and the provider's
    way back to the client is precisely a redirect. Fetch also gives the URL's fragment.
    """

    def __init__(self, redirect_uri: str, destinations: Destinations | None = None) -> None:
        self.redirect_uri = redirect_uri
        self.arrival: Arrival | None = None
        # Pages the login may load: none on a host the profile does not name, and no form
        # posted over plain HTTP off loopback. The first refusal ends the login with its reason.
        self.destinations = destinations
        self.refused: str | None = None

    def matches(self, url: str) -> bool:
        return is_callback(url, self.redirect_uri)

    def attach(self, context: BrowserContext, page: Page) -> None:
        session = context.new_cdp_session(page)
        base = self.redirect_uri.split("?")[0].split("#")[0]
        session.on("Fetch.requestPaused", lambda event: self._paused(session, event))
        # The pattern is a wildcard match on the URL; matches() then compares exactly.
        pattern = base.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?") + "*"
        patterns = [{"urlPattern": pattern}]
        if self.destinations is not None:
            patterns.append({"urlPattern": "*", "resourceType": "Document"})
        session.send("Fetch.enable", {"patterns": patterns})

    def _refusal(self, request: dict) -> str | None:
        if self.destinations is None:
            return None
        url = request["url"]
        host = urlsplit(url).hostname or ""
        if not self.destinations.trusts(host):
            return (
                f"the login went to {host or repr(url)}, a host the profile does not name: list it "
                "in [target] trusted_hosts if it is the provider's"
            )
        if request["method"] == "POST":
            return self.destinations.problem(url, "the login form")
        return None

    def _paused(self, session: CDPSession, event: dict) -> None:
        request = event["request"]
        url = request["url"] + request.get("urlFragment", "")
        if self.matches(url):
            if self.arrival is None and event.get("resourceType") == "Document":
                self.arrival = Arrival(request["method"], url, request.get("postData", ""))
            session.send(
                "Fetch.fulfillRequest",
                {
                    "requestId": event["requestId"],
                    "responseCode": 200,
                    "responseHeaders": [
                        {"name": "content-type", "value": "text/html; charset=utf-8"}
                    ],
                    "body": base64.b64encode(CALLBACK_PAGE.encode()).decode("ascii"),
                },
            )
        elif (refusal := self._refusal(request)) is not None:
            self.refused = self.refused or refusal
            session.send(
                "Fetch.failRequest",
                {"requestId": event["requestId"], "errorReason": "BlockedByClient"},
            )
        else:
            session.send("Fetch.continueRequest", {"requestId": event["requestId"]})

    def response(self) -> AuthorizationResponse:
        """What came back: the form_post body, or the URL's query or fragment."""
        assert self.arrival is not None
        if self.arrival.method == "POST":
            return AuthorizationResponse(
                dict(parse_qsl(self.arrival.body)), "form_post", self.arrival.url
            )
        return parse_redirect(self.arrival.url)


# Evidence ---------------------------------------------------------------------------------------

# Playwright hands bodies decoded: their encoding headers would no longer be true.
DROPPED = {"content-encoding", "content-length", "transfer-encoding"}


def record_navigation(recorder: Recorder, response: Response, callback: Callback) -> None:
    """A page the browser was sent to (the main frame's documents and redirects), recorded as
    the httpx drivers' exchanges are: `Login.prompted` and the reports read them alike."""
    request = response.request
    if not request.is_navigation_request() or callback.matches(request.url):
        return
    if response.frame.parent_frame is not None:
        return
    status = response.status
    try:
        request_headers = request.all_headers()
        headers = [(k, v) for k, v in response.headers_array() if k.lower() not in DROPPED]
        body = b"" if 300 <= status < 400 else response.body()
    except PlaywrightError:  # the page moved on: record what is known
        request_headers, headers, body = dict(request.headers), [], b""
    timing = request.timing or {}
    elapsed = max(0.0, float(timing.get("responseEnd", 0) or 0)) / 1000
    recorder.record(
        httpx.Request(
            request.method, request.url, headers=request_headers, content=request.post_data_buffer
        ),
        httpx.Response(status, headers=headers, content=body),
        time.perf_counter() - elapsed,
    )
