"""How many full login flows per second the simulator serves, and the latency of each step.

A flow is what a first login costs the provider: authorize (login page) → authenticate (CPS
card; the 302 carries the code) → token (code + PKCE, client_secret_basic) → userinfo, each flow
with a fresh cookie jar and fresh PKCE/state/nonce. Locust FastHttpUser drives it from this
process while the simulator runs in its own, both on this machine, as in the reference figures
(panva's oidc-provider: ~550 such flows/s on 2 cores; floor 400).

    python benchmarks/simulator_capacity.py [--users 20] [--seconds 15] [--tls]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import secrets
import statistics
import time
from typing import ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

from locust import FastHttpUser, constant, task
from locust.env import Environment

from psc_testkit.simulator.process import SimulatorProcess

CLIENT_ID, CLIENT_SECRET = "psc-testkit-basic", "sim-basic-6f1d2c9a4e"
REDIRECT_URI = "http://127.0.0.1:8080/callback"
TX = re.compile(rb'name="tx" value="([^"]+)"')
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()

samples: dict[str, list[float]] = {}
flows = {"ok": 0, "failed": 0}


def record(name: str, ms: float) -> None:
    samples.setdefault(name, []).append(ms)


class LoginFlow(FastHttpUser):
    wait_time = constant(0)
    users: ClassVar[list[str]] = []
    wallet = ""
    token_path = userinfo_path = ""

    @task
    def flow(self) -> None:
        started = time.perf_counter()
        try:
            self._flow()
        except Exception:  # any broken step fails the flow; the step's own row says why
            flows["failed"] += 1
            return
        flows["ok"] += 1
        record("flow", (time.perf_counter() - started) * 1000)

    def _flow(self) -> None:
        self.client.cookiejar.clear()
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid scope_all",
                "state": secrets.token_urlsafe(12),
                "nonce": secrets.token_urlsafe(12),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "acr_values": "eidas1",
            }
        )
        t = time.perf_counter()
        page = self.client.get(f"{self.wallet}/auth?{query}", name="authorize")
        record("authorize", (time.perf_counter() - t) * 1000)
        tx = TX.search(page.content).group(1).decode()
        t = time.perf_counter()
        login = self.client.post(
            f"{self.wallet}/auth/login",
            data={"tx": tx, "method": "cps", "idNat": secrets.choice(self.users)},
            name="authenticate",
            allow_redirects=False,
        )
        record("authenticate", (time.perf_counter() - t) * 1000)
        code = parse_qs(urlsplit(login.headers["location"]).query)["code"][0]
        t = time.perf_counter()
        token = self.client.post(
            self.token_path,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            headers={"Authorization": BASIC},
            name="token",
        ).json()
        record("token", (time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        info = self.client.get(
            self.userinfo_path,
            headers={"Authorization": "Bearer " + token["access_token"]},
            name="userinfo",
        )
        record("userinfo", (time.perf_counter() - t) * 1000)
        info.raise_for_status()


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--tls", action="store_true", help="HTTPS (default: plain HTTP)")
    args = ap.parse_args()

    import gevent
    import httpx

    with SimulatorProcess(tls=args.tls) as sim:
        with httpx.Client(verify=False) as http:
            users = http.get(f"{sim.origin}/_simulator/users?limit=10000").json()["users"]
        LoginFlow.users = [u["idNat"] for u in users]
        LoginFlow.wallet = sim.wallet.rsplit("/auth", 1)[0]
        LoginFlow.token_path = sim.issuer + "/protocol/openid-connect/token"
        LoginFlow.userinfo_path = sim.issuer + "/protocol/openid-connect/userinfo"
        env = Environment(user_classes=[LoginFlow], host=sim.origin)
        runner = env.create_local_runner()
        runner.start(args.users, spawn_rate=args.users)
        gevent.sleep(args.warmup)
        samples.clear()
        flows.update(ok=0, failed=0)
        started = time.perf_counter()
        gevent.sleep(args.seconds)
        elapsed = time.perf_counter() - started
        done = dict(flows)
        measured = {k: list(v) for k, v in samples.items()}
        runner.quit()

    print(
        f"simulator capacity: {args.users} Locust users (FastHttpUser), {elapsed:.1f} s, "
        f"{'HTTPS' if args.tls else 'HTTP'}"
    )
    print(
        f"flows/s: {done['ok'] / elapsed:.0f}   (completed {done['ok']}, failed {done['failed']})"
    )
    print(f"{'step':<14}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'count':>9}")
    for name in ("authorize", "authenticate", "token", "userinfo", "flow"):
        values = measured.get(name, [])
        print(
            f"{name:<14}{pct(values, 50):>9.2f}{pct(values, 95):>9.2f}{pct(values, 99):>9.2f}"
            f"{len(values):>9}"
        )


if __name__ == "__main__":
    main()
