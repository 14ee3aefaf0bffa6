"""Interop with real providers: panva's oidc-provider (OpenID Certified) and Keycloak (the
software PSC runs on), each started on 127.0.0.1 as a PSC stand-in, the whole suite run against
it and held to its expected-results file (`expected.py`).

    psc-testkit interop [--provider oidc-provider|keycloak|all] [--serve]
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from psc_testkit.interop.expected import Comparison, Expected, compare, load_expected, matches
from psc_testkit.interop.oidc_provider import (
    EXPECTED,
    ROOT,
    InteropError,
    OidcProviderProcess,
    accounts,
)

__all__ = [
    "EXPECTED",
    "PROVIDERS",
    "Comparison",
    "Expected",
    "InteropError",
    "OidcProviderProcess",
    "accounts",
    "compare",
    "held_to",
    "load_expected",
    "matches",
    "run",
]

# name -> (expected-results file, what starts it)
PROVIDERS = {
    "oidc-provider": ROOT / "interop" / "oidc-provider" / "expected-results.toml",
    "keycloak": ROOT / "interop" / "keycloak" / "expected-results.toml",
}


def _start(name: str):
    if name == "keycloak":
        from psc_testkit.interop.keycloak import KeycloakProcess

        return KeycloakProcess().start()
    return OidcProviderProcess().start()


def _errors(name: str) -> tuple[type[BaseException], ...]:
    if name == "keycloak":
        from psc_testkit.interop.keycloak import KeycloakError

        return (KeycloakError, InteropError, OSError, ValueError)
    return (InteropError, OSError, ValueError)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, `kill`) ends the provider as Ctrl-C does: by its stop()."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(name: str) -> int:
    """Start the provider, print its issuer and profile, and wait for Ctrl-C (or SIGTERM)."""
    with _terminate_as_interrupt():
        try:
            provider = _start(name)
        except _errors(name) as exc:
            print(f"psc-testkit interop: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # while it started: start() stopped what it had begun
            print(f"psc-testkit interop: interrupted while {name} started", file=sys.stderr)
            return 4
        try:
            print(f"issuer={provider.issuer}\nprofile={provider.profile}", flush=True)
            if getattr(provider, "env_file", None):
                # targets/keycloak.toml, pointed at it: `source` this file (its secrets are
                # never printed).
                print(f"env={provider.env_file}", flush=True)
            try:
                code = provider.process.wait()
            except KeyboardInterrupt:
                return 0
            tail = getattr(provider, "log_tail", lambda: "")()
            print(f"psc-testkit interop: {name} exited (status {code}): {tail}", file=sys.stderr)
            return 2
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C waits for stop()
            try:
                provider.stop()
            finally:
                signal.signal(signal.SIGINT, signal.default_int_handler)


def run_one(name: str, expected_file: Path, reports: Path, extra: list[str]) -> int:
    """The whole suite against one provider, held to its expected results: 0 when as expected,
    1 when not, 2 when the provider or the run could not be had."""
    with _terminate_as_interrupt():
        try:
            expected = load_expected(expected_file)
            provider = _start(name)
        except _errors(name) as exc:
            print(f"psc-testkit interop: {name}: {exc}", file=sys.stderr)
            return 2
        try:
            return held_to(name, provider.profile, expected, reports, extra)
        finally:
            provider.stop()


def held_to(name: str, profile: Path, expected: list[Expected], reports: Path, extra: list[str]):
    """`psc-testkit conformance` against a running provider, its summary compared with the
    expected results and the comparison printed; the exit code as run_one's."""
    reports.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "psc_testkit", "conformance", "--target", str(profile)]
    command += ["--reports", str(reports), "--", *extra]
    subprocess.run(command, cwd=ROOT, check=False)
    try:
        summary = json.loads((reports / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"psc-testkit interop: {name}: the run left no summary: {exc}", file=sys.stderr)
        return 2
    outcome = compare(summary, expected)
    if extra:
        outcome.stale = []  # a selection (`-- -k …`) leaves some entries unrun on purpose
    print(f"\ninterop with {name}: {summary['counts']}")
    for check, entry in outcome.as_expected:
        print(f"  expected {entry.verdict:8} {check.split('::')[-1]}: {entry.reason}")
    for line in outcome.unexpected:
        print(f"  UNEXPECTED {line}")
    for line in outcome.stale:
        print(f"  STALE {line}")
    verdict = "as expected" if outcome.ok else "NOT as expected"
    print(
        f"{name}: {verdict}: {len(outcome.as_expected)} listed outcome(s), "
        f"{len(outcome.unexpected)} unexpected, {len(outcome.stale)} stale",
        flush=True,
    )
    return 0 if outcome.ok else 1


def run(
    names: list[str],
    reports: Path,
    extra: list[str],
    expected_file: Path | None = None,
) -> int:
    """`psc-testkit interop`: each provider in turn, reports in `reports/<provider>` when there
    are several; the worst exit code."""
    if expected_file is not None and len(names) > 1:
        print("psc-testkit interop: --expected holds one provider: name it", file=sys.stderr)
        return 2
    codes = []
    for name in names:
        folder = reports / name if len(names) > 1 else reports
        try:
            codes.append(run_one(name, expected_file or PROVIDERS[name], folder, extra))
        except KeyboardInterrupt:
            # The provider is stopped (run_one's finally); what ran is in its reports folder.
            print(f"psc-testkit interop: interrupted during {name}: stopped", file=sys.stderr)
            return 4
    return 2 if 2 in codes else max(codes, default=0)
