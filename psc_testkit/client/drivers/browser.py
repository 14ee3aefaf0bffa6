"""Logs in with a real browser: the system's Chromium, driven by Playwright, does what the
profile's steps say, or, with no steps and `headless = false`, lets a person log in in the window
(CPS card, e-CPS app) while the driver waits for the way back to the client.

Steps, in [[driver.steps]]: `fill` (a selector, with `value`; "{user}" is the professional's
identifier, "{password}" that user's password), `click`, `wait` (until a selector is present)
and `wait_url` (until the URL contains a text). `optional = true` skips a step whose element
does not show; `match` runs a step only on pages whose URL contains it. Every wait lasts at
most `step_timeout`; the wait for the redirect after the last step too (with e-CPS, the
approval on the phone happens in that wait).

A password is typed once per login: a password field (an input of type password, or a fill
whose value has "{password}" or "{env:NAME}") that shows again in the page the provider answered
with means it refused the password, and the login stops there (a provider may lock the
account); the run's LoginBudget counts it, as the html_form driver's.

One login serves the run: the httpx browser's cookies go into Chromium before each
authorization and Chromium's come back after, so later authorizations are silent and the checks'
own requests see the SSO session. Chromium starts on the first login and stops at close().
How TLS is trusted: psc_testkit/client/drivers/chromium.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import httpx
from playwright.sync_api import Error as PlaywrightError

from psc_testkit.client.config import DriverProfile, LoginStep
from psc_testkit.client.destinations import Destinations
from psc_testkit.client.drivers import LoginBudget, LoginError, fill
from psc_testkit.client.drivers.chromium import (
    Callback,
    launch_args,
    record_navigation,
    to_chromium,
    to_jar,
)
from psc_testkit.client.drivers.common import answered
from psc_testkit.client.drivers.terminal import say
from psc_testkit.client.evidence import Recorder
from psc_testkit.client.flow import AuthorizationResponse

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright, Response

# An optional step looks for its element this long (at most) once the page has loaded: pages
# that build their forms with a script need a moment, and an absent step should cost little.
OPTIONAL_GRACE = 1.0
POLL_MS = 100
REFUSED = "the login form came back: check [[driver.steps]] and the password (not typed again)"
# Set in the page where a password was typed: a new document (the provider's answer) lacks it.
TYPED = "window.__pscTestkitTyped = true"
NEW_DOCUMENT = "() => window.__pscTestkitTyped !== true"


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class _Run:
    """One authorization in one page: the steps, the waits, and how it ended."""

    def __init__(
        self, page: Page, callback: Callback, profile: DriverProfile, budget: LoginBudget
    ) -> None:
        self.page = page
        self.callback = callback
        self.profile = profile
        self.budget = budget
        self.status: int | None = None  # of the last document the main frame loaded
        self.typed: list[str] = []  # selectors of the passwords typed in this login
        self.filled = False  # a fill step ran: a login form was filled
        page.on("response", self._document)

    def _document(self, response: Response) -> None:
        if response.request.is_navigation_request() and response.frame.parent_frame is None:
            self.status = response.status

    def outcome(self) -> AuthorizationResponse | None:
        """The authorization response once it arrived, a problem if the provider stopped on an
        error page, None while the login goes on."""
        if self.callback.refused is not None:
            raise LoginError(self.callback.refused)
        if self.callback.arrival is not None:
            return self.callback.response()
        if self.came_back():
            self.budget.refused(REFUSED)
        if self.status is not None and self.status >= 400:
            return AuthorizationResponse(
                {},
                "none",
                problem=f"the provider answered HTTP {self.status} "
                "without redirecting to the client",
                status=self.status,
            )
        return None

    def typed_password(self, selector: str) -> None:
        """A password went into `selector`: mark the page, to know the provider's answer."""
        self.typed.append(selector)
        self.page.evaluate(f"() => {{ {TYPED} }}")

    def came_back(self, anywhere: bool = False) -> bool:
        """Whether a password field typed in this login shows in a page loaded since (or, with
        `anywhere`, in the page where it was typed too: a form answered without a new page)."""
        if not self.typed:
            return False
        try:
            if not anywhere and not self.page.evaluate(NEW_DOCUMENT):
                return False
            return any(self.page.locator(s).count() > 0 for s in self.typed)
        except PlaywrightError:
            return False  # the page is navigating: look again

    def wait(self, condition: Callable[[], bool], seconds: float) -> bool:
        """Until the condition holds (True) or the time is up (False); stops early when the
        login ended (the caller then looks at outcome())."""
        deadline = time.monotonic() + seconds
        while True:
            if self.outcome() is not None:
                return False
            try:
                if condition():
                    return True
            except PlaywrightError:
                pass  # the page is navigating: look again
            if time.monotonic() >= deadline:
                return False
            self.page.wait_for_timeout(POLL_MS)

    def settle(self) -> None:
        """Let a navigation the last action started finish, so `match` and `optional` judge the
        page the person would see."""
        try:
            self.page.wait_for_load_state("load", timeout=self.profile.step_timeout * 1000)
        except PlaywrightError:
            return  # the next wait says what is wrong

    def where(self) -> str:
        try:
            title = self.page.title()
        except PlaywrightError:
            title = ""
        return f"page {self.page.url} (title {title!r})"


class BrowserDriver:
    def __init__(
        self,
        profile: DriverProfile,
        ca_file: Path | None = None,
        recorder: Recorder | None = None,
        out: TextIO | None = None,
        destinations: Destinations | None = None,
        budget: LoginBudget | None = None,
    ) -> None:
        self.profile = profile
        self.ca_file = ca_file
        self.destinations = destinations
        self.recorder = recorder
        self.out = out
        self.budget = budget or LoginBudget()
        self.steps_run: list[int] = []  # numbers of the steps the last login performed
        self._playwright: Playwright | None = None
        self._chromium: Browser | None = None

    def _launch(self) -> Browser:
        if self._chromium is not None:
            return self._chromium
        path = Path(self.profile.chromium)
        if not path.exists():
            raise LoginError(
                f"no Chromium at {path}: install chromium, or set [driver] chromium or PSC_CHROMIUM"
            )
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        try:
            self._chromium = self._playwright.chromium.launch(
                executable_path=str(path),
                headless=self.profile.headless,
                args=launch_args(self.ca_file, self.profile.insecure_tls),
            )
        except PlaywrightError as exc:
            self.close()
            raise LoginError(f"Chromium at {path} did not start: {_line(exc)}") from None
        return self._chromium

    def close(self) -> None:
        if self._chromium is not None:
            self._chromium.close()
            self._chromium = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None

    def authenticate(
        self, browser: httpx.Client, url: str, redirect_uri: str, user: str
    ) -> AuthorizationResponse:
        self.budget.check()  # before Chromium opens a page: nothing reaches the provider
        # A context per authorization, filled from this httpx browser's jar: a check that uses
        # a fresh httpx browser gets a Chromium without a session too.
        context = self._launch().new_context(ignore_https_errors=self.profile.insecure_tls)
        try:
            context.add_cookies(to_chromium(browser.cookies.jar))
            callback = Callback(redirect_uri, self.destinations)
            page = context.new_page()
            callback.attach(context, page)
            page.set_default_timeout(self.profile.step_timeout * 1000)
            if self.recorder is not None:
                recorder = self.recorder
                page.on("response", lambda r: record_navigation(recorder, r, callback))
            run = _Run(page, callback, self.profile, self.budget)
            # Without steps a person logs in: whether a login form was filled is not known.
            outcome = self._login(run, url, user)
            result = answered(outcome, run.filled if self.profile.steps else None)
            cookies = context.cookies()
            if self.recorder is not None:
                for cookie in cookies:
                    self.recorder.redact.add(cookie["value"])
            to_jar(cookies, browser.cookies.jar)
            return result
        finally:
            context.close()

    def _login(self, run: _Run, url: str, user: str) -> AuthorizationResponse:
        self.steps_run = []
        try:
            run.page.goto(url, wait_until="commit")
        except PlaywrightError as exc:
            if run.outcome() is None:
                raise LoginError(f"opening the authorization URL: {_line(exc)}") from None
        steps = self.profile.steps
        for number, step in enumerate(steps, 1):
            if (done := run.outcome()) is not None:
                return done
            self._step(run, number, step, user)
        if not steps and (done := run.outcome()) is None and not self.profile.headless:
            say(
                self.out,
                f"Log in as {user} in the Chromium window (CPS card or e-CPS); waiting up to "
                f"{self.profile.login_timeout:.0f} s for the redirect to the client.",
            )
        limit = self.profile.step_timeout if steps else self.profile.login_timeout
        run.wait(lambda: False, limit)
        if (done := run.outcome()) is not None:
            return done
        if run.came_back(anywhere=True):
            # The form stayed where the password was typed (a page that answers in place).
            self.budget.refused(REFUSED)
        after = "after the last step " if steps else ""
        raise LoginError(f"no redirect to the client {after}within {limit:g} s: {run.where()}")

    def _step(self, run: _Run, number: int, step: LoginStep, user: str) -> None:
        if step.match is not None or step.optional:
            run.settle()
        if step.match is not None and step.match not in run.page.url:
            return
        timeout = self.profile.step_timeout
        limit = min(OPTIONAL_GRACE, timeout) if step.optional else timeout
        locator = None if step.action == "wait_url" else run.page.locator(step.target).first
        if locator is None:
            found = run.wait(lambda: step.target in run.page.url, limit)
        else:
            found = run.wait(lambda: locator.count() > 0, limit)
        if run.outcome() is not None or (not found and step.optional):
            return
        label = f"step {number}/{len(self.profile.steps)} ({step.text()})"
        if not found:
            raise LoginError(f"{label} timed out after {limit:g} s: {run.where()}")
        try:
            if step.action == "fill" and locator is not None:
                locator.fill(fill(step.value or "", self.profile, user))
                run.filled = True
                if step.secret or locator.get_attribute("type") == "password":
                    run.typed_password(step.target)
            elif step.action == "click" and locator is not None:
                locator.click()
        except PlaywrightError as exc:
            if run.outcome() is None:
                raise LoginError(f"{label} failed: {_line(exc)}: {run.where()}") from None
        self.steps_run.append(number)
