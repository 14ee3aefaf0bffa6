"""Replay commands a user can run: `curl` lines in which every secret, token and personal value
is a shell variable (`"${PSC_CLIENT_SECRET}"`, `"${ACCESS_TOKEN}"`) the user sets, with
`--cacert` (and `--cert`/`--key` for an mTLS client) when the run trusted files of its own.

A placeholder such as `«secret:1a2b3c4d»` in a command cannot run; the value it hides cannot be
shown either. A variable named after what it holds can: the report says what to put in it, and
which placeholder of the exchange it stands for, so a reader matches the two.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from psc_testkit.client.evidence import PLACEHOLDER, Redactor, is_secret_name

# What a parameter, a header or a credential holds, as a variable a user recognises.
NAMES = {
    "client_secret": "PSC_CLIENT_SECRET",
    "password": "PASSWORD",
    "code": "CODE",
    "code_verifier": "CODE_VERIFIER",
    "code_challenge": "CODE_CHALLENGE",
    "access_token": "ACCESS_TOKEN",
    "refresh_token": "REFRESH_TOKEN",
    "id_token_hint": "ID_TOKEN",
    "token": "TOKEN",
    "client_assertion": "CLIENT_ASSERTION",
    "auth_req_id": "AUTH_REQ_ID",
    "login_hint": "LOGIN_HINT",
    "state": "STATE",
    "nonce": "NONCE",
}
WHAT = {
    "PSC_CLIENT_SECRET": "the client's secret (client_secret in the profile)",
    "PASSWORD": "the test user's password",
    "CODE": "a fresh authorization code (a code is used once)",
    "CODE_VERIFIER": "the PKCE code_verifier of that code",
    "CODE_CHALLENGE": "a PKCE code_challenge (S256 of your code_verifier)",
    "ACCESS_TOKEN": "an access token from a fresh login",
    "REFRESH_TOKEN": "a refresh token from a fresh login",
    "ID_TOKEN": "an ID token from a login",
    "TOKEN": "the token to revoke or introspect",
    "CLIENT_ASSERTION": "a private_key_jwt client assertion signed with the client's key",
    "AUTH_REQ_ID": "the auth_req_id of a CIBA request",
    "LOGIN_HINT": "a test professional's identifier (idNat)",
    "IDNAT": "a test professional's identifier (idNat)",
    "TX": "the tx of the login page the authorization request answered with",
    "STATE": "any random value",
    "NONCE": "any random value",
    "PSC_CLIENT_SECRET_FORM_ENCODED": (
        "the client's secret form-urlencoded, as RFC 6749 §2.3.1 puts it in a Basic credential: "
        "python3 -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.argv[1]))' "
        "SECRET"
    ),
    "BODY": "the value the report hides, JSON-escaped as the body carries it",
}
# Variables a shell already gives a meaning: a hidden value named after its field would replace
# them ("${PATH}"), so such names get a prefix.
RESERVED = {
    *("PATH", "HOME", "USER", "SHELL", "PWD", "OLDPWD", "IFS", "PS1", "PS2", "PS4", "LANG"),
    *("TERM", "UID", "EUID", "PPID", "HOSTNAME", "RANDOM", "SECONDS", "LINENO", "CDPATH"),
    *("ENV", "MAIL", "OPTARG", "OPTIND", "TMPDIR", "LOGNAME", "EDITOR", "DISPLAY", "GROUPS"),
}
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")  # what no shell word holds
SKIPPED_HEADERS = {"host", "content-length", "accept-encoding", "connection", "user-agent"}
DOUBLE_QUOTED = re.compile(r'["\\$`!]')  # what a shell reads inside "…" (! in bash)
MAX_COMMAND = 8000  # characters: past this a command is cut, and then not replayable


class NotReplayable(Exception):
    """A request no command line can carry as it was (a binary body)."""


@dataclass(frozen=True)
class TlsFiles:
    """The files a request's TLS used: the CA it trusted, the certificate it presented."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


@dataclass
class Replay:
    command: str
    variables: dict[str, str] = field(default_factory=dict)  # name -> what to put in it

    def to_dict(self) -> dict:
        return {"command": self.command, "variables": self.variables}


class _Names:
    """Variables of one command: one per hidden value, named after where it travels."""

    def __init__(self) -> None:
        self.by_placeholder: dict[str, str] = {}
        self.described: dict[str, str] = {}

    def name(self, placeholder: str, hint: str, shown: bool = True, in_url: bool = False) -> str:
        known = self.by_placeholder.get(placeholder)
        if known is not None:
            return known
        base = NAMES.get(hint.lower()) or re.sub(r"[^A-Z0-9]+", "_", hint.upper()).strip("_")
        if not base or base[0].isdigit() or base in RESERVED or base.startswith("BASH"):
            base = f"VALUE_{base}".rstrip("_")
        name, n = base, 1
        while name in self.described:
            n += 1
            name = f"{base}_{n}"
        self.by_placeholder[placeholder] = name
        what = WHAT.get(base, "the value the report hides")
        if hint.lower().startswith("cookie_"):
            what = f"the {hint[7:]} cookie of a browser logged in at the provider"
        if in_url:
            what += ", percent-encoded as it goes in the URL"
        self.described[name] = f"{what}; {placeholder} in the exchange" if shown else what
        return name


# A word of the command: literal text and variables, in order.
Word = list[tuple[str, str]]  # ("text", literal) | ("var", NAME)


def _split(
    redacted: str, names: _Names, hint: str, shown: bool = True, in_url: bool = False
) -> Word:
    """Redacted text as a word: each placeholder in it becomes a variable."""
    word: Word = []
    position = 0
    for match in PLACEHOLDER.finditer(redacted):
        if match.start() > position:
            word.append(("text", redacted[position : match.start()]))
        word.append(("var", names.name(match.group(), hint, shown, in_url)))
        position = match.end()
    if position < len(redacted):
        word.append(("text", redacted[position:]))
    return word


def _value(value: str, name: str, redact: Redactor, names: _Names, in_url: bool = False) -> Word:
    """A parameter's value: a variable when it is hidden, by name or by what it is."""
    shown = redact(value)
    if is_secret_name(name) and not PLACEHOLDER.fullmatch(shown) and value:
        shown = redact.placeholder(value)
    return _split(shown, names, name, in_url=in_url)


def quote(word: Word) -> str:
    """The word for a POSIX shell: literals single-quoted, variables in double quotes."""
    if all(kind == "text" for kind, _ in word):
        return shlex.quote("".join(text for _, text in word))
    if not any(kind == "text" and DOUBLE_QUOTED.search(text) for kind, text in word):
        # One double-quoted word reads best: "https://…?state=${STATE}&nonce=${NONCE}".
        return '"' + "".join(f"${{{t}}}" if k == "var" else t for k, t in word) + '"'
    out = []
    for kind, text in word:
        out.append(f'"${{{text}}}"' if kind == "var" else shlex.quote(text))
    return "".join(out)


def _url(url: str, redact: Redactor, names: _Names) -> Word:
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    word = _split(redact(base), names, "url")
    if parts.query:
        word.append(("text", "?"))
        for i, pair in enumerate(parts.query.split("&")):
            if i:
                word.append(("text", "&"))
            name, sep, raw = pair.partition("=")
            decoded, value = unquote_plus(name), unquote_plus(raw)
            if sep and raw and (is_secret_name(decoded) or redact(value) != value):
                # A hidden value: a variable, which goes in as it is, so percent-encoded.
                word += [*_split(redact(name), names, decoded), ("text", "=")]
                word += _value(value, decoded, redact, names, in_url=True)
            else:
                # The rest as it was on the wire, redacted whole: a secret hidden in a name,
                # or spelt in an encoding only the wire form shows, is still found.
                word += _split(redact(pair), names, decoded)
    return word


def _header(name: str, value: str, redact: Redactor, names: _Names) -> list[str]:
    lowered = name.lower()
    if lowered in ("authorization", "proxy-authorization"):
        scheme, _, credentials = value.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "basic" and lowered == "authorization":
            try:
                client_id, sep, secret = (
                    base64.b64decode(credentials, validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                sep = ""
            if sep:
                user = _split(redact(client_id), names, "client_id")
                # The exchange shows the whole credential hidden, not the secret's own mark.
                # It went form-encoded (RFC 6749 §2.3.1): a secret with + / = % or a space
                # differs from the profile's, and its variable says so.
                encoded = unquote_plus(secret) != secret
                hint = "psc_client_secret_form_encoded" if encoded else "client_secret"
                password = _split(redact.placeholder(secret), names, hint, False)
                return ["-u", quote([*user, ("text", ":"), *password])]
        hint = "access_token" if scheme.lower() in ("bearer", "dpop") else name
        token = _split(redact.placeholder(credentials), names, hint) if credentials else []
        return ["-H", quote([("text", f"{name}: {scheme} "), *token])]
    if lowered == "cookie":
        word: Word = [("text", f"{name}: ")]
        for i, pair in enumerate(value.split(";")):
            cookie, sep, cookie_value = pair.strip().partition("=")
            word.append(("text", ("; " if i else "") + cookie + sep))
            if sep:
                word += _split(redact.placeholder(cookie_value), names, f"cookie_{cookie}")
        return ["-H", quote(word)]
    return ["-H", quote(_split(redact(f"{name}: {value}"), names, name))]


def _body(body: bytes, content_type: str, redact: Redactor, names: _Names) -> list[str]:
    text = body.decode("utf-8", "replace")
    if CONTROL.search(text):
        raise NotReplayable("a binary body")
    if "x-www-form-urlencoded" in content_type:
        args = []
        for pair in text.split("&"):
            name, sep, raw = pair.partition("=")
            if not name:  # "=abc": `--data-urlencode =abc` would send "abc"
                args += ["--data-raw", quote(_split(redact(pair), names, "body"))]
                continue
            name = unquote_plus(name)
            # curl encodes what follows the first "=": the value goes in decoded.
            value = _value(unquote_plus(raw), name, redact, names) if sep else []
            shown = _split(redact(name), names, "name")
            args += ["--data-urlencode", quote([*shown, ("text", "="), *value])]
        return args
    return ["--data-raw", quote(_split(redact(text), names, "body"))]


def command(
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    redact: Redactor,
    tls: TlsFiles | None = None,
) -> Replay:
    names = _Names()
    words = ["curl", "-i"]
    if tls is not None and tls.ca is not None:
        words += ["--cacert", shlex.quote(str(tls.ca))]
    if tls is not None and tls.cert is not None:
        words += ["--cert", shlex.quote(str(tls.cert))]
        if tls.key is not None:
            words += ["--key", shlex.quote(str(tls.key))]
    words += ["-X", shlex.quote(method), quote(_url(url, redact, names))]
    content_type = ""
    for name, value in headers:
        if name.lower() in SKIPPED_HEADERS:
            continue
        if name.lower() == "content-type":
            content_type = value.lower()
        words += _header(name, value, redact, names)
    if body:
        try:
            words += _body(body, content_type, redact, names)
        except NotReplayable as exc:
            return Replay(f"not replayable here: {exc}")
    line = " ".join(words)
    if redact.holds_learnt(line):
        # Something the pieces did not show as hidden is, seen whole: safe before runnable.
        return Replay(redact(line), names.described)
    if len(line) > MAX_COMMAND:
        return Replay(f"not replayable here: a command of {len(line)} characters")
    return Replay(line, names.described)


def as_text(replays: list[Replay]) -> str:
    """Replay commands for a terminal or a text attachment: the variables they need first,
    then one command per line."""
    variables: dict[str, str] = {}
    for replay in replays:
        for name, what in replay.variables.items():
            variables.setdefault(name, what)
    lines = [f"Set first: {name}  ({what})" for name, what in variables.items()]
    return "\n".join(lines + [f"Reproduce with: {r.command}" for r in replays])
