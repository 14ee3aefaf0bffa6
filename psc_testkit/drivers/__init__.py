"""Login drivers: how the professional authenticates at the provider.

A driver takes the browser (an httpx client with the user's cookies) and an authorization URL,
does what the person would do, and returns what came back to the client's redirect URI.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from psc_testkit.config import DriverProfile
from psc_testkit.flow import AuthorizationResponse


class LoginError(Exception):
    """The driver could not complete the login; the message says at which step and why."""


class Driver(Protocol):
    def authenticate(
        self, browser: httpx.Client, url: str, redirect_uri: str, user: str
    ) -> AuthorizationResponse: ...


def make_driver(profile: DriverProfile) -> Driver:
    if profile.name == "simulator":
        from psc_testkit.drivers.simulator import SimulatorDriver

        return SimulatorDriver(profile)
    if profile.name == "html_form":
        from psc_testkit.drivers.html_form import HtmlFormDriver

        return HtmlFormDriver(profile)
    raise LoginError(f"unknown login driver {profile.name!r} (simulator, html_form)")
