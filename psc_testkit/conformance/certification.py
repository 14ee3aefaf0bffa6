"""A certification report for vendors: what was tested (the profile, without secrets), with
which suite (version and a hash of the checks' source), against which declared scope, and each
requirement's verdict with a digest of its evidence — signed by the operator (JWS, Ed25519 or
RSA) so that `verify-certification` can hold it to their public key.

The verdict is PASSED only when every requirement of the declared scope was checked and held;
INCOMPLETE when some were not checked (each listed with why: a safe profile, the driver, the
profile, a feature the provider does not offer, not run, an error); FAILED when a check failed.
docs/certification.md says it for operators.

It shows no message and no exchange, only their digest: the summary it is built from is already
redacted, and what it takes from the profile is redacted by field name once more."""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from psc_testkit import __version__

if TYPE_CHECKING:  # the CLI imports this module for --sign-key: kept light (no httpx)
    from psc_testkit.client.config import Target

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [("conformance", "*.py"), ("schemas", "*.json"), ("psc_testkit", "*.py")]
KIND = "psc-testkit certification"
# The RP side's report (psc_testkit/rp/report.py) is signed and verified the same way.
RP_KIND = "psc-testkit RP certification"
KINDS = (KIND, RP_KIND)
FORMAT = 2  # 1: checksum only; 2: declared scope, INCOMPLETE, JWS signature
JWS_TYPE = "psc-testkit-certification+jws"
UNSIGNED = "unsigned"
# The [certification] table of a target profile.
FIELDS = ("product", "version", "tester", "scope", "exclude")
RESULTS = ("PASSED", "INCOMPLETE", "FAILED")
# Why a requirement was not checked, from its checks' skip reasons (see why_skipped).
SAFE, DRIVER, PROFILE, FEATURE, NOT_RUN, ERROR = (
    "safe profile",
    "driver",
    "profile",
    "feature not offered",
    "not run",
    "error",
)
# Skips that say what the run could not do, not what the provider chose not to offer: one of
# these on any check of a requirement leaves the requirement not (fully) checked.
RUN_LIMITS = (SAFE, DRIVER, PROFILE)
EMBEDDED = re.compile(
    r'<script type="application/json" id="psc-certificate">(.*?)</script>', re.DOTALL
)


class CertificationError(Exception):
    """A certificate cannot be made or checked: one line for the operator."""


def _canonical(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def source_hash(root: Path = ROOT) -> str:
    """SHA-256 over the checks, schemas and library, file by file in path order."""
    digest = hashlib.sha256()
    for folder, pattern in SOURCES:
        for path in sorted((root / folder).rglob(pattern)):
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# The catalogue and the declared scope ----------------------------------------------------------


def catalogue(root: Path = ROOT) -> dict[str, str]:
    """Every requirement the suite's checks verify, with its level (MUST when any of its checks
    is a MUST), read from the `requirement(id, level)` markers of conformance/ — so a run that
    deselected checks (`-- -k ...`) still has the whole suite to answer to."""
    from psc_testkit.conformance.check_table import checks

    found: dict[str, str] = {}
    for check in checks(root):
        if found.get(check.requirement) != "MUST":
            found[check.requirement] = check.level
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class Declared:
    """The profile's [certification] table: who certifies what, and the scope claimed."""

    product: str | None = None
    version: str | None = None
    tester: str | None = None
    scope: tuple[str, ...] | None = None  # None: the whole catalogue
    exclude: tuple[str, ...] = ()


def declared(profile: Path | None) -> Declared:
    """Read [certification] from the profile (absent: every field at its default)."""
    if profile is None:
        return Declared()
    try:
        data = tomllib.loads(profile.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CertificationError(f"{profile}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CertificationError(f"{profile}: not valid TOML: {exc}") from None
    table = data.get("certification", {})
    where = f"{profile}: [certification]"
    if not isinstance(table, dict):
        raise CertificationError(f"{where} must be a table")
    for key in table:
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CertificationError(f"{where}: unknown field {key!r}{hint}")
    texts = {}
    for key in ("product", "version", "tester"):
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise CertificationError(f"{where}: {key} is a string, not {value!r}")
        texts[key] = value
    lists: dict[str, tuple[str, ...] | None] = {}
    for key in ("scope", "exclude"):
        value = table.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) and v for v in value)
        ):
            raise CertificationError(
                f"{where}: {key} is a list of requirement ids or prefixes, e.g. "
                f'["OIDCC", "RFC6749-5.2"], not {value!r}'
            )
        lists[key] = tuple(value) if value is not None else None
    return Declared(**texts, scope=lists["scope"], exclude=lists["exclude"] or ())


def matches(entry: str, requirement: str) -> bool:
    """A scope entry names a requirement id, or a prefix of ids cut at "-" or ".": "OIDCC",
    "OIDCC-3.1" (OIDCC-3.1.3.7-11, not OIDCC-3.10), "RFC6749-5.2"."""
    return (
        requirement == entry
        or requirement.startswith(entry + "-")
        or requirement.startswith(entry + ".")
    )


def scope_of(declaration: Declared, known: dict[str, str]) -> list[str]:
    """The requirements the certificate answers for; an entry that names none is an error (a
    typo would otherwise shrink the scope without a word)."""
    for key, entries in (("scope", declaration.scope or ()), ("exclude", declaration.exclude)):
        for entry in entries:
            if not any(matches(entry, r) for r in known):
                prefixes = sorted({r.split("-", 1)[0] for r in known} | set(known))
                close = difflib.get_close_matches(entry, prefixes, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise CertificationError(
                    f"[certification] {key}: {entry!r} names no requirement of the suite{hint}"
                )
    chosen = [
        r
        for r in known
        if declaration.scope is None or any(matches(e, r) for e in declaration.scope)
    ]
    return [r for r in chosen if not any(matches(e, r) for e in declaration.exclude)]


def why_skipped(message: str) -> str:
    """The kind of reason a check was skipped, from its (redacted) skip message."""
    text = message.removeprefix("Skipped: ")
    if text.startswith("safe profile"):
        return SAFE
    if "driver" in text:  # the manual driver's session, the ciba driver, "only the simulator..."
        return DRIVER
    if "the profile " in text or "the primary client is public" in text:
        return PROFILE  # the profile lacks the client or setting the check needs
    return FEATURE  # the provider does not advertise or issue what the check is about


# The document -----------------------------------------------------------------------------------


def profile_of(target: Target | None, summary: dict, declaration: Declared | None = None) -> dict:
    """What was tested, as the certificate shows it: no secret (by field name), bounded."""
    from psc_testkit.client.evidence import Redactor

    redact = Redactor()
    if target is not None:
        for client in target.clients:
            redact.keep(client.client_id)
            if client.secret:
                redact.add(client.secret)
        for value in target.driver_secrets:
            redact.add(value)

    def shown(value: object) -> object:
        return redact.message(value) if isinstance(value, str) else value

    declaration = declaration or Declared()
    declared_fields = {
        "product": shown(declaration.product),
        "version": shown(declaration.version),
        "tester": shown(declaration.tester),
    }
    if target is None:
        return {
            "name": shown(summary.get("target")),
            "discovery_url": shown(summary.get("discovery_url")),
            **declared_fields,
        }
    return {
        "name": shown(target.name),
        "discovery_url": shown(target.discovery_url),
        **declared_fields,
        "scopes": [shown(s) for s in target.scopes],
        "acr_values": shown(target.acr_values),
        "clients": [
            {"client_id": shown(c.client_id), "auth_method": c.auth_method} for c in target.clients
        ],
        "driver": target.driver.name,
        "sandbox": target.sandbox,
        "safe": target.safe,
    }


def _status(results: list[dict], not_run: str) -> tuple[str, list[dict]]:
    """A requirement's status from its checks, and why it was not (fully) checked."""
    if not results:
        return "not checked", [{"reason": NOT_RUN, "detail": not_run}]
    verdicts = [r["verdict"] for r in results]
    if "failed" in verdicts:
        return "failed", []
    gaps = []
    for result in results:
        if result["verdict"] == "error":
            gaps.append({"reason": ERROR, "check": result["check"], "detail": result["message"]})
        elif result["verdict"] == "skipped":
            reason = why_skipped(result["message"])
            if reason in RUN_LIMITS or all(v == "skipped" for v in verdicts):
                gaps.append(
                    {
                        "reason": reason,
                        "check": result["check"],
                        "detail": result["message"].removeprefix("Skipped: "),
                    }
                )
    if gaps:
        return "not checked", gaps
    return ("warning" if "warning" in verdicts else "passed"), []


def build(
    summary: dict,
    target: Target | None,
    profile: Path | None = None,
    *,
    declaration: Declared | None = None,
    known: dict[str, str] | None = None,
) -> dict:
    """The certificate of a run (unsigned): `summary` is its summary.json, `profile` the target
    profile whose [certification] table declares the scope."""
    from psc_testkit.client.evidence import Redactor

    declaration = declaration if declaration is not None else declared(profile)
    known = dict(known if known is not None else catalogue())
    results: dict[str, list[dict]] = {}
    for check in summary.get("checks", []):
        results.setdefault(check["requirement"], []).append(check)
        known.setdefault(check["requirement"], check["level"])  # a check the catalogue missed
    scope = scope_of(declaration, known)
    redact = Redactor()
    stopped = summary.get("stopped") or {}
    not_run = (
        f"the run stopped: {redact.message(str(stopped['reason']))}"
        if stopped.get("reason")
        else "no check of it ran in this run"
    )
    requirements = {}
    for requirement, level in sorted(known.items()):
        mine = sorted(results.get(requirement, []), key=lambda c: c["check"])
        evidence = [{k: c[k] for k in ("check", "verdict", "message", "evidence")} for c in mine]
        status, gaps = _status(mine, not_run)
        entry = summary.get("requirements", {}).get(requirement, {})
        requirements[requirement] = {
            "spec": entry.get("spec") or (mine[0]["spec"] if mine else ""),
            "level": level,
            "in_scope": requirement in scope,
            "verdict": status,
            "checks": {c["check"]: c["verdict"] for c in mine},
            "not_checked": gaps,
            "evidence_sha256": hashlib.sha256(_canonical(evidence)).hexdigest(),
        }
    scoped = [requirements[r] for r in scope]
    statuses = [r["verdict"] for r in scoped]
    # A failure is a failure in or out of the scope: the scope bounds what is claimed, and no
    # claim stands beside a check the provider failed.
    if any(r["verdict"] == "failed" for r in requirements.values()):
        result = "FAILED"
    elif "not checked" in statuses:
        result = "INCOMPLETE"
    else:
        result = "PASSED"
    not_checked = {
        r: {
            "level": requirements[r]["level"],
            "reasons": sorted({g["reason"] for g in requirements[r]["not_checked"]}),
        }
        for r in scope
        if requirements[r]["verdict"] == "not checked"
    }
    counts = {
        "in_scope": len(scope),
        "passed": statuses.count("passed"),
        "warning": statuses.count("warning"),
        "failed": statuses.count("failed"),
        "not_checked": statuses.count("not checked"),
        "out_of_scope": len(requirements) - len(scope),
        "checks": dict(sorted(summary.get("counts", {}).items())),
    }
    document = {
        "kind": KIND,
        "format": FORMAT,
        "suite": {"name": "psc-testkit", "version": __version__, "source_sha256": source_hash()},
        "profile": profile_of(target, summary, declaration),
        "scope": {
            "declared": list(declaration.scope) if declaration.scope is not None else None,
            "exclude": list(declaration.exclude),
            "requirements": scope,
        },
        "defects": [redact.message(d) for d in summary.get("defects", [])],
        "quirks": [redact.message(q) for q in summary.get("quirks", [])],
        "strict": summary.get("strict", False),
        "started": summary.get("started"),
        "result": result,
        "statement": statement(result, counts),
        "counts": counts,
        "not_checked": not_checked,
        "requirements": requirements,
    }
    document["checksum_sha256"] = hashlib.sha256(_canonical(document)).hexdigest()
    return document


def statement(result: str, counts: dict) -> str:
    """The verdict in one sentence, as the terminal and the HTML show it."""
    scope = counts["in_scope"]
    if result == "PASSED":
        return f"PASSED: all {scope} requirements in scope checked and held"
    if result == "FAILED":
        return f"FAILED: {counts['failed']} of {scope} requirements in scope failed"
    return (
        f"INCOMPLETE: {counts['not_checked']} of {scope} requirements in scope not checked "
        f"({scope - counts['not_checked']} checked and held)"
    )


# Signing and verifying ------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    key: object  # an Ed25519 or RSA private key (cryptography)
    alg: str
    kid: str  # SHA-256 of the public key's DER (openssl pkey -pubout -outform DER | sha256sum)


def _key_id(public: object) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _alg_of(key: object, path: Path) -> str:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise CertificationError(f"{path}: an RSA key of {key.key_size} bits: 2048 at least")
        return "RS256"
    raise CertificationError(f"{path}: not an Ed25519 or RSA key ({type(key).__name__})")


def load_signing_key(path: Path, password: str | None = None) -> SigningKey:
    """The operator's private key (PEM, Ed25519 or RSA; encrypted: `password`)."""
    from cryptography.hazmat.primitives import serialization

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CertificationError(f"{path}: {exc.strerror or exc}") from None
    try:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError:  # encrypted (a password set for a plain key is simply not used)
            if not password:
                raise CertificationError(
                    f"{path}: the key is encrypted: put its password in PSC_SIGN_KEY_PASSWORD"
                ) from None
            key = serialization.load_pem_private_key(data, password=password.encode())
    except ValueError as exc:
        if password and "password" in str(exc).lower():
            raise CertificationError(
                f"{path}: the password in PSC_SIGN_KEY_PASSWORD does not decrypt the key"
            ) from None
        raise CertificationError(f"{path}: not a PEM private key ({exc})") from None
    alg = _alg_of(key, path)
    return SigningKey(key=key, alg=alg, kid=_key_id(key.public_key()))  # type: ignore[attr-defined]


def signing_key_argument(value: str) -> SigningKey:
    """argparse `type=` for --sign-key: a bad key stops the command before the run, not after
    a run whose logins took a person half an hour."""
    import os

    try:
        return load_signing_key(Path(value), os.environ.get("PSC_SIGN_KEY_PASSWORD"))
    except CertificationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def load_public_key(path: Path) -> object:
    """The operator's public key (PEM: a public key, or an X.509 certificate holding one)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CertificationError(f"{path}: {exc.strerror or exc}") from None
    try:
        if b"BEGIN CERTIFICATE" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise CertificationError(f"{path}: not a PEM public key ({exc})") from None
    _alg_of(key, path)
    return key


def _payload(document: dict) -> bytes:
    """What the signature covers: the whole document but the signature, canonical JSON."""
    return _canonical({k: v for k, v in document.items() if k != "signature"})


def sign(document: dict, key: SigningKey | None) -> dict:
    """The document with its signature: a detached JWS (RFC 7515 appendix F) over its payload,
    or "unsigned" without a key."""
    import jwt

    unsigned = {k: v for k, v in document.items() if k != "signature"}
    if key is None:
        return {**unsigned, "signature": UNSIGNED}
    token = jwt.api_jws.PyJWS().encode(
        _payload(unsigned),
        key.key,  # type: ignore[arg-type]
        algorithm=key.alg,
        headers={"kid": key.kid, "typ": JWS_TYPE},
        is_payload_detached=True,
    )
    return {**unsigned, "signature": {"alg": key.alg, "kid": key.kid, "jws": token}}


def _checksum_problems(document: dict) -> list[str]:
    content = {k: v for k, v in document.items() if k not in ("checksum_sha256", "signature")}
    if hashlib.sha256(_canonical(content)).hexdigest() != document.get("checksum_sha256"):
        return ["the checksum does not match the content: the document was altered"]
    return []


def verify(document: dict, public_key: object | None = None) -> list[str]:
    """Why a certificate does not hold (empty when it does). With `public_key`, its JWS must
    verify with that key over this very document; without, only the checksum is compared
    (which anyone who edits the document can recompute: `verify-certification` says so)."""
    import jwt

    if document.get("kind") not in KINDS:
        return ["not a psc-testkit certificate"]
    problems = _checksum_problems(document)
    if public_key is None:
        return problems
    signature = document.get("signature")
    if signature == UNSIGNED or not isinstance(signature, dict):
        return ["the certificate is unsigned: nothing ties it to its operator"]
    token = str(signature.get("jws", ""))
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        return [f"the signature is not a JWS ({exc})"]
    kid = _key_id(public_key)
    if header.get("kid") != kid:
        return [
            f"signed with another key (key sha256 {str(header.get('kid'))[:16]}…), not the one "
            f"given ({kid[:16]}…)"
        ]
    try:
        jwt.api_jws.PyJWS().decode_complete(
            token,
            key=public_key,  # type: ignore[arg-type]
            algorithms=[_alg_of(public_key, Path("public key"))],
            detached_payload=_payload(document),
        )
    except jwt.PyJWTError:
        return ["the signature does not match the content: the document was altered"]
    return problems


def read(path: Path) -> tuple[dict, list[str]]:
    """A certificate from its JSON, or from the HTML that embeds it, and why it does not hold
    so far: the page's visible text must be exactly what the embedded document renders, so a
    verified HTML shows what was signed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CertificationError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    embedded = EMBEDDED.search(text) if text.lstrip().startswith("<") else None
    try:
        document = json.loads(embedded.group(1) if embedded else text)
    except ValueError as exc:
        raise CertificationError(f"{path}: not a certificate (no JSON: {exc})") from None
    if not isinstance(document, dict) or document.get("kind") not in KINDS:
        raise CertificationError(f"{path}: not a psc-testkit certificate")
    try:
        shown = render_html(document) if embedded else text
    except (KeyError, TypeError, AttributeError):
        return document, ["the embedded document is not whole: it was altered"]
    if embedded and shown != text:
        return document, ["the page shown differs from the document it embeds: it was edited"]
    return document, []


# The HTML ------------------------------------------------------------------------------------


def _embedded_json(document: dict) -> str:
    # "<" as its JSON escape: no "</script>" in the data can end the element early.
    return json.dumps(document, sort_keys=True, ensure_ascii=False).replace("<", "\\u003c")


def render_html(document: dict) -> str:
    requirements = document["requirements"]
    rows = "".join(
        f"<tr><td><code>{escape(r)}</code></td><td>{escape(e['spec'])}</td>"
        f"<td>{escape(e['level'])}</td><td>{'yes' if e['in_scope'] else 'no'}</td>"
        f'<td class="{escape(e["verdict"].replace(" ", "-"))}">{escape(e["verdict"])}</td>'
        f"<td><code>{escape(e['evidence_sha256'][:16])}…</code></td></tr>"
        for r, e in sorted(requirements.items())
    )
    gaps = "".join(
        f"<tr><td><code>{escape(r)}</code></td><td>{escape(e['level'])}</td>"
        f"<td>{escape(', '.join(e['reasons']))}</td><td>"
        + "<br>".join(
            escape((f"{g['check'].split('::')[-1]}: " if g.get("check") else "") + str(g["detail"]))
            for g in requirements[r]["not_checked"][:3]
        )
        + (
            f"<br>… and {len(requirements[r]['not_checked']) - 3} more"
            if len(requirements[r]["not_checked"]) > 3
            else ""
        )
        + "</td></tr>"
        for r, e in sorted(document["not_checked"].items())
    )
    profile = document["profile"]
    clients = ", ".join(
        f"{c['client_id']} ({c['auth_method']})" for c in profile.get("clients", [])
    )
    counts = document["counts"]
    order = ["passed", "warning", "info", "failed", "error", "skipped"]
    checks = (
        ", ".join(
            f"{n} {v}"
            for v, n in sorted(
                counts["checks"].items(),
                key=lambda item: (order.index(item[0]) if item[0] in order else 9, item[0]),
            )
        )
        or "none"
    )
    scope = document["scope"]
    declared_scope = (
        ", ".join(scope["declared"])
        if scope["declared"] is not None
        else "every requirement of the suite"
    )
    if scope["exclude"]:
        declared_scope += " except " + ", ".join(scope["exclude"])
    signature = document.get("signature", UNSIGNED)
    if isinstance(signature, dict):
        signed = (
            f"{escape(str(signature.get('alg')))}, key sha256 "
            f"<code>{escape(str(signature.get('kid')))}</code>"
        )
        how = "psc-testkit verify-certification certification.json --public-key KEY.pub"
    else:
        signed = '<strong class="failed">UNSIGNED</strong>: nothing ties it to its operator'
        how = "psc-testkit verify-certification certification.json --allow-unsigned"

    def field(name: str) -> str:
        value = profile.get(name)
        return escape(str(value)) if value else "<em>not declared</em>"

    def listed(values: list[str]) -> str:
        return escape(", ".join(values)) if values else "none"

    missing = (
        f"<h2>Not checked ({counts['not_checked']})</h2><table><tr><th>requirement</th>"
        f"<th>level</th><th>why</th><th>checks</th></tr>{gaps}</table>"
        if gaps
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>psc-testkit certification</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem}"
        "td,th{padding:.25rem .5rem;border-bottom:1px solid #ddd;text-align:left}"
        ".passed{color:#18753c}.failed,.error{color:#ce0500;font-weight:bold}"
        ".warning,.not-checked{color:#b34000}</style></head><body>"
        f'<h1>Certification report: <span id="result">{escape(document["result"])}</span></h1>'
        f'<p id="statement">{escape(document["statement"])}</p>'
        "<table>"
        f'<tr><th>product</th><td id="product">{field("product")}</td></tr>'
        f'<tr><th>version</th><td id="version">{field("version")}</td></tr>'
        f'<tr><th>tester</th><td id="tester">{field("tester")}</td></tr>'
        f"<tr><th>provider</th><td>{escape(str(profile.get('name')))} — "
        f"{escape(str(profile.get('discovery_url')))}</td></tr>"
        f"<tr><th>clients</th><td>{escape(clients)}</td></tr>"
        f"<tr><th>driver</th><td>{escape(str(profile.get('driver', '?')))}"
        f"{' (safe profile: no login)' if profile.get('safe') else ''}</td></tr>"
        f'<tr><th>declared scope</th><td id="scope">{escape(declared_scope)} '
        f"({counts['in_scope']} requirements)</td></tr>"
        f'<tr><th>requirements</th><td id="counts">{counts["in_scope"]} in scope: '
        f"{counts['passed']} passed, {counts['warning']} warned (SHOULD), "
        f"{counts['failed']} failed, {counts['not_checked']} not checked; "
        f"{counts['out_of_scope']} out of scope</td></tr>"
        f'<tr><th>checks</th><td id="checks">{escape(checks)}</td></tr>'
        f'<tr><th>injected defects</th><td id="defects">{listed(document["defects"])}</td></tr>'
        f'<tr><th>quirks</th><td id="quirks">{listed(document["quirks"])}</td></tr>'
        f"<tr><th>strict</th><td>{'yes' if document['strict'] else 'no'}</td></tr>"
        f"<tr><th>suite</th><td>psc-testkit {escape(document['suite']['version'])}, source "
        f"<code>{escape(document['suite']['source_sha256'])}</code></td></tr>"
        f"<tr><th>run</th><td>{escape(str(document['started']))}</td></tr>"
        f'<tr><th>signature</th><td id="signature">{signed}</td></tr>'
        f"<tr><th>checksum</th><td><code>{escape(document['checksum_sha256'])}</code></td></tr>"
        f"<tr><th>verify</th><td><code>{escape(how)}</code></td></tr></table>"
        f"{missing}<h2>Requirements</h2>"
        "<table><tr><th>requirement</th><th>spec</th><th>level</th><th>in scope</th>"
        f"<th>verdict</th><th>evidence digest</th></tr>{rows}</table>"
        '<script type="application/json" id="psc-certificate">'
        f"{_embedded_json(document)}</script></body></html>\n"
    )


def write(document: dict, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "certification.json", folder / "certification.html"
    json_path.write_text(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    html_path.write_text(render_html(document), encoding="utf-8")
    return json_path, html_path
