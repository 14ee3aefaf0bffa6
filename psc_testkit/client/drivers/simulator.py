"""Logs in through the embedded simulator's pages as a test professional (CPS card or e-CPS)."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import urljoin

import httpx

from psc_testkit.client.config import DriverProfile
from psc_testkit.client.drivers import LoginError
from psc_testkit.client.drivers.common import answered, callback_of, follow, no_redirect
from psc_testkit.client.flow import AuthorizationResponse, parse_forms

TX = re.compile(r'name="tx" value="([^"]+)"')
ECPS_TIMEOUT = 60.0
# Pages a login may show before the answer: the login form, the e-CPS wait page (each poll is
# one), a consent page. More means the pages loop.
MAX_PAGES = 400


class SimulatorDriver:
    def __init__(self, profile: DriverProfile) -> None:
        self.method = "ecps" if profile.method == "ecps" else "cps"

    def authenticate(
        self, browser: httpx.Client, url: str, redirect_uri: str, user: str
    ) -> AuthorizationResponse:
        response = browser.get(url)
        logged_in = False
        deadline = time.monotonic() + ECPS_TIMEOUT
        for _ in range(MAX_PAGES):
            # Redirect hops and self-submitting pages inside the provider, as a browser does.
            response = follow(browser, response, redirect_uri)
            if (done := callback_of(response, redirect_uri)) is not None:
                return answered(done, logged_in)  # silent when the SSO session answered
            if response.status_code != 200:
                if logged_in and response.status_code in (400, 401):
                    raise LoginError(
                        f"the simulator refused the login of {user}: HTTP {response.status_code}"
                    )
                return answered(no_redirect(response), logged_in)
            page = response.text
            if 'id="ecps-pending"' in page:
                if time.monotonic() > deadline:
                    raise LoginError("the e-CPS approval did not come in time")
                time.sleep(0.2)
                response = browser.get(str(response.url))
            elif match := TX.search(page):
                if logged_in:
                    raise LoginError("the login form came back (not posted again)")
                logged_in = True
                # The tx as the page's attribute has it, unescaped: an awkward tx's & is &amp;.
                tx = html.unescape(match.group(1))
                response = browser.post(
                    urljoin(str(response.url), "/auth/login"),
                    data={"tx": tx, "method": self.method, "idNat": user},
                )
            elif consent := next((f for f in parse_forms(page) if f["id"] == "consent"), None):
                # What the user clicks: "Allow" (its hidden fields and the named button).
                data = {i["name"]: i.get("value", "") for i in consent["inputs"] if i.get("name")}
                response = browser.post(urljoin(str(response.url), consent["action"]), data=data)
            else:
                return answered(no_redirect(response), logged_in)
        raise LoginError(f"no way back to the client after {MAX_PAGES} pages")
