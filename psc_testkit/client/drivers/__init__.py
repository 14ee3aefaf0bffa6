"""Login drivers: how the professional authenticates at the provider.

A driver takes the browser (an httpx client with the user's cookies) and an authorization URL,
does what the person would do, and returns what came back to the client's redirect URI.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NoReturn, Protocol

import httpx

from psc_testkit.client.config import DriverProfile
from psc_testkit.client.errors import RunStopped
from psc_testkit.client.flow import AuthorizationResponse

if TYPE_CHECKING:
    from psc_testkit.client.config import Target
    from psc_testkit.client.evidence import Recorder

DRIVERS = ("simulator", "html_form", "browser", "ciba", "manual")


class LoginError(Exception):
    """The driver could not complete the login; the message says at which step and why."""


class NoFrontChannel(LoginError):
    """The driver cannot log in through the authorization endpoint at all (CIBA): checks that
    need a front-channel login are skipped with this reason, not failed."""


class LoginRefused(LoginError):
    """The provider refused the credentials (its login form came back after they were
    submitted): they were not posted again, and the run's LoginBudget counted it."""


# Refused logins a run may cost. Providers lock an account after a few failures in a row
# (Keycloak's brute-force detection, an LDAP password policy); a locked test account costs a
# tester days, a stopped run a minute.
LOGIN_FAILURES_LIMIT = 3


class LoginBudget:
    """The refused logins of one run (one driver: the harness makes one per run). Only
    refusals of the credentials count, never an error page a check provoked on purpose: those
    come before any credential is typed, or after a login that worked."""

    def __init__(self, limit: int = LOGIN_FAILURES_LIMIT) -> None:
        self.limit = limit
        self.reasons: list[str] = []

    def line(self) -> str:
        last = re.sub(r" \([^()]*\)$", "", self.reasons[-1])  # "(not posted again)": said
        return (
            f"{len(self.reasons)} logins failed in this run ({last}): stopped before the "
            "provider locks the account; check the profile's credentials"
        )

    def check(self) -> None:
        """Before a login: once the budget is spent, no credential goes to the provider."""
        if len(self.reasons) >= self.limit:
            raise RunStopped(self.line())

    def refused(self, reason: str) -> NoReturn:
        """The provider refused a login: LoginRefused, or RunStopped on the last allowed."""
        self.reasons.append(reason)
        self.check()
        raise LoginRefused(reason)


def fill(text: str, profile: DriverProfile, user: str) -> str:
    """A field's or a step's value for this login: "{user}" is the professional's identifier,
    "{password}" the password the profile gives that user (users = [{login, password}])."""
    text = text.replace("{user}", user)
    if "{password}" in text:
        password = profile.passwords.get(user)
        if password is None:
            raise LoginError(
                f"no password for the user {user!r}: give it in [driver] users "
                '(users = [{ login = "...", password = "{env:NAME}" }])'
            )
        text = text.replace("{password}", password)
    return text


class Driver(Protocol):
    def authenticate(
        self, browser: httpx.Client, url: str, redirect_uri: str, user: str
    ) -> AuthorizationResponse: ...


def make_driver(
    profile: DriverProfile,
    target: Target | None = None,
    recorder: Recorder | None = None,
    budget: LoginBudget | None = None,
) -> Driver:
    """The profile's driver. `target` gives the browser driver the CA to trust and `recorder`
    lets it record the pages it went through, as the httpx drivers' client does. The drivers
    that type a password count their refused logins in `budget` (a new one: one per run)."""
    budget = budget or LoginBudget()
    if profile.name == "simulator":
        from psc_testkit.client.drivers.simulator import SimulatorDriver

        return SimulatorDriver(profile)
    if profile.name == "html_form":
        from psc_testkit.client.destinations import Destinations
        from psc_testkit.client.drivers.html_form import HtmlFormDriver

        return HtmlFormDriver(profile, Destinations(target) if target else None, budget)
    if profile.name == "browser":
        from psc_testkit.client.destinations import Destinations
        from psc_testkit.client.drivers.browser import BrowserDriver

        return BrowserDriver(
            profile,
            ca_file=target.ca_file if target else None,
            recorder=recorder,
            destinations=Destinations(target) if target else None,
            budget=budget,
        )
    if profile.name == "ciba":
        from psc_testkit.client.drivers.ciba import CibaDriver

        return CibaDriver(profile)
    if profile.name == "manual":
        from psc_testkit.client.drivers.manual import ManualDriver

        return ManualDriver(profile)
    raise LoginError(f"unknown login driver {profile.name!r} ({', '.join(DRIVERS)})")
