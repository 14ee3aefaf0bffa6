"""`psc-testkit rp --app PROFILE`: certify a relying party against the lying simulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = (
    "Certify a vendor's app as a PSC client: start the embedded simulator as the PSC it talks "
    "to (the app profile's client registered), start the app when the profile says how, then "
    "run the RP plan in Chromium: an honest login, then one lie per test (a forged or "
    "mismatched ID token, a wrong state, a UserInfo about someone else...). A test passes only "
    "on positive evidence: the app's logged-in marker naming the professional, or its "
    "rejection marker and no session; silence or a crash fails. Writes reports/rp/rp-report."
    "{json,html}, signed with --sign-key. Exit 0 every MUST held, 1 a MUST failed, 2 usage or "
    "profile error, 3 the app or the simulator could not be started, 4 incomplete."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from psc_testkit.conformance.certification import signing_key_argument

    parser.add_argument(
        "--app", metavar="PROFILE", help="the app profile, e.g. apps/naive-sample.toml"
    )
    parser.add_argument(
        "--test",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this test (repeatable; the honest login always runs first)",
    )
    parser.add_argument("--list", action="store_true", help="list the plan's tests and exit")
    parser.add_argument(
        "--reports", default="reports/rp", help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--sign-key",
        type=signing_key_argument,
        default=None,
        metavar="PEM",
        help="sign the report with this private key (Ed25519 or RSA, PEM; password from "
        "PSC_SIGN_KEY_PASSWORD)",
    )


def listing() -> str:
    from psc_testkit.rp.plan import PLAN

    width = max(len(t.name) for t in PLAN)
    return "\n".join(
        f"{t.name:<{width}}  {t.requirement:<16} {t.level:<6} {t.kind:<7} {t.title}" for t in PLAN
    )


def run(args: argparse.Namespace) -> int:
    from psc_testkit.rp.app_profile import AppProfileError, load_app_profile
    from psc_testkit.rp.browser import Interruption
    from psc_testkit.rp.plan import UnknownTest, select

    if args.list:
        print(listing())
        return 0
    if not args.app:
        print(
            "psc-testkit rp: --app PROFILE is required (e.g. apps/naive-sample.toml)",
            file=sys.stderr,
        )
        return 2
    try:
        app = load_app_profile(Path(args.app))
        tests = select(args.test)
    except (AppProfileError, UnknownTest) as exc:
        print(f"psc-testkit rp: {exc}", file=sys.stderr)
        return 2
    # SIGINT and SIGTERM end the run within seconds, with what it judged: raised where it is
    # safe, then, once the run winds up, a second signal only hurries it (never a lost report).
    interruption = Interruption()
    restore = interruption.install()
    try:
        return _certify(args, app, tests, interruption)
    finally:
        restore()


def _certify(args: argparse.Namespace, app, tests, interruption) -> int:
    from psc_testkit.rp.engine import RpRunError, run_plan, run_verdict, summary_counts
    from psc_testkit.rp.report import learn, new_redactor, redactor_for, write

    shown = new_redactor(app)  # what the terminal shows is redacted as the report is

    def progress(result) -> None:
        learn(shown, result)
        v = result.verdict
        line = f"{v.status:<14} {v.level:<6} {result.test.requirement:<16} {result.test.name}: "
        print(line + shown.message(v.reason, 400), flush=True)

    print(f"psc-testkit rp: {app.name} {app.version}, {len(tests)} tests", flush=True)
    out = Path(args.reports)
    try:
        run_result = run_plan(app, tests, out, progress, interruption=interruption)
    except RpRunError as exc:
        print(f"psc-testkit rp: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("psc-testkit rp: interrupted before the plan started", file=sys.stderr)
        return 4
    finally:
        interruption.winding_up = True
    json_path, html_path = write(run_result, len(tests), out, args.sign_key)
    verdict, code = run_verdict(run_result, len(tests))
    counts = ", ".join(
        f"{n} {k.lower()}" for k, n in sorted(summary_counts(run_result.results).items())
    )
    interrupted = f", interrupted ({run_result.interrupted})" if run_result.interrupted else ""
    signed = "signed" if args.sign_key else "unsigned (no --sign-key)"
    redact = redactor_for(run_result)
    print(
        redact(
            f"RP certification of {app.name}: {verdict}: {counts} in {run_result.seconds:g} s"
            f"{interrupted}; report {html_path} and {json_path.name}, {signed}"
        )
    )
    return code
