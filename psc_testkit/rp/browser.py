"""Drive the vendor's app as its user would: Chromium (Playwright), a fresh browser context per
test, the app's own steps to its "Pro Santé Connect" button, the simulator's login page filled
as a professional, then watch the app's page until it shows one of its markers.

What comes back is an observation, never a verdict: which marker showed, on which URL, with
which status, after how long, and a screenshot. verdicts.py decides.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from psc_testkit.client.drivers.chromium import launch_args
from psc_testkit.rp.app_profile import AppProfile, Marker, fill

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

POLL = 0.05
# Once a marker shows, how long the page must keep it: an app may flash a page on its way.
SETTLE = 0.2
LOGIN_FORM = "form#login"
# Bounds on each look into the page (ms).
READ_TIMEOUT = 2000
VISIBLE_TIMEOUT = 100


class AppUnreachable(Exception):
    """The app's start page or its login button could not be reached: no test can run."""


@dataclass
class Outcome:
    reached_login: bool = False  # the simulator's login page showed and was submitted
    logged_in: bool = False  # the logged-in marker's selector (or text) showed
    logged_in_as_expected: bool = False  # ...naming the expected professional
    rejected: bool = False  # every condition of the rejection marker held
    url: str = ""
    status: int | None = None  # of the last document the browser loaded
    waited: float = 0.0
    screenshot: str | None = None
    problem: str = ""  # what went wrong on the way (no login page, a browser error)
    pages: list[dict] = field(default_factory=list)  # the documents loaded: url, status
    # After a follow-up (logout, a page reloaded once the token expired): what showed then.
    followed: bool = False
    logged_out: bool = False
    shown: str = ""  # the logged-in marker's text (or the page's, for a text marker)


def chromium_path() -> str | None:
    return (
        os.environ.get("PSC_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


class AppBrowser:
    def __init__(self, app: AppProfile, wallet_origin: str, ca_file: str | None) -> None:
        self.app = app
        self.wallet_origin = wallet_origin
        parts = urlsplit(app.start_url)
        self.app_origin = f"{parts.scheme}://{parts.netloc}"  # the logged-out page is the app's
        self.ca_file = Path(ca_file) if ca_file else None
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self.shown = ""  # what the logged-in marker last showed

    def __enter__(self) -> AppBrowser:
        from playwright.sync_api import sync_playwright

        path = chromium_path()
        if path is None:
            raise AppUnreachable("no Chromium: install chromium, or set PSC_CHROMIUM")
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=path, headless=True, args=launch_args(self.ca_file, False)
        )
        return self

    def __exit__(self, *exc: object) -> None:
        # After a Ctrl-C the terminal's signal may have ended Playwright's driver too: closing
        # then fails, and must not hide what the run measured.
        with contextlib.suppress(Exception):
            if self._browser is not None:
                self._browser.close()
        with contextlib.suppress(Exception):
            if self._playwright is not None:
                self._playwright.stop()

    def login(
        self,
        professional: dict,
        screenshot: Path,
        then: Callable[[Page, Outcome], None] | None = None,
    ) -> Outcome:
        """One login in a browser of its own (no cookie of an earlier test); `then`, once the
        app shows the professional logged in, continues in the same browser."""
        assert self._browser is not None
        outcome = Outcome()
        context = self._browser.new_context(viewport={"width": 1000, "height": 700})
        try:
            page = context.new_page()
            page.set_default_timeout(self.app.timeout * 1000)

            def seen(response) -> None:
                if response.request.is_navigation_request() and response.frame == page.main_frame:
                    outcome.pages.append({"url": response.url, "status": response.status})
                    outcome.status = response.status

            page.on("response", seen)
            self._begin(page, outcome)
            if not outcome.problem:
                self._log_in(page, professional, outcome)
            if outcome.reached_login:
                self._watch(page, professional, outcome)
            if then is not None and outcome.logged_in_as_expected:
                outcome.followed = True
                then(page, outcome)
            outcome.url = page.url
            try:
                page.screenshot(path=str(screenshot))
                outcome.screenshot = str(screenshot)
            except Exception as exc:  # a crashed page: the verdict does not need the picture
                outcome.problem = outcome.problem or f"no screenshot: {_line(exc)}"
        finally:
            context.close()
        return outcome

    def _begin(self, page: Page, outcome: Outcome) -> None:
        """From the start URL to the provider's login page, by the app profile's steps."""
        from playwright.sync_api import Error as PlaywrightError

        try:
            page.goto(self.app.start_url)
        except PlaywrightError as exc:
            raise AppUnreachable(f"{self.app.start_url}: {_line(exc)}") from None
        try:
            # A marker already shown before any login tells nothing after it.
            text = page.locator("body").inner_text(timeout=READ_TIMEOUT)
            for name, marker in (
                ("logged-in", self.app.logged_in),
                ("rejection", self.app.rejected),
            ):
                if (marker.selector or marker.text) and holds(page, marker, text, None, False):
                    outcome.problem = (
                        f"the app's {name} marker shows before any login: give one the app "
                        "shows only in that state"
                    )
                    return
            run_steps(page, self.app.steps)
            page.wait_for_selector(LOGIN_FORM)
        except PlaywrightError as exc:
            outcome.problem = (
                f"the app's login steps did not lead to the provider's login page: {_line(exc)}"
            )

    def log_out(self, page: Page, outcome: Outcome) -> None:
        """The app's logout steps, then its logged-out marker (the provider's confirmation
        page, when it shows one, is confirmed as a person would)."""
        from playwright.sync_api import Error as PlaywrightError

        try:
            run_steps(page, self.app.logout_steps)
            deadline = time.monotonic() + self.app.timeout
            while time.monotonic() < deadline:
                marker = self.app.logged_out
                if page.url.startswith(self.app_origin) and marker is not None:
                    text = page.locator("body").inner_text(timeout=READ_TIMEOUT)
                    if holds(page, marker, text, outcome.status):
                        outcome.logged_out = True
                        return
                if page.locator('form input[name="confirm"]').count():
                    page.click('form button[type="submit"]', no_wait_after=True)
                page.wait_for_timeout(POLL * 1000)
        except PlaywrightError as exc:
            outcome.problem = f"the app's logout steps failed: {_line(exc)}"

    def reload_and_watch(self, page: Page, professional: dict, outcome: Outcome) -> None:
        """The start page again, watched as after a login (for the token-expiry test)."""
        from playwright.sync_api import Error as PlaywrightError

        try:
            page.goto(self.app.start_url)
        except PlaywrightError as exc:
            outcome.problem = f"{self.app.start_url} did not load again: {_line(exc)}"
            outcome.logged_in = outcome.logged_in_as_expected = outcome.rejected = False
            return
        self._watch(page, professional, outcome)

    def _log_in(self, page: Page, professional: dict, outcome: Outcome) -> None:
        from playwright.sync_api import Error as PlaywrightError

        try:
            page.check(f'{LOGIN_FORM} input[name="method"][value="cps"]')
            page.fill(f"{LOGIN_FORM} #idNat", professional["idNat"])
            outcome.reached_login = True
            page.click(f'{LOGIN_FORM} button[type="submit"]', no_wait_after=True)
        except PlaywrightError as exc:
            outcome.problem = f"the provider's login page could not be filled: {_line(exc)}"

    def _watch(self, page: Page, professional: dict, outcome: Outcome) -> None:
        """Until a marker has held for SETTLE seconds, or the profile's timeout."""
        start = time.monotonic()
        deadline = start + self.app.timeout
        held_since: float | None = None
        held: tuple[bool, bool, bool] | None = None
        expected = fill(self.app.logged_in.text or "", _names(professional))
        while time.monotonic() < deadline:
            state = self._markers(page, expected, outcome.status)
            if any(state[::2]):  # logged in (anyone) or rejected
                if state != held:
                    held, held_since = state, time.monotonic()
                elif time.monotonic() - (held_since or 0) >= SETTLE:
                    break
            else:
                held, held_since = None, None
            page.wait_for_timeout(POLL * 1000)  # not time.sleep: Playwright's events must run
        else:
            state = held or (False, False, False)
        outcome.logged_in, outcome.logged_in_as_expected, outcome.rejected = state
        outcome.shown = self.shown if outcome.logged_in else ""
        outcome.waited = round(time.monotonic() - start, 2)

    def _markers(self, page: Page, expected: str, status: int | None) -> tuple[bool, bool, bool]:
        """(logged in as anyone, as the expected professional, rejected) on the page now. Every
        call into the page has a timeout: a page that loops in JavaScript is silence, not a
        hang of the run."""
        from playwright.sync_api import Error as PlaywrightError

        try:
            if page.url.startswith(self.wallet_origin):
                return (False, False, False)  # still at the provider
            text = page.locator("body").inner_text(timeout=READ_TIMEOUT)
            m = self.app.logged_in
            status_ok = m.status is None or status == m.status
            if m.selector:
                logged = status_ok and _visible(page, m.selector)
                shown = (
                    _shown_one(page, m.selector).inner_text(timeout=READ_TIMEOUT) if logged else ""
                )
                as_expected = logged and expected in shown
                self.shown = shown
            else:  # a text marker: only the expected professional's text counts
                logged = as_expected = status_ok and bool(expected) and expected in text
                self.shown = text
            rejected = holds(page, self.app.rejected, text, status)
        except PlaywrightError:  # navigating, or too busy to answer: look again
            return (False, False, False)
        return (logged, as_expected, rejected)


def _shown_one(page: Page, selector: str):
    """The first *visible* match: a hidden copy (a mobile menu, a template) comes first in many
    layouts and must not hide the one shown."""
    return page.locator(selector).filter(visible=True).first


def _visible(page: Page, selector: str) -> bool:
    """Shown, not merely in the DOM (a hidden error block on every page is no marker)."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        _shown_one(page, selector).wait_for(state="visible", timeout=VISIBLE_TIMEOUT)
    except PlaywrightError:
        return False
    return True


def holds(page: Page, m: Marker, text: str, status: int | None, with_status: bool = True) -> bool:
    """Every condition the marker gives holds: its selector visible, its text on the page, its
    status that of the page."""
    if with_status and m.status is not None and status != m.status:
        return False
    if m.text and m.text not in text:
        return False
    return not m.selector or _visible(page, m.selector)


def run_steps(page: Page, steps: tuple[dict, ...]) -> None:
    for step in steps:
        if "goto" in step:
            page.goto(str(step["goto"]))
        if "fill" in step:
            page.fill(str(step["fill"]), str(step.get("value", "")))
        if "click" in step:
            page.click(str(step["click"]))
        if "wait_for" in step:
            page.wait_for_selector(str(step["wait_for"]))


def _names(professional: dict) -> dict[str, str]:
    return {
        "given_name": professional.get("given_name", ""),
        "family_name": professional.get("family_name", ""),
        "idNat": professional.get("idNat", ""),
    }


def _line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
