"""Logs in through the embedded simulator's pages as a test professional (CPS card or e-CPS)."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import urljoin

import httpx

from psc_testkit.config import DriverProfile
from psc_testkit.drivers import LoginError
from psc_testkit.drivers.common import callback_of, no_redirect
from psc_testkit.flow import AuthorizationResponse

TX = re.compile(r'name="tx" value="([^"]+)"')
ECPS_TIMEOUT = 60.0


class SimulatorDriver:
    def __init__(self, profile: DriverProfile) -> None:
        self.method = "ecps" if profile.method == "ecps" else "cps"

    def authenticate(
        self, browser: httpx.Client, url: str, redirect_uri: str, user: str
    ) -> AuthorizationResponse:
        response = browser.get(url)
        if (done := callback_of(response, redirect_uri)) is not None:
            return done  # silent: the SSO session answered
        if response.status_code != 200 or not (match := TX.search(response.text)):
            return no_redirect(response)
        login_url = urljoin(str(response.url), "/auth/login")
        # The tx as the page's attribute has it, unescaped: an awkward tx's & is &amp; there.
        response = browser.post(
            login_url,
            data={"tx": html.unescape(match.group(1)), "method": self.method, "idNat": user},
        )
        deadline = time.monotonic() + ECPS_TIMEOUT
        while response.status_code == 303 or (
            response.status_code == 200 and 'id="ecps-pending"' in response.text
        ):
            if time.monotonic() > deadline:
                raise LoginError("the e-CPS approval did not come in time")
            if response.status_code == 200:
                time.sleep(0.2)
                wait_url = str(response.url)
            else:
                wait_url = urljoin(str(response.url), response.headers["location"])
            response = browser.get(wait_url)
        if (done := callback_of(response, redirect_uri)) is not None:
            return done
        if response.status_code in (400, 401):
            raise LoginError(
                f"the simulator refused the login of {user}: HTTP {response.status_code}"
            )
        return no_redirect(response)
