"""Drive the vendor's app as its user would: Chromium (Playwright), a fresh browser context per
test, the app's own steps to its "Pro Santé Connect" button, the simulator's login page filled
as a professional, then watch the app's page until it shows one of its markers.

What comes back is an observation, never a verdict: which marker showed, on which URL, with
which status, after how long, and a screenshot. verdicts.py decides.

A Ctrl-C (or SIGTERM) ends a run within seconds: `Interruption` raises it only where Playwright
survives it, and `AppBrowser` closes the browser within a bound, killing Playwright's driver and
Chromium by PID when a graceful close does not return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
import threading
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
# How long closing the browser may take before the driver and Chromium are killed (s): after
# an interruption, and at the end of a run that went to its end.
CLOSE_GRACE_INTERRUPTED = 5.0
CLOSE_GRACE = 30.0
# Once killed, how long before the run stops waiting for Playwright at all (s).
ABANDON_AFTER_KILL = 2.0
PROFILE_PREFIX = "playwright_chromiumdev_profile-"  # Chromium's user data, which its driver removes


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


class Interruption:
    """A SIGINT or SIGTERM during a run: noted, and raised as KeyboardInterrupt where that is
    safe.

    Playwright's sync API runs its asyncio loop in a greenlet of its own (the dispatcher), which
    runs whenever the run's code waits in a Playwright call. A KeyboardInterrupt raised there
    unwinds through whatever asyncio or Playwright callback was running: a task's wake-up being
    scheduled, bytes being read from the driver's pipe, a message being dispatched. That work is
    lost: the task reading the driver's pipe may never wake again (every later call, closing the
    browser included, then waits forever), or it dies and every call fails. So in any greenlet
    but the thread's root one the interrupt is only noted, and thrown into the root greenlet,
    where the run's code waits in its Playwright call, from a callback of the loop of its own,
    once the interrupted callback has finished: the loop stays whole.

    The note outlives the exception: a KeyboardInterrupt that Playwright turns into one of its
    errors on the way out is still an interruption. Once the run is winding up (closing the
    browser, stopping the app and the simulator, writing the report), a signal raises nothing:
    it hurries the wind-up (the browser is killed at once)."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self.winding_up = False
        self.hurry = threading.Event()
        self._throw_pending = False

    def install(self) -> Callable[[], None]:
        """Handle SIGTERM, and SIGINT unless it is ignored (a command started in the background
        with Ctrl-C not its to handle); returns what restores the previous handlers."""
        previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            if signum == signal.SIGINT and handler in (signal.SIG_IGN, None):
                continue
            previous[signum] = signal.signal(signum, self.handler)

        def restore() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        return restore

    def handler(self, signum: int, frame: object) -> None:
        self.signal = self.signal or signal.Signals(signum).name
        if self.winding_up:
            self.hurry.set()
            return
        try:
            import greenlet
        except ImportError:  # no Playwright loop to protect
            raise KeyboardInterrupt from None
        current = greenlet.getcurrent()
        if current.parent is None:
            raise KeyboardInterrupt  # the run's own code: safe to raise right here
        root = current
        while root.parent is not None:
            root = root.parent
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # noted: the run stops at its next look at `signal`
        if not self._throw_pending:
            self._throw_pending = True
            # Thread-safe: it also wakes a loop asleep in select() (a driver that says nothing).
            loop.call_soon_threadsafe(self._throw, root)

    def _throw(self, root) -> None:
        self._throw_pending = False
        import greenlet

        if not self.winding_up and not root.dead and greenlet.getcurrent() is not root:
            root.throw(KeyboardInterrupt)

    def check(self) -> None:
        """Raise the noted interruption, if any (from the run's own code)."""
        if self.signal and not self.winding_up:
            raise KeyboardInterrupt


def chromium_path() -> str | None:
    return (
        os.environ.get("PSC_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


@dataclass(frozen=True)
class _Process:
    """A process as it was seen: its start time tells it from a later one with its PID."""

    pid: int
    started: int
    leader: bool  # of its own process group (Chromium: launched detached)

    def alive(self) -> bool:
        stat = _stat(self.pid)
        return stat is not None and stat.started == self.started and stat.state != "Z"

    def kill(self) -> None:
        if not self.alive():
            return
        with contextlib.suppress(OSError):
            if self.leader:
                os.killpg(self.pid, signal.SIGKILL)  # Chromium's zygotes, GPU, renderers too
            else:
                os.kill(self.pid, signal.SIGKILL)


@dataclass(frozen=True)
class _Stat:
    state: str
    parent: int
    group: int
    started: int


def _stat(pid: int) -> _Stat | None:
    """What /proc says of a process (Linux; elsewhere nothing, and nothing is killed)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after the command's name, which may hold spaces
    return _Stat(fields[0], int(fields[1]), int(fields[2]), int(fields[19]))


def _children(pid: int, marker: str = "") -> list[_Process]:
    """The children of `pid` whose command line holds `marker`."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            stat = _stat(int(entry.name))
            if stat is None or stat.parent != pid:
                continue
            try:
                command = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in command:
                found.append(_Process(int(entry.name), stat.started, stat.group == int(entry.name)))
    return found


def _user_data_dirs(process: _Process) -> list[Path]:
    """Chromium's temporary profile, which its driver removes when it closes it."""
    try:
        args = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []
    option = b"--user-data-dir="
    dirs = [Path(os.fsdecode(a[len(option) :])) for a in args if a.startswith(option)]
    temp = Path(tempfile.gettempdir())
    return [d for d in dirs if d.parent == temp and d.name.startswith(PROFILE_PREFIX)]


class _Abandoned(Exception):
    """Thrown into the run's code when Playwright does not return even once its driver is
    dead."""


class AppBrowser:
    def __init__(
        self,
        app: AppProfile,
        wallet_origin: str,
        ca_file: str | None,
        interruption: Interruption | None = None,
    ) -> None:
        self.app = app
        self.wallet_origin = wallet_origin
        parts = urlsplit(app.start_url)
        self.app_origin = f"{parts.scheme}://{parts.netloc}"  # the logged-out page is the app's
        self.ca_file = Path(ca_file) if ca_file else None
        self.interruption = interruption or Interruption()
        self._manager = None  # Playwright's context manager: it stops Playwright
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._driver: list[_Process] = []  # Playwright's driver (node), a child of ours
        self._chromium: list[_Process] = []  # what the driver launched
        self._profiles: list[Path] = []
        self.shown = ""  # what the logged-in marker last showed

    def __enter__(self) -> AppBrowser:
        from playwright.sync_api import sync_playwright

        path = chromium_path()
        if path is None:
            raise AppUnreachable("no Chromium: install chromium, or set PSC_CHROMIUM")
        try:
            before = set(_children(os.getpid(), "run-driver"))
            self._manager = sync_playwright()
            self._playwright = self._manager.start()
            self._driver = [p for p in _children(os.getpid(), "run-driver") if p not in before]
            self._browser = self._playwright.chromium.launch(
                executable_path=path, headless=True, args=launch_args(self.ca_file, False)
            )
            self._chromium = [c for d in self._driver for c in _children(d.pid)]
            self._profiles = [d for c in self._chromium for d in _user_data_dirs(c)]
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the browser and stop Playwright, within a bound: what has not returned after
        CLOSE_GRACE_INTERRUPTED s once interrupted (CLOSE_GRACE s otherwise, at once on a
        second signal) is killed: Chromium's process group and the driver, by PID. A close
        that fails (a driver already gone, a call that an interrupt cut short) must not hide
        what the run measured."""
        interruption = self.interruption
        interruption.winding_up = True  # from here on, a signal hurries this, raises nothing
        interrupted = interruption.signal is not None
        # Playwright's loop: the one of its sync API, or of its context manager when it was
        # interrupted as it started.
        loop = getattr(self._playwright, "_loop", None) or getattr(self._manager, "_loop", None)
        if interrupted:
            _quiet(loop)
        done = threading.Event()
        import greenlet

        root = greenlet.getcurrent()
        grace = CLOSE_GRACE_INTERRUPTED if interrupted else CLOSE_GRACE

        def watchdog() -> None:
            deadline = time.monotonic() + grace
            while not done.wait(0.1):
                if time.monotonic() >= deadline or interruption.hurry.is_set():
                    break
            if done.is_set():
                return
            _quiet(loop)
            self._kill()

            def abandon() -> None:
                if not done.is_set() and greenlet.getcurrent() is not root and not root.dead:
                    root.throw(_Abandoned())

            # A driver gone ends every call in flight; should one still wait (its loop never
            # woken again), the wait is cut short, as often as it takes.
            while not done.wait(ABANDON_AFTER_KILL) and loop is not None:
                with contextlib.suppress(RuntimeError):  # a loop already closed
                    loop.call_soon_threadsafe(abandon)

        guard = threading.Thread(target=watchdog, name="psc-rp-browser-close", daemon=True)
        guard.start()
        try:
            with contextlib.suppress(Exception):
                if self._browser is not None and not interrupted:
                    self._browser.close()
            with contextlib.suppress(Exception):
                if self._manager is not None:
                    self._manager.__exit__(None, None, None)
        finally:
            done.set()
            guard.join(1)
            self._browser = None
        self._reap()

    def _kill(self) -> None:
        for process in self._chromium + self._driver:
            process.kill()

    def _reap(self) -> None:
        """What a killed Chromium left: its processes (briefly waited for) and its user data,
        which a driver that closes it removes."""
        deadline = time.monotonic() + 1
        while any(p.alive() for p in self._chromium) and time.monotonic() < deadline:
            time.sleep(0.05)
        if any(p.alive() for p in self._chromium):
            self._kill()
        for profile in self._profiles:
            if profile.exists():
                shutil.rmtree(profile, ignore_errors=True)

    def login(
        self,
        professional: dict,
        screenshot: Path,
        then: Callable[[Page, Outcome], None] | None = None,
    ) -> Outcome:
        """One login in a browser of its own (no cookie of an earlier test); `then`, once the
        app shows the professional logged in, continues in the same browser."""
        assert self._browser is not None
        self.interruption.check()
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
        except Exception:
            if self.interruption.signal is None:  # else no call more: see below
                with contextlib.suppress(Exception):  # the error says more than the closing's
                    context.close()
            raise
        # Not on an interruption (a BaseException): no call more, the browser goes at once.
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
            self.interruption.check()  # one swallowed on its way is not a reason to go on
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


def _quiet(loop: asyncio.AbstractEventLoop | None) -> None:
    """Once interrupted, what Playwright says about the calls the interrupt cut short (their
    late answers, tasks left pending) is noise on the terminal, not news."""
    logging.getLogger("playwright").setLevel(logging.CRITICAL)
    if loop is not None:
        loop.set_exception_handler(lambda loop, context: None)


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
