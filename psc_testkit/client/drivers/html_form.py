"""Generic login through HTML forms, as Keycloak or LemonLDAP::NG render them.

Follows redirects within the provider, finds the form that has the configured fields, fills
them ("{user}" is the professional's identifier, "{password}" that user's password), keeps
hidden inputs and checked defaults, and submits; a form with none of the configured fields (a
consent page) is submitted as it is. Nothing here knows the simulator: only the profile's field
names do.

A form whose fields were already submitted in this login means the provider refused them: the
login stops there (never a second post: a provider may lock the account), and the run's
LoginBudget counts it.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import httpx

from psc_testkit.client.config import DriverProfile
from psc_testkit.client.destinations import Destinations
from psc_testkit.client.drivers import LoginBudget, LoginError, fill
from psc_testkit.client.drivers.common import answered, callback_of, no_redirect
from psc_testkit.client.flow import AuthorizationResponse, parse_forms

SUBMIT_TYPES = {"submit", "image"}


REFUSED = "the login form came back: check [driver.fields] and the password (not posted again)"


def _form_data(form: dict, profile: DriverProfile, user: str) -> dict[str, str]:
    data: dict[str, str] = {}
    for field in form["inputs"]:
        name = field.get("name")
        if not name:
            continue
        kind = field.get("type", "text").lower()
        if kind in ("radio", "checkbox"):
            if "checked" in field and name not in data:
                data[name] = field.get("value", "on")
        elif kind in SUBMIT_TYPES or field["tag"] == "button":
            continue
        else:
            data.setdefault(name, field.get("value", ""))
    for name, value in profile.fields.items():
        data[name] = fill(value, profile, user)
    # The first submit button with a name is what a person clicks (e.g. Keycloak's "login").
    for field in form["inputs"]:
        if (
            field.get("type", "submit").lower() in SUBMIT_TYPES or field["tag"] == "button"
        ) and field.get("name"):
            data.setdefault(field["name"], field.get("value", ""))
            break
    return data


class HtmlFormDriver:
    def __init__(
        self,
        profile: DriverProfile,
        destinations: Destinations | None = None,
        budget: LoginBudget | None = None,
    ) -> None:
        if not profile.fields:
            raise LoginError("the html_form driver needs [driver.fields] in the profile")
        self.profile = profile
        self.fields = profile.fields
        self.max_steps = profile.max_steps
        self.destinations = destinations
        self.budget = budget or LoginBudget()

    def _go(self, url: str, fields: bool = False) -> None:
        """Refuse to follow the login to a host the profile does not name, and to submit the
        profile's fields (a password) where credentials may not go."""
        if self.destinations is None:
            return
        host = urlsplit(url).hostname or ""
        if not self.destinations.trusts(host):
            raise LoginError(
                f"the login went to {host or repr(url)}, a host the profile does not name: list it "
                "in [target] trusted_hosts if it is the provider's"
            )
        if fields and (problem := self.destinations.problem(url, "the login form")) is not None:
            raise LoginError(problem)

    def authenticate(
        self, browser: httpx.Client, url: str, redirect_uri: str, user: str
    ) -> AuthorizationResponse:
        self.budget.check()
        self._go(url)
        response = browser.get(url)
        submitted: set[frozenset[str]] = set()  # the profile's fields of each form sent
        for _ in range(self.max_steps):
            # any(submitted): a form with the profile's fields was filled (a consent form's
            # fields are the empty set).
            if (done := callback_of(response, redirect_uri)) is not None:
                return answered(done, any(submitted))
            if response.is_redirect and response.headers.get("location"):
                location = urljoin(str(response.url), response.headers["location"])
                self._go(location)
                response = browser.get(location)
                continue
            if response.status_code != 200 or "html" not in response.headers.get(
                "content-type", ""
            ):
                return answered(no_redirect(response), any(submitted))
            forms = parse_forms(response.text)
            form = next(
                (f for f in forms if any(i.get("name") in self.fields for i in f["inputs"])), None
            )
            if form is None:
                form = next((f for f in forms if f["method"].lower() == "post"), None)
            if form is None:
                return answered(no_redirect(response), any(submitted))
            action = urljoin(str(response.url), form["action"] or str(response.url))
            filled = frozenset(
                i.get("name") for i in form["inputs"] if i.get("name") in self.fields
            )
            if filled and filled in submitted:
                # The provider refused what was typed: posting it again could lock the account.
                self.budget.refused(REFUSED)
            submitted.add(filled)
            self._go(action, fields=bool(filled))
            data = _form_data(form, self.profile, user)
            if form["method"].lower() == "post":
                response = browser.post(action, data=data)
            else:
                response = browser.get(action, params=data)
        raise LoginError(f"no way back to the client after {self.max_steps} steps")
