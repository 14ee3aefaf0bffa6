"""Locust scenarios replaying Pro Santé Connect login traffic (run by `psc-testkit load`).

Every scenario is built on the client core: the flow steps of psc_testkit.flow and the very
login drivers the conformance suite uses, driven through Locust's FastHttpUser. Each request is
named by its step; each journey is also reported as one transaction (request type FLOW) with its
end-to-end latency, failed with the failing step's reason.

Options come from the PSC_LOAD environment variable (JSON) that `psc-testkit load` sets.
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import os
import random
import secrets
import sys
import time
from pathlib import Path
from typing import ClassVar

import gevent
import gevent.lock
import gevent.ssl
import locust.stats
from locust import FastHttpUser, between, constant_pacing, events, task
from locust.runners import MasterRunner, WorkerRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shapes.py beside this file

import shapes

from psc_testkit import flow, slo
from psc_testkit.config import load_target
from psc_testkit.destinations import Destinations
from psc_testkit.drivers import make_driver
from psc_testkit.drivers.common import callback_of
from psc_testkit.jsonsafe import loads
from psc_testkit.loadkit import results as res
from psc_testkit.loadkit.browser import LocustBrowser, StepFailure
from psc_testkit.metadata import Metadata

OPTIONS = json.loads(os.environ.get("PSC_LOAD", "{}"))
TARGET = load_target(
    Path(OPTIONS.get("profile", "targets/simulator.toml")), **OPTIONS.get("runtime", {})
)
CLIENT = next(
    c for c in TARGET.clients if c.auth_method not in ("tls_client_auth",) and not c.public
)
CIBA_CLIENT = next(
    (c for c in TARGET.clients if c.ciba and c.auth_method != "tls_client_auth"), None
)
OBJECTIVES = [slo.parse(s) for s in OPTIONS.get("slos", [])]
WEIGHTS = OPTIONS.get("weights", {})
THINK = float(OPTIONS.get("think", 1.0))
RESULTS = res.Results()
locust.stats.PERCENTILES_TO_REPORT = [0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0]


# Shared per process: discovery (fetched once) and the pool of test professionals -------------


class Shared:
    meta: dict | None = None
    stopping = False  # a broken prerequisite stops the run once
    users: ClassVar[collections.deque[str]] = collections.deque()
    lock = gevent.lock.Semaphore()

    @classmethod
    def ensure(cls, client, browser: LocustBrowser) -> dict:
        with cls.lock:
            if cls.meta is None:
                r = browser.request("GET", TARGET.discovery_url, name="discovery")
                if r.status_code != 200:
                    raise StepFailure(f"discovery: {r.failure()}")
                try:
                    meta = Metadata(loads(r.content))
                except ValueError:
                    raise StepFailure("discovery: not a JSON object") from None
                # No journey sends a secret, a token or a password off the provider's hosts.
                refused = Destinations(TARGET).metadata_problems(meta)
                if refused:
                    problem, names = next(iter(refused.items()))
                    raise StepFailure(f"discovery: {', '.join(names)}: {problem}")
                cls.meta = meta
                cls.users.extend(cls._load_users(client))
        return cls.meta

    @classmethod
    def _load_users(cls, client) -> list[str]:
        users = list(TARGET.driver.users)
        if not users and TARGET.control_origin:
            r = client.get(
                f"{TARGET.control_origin}/_simulator/users?limit=10000", name="(setup) users"
            )
            users = [u["idNat"] for u in r.json()["users"]]
        # Workers take disjoint slices, so no professional is used twice at once.
        index = int(os.environ.get("PSC_WORKER_INDEX", 0))
        count = int(os.environ.get("PSC_WORKER_COUNT", 1))
        users = users[index::count] or users
        random.Random(index).shuffle(users)
        return users

    @classmethod
    def take(cls) -> str:
        if not cls.users:
            raise StepFailure("every test professional is busy: add users or lower the load")
        return cls.users.popleft()

    @classmethod
    def give_back(cls, user: str) -> None:
        cls.users.append(user)


# The journeys -------------------------------------------------------------------------------


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


class Journeys(FastHttpUser):
    abstract = True
    insecure = False
    ssl_context_factory = staticmethod(trusted_context)
    wait_time = between(THINK * 0.5, THINK * 1.5) if THINK else constant_pacing(0)
    driver = make_driver(TARGET.driver, TARGET)  # the target: where its logins may go
    # Per read; the LocustBrowser bounds the whole exchange at three times this, as conformance.
    network_timeout = TARGET.timeout
    connection_timeout = TARGET.timeout

    def on_start(self) -> None:
        self.browser = LocustBrowser(self.client, name_step, deadline=3 * TARGET.timeout)
        try:
            self.meta = Shared.ensure(self.client, self.browser)
        except StepFailure as exc:
            # No journey can run without the metadata: one cause, so the run stops, its reason
            # recorded as a failed flow (in the summary) and said in one line, not per user.
            self.report_flow("setup", 0.0, exc)
            if not Shared.stopping:
                Shared.stopping = True
                logging.getLogger("psc_testkit.load").error("load stopped: %s", exc)
                gevent.spawn(self.environment.runner.quit)
            while True:  # until the runner's quit ends this user (the run time bounds it too)
                gevent.sleep(1)

    def transaction(self, name: str, journey) -> None:
        """Run a journey as one FLOW transaction: its latency, or the failing step's reason."""
        started = time.perf_counter()
        error: Exception | None = None
        try:
            journey()
        except StepFailure as exc:
            error = exc
        except Exception as exc:
            error = StepFailure(f"{type(exc).__name__}: {exc}")
        self.report_flow(name, (time.perf_counter() - started) * 1000, error)

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

    def login(self, user: str) -> dict:
        """authorize → authenticate (driver) → token; returns the token response."""
        request = flow.AuthorizationRequest.new(
            self.meta["authorization_endpoint"],
            CLIENT,
            TARGET.scope,
            acr_values=TARGET.acr_values,
        )
        answer = self.driver.authenticate(self.browser, request.url(), CLIENT.redirect_uri, user)
        if not answer.code:
            raise StepFailure(f"authorize: {answer.error or answer.problem or 'no code'}")
        return self.token(
            flow.token_request(
                self.meta, CLIENT, answer.code, request.redirect_uri, request.verifier
            )
        )

    def token(self, request: flow.HttpRequest, name: str = "token") -> dict:
        response = self.browser.send(request, name)
        if response.status_code != 200:
            raise StepFailure(f"{name}: HTTP {response.status_code}")
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
        response = self.browser.send(
            flow.userinfo_request(self.meta, tokens["access_token"]), "userinfo"
        )
        if response.status_code != 200:
            raise StepFailure(f"userinfo: HTTP {response.status_code}")

    def first_login(self) -> None:
        self.client.cookiejar.clear()  # a new browser: no SSO session
        user = Shared.take()
        try:
            tokens = self.login(user)
            self.userinfo(tokens)
            if OPTIONS.get("refresh") and tokens.get("refresh_token"):
                self.token(
                    flow.refresh_request(self.meta, CLIENT, tokens["refresh_token"]), "refresh"
                )
            if OPTIONS.get("logout") and tokens.get("id_token"):
                url = flow.logout_url(self.meta, id_token_hint=tokens["id_token"])
                self.browser.request("GET", url, name="logout")
        finally:
            Shared.give_back(user)


class FirstLogin(Journeys):
    """A new session: discovery (cached), authorize, authenticate (CPS or e-CPS), callback,
    token, userinfo; optionally refresh and logout."""

    weight = int(WEIGHTS.get("first-login", 4))

    @task
    def journey(self) -> None:
        self.transaction("first-login", self.first_login)


class ReturningUser(Journeys):
    """An SSO session already open: a silent authorize and a token request."""

    weight = int(WEIGHTS.get("returning", 3))

    def on_start(self) -> None:
        super().on_start()
        self.user = Shared.take()
        self.transaction("first-login", lambda: self.login(self.user))

    def on_stop(self) -> None:
        if hasattr(self, "user"):  # not when the run stopped during on_start
            Shared.give_back(self.user)

    def silent(self) -> None:
        request = flow.AuthorizationRequest.new(
            self.meta["authorization_endpoint"],
            CLIENT,
            TARGET.scope,
            acr_values=TARGET.acr_values,
            extra={"prompt": "none"},
        )
        answer = callback_of(
            self.browser.request("GET", request.url(), name="authorize (sso)"), CLIENT.redirect_uri
        )
        if answer is None or not answer.code:
            raise StepFailure("silent authorize: no code")
        self.token(
            flow.token_request(
                self.meta, CLIENT, answer.code, request.redirect_uri, request.verifier
            )
        )

    @task
    def journey(self) -> None:
        self.transaction("returning", self.silent)


class TokenRefresher(Journeys):
    """Logs in once, then refreshes (the rotated refresh token each time)."""

    weight = int(WEIGHTS.get("refresher", 1))

    def on_start(self) -> None:
        super().on_start()
        self.tokens: dict = {}

    def refresh(self) -> None:
        if not self.tokens.get("refresh_token"):
            user = Shared.take()
            try:
                self.client.cookiejar.clear()
                self.tokens = self.login(user)
            finally:
                Shared.give_back(user)
            return
        try:
            self.tokens = self.token(
                flow.refresh_request(self.meta, CLIENT, self.tokens["refresh_token"]), "refresh"
            )
        except StepFailure:
            self.tokens = {}
            raise

    @task
    def journey(self) -> None:
        self.transaction("refresh", self.refresh)


class Poller(Journeys):
    """Logs in once, then polls userinfo and introspection with the access token."""

    weight = int(WEIGHTS.get("poller", 1))

    def on_start(self) -> None:
        super().on_start()
        self.tokens: dict = {}
        self.obtained = 0.0

    def poll(self) -> None:
        if not self.tokens or time.time() - self.obtained > 90:  # PSC tokens last 120 s
            user = Shared.take()
            try:
                self.client.cookiejar.clear()
                self.tokens, self.obtained = self.login(user), time.time()
            finally:
                Shared.give_back(user)
        self.userinfo(self.tokens)
        if "introspection_endpoint" in self.meta:
            response = self.browser.send(
                flow.introspection_request(self.meta, CLIENT, self.tokens["access_token"]),
                "introspection",
            )
            if response.status_code != 200:
                raise StepFailure(f"introspection: HTTP {response.status_code}")

    @task
    def journey(self) -> None:
        self.transaction("userinfo-poll", self.poll)


class CibaLogin(Journeys):
    """A decoupled login: backchannel request with the idNat as login_hint and a two-digit
    binding message, then polling the token endpoint until the e-CPS app approves."""

    weight = int(WEIGHTS.get("ciba", 1)) if CIBA_CLIENT else 0

    def ciba(self) -> None:
        user = Shared.take()
        try:
            request = flow.ciba_request(
                self.meta,
                CIBA_CLIENT,
                user,
                TARGET.scope,
                acr_values=TARGET.acr_values,
                binding_message=f"{secrets.randbelow(100):02d}",
                channel="MOBILE",
            )
            response = self.browser.send(request, "ciba")
            if response.status_code != 200:
                raise StepFailure(f"ciba: HTTP {response.status_code}")
            started = json.loads(response.content)
            interval = float(started.get("interval", 5))
            deadline = time.time() + float(started.get("expires_in", 120))
            while time.time() < deadline:
                gevent.sleep(interval)
                poll = self.browser.send(
                    flow.ciba_token_request(self.meta, CIBA_CLIENT, started["auth_req_id"]),
                    "ciba-token",
                )
                if poll.status_code == 200:
                    return
                error = json.loads(poll.content or b"{}").get("error")
                if error == "slow_down":
                    interval += 5
                elif error != "authorization_pending":
                    raise StepFailure(f"ciba-token: {error}")
            raise StepFailure("ciba: expired before approval")
        finally:
            Shared.give_back(user)

    @task
    def journey(self) -> None:
        self.transaction("ciba", self.ciba)


class AvailabilityProbe(Journeys):
    """One full first login at a constant rate, whatever the load: the availability probe."""

    fixed_count = 1
    wait_time = constant_pacing(1 / max(0.01, float(OPTIONS.get("probe_rate", 1.0))))

    @task
    def journey(self) -> None:
        self.transaction("probe", self.first_login)


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
    error = None if exception is None else str(exception).splitlines()[0][:200]
    RESULTS.record(request_type, name, response_time, error)
    if OPTIONS.get("_worker"):
        RESULTS.pending.append((request_type, name, response_time, error))


@events.report_to_master.add_listener
def _send(client_id, data, **_kwargs) -> None:
    data["psc_samples"], RESULTS.pending = RESULTS.pending, []


@events.worker_report.add_listener
def _receive(client_id, data, **_kwargs) -> None:
    RESULTS.merge(data.get("psc_samples", []))


@events.init.add_listener
def _init(environment, **_kwargs) -> None:
    OPTIONS["_worker"] = isinstance(environment.runner, WorkerRunner)
    OPTIONS["_master"] = isinstance(environment.runner, MasterRunner)


@events.quitting.add_listener
def _verdict(environment, **_kwargs) -> None:
    if OPTIONS.get("_worker"):
        return
    planned = float(OPTIONS.get("run_time", 0))
    report = res.summary(
        RESULTS,
        OBJECTIVES,
        {
            "target": TARGET.name,
            "discovery_url": TARGET.discovery_url,
            "users": OPTIONS.get("users"),
            "shape": OPTIONS.get("shape"),
            "planned_run_time_s": planned,
            "interrupted": bool(planned) and time.time() - RESULTS.started < planned - 2,
            "workers": OPTIONS.get("workers", 0),
        },
    )
    path = res.write(report, Path(OPTIONS.get("reports", "reports/load")))
    print("\n" + res.table(report) + f"\nsummary: {path}", flush=True)
    # Stopped at setup ("load stopped: …", a "setup" flow): a prerequisite broke, nothing of
    # the target was measured: exit 3 (DESIGN.md), not an SLO breach.
    stopped = "setup" in report["flows"]
    environment.process_exit_code = 3 if stopped else 0 if report["passed"] else 1
