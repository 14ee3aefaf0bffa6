"""Named defects the simulator can be started with, each breaking exactly one requirement.

A conformance check that cannot fail is a defect of the suite: each check is proven by starting
the simulator with the defect it exists to catch. The behaviour a defect alters tests
`name in state.defects` right where that behaviour is, so reading the code shows both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defect:
    name: str
    requirement: str
    description: str


_ALL = [
    Defect(
        "discovery-issuer-mismatch",
        "OIDCD-4.3",
        "discovery's issuer differs from the URL the document was retrieved from",
    ),
    Defect(
        "jwks-private-material",
        "RFC7517-9.3",
        "the JWKS publishes the private RSA parameters of the signing key",
    ),
    Defect(
        "state-not-echoed",
        "RFC6749-4.1.2",
        "the authorization response omits the state the client sent",
    ),
    Defect(
        "redirect-uri-not-checked",
        "OIDCC-3.1.2.1",
        "the authorization endpoint redirects to an unregistered redirect_uri",
    ),
    Defect(
        "code-reusable", "RFC6749-4.1.2", "an authorization code can be exchanged more than once"
    ),
    Defect(
        "pkce-not-enforced",
        "RFC7636-4.6",
        "the token endpoint ignores a wrong or missing code_verifier",
    ),
    Defect(
        "token-cache-control-missing", "RFC6749-5.1", "token responses lack Cache-Control: no-store"
    ),
    Defect(
        "nonce-not-echoed",
        "OIDCC-3.1.3.7-11",
        "the ID token omits the nonce of the authorization request",
    ),
    Defect(
        "id-token-wrong-aud", "OIDCC-3.1.3.7-3", "the ID token's aud does not contain the client_id"
    ),
    Defect("id-token-expired", "OIDCC-3.1.3.7-9", "the ID token is issued already expired"),
    Defect(
        "id-token-bad-signature",
        "OIDCC-3.1.3.7-6",
        "the ID token's signature does not verify with the JWKS",
    ),
    Defect(
        "at-hash-wrong", "OIDCC-3.3.2.11", "the ID token's at_hash does not match the access token"
    ),
    Defect(
        "userinfo-sub-mismatch", "OIDCC-5.3.2", "userinfo returns a sub other than the ID token's"
    ),
    Defect(
        "token-endpoint-flaky",
        "PSC-AVAILABILITY",
        "about 1 % of token requests fail with 503 (for availability SLOs)",
    ),
]

DEFECTS: dict[str, Defect] = {d.name: d for d in _ALL}


class UnknownDefect(ValueError):
    pass


class ActiveDefects:
    """The defects switched on; asking for a name that is not registered is a programming error."""

    def __init__(self, names: list[str] | tuple[str, ...] = ()) -> None:
        unknown = [n for n in names if n not in DEFECTS]
        if unknown:
            raise UnknownDefect(
                f"unknown defect(s) {', '.join(unknown)}; "
                "see `psc-testkit simulator --list-defects`"
            )
        self.names = frozenset(names)

    def __contains__(self, name: str) -> bool:
        if name not in DEFECTS:
            raise KeyError(f"defect {name!r} is not registered")
        return name in self.names

    def __bool__(self) -> bool:
        return bool(self.names)


def listing() -> str:
    width = max(len(d.name) for d in _ALL)
    req = max(len(d.requirement) for d in _ALL)
    return "\n".join(f"{d.name:<{width}}  {d.requirement:<{req}}  {d.description}" for d in _ALL)
