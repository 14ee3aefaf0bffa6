"""From what the app showed (browser.Outcome) and what it sent (the simulator's request log) to a
verdict, on positive evidence only: silence, a hang or a crash never passes.

Verdicts: PASSED; FAILED (a MUST not met); WARNED (a SHOULD not met); NOTED (a MAY not taken:
counted nowhere); NOT APPLICABLE (the app's
registration or design leaves nothing to test, said why); ERROR (the test could not judge:
the login could not be run, the lie was never delivered, or the positive control failed).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from psc_testkit.rp.app_profile import AppProfile
from psc_testkit.rp.browser import Outcome
from psc_testkit.rp.plan import (
    ACCEPT,
    COPES,
    EXPIRY,
    LOGOUT,
    MUST,
    SAME,
    SHOULD,
    RpTest,
)
from psc_testkit.simulator import lies

PASSED, FAILED, WARNED, NOTED, NOT_APPLICABLE, ERROR = (
    "PASSED",
    "FAILED",
    "WARNED",
    "NOTED",
    "NOT APPLICABLE",
    "ERROR",
)
NO_EVIDENCE = "no evidence of rejection"
NEITHER = "neither marker"  # in the reason of every verdict given on silence
TOKEN_PATH = "/protocol/openid-connect/token"
USERINFO_PATH = "/protocol/openid-connect/userinfo"
LOGOUT_PATH = "/protocol/openid-connect/logout"
# Callback lies after which exchanging the code is itself the flaw (the app went on).
NO_EXCHANGE_AFTER = {lies.STATE_WRONG, "callback-state-missing", "callback-iss-of-another-issuer"}


@dataclass
class Verdict:
    status: str
    reason: str
    level: str
    notes: list[str] = field(default_factory=list)


def _fail(level: str, reason: str, notes: list[str] | None = None) -> Verdict:
    status = {MUST: FAILED, SHOULD: WARNED}.get(level, NOTED)
    return Verdict(status, reason, level, notes or [])


@dataclass
class Control:
    """What the honest login showed: whether it passed, its authorization request, and whether
    the app called UserInfo (what later tests are judged against)."""

    passed: bool | None = None
    auth: dict[str, str] = field(default_factory=dict)
    userinfo: bool = False
    shown: str = ""  # the logged-in marker's text after the honest login
    exercices: int = 2  # how many the run's professional has

    @property
    def pkce(self) -> bool | None:
        return bool(self.auth.get("code_challenge")) if self.passed is not None else None

    @classmethod
    def of(cls, verdict: Verdict, entries: list[dict], outcome: Outcome, exercices: int) -> Control:
        auths = authorization_requests(entries)
        return cls(
            verdict.status == PASSED,
            query(auths[0]) if auths else {},
            any(is_userinfo(e) for e in entries),
            outcome.shown,
            exercices,
        )


# Reading the log --------------------------------------------------------------------------------


def form(entry: dict) -> dict[str, str]:
    return dict(parse_qsl(entry.get("body", ""), keep_blank_values=True))


def query(entry: dict) -> dict[str, str]:
    return dict(parse_qsl(entry.get("query", ""), keep_blank_values=True))


def is_token_request(entry: dict) -> bool:
    return entry["host"] == "issuer" and entry["path"].endswith(TOKEN_PATH)


def is_userinfo(entry: dict) -> bool:
    return entry["host"] == "issuer" and entry["path"].endswith(USERINFO_PATH)


def authorization_requests(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["host"] == "wallet" and e["path"] == "/auth"]


def token_response(entry: dict) -> dict:
    try:
        data = json.loads(entry.get("response") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def delivered(test: RpTest, entries: list[dict]) -> bool:
    """Did the app receive the lie? (Otherwise its behaviour says nothing about it.)"""
    channel = lies.get(test.lie).channel if test.lie else lies.ID_TOKEN
    for e in entries:
        if e.get("lie") != test.lie:
            continue
        if channel == lies.ID_TOKEN and is_token_request(e) and "id_token" in token_response(e):
            return True
        if channel == lies.USERINFO and is_userinfo(e) and e.get("status") == 200:
            return True
        if (
            channel == lies.CALLBACK
            and e["host"] == "wallet"
            and "location" in e
            and _is_callback(e["location"], entries)
        ):
            return True
    return False


def _is_callback(location: str, entries: list[dict]) -> bool:
    redirects = {query(a).get("redirect_uri") for a in authorization_requests(entries)}
    return any(r and location.startswith(r) for r in redirects)


def _callback_code(entries: list[dict]) -> str | None:
    for e in entries:
        if e["host"] == "wallet" and "location" in e and _is_callback(e["location"], entries):
            code = dict(parse_qsl(e["location"].split("?", 1)[-1])).get("code")
            if code:
                return code
    return None


def _carrying(value: str, entries: list[dict], after: int) -> list[dict]:
    """The requests after log position `after` that carry `value` (query, body or a header)."""
    return [
        e
        for e in entries
        if e["seq"] > after
        and (
            value in e.get("query", "")
            or value in e.get("body", "")
            or value in " ".join(e.get("headers", {}).values())
        )
    ]


# Judging ----------------------------------------------------------------------------------------


def level_of(test: RpTest, pkce_used: bool | None) -> str:
    if test.must_without_pkce and pkce_used is False:
        return MUST
    return test.level


def before_login(test: RpTest, app: AppProfile, control: Control) -> Verdict | None:
    """A verdict that needs no login: the test does not apply, or cannot prove anything."""
    level = level_of(test, control.pkce)
    if test.needs_signed_userinfo and not app.userinfo_signed:
        return Verdict(NOT_APPLICABLE, "the client is not registered for signed UserInfo", level)
    if test.needs_secret and not app.client_secret:
        return Verdict(NOT_APPLICABLE, "the client has no secret to MAC with", level)
    if test.kind == LOGOUT and (not app.logout_steps or app.logged_out is None):
        return Verdict(NOT_APPLICABLE, "the app profile describes no logout ([logout])", level)
    if test.needs_sent and control.passed and not control.auth.get(test.needs_sent):
        return Verdict(
            NOT_APPLICABLE, f"the app sends no {test.needs_sent}: nothing to lie about", level
        )
    if test.kind == SAME and (control.exercices < 2 or not app.logged_in.selector):
        why = (
            "no test professional has two exercices"
            if control.exercices < 2
            else ("the logged-in marker has no selector whose text could be compared")
        )
        return Verdict(NOT_APPLICABLE, why, level)
    if control.passed is False and test.name != "honest-login-again":
        return Verdict(
            ERROR,
            "not run: the app does not accept an honest login, so what it does here would "
            "prove nothing",
            level,
        )
    return None


def judge(
    test: RpTest, outcome: Outcome, entries: list[dict], app: AppProfile, control: Control
) -> Verdict:
    level = level_of(test, control.pkce)
    if not outcome.reached_login:
        return Verdict(ERROR, outcome.problem or "the login could not be started", level)
    if test.kind == ACCEPT:
        return _judge_accept(test, outcome, entries, level)
    if test.kind in (COPES, SAME):
        return _judge_variant(test, outcome, entries, level, control)
    if test.kind in (LOGOUT, EXPIRY):
        if not outcome.followed:
            return Verdict(ERROR, f"the login did not complete ({_shown(outcome)})", level)
        judge_after = _judge_logout if test.kind == LOGOUT else _judge_expiry
        return judge_after(outcome, entries, app, level)
    return _judge_reject(test, outcome, entries, level, control)


def _shown(outcome: Outcome) -> str:
    where = f"{outcome.url or 'no page'}"
    status = f", HTTP {outcome.status}" if outcome.status else ""
    return f"after {outcome.waited:g} s on {where}{status}"


def _judge_accept(test: RpTest, outcome: Outcome, entries: list[dict], level: str) -> Verdict:
    if test.lie and not delivered(test, entries):
        return Verdict(ERROR, "the app never exchanged its code: the answer was not served", level)
    if outcome.logged_in_as_expected:
        return Verdict(PASSED, "the app shows the expected professional logged in", level)
    if outcome.logged_in:
        return _fail(level, f"the app shows someone else logged in ({_shown(outcome)})")
    if outcome.rejected:
        return _fail(
            level, f"the app refused a valid login: its rejection marker showed ({_shown(outcome)})"
        )
    return _fail(level, f"no evidence of a login: neither marker showed ({_shown(outcome)})")


def _judge_reject(
    test: RpTest, outcome: Outcome, entries: list[dict], level: str, control: Control
) -> Verdict:
    notes: list[str] = []
    if not delivered(test, entries):
        channel = lies.get(test.lie).channel if test.lie else ""
        if channel == lies.USERINFO and not control.userinfo:
            return Verdict(NOT_APPLICABLE, "the app does not call UserInfo", level)
        what = {lies.USERINFO: "call UserInfo", lies.CALLBACK: "reach its callback"}
        return Verdict(
            ERROR,
            f"the lie was never delivered: the app did not {what.get(channel, 'exchange its code')}"
            f" ({_shown(outcome)})",
            level,
        )
    lie = lies.get(test.lie) if test.lie else None
    went_on = []
    if lie and lie.channel == lies.CALLBACK and test.lie in NO_EXCHANGE_AFTER:
        code = _callback_code(entries)
        if code:
            went_on = [e for e in entries if is_token_request(e) and code in e.get("body", "")]
            if went_on:
                reason = "the app exchanged the code of that callback at the token endpoint"
                return _fail(level, reason)
    if lie and lie.channel == lies.ID_TOKEN:
        for e in entries:
            if is_token_request(e) and e.get("lie") == test.lie:
                id_token = token_response(e).get("id_token")
                if id_token:
                    # Not as the id_token_hint of a logout: ending the session is no use of it.
                    reused = [
                        x
                        for x in _carrying(id_token, entries, e["seq"])
                        if not x["path"].endswith(LOGOUT_PATH)
                    ]
                    if reused:
                        return _fail(
                            level,
                            f"the app sent the refused ID token on ({reused[0]['method']} "
                            f"{reused[0]['path']})",
                        )
                    access = token_response(e).get("access_token", "")
                    if access and any(
                        is_userinfo(x) and x["seq"] > e["seq"]
                        for x in _carrying(access, entries, 0)
                    ):
                        notes.append(
                            "it called UserInfo with the access token of that response before "
                            "refusing (the OpenID Foundation's RP tests count this as a failure)"
                        )
    if outcome.logged_in:
        who = "the professional" if outcome.logged_in_as_expected else "someone"
        return _fail(level, f"the app logged {who} in ({_shown(outcome)})", notes)
    if outcome.rejected:
        return Verdict(PASSED, "the app showed its rejection marker, and no session", level, notes)
    return _fail(level, f"{NO_EVIDENCE}: neither marker showed ({_shown(outcome)})", notes)


def _judge_variant(
    test: RpTest, outcome: Outcome, entries: list[dict], level: str, control: Control
) -> Verdict:
    """A compliant answer the app may not expect: it must cope (COPES), or show the same as
    after the honest login (SAME)."""
    if not delivered(test, entries):
        if not control.userinfo:
            return Verdict(NOT_APPLICABLE, "the app does not call UserInfo", level)
        return Verdict(ERROR, f"the app did not call UserInfo this time ({_shown(outcome)})", level)
    if test.kind == COPES:
        if outcome.logged_in_as_expected and not outcome.rejected:
            return Verdict(PASSED, "it logged the professional in", level)
        if outcome.rejected and not outcome.logged_in:
            return Verdict(PASSED, "it refused the login with its rejection marker", level)
        return _fail(level, f"no evidence it copes: neither marker alone ({_shown(outcome)})")
    if not outcome.logged_in_as_expected:
        return _fail(level, f"the professional was not shown logged in ({_shown(outcome)})")
    if outcome.shown != control.shown:
        return _fail(
            level,
            "the logged-in page differs from the honest login's: the app picks "
            "an exercice by its position in the list",
        )
    return Verdict(PASSED, "the same logged-in page as after the honest login", level)


def _judge_logout(outcome: Outcome, entries: list[dict], app: AppProfile, level: str) -> Verdict:
    if outcome.problem:
        return Verdict(ERROR, outcome.problem, level)
    issued = [
        t for e in entries if is_token_request(e) and (t := token_response(e).get("id_token"))
    ]
    ends = [e for e in entries if e["path"].endswith(LOGOUT_PATH)]
    if not ends:
        return _fail(
            level,
            "the app's logout never reached PSC's end_session_endpoint: the "
            "professional's PSC session stays open",
        )
    params = {**query(ends[0]), **form(ends[0])}
    back = params.get("post_logout_redirect_uri")
    if back is not None and back not in app.post_logout_redirect_uris:
        return _fail(MUST, "post_logout_redirect_uri is not one registered for the client")
    if params.get("id_token_hint") not in issued:
        return _fail(SHOULD, "no id_token_hint, or not the ID token of this session")
    if not outcome.logged_out:
        return _fail(
            level,
            f"no evidence the app came back: its logged-out marker did not show "
            f"({_shown(outcome)})",
        )
    return Verdict(
        PASSED,
        "end_session with this session's ID token, back to a registered "
        "URI, the app's logged-out page shown",
        level,
    )


def _judge_expiry(outcome: Outcome, entries: list[dict], app: AppProfile, level: str) -> Verdict:
    refreshed = sum(
        1
        for e in entries
        if is_token_request(e) and "grant_type=refresh_token" in e.get("body", "")
    )
    how = f"; it refreshed {refreshed} time(s)" if refreshed else ""
    if outcome.logged_in_as_expected and not outcome.rejected:
        return Verdict(PASSED, f"still logged in once the access token expired{how}", level)
    if outcome.rejected:
        return _fail(level, f"it showed its error page once the access token expired{how}")
    return _fail(level, f"the professional is no longer shown logged in ({_shown(outcome)}){how}")


# Observations of the honest logins --------------------------------------------------------------

_HEX = re.compile(r"[0-9a-fA-F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_B64 = re.compile(r"[A-Za-z0-9_\-]+")


def entropy_bits(value: str) -> float:
    """A generous estimate of a random string's entropy from its alphabet and length."""
    if not value:
        return 0.0
    if _UUID.fullmatch(value):
        return 122.0  # a version 4 UUID holds 122 random bits, whatever its length
    if _HEX.fullmatch(value):
        alphabet = 16
    elif _B64.fullmatch(value):
        alphabet = 64
    else:
        alphabet = max(len(set(value)), 2)
    return len(value) * math.log2(alphabet)


def observe(
    test: RpTest,
    honest: list[dict],
    every_login: list[list[dict]],
    app: AppProfile,
    app_urls: list[str] | None = None,
) -> Verdict:
    """The `observe` tests, from the honest login's log (and every login's, for freshness)."""
    level = test.level
    auths = authorization_requests(honest)
    if not auths:
        return Verdict(ERROR, "the honest login made no authorization request", level)
    auth = query(auths[0])
    tokens = [e for e in honest if is_token_request(e)]
    token_form = form(tokens[0]) if tokens else {}
    name = test.name
    if name == "sends-response-type-code":
        ok, actual = auth.get("response_type") == "code", auth.get("response_type")
        return _observed(ok, level, f"response_type={actual!r}")
    if name in ("sends-scope-openid", "sends-scope-all"):
        scope = auth.get("scope", "").split()
        wanted = "openid" if name == "sends-scope-openid" else "scope_all"
        return _observed(wanted in scope, level, f"scope={' '.join(scope)!r}")
    if name == "sends-acr-values-eidas1":
        values = auth.get("acr_values", "").split()
        return _observed(app.acr_values in values, level, f"acr_values={' '.join(values)!r}")
    if name in ("sends-fresh-state", "sends-fresh-nonce"):
        param = "state" if name == "sends-fresh-state" else "nonce"
        if param == "state":
            level = level_of(test, bool(auth.get("code_challenge")))
        values = [
            query(a).get(param, "")
            for login in every_login
            for a in authorization_requests(login)[:1]
        ]
        if not all(values):
            return _fail(level, f"a login was sent without {param}")
        if len(values) < 2:
            return Verdict(ERROR, f"one login only: freshness of {param} is not shown", level)
        if len(set(values)) != len(values):
            return _fail(level, f"{param} repeats across {len(values)} logins")
        weakest = min(entropy_bits(v) for v in values)
        if weakest < 128:
            return _fail(level, f"{param} holds about {weakest:.0f} bits, under 128")
        return Verdict(
            PASSED, f"{len(values)} logins, each {param} different, ≥ {weakest:.0f} bits", level
        )
    if name == "sends-pkce-s256":
        if app.auth_method == "none":
            level = MUST
        method, challenge = auth.get("code_challenge_method"), auth.get("code_challenge")
        if not challenge:
            return _fail(level, "no code_challenge: PKCE is not used")
        if method != "S256":
            return _fail(level, f"code_challenge_method={method!r}, not S256")
        if not token_form.get("code_verifier"):
            return _fail(level, "the token request has no code_verifier")
        return Verdict(PASSED, "S256 challenge, verifier sent to the token endpoint", level)
    if name == "sends-registered-redirect-uri":
        sent = auth.get("redirect_uri")
        if sent not in app.redirect_uris:
            return _fail(level, "the redirect_uri sent is not one registered exactly")
        if token_form.get("redirect_uri") != sent:
            return _fail(level, "the token request's redirect_uri differs from the one sent")
        return Verdict(PASSED, "registered exactly, and the same at the token endpoint", level)
    if name == "authenticates-as-registered":
        if not tokens:
            return Verdict(ERROR, "the honest login made no token request", level)
        header = tokens[0].get("headers", {}).get("authorization", "")
        used = [
            method
            for method, sent in (
                ("client_secret_basic", header.lower().startswith("basic ")),
                ("client_secret_post", "client_secret" in token_form),
                ("private_key_jwt", "client_assertion" in token_form),
            )
            if sent
        ] or ["none"]
        if len(used) > 1:
            return _fail(MUST, f"{' and '.join(used)} in one request")
        ok = used[0] == app.auth_method
        return _observed(ok, level if ok else SHOULD, f"{used[0]} (registered: {app.auth_method})")
    if name == "sends-no-token-in-urls":
        return _no_token_in_urls(honest, every_login, level, app_urls or [])
    if name == "userinfo-with-bearer-header":
        calls = [e for e in honest if is_userinfo(e)]
        if not calls:
            return Verdict(NOT_APPLICABLE, "the app does not call UserInfo", level)
        for call in calls:
            if not call.get("headers", {}).get("authorization", "").lower().startswith("bearer "):
                where = "query" if "access_token" in query(call) else "body"
                return _fail(level, f"UserInfo called without a Bearer header (token in {where})")
        return Verdict(PASSED, f"{len(calls)} UserInfo call(s), each with a Bearer header", level)
    raise ValueError(f"no observation for {name}")


def _observed(ok: bool, level: str, actual: str) -> Verdict:
    return Verdict(PASSED, actual, level) if ok else _fail(level, actual)


def _no_token_in_urls(
    honest: list[dict], every_login: list[list[dict]], level: str, app_urls: list[str]
) -> Verdict:
    issued: set[str] = set()
    logins = every_login or [honest]
    for login in logins:
        for e in login:
            if is_token_request(e):
                body = token_response(e)
                issued.update(
                    v for k in ("access_token", "id_token", "refresh_token") if (v := body.get(k))
                )
    for login in logins:
        for e in login:
            if e["path"].endswith(LOGOUT_PATH):
                continue  # id_token_hint travels in the logout URL by design (RP-Initiated Logout)
            names = set(query(e))
            if names & {"access_token", "id_token", "refresh_token"} or any(
                t in e.get("query", "") for t in issued
            ):
                return _fail(level, f"a token in the URL of {e['method']} {e['path']}")
    # The app's own pages, as the browser loaded them (a redirect to /home?access_token=...).
    for url in app_urls:
        names = set(dict(parse_qsl(urlsplit(url).query)))
        if names & {"access_token", "id_token", "refresh_token"} or any(t in url for t in issued):
            return _fail(level, f"a token in the URL of the app's page {urlsplit(url).path}")
    checked = sum(map(len, logins)) + len(app_urls)
    return Verdict(PASSED, f"no token in {checked} request and page URLs", level)
