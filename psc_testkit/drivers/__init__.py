"""Login drivers: how the professional authenticates at the provider.

A driver takes the browser (an httpx client with the user's cookies) and an authorization URL,
does what the person would do, and returns what came back to the client's redirect URI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import httpx

from psc_testkit.config import DriverProfile
from psc_testkit.flow import AuthorizationResponse

if TYPE_CHECKING:
    from psc_testkit.config import Target
    from psc_testkit.evidence import Recorder

DRIVERS = ("simulator", "html_form", "browser", "ciba", "manual")


class LoginError(Exception):
    """The driver could not complete the login; the message says at which step and why."""


class NoFrontChannel(LoginError):
    """The driver cannot log in through the authorization endpoint at all (CIBA): checks that
    need a front-channel login are skipped with this reason, not failed."""


class Driver(Protocol):
    def authenticate(
        self, browser: httpx.Client, url: str, redirect_uri: str, user: str
    ) -> AuthorizationResponse: ...


def make_driver(
    profile: DriverProfile, target: Target | None = None, recorder: Recorder | None = None
) -> Driver:
    """The profile's driver. `target` gives the browser driver the CA to trust and `recorder`
    lets it record the pages it went through, as the httpx drivers' client does."""
    if profile.name == "simulator":
        from psc_testkit.drivers.simulator import SimulatorDriver

        return SimulatorDriver(profile)
    if profile.name == "html_form":
        from psc_testkit.destinations import Destinations
        from psc_testkit.drivers.html_form import HtmlFormDriver

        return HtmlFormDriver(profile, Destinations(target) if target else None)
    if profile.name == "browser":
        from psc_testkit.destinations import Destinations
        from psc_testkit.drivers.browser import BrowserDriver

        return BrowserDriver(
            profile,
            ca_file=target.ca_file if target else None,
            recorder=recorder,
            destinations=Destinations(target) if target else None,
        )
    if profile.name == "ciba":
        from psc_testkit.drivers.ciba import CibaDriver

        return CibaDriver(profile)
    if profile.name == "manual":
        from psc_testkit.drivers.manual import ManualDriver

        return ManualDriver(profile)
    raise LoginError(f"unknown login driver {profile.name!r} ({', '.join(DRIVERS)})")
