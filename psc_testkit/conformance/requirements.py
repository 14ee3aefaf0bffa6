"""Requirement ids (the OpenID Foundation suite's vocabulary, plus PSC-…) and their specs."""

from __future__ import annotations

from dataclasses import dataclass

# MAY: what a spec allows either way (advertising `none`, slow_down, the token in a form body):
# the check reports what it saw as "info" and never fails a run, not even with --strict.
LEVELS = ("MUST", "SHOULD", "MAY")


@dataclass(frozen=True)
class Spec:
    prefix: str
    title: str
    url: str  # the section anchor is appended where the spec's HTML has one


SPECS = [
    Spec(
        "OIDCC", "OpenID Connect Core 1.0", "https://openid.net/specs/openid-connect-core-1_0.html#"
    ),
    Spec(
        "OIDCD",
        "OpenID Connect Discovery 1.0",
        "https://openid.net/specs/openid-connect-discovery-1_0.html#",
    ),
    Spec(
        "OIDCRIL",
        "OpenID Connect RP-Initiated Logout 1.0",
        "https://openid.net/specs/openid-connect-rpinitiated-1_0.html#",
    ),
    Spec(
        "CIBA",
        "OpenID Connect CIBA Core 1.0",
        "https://openid.net/specs/openid-client-initiated-backchannel-authentication-core-1_0.html#",
    ),
    Spec("RFC6749", "OAuth 2.0 (RFC 6749)", "https://www.rfc-editor.org/rfc/rfc6749#section-"),
    Spec(
        "RFC6750",
        "Bearer Token Usage (RFC 6750)",
        "https://www.rfc-editor.org/rfc/rfc6750#section-",
    ),
    Spec(
        "RFC7009", "Token Revocation (RFC 7009)", "https://www.rfc-editor.org/rfc/rfc7009#section-"
    ),
    Spec("RFC7517", "JSON Web Key (RFC 7517)", "https://www.rfc-editor.org/rfc/rfc7517#section-"),
    Spec(
        "RFC6819",
        "OAuth 2.0 Threat Model (RFC 6819)",
        "https://www.rfc-editor.org/rfc/rfc6819#section-",
    ),
    Spec(
        "RFC7518",
        "JSON Web Algorithms (RFC 7518)",
        "https://www.rfc-editor.org/rfc/rfc7518#section-",
    ),
    Spec(
        "OAUTH2-FP",
        "OAuth 2.0 Form Post Response Mode",
        "https://openid.net/specs/oauth-v2-form-post-response-mode-1_0.html#",
    ),
    Spec("RFC7636", "PKCE (RFC 7636)", "https://www.rfc-editor.org/rfc/rfc7636#section-"),
    Spec(
        "RFC7662",
        "Token Introspection (RFC 7662)",
        "https://www.rfc-editor.org/rfc/rfc7662#section-",
    ),
    Spec(
        "RFC8414",
        "Authorization Server Metadata (RFC 8414)",
        "https://www.rfc-editor.org/rfc/rfc8414#section-",
    ),
    Spec(
        "RFC8705",
        "Mutual-TLS Client Authentication (RFC 8705)",
        "https://www.rfc-editor.org/rfc/rfc8705#section-",
    ),
    Spec(
        "RFC8252",
        "OAuth 2.0 for Native Apps (RFC 8252)",
        "https://www.rfc-editor.org/rfc/rfc8252#section-",
    ),
    Spec(
        "RFC9068",
        "JWT Profile for OAuth 2.0 Access Tokens (RFC 9068)",
        "https://www.rfc-editor.org/rfc/rfc9068#section-",
    ),
    Spec(
        "RFC9207",
        "Authorization Server Issuer Identification (RFC 9207)",
        "https://www.rfc-editor.org/rfc/rfc9207#section-",
    ),
    Spec(
        "RFC9700",
        "OAuth 2.0 Security Best Current Practice (RFC 9700)",
        "https://www.rfc-editor.org/rfc/rfc9700#section-",
    ),
    Spec(
        "PSC",
        "Pro Santé Connect",
        "https://industriels.esante.gouv.fr/produits-et-services/pro-sante-connect#",
    ),
]


def spec_of(requirement: str) -> Spec:
    """The spec whose prefix (the longest that fits: OAUTH2-FP before OAUTH2) opens the id."""
    matches = [
        s for s in SPECS if requirement.startswith(s.prefix + "-") or requirement == s.prefix
    ]
    if matches:
        return max(matches, key=lambda s: len(s.prefix))
    prefix = requirement.split("-", 1)[0]
    return Spec(prefix, prefix, "")


def section_of(requirement: str) -> str:
    """ "OIDCC-3.1.3.7-11" → "3.1.3.7" (the part a reader looks up)."""
    rest = requirement[len(spec_of(requirement).prefix) + 1 :]
    return rest.split("-")[0]


def link(requirement: str) -> str:
    spec = spec_of(requirement)
    section = section_of(requirement)
    if not spec.url or not section:
        return spec.url.rstrip("#")
    if spec.prefix.startswith("RFC"):
        return spec.url + section
    return spec.url.rstrip("#")


def severity(level: str) -> str:
    return "critical" if level == "MUST" else "normal"
