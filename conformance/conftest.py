"""Fixtures of the conformance suite. The target, harness, markers and reports come from the
psc_testkit plugin; here are the artefacts checks share, each fetched once per run."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest

from psc_testkit.client.evidence import Exchange
from psc_testkit.conformance.harness import Fetched, Harness, Login, TargetError, Tokens


@pytest.fixture(scope="session")
def discovery(harness: Harness) -> Fetched:
    return harness.discovery


@pytest.fixture(scope="session")
def meta(discovery: Fetched) -> dict:
    return discovery.data


@pytest.fixture(scope="session")
def jwks(harness: Harness) -> Fetched:
    return harness.jwks


@dataclass
class Happy:
    """One complete code flow, as `oidcc-server` runs it: many checks read its artefacts."""

    login: Login
    tokens: Tokens
    userinfo: httpx.Response
    exchanges: list[Exchange] = field(default_factory=list)


@pytest.fixture(scope="session")
def happy(harness: Harness) -> Happy:
    login = harness.code()
    tokens = harness.exchange(login)
    if (failure := tokens.failure()) is not None:
        raise TargetError(f"the token request failed: {failure}")
    with harness.recorder.capture() as exchanges:
        info = harness.userinfo(tokens.access_token, client_id=login.client.client_id)
    return Happy(login, tokens, info, login.exchanges + tokens.exchanges + exchanges)


@pytest.fixture
def fresh_tokens(harness: Harness) -> Tokens:
    """Tokens of a new code, for checks that use them up (reuse, revocation, refresh)."""
    return harness.tokens()
