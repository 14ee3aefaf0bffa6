"""Fuzz every endpoint of a running simulator: whatever the parameters, headers, cookies and
bodies, the answer is never a 5xx and the simulator's log never holds a traceback.

Hypothesis draws the requests from a fixed seed per endpoint (SEED) with no example database, so
every run draws the same choices and CI is reproducible (the simulator's own values, random, differ
from run to run; what the fuzz does with them does not). Each endpoint gets two kinds of request:
- wild: any method, parameters, Authorization, Cookie and Host headers, forms, JSON, garbage and
  non-UTF-8 bytes, mixed with values that once broke the simulator ("²", 5,000 digits, NaN);
- near-valid: a request that would succeed (a live code with its verifier and its client's
  right credentials, a live tx, access or refresh token, session cookie, auth_req_id), with
  zero to two of its parameters dropped, replaced, added or repeated, so the fuzz reaches past
  the first checks into the grants, the sessions and the token issuance.
Live values come from real logins before the fuzz, then from the simulator's own answers (each
code, tx, token, cookie and auth_req_id it hands out joins the pool). The simulator is this
module's own (conftest's own_simulator): its log is ours to read. `-s` shows the figures
(requests, seconds, statuses); junit.xml has them as the properties fuzz_requests, fuzz_seconds.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, Phase, given, reject, seed, settings
from hypothesis import strategies as st

from psc_testkit.simulator.process import SimulatorProcess
from tests.conftest import client_context
from tests.simulator.flows import (
    LOGGED_OUT_URI,
    REDIRECT_URI,
    SECRETS,
    TX,
    Sim,
    pkce_pair,
    query_of,
)

SEED = 20261201  # change it to draw other requests (and say so in the commit)
EXAMPLES = 150  # per kind (wild, near-valid) and endpoint: ~3,150 requests in all
CIBA = "urn:openid:params:grant-type:ciba"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM = b"application/x-www-form-urlencoded"
COOKIE = "KEYCLOAK_IDENTITY"
CLIENTS = [
    "psc-testkit-basic",
    "psc-testkit-post",
    "psc-testkit-jwt",
    "psc-testkit-mtls",
    "psc-testkit-public",
]
CIBA_CLIENTS = ["psc-testkit-basic", "psc-testkit-mtls"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
# Values that broke the simulator once, or that parsers commonly choke on.
JUNK = [
    "",
    " ",
    "²",
    "٣",
    "9" * 5000,
    "1" * 19,
    "-1",
    "0",
    "007",
    "NaN",
    "1e999",
    "null",
    "[]",
    "{}",
    "true",
    "%zz",
    "%ff",
    "\x00",
    "\r\n",
    "é€",
    "+/=&%\\é",
    '"',
    "'",
    "<script>",
    "a" * 43,
    "é" * 43,
    "x" * 3000,
    "openid",
    "openid scope_all",
    "scope_all",
    "eidas1",
    "none",
    "login",
    "consent",
    "code",
    "plain",
    "S256",
    "form_post",
    "fragment",
    "query",
    "CARD",
    "MOBILE",
    "cps",
    "ecps",
    "fr",
    "en-GB",
    "yes",
    "refresh_token",
    "access_token",
    "authorization_code",
    CIBA,
    REDIRECT_URI,
    LOGGED_OUT_URI,
    REDIRECT_URI + "/other",
    "https://evil.example/",
    "eyJhbGciOiJub25lIn0.e30.",
    "a.b.c",
]
# Query and body fragments that break urlencoded parsing.
RAW_PIECES = ["%ff", "%FE", "%zz", "%", "&", "=", "+", "&&", "==", "a=1", "a=2", "%00", "é", ";"]
# Claim values for client assertions: pyjwt and the simulator must refuse each, not crash.
CLAIM_JUNK: list[object] = [
    None,
    True,
    1.5,
    -1,
    10**400,
    float("nan"),
    float("inf"),
    "soon",
    [],
    {},
    ["psc-testkit-jwt"],
    {"a": 1},
    "psc-testkit-jwt",
    "x" * 300,
]
HOSTS = ["[", "a b", "127.0.0.1:99999", "", "é.example", "[::1", "evil.example"]
VERIFIERS = [pkce_pair() for _ in range(4)]
CODE_IN_FORM = re.compile(r'name="code" value="([^"]*)"')


# The pool of live values -----------------------------------------------------------------------


@dataclass
class Pool:
    """Live values, each with the client it belongs to; the fuzz adds what the simulator issues."""

    users: list[str] = field(default_factory=list)
    codes: list[tuple[str, str, str]] = field(default_factory=list)  # client, code, verifier
    access_tokens: list[tuple[str, str]] = field(default_factory=list)
    refresh_tokens: list[tuple[str, str]] = field(default_factory=list)
    id_tokens: list[tuple[str, str]] = field(default_factory=list)
    auth_req_ids: list[tuple[str, str]] = field(default_factory=list)
    txs: list[str] = field(default_factory=list)
    sids: list[str] = field(default_factory=list)
    # What a tx's authorization request was (client, verifier), to use the code it ends in.
    tx_notes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def strings(self) -> list[str]:
        pairs = self.access_tokens + self.refresh_tokens + self.id_tokens + self.auth_req_ids
        return [
            *self.users,
            *self.txs,
            *self.sids,
            *(code for _, code, _ in self.codes),
            *(value for _, value in pairs),
        ]

    def harvest(self, req: Req, response: httpx.Response) -> None:
        """Keep what the simulator handed out, with the client it handed it to."""
        client, verifier = req.note or ("", "")
        self.sids += [sid for sid in response.cookies.values() if sid]
        if (location := response.headers.get("location")) is not None:
            parts = urlsplit(location)
            answer = dict(parse_qsl(parts.query or parts.fragment))
            if "code" in answer and client:
                self.codes.append((client, answer["code"], verifier))
            if parts.path == "/auth/ecps" and "tx" in answer:
                self.txs.append(answer["tx"])
                self.tx_notes[answer["tx"]] = (client, verifier)
        if not response.headers.get("content-type", "").startswith(("text/html", "application/j")):
            return
        text = response.text
        if (found := TX.search(text)) is not None:
            tx = unescape(found.group(1))
            self.txs.append(tx)
            if client:
                self.tx_notes[tx] = (client, verifier)
        if (found := CODE_IN_FORM.search(text)) is not None and client:
            self.codes.append((client, unescape(found.group(1)), verifier))
        if response.status_code == 200 and text.startswith("{") and client:
            body = response.json()
            for key, kind in (
                ("access_token", self.access_tokens),
                ("refresh_token", self.refresh_tokens),
                ("id_token", self.id_tokens),
                ("auth_req_id", self.auth_req_ids),
            ):
                if isinstance(body.get(key), str):
                    kind.append((client, body[key]))


def build_pool(sim: Sim, mtls: httpx.Client) -> Pool:
    pool = Pool(users=sim.users(30, offset=5000))
    for i, client_id in enumerate(CLIENTS * 2):
        sim.http.cookies.clear()
        result = sim.code(client_id, id_nat=pool.users[i])
        pool.sids.append(sim.http.cookies[COOKIE])
        if i % 2:
            pool.codes.append((client_id, result.code, result.verifier))
            continue
        http = mtls if client_id == "psc-testkit-mtls" else None
        tokens = sim.token(result, http=http).json()
        pool.access_tokens.append((client_id, tokens["access_token"]))
        pool.refresh_tokens.append((client_id, tokens["refresh_token"]))
        pool.id_tokens.append((client_id, tokens["id_token"]))
    for i in range(6):  # login pages left open, and e-CPS logins left pending
        sim.http.cookies.clear()
        params = sim.params()
        page = sim.authorize(params)
        tx = unescape(TX.search(page.text).group(1))
        pool.txs.append(tx)
        pool.tx_notes[tx] = ("psc-testkit-basic", params["_verifier"])
        if i % 2:
            pending = sim.login(page, pool.users[10 + i], method="ecps")
            pool.txs.append(query_of(pending.headers["location"])["tx"])
    for i in range(4):
        started = sim.back(
            "backchannel_authentication_endpoint",
            {"scope": "openid", "login_hint": pool.users[20 + i]},
        )
        pool.auth_req_ids.append(("psc-testkit-basic", started.json()["auth_req_id"]))
    sim.http.cookies.clear()
    return pool


def live(values: list) -> st.SearchStrategy:
    """One of a list that grows while the fuzz runs, the latest ones most often (the older
    codes are spent, the older refresh tokens rotated)."""
    return st.integers(0, 40).map(lambda i: values[-1 - (i * i // 40) % len(values)])


# Requests ----------------------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    url: str
    headers: dict[bytes, bytes]
    content: bytes | None = None
    mtls: bool = False
    note: tuple[str, str] | None = None  # (client, verifier) of what it may be given

    def describe(self) -> str:
        body = (self.content or b"")[:300]
        return f"{self.method} {self.url[:300]} headers={self.headers!r} body={body!r}"


class Fuzzer:
    """Sends generated requests, counts them, fails on the first 5xx or broken exchange."""

    def __init__(self, process: SimulatorProcess, pool: Pool) -> None:
        self.pool = pool
        self.plain = httpx.Client(verify=client_context(process), timeout=10)
        mtls = client_context(process, cert_for="psc-testkit-mtls")
        self.mtls = httpx.Client(verify=mtls, timeout=10)
        self.sent = 0
        self.statuses: Counter[int] = Counter()

    def send(self, req: Req) -> None:
        http = self.mtls if req.mtls else self.plain
        http.cookies.clear()  # only the generated Cookie header counts
        try:
            response = http.request(req.method, req.url, headers=req.headers, content=req.content)
        except httpx.LocalProtocolError:
            reject()  # what httpx refuses to send never reaches the simulator
        except httpx.TransportError as exc:
            self.sent += 1
            raise AssertionError(f"{type(exc).__name__} {exc}: {req.describe()}") from None
        self.sent += 1
        self.statuses[response.status_code] += 1
        assert response.status_code < 500, f"{response.status_code}: {req.describe()}"
        self.pool.harvest(req, response)

    def close(self) -> None:
        self.plain.close()
        self.mtls.close()


def clean(headers: dict[bytes, bytes]) -> dict[bytes, bytes]:
    return {k: v.strip(b" \t") for k, v in headers.items()}  # h11 refuses edge whitespace


def mostly(*methods: str) -> st.SearchStrategy[str]:
    """The endpoint's own methods, and now and then another one."""
    return st.one_of(*(st.just(m) for m in methods for _ in range(6)), st.sampled_from(METHODS))


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
header_bytes = st.binary(max_size=60).map(
    lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F).strip()
)


def values(pool: Pool) -> st.SearchStrategy[str]:
    strings = pool.strings() + CLIENTS
    return st.one_of(st.sampled_from(JUNK), st.sampled_from(strings), text)


RAW = st.lists(st.sampled_from(RAW_PIECES), min_size=1, max_size=6).map("".join)
CONTENT_TYPES = st.sampled_from(
    [
        FORM,
        FORM + b"; charset=utf-8",
        b"application/json",
        b"text/plain",
        b"",
        b"\xff/\xfe",
        b"multipart/form-data; boundary=x",
        None,
    ]
)


def encoded(draw: st.DrawFn, pairs: list[tuple[str, str]]) -> str:
    """urlencoded text: proper, or with fragments that break the parser."""
    how = draw(st.sampled_from(["proper", "proper", "proper", "spoiled", "raw"]))
    if how == "proper":
        return urlencode(pairs)
    raw = draw(RAW)
    return urlencode(pairs) + "&" + raw if how == "spoiled" else raw


def body(draw: st.DrawFn, pairs: list[tuple[str, str]]) -> tuple[bytes, bytes | None]:
    """(content, Content-Type): forms, JSON, garbage bytes, non-UTF-8 forms, wrong types."""
    kind = draw(st.sampled_from(["form", "form", "json", "bytes", "not utf-8", "any type"]))
    if kind == "form":
        return encoded(draw, pairs).encode(), FORM
    if kind == "not utf-8":
        return urlencode(pairs).encode() + b"&x=\xff\xfe", FORM
    content_type = draw(CONTENT_TYPES)
    if kind == "json":
        return json.dumps(dict(pairs)).encode(), content_type
    if kind == "bytes":
        return draw(st.binary(max_size=300)), content_type
    return encoded(draw, pairs).encode(), content_type


def cookies(pool: Pool) -> st.SearchStrategy[bytes | None]:
    sid = live(pool.sids)
    return st.one_of(
        st.none(),
        st.none(),
        sid.map(lambda s: f"{COOKIE}={s}".encode()),
        sid.map(lambda s: f'{COOKIE}="{s}"; other=1'.encode()),
        header_bytes.map(lambda b: COOKIE.encode() + b"=" + b),
        header_bytes,
        st.just(b'KEYCLOAK_IDENTITY="\\\xe9;; =;'),
    )


def basic(client_id: str, secret: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{client_id}:{secret}".encode())


def authorization(pool: Pool) -> st.SearchStrategy[bytes | None]:
    tokens = pool.access_tokens + pool.id_tokens + pool.refresh_tokens
    token = st.one_of(live(tokens).map(lambda t: t[1]), st.sampled_from(JUNK))
    return st.one_of(
        st.none(),
        st.sampled_from(list(SECRETS.items())).map(lambda kv: basic(*kv)),
        st.tuples(st.sampled_from([*CLIENTS, "nobody", ""]), values(pool)).map(lambda t: basic(*t)),
        st.binary(max_size=40).map(lambda b: b"Basic " + base64.b64encode(b)),
        st.sampled_from([b"Basic", b"Basic !!!", b"basic  eA==", b"Basic \xff\xfe", b"Bearer"]),
        token.map(lambda t: b"Bearer " + t.encode("utf-8", "replace")[:5000]),
        header_bytes,
    )


@dataclass
class Signer:
    """Signs client assertions for psc-testkit-jwt with its key, or with the wrong kind."""

    rsa_key: rsa.RSAPrivateKey  # loaded once: parsing the PEM checks the key, ~25 ms a time
    ec_key: ec.EllipticCurvePrivateKey
    audience: str

    def assertion(self, alg: str, claims: dict) -> str:
        # json.dumps writes NaN, Infinity and 400-digit integers as they are: the point.
        payload = json.dumps(claims).encode()
        keys: dict[str, object] = {"ES256": self.ec_key, "HS256": "x" * 32, "none": None}
        return jwt.api_jws.encode(payload, keys.get(alg, self.rsa_key), algorithm=alg)  # type: ignore[arg-type]

    def good(self) -> str:
        now = int(time.time())
        claims = {
            "iss": "psc-testkit-jwt",
            "sub": "psc-testkit-jwt",
            "aud": self.audience,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + 300,
        }
        return self.assertion("RS256", claims)


def assertions(signer: Signer) -> st.SearchStrategy[str]:
    """Mostly well-formed assertions with one claim or the algorithm wrong, some garbage."""
    missing = object()

    def claim(good: object) -> st.SearchStrategy[object]:
        odd = st.one_of(st.sampled_from(CLAIM_JUNK), st.just(missing))
        return st.one_of(st.just(good), st.just(good), st.just(good), odd)

    now = int(time.time())
    claims = st.fixed_dictionaries(
        {
            "iss": claim("psc-testkit-jwt"),
            "sub": claim("psc-testkit-jwt"),
            "aud": claim(signer.audience),
            "jti": st.one_of(st.builds(lambda: str(uuid.uuid4())), st.sampled_from(CLAIM_JUNK)),
            "exp": claim(now + 300),
            "iat": claim(now),
            "nbf": claim(now - 10),
        }
    ).map(lambda c: {k: v for k, v in c.items() if v is not missing})
    alg = st.sampled_from(["RS256", "RS256", "PS256", "ES256", "ES256", "HS256", "none", "RS512"])
    signed = st.builds(signer.assertion, alg, claims)
    return st.one_of(signed, signed, signed, st.sampled_from(JUNK), text)


Auth = tuple[dict[bytes, bytes], dict[str, str], bool]  # headers, form members, over mTLS
NO_AUTH: Auth = ({}, {}, False)


def any_auth(pool: Pool, signer: Signer) -> st.SearchStrategy[Auth]:
    """One way of authenticating a client, right or wrong, or several at once."""
    client = st.sampled_from([*CLIENTS, "nobody"])
    secret = st.one_of(st.sampled_from(list(SECRETS.values())), values(pool))
    assertion_type = st.sampled_from([ASSERTION_TYPE, ASSERTION_TYPE, "", "urn:x"])
    both = ({b"Authorization": basic(*next(iter(SECRETS.items())))}, dict(SECRETS), False)
    return st.one_of(
        st.just(NO_AUTH),
        authorization(pool).map(lambda h: ({b"Authorization": h} if h else {}, {}, False)),
        st.tuples(client, secret).map(
            lambda t: ({}, {"client_id": t[0], "client_secret": t[1]}, False)
        ),
        st.tuples(assertion_type, assertions(signer)).map(
            lambda t: ({}, {"client_assertion_type": t[0], "client_assertion": t[1]}, False)
        ),
        st.tuples(client, st.booleans()).map(lambda t: ({}, {"client_id": t[0]}, t[1])),
        st.just(both),
    )


def right_auth(client_id: str, signer: Signer) -> Auth:
    """The credentials the client is registered with."""
    if client_id == "psc-testkit-basic":
        return {b"Authorization": basic(client_id, SECRETS[client_id])}, {}, False
    if client_id == "psc-testkit-post":
        return {}, {"client_id": client_id, "client_secret": SECRETS[client_id]}, False
    if client_id == "psc-testkit-jwt":
        return (
            {},
            {"client_assertion_type": ASSERTION_TYPE, "client_assertion": signer.good()},
            False,
        )
    return {}, {"client_id": client_id}, client_id == "psc-testkit-mtls"


def wild(
    method: st.SearchStrategy[str],
    url: str,
    pool: Pool,
    keys: list[str],
    auth: st.SearchStrategy[Auth] | None = None,
) -> st.SearchStrategy[Req]:
    """Anything: parameters named like the endpoint's with generated values, in the query (GET)
    or any kind of body, with generated Authorization, Cookie and sometimes Host headers."""
    key = st.one_of(st.sampled_from([*keys, "foo", "", "é"]), text)
    pairs = st.lists(st.tuples(key, values(pool)), max_size=6)
    credentials = auth if auth is not None else st.just(NO_AUTH)
    cookie = cookies(pool)
    host = st.one_of(st.none(), st.none(), st.none(), st.none(), st.sampled_from(HOSTS))

    @st.composite
    def build(draw: st.DrawFn) -> Req:
        m, drawn = draw(method), draw(pairs)  # one set of parameters, for query and body
        headers, members, mtls = draw(credentials)
        headers = dict(headers)
        if (value := draw(cookie)) is not None:
            headers[b"Cookie"] = value
        if (value := draw(host)) is not None:
            headers[b"Host"] = value.encode()
        query = encoded(draw, drawn)
        if m in ("GET", "HEAD"):
            return Req(m, f"{url}?{query}", clean(headers), None, mtls)
        content, content_type = body(draw, drawn)
        if members and content_type is not None and content_type.startswith(FORM):
            content = urlencode(members).encode() + (b"&" + content if content else b"")
        if content_type is not None:
            headers[b"Content-Type"] = content_type
        target = f"{url}?{query}" if draw(st.integers(0, 7)) == 0 else url
        return Req(m, target, clean(headers), content, mtls)

    return build()


Base = tuple[dict[str, str], Auth, tuple[str, str] | None]  # params, credentials, note


def near(
    method: st.SearchStrategy[str],
    url: str,
    pool: Pool,
    bases: st.SearchStrategy[Base],
    cookie: bool = False,
    signer: Signer | None = None,
) -> st.SearchStrategy[Req]:
    """A request that would succeed, with zero to two parameters dropped, replaced, added or
    repeated; a proper form (or query) with the right credentials, whose client assertion
    (with `signer`) is now and then swapped for a wrong one."""

    # Made once: a strategy made at draw time would see the pool grow. Junk twice as often.
    value = st.one_of(st.sampled_from(JUNK), values(pool))
    sid = live(pool.sids)
    wrong_assertion = assertions(signer) if signer is not None else st.just("")

    @st.composite
    def build(draw: st.DrawFn) -> Req:
        params, (headers, members, mtls), note = draw(bases)
        # Drawn whether or not this base has an assertion: draws must not depend on the pool.
        swap = draw(st.integers(0, 2)) == 0 and (other := draw(wrong_assertion))
        if swap and "client_assertion" in members:
            members = {**members, "client_assertion": other}
        pairs = list({**members, **params}.items())
        # Every mutation draws the same things whatever the base (Hypothesis replays choice
        # sequences, and the base depends on the pool, which grows).
        for _ in range(draw(st.integers(0, 2))):
            op = draw(st.sampled_from(["drop", "replace", "replace", "add", "repeat"]))
            index = draw(st.integers(0, 15))
            key, new = draw(st.sampled_from([*KEYS_TO_ADD, "foo"])), draw(value)
            if op == "add" or not pairs:
                pairs.append((key, new))
                continue
            i = index % len(pairs)
            if op == "drop":
                del pairs[i]
            elif op == "replace":
                pairs[i] = (pairs[i][0], new)
            else:
                pairs.append(pairs[i])
        headers = dict(headers)
        if cookie and draw(st.booleans()):
            headers[b"Cookie"] = f"{COOKIE}={draw(sid)}".encode()
        m = draw(method)
        if m in ("GET", "HEAD"):
            return Req(m, f"{url}?{urlencode(pairs)}", clean(headers), None, mtls, note)
        headers[b"Content-Type"] = FORM
        return Req(m, url, clean(headers), urlencode(pairs).encode(), mtls, note)

    return build()


# Near-valid bases, endpoint by endpoint --------------------------------------------------------


def authorize_bases(pool: Pool) -> st.SearchStrategy[Base]:
    def base(client_id: str, pkce: tuple[str, str], plain: bool, mode: str, extra: dict) -> Base:
        verifier, challenge = pkce
        if plain:
            challenge = verifier
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid scope_all",
            "state": "s-" + verifier[:6],
            "nonce": "n-" + verifier[6:12],
            "code_challenge": challenge,
            "code_challenge_method": "plain" if plain else "S256",
            "acr_values": "eidas1",
            "response_mode": mode,
            **extra,
        }
        return params, NO_AUTH, (client_id, verifier)

    extra = st.fixed_dictionaries(
        {},
        optional={
            "prompt": st.sampled_from(["none", "login", "consent", "select_account"]),
            "max_age": st.sampled_from(["0", "1", "3600", "²"]),
            "login_hint": live(pool.users),
            "id_token_hint": live(pool.id_tokens).map(lambda t: t[1]),
            "ui_locales": st.sampled_from(["en", "fr-FR", "de en", "é"]),
        },
    )
    return st.builds(
        base,
        st.sampled_from(CLIENTS),
        st.sampled_from(VERIFIERS),
        st.integers(0, 3).map(lambda n: n == 0),
        st.sampled_from(["query", "query", "fragment", "form_post"]),
        extra,
    )


def login_bases(pool: Pool) -> st.SearchStrategy[Base]:
    def base(tx: str, method: str, user: str) -> Base:
        return {"tx": tx, "method": method, "idNat": user}, NO_AUTH, pool.tx_notes.get(tx)

    return st.builds(base, live(pool.txs), st.sampled_from(["cps", "ecps"]), live(pool.users))


def ecps_bases(pool: Pool) -> st.SearchStrategy[Base]:
    return live(pool.txs).map(lambda tx: ({"tx": tx}, NO_AUTH, pool.tx_notes.get(tx)))


def code_bases(pool: Pool, signer: Signer) -> st.SearchStrategy[Base]:
    def base(entry: tuple[str, str, str], wrong: str | None) -> Base:
        client, code, verifier = entry
        params = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier if wrong is None else wrong,
        }
        return params, right_auth(client, signer), (client, verifier)

    # A quarter of the exchanges send a wrong verifier: non-ASCII, too short, too long...
    wrong = st.one_of(st.none(), st.none(), st.none(), st.sampled_from(JUNK), text)
    return st.builds(base, live(pool.codes), wrong)


def refresh_bases(pool: Pool, signer: Signer) -> st.SearchStrategy[Base]:
    def base(entry: tuple[str, str], scope: str | None) -> Base:
        client, token = entry
        params = {"grant_type": "refresh_token", "refresh_token": token}
        if scope:
            params["scope"] = scope
        return params, right_auth(client, signer), (client, "")

    scope = st.sampled_from([None, None, "openid", "openid scope_all email"])
    return st.builds(base, live(pool.refresh_tokens), scope)


def ciba_poll_bases(pool: Pool, signer: Signer) -> st.SearchStrategy[Base]:
    def base(entry: tuple[str, str]) -> Base:
        client, auth_req_id = entry
        params = {"grant_type": CIBA, "auth_req_id": auth_req_id}
        return params, right_auth(client, signer), (client, "")

    return live(pool.auth_req_ids).map(base)


def ciba_bases(pool: Pool, signer: Signer) -> st.SearchStrategy[Base]:
    def base(client: str, user: str, channel: str, expiry: str) -> Base:
        params = {
            "scope": "openid scope_all",
            "login_hint": user,
            "binding_message": "42",
            "channel": channel,
            "requested_expiry": expiry,
        }
        return params, right_auth(client, signer), (client, "")

    return st.builds(
        base,
        st.sampled_from(CIBA_CLIENTS),
        live(pool.users),
        st.sampled_from(["CARD", "MOBILE"]),
        st.sampled_from(["60", "120", "1", "60", "120", "1", "0", "²", "9" * 5000, "-1", ""]),
    )


def token_use_bases(pool: Pool, signer: Signer) -> st.SearchStrategy[Base]:
    """Introspection and revocation: a live token of any kind, by its own client or another."""

    def base(entry: tuple[str, str], hint: str | None, by: str) -> Base:
        params = {"token": entry[1]}
        if hint:
            params["token_type_hint"] = hint
        return params, right_auth(by, signer), None

    tokens = st.one_of(live(pool.access_tokens), live(pool.refresh_tokens), live(pool.id_tokens))
    hint = st.sampled_from([None, "access_token", "refresh_token", "x"])
    return st.builds(base, tokens, hint, st.sampled_from(CLIENTS))


def assertion_requests(pool: Pool, signer: Signer, meta: dict) -> st.SearchStrategy[Req]:
    """A refresh or an introspection by psc-testkit-jwt, as is but for a wrong assertion:
    another algorithm (ES256, HS256, none against its RSA key), or a claim absurd or missing."""

    def build(assertion: str, token: tuple[str, str], refresh: bool) -> Req:
        form = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}
        if refresh:
            url = meta["token_endpoint"]
            form.update(grant_type="refresh_token", refresh_token=token[1])
        else:
            url, form["token"] = meta["introspection_endpoint"], token[1]
        headers = {b"Content-Type": FORM}
        return Req("POST", url, headers, urlencode(form).encode(), note=("psc-testkit-jwt", ""))

    return st.builds(build, assertions(signer), live(pool.refresh_tokens), st.booleans())


def userinfo_bases(pool: Pool) -> st.SearchStrategy[Base]:
    def base(entry: tuple[str, str], in_body: bool) -> Base:
        client, token = entry
        mtls = client == "psc-testkit-mtls"
        if in_body:
            return {"access_token": token}, ({}, {}, mtls), None
        return {}, ({b"Authorization": f"Bearer {token}".encode()}, {}, mtls), None

    return st.builds(base, live(pool.access_tokens), st.booleans())


def logout_bases(pool: Pool) -> st.SearchStrategy[Base]:
    def base(entry: tuple[str, str], with_client: bool, confirm: bool) -> Base:
        client, id_token = entry
        params = {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": LOGGED_OUT_URI,
            "state": "s",
        }
        if with_client:
            params["client_id"] = client
        if confirm:
            params["confirm"] = "yes"
        return params, NO_AUTH, None

    return st.builds(base, live(pool.id_tokens), st.booleans(), st.booleans())


def control_bodies(pool: Pool) -> st.SearchStrategy[tuple[str, bytes]]:
    """(path, JSON body) for the clock and the phone: NaN, infinities, huge integers, wrong
    types; the clock only ever moves by less than a second, so the live values stay alive."""
    json_junk = st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)
        ),
        max_leaves=6,
    )
    advance = st.one_of(
        st.floats(0, 0.5).map(str),
        st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "9" * 400, "9" * 5000, "-1"]),
        st.sampled_from(["true", "null", '"5"', "[]", "{}", "1e300", "3155760001"]),
    )
    clock = advance.map(lambda a: b'{"advance": ' + a.encode() + b"}")
    phone = st.fixed_dictionaries(
        {},
        optional={
            "login_hint": st.one_of(live(pool.users), json_junk),
            "decision": st.one_of(st.sampled_from(["approve", "deny", "ignore"]), json_junk),
        },
    ).map(lambda d: json.dumps(d).encode())
    garbage = st.one_of(st.binary(max_size=100), json_junk.map(lambda j: json.dumps(j).encode()))
    return st.one_of(
        st.tuples(st.just("/_simulator/clock"), clock),
        st.tuples(st.just("/_simulator/clock"), garbage),
        st.tuples(st.just("/_simulator/phone"), phone),
        st.tuples(st.just("/_simulator/phone"), garbage),
    )


# The test ---------------------------------------------------------------------------------------

AUTHORIZE_KEYS = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "acr_values",
    "ui_locales",
    "request",
    "request_uri",
]
TOKEN_KEYS = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "auth_req_id",
    "client_id",
]
CIBA_KEYS = [
    "scope",
    "login_hint",
    "id_token_hint",
    "login_hint_token",
    "binding_message",
    "channel",
    "requested_expiry",
    "acr_values",
    "client_id",
]
LOGOUT_KEYS = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales"]
OTHER_KEYS = ["tx", "method", "idNat", "token", "token_type_hint", "access_token", "confirm"]
# What a near-valid request may gain: any endpoint's parameter (one endpoint's in another's
# request is a classic confusion).
KEYS_TO_ADD = sorted({*AUTHORIZE_KEYS, *TOKEN_KEYS, *CIBA_KEYS, *LOGOUT_KEYS, *OTHER_KEYS})


def endpoints(process: SimulatorProcess, meta: dict, pool: Pool, signer: Signer) -> list:
    """(name, wild requests, near-valid requests or None), in the order they are fuzzed: what
    spends live values (logout, revocation) comes late, the control API last."""
    wallet = process.wallet.rsplit("/auth", 1)[0]
    origin, issuer = process.origin, process.issuer
    auth = any_auth(pool, signer)
    post = mostly("POST")
    bearer = authorization(pool).map(lambda h: ({b"Authorization": h} if h else {}, {}, False))
    metadata = [
        issuer + "/.well-known/wallet-openid-configuration",
        issuer + "/.well-known/openid-configuration",
        meta["jwks_uri"],
        issuer + "/.well-known/%ff",
        issuer + "/protocol/openid-connect/%zz/../certs",
        origin + "/%C0%AE%C0%AE/etc/passwd",
    ]
    control = st.one_of(
        wild(mostly("GET"), origin + "/_simulator/users", pool, ["offset", "limit"]),
        st.builds(
            lambda m, b: Req(m, origin + b[0], {b"Content-Type": b"application/json"}, b[1]),
            post,
            control_bodies(pool),
        ),
        st.builds(lambda m: Req(m, origin + "/_simulator/defects", {}), st.sampled_from(METHODS)),
    )
    return [
        (
            "discovery, JWKS",
            st.one_of(*(wild(mostly("GET"), u, pool, ["x"]) for u in metadata)),
            None,
        ),
        (
            "authorization",
            wild(mostly("GET", "POST"), meta["authorization_endpoint"], pool, AUTHORIZE_KEYS),
            near(
                mostly("GET", "POST"),
                meta["authorization_endpoint"],
                pool,
                authorize_bases(pool),
                cookie=True,
            ),
        ),
        (
            "login page",
            wild(post, wallet + "/auth/login", pool, ["tx", "method", "idNat"]),
            near(post, wallet + "/auth/login", pool, login_bases(pool)),
        ),
        (
            "e-CPS pages",
            st.one_of(
                wild(mostly("GET"), wallet + "/auth/ecps", pool, ["tx"]),
                wild(mostly("GET"), wallet + "/auth/ecps/status", pool, ["tx"]),
            ),
            st.one_of(
                near(mostly("GET"), wallet + "/auth/ecps", pool, ecps_bases(pool)),
                near(mostly("GET"), wallet + "/auth/ecps/status", pool, ecps_bases(pool)),
            ),
        ),
        (
            "CIBA",
            wild(post, meta["backchannel_authentication_endpoint"], pool, CIBA_KEYS, auth),
            near(
                post,
                meta["backchannel_authentication_endpoint"],
                pool,
                ciba_bases(pool, signer),
                signer=signer,
            ),
        ),
        (
            "client assertions",
            assertion_requests(pool, signer, meta),
            None,
        ),
        (
            "token",
            wild(post, meta["token_endpoint"], pool, TOKEN_KEYS, auth),
            near(
                post,
                meta["token_endpoint"],
                pool,
                st.one_of(
                    code_bases(pool, signer),
                    refresh_bases(pool, signer),
                    ciba_poll_bases(pool, signer),
                ),
                signer=signer,
            ),
        ),
        (
            "userinfo",
            wild(mostly("GET", "POST"), meta["userinfo_endpoint"], pool, ["access_token"], bearer),
            near(mostly("GET", "POST"), meta["userinfo_endpoint"], pool, userinfo_bases(pool)),
        ),
        (
            "introspection",
            wild(post, meta["introspection_endpoint"], pool, ["token", "token_type_hint"], auth),
            near(
                post,
                meta["introspection_endpoint"],
                pool,
                token_use_bases(pool, signer),
                signer=signer,
            ),
        ),
        (
            "revocation",
            wild(post, meta["revocation_endpoint"], pool, ["token", "token_type_hint"], auth),
            near(
                post,
                meta["revocation_endpoint"],
                pool,
                token_use_bases(pool, signer),
                signer=signer,
            ),
        ),
        (
            "logout",
            wild(mostly("GET", "POST"), meta["end_session_endpoint"], pool, LOGOUT_KEYS),
            near(
                mostly("GET", "POST"),
                meta["end_session_endpoint"],
                pool,
                logout_bases(pool),
                cookie=True,
            ),
        ),
        ("control API", control, None),
    ]


def run(strategy: st.SearchStrategy[Req], fuzzer: Fuzzer, number: int) -> None:
    """EXAMPLES requests drawn from `strategy`, the same ones on every run: a fixed seed per
    strategy (derandomize=True would give every strategy the same seed, as they share this
    function's code, and endpoints of the same shape the same requests) and no database."""

    @seed(SEED + number)
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def fuzz(req: Req) -> None:
        fuzzer.send(req)

    fuzz()


def test_no_request_makes_the_simulator_answer_5xx_or_log_a_traceback(
    own_simulator: SimulatorProcess, record_property: Callable[[str, object], None]
) -> None:
    process = own_simulator
    assert process.child is not None
    log_before = len(process.child.stderr())
    mtls_context = client_context(process, cert_for="psc-testkit-mtls")
    with (
        httpx.Client(verify=client_context(process), timeout=10) as http,
        httpx.Client(verify=mtls_context, timeout=10) as mtls,
    ):
        sim = Sim(process, http)
        meta = sim.meta
        pool = build_pool(sim, mtls)
    pem = (process.state_dir / "psc-testkit-jwt.key.pem").read_bytes()
    rsa_key = serialization.load_pem_private_key(pem, None)
    assert isinstance(rsa_key, rsa.RSAPrivateKey)
    signer = Signer(
        rsa_key,
        ec.generate_private_key(ec.SECP256R1()),
        process.issuer,
    )
    fuzzer = Fuzzer(process, pool)
    started = time.monotonic()
    sent: dict[str, int] = {}
    try:
        for number, (name, any_request, near_valid) in enumerate(
            endpoints(process, meta, pool, signer)
        ):
            before = fuzzer.sent
            run(any_request, fuzzer, 2 * number)
            if near_valid is not None:
                run(near_valid, fuzzer, 2 * number + 1)
            sent[name] = fuzzer.sent - before
        # What changes the whole simulator, a handful of times, last.
        for junk in (b"", b"{", b"\xff"):
            fuzzer.send(Req("POST", process.origin + "/_simulator/rotate-keys", {}, junk))
        fuzzer.send(Req("GET", process.origin + "/_simulator/issued", {}))
    finally:
        fuzzer.close()
    elapsed = time.monotonic() - started
    summary = ", ".join(f"{name} {n}" for name, n in sent.items())
    statuses = dict(sorted(fuzzer.statuses.items()))
    print(f"\nfuzz: {fuzzer.sent} requests in {elapsed:.1f} s ({summary}); statuses {statuses}")
    record_property("fuzz_requests", fuzzer.sent)
    record_property("fuzz_seconds", round(elapsed, 1))

    # Still serving, and still right: a whole login after the fuzz.
    assert process.process is not None and process.process.poll() is None
    with httpx.Client(verify=client_context(process), timeout=10) as http:
        after = Sim(process, http)
        tokens = after.tokens()
        assert after.userinfo(tokens["access_token"]).status_code == 200
    log = process.child.stderr()[log_before:]
    assert "Traceback" not in log and "ERROR" not in log, log[-4000:]
    assert fuzzer.sent >= 2000
    # The near-valid requests did reach the grants: logins, codes and tokens were issued.
    assert fuzzer.statuses[200] > 300 and fuzzer.statuses[302] > 50, statuses
