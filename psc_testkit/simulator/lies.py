"""RP-side lies: what the simulator serves a relying party under test, one hostile artefact at a
time, so that RP certification can see whether the app refuses it.

A defect (defects.py) is fixed at start and breaks the provider for a conformance check; a lie
is switched at run time (`POST /_simulator/lie`, only with `--rp`) and stays until the next one,
so an RP test plan runs its tests in sequence on one simulator. Each lie isolates one flaw: the
artefact is correct in every other respect (signature, nonce, at_hash, times), so only the check
it targets can refuse it. A lie either switches on defects whose behaviour already exists
(`defects`), or has behaviour of its own, written where that behaviour is and testing
`p.lie == name` (`lies.NAME` constants below).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from psc_testkit.simulator.settings import ClientSettings

# Lies with behaviour of their own (the others only switch on defects).
EXTRA_AUD_WITHOUT_AZP = "id-token-extra-aud-without-azp"
SUB_MISSING = "id-token-sub-missing"
NONCE_WRONG = "id-token-nonce-wrong"
ALG_NONE = "id-token-alg-none"
FOREIGN_KEY = "id-token-foreign-key"
UNKNOWN_KID = "id-token-unknown-kid"
HS256_SECRET = "id-token-hs256-client-secret"
KEY_ROTATED = "id-token-after-key-rotation"
KID_ABSENT = "id-token-kid-absent-single-key"
ACR_ABSENT = "id-token-acr-absent"
STATE_WRONG = "callback-state-wrong"
ACCESS_DENIED = "callback-access-denied"
CODE_OF_ANOTHER_CLIENT = "callback-code-of-another-client"
USERINFO_OTHER = "userinfo-other-professional"
NO_SUBJECT_REF_PRO = "userinfo-without-subjectrefpro"
EXERCICES_REORDERED = "userinfo-exercices-reordered"
# The client the code-of-another-client lie binds a code to (registered by `--rp`).
OTHER_CLIENT = "psc-testkit-rp-other-client"


@dataclass(frozen=True)
class Lie:
    name: str
    # Where the lie is served: the ID token (token response), the callback (front channel),
    # UserInfo, or the JWKS with the ID token.
    channel: str
    description: str
    defects: tuple[str, ...] = ()


def _l(name: str, channel: str, description: str, *defects: str) -> Lie:
    return Lie(name, channel, description, defects)


ID_TOKEN, CALLBACK, USERINFO = "id_token", "callback", "userinfo"

# fmt: off
_ALL = [
    # ID tokens, each valid but for one thing (OIDC Core §3.1.3.7).
    _l("id-token-wrong-iss", ID_TOKEN, "iss is not the issuer", "id-token-wrong-iss"),
    _l("id-token-aud-without-client", ID_TOKEN,
       "aud names another client, not this one (azp still names it)", "id-token-wrong-aud"),
    _l(EXTRA_AUD_WITHOUT_AZP, ID_TOKEN,
       "aud is [this client, another one] and there is no azp"),
    _l(SUB_MISSING, ID_TOKEN, "no sub claim"),
    _l("id-token-expired", ID_TOKEN, "exp an hour before iat", "id-token-expired"),
    _l("id-token-iat-future", ID_TOKEN, "iat an hour ahead", "id-token-iat-future"),
    _l(NONCE_WRONG, ID_TOKEN, "nonce is not the one the app sent"),
    _l(ALG_NONE, ID_TOKEN,
       "unsigned (alg none); no at_hash either, since none names no hash to compute it with"),
    _l("id-token-bad-signature", ID_TOKEN, "the RS256 signature does not verify",
       "id-token-bad-signature"),
    _l(FOREIGN_KEY, ID_TOKEN,
       "signed by a key that is not in the JWKS, under the kid of the provider's key"),
    _l(UNKNOWN_KID, ID_TOKEN,
       "signed by a key that is not in the JWKS, under a kid the JWKS does not have"),
    _l(HS256_SECRET, ID_TOKEN,
       "HS256 with the client secret as key, for a client registered for RS256"),
    _l(KID_ABSENT, ID_TOKEN,
       "no kid in the header, one signing key in the JWKS (must be accepted)",
       "id-token-no-kid"),
    _l(KEY_ROTATED, ID_TOKEN,
       "the provider rotates its signing key just before signing: a kid the app has not seen "
       "(must be accepted once the JWKS is fetched again)"),
    _l("id-token-acr-below-requested", ID_TOKEN,
       'acr "eidas0", below the eidas1 the app asked for (valid signature, nonce and hash)',
       "acr-below-requested"),
    _l(ACR_ABSENT, ID_TOKEN, "no acr claim"),
    # The callback (front channel).
    _l(STATE_WRONG, CALLBACK, "the callback's state is not the one the app sent"),
    _l("callback-state-missing", CALLBACK, "the callback has no state", "state-not-echoed"),
    _l(ACCESS_DENIED, CALLBACK, "the callback is error=access_denied (the user refused)"),
    _l(CODE_OF_ANOTHER_CLIENT, CALLBACK,
       "the callback's code was issued to another client (the token endpoint refuses it)"),
    _l("callback-iss-of-another-issuer", CALLBACK,
       "the callback's iss parameter (RFC 9207) names another issuer", "iss-parameter-wrong"),
    # UserInfo (OIDC Core §5.3.4).
    _l("userinfo-sub-mismatch", USERINFO, "UserInfo's sub is not the ID token's",
       "userinfo-sub-mismatch"),
    _l(USERINFO_OTHER, USERINFO, "UserInfo describes another professional, sub included"),
    _l(NO_SUBJECT_REF_PRO, USERINFO,
       "UserInfo without SubjectRefPro (PSC's sectoral claims may be absent, fact sheet §3.3)"),
    _l(EXERCICES_REORDERED, USERINFO,
       "UserInfo lists the professional's exercices in the reverse order (a compliant answer)"),
    _l("userinfo-signed-bad-signature", USERINFO,
       "signed UserInfo whose signature does not verify (clients registered for it)",
       "signed-userinfo-bad-signature"),
]
# fmt: on

LIES: dict[str, Lie] = {lie.name: lie for lie in _ALL}


class UnknownLie(ValueError):
    pass


def get(name: str) -> Lie:
    lie = LIES.get(name)
    if lie is None:
        raise UnknownLie(f"unknown lie {name!r}; known: {', '.join(LIES)}")
    return lie


def listing() -> str:
    width = max(len(lie.name) for lie in _ALL)
    return "\n".join(f"{lie.name:<{width}}  {lie.channel:<8}  {lie.description}" for lie in _ALL)


def other_client() -> ClientSettings:
    """The client the code-of-another-client lie binds a code to: registered, never used."""
    return ClientSettings(
        OTHER_CLIENT,
        "client_secret_basic",
        ("https://other-app.invalid/callback",),
        client_secret=secrets.token_urlsafe(32),
    )
