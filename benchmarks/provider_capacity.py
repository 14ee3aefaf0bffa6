"""Full-login capacity of three providers, side by side, driven by the same load generator.

The embedded simulator, panva's oidc-provider (Node, OpenID Certified) and Keycloak (Java, the
software PSC runs on), each started on 127.0.0.1 over HTTPS, one at a time (so they never share
the cores), and each driven by the `FirstLogin` journey of load/locustfile.py with Locust
(FastHttpUser) in-process: authorize → login (the simulator's CPS page; the html_form driver on
oidc-provider's and on Keycloak's real login pages) → token (code + PKCE, client_secret_basic) →
userinfo, a fresh cookie jar and fresh PKCE/state/nonce per flow, think time 0. The generator
settings (users, seconds, warm-up) are the same for all three; the warm-up (the JVM's JIT above
all) is excluded from the figures. Percentiles are of successful flows and steps (exact samples,
psc_testkit.load.results); failed flows are counted, with their most frequent reason.

Each measurement runs in a child of this script (`--measure`), since the locustfile binds its
target when it is imported; the child prints one JSON line of figures. Every provider is
stopped once measured, also on Ctrl-C or a time-out.

    python benchmarks/provider_capacity.py [--users 10] [--seconds 15] [--warmup 20]
        [--providers simulator,oidc-provider,keycloak]

Keycloak needs a JDK 21+ and its distribution under .cache/keycloak/ (`make keycloak-dist`);
oidc-provider needs Node.js and node_modules (`npm ci`). A provider that cannot run has its
reason in its row, and the others are measured anyway.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SIMULATOR_PROFILE = ROOT / "targets" / "simulator.toml"
STEPS = ("authorize", "login-page", "authenticate", "token", "userinfo")
PROVIDERS = ("simulator", "oidc-provider", "keycloak")
CHILD_MARGIN = 60.0  # seconds a child may take beyond warm-up + measurement (imports, quit)


# The child: one measurement against one running provider --------------------------------------


def measure(profile: str, runtime: dict, users: int, seconds: float, warmup: float) -> dict:
    """Drive FirstLogin against the profile's provider; the figures as a JSON-able dict."""
    os.environ["PSC_LOAD"] = json.dumps(
        {"profile": profile, "think": 0, "weights": {"first-login": 1}, "runtime": runtime}
    )
    # Locust patches the standard library for gevent when imported: before any thread starts.
    import gevent
    from locust import events
    from locust.env import Environment

    sys.path.insert(0, str(ROOT / "load"))
    import locustfile  # binds PSC_LOAD's target now

    from psc_testkit.load.results import Series

    results = locustfile.RESULTS
    url = urlsplit(locustfile.TARGET.discovery_url)
    host = f"{url.scheme}://{url.netloc}"
    # The locustfile's listeners (exact samples) hang on Locust's global events.
    env = Environment(user_classes=[locustfile.FirstLogin], host=host, events=events)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    try:
        gevent.sleep(warmup)
        warm = results.flows.get("first-login", Series())
        warmed = {"count": warm.count, "failures": warm.failed}
        setup = results.flows.get("setup")
        results.steps.clear()
        results.flows.clear()
        started = time.perf_counter()
        if setup is None and not locustfile.Shared.stopped:
            gevent.sleep(seconds)
        elapsed = time.perf_counter() - started
        setup = setup or results.flows.get("setup")
        steps = {n: results.steps[n].stats() for n in STEPS if n in results.steps}
        flow = results.flows.get("first-login", Series()).stats()
    finally:
        runner.quit()
    figures = {"elapsed": elapsed, "warmup": warmed, "flow": flow, "steps": steps}
    if setup is not None:  # discovery failed: nothing of the provider was measured
        figures["error"] = next(iter(setup.reasons), "setup failed")
    return figures


def child_main(args: argparse.Namespace) -> int:
    try:
        figures = measure(
            args.measure, json.loads(args.runtime_json), args.users, args.seconds, args.warmup
        )
    except Exception as exc:  # one line for the parent's table
        figures = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    print(json.dumps(figures), flush=True)
    return 0


# The parent: each provider in turn ------------------------------------------------------------


def run_child(profile: Path, runtime: dict, args: argparse.Namespace) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", str(profile)]
    command += ["--runtime-json", json.dumps(runtime), "--users", str(args.users)]
    command += ["--seconds", str(args.seconds), "--warmup", str(args.warmup)]
    limit = args.warmup + args.seconds + CHILD_MARGIN
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=limit, check=False
        )
    except subprocess.TimeoutExpired:  # run() has killed the child
        return {"error": f"the measurement did not end in {limit:g} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return {"error": f"the measurement printed no figures: {tail[:200]}"}
    return json.loads(lines[-1])


def _node_version() -> str:
    node = shutil.which("node")
    if not node:
        return "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    return "?"


def provider_versions() -> dict[str, str]:
    try:
        testkit = metadata.version("psc-testkit")
    except metadata.PackageNotFoundError:
        testkit = "?"
    package = ROOT / "node_modules" / "oidc-provider" / "package.json"
    try:
        oidc = json.loads(package.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        oidc = "not installed"
    from psc_testkit.interop import keycloak

    java = keycloak.find_java()
    jdk = f"Java {keycloak.java_version(java)}" if java else "no JDK"
    return {
        "simulator": f"psc-testkit {testkit} (Python {sys.version.split()[0]})",
        "oidc-provider": f"oidc-provider {oidc} (Node {_node_version()})",
        "keycloak": f"Keycloak {keycloak.VERSION} ({jdk})",
    }


def run_provider(name: str, args: argparse.Namespace) -> dict:
    """Start `name`, measure it in a child, stop it; its figures, or {"error": ...}."""
    began = time.monotonic()
    # As many test professionals as generator users: a journey takes one for its whole flow,
    # and with fewer the extra users would fail "every test professional is busy" at once.
    accounts = max(8, args.users)
    try:
        with contextlib.ExitStack() as stack:
            if name == "simulator":
                from psc_testkit.simulator.process import SimulatorProcess

                sim = stack.enter_context(SimulatorProcess(tls=True, config=SIMULATOR_PROFILE))
                profile, runtime, extra = SIMULATOR_PROFILE, sim.runtime(), {}
            elif name == "oidc-provider":
                from psc_testkit.interop.oidc_provider import OidcProviderProcess

                op = stack.enter_context(OidcProviderProcess(users=accounts))
                profile, runtime, extra = op.profile, {}, {}
            else:
                from psc_testkit.interop import keycloak

                reason = keycloak.unavailable()
                if reason:
                    return {"error": f"skipped: {reason}", "skipped": True}
                kc = stack.enter_context(
                    keycloak.KeycloakProcess(users=accounts, startup_timeout=args.start_timeout)
                )
                profile, runtime = kc.profile, {}
                extra = {"started_in": kc.started_in}
            started = time.monotonic() - began
            figures = run_child(profile, runtime, args)
            figures.setdefault("started_in", extra.get("started_in", started))
            return figures
    except Exception as exc:  # the provider could not be started (ChildStartError, OSError...)
        return {"error": f"did not start: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(rows: dict[str, dict], versions: dict[str, str], args: argparse.Namespace) -> str:
    head = (
        f"{'provider':<15}{'flows/s':>9}{'flow p50':>10}{'flow p95':>10}"
        f"{'token p95':>11}{'flows':>8}{'failed':>8}"
    )
    lines = [
        f"full-login capacity: FirstLogin, {args.users} Locust users (FastHttpUser), think 0, "
        f"{args.warmup:g} s warm-up excluded, {args.seconds:g} s measured, HTTPS; ms",
        head,
        "-" * len(head),
    ]
    for name, r in rows.items():
        if "flow" not in r:
            lines.append(f"{name:<15}{r.get('error', 'no figures')}")
            continue
        f, token = r["flow"], r["steps"].get("token", {})
        ok = f["count"] - f["failures"]
        rate = ok / r["elapsed"] if r["elapsed"] else 0.0
        lines.append(
            f"{name:<15}{rate:>9.1f}{_ms(f['p50']):>10}{_ms(f['p95']):>10}"
            f"{_ms(token.get('p95')):>11}{f['count']:>8}{f['failures']:>8}"
        )
        if r.get("error"):
            lines.append(f"{'':<15}stopped: {r['error']}")
        for reason, count in list(f["failure_reasons"].items())[:3]:
            lines.append(f"{'':<15}{count} failed: {reason}")
    lines.append("")
    lines.append("p95 per step (ms):")
    named = [s for s in STEPS if any(s in r.get("steps", {}) for r in rows.values())]
    lines.append(f"{'provider':<15}" + "".join(f"{s:>14}" for s in named))
    for name, r in rows.items():
        if "steps" in r:
            cells = (_ms(r["steps"].get(s, {}).get("p95")) for s in named)
            lines.append(f"{name:<15}" + "".join(f"{c:>14}" for c in cells))
    lines.append("")
    for name in rows:
        started = rows[name].get("started_in")
        note = f", started in {started:.1f} s" if started is not None else ""
        warm = rows[name].get("warmup")
        if warm:
            note += f", warm-up {warm['count']} flows ({warm['failures']} failed)"
        lines.append(f"{name:<15}{versions[name]}{note}")
    return "\n".join(lines)


def _terminated(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM too: the context managers stop what was started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=15.0)
    # 20 s: Keycloak's JVM completes no flow within 3 s of its start on 2 cores, and its JIT
    # keeps warming for ~15 s; the same warm-up is given to all three.
    ap.add_argument("--warmup", type=float, default=20.0)
    ap.add_argument("--providers", default=",".join(PROVIDERS), help="comma-separated subset")
    ap.add_argument(
        "--start-timeout", type=float, default=120.0, help="seconds Keycloak may take to start"
    )
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # child: the profile to drive
    ap.add_argument("--runtime-json", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        return child_main(args)

    names = [n.strip() for n in args.providers.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROVIDERS]
    if unknown:
        ap.error(f"unknown provider(s) {', '.join(unknown)}: {', '.join(PROVIDERS)}")
    signal.signal(signal.SIGTERM, _terminated)
    versions = provider_versions()
    began = time.monotonic()
    rows: dict[str, dict] = {}
    try:
        for name in names:
            print(f"measuring {name}...", file=sys.stderr, flush=True)
            rows[name] = run_provider(name, args)
    except KeyboardInterrupt:
        print("interrupted: every provider started was stopped", file=sys.stderr)
        if not rows:
            return 130
    print(table(rows, versions, args))
    print(f"\nwall time {time.monotonic() - began:.1f} s")
    measured = [r for r in rows.values() if "flow" in r]
    return 0 if measured and all("flow" in r or r.get("skipped") for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
