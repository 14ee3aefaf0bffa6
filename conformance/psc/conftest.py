"""PSC checks look at several test professionals, not one: each gets a login of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from psc_testkit.client import flow
from psc_testkit.client.tokens import decode
from psc_testkit.conformance.harness import Harness, Tokens, json_body


@dataclass
class Professional:
    user: str
    tokens: Tokens
    userinfo: dict
    introspection: dict | None
    exchanges: list = field(default_factory=list)

    @property
    def id_token(self) -> dict:
        return self.tokens.id_token.claims if self.tokens.id_token else {}

    @property
    def access_token(self) -> dict:
        try:
            return decode(self.tokens.access_token).claims
        except ValueError:
            return {}


def log_in(harness: Harness, index: int) -> Professional:
    user = harness.user(index)
    browser = harness.http.new_browser()
    tokens = harness.tokens(user=user, browser=browser)
    with harness.recorder.capture() as exchanges:
        response = harness.userinfo(tokens.access_token, client_id=tokens.client.client_id)
        introspection = None
        if "introspection_endpoint" in harness.meta and not tokens.client.public:
            answer = harness.send(
                flow.introspection_request(harness.meta, tokens.client, tokens.access_token)
            )
            introspection = json_body(answer)
            if introspection is not None and introspection.get("active") is not True:
                # Only an active answer has content to judge; its activity is RFC 7662's check
                # (test_active_access_token_is_active), which knows when it cannot judge it.
                introspection = None
    info = json_body(response)
    if info is None:
        pytest.fail(f"UserInfo is not a JSON object: HTTP {response.status_code}")
    return Professional(user, tokens, info, introspection, tokens.exchanges + exchanges)


@pytest.fixture(scope="session")
def professionals(harness, target) -> list[Professional]:
    return [log_in(harness, i) for i in range(max(1, target.psc_sample_size))]
