"""Locust scenarios replaying Pro Santé Connect login traffic (run by `psc-testkit load`).

Every scenario is built on the client core: the flow steps of psc_testkit.client.flow and the very
login drivers the conformance suite uses, driven through Locust's FastHttpUser. Each virtual
user has two sessions, as in the conformance harness: the browser's (front channel: cookies,
the login pages) and the relying party's server's (back channel: discovery, token, userinfo,
introspection, refresh, CIBA; it never holds a cookie). Each request is named by its step;
each journey is also reported as one transaction (request type FLOW) with its end-to-end
latency, failed with the failing step's reason and its class (provider, protocol or tool:
psc_testkit.load.failures).

Options come from the PSC_LOAD environment variable (JSON) that `psc-testkit load` sets.
"""

from __future__ import annotations

import dataclasses
import functools
import http.cookiejar
import itertools
import json
import logging
import os
import secrets
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import ClassVar

import gevent
import gevent.lock
import gevent.pool
import gevent.queue
import gevent.ssl
import greenlet
import locust.stats
from locust import FastHttpUser, between, constant_pacing, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.runners import MasterRunner, WorkerRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shapes.py beside this file

import shapes

from psc_testkit.client import flow
from psc_testkit.client.config import load_target
from psc_testkit.client.destinations import Destinations
from psc_testkit.client.drivers import LoginError, LoginRefused, make_driver
from psc_testkit.client.drivers.common import callback_of
from psc_testkit.client.errors import RunStopped, TargetError
from psc_testkit.client.jsonsafe import loads
from psc_testkit.client.metadata import Metadata
from psc_testkit.conformance.harness import recorder_for
from psc_testkit.load import failures, names, slo
from psc_testkit.load import results as res
from psc_testkit.load.browser import LocustBrowser
from psc_testkit.load.failures import PROTOCOL, PROVIDER, TOOL, StepFailure

OPTIONS = json.loads(os.environ.get("PSC_LOAD", "{}"))
TARGET = load_target(
    Path(OPTIONS.get("profile", "targets/simulator.toml")), **OPTIONS.get("runtime", {})
)
if OPTIONS.get("method"):  # --method: how the simulated professionals authenticate
    TARGET = dataclasses.replace(
        TARGET, driver=dataclasses.replace(TARGET.driver, method=OPTIONS["method"])
    )
CLIENT = next(
    c for c in TARGET.clients if c.auth_method not in ("tls_client_auth",) and not c.public
)
CIBA_CLIENT = next(
    (c for c in TARGET.clients if c.ciba and c.auth_method != "tls_client_auth"), None
)
OBJECTIVES = [slo.parse(s) for s in OPTIONS.get("slos", [])]
WEIGHTS = names.weights(OPTIONS.get("weights", {}))
THINK = float(OPTIONS.get("think", 1.0))
ARRIVAL_RATE = float(OPTIONS.get("arrival_rate") or 0)  # flows/s: the open model
MAX_IN_FLIGHT = int(OPTIONS.get("max_in_flight", 2000))  # arrivals one process keeps going
PROGRESS_EVERY = float(OPTIONS.get("progress_every", 5))
REPORTS = Path(OPTIONS.get("reports", "reports/load"))
RESULTS = res.Results()
REDACT = recorder_for(TARGET).redact
# Tests of the failure classes make our own code fail every Nth first login ("tool:N"): the
# only way to prove a tool failure invalidates a run without breaking the tool for real.
FAULT_EVERY = int(os.environ.get("PSC_LOAD_FAULT", "tool:0").partition(":")[2] or 0)
FIRST_LOGINS = itertools.count(1)
LOG = logging.getLogger("psc_testkit.load")
locust.stats.PERCENTILES_TO_REPORT = [0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0]


# Shared per process: discovery (fetched once), the test accounts, the run's state -----------


class Accounts:
    """The profile's test users (with their own passwords, read by the driver). Shared by
    default: a virtual user logs in as one that others may use at the same time, each in a
    session of its own, as colleagues on one account would. With `exclusive_accounts`, a
    virtual user waits for a free one: the pool never fails a flow."""

    def __init__(self, users: list[str], exclusive: bool) -> None:
        self.exclusive = exclusive
        self.free: gevent.queue.Queue[str] = gevent.queue.Queue()
        for user in users:
            self.free.put(user)
        self.turns = itertools.cycle(users)

    def take(self) -> str:
        return self.free.get() if self.exclusive else next(self.turns)

    def give_back(self, user: str) -> None:
        if self.exclusive:
            self.free.put(user)


class Shared:
    meta: dict | None = None
    accounts: Accounts | None = None
    stopped: str | None = None  # why the run stopped itself (a broken prerequisite), once
    interrupted: str | None = None  # the signal that interrupted the run
    worker_tool_failures = False  # a worker's own code failed (its log is on its host)
    running = False  # the run began (test_start)
    main = None  # Locust's main greenlet
    tool_failures = 0
    lock = gevent.lock.Semaphore()
    environment = None  # Locust's, once initialised
    end_reason: str | None = None  # why the run ended: "run time", a signal, "stopped"
    # The open model's arrivals: started, not started (too many in flight: the provider fell
    # behind), still unfinished when the run ended. Summed at the master.
    counts: ClassVar[dict[str, int]] = {"offered": 0, "dropped": 0, "late": 0, "unfinished": 0}
    unsent: ClassVar[dict[str, int]] = dict.fromkeys(counts, 0)
    # Distributed runs: samples a worker sent in all, samples the master got from each, and
    # the workers whose last samples have not come yet.
    samples_sent = 0
    received: ClassVar[dict[str, int]] = {}
    declared: ClassVar[dict[str, int]] = {}
    awaited: ClassVar[set[str]] = set()

    @classmethod
    def count(cls, what: str) -> None:
        cls.counts[what] += 1
        cls.unsent[what] += 1

    @classmethod
    def ensure(cls, rp: LocustBrowser) -> dict:
        with cls.lock:
            if cls.meta is None:
                r = rp.request("GET", TARGET.discovery_url, name="discovery")
                if r.status_code != 200:
                    raise StepFailure(f"discovery: {r.failure()}")
                try:
                    meta = Metadata(loads(r.content))
                except ValueError:
                    raise StepFailure("discovery: not a JSON object") from None
                # No journey sends a secret, a token or a password off the provider's hosts.
                refused = Destinations(TARGET).metadata_problems(meta)
                if refused:
                    problem, hosts = next(iter(refused.items()))
                    raise StepFailure(f"discovery: {', '.join(hosts)}: {problem}")
                users = cls._load_users(rp)
                if not users:
                    raise StepFailure("no test user: list them in the profile's [driver] users")
                cls.accounts = Accounts(users, bool(OPTIONS.get("exclusive_accounts")))
                cls.meta = meta
        return cls.meta

    @staticmethod
    def _load_users(rp: LocustBrowser) -> list[str]:
        users = list(TARGET.driver.users)
        if not users and TARGET.control_origin:
            # 2,000 professionals: more than a run's virtual users, shared or exclusive, for
            # a fraction of the whole population's transfer time (1.2 s for 10,000).
            url = f"{TARGET.control_origin}/_simulator/users?limit=2000"
            r = rp.request("GET", url, name="(setup) users")
            users = [u["idNat"] for u in loads(r.content)["users"]] if r.status_code == 200 else []
        # Workers start from different accounts, so they do not all begin with the same one.
        index, count = layout()
        if OPTIONS.get("exclusive_accounts"):
            if index >= count or len(users) < count:
                raise StepFailure(
                    f"exclusive accounts: {len(users)} test user(s) for {count} workers, and "
                    f"this is worker {index + 1}: each worker needs a slice of its own"
                )
            return users[index::count]  # disjoint slices: exclusive across workers
        shift = len(users) * index // max(count, 1)
        return users[shift:] + users[:shift]

    @classmethod
    def stop_run(cls, environment, reason: str) -> None:
        """A prerequisite broke: one line, the run stops (exit 3), nothing more is sent."""
        if cls.stopped is None:
            cls.stopped = reason
            LOG.error("load stopped: %s", reason)
            gevent.spawn(end_run, environment, "stopped")


def layout() -> tuple[int, int]:
    """This process's index among the workers, and their number (1 without workers): the
    master gives both to each worker, local or remote (its worker index, --expect-workers)."""
    runner = getattr(Shared.environment, "runner", None)
    if not isinstance(runner, WorkerRunner):
        return 0, 1
    count = int(getattr(runner.environment.parsed_options, "expect_workers", 1) or 1)
    return runner.worker_index, count


def name_step(method: str, url: str) -> str:
    path = url.split("?")[0]
    if method == "GET" and path == (Shared.meta or {}).get("authorization_endpoint"):
        return "authorize"
    if method == "POST":
        return "authenticate"
    return "login-page"


@functools.cache
def trusted_context(cafile: str | None = None) -> gevent.ssl.SSLContext:
    """TLS as the conformance suite does it: the profile's CA file (else the system's trust),
    host names checked. Locust's FastHttpUser verifies nothing by default (insecure=True), which
    would send secrets and passwords to whoever answers. One context for every connection of
    the process: the CA file is read once, not at each new connection."""
    ca = str(TARGET.ca_file) if TARGET.ca_file else cafile
    return gevent.ssl.create_default_context(cafile=ca)


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The relying party's server keeps no cookie: the user's SSO cookie is the browser's."""

    def set_ok(self, cookie, request) -> bool:
        return False

    def return_ok(self, cookie, request) -> bool:
        return False


def session(user, *, cookies: bool, concurrency: int = 1) -> FastHttpSession:
    """A new HTTP session as the journeys' users make them (TLS verified, bounded reads);
    `concurrency` connections at most, for requests made at the same time."""
    made = FastHttpSession(
        base_url=user.host,
        request_event=user.environment.events.request,
        user=user,
        insecure=False,
        ssl_context_factory=trusted_context,
        network_timeout=TARGET.timeout,
        connection_timeout=TARGET.timeout,
        max_retries=0,  # as FastHttpUser's: a retry would outlive the exchange's deadline
        concurrency=concurrency,
    )
    if not cookies:
        made.cookiejar.set_policy(_NoCookies())
    return made


# One login's worth of protocol, on a browser and a relying party's server ---------------------


class Visitor:
    """A professional at a browser (`browser`) and the app's server (`rp`): the steps every
    journey is made of, each failing with a classified StepFailure."""

    driver = make_driver(TARGET.driver, TARGET)  # one per process: one refused-login budget

    def __init__(self, browser: LocustBrowser, rp: LocustBrowser, meta: dict) -> None:
        self.browser, self.rp, self.meta = browser, rp, meta

    def login(self, user: str) -> dict:
        """authorize → authenticate (driver, in the browser) → token (server); the tokens."""
        request = flow.AuthorizationRequest.new(
            self.meta["authorization_endpoint"], CLIENT, TARGET.scope, acr_values=TARGET.acr_values
        )
        try:
            answer = self.driver.authenticate(
                self.browser, request.url(), CLIENT.redirect_uri, user
            )
        except LoginRefused as exc:
            raise StepFailure(f"login: {exc}", PROTOCOL) from None
        except (LoginError, TargetError) as exc:
            raise StepFailure(f"login: {exc}", PROVIDER) from None
        if not answer.code:
            raise failures.of_callback(answer.error, answer.problem, answer.status)
        return self.token(
            flow.token_request(
                self.meta, CLIENT, answer.code, request.redirect_uri, request.verifier
            )
        )

    def call(self, request: flow.HttpRequest, name: str):
        """A back-channel request that must answer 200."""
        response = self.rp.send(request, name)
        if response.status_code != 200:
            raise failures.of_response(
                name, response.status_code, response.content, response.problem
            )
        return response

    def token(self, request: flow.HttpRequest, name: str = "token") -> dict:
        response = self.call(request, name)
        try:
            body = loads(response.content)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise StepFailure(f"{name}: not a JSON object")
        if not isinstance(body.get("access_token"), str):
            raise StepFailure(f"{name}: no access_token")
        return body

    def userinfo(self, tokens: dict) -> None:
        self.call(flow.userinfo_request(self.meta, tokens["access_token"]), "userinfo")

    def refresh(self, tokens: dict) -> dict:
        """A refresh; a provider that does not rotate refresh tokens answers without one:
        the one held stays valid and is kept."""
        new = self.token(
            flow.refresh_request(self.meta, CLIENT, tokens["refresh_token"]), "refresh"
        )
        if not isinstance(new.get("refresh_token"), str):
            new["refresh_token"] = tokens["refresh_token"]
        return new

    def first_login(self, user: str) -> None:
        if FAULT_EVERY and next(FIRST_LOGINS) % FAULT_EVERY == 0:
            raise RuntimeError("a fault injected by PSC_LOAD_FAULT")
        tokens = self.login(user)
        self.userinfo(tokens)
        if OPTIONS.get("refresh") and tokens.get("refresh_token"):
            self.refresh(tokens)
        if OPTIONS.get("logout") and tokens.get("id_token"):
            url = flow.logout_url(self.meta, id_token_hint=tokens["id_token"])
            self.browser.request("GET", url, name="logout")

    def silent(self) -> None:
        request = flow.AuthorizationRequest.new(
            self.meta["authorization_endpoint"],
            CLIENT,
            TARGET.scope,
            acr_values=TARGET.acr_values,
            extra={"prompt": "none"},
        )
        response = self.browser.request("GET", request.url(), name="authorize (sso)")
        answer = callback_of(response, CLIENT.redirect_uri)
        if answer is None:
            if response.status_code == 0 or response.status_code >= 400:
                raise failures.of_response(
                    "silent authorize", response.status_code, response.content, response.problem
                )
            raise StepFailure("silent authorize: no redirect to the client")
        if not answer.code:
            raise failures.of_callback(answer.error, answer.problem, answer.status)
        self.token(
            flow.token_request(
                self.meta, CLIENT, answer.code, request.redirect_uri, request.verifier
            )
        )

    def poll(self, tokens: dict) -> None:
        self.userinfo(tokens)
        if "introspection_endpoint" in self.meta:
            self.call(
                flow.introspection_request(self.meta, CLIENT, tokens["access_token"]),
                "introspection",
            )

    def ciba(self, user: str) -> None:
        request = flow.ciba_request(
            self.meta,
            CIBA_CLIENT,
            user,
            TARGET.scope,
            acr_values=TARGET.acr_values,
            binding_message=f"{secrets.randbelow(100):02d}",
            channel="MOBILE",
        )
        try:
            started = loads(self.call(request, "ciba").content)
            auth_req_id = started["auth_req_id"]
            interval = float(started.get("interval", 5))
            deadline = time.time() + float(started.get("expires_in", 120))
        except (ValueError, KeyError, TypeError):
            raise StepFailure("ciba: no auth_req_id, interval and expires_in") from None
        while time.time() < deadline:
            gevent.sleep(interval)
            poll = self.rp.send(
                flow.ciba_token_request(self.meta, CIBA_CLIENT, auth_req_id), "ciba-token"
            )
            if poll.status_code == 200:
                return
            error = failures.error_code(poll.content)
            if error == "slow_down":
                interval += 5
            elif error != "authorization_pending":
                raise failures.of_response(
                    "ciba-token", poll.status_code, poll.content, poll.problem
                )
        raise StepFailure("ciba: expired before approval")


# The journeys -------------------------------------------------------------------------------


class Journeys(FastHttpUser):
    abstract = True
    insecure = False
    ssl_context_factory = staticmethod(trusted_context)
    wait_time = between(THINK * 0.5, THINK * 1.5) if THINK else constant_pacing(0)
    # Per read; the LocustBrowser bounds the whole exchange at three times this, as conformance.
    network_timeout = TARGET.timeout
    connection_timeout = TARGET.timeout

    def on_start(self) -> None:
        deadline = 3 * TARGET.timeout
        self.rp = LocustBrowser(session(self, cookies=False), name_step, deadline=deadline)
        self.browser = LocustBrowser(self.client, name_step, deadline=deadline)
        try:
            self.visitor = Visitor(self.browser, self.rp, Shared.ensure(self.rp))
        except StepFailure as exc:
            # No journey can run without the metadata: one cause, so the run stops, its reason
            # recorded as a failed flow (in the summary) and said in one line, not per user.
            self.report_flow("setup", 0.0, exc)
            Shared.stop_run(self.environment, str(exc))
            while True:  # until the runner's quit ends this user (the run time bounds it too)
                gevent.sleep(1)

    def transaction(self, name: str, journey, *args) -> bool:
        """Run a journey as one FLOW transaction: its latency, or the failing step's reason
        and class. True when it completed."""
        started = time.perf_counter()
        error: Exception | None = None
        try:
            journey(*args)
        except StepFailure as exc:
            error = exc
        except RunStopped as exc:  # the provider refused logins: no more credentials go out
            Shared.stop_run(self.environment, str(exc))
            error = StepFailure(str(exc), PROTOCOL)
        except TargetError as exc:  # e.g. discovery lacks an endpoint the journey needs
            error = StepFailure(str(exc), PROVIDER)
        except Exception as exc:
            error = tool_failure(exc)
        self.report_flow(name, (time.perf_counter() - started) * 1000, error)
        return error is None

    def report_flow(self, name: str, milliseconds: float, error: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type=res.FLOW,
            name=name,
            context={},
            response_time=milliseconds,
            response_length=0,
            exception=error,
            response=None,
        )

    def as_someone(self, name: str, journey, new_browser: bool = True) -> bool:
        """`journey(user)` as the transaction `name`, with a test account taken before the
        clock starts (waiting for an account is not latency) and given back after; in a new
        browser (no SSO session) unless told otherwise."""
        if new_browser:
            self.client.cookiejar.clear()
        user = Shared.accounts.take()
        try:
            return self.transaction(name, journey, user)
        finally:
            Shared.accounts.give_back(user)

    def first_login(self) -> None:
        self.as_someone("first-login", self.visitor.first_login)

    def logged_in(self) -> dict | None:
        """Tokens of a first login in a new browser (a first-login flow), or None."""
        held: dict = {}
        self.as_someone("first-login", lambda user: held.update(self.visitor.login(user)))
        return held or None


def tool_failure(exc: BaseException) -> StepFailure:
    """Our own code broke: the traceback goes to the run's log file (redacted), the flow is
    failed as the tool's, never the provider's."""
    Shared.tool_failures += 1
    if Shared.tool_failures <= 50:
        text = "".join(traceback.format_exception(exc))
        try:
            REPORTS.mkdir(parents=True, exist_ok=True)
            with (REPORTS / "tool-failures.log").open("a", encoding="utf-8") as log:
                log.write(f"--- pid {os.getpid()} at {time.strftime('%H:%M:%S')}\n")
                log.write(REDACT(text) + "\n")
        except OSError:
            pass
    return StepFailure(f"psc-testkit: {type(exc).__name__}: {REDACT(str(exc))[:160]}", TOOL)


class FirstLogin(Journeys):
    """A new session: discovery (cached), authorize, authenticate (CPS or e-CPS), callback,
    token, userinfo; optionally refresh and logout."""

    weight = 0 if ARRIVAL_RATE else WEIGHTS["first-login"]

    @task
    def journey(self) -> None:
        self.first_login()


class ReturningUser(Journeys):
    """An SSO session already open: a silent authorize and a token request."""

    weight = 0 if ARRIVAL_RATE else WEIGHTS["returning"]

    def on_start(self) -> None:
        super().on_start()
        self.session_open = self.logged_in() is not None

    @task
    def journey(self) -> None:
        if not self.session_open:  # its first login failed: a new browser tries again
            self.session_open = self.logged_in() is not None
            return
        if not self.transaction("returning", self.visitor.silent):
            self.session_open = False


class TokenRefresher(Journeys):
    """Logs in once, then refreshes (with the refresh token the provider last gave)."""

    weight = 0 if ARRIVAL_RATE else WEIGHTS["refresh"]
    tokens: dict | None = None

    def refresh(self) -> None:
        self.tokens = self.visitor.refresh(self.tokens)

    @task
    def journey(self) -> None:
        if not (self.tokens or {}).get("refresh_token"):
            self.tokens = self.logged_in()
            return
        if not self.transaction("refresh", self.refresh):
            self.tokens = None


class Poller(Journeys):
    """Logs in once, then polls userinfo and introspection with the access token."""

    weight = 0 if ARRIVAL_RATE else WEIGHTS["userinfo-poll"]
    tokens: dict | None = None
    renew_at = 0.0

    @task
    def journey(self) -> None:
        # A new login at three quarters of the token's life (PSC's last 120 s): a poll never
        # sends a token about to expire, which the provider would rightly refuse.
        if not self.tokens or time.time() > self.renew_at:
            self.tokens = self.logged_in()
            lifetime = (self.tokens or {}).get("expires_in", 120)
            lifetime = lifetime if isinstance(lifetime, int | float) and lifetime > 0 else 120
            self.renew_at = time.time() + 0.75 * lifetime
            return
        self.transaction("userinfo-poll", self.visitor.poll, self.tokens)


class CibaLogin(Journeys):
    """A decoupled login: backchannel request with the idNat as login_hint and a two-digit
    binding message, then polling the token endpoint until the e-CPS app approves."""

    weight = WEIGHTS["ciba"] if CIBA_CLIENT and not ARRIVAL_RATE else 0

    @task
    def journey(self) -> None:
        self.as_someone("ciba", self.visitor.ciba, new_browser=False)  # no browser in CIBA


class AvailabilityProbe(Journeys):
    """One full first login at a constant rate, whatever the load: the availability probe."""

    fixed_count = 1
    wait_time = constant_pacing(1 / max(0.01, float(OPTIONS.get("probe_rate", 1.0))))

    @task
    def journey(self) -> None:
        self.as_someone("probe", self.visitor.first_login)


class Arrivals(Journeys):
    """The open model (`--arrival-rate`): new professionals arrive at a fixed rate, each a
    first login in a new browser, whether or not earlier ones are done, so a slow provider
    cannot lower the offered load (no coordinated omission). The relying party's server makes
    its requests side by side (a pool of connections, not one). Beyond MAX_IN_FLIGHT flows
    under way, an arrival is not started: counted as dropped (the provider fell behind)."""

    abstract = not ARRIVAL_RATE  # only in the open model
    fixed_count = max(1, int(OPTIONS.get("workers") or 0))  # as many as workers, a share each

    def on_start(self) -> None:
        super().on_start()
        deadline = 3 * TARGET.timeout
        self.rp = LocustBrowser(
            session(self, cookies=False, concurrency=MAX_IN_FLIGHT), name_step, deadline=deadline
        )
        self.in_flight = gevent.pool.Pool(MAX_IN_FLIGHT)

    def on_stop(self) -> None:
        """Flows under way get the stop timeout's 2 s to end; those still running then are
        counted as unfinished, neither done nor failed."""
        if hasattr(self, "in_flight"):
            self.in_flight.join(timeout=2)
            for _ in range(len(self.in_flight)):
                Shared.count("unfinished")
            self.in_flight.kill(block=False)

    def arrive(self) -> None:
        front = session(self, cookies=True)  # a new browser, its own connections
        user = Shared.accounts.take()
        try:
            browser = LocustBrowser(front, name_step, 3 * TARGET.timeout)
            self.transaction("arrival", Visitor(browser, self.rp, Shared.meta).first_login, user)
        finally:
            Shared.accounts.give_back(user)
            front.client.clientpool.close()

    def wait_time(self) -> float:
        """Until the next arrival is due: the rate is kept on average (no drift), each
        instance offering its share (one instance per worker). A generator more than a second
        late does not catch up in a burst: those arrivals are counted as late, and said."""
        now = time.perf_counter()
        due = getattr(self, "due", now) + layout()[1] / ARRIVAL_RATE
        if due < now - 1.0:
            missed = int((now - due) * ARRIVAL_RATE / layout()[1])
            for _ in range(missed):
                Shared.count("late")
            due = now
        self.due = due
        return max(0.0, due - now)

    @task
    def offer(self) -> None:
        if self.in_flight.full():
            Shared.count("dropped")
            return
        Shared.count("offered")
        self.in_flight.spawn(self.arrive)


if OPTIONS.get("shape"):

    class Shape(shapes.SHAPES[OPTIONS["shape"]]):  # the one shape class Locust will find
        abstract = False
        users = int(OPTIONS.get("users", 10))
        spawn_rate = float(OPTIONS.get("spawn_rate", 10))
        run_time = float(OPTIONS.get("run_time", 60))


# Results: exact samples, merged from workers, judged at the end -----------------------------


@events.request.add_listener
def _record(request_type, name, response_time, exception, **_kwargs) -> None:
    if name.startswith("(setup)"):
        return
    error = kind = None
    if exception is not None:
        error = str(exception).splitlines()[0][:200] if str(exception) else type(exception).__name__
        kind = getattr(exception, "kind", PROVIDER)
    if OPTIONS.get("_worker"):  # the master keeps the samples; a worker only sends them
        RESULTS.pending.append((request_type, name, response_time, error, kind, time.time()))
        Shared.samples_sent += 1
    else:
        RESULTS.record(request_type, name, response_time, error, kind)


def _report() -> dict:
    """What a worker sends: its samples since the last report, the number it has sent in all
    (the master checks none was lost), its clock (to place the samples in the master's time),
    and the open model's counts."""
    report = {
        "samples": RESULTS.pending,
        "sent_total": Shared.samples_sent,
        "clock": time.time(),
        "stopped": Shared.stopped,
        "counts": dict(Shared.unsent),
        "tool_failures": Shared.tool_failures,
    }
    RESULTS.pending = []
    Shared.unsent.update(dict.fromkeys(Shared.unsent, 0))
    return report


def _take(environment, worker: str, report: dict) -> None:
    """A worker's report, at the master: its samples moved to the master's clock."""
    shift = time.time() - float(report.get("clock") or time.time())
    samples = [(*s[:5], s[5] + shift) for s in report.get("samples", [])]
    RESULTS.merge(samples, worker=worker)
    Shared.received[worker] = Shared.received.get(worker, 0) + len(samples)
    Shared.declared[worker] = int(report.get("sent_total", 0))
    for what, count in (report.get("counts") or {}).items():
        Shared.counts[what] = Shared.counts.get(what, 0) + int(count)
    if report.get("tool_failures"):
        Shared.worker_tool_failures = True
    if report.get("stopped") and Shared.stopped is None:
        # One worker's broken prerequisite (a refused-login budget spent) stops them all.
        Shared.stopped = report["stopped"]
        gevent.spawn(end_run, environment, "stopped")


@events.report_to_master.add_listener
def _send(client_id, data, **_kwargs) -> None:
    data["psc"] = _report()


@events.worker_report.add_listener
def _receive(client_id, data, **_kwargs) -> None:
    if "psc" in data:
        _take(Shared.environment, client_id, data["psc"])


def _flush_asked(environment, msg, **_kwargs) -> None:
    """At a worker, once its users stopped: its last samples."""
    environment.runner.send_message("psc_final", _report())


def _flushed(environment, msg, **_kwargs) -> None:
    _take(environment, msg.node_id, msg.data)
    Shared.awaited.discard(msg.node_id)


def end_run(environment, reason: str) -> None:
    """End the run once, in order: the users stop (the workers' too, which then send their
    last samples, waited for), then Locust quits. Locust's own end (-t) would quit at once and
    wait 0.5 s for the workers' last reports, losing those of flows still finishing."""
    if Shared.end_reason is not None:
        return
    Shared.end_reason = reason
    RESULTS.ended = time.time()
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        # Locust forgets a worker once it says it stopped (until it says it is ready again):
        # the workers are named before.
        Shared.awaited = {worker.id for worker in runner.clients.all}
        runner.stop()  # each worker stops its users (bounded: stop timeout + 60 s)
        for worker in list(Shared.awaited):
            runner.send_message("psc_flush", None, worker)
        deadline = time.time() + environment.stop_timeout + 10
        while Shared.awaited and time.time() < deadline:
            gevent.sleep(0.05)
        # Back as ready (each after its stop timeout): then the quit message reaches it.
        while len(runner.clients.all) < len(Shared.received) and time.time() < deadline:
            gevent.sleep(0.05)
    runner.quit()
    if environment.web_ui is not None:
        environment.web_ui.stop()


def _interrupted(environment, name: str) -> None:
    """Ctrl-C, or `psc-testkit load` forwarding a SIGINT/SIGTERM: the run ends as at its run
    time, what it measured kept. Handled in gevent's loop: a KeyboardInterrupt raised in
    whichever greenlet was running would print a traceback."""
    Shared.interrupted = Shared.interrupted or name
    if not Shared.running:
        # Before the run began (a master waiting for its workers, in a loop of Locust's that
        # nothing else ends): nothing was measured, so nothing is judged.
        print(f"load stopped before it began ({name}): nothing measured", flush=True)
        main = Shared.main
        gevent.spawn(lambda: main.throw(SystemExit(4)))
        return
    gevent.spawn(end_run, environment, name)


@events.init.add_listener
def _init(environment, **_kwargs) -> None:
    OPTIONS["_worker"] = isinstance(environment.runner, WorkerRunner)
    Shared.environment = environment
    Shared.main = greenlet.getcurrent()  # Locust's main loop
    if OPTIONS["_worker"]:
        environment.runner.register_message("psc_flush", _flush_asked)
    else:
        gevent.signal_handler(signal.SIGINT, _interrupted, environment, "SIGINT")
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message("psc_final", _flushed)


@events.test_start.add_listener
def _started(environment, **_kwargs) -> None:
    if OPTIONS.get("_worker"):
        return
    RESULTS.started = time.time()
    Shared.running = True
    planned = float(OPTIONS.get("run_time", 0))
    if planned:
        gevent.spawn(_clock, environment, RESULTS.started + planned)
    if OPTIONS.get("progress") and PROGRESS_EVERY > 0:
        gevent.spawn(_progress)


def _clock(environment, end: float) -> None:
    """The run time, on the wall clock from the start of the run (Locust's own -t, a backstop
    here, counts from a loop clock that a slow import leaves behind)."""
    while time.time() < end:
        gevent.sleep(min(1.0, end - time.time()))
    end_run(environment, "run time")


def _progress() -> None:
    while Shared.end_reason is None:
        gevent.sleep(PROGRESS_EVERY)
        if Shared.end_reason is None:
            print(RESULTS.progress(time.time()), flush=True)


@events.quitting.add_listener
def _verdict(environment, **_kwargs) -> None:
    if OPTIONS.get("_worker"):
        return
    planned = float(OPTIONS.get("run_time", 0))
    # What the launcher saw before it told Locust to stop: the signal it got, a dead target.
    try:
        launcher = json.loads((REPORTS / ".launcher.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        launcher = {}
    interrupted = launcher.get("interrupted") or Shared.interrupted
    if interrupted is None and Shared.end_reason is None:
        interrupted = "ended by Locust before its run time"  # e.g. SIGTERM straight to it
    lost = {
        worker: declared - Shared.received.get(worker, 0)
        for worker, declared in Shared.declared.items()
        if declared > Shared.received.get(worker, 0)
    }
    meta = {
        "run_id": OPTIONS.get("run_id"),
        "target": TARGET.name,
        "discovery_url": TARGET.discovery_url,
        "model": f"open: {ARRIVAL_RATE:g} flows/s" if ARRIVAL_RATE else "closed",
        "users": OPTIONS.get("users"),
        "arrival_rate": ARRIVAL_RATE or None,
        "arrivals": dict(Shared.counts) if ARRIVAL_RATE else None,
        "shape": OPTIONS.get("shape"),
        "planned_run_time_s": planned,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(RESULTS.started)),
        "interrupted": interrupted,
        "stopped": Shared.stopped,
        "target_exited": launcher.get("target_exited"),
        "workers": OPTIONS.get("workers", 0),
        "workers_silent": sorted(Shared.awaited),
        "samples_lost": lost,
        "expected_flows": sorted(
            names.selected_flows(WEIGHTS, CIBA_CLIENT is not None, bool(ARRIVAL_RATE))
        ),
        "tool_log": _tool_log(),
    }
    report = res.summary(RESULTS, OBJECTIVES, meta, bool(OPTIONS.get("require_proof")))
    FINAL[:] = [report, res.write(report, REPORTS)]
    environment.process_exit_code = report["exit_code"]


def _tool_log() -> str | None:
    if Shared.tool_failures:
        return str(REPORTS / "tool-failures.log")
    if getattr(Shared, "worker_tool_failures", False):
        return f"{REPORTS / 'tool-failures.log'} on the workers' hosts"
    return None


FINAL: list = []  # the report and where it was written, for the last lines printed


@events.quit.add_listener
def _print(**_kwargs) -> None:
    """After Locust's own tables: ours, and the verdict as the last line."""
    if FINAL:
        report, path = FINAL
        print("\n" + res.table(report) + f"\nsummary: {path}", flush=True)
        print(res.verdict_line(report), flush=True)
