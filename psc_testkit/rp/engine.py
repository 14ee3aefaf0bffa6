"""Run an RP test plan: start the simulator as the PSC the app talks to (its client registered,
`--rp`), start the app if the profile says how, then for each test serve its lie, log in
through the app in a fresh browser, read what the app sent, and judge."""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Error as PlaywrightError

from psc_testkit.child import die_with_parent
from psc_testkit.rp import verdicts
from psc_testkit.rp.app_profile import AppProfile
from psc_testkit.rp.browser import AppBrowser, AppUnreachable, Interruption, Outcome
from psc_testkit.rp.plan import EXPIRY, LOGOUT, OBSERVE, REJECT, RpTest
from psc_testkit.simulator.lies import KEY_ROTATED
from psc_testkit.simulator.process import SimulatorProcess, SimulatorStartError

READY_TIMEOUT = 30.0
# The simulator's control API once the run is interrupted (s): it answers at once, or not at all.
CONTROL_TIMEOUT_INTERRUPTED = 3.0


class RpRunError(Exception):
    """The run cannot start (exit 3) or the profile is unusable (exit 2): one line."""

    def __init__(self, message: str, code: int = 3) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class TestResult:
    test: RpTest
    verdict: verdicts.Verdict
    outcome: Outcome | None = None
    entries: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    professional: dict = field(default_factory=dict)  # who logged in (for redaction)


@dataclass
class RunResult:
    app: AppProfile
    results: list[TestResult]
    issuer: str
    started_at: float
    seconds: float
    professional: dict
    interrupted: str | None = None


class AppProcess:
    """The vendor's app, when the profile has a command: started in a session of its own (a
    Ctrl-C in the terminal reaches only psc-testkit, which stops it), its output in a file."""

    def __init__(self, app: AppProfile, env: dict[str, str], log: Path) -> None:
        self.app, self.env, self.log_path = app, env, log
        self.process: subprocess.Popen | None = None

    def start(self, command: list[str]) -> None:
        log = self.log_path.open("w", encoding="utf-8")
        try:
            self.process = subprocess.Popen(
                command,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        except (OSError, ValueError) as exc:  # ValueError: a NUL or "=" in the environment
            raise RpRunError(f"the app's command could not start: {exc}") from None
        finally:
            log.close()

    def wait_ready(self, url: str, verify: str | None) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RpRunError(
                    f"the app exited (status {self.process.returncode}) before it answered "
                    f"{url}; its output: {self.log_path}"
                )
            try:
                if httpx.get(url, timeout=2, verify=_trust(verify)).status_code < 400:
                    return
                last = "an error status"
            except httpx.InvalidURL:
                raise RpRunError(f"{url!r} is not a URL", 2) from None
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        raise RpRunError(f"the app did not answer {url} within {READY_TIMEOUT:g} s ({last})")

    def stop(self) -> None:
        """The app's whole process group, even when its first process is gone (a launcher
        that forked the server and exited)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # what outlived its leader


def _trust(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()


def simulator_for(app: AppProfile, folder: Path) -> SimulatorProcess:
    """The simulator an RP run talks to (not started): HTTPS, `--rp`, the app's client
    registered through a profile written in `folder` (0600: it holds the client secret)."""
    config = folder / "simulator.toml"
    config.write_text(app.simulator_config(), encoding="utf-8")
    config.chmod(0o600)
    return SimulatorProcess(
        config=config,
        tls=True,
        extra_args=["--rp", "--port", str(app.port), "--wallet-port", str(app.wallet_port)],
    )


def run_plan(
    app: AppProfile,
    tests: tuple[RpTest, ...],
    out: Path,
    progress: Callable[[TestResult], None] | None = None,
    simulator: SimulatorProcess | None = None,
    interruption: Interruption | None = None,
) -> RunResult:
    """Run `tests` against `app`; on `simulator` when given (started with `simulator_for` of
    an app with the same client), else on one started and stopped here. `interruption`, when
    its handler is installed for SIGINT and SIGTERM (command.py), ends the run within seconds,
    keeping what was judged."""
    interruption = interruption or Interruption()
    out.mkdir(parents=True, exist_ok=True)
    shots = out / "screenshots"
    shots.mkdir(exist_ok=True)
    started = time.time()
    clock = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="psc-rp-") as tmp:
        sim = simulator or simulator_for(app, Path(tmp))
        if simulator is None:
            try:
                sim.start()
            except SimulatorStartError as exc:
                raise RpRunError(f"the simulator did not start: {exc}") from None
            except BaseException:  # interrupted as it started: it goes too
                interruption.winding_up = True
                sim.stop()
                raise
        process: AppProcess | None = None
        try:
            env = app.app_env(sim.issuer, sim.ca or "")
            env.setdefault("NODE_EXTRA_CA_CERTS", sim.ca or "")
            if app.command:
                process = AppProcess(app, env, out / "app.log")
                process.start(app.app_command(sim.issuer, sim.ca or ""))
                process.wait_ready(app.ready_url or app.start_url, sim.ca)
            results, professional, interrupted = _run_tests(
                app, tests, sim, shots, progress, interruption
            )
        finally:
            interruption.winding_up = True  # a signal from here on hurries, raises nothing
            if process is not None:
                process.stop()
            if simulator is None:
                sim.stop()
    return RunResult(
        app,
        results,
        sim.issuer,
        started,
        round(time.monotonic() - clock, 2),
        professional,
        interrupted,
    )


def _run_tests(
    app: AppProfile,
    tests: tuple[RpTest, ...],
    sim: SimulatorProcess,
    shots: Path,
    progress: Callable[[TestResult], None] | None,
    interruption: Interruption,
) -> tuple[list[TestResult], dict, str | None]:
    control = httpx.Client(base_url=sim.origin, verify=_trust(sim.ca), timeout=10)
    parts = urlsplit(app.start_url)
    app_origin = f"{parts.scheme}://{parts.netloc}"
    results: list[TestResult] = []
    interrupted = None
    with control:
        professional = _professional(control)
        if progress is not None:
            shown = progress

            def progress(result: TestResult) -> None:
                result.professional = professional
                shown(result)

        logins = [t for t in tests if t.kind != OBSERVE]
        honest: list[dict] = []
        every_login: list[list[dict]] = []
        app_urls: list[str] = []  # the app's pages, as the browser loaded them
        judged = verdicts.Control()
        wallet_origin = sim.wallet.rsplit("/auth", 1)[0]
        finished = False  # every login test run (no break, no interruption)
        try:
            with AppBrowser(app, wallet_origin, sim.ca, interruption) as browser:
                for test in logins:
                    if interruption.signal:  # noted, whatever became of its exception
                        raise KeyboardInterrupt
                    began = time.monotonic()
                    early = verdicts.before_login(test, app, judged)
                    if early is not None:
                        results.append(TestResult(test, early))
                        if progress:
                            progress(results[-1])
                        continue
                    if test.lie == KEY_ROTATED:
                        _wait_for_jwks_refetch(app, every_login)
                    after = control.post("/_simulator/lie", json={"lie": test.lie}).json()["after"]
                    then = _follow_up(test, browser, professional, control)
                    try:
                        outcome = browser.login(professional, shots / f"{test.name}.png", then)
                    except AppUnreachable as exc:
                        if not results:
                            raise
                        interrupted = f"the app stopped answering: {exc}"
                        break
                    except (PlaywrightError, httpx.HTTPError) as exc:
                        interrupted = f"the run broke: {type(exc).__name__}: {_first_line(exc)}"
                        break
                    finally:
                        if test.kind == EXPIRY:  # later tokens must not be issued in the future
                            with contextlib.suppress(httpx.HTTPError):
                                control.post("/_simulator/clock", json={"reset": True})
                    entries = control.get("/_simulator/requests", params={"after": after}).json()
                    entries = entries["requests"]
                    every_login.append(entries)
                    app_urls += [p["url"] for p in outcome.pages if p["url"].startswith(app_origin)]
                    verdict = verdicts.judge(test, outcome, entries, app, judged)
                    if test.name == "honest-login":
                        honest = entries
                        exercices = len(professional["professions"])
                        judged = verdicts.Control.of(verdict, entries, outcome, exercices)
                    if test.name == "honest-login-again" and verdict.status != verdicts.PASSED:
                        _void_refusals(results)
                    result = TestResult(
                        test, verdict, outcome, entries, round(time.monotonic() - began, 2)
                    )
                    results.append(result)
                    if progress:
                        progress(result)
                else:
                    finished = True
        except AppUnreachable as exc:
            if not interruption.signal:
                raise RpRunError(f"the app cannot be driven: {exc}") from None
        except KeyboardInterrupt:
            if not finished:
                interrupted = interruption.signal or "SIGINT"
        finally:
            # An interruption wins over what it became on its way (a Playwright error, the app
            # "unreachable" as its page was cut short): the run stopped because it was asked to.
            if interruption.signal and not finished:
                interrupted = interruption.signal
            timeout = CONTROL_TIMEOUT_INTERRUPTED if interrupted else None
            with contextlib.suppress(httpx.HTTPError):
                control.post("/_simulator/lie", json={"lie": None}, **_timeout(timeout))
        if honest:  # what the app sent is judged on the honest login, even if the run stopped
            for test in tests:
                if test.kind == OBSERVE:
                    verdict = verdicts.observe(test, honest, every_login, app, app_urls)
                    result = TestResult(test, verdict, None, [], 0.0)
                    results.append(result)
                    if progress:
                        progress(result)
    order = {t.name: i for i, t in enumerate(tests)}
    results.sort(key=lambda r: order[r.test.name])
    return results, professional, interrupted


def _timeout(seconds: float | None) -> dict:
    return {} if seconds is None else {"timeout": seconds}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""


def _professional(control: httpx.Client) -> dict:
    """The test professional of the run: one with two exercices (professions), so that the
    order of exercices can be put to the test, else the first one."""
    users = control.get("/_simulator/users", params={"limit": 2000}).json()["users"]
    return next((u for u in users if len(u["professions"]) >= 2), users[0])


def _follow_up(test: RpTest, browser: AppBrowser, professional: dict, control: httpx.Client):
    """What a logout or expiry test does once the professional is logged in."""
    if test.kind == LOGOUT:
        return browser.log_out
    if test.kind == EXPIRY:

        def expire(page, outcome) -> None:
            # The provider's clock, not ours: every token it issued is now past its 120 s.
            lifetime = 121  # PSC's access token lives 120 s (fact sheet §2.3)
            control.post("/_simulator/clock", json={"advance": lifetime})
            browser.reload_and_watch(page, professional, outcome)

        return expire
    return None


def _wait_for_jwks_refetch(app: AppProfile, every_login: list[list[dict]]) -> None:
    """An app may fetch the JWKS again at most once per `jwks_refetch_limit` seconds (a guard
    against being made to fetch it at every forged kid): a new key is served only once that
    much time has passed since its last fetch, so the test judges refetching, not the guard."""
    fetched = [e["t"] for login in every_login for e in login if e["path"].endswith("/certs")]
    if app.jwks_refetch_limit and fetched:
        time.sleep(max(0.0, max(fetched) + app.jwks_refetch_limit + 1 - time.time()))


def _void_refusals(results: list[TestResult]) -> None:
    """The closing control failed: the app may have been refusing (or silent) for any reason by
    then, so neither its refusals nor its silences before it count as evidence. Logging someone
    in under a lie stays a failure: that is evidence whatever came after."""
    for r in results:
        silent = verdicts.NEITHER in r.verdict.reason
        refused = r.test.kind == REJECT and r.verdict.status == verdicts.PASSED
        if r.test.kind != OBSERVE and r.test.name != "honest-login" and (refused or silent):
            r.verdict = verdicts.Verdict(
                verdicts.ERROR,
                "not judged: the app refused the honest login after the lies "
                "(honest-login-again), so what it did here may not be about the lie",
                r.verdict.level,
            )


def summary_counts(results: list[TestResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.verdict.status] = counts.get(r.verdict.status, 0) + 1
    return counts


def run_verdict(run: RunResult, planned: int) -> tuple[str, int]:
    """PASSED (0), FAILED (1: a MUST failed), INCOMPLETE (4: an error, an interruption, or
    tests not run)."""
    statuses = [r.verdict.status for r in run.results]
    if verdicts.FAILED in statuses:
        return "FAILED", 1
    if run.interrupted or verdicts.ERROR in statuses or len(statuses) < planned:
        return "INCOMPLETE", 4
    return "PASSED", 0
