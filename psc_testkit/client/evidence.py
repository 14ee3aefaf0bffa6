"""Evidence: every HTTP exchange recorded, redacted, and replayable with `curl`.

Redaction works two ways, and a report shows nothing either way catches:

- **By value.** Whatever is secret or personal (client secrets and assertions, codes, tokens,
  cookies, the professional's identifiers and names) is learnt as it passes through the
  recorder, and replaced everywhere by a short keyed hash, `«secret:1a2b3c4d»`, in every form
  an exchange can carry it: raw, percent-encoded (as forms, URLs and httpx encode it, either
  hex case, twice over), JSON- and repr-escaped, HTML-escaped, and inside a Basic credential.
  The same value gets the same hash within a run, so a report still shows that two exchanges
  carried the same token without showing the token. The hash is keyed per run: an unkeyed hash
  of a weak password could be confirmed offline against a dictionary.
- **By name, whatever the value.** Parameters and JSON members named like secrets (`password`,
  `client_secret`, `code`, `*_token`...), the credentials of `Authorization`, `Cookie` values and
  `Set-Cookie` values (never their attributes, which stay readable) are hidden where they
  appear, even when too short to be learnt, never seen by the recorder, or cut off.
"""

from __future__ import annotations

import ast
import base64
import binascii
import hashlib
import hmac
import html
import json
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

import httpx

from psc_testkit.client import jsonsafe, tokens

# Parameters, JSON members and headers whose values are secret. Any name ending in `_token` is
# one too (logout_token, subject_token...): see is_secret_name.
SECRET_KEYS = {
    "client_secret",
    "client_assertion",
    "code",
    "code_verifier",
    "access_token",
    "refresh_token",
    "id_token",
    "id_token_hint",
    "token",
    "auth_req_id",
    "assertion",
    "password",
    "tx",
    "session_state",
    "sid",
    "jti",
    "at_hash",
    "state",
    "nonce",
    "code_challenge",
}
# Personal data of the health professional (fact sheet §3), and OpenID Connect's standard
# claims about a person (Core §5.1): never in a report.
PERSONAL_KEYS = {
    "middle_name",
    "nickname",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "phone_number",
    "address",
    "formatted",
    "street_address",
    "sub",
    "SubjectNameID",
    "preferred_username",
    "given_name",
    "family_name",
    "name",
    "nomDexercice",
    "prenomDexercice",
    "identifiant",
    "username",
    "login_hint",
    "idNat",
    "email",
    "SubjectOrganization",
    "raisonSocialeSite",
    "complementDestinataire",
    "numeroVoie",
    "libelleVoie",
    "telephone",
    "telephone2",
    "adresseEMail",
}
SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization"}
# What follows a cookie in Set-Cookie: readable, and never a secret (RFC 6265 §4.1.1, plus
# the attributes browsers added since).
COOKIE_ATTRIBUTES = {
    "path",
    "domain",
    "expires",
    "max-age",
    "samesite",
    "httponly",
    "secure",
    "priority",
    "partitioned",
    "version",
    "comment",
}
# Anything shaped like a JWT (or a JWE, five parts), even cut short by a repr, is a token.
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,4}")
PLACEHOLDER = re.compile(r"«(?:secret|personal|jwt):[0-9a-f]{8}»")
SHELL_VARIABLE = re.compile(r"\$\{[A-Z][A-Z0-9_]*\}")
MIN_LENGTH = 4  # shorter values ("L", "10", "")  are codes, not secrets, and would over-match
MAX_BODY_SHOWN = 4000
# What a recorder keeps of each body: whole up to KEPT_BODY, and once KEPT_TOTAL is held by the
# run, KEPT_AFTER. A hostile provider answering 10 MB on every endpoint would otherwise fill
# memory with evidence nobody is shown (4,000 characters of each body are); learning secrets
# still reads each body whole as it passes.
KEPT_BODY = 1 << 20
KEPT_TOTAL = 64 << 20
KEPT_AFTER = 64 << 10
MAX_MESSAGE = 2000  # one line of a message (a failure, a skip reason) in any report
MAX_FORMS_OF = 16384  # longer values are matched raw only: no provider encodes such a blob

# What httpx leaves unencoded (httpx/_urlparse.py, from the WHATWG URL standard): a raw URL
# string given to httpx keeps these as they are, and encodes the rest.
_QUERY_SAFE = "".join(chr(i) for i in range(0x20, 0x7F) if i not in (0x20, 0x22, 0x23, 0x3C, 0x3E))
_PATH_SAFE = "".join(c for c in _QUERY_SAFE if c not in "?`{}")
_FRAGMENT_SAFE = "".join(
    chr(i) for i in range(0x20, 0x7F) if i not in (0x20, 0x22, 0x3C, 0x3E, 0x60)
)
# What a server keeps when it quotes a whole URL for a Location header (Starlette's
# RedirectResponse, Werkzeug's iri_to_uri): the reserved characters, and `%` itself.
_URL_SAFE = ":/%#?=@[]!$&'()*+,;"
_PLAIN = re.compile(r"[A-Za-z0-9._~-]*")  # a value every encoding leaves as it is
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}")
KEY_LENGTH = 6  # values are found by the first characters of their forms, then compared whole


def digest(value: str, key: bytes = b"") -> str:
    data = value.encode("utf-8", "surrogatepass")  # a JSON "\\ud800" decodes to a lone one
    if key:
        return hmac.new(key, data, hashlib.sha256).hexdigest()[:8]
    return hashlib.sha256(data).hexdigest()[:8]


def is_secret_name(name: str) -> bool:
    """A parameter or JSON member whose value is hidden whatever it is."""
    lowered = name.lower()
    return lowered in SECRET_KEYS or lowered.endswith("_token")


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` in at most `limit` characters, saying how many were left out; a placeholder is
    never cut in two."""
    if len(text) <= limit:
        return text
    cut = max(0, limit - len(f"… ({len(text)} characters more)"))
    opening = text.rfind("«", max(0, cut - 20), cut)
    if opening != -1 and text.find("»", opening, cut) == -1:
        cut = opening
    return text[:cut] + f"… ({len(text) - cut} characters more)"


def bounded_lines(text: str, line_limit: int = MAX_MESSAGE, max_lines: int = 160) -> str:
    """A multi-line text (a traceback, captured output) with each line and the line count
    bounded: the head and the tail are kept, which is where a traceback says what happened."""
    lines = [shorten(line, line_limit) for line in text.splitlines()]
    if len(lines) > max_lines:
        half = max_lines // 2
        lines = [*lines[:half], f"… ({len(lines) - 2 * half} lines more)", *lines[-half:]]
    return "\n".join(lines)


def _normalise(text: str) -> str:
    """One spelling for escapes that differ only by hex case (`%2f`/`%2F`, `\\u00E9`/`\\u00e9`),
    without moving any character: values are matched in the normalised text and replaced in
    the original one at the same positions."""
    if "%" in text:
        text = _PERCENT.sub(lambda m: m.group(0).upper(), text)
    if "\\u" in text:
        text = _UNICODE_ESCAPE.sub(lambda m: m.group(0).lower(), text)
    return text


def _httpx_quote(value: str, safe: str) -> str:
    """Percent-encoding as httpx does it for a URL given as a string: existing `%XX` escapes are
    kept, anything else outside `safe` is encoded (UTF-8)."""
    parts, position = [], 0
    for match in _PERCENT.finditer(value):
        parts.append(quote(value[position : match.start()], safe=safe))
        parts.append(match.group(0))
        position = match.end()
    parts.append(quote(value[position:], safe=safe))
    return "".join(parts)


def _escaped(text: str) -> set[str]:
    """`text` as a JSON string and a Python repr carry it (without the quotes)."""
    found = set()
    for ensure_ascii in (True, False):
        escaped = json.dumps(text, ensure_ascii=ensure_ascii)[1:-1]
        found.add(escaped)
        found.add(escaped.replace("/", "\\/"))  # JSON may escape "/" (PHP, Java encoders do)
    found.add(repr(text)[1:-1])
    found.add(repr(text.encode("utf-8", "surrogatepass"))[2:-1])
    return found


def _html_escaped(text: str) -> set[str]:
    if not any(c in text for c in "&<>\"'"):
        return set()
    found = {html.escape(text), html.escape(text, quote=False)}
    # Template engines spell the quotes as numbers (Jinja: &#39; &#34;).
    found |= {f.replace("&#x27;", "&#39;").replace("&quot;", "&#34;") for f in found}
    return found


def forms(value: str, credential: bool = False) -> set[str]:
    """Every spelling of `value` an exchange, a message or a report can hold. `credential` adds
    where it sits inside a Basic credential (RFC 6749 §2.3.1: `base64(urlencode(id) ":"
    urlencode(secret))`, and the plain `base64(id ":" secret)`)."""
    found = {value}
    if len(value) > MAX_FORMS_OF:
        return found
    if not _PLAIN.fullmatch(value):
        # A lone surrogate has no UTF-8 form, so no percent-encoded one either.
        with suppress(UnicodeEncodeError):
            found |= _percent_encoded(value)
        for text in list(found):
            found |= _escaped(text)
        for text in list(found):
            found |= _html_escaped(text)
    if credential and not _has_surrogate(value):
        for text in {value, quote_plus(value), quote(value, safe="")}:
            data = text.encode()
            for skip in range(3):  # the secret starts at any offset of a base64 group
                core = base64.b64encode(data[skip:]).decode()
                if len(core) >= 8:  # shorter would match in any base64
                    found.add(core)
    return {f for f in found if len(f) >= MIN_LENGTH}


def _has_surrogate(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return True
    return False


def _percent_encoded(value: str) -> set[str]:
    """`value` percent-encoded as forms (`+` for a space), URLs (`%20`), httpx and servers do."""
    encoded = {
        quote(value, safe=""),
        quote(value, safe="/"),
        quote_plus(value, safe=""),
        quote_plus(value, safe="/"),
        _httpx_quote(value, _QUERY_SAFE),  # httpx, a URL given as a string
        _httpx_quote(value, _PATH_SAFE),
        _httpx_quote(value, _FRAGMENT_SAFE),
        quote(value, safe=_URL_SAFE),  # a server quoting the Location it sends
    }
    # A URL inside a parameter (a return address, a redirect_uri): encoded twice.
    encoded |= {quote(quote(value, safe=""), safe=""), quote(quote_plus(value), safe="")}
    return encoded


def _trie_pattern(words: Iterable[str]) -> str:
    """One regular expression for many words, as a trie: the engine follows one branch per
    character instead of trying every word at every position."""
    root: dict = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    built: dict[int, str] = {}
    stack: list[tuple[dict, bool]] = [(root, False)]
    while stack:  # post-order, without recursion
        node, ready = stack.pop()
        if not ready:
            stack.append((node, True))
            stack.extend((child, False) for ch, child in node.items() if ch)
            continue
        branches = [re.escape(ch) + built.pop(id(child)) for ch, child in node.items() if ch]
        if not branches:
            built[id(node)] = ""
            continue
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        built[id(node)] = f"(?:{body})?" if "" in node else body
    return built[id(root)]


# Name-based redaction -------------------------------------------------------------------------

# The patterns start at the separator, which the engine finds fast, and the name before it is
# read back (_name_before): a pattern starting with the names tries them at every position.
# name=value in forms, queries, fragments and keyword reprs (=, or %3D when the URL is itself
# a parameter).
_PARAMETER = re.compile(
    r"(?:=|%3[dD])"
    r"""(?P<value>'(?:[^'\\\n]|\\.)*'?|"(?:[^"\\\n]|\\.)*"?|(?:\\/|[^&#;\s"'<>\\])+)"""
)
# "name": value in JSON and Python reprs, and in JSON escaped inside JSON or inside HTML.
_MEMBER = re.compile(
    r"""(?P<quote>\\["']|["']|&quot;|&\#34;)\s*:\s*"""
    r"""(?P<value>"(?:[^"\\\n]|\\.)*(?:"|\Z)|'(?:[^'\\\n]|\\.)*(?:'|\Z)"""
    r"""|\\"(?:[^"\\\n]|\\[^"])*?(?:\\"|\Z)|&quot;.*?(?:&quot;|\Z)|&\#34;.*?(?:&\#34;|\Z)"""
    r"|-?\d[\w.+-]*)"
)
_NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([\w:-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_HEADER = re.compile(
    r"(?i)(?<![\w-])(?P<name>proxy-authorization|authorization|set-cookie|cookie)"
    r"""(?P<separator>(?:["']?[ \t]*[:=]|["'][ \t]*,)[ \t]*)(?P<quote>\\?["']?)"""
    r"(?P<value>[^\r\n]*)"
)
_COOKIE_PAIR = re.compile(r"""(?:^|[;,])[ \t]*([^=;,\s]+)[ \t]*=[ \t]*("[^"]*"?|[^;,]*)""")
_CREDENTIALS = re.compile(r"\b(?:Basic|Bearer|DPoP)[ \t]+([A-Za-z0-9+/=._~-]{8,})")
# Where a learnt value sits in a page or a text body: a hidden input, a URL's parameters, a
# JSON member.
_INPUT_VALUE = re.compile(r"""\bvalue\s*=\s*("[^"]*"|'[^']*')""", re.IGNORECASE)
_INPUT_NAME = re.compile(r"""\bname\s*=\s*["']?([\w.-]+)""", re.IGNORECASE)
_URL_PARAMETER = re.compile(r"(?:[?&#]|&amp;)([\w.-]+)=([^&#\s\"'<>\\]+)")
_JSON_MEMBER = re.compile(r'"([\w.-]+)"\s*:\s*"((?:[^"\\\n]|\\.)*)"')


def _name_before(text: str, end: int, quote: str = "") -> bool:
    """Whether a secret's name (inside `quote`) ends at `end`: `code=`, `"code":`, and after an
    encoded `?`, `&` or `#` (`%3Fcode%3D`) when a URL is itself a parameter."""
    head = text[max(0, end - 96) : end]
    if quote:
        if not head.endswith(quote):
            return False
        head = head[: -len(quote)]
    name = head[len(head.rstrip(_NAME_CHARACTERS)) :]
    before = head[: len(head) - len(name)]
    if quote:
        if not before.endswith(quote):
            return False
    elif before.endswith("%"):
        if name[:2].upper() not in ("26", "3F", "23"):
            return False  # %2Fcode=: part of an encoded path, not a parameter
        name = name[2:]
    return bool(name) and is_secret_name(name)


_QUOTES = ("&quot;", "&#34;", '\\"', "\\'", '"', "'")


def _unquoted(value: str) -> str:
    """The value inside the quotes a JSON member or a repr put around it."""
    for opening in _QUOTES:
        if value.startswith(opening):
            inner = value[len(opening) :]
            if inner.endswith(opening):
                inner = inner[: -len(opening)]
            # JSON, else a Python repr: its escapes undone, so a value has one hash.
            if opening == '"':
                with suppress(ValueError):
                    return str(json.loads(f'"{inner}"'))
            if opening in ('"', "'"):
                with suppress(ValueError, SyntaxError, MemoryError, RecursionError):
                    decoded = ast.literal_eval(opening + inner + opening)
                    if isinstance(decoded, str):
                        return decoded
            return inner
    return value


class Redactor:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}  # a learnt value -> its placeholder
        self._key = secrets.token_bytes(16)
        self._jwts: dict[str, str] = {}  # learnt JWTs: found by their shape, not by the trie
        # normalised form -> placeholder, grouped by the form's first KEY_LENGTH characters,
        # longest forms first
        self._buckets: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self._pattern: re.Pattern[str] | None = None  # a trie over the keys compiled so far...
        self._compiled = 0
        self._pending: set[str] = set()  # ...and the keys since, found with str.find
        self._pending_sizes: set[int] = set()
        self.longest = 0  # the longest form: how far a cut must look to not split one
        # Values that are never secret, whatever field carries them: the profile's client ids
        # (a private_key_jwt assertion's sub is its client id, and sub is a personal claim).
        self.public: set[str] = set()
        # Personal values shown as they are: the sandbox's EDIT test identities, when the user
        # asked (--reveal-test-identities, only on a sandbox profile). Never a secret.
        self.reveal: re.Pattern[str] | None = None

    # Learning ---------------------------------------------------------------------------------

    def keep(self, value: str) -> None:
        """Never learn `value` as a secret or a personal datum: reports show it as it is."""
        self.public.add(value)

    def placeholder(self, value: str, kind: str = "secret") -> str:
        """The placeholder of `value`: its own when learnt, else one made the same way."""
        known = self.values.get(value)
        if known is not None:
            return known
        if JWT_SHAPE.fullmatch(value):
            kind = "jwt"
        return f"«{kind}:{digest(value, self._key)}»"

    def add(self, value: object, kind: str = "secret", credential: bool = True) -> None:
        """Learn a secret (or, with kind="personal", a personal datum). `credential`: it may
        travel inside a Basic credential, so its base64 spellings are learnt too; what the
        recorder learns by field name says so itself."""
        if not isinstance(value, str) or len(value) < MIN_LENGTH or value in self.values:
            return
        if value in self.public:
            return
        if kind == "personal" and self.reveal is not None and self.reveal.fullmatch(value):
            return
        if PLACEHOLDER.fullmatch(value):
            return  # already redacted text, learnt back from a report
        # Its own kind, a JWT too: "«secret:…»" says a token the run learnt, "«jwt:…»" one it
        # did not.
        placeholder = f"«{kind}:{digest(value, self._key)}»"
        self.values[value] = placeholder
        if JWT_SHAPE.fullmatch(value):
            # Found by its shape in any text; its claims are learnt for when they are shown
            # decoded (the Allure attachment does).
            self._jwts[value] = placeholder
            self._learn_jwt_claims(value)
            return
        for form in forms(value, credential and kind == "secret"):
            self._register(_normalise(form), placeholder)

    def _register(self, form: str, placeholder: str) -> None:
        key = form[:KEY_LENGTH]
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = []
            self._pending.add(key)
            self._pending_sizes.add(len(key))
        for length, table in bucket:
            if length == len(form):
                table.setdefault(form, placeholder)
                break
        else:
            bucket.append((len(form), {form: placeholder}))
            bucket.sort(key=lambda entry: -entry[0])
        self.longest = max(self.longest, len(form))

    def _learn_jwt_claims(self, token: str) -> None:
        parts = token.split(".")
        if len(parts) < 2:
            return
        try:
            payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
            claims = jsonsafe.loads(payload)
        except ValueError:
            return  # a JWE, or not a JWT after all: nothing readable to learn
        self.learn_json(claims)

    def _learn_named(self, name: str, value: object, credential: bool = False) -> None:
        if not isinstance(value, str):
            return
        if is_secret_name(name):
            self.add(value, credential=credential or name.lower() in ("client_secret", "password"))
        elif name in PERSONAL_KEYS:
            self.add(value, "personal")

    def learn_json(self, data: object) -> None:
        # Iterative: a hostile document nested 100,000 deep must not overflow the stack.
        stack = [data]
        while stack:
            current = stack.pop()
            if isinstance(current, dict):
                for key, value in current.items():
                    if isinstance(value, str):
                        self._learn_named(str(key), value)
                    elif str(key) in PERSONAL_KEYS and value is not None:
                        self._learn_personal_whole(value)  # ["Dupont"], 810012345678, {...}
                    elif isinstance(value, dict | list):
                        stack.append(value)
            elif isinstance(current, list):
                stack.extend(item for item in current if isinstance(item, dict | list))

    def _learn_personal_whole(self, value: object) -> None:
        """Every string and number inside a personal member that is not a string: a name
        given as a list, an idNat as a number, an address as an object."""
        stack, seen = [value], 0
        while stack and seen < 10_000:
            current = stack.pop()
            seen += 1
            if isinstance(current, bool) or current is None:
                continue
            if isinstance(current, str | int | float):
                self.add(str(current), "personal")
            elif isinstance(current, dict):
                stack.extend(current.values())
            elif isinstance(current, list):
                stack.extend(current)

    def learn_pairs(self, pairs: list[tuple[str, str]]) -> None:
        for key, value in pairs:
            self._learn_named(key, value)

    def learn_query(self, query: str) -> None:
        """The parameters of a query, a fragment or a form body: decoded, and also as they were
        on the wire, whatever encoding the sender chose."""
        for pair in query.split("&"):
            name, sep, raw = pair.partition("=")
            if not sep or not raw:
                continue
            name = unquote_plus(name)
            # Decoded first: a spelling shared with the wire form keeps the decoded value's hash.
            for value in dict.fromkeys((unquote_plus(raw), unquote(raw), raw)):
                self._learn_named(name, value)

    def learn_url(self, url: str) -> None:
        parts = urlsplit(url)
        self.learn_query(parts.query)
        self.learn_query(parts.fragment)

    def learn_header(self, name: str, value: str) -> None:
        lowered = name.lower()
        if lowered in ("authorization", "proxy-authorization"):
            scheme, _, credentials = value.partition(" ")
            credentials = credentials.strip()
            self.add(credentials or scheme, credential=False)
            if scheme.lower() == "basic" and credentials:
                try:
                    decoded = base64.b64decode(credentials, validate=True).decode()
                except ValueError:
                    return
                _, sep, secret = decoded.partition(":")
                if sep:
                    self.add(secret)
                    self.add(unquote_plus(secret))
        elif lowered in ("cookie", "set-cookie"):
            for cookie, cookie_value in _COOKIE_PAIR.findall(value):
                if lowered == "set-cookie" and cookie.lower() in COOKIE_ATTRIBUTES:
                    continue  # Path=/auth is no secret, and learnt it garbled every URL
                cookie_value = cookie_value.strip()
                for spelling in dict.fromkeys((cookie_value.strip('"'), cookie_value)):
                    self.add(unquote(spelling), credential=False)
                    self.add(spelling, credential=False)

    def learn_text(self, text: str, json_personal: bool = False) -> None:
        """A page or any text body: hidden inputs, the parameters of its URLs, JSON members.
        A page's inline JSON gives only secrets: "name" there is a widget's or a realm's, and
        learnt as personal it would garble every URL holding it; `json_personal` for a JSON
        document too deep to parse."""
        for tag in _INPUT.findall(text):
            named, valued = _INPUT_NAME.search(tag), _INPUT_VALUE.search(tag)
            if named and valued:
                value = html.unescape(valued.group(1)[1:-1])
                self._learn_named(named.group(1), value)
        for name, raw in _URL_PARAMETER.findall(text):
            unescaped = html.unescape(raw)
            for value in dict.fromkeys((unquote_plus(unescaped), unescaped, raw)):
                self._learn_named(name, value)
        for name, raw in _JSON_MEMBER.findall(text):
            if json_personal or is_secret_name(name):
                self._learn_named(name, _unquoted(f'"{raw}"'))

    # Redacting --------------------------------------------------------------------------------

    def _compile(self) -> None:
        keys = list(self._buckets)
        self._pattern = re.compile(_trie_pattern(keys)) if keys else None
        self._compiled = len(keys)
        self._pending, self._pending_sizes = set(), set()

    def holds_learnt(self, text: str) -> bool:
        """Whether `text` holds a value this redactor learnt, or a JWT: by value only (the
        by-name rules would see a replay's "Bearer ${ACCESS_TOKEN}" as a credential)."""
        return bool(JWT_SHAPE.search(text)) or bool(self._value_spans(text, []))

    def _value_spans(self, text: str, skip: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
        """Where learnt values start in `text`, outside the `skip` spans (JWTs, replaced whole
        anyway: they are most of an exchange's text, and the trie costs time per character)."""
        # Recompiling costs time in proportion to all the keys: it waits until the pending
        # keys are a fair share of them, so a run compiles about as much as it learns.
        if len(self._pending) > max(64, self._compiled // 4):
            self._compile()
        spans: list[tuple[int, int, str]] = []
        if not self._buckets:
            return spans
        norm = _normalise(text)
        candidates: set[int] = set()
        if self._pattern is not None:
            search, position = self._pattern.search, 0
            for stop, resume in [*skip, (len(norm), len(norm))]:
                # A key may run into the skipped span: only its start must be before it.
                while (match := search(norm, position, stop + KEY_LENGTH - 1)) is not None:
                    if match.start() >= stop:
                        break
                    candidates.add(match.start())
                    position = match.start() + 1  # values may overlap: look again one further
                position = max(position, resume)
        pending = self._pending
        if len(pending) < len(norm) // 2:
            for key in pending:
                position = norm.find(key)
                while position != -1:
                    candidates.add(position)
                    position = norm.find(key, position + 1)
        elif pending:
            # Many keys pending and a short text: look each position up instead.
            sizes = sorted(self._pending_sizes)
            for position in range(len(norm) - MIN_LENGTH + 1):
                for size in sizes:
                    if norm[position : position + size] in pending:
                        candidates.add(position)
                        break
        buckets = self._buckets
        for start in candidates:
            for size in range(KEY_LENGTH, MIN_LENGTH - 1, -1):
                bucket = buckets.get(norm[start : start + size])
                if bucket is None:
                    continue
                found = next(
                    (
                        (length, table[norm[start : start + length]])
                        for length, table in bucket
                        if norm[start : start + length] in table
                    ),
                    None,
                )
                if found is not None:
                    spans.append((start, start + found[0], found[1]))
                    break
        return spans

    def _named_spans(self, text: str) -> list[tuple[int, int, str]]:
        spans: list[tuple[int, int, str]] = []

        def hide(start: int, end: int, decoded: str) -> None:
            value = text[start:end]
            for opening in _QUOTES:  # the quotes stay: "code": "«secret:…»"
                if value.startswith(opening):
                    start += len(opening)
                    if value.endswith(opening) and len(value) >= 2 * len(opening):
                        end -= len(opening)
                    break
            value = text[start:end]
            variable = SHELL_VARIABLE.match(value)
            if variable and value[variable.end() :].lstrip()[:1] in ("", '"', "'"):
                # A replay command's "${ACCESS_TOKEN}" (up to its closing quote, where a header
                # value read to the end of the line stops): what the user sets, no secret.
                return
            if end > start and value.strip() and not PLACEHOLDER.fullmatch(value):
                spans.append((start, end, self.placeholder(decoded)))

        if "=" in text or "%3" in text:
            for m in _PARAMETER.finditer(text):
                if _name_before(text, m.start()):
                    value = m.group("value")
                    decoded = _unquoted(value) if value[0] in "'\"" else unquote_plus(value)
                    hide(m.start("value"), m.end("value"), decoded)
        if ":" in text:
            for m in _MEMBER.finditer(text):
                value = m.group("value")
                if value not in ("null", "true", "false") and _name_before(
                    text, m.end("quote"), m.group("quote")
                ):
                    hide(m.start("value"), m.end("value"), _unquoted(value))
            lowered = text.lower()
            if "authorization" in lowered or "cookie" in lowered:
                for m in _HEADER.finditer(text):
                    self._header_spans(m, hide)
        if "<" in text:
            for m in _INPUT.finditer(text):
                self._input_spans(m, hide)
        if "Basic" in text or "Bearer" in text or "DPoP" in text:
            for m in _CREDENTIALS.finditer(text):
                hide(m.start(1), m.end(1), m.group(1))
        return spans

    @staticmethod
    def _header_spans(m: re.Match[str], hide) -> None:
        name, value, start = m.group("name").lower(), m.group("value"), m.start("value")
        opening = m.group("quote")
        if opening:
            closing = value.find(opening)
            value = value if closing == -1 else value[:closing]
        elif "'" in value:
            value = value[: value.index("'")]  # a curl -H '...' argument ends there
        if name.endswith("authorization"):
            scheme = re.match(r"[A-Za-z][\w.+-]*[ \t]+(?=\S)", value)
            skip = scheme.end() if scheme else 0
            hide(start + skip, start + len(value.rstrip()), value[skip:].strip())
            return
        for pair in _COOKIE_PAIR.finditer(value):
            if name == "set-cookie" and pair.group(1).lower() in COOKIE_ATTRIBUTES:
                continue
            cookie_value = pair.group(2).rstrip()
            hide(start + pair.start(2), start + pair.start(2) + len(cookie_value), cookie_value)

    @staticmethod
    def _input_spans(m: re.Match[str], hide) -> None:
        attributes = {a.group(1).lower(): a for a in _ATTRIBUTE.finditer(m.group(0))}
        named, valued = attributes.get("name"), attributes.get("value")
        if named is None or valued is None:
            return
        if not is_secret_name(html.unescape(named.group(2).strip("\"'"))):
            return
        raw = valued.group(2)
        inner = 1 if raw[:1] in "\"'" else 0
        start = m.start() + valued.start(2) + inner
        end = m.start() + valued.end(2) - inner
        hide(start, end, html.unescape(raw[inner : len(raw) - inner]))

    def _regions(self, text: str) -> list[tuple[int, int, str]]:
        """Where `text` must change: overlapping finds merged, so no part of a secret that
        overlaps another survives between them."""
        jwts = []
        if "eyJ" in text:
            jwts = [
                (m.start(), m.end(), self._jwts.get(m.group(0)) or self.placeholder(m.group(0)))
                for m in JWT_SHAPE.finditer(text)
            ]
        # In this order: where a learnt value and a name cover the same characters, the value's
        # own placeholder is shown (the sort below is stable), the same as everywhere else.
        spans = self._value_spans(text, [(s, e) for s, e, _ in jwts]) + jwts
        spans += self._named_spans(text)
        if not spans:
            return []
        if "«" in text:  # already redacted text is left as it is
            spans += [(m.start(), m.end(), m.group(0)) for m in PLACEHOLDER.finditer(text)]
        spans.sort(key=lambda span: (span[0], -span[1]))
        regions: list[tuple[int, int, str]] = []
        start, end, shown = spans[0][0], spans[0][1], [spans[0][2]]
        for s, e, replacement in spans[1:]:
            if s >= end:
                regions.append((start, end, "".join(shown)))
                start, end, shown = s, e, [replacement]
            elif e > end:
                end = e
                if replacement != shown[-1]:
                    shown.append(replacement)
        regions.append((start, end, "".join(shown)))
        return regions

    @staticmethod
    def _apply(text: str, regions: list[tuple[int, int, str]]) -> str:
        out, position = [], 0
        for start, end, replacement in regions:
            out.append(text[position:start])
            out.append(replacement)
            position = end
        out.append(text[position:])
        return "".join(out)

    def __call__(self, text: str) -> str:
        return self._apply(text, self._regions(text))

    def cut(self, text: str, limit: int, total: str = "") -> str:
        """`text` redacted and cut to about `limit` characters. The cut is chosen in the original
        text, outside any secret, and what is past it is read far enough to recognise a secret
        that straddles it."""
        if len(text) <= limit:
            return self(text)
        window = text[: limit + max(8192, min(self.longest, 1 << 20))]
        regions = self._regions(window)
        end = limit
        for start, stop, _ in regions:
            if start < end < stop:
                end = stop
            if start >= end:
                break
        shown = self._apply(window[:end], [r for r in regions if r[1] <= end])
        return shown + f"… ({total or f'{len(text) - end} characters more'})"

    def message(self, text: str, limit: int = MAX_MESSAGE) -> str:
        """A message for a report: redacted, then bounded."""
        return shorten(self(text), limit)


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int | None
    response_headers: list[tuple[str, str]]
    response_body: bytes
    elapsed_ms: float
    error: str | None = None
    replayable: bool = True  # False for steps that need the user's CPS card or e-CPS app
    response_size: int | None = None  # of the body as received, when more than was kept
    tls: object | None = None  # replay.TlsFiles: the CA trusted, the certificate presented

    def render(self, redact: Redactor) -> str:
        # Each part is redacted whole before anything is cut, so a cut never leaves a piece
        # of a secret that redaction would no longer recognise.
        request = [f"> {self.method} {self.url}"]
        request += [f"> {k}: {v}" for k, v in self.request_headers if k.lower() != "host"]
        lines = [bounded_lines(redact("\n".join(request)), MAX_BODY_SHOWN)]
        if self.request_body:
            lines.append(">")
            lines.append("> " + _body(self.request_body, redact).replace("\n", "\n> "))
        if self.error:
            lines.append(f"< (no response: {redact.message(self.error, MAX_BODY_SHOWN)})")
        else:
            response = [f"< HTTP {self.status}  ({self.elapsed_ms:.0f} ms)"]
            response += [f"< {k}: {v}" for k, v in self.response_headers]
            lines.append(bounded_lines(redact("\n".join(response)), MAX_BODY_SHOWN))
            if self.response_body:
                lines.append("<")
                shown = _body(self.response_body, redact, self.response_size)
                lines.append("< " + shown.replace("\n", "\n< "))
        return "\n".join(lines)

    def replay(self, redact: Redactor):  # -> replay.Replay (imported late: it imports this)
        """A curl command that runs once its variables are set: secrets and tokens in it are
        shell variables, never placeholders."""
        from psc_testkit.client import replay

        if not self.replayable:
            return replay.Replay("not replayable: needs the user's CPS card or e-CPS app")
        tls = self.tls if isinstance(self.tls, replay.TlsFiles) else None
        return replay.command(
            self.method, self.url, self.request_headers, self.request_body, redact, tls
        )

    def curl(self, redact: Redactor) -> str:
        return self.replay(redact).command

    def to_dict(self, redact: Redactor) -> dict:
        replayed = self.replay(redact)
        return {
            "request": shorten(f"{self.method} {redact(self.url)}", MAX_BODY_SHOWN),
            "status": self.status,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "error": redact.message(self.error) if self.error else None,
            "exchange": self.render(redact),
            "replay": replayed.command,
            "replay_variables": replayed.variables,
            "jwts": decoded_jwts(self, redact),
        }


MAX_JWTS_SHOWN = 4  # per exchange
JWT_IN_TEXT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def _jwt_part(part: str) -> object:
    try:
        return jsonsafe.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, binascii.Error):
        return None


def _jwts_in(body: bytes, content_type: str, side: str) -> list[tuple[str, str]]:
    """(where, token) for each JWT a body carries: a JSON member, a form field, or the body."""
    text = body[: 1 << 20].decode("utf-8", "replace").strip()
    if not text:
        return []
    if JWT_SHAPE.fullmatch(text):
        return [(f"the {side} body", text)]
    found: list[tuple[str, str]] = []
    values: list[tuple[str, object]] = []
    if "x-www-form-urlencoded" in content_type:
        pairs = [pair.partition("=") for pair in text.split("&")]
        values = [(unquote_plus(name), unquote_plus(value)) for name, _, value in pairs]
    else:
        with suppress(ValueError):
            data = jsonsafe.loads(text)
            values = list(data.items()) if isinstance(data, dict) else []
    for name, value in values:
        if isinstance(value, str) and JWT_SHAPE.fullmatch(value):
            found.append((f"{name} in the {side}", value))
    seen = {token for _, token in found}
    for match in JWT_IN_TEXT.finditer(text):  # anywhere else: a page, a nested member
        if match.group(0) not in seen:
            seen.add(match.group(0))
            found.append((f"in the {side} body", match.group(0)))
    return found


def decoded_jwts(exchange: Exchange, redact: Redactor) -> list[dict]:
    """The JWTs an exchange carried, their header and claims decoded and redacted: what a
    reader needs to see why a token was refused (alg, kid, iss, aud, exp), without the token."""

    def content_type(headers: list[tuple[str, str]]) -> str:
        return next((v.lower() for k, v in headers if k.lower() == "content-type"), "")

    found = _jwts_in(exchange.request_body, content_type(exchange.request_headers), "request")
    found += _jwts_in(exchange.response_body, content_type(exchange.response_headers), "response")
    shown = []
    for where, token in found[:MAX_JWTS_SHOWN]:
        redact.add(token)  # learns its claims too: a token found here is hidden like the rest
        parts = token.split(".")
        try:
            jws = tokens.decode(token)
            header, claims = jws.header, jws.claims
        except tokens.TokenFormatError:  # a JWE (its header only), or not a JWT after all
            header, claims = _jwt_part(parts[0]), None
        if not isinstance(header, dict):
            continue
        entry = {"where": where, "token": redact.placeholder(token)}
        entry["header"] = redact.cut(json.dumps(header, indent=1, ensure_ascii=False), 2000)
        if isinstance(claims, dict):
            entry["claims"] = redact.cut(
                json.dumps(claims, indent=1, ensure_ascii=False), MAX_BODY_SHOWN
            )
        else:
            entry["claims"] = "(encrypted or not JSON)" if len(parts) == 5 else "(not JSON)"
        shown.append(entry)
    return shown


def _body(body: bytes, redact: Redactor, size: int | None = None) -> str:
    text = body.decode("utf-8", "replace")
    return redact.cut(text, MAX_BODY_SHOWN, f"{size or len(body)} bytes")


@dataclass
class Recorder:
    """Collects the exchanges of an httpx client; `capture()` scopes them to a fixture or test."""

    redact: Redactor = field(default_factory=Redactor)
    exchanges: list[Exchange] = field(default_factory=list)
    _captures: list[list[Exchange]] = field(default_factory=list)
    replayable: bool = True
    kept: int = 0  # bytes of response bodies held by the exchanges
    tls: object | None = None  # replay.TlsFiles of the exchanges that say none of their own

    def _learn_body(self, body: bytes, content_type: str) -> None:
        if not body:
            return
        if "x-www-form-urlencoded" in content_type:
            self.redact.learn_query(body[: 1 << 20].decode("utf-8", "replace"))
        elif "json" in content_type:
            try:
                self.redact.learn_json(jsonsafe.loads(body))
            except ValueError:
                # Not JSON, or nested too deep to parse: its members are still read as text,
                # as far as a hostile document hides them.
                self.redact.learn_text(body[: 1 << 20].decode("utf-8", "replace"), True)
        elif "jwt" in content_type:
            self.redact.add(body.decode("utf-8", "replace").strip())
        else:
            self.redact.learn_text(body[:65536].decode("utf-8", "replace"))
        # A JWT anywhere in the body (a page, a nested member) is learnt with its claims now,
        # before anything renders the exchange: its decoded view shows nothing learnt later.
        for match in JWT_IN_TEXT.finditer(body[: 1 << 20].decode("utf-8", "replace")):
            self.redact.add(match.group(0))

    def learn_request(self, request: httpx.Request) -> None:
        for name, value in request.headers.multi_items():
            self.redact.learn_header(name, value)
        self.redact.learn_url(str(request.url))
        body = request.content if hasattr(request, "_content") else b""
        self._learn_body(body, request.headers.get("content-type", ""))

    def learn_response(self, response: httpx.Response) -> None:
        for name, value in response.headers.multi_items():
            self.redact.learn_header(name, value)
        location = response.headers.get("location")
        if location:
            self.redact.learn_url(location)
        self._learn_body(response.content, response.headers.get("content-type", ""))

    def record(
        self,
        request: httpx.Request,
        response: httpx.Response | None,
        started: float,
        error: str | None = None,
        tls: object | None = None,
    ) -> Exchange:
        self.learn_request(request)
        if response is not None:
            self.learn_response(response)
        body = response.content if response is not None else b""
        keep = KEPT_BODY if self.kept < KEPT_TOTAL else KEPT_AFTER
        exchange = Exchange(
            method=request.method,
            url=str(request.url),
            request_headers=list(request.headers.items()),
            request_body=request.content if hasattr(request, "_content") else b"",
            status=response.status_code if response is not None else None,
            response_headers=list(response.headers.multi_items()) if response is not None else [],
            response_body=body[:keep],
            elapsed_ms=(time.perf_counter() - started) * 1000,
            error=error,
            replayable=self.replayable,
            response_size=len(body) if len(body) > keep else None,
            tls=tls or self.tls,
        )
        self.kept += min(len(body), keep)
        self.exchanges.append(exchange)
        for capture in self._captures:
            capture.append(exchange)
        return exchange

    @contextmanager
    def capture(self) -> Iterator[list[Exchange]]:
        captured: list[Exchange] = []
        self._captures.append(captured)
        try:
            yield captured
        finally:
            # By identity: two captures holding equal lists are still different captures.
            self._captures[:] = [c for c in self._captures if c is not captured]
