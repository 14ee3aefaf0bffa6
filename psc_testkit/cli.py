"""`psc-testkit`: the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_PROFILE = Path("targets/simulator.toml")
# Subcommands that run pytest, which takes whatever follows `--` (see main()).
PASSES_PYTEST_ARGS = "%(prog)s [options] [-- pytest args]"


class UsageError(Exception):
    """A usage error of psc-testkit's own: the message is its one line (exit 2)."""


def chosen_target(
    command: str, target: str | None, old: str | None, old_spelling: str
) -> str | None:
    """The profile named by `--target FILE` or by its deprecated spelling (`old`, given as
    `old_spelling`, e.g. `--config FILE`): the old one prints one note on stderr; the two naming
    different files is a UsageError. None when neither is given."""
    if old is None:
        return target
    if target is not None and Path(target) != Path(old):
        raise UsageError(
            f"psc-testkit {command}: {old_spelling} ({old}) and --target ({target}) name "
            "different profiles: give --target FILE only"
        )
    print(f"psc-testkit: note: {old_spelling} is deprecated; use --target FILE", file=sys.stderr)
    return old


def cmd_validate_claims(args: argparse.Namespace) -> int:
    from psc_testkit.claims import psc as psc_claims

    try:
        claims = psc_claims.load_payload(psc_claims.read(args.file))
    except OSError as exc:
        print(f"psc-testkit validate-claims: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"psc-testkit validate-claims: {exc}", file=sys.stderr)
        return 2
    kind = psc_claims.detect_kind(claims) if args.kind == "auto" else args.kind
    violations = psc_claims.validate(claims, kind, sandbox=args.sandbox)
    must = [v for v in violations if v.level == "MUST"]
    for violation in violations:
        print(violation)
    failing = must or (args.strict and violations)
    verdict = "INVALID" if failing else "valid"
    print(
        f"{verdict}: {psc_claims.kind_label(claims, kind)}, {len(must)} violation(s) of a MUST, "
        f"{len(violations) - len(must)} warning(s)"
    )
    return 1 if failing else 0


def cmd_load(args: argparse.Namespace) -> int:
    import signal

    from psc_testkit.load.run import LoadError, run_load

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Until the run's own handlers take over (they stop Locust, then the target), SIGTERM
    # ends the command as Ctrl-C does: what it started is stopped on the way out.
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        return run_load(args)
    except LoadError as exc:
        print(f"psc-testkit load: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(
            "psc-testkit load: interrupted before the load began: nothing measured", file=sys.stderr
        )
        return 4
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_report(args: argparse.Namespace) -> int:
    import json
    import shutil
    import subprocess

    from psc_testkit.reports.html import render

    reports = Path(args.reports)

    def read(path: Path) -> dict | None:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    page = reports / "summary.html"
    reports.mkdir(parents=True, exist_ok=True)
    page.write_text(
        render(read(reports / "summary.json"), read(reports / "load" / "summary.json")),
        encoding="utf-8",
    )
    print(f"summary: {page}")
    results = reports / "allure-results"
    allure = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "allure"
    if not results.is_dir():
        print("allure: no reports/allure-results yet (run make conformance)")
    elif not allure.exists():
        print(
            "allure: the Allure command line is not installed; `make report` installs it when "
            "Node.js (npm) is present"
        )
    elif shutil.which("java") is None:
        print("allure: the Allure command line needs Java (e.g. apt-get install default-jre)")
    else:
        out = reports / "allure-report"
        done = subprocess.run(
            [str(allure), "generate", str(results), "-o", str(out), "--clean"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(f"allure: generation failed: {done.stderr.strip()[-500:]}", file=sys.stderr)
            return 1
        print(f"allure: {out}/index.html")
    return 0


def _suite_dir() -> Path:
    """The conformance suite ships beside the package (`conformance/` in the project)."""
    return Path(__file__).resolve().parent.parent / "conformance"


def _sandbox_profile(path: str) -> bool | str:
    """Whether the profile at `path` has `sandbox = true`, or the line saying why it cannot
    be read."""
    from psc_testkit.client.config import ProfileError, load_target

    try:
        return load_target(Path(path), discovery_url="-", require_secrets=False).sandbox
    except ProfileError as exc:
        return f"psc-testkit conformance: profile error: {exc}"


def cmd_conformance(args: argparse.Namespace, extra: list[str]) -> int:
    if args.reveal_test_identities:
        # Refused before anything runs: outside the sandbox an identity is a real person's.
        sandbox = _sandbox_profile(args.target)
        if sandbox is not True:
            print(
                sandbox
                or "psc-testkit conformance: --reveal-test-identities needs a profile with "
                "sandbox = true",
                file=sys.stderr,
            )
            return 2

    import pytest

    suite = _suite_dir()
    if not suite.is_dir():
        print(f"psc-testkit conformance: no suite at {suite}", file=sys.stderr)
        return 2
    reports = Path(args.reports)
    reports.mkdir(parents=True, exist_ok=True)
    argv = [
        str(suite),
        "-p",
        "psc_testkit.conformance.pytest_plugin",
        "-p",
        "no:cacheprovider",
        # Plugins installed for the self-tests that a conformance run never uses: importing
        # them costs every run (and each of the matrices' ~240) a few tenths of a second.
        "-p",
        "no:hypothesispytest",
        "-p",
        "no:locust",
        "--rootdir",
        str(suite.parent),
        "--target",
        args.target,
        "--summary",
        str(reports / "summary.json"),
        "--junitxml",
        str(reports / "junit.xml"),
        "-o",
        "junit_family=xunit2",
        # The checks judge with expect() and pytest.fail(), never a bare assert: rewriting
        # assertions would only cost every run the recompilation of the plugin's modules.
        "--assert=plain",
        # Short tracebacks: the check's line and its Expected/Actual, not the fixtures' reprs.
        "--tb=short",
        "-q",
    ]
    if not args.no_allure:
        argv += ["--alluredir", str(reports / "allure-results"), "--clean-alluredir"]
    for name in args.defect:
        argv += ["--defect", name]
    for name in args.quirk:
        argv += ["--quirk", name]
    if args.strict:
        argv.append("--psc-strict")
    if args.reveal_test_identities:
        argv.append("--psc-reveal-test-identities")
    # A run that stops early must not leave the previous run's reports standing for it.
    for stale in ("summary.json", "summary.html", "junit.xml"):
        (reports / stale).unlink(missing_ok=True)
    code = int(pytest.main(argv + extra))
    # The plugin decides the exit code (DESIGN.md) and writes it in summary.json; without a
    # summary pytest stopped before the session (a bad option: its usage error).
    if not (reports / "summary.json").exists() and code == pytest.ExitCode.USAGE_ERROR:
        code = 2
    if args.certify:
        code = _certify(reports, args.target, args.sign_key, code)
    return code


def _certify(reports: Path, target_path: str, sign_key: object = None, code: int = 0) -> int:
    """Write the certificate of the run that just ended; the run's exit `code`, or 4 when it
    held but the certificate is INCOMPLETE (docs/certification.md), or 2 when the profile's
    [certification] table is unusable."""
    import json

    from psc_testkit.client.config import ProfileError, load_target
    from psc_testkit.conformance import certification

    try:
        summary = json.loads((reports / "summary.json").read_text(encoding="utf-8"))
    except OSError as exc:
        print(
            f"psc-testkit conformance --certify: no summary to certify: "
            f"{reports / 'summary.json'}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return code or 2
    except ValueError as exc:
        print(f"psc-testkit conformance --certify: no summary to certify: {exc}", file=sys.stderr)
        return code or 2
    try:
        target = load_target(
            Path(target_path),
            require_secrets=False,
            discovery_url=summary.get("discovery_url") or "-",
        )
    except ProfileError:
        target = None
    try:
        document = certification.build(summary, target, Path(target_path))
    except certification.CertificationError as exc:
        print(f"psc-testkit conformance --certify: {exc}", file=sys.stderr)
        return 2
    document = certification.sign(document, sign_key)  # type: ignore[arg-type]
    paths = certification.write(document, reports)
    signed = "signed" if sign_key else "UNSIGNED (no --sign-key)"
    print(f"certification: {document['statement']}; {signed}: {paths[0]} and {paths[1]}")
    if code == 0 and document["result"] == "INCOMPLETE":
        return 4
    return code


def cmd_verify_certification(args: argparse.Namespace) -> int:
    from psc_testkit.conformance import certification

    def usage(message: str) -> int:
        print(f"psc-testkit verify-certification: {message}", file=sys.stderr)
        return 2

    try:
        document, problems = certification.read(Path(args.file))
        key = certification.load_public_key(Path(args.public_key)) if args.public_key else None
    except certification.CertificationError as exc:
        return usage(str(exc))
    signature = document.get("signature")
    signed = isinstance(signature, dict)
    if key is None and signed:
        return usage(
            "the certificate is signed: pass --public-key with its operator's public key (PEM)"
        )
    if key is None and not args.allow_unsigned:
        problems.append(
            "the certificate is unsigned: nothing ties it to its operator "
            "(--allow-unsigned checks only that it is intact)"
        )
    else:
        problems += certification.verify(document, key)
    if args.source:
        here = certification.source_hash()
        if here != document.get("suite", {}).get("source_sha256"):
            problems.append("the suite's source here differs from the one that produced it")
    if problems:
        print(f"NOT verified: {'; '.join(dict.fromkeys(problems))}")
        return 1
    if signed:
        print(
            f"verified: {document.get('statement')} — signed {signature.get('alg')} by the key "
            f"sha256 {signature.get('kid')}"
        )
    else:
        print(f"intact but UNSIGNED (anyone could have written it): {document.get('statement')}")
    return 0


def cmd_profile_check(args: argparse.Namespace) -> int:
    from psc_testkit.client.profile_check import check

    try:
        path = chosen_target("profile check", args.target, args.profile, "profile check FILE")
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    return check(Path(path or DEFAULT_PROFILE), login=args.login)


def cmd_interop(args: argparse.Namespace, extra: list[str]) -> int:
    from psc_testkit import interop

    names = list(interop.PROVIDERS) if args.provider == "all" else [args.provider]
    if args.serve:
        if len(names) > 1:
            print("psc-testkit interop: --serve starts one provider: name it", file=sys.stderr)
            return 2
        return interop.serve(names[0])
    expected = Path(args.expected) if args.expected else None
    return interop.run(names, Path(args.reports), extra, expected)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="psc-testkit",
        description="Conformance and load testing for Pro Santé Connect and other OIDC providers. "
        "A command that takes a target profile takes it as --target FILE.",
    )
    from psc_testkit import __version__

    root.add_argument(
        "--version",
        action="version",
        version=f"psc-testkit {__version__}",
        help="print psc-testkit's version and exit",
    )
    commands = root.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        title="commands",
        help="`psc-testkit COMMAND --help` tells its options",
    )

    from psc_testkit.simulator import command as simulator_command

    sim = commands.add_parser(
        "simulator",
        help="run the embedded PSC simulator",
        description=simulator_command.DESCRIPTION,
    )
    simulator_command.add_arguments(sim)  # one declaration, shared with python -m
    sim.set_defaults(func=simulator_command.run)

    from psc_testkit.rp import command as rp_command

    rp = commands.add_parser(
        "rp",
        help="certify a relying party (a vendor's app) against the lying simulator",
        description=rp_command.DESCRIPTION,
    )
    rp_command.add_arguments(rp)
    rp.set_defaults(func=rp_command.run)

    conf = commands.add_parser(
        "conformance",
        usage=PASSES_PYTEST_ARGS,
        help="run the conformance suite against a target",
        description="Run the conformance suite. Arguments after `--` go to pytest "
        "(e.g. `-- -k discovery -x`). Exit 0 when every MUST holds.",
    )
    conf.add_argument(
        "--target",
        default=str(DEFAULT_PROFILE),
        metavar="FILE",
        help=f"target profile (default {DEFAULT_PROFILE}: the embedded simulator)",
    )
    conf.add_argument(
        "--defect",
        action="append",
        default=[],
        metavar="NAME",
        help="run against the simulator started with this defect (repeatable)",
    )
    conf.add_argument(
        "--quirk",
        action="append",
        default=[],
        metavar="NAME",
        help="run against the simulator started with this quirk: a compliant behaviour the "
        "suite must pass (repeatable; list: psc-testkit simulator --list-quirks)",
    )
    conf.add_argument("--strict", action="store_true", help="SHOULD failures fail the run")
    conf.add_argument(
        "--reveal-test-identities",
        action="store_true",
        help="show the sandbox's EDIT test identities (ANS…) in clear in reports; only with a "
        "profile that has sandbox = true; secrets and tokens stay redacted",
    )
    conf.add_argument("--reports", default="reports", help="output folder (default reports/)")
    conf.add_argument(
        "--no-allure",
        action="store_true",
        help="write no reports/allure-results (a fifth faster; summary.json and junit.xml stay)",
    )
    conf.add_argument(
        "--certify",
        action="store_true",
        help="also write certification.json and .html (for vendors): PASSED, INCOMPLETE (exit "
        "4 when the run held) or FAILED; see docs/certification.md",
    )
    from psc_testkit.conformance.certification import signing_key_argument

    conf.add_argument(
        "--sign-key",
        type=signing_key_argument,  # read before the run: a bad key stops it at once
        default=None,
        metavar="PEM",
        help="sign the certificate (JWS) with this Ed25519 or RSA private key; encrypted: its "
        "password in PSC_SIGN_KEY_PASSWORD (default: unsigned)",
    )
    conf.set_defaults(func=cmd_conformance)

    val = commands.add_parser(
        "validate-claims",
        help="check a captured userinfo, ID token or access token payload",
        description="Validate a captured PSC payload (JSON, or a JWT whose signature is not "
        "checked): schema, identifiers and check digits, nomenclature codes, consistency. Prints "
        "one violation per line (level, JSON path, rule, message, reference); exit 1 when a MUST "
        "is violated.",
    )
    val.add_argument("file", help="the payload file, or - for standard input")
    val.add_argument(
        "--kind",
        choices=["auto", "userinfo", "id-token", "access-token"],
        default="auto",
        help="what the payload is (default: guessed)",
    )
    val.add_argument(
        "--sandbox",
        action="store_true",
        help="accept the sandbox's EDIT test identities and test FINESS numbers",
    )
    val.add_argument("--strict", action="store_true", help="warnings fail too")
    val.set_defaults(func=cmd_validate_claims)

    load = commands.add_parser(
        "load",
        help="replay login flows with Locust and judge the SLOs",
        description="Replay full login flows (first login, returning user, refresh, userinfo "
        "polling, CIBA, availability probe) with Locust, then judge the SLOs: a verdict table, "
        "reports/load/summary.json, Locust HTML and CSV. Before any load: the profile, the "
        "SLOs' names, reachability and one real login. Exit 0 every SLO holds, 1 an SLO "
        "breached, 2 usage or profile error, 3 target unreachable or a prerequisite broken, "
        "4 inconclusive (interrupted; INVALID: a failure in psc-testkit's own code; with "
        "--require-proof, availability not provable). Every run is bounded in time; a target "
        "outside loopback needs --allow-remote and --run-time.",
    )
    load.add_argument(
        "--target",
        default=str(DEFAULT_PROFILE),
        metavar="FILE",
        help=f"target profile (default {DEFAULT_PROFILE}: the embedded simulator)",
    )
    load.add_argument(
        "--users", type=int, default=None, help="concurrent users, the closed model (default 10)"
    )
    load.add_argument(
        "--arrival-rate",
        type=float,
        default=None,
        metavar="N",
        help="the open model: N new first logins per second, whether or not earlier ones are "
        "done (keycloak-benchmark's --users-per-sec)",
    )
    load.add_argument(
        "--find-max",
        action="store_true",
        help="search the highest --arrival-rate that keeps the SLOs (from --arrival-rate, "
        "default 10; --run-time per level) and print the knee",
    )
    load.add_argument(
        "--find-max-steps", type=int, default=8, metavar="N", help="levels --find-max may run (8)"
    )
    load.add_argument(
        "--require-proof",
        action="store_true",
        help="exit 4 when the availability target holds but is not yet provable at 95 %% "
        "confidence (too few flows)",
    )
    load.add_argument(
        "--no-preflight",
        action="store_true",
        help="skip the pre-flight (reachability as `profile check`, one real login)",
    )
    load.add_argument(
        "--web",
        action="store_true",
        help="serve Locust's web UI on 127.0.0.1 for this run (bounded by --run-time)",
    )
    load.add_argument(
        "--master-bind",
        default=None,
        metavar="HOST:PORT",
        help="run only a Locust master, listening there for --expect-workers remote workers",
    )
    load.add_argument(
        "--expect-workers",
        type=int,
        default=None,
        metavar="N",
        help="with --master-bind: workers to wait for before the run starts (1)",
    )
    load.add_argument(
        "--worker-of",
        default=None,
        metavar="HOST:PORT",
        help="run only a Locust worker of the master there (same profile, same options)",
    )
    load.add_argument("--spawn-rate", type=float, default=None, help="users started per second")
    load.add_argument("--run-time", default=None, help="duration: 60s, 10m, 2h (default 30s)")
    load.add_argument(
        "--shape",
        choices=["ramp", "step", "spike", "soak"],
        default=None,
        help="vary the users over the run (closed model; load/shapes.py)",
    )
    load.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="EXPR",
        help="e.g. 'first-login:p95<800ms', 'token:p99<300ms', 'error_ratio<0.5%%',"
        " 'availability>=99.893%%' (the default availability target)",
    )
    load.add_argument(
        "--weights",
        default=None,
        help="journey mix, e.g. first-login=4,returning=3,refresh=1,userinfo-poll=1,ciba=1",
    )
    load.add_argument("--think", type=float, default=None, help="think time in seconds (1)")
    load.add_argument("--probe-rate", type=float, default=None, help="probe flows/s (1)")
    load.add_argument(
        "--method",
        choices=["cps", "ecps"],
        default=None,
        help="how simulated professionals authenticate",
    )
    load.add_argument(
        "--ecps-delay",
        type=float,
        default=None,
        help="simulator: seconds before the e-CPS phone approves",
    )
    load.add_argument("--refresh", action="store_true", help="first logins also refresh")
    load.add_argument("--logout", action="store_true", help="first logins also log out")
    load.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run a Locust master and this many local worker processes",
    )
    load.add_argument(
        "--defect",
        action="append",
        default=[],
        metavar="NAME",
        help="start the simulator with this defect",
    )
    load.add_argument(
        "--quirk",
        action="append",
        default=[],
        metavar="NAME",
        help="start the simulator with this quirk: a compliant behaviour the journeys must "
        "cope with (repeatable; list: psc-testkit simulator --list-quirks)",
    )
    load.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a target outside loopback (then --run-time is required)",
    )
    load.add_argument("--reports", default="reports/load", help="output folder")
    load.set_defaults(func=cmd_load)

    report = commands.add_parser(
        "report",
        help="turn the results into HTML: reports/summary.html and the Allure report",
        description="Write reports/summary.html (self-contained: verdict per requirement, load "
        "latency and availability) and, when the Allure command line is installed, "
        "reports/allure-report/.",
    )
    report.add_argument("--reports", default="reports", help="the reports folder")
    report.set_defaults(func=cmd_report)

    verify = commands.add_parser(
        "verify-certification",
        help="check a certificate's signature against its operator's public key",
        description="Verify the JWS signature of a certification.json (or of the .html, whose "
        "page must then be what the signed document renders) against the operator's public "
        "key; with --source, also compare the hash of this suite's checks with the one that "
        "produced it. Exit 0 verified, 1 not (altered, another key, unsigned), 2 unusable input.",
    )
    verify.add_argument("file", help="certification.json or certification.html")
    verify.add_argument(
        "--public-key", metavar="PEM", help="the operator's public key (or certificate), PEM"
    )
    verify.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="accept an unsigned certificate after checking its checksum (proves no author)",
    )
    verify.add_argument("--source", action="store_true", help="also compare the suite's source")
    verify.set_defaults(func=cmd_verify_certification)

    interop = commands.add_parser(
        "interop",
        usage=PASSES_PYTEST_ARGS,
        help="run the suite against real providers (oidc-provider, Keycloak) as PSC stand-ins",
        description="Start panva's oidc-provider (npm, pinned in package-lock.json) or Keycloak "
        "(Maven Central, pinned; `make keycloak-dist`) on 127.0.0.1, run the whole suite against "
        "it through the html_form driver and hold the results to its expected-results file "
        "(interop/<provider>/expected-results.toml). Arguments after `--` go to the suite's "
        "pytest (e.g. `-- -k discovery`). Exit 0 when every outcome is as expected.",
    )
    interop.add_argument(
        "--provider",
        choices=["oidc-provider", "keycloak", "all"],
        default="oidc-provider",
        help="which provider (default: %(default)s; all: each in turn)",
    )
    interop.add_argument(
        "--expected",
        default=None,
        help="expected-results file (default: interop/<provider>/expected-results.toml)",
    )
    interop.add_argument(
        "--reports", default="reports/interop", help="output folder (default: %(default)s)"
    )
    interop.add_argument(
        "--serve", action="store_true", help="only start the provider and print its profile"
    )
    interop.set_defaults(func=cmd_interop)

    from psc_testkit.monitor import command as monitor_command

    monitor_command.add_parser(commands)  # `monitor` and `monitor report`

    profile = commands.add_parser(
        "profile",
        help="work with target profiles: `profile check --target FILE`",
        description="Work with target profiles (targets/*.toml).",
    )
    profile_commands = profile.add_subparsers(
        dest="profile_command",
        required=True,
        metavar="COMMAND",
        title="commands",
        help="`psc-testkit profile COMMAND --help` tells its options",
    )
    check = profile_commands.add_parser(
        "check",
        help="is the profile ready? DNS, TCP, TLS, discovery, JWKS, driver, each client",
        description="Validate the profile, then probe its target step by step, one line each: "
        "DNS, TCP, TLS (trust, host name, expiry), discovery (issuer), JWKS (a signing key), "
        "the driver, and whether the provider accepts each client (a token request with a "
        "made-up code, or an authorization request not followed). No login (unless --login), no "
        "load: fit for "
        "production. Exit 0 when all is well, 1 when a step fails, 2 when the profile is "
        "unusable.",
    )
    check.add_argument(
        "--target",
        default=None,
        metavar="FILE",
        help=f"the profile to check, e.g. targets/psc-bas.toml (default {DEFAULT_PROFILE})",
    )
    check.add_argument(
        "profile",
        nargs="?",
        default=None,
        metavar="FILE",
        help="deprecated spelling of --target FILE",
    )
    check.add_argument(
        "--login",
        action="store_true",
        help="also log the first test user in for real, once (a code, then tokens); never "
        "on a safe profile, and a refused password is not posted again",
    )
    check.set_defaults(func=cmd_profile_check)
    return root


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    args = parser().parse_args(argv)
    if args.func in (cmd_conformance, cmd_interop):
        return int(args.func(args, extra))
    if extra:
        print(
            f"psc-testkit {args.command}: arguments after -- go to pytest, which only "
            "conformance and interop run",
            file=sys.stderr,
        )
        return 2
    return int(args.func(args))
