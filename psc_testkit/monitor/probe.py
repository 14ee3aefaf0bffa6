"""One probe of a provider, step by step, each step timed and, when it fails, attributed as a
load failure is (load/failures.py): the provider's fault, the protocol's, or psc-testkit's
own (a tool failure, recorded and never counted as downtime).

Two levels:
- safe: what `psc-testkit profile check` does without a login (its own pieces): discovery
  (and that credentials stay on the profile's hosts), JWKS, the token endpoint answering
  `invalid_grant` to a made-up code, an authorization request answered. Fit for production;
- login: one full first login (an empty cookie jar) through the profile's non-interactive
  driver and the conformance harness, with its guards (no credential posted twice, a run
  stopped before the provider locks the account), the token request, UserInfo, and with
  `refresh` a token refresh.

Every message is redacted by the probe's own redactor (it knows the profile's secrets, the
tokens it received and the test users) before it leaves this module.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import TypeVar

from psc_testkit.client.config import Target
from psc_testkit.client.drivers import LoginBudget, LoginRefused, make_driver
from psc_testkit.client.errors import RunStopped, TargetError
from psc_testkit.client.evidence import Exchange, Recorder
from psc_testkit.client.profile_check import Broken, ProfileCheck
from psc_testkit.client.transport import Http
from psc_testkit.conformance.harness import Harness
from psc_testkit.load import failures
from psc_testkit.load.failures import PROTOCOL, PROVIDER, TOOL, StepFailure
from psc_testkit.monitor.store import ProbeRow, StepRow

T = TypeVar("T")
SAFE, LOGIN = "safe", "login"
LEVELS = (SAFE, LOGIN)
# Drivers that log in with nobody at the keyboard; `browser` only when headless.
UNATTENDED = ("simulator", "html_form", "browser")


class StopMonitor(Exception):
    """Logging in again would cost more than it tells (the login budget is spent): the monitor
    says so in one line and goes on at the safe level."""


class _Failed(Exception):
    """A step failed: the probe stops there (what follows needs it)."""


def unattended(target: Target) -> bool:
    """Whether the profile's driver logs in by itself (no person, no phone)."""
    driver = target.driver
    return driver.name in UNATTENDED and (driver.name != "browser" or driver.headless)


def default_level(target: Target) -> str:
    return LOGIN if not target.safe and unattended(target) else SAFE


def level_problem(target: Target, level: str) -> str | None:
    """Why `level` cannot run on this profile, or None."""
    if level == LOGIN and target.safe:
        return (
            "--level login on a safe profile (safe = true, a production service): a login "
            "probe logs a user in, which a safe profile forbids; use --level safe"
        )
    if level == LOGIN and not unattended(target):
        how = "a visible browser" if target.driver.name == "browser" else target.driver.name
        return (
            f"--level login needs a driver that logs in unattended (simulator, html_form, "
            f"headless browser), not {how}: use --level safe"
        )
    return None


def classify(exchanges: list[Exchange]) -> str:
    """Whose fault a failed step is, from the last exchange it made: no answer or a 5xx is the
    provider's, a 4xx the protocol's, an answer lacking what it must carry the provider's; no
    request sent at all (a guard refused it, a secret unset) says nothing of the provider."""
    if not exchanges:
        return TOOL
    status = exchanges[-1].status
    if status is None or status >= 500:
        return PROVIDER
    return PROTOCOL if 400 <= status < 500 else PROVIDER


class Prober:
    def __init__(self, target: Target, level: str, refresh: bool = False) -> None:
        self.target = target
        self.level = level
        self.refresh = refresh
        self.count = 0
        # Refused logins add up across probes until one succeeds: the third in a row stops
        # logging in (the monitor goes on at the safe level) before the account is locked.
        self.budget = LoginBudget()

    def probe(self, interval: float) -> ProbeRow:
        """One probe; never raises but StopMonitor (and KeyboardInterrupt)."""
        self.count += 1
        started_at, started = time.time(), time.perf_counter()
        steps: list[StepRow] = []
        try:
            (self._safe if self.level == SAFE else self._login)(steps)
        except _Failed:
            pass  # the step said why, redacted
        except (StopMonitor, KeyboardInterrupt):
            raise
        except Exception as exc:
            # psc-testkit's own failure outside any step (no redactor knows what it may
            # quote): only the exception's type is kept.
            steps.append(StepRow("probe", False, 0.0, TOOL, type(exc).__name__))
        ended = started_at + (time.perf_counter() - started)
        failed = next((s for s in steps if not s.ok), None)
        outcome = "up" if failed is None else ("tool" if failed.kind == TOOL else "down")
        if outcome == "up" and self.level != SAFE:
            self.budget.reasons.clear()  # the credentials work: earlier refusals were passing
        return ProbeRow(
            started=started_at,
            ended=ended,
            outcome=outcome,
            level=self.level,
            interval=interval,
            steps=tuple(steps),
            first_step=failed.name if failed else None,
            kind=failed.kind if failed else None,
            error=failed.error if failed else None,
        )

    # A step -----------------------------------------------------------------------------------

    def _step(
        self, steps: list[StepRow], name: str, recorder: Recorder, action: Callable[[], T]
    ) -> T:
        started = time.perf_counter()
        kind: str | None = None
        error = ""
        with recorder.capture() as exchanges:
            try:
                value = action()
            except (Broken, TargetError) as exc:
                if isinstance(exc, RunStopped):
                    raise StopMonitor(str(exc)) from None
                kind, error = classify(exchanges), str(exc)
                if isinstance(exc.__context__, LoginRefused):  # the harness's "login: ..."
                    kind = PROTOCOL
            except LoginRefused as exc:
                kind, error = PROTOCOL, f"login refused: {exc}"
            except RunStopped as exc:
                raise StopMonitor(str(exc)) from None
            except StepFailure as exc:
                kind, error = exc.kind, str(exc)
            except (StopMonitor, KeyboardInterrupt):
                raise
            except Exception as exc:
                kind, error = TOOL, f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - started) * 1000
        if kind is not None:
            steps.append(StepRow(name, False, ms, kind, recorder.redact.message(error, 300)))
            raise _Failed
        steps.append(StepRow(name, True, ms))
        return value

    # safe -------------------------------------------------------------------------------------

    def _safe(self, steps: list[StepRow]) -> Recorder:
        check = ProfileCheck(self.target, io.StringIO())
        recorder = check.recorder
        http = Http(self.target, recorder)
        try:
            self._discovery_and_keys(steps, check, http)
            meta = self._meta
            # The first confidential client that can authenticate (a secret left unset is
            # the profile's problem, not a reason to send nothing forever).
            confidential = next(
                (
                    c
                    for c in self.target.clients
                    if not c.public
                    and not (c.auth_method.startswith("client_secret") and c.secret is None)
                ),
                None,
            )
            if confidential is not None:
                self._step(
                    steps, "token", recorder, lambda: check.confidential(http, meta, confidential)
                )
            client = self.target.primary
            self._step(steps, "authorize", recorder, lambda: check.public(http, meta, client))
        finally:
            http.close()
        return recorder

    def _discovery_and_keys(self, steps: list[StepRow], check: ProfileCheck, http: Http) -> None:
        def discovery() -> None:
            self._meta = check.discovery(http)
            check.hosts(self._meta)  # refused: nothing was sent, so a tool failure

        self._step(steps, "discovery", check.recorder, discovery)
        self._step(steps, "jwks", check.recorder, lambda: check.jwks(http, self._meta))

    # login ------------------------------------------------------------------------------------

    def _login(self, steps: list[StepRow]) -> Recorder:
        harness = Harness(self.target)
        recorder = harness.recorder
        harness.driver = make_driver(self.target.driver, self.target, recorder, self.budget)
        for user in self.target.driver.users:
            recorder.redact.add(user, "personal")
        check = ProfileCheck(self.target, io.StringIO())
        check.recorder = recorder  # one redactor for every message of the probe
        try:
            self._discovery_and_keys(steps, check, harness.http)
            browser = harness.http.new_browser()  # a first login: no cookie of earlier ones

            def authorize():
                user = harness.user(self.count - 1)
                login = harness.authorize(user=user, browser=browser)
                if not login.code:
                    response = login.response
                    raise failures.of_callback(response.error, response.problem, response.status)
                return login

            login = self._step(steps, "authorize", recorder, authorize)

            def token():
                tokens = harness.exchange(login)
                if (failure := tokens.failure()) is not None:
                    status = tokens.response.status_code
                    kind = PROTOCOL if 400 <= status < 500 else PROVIDER
                    raise StepFailure(f"token: {failure}", kind)
                return tokens

            tokens = self._step(steps, "token", recorder, token)

            def userinfo() -> None:
                response = harness.userinfo(tokens.access_token or "")
                if response.status_code != 200 or not response.content.strip():
                    raise failures.of_response("userinfo", response.status_code, response.content)

            self._step(steps, "userinfo", recorder, userinfo)
            if self.refresh and tokens.refresh_token:

                def refresh() -> None:
                    again = harness.refresh(tokens)
                    if (failure := again.failure()) is not None:
                        status = again.response.status_code
                        kind = PROTOCOL if 400 <= status < 500 else PROVIDER
                        raise StepFailure(f"refresh: {failure}", kind)

                self._step(steps, "refresh", recorder, refresh)
        finally:
            harness.close()
        return recorder
