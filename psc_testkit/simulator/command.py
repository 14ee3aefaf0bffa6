"""The simulator's command line: `python -m psc_testkit.simulator [options]`, which is what
SimulatorProcess starts, and what `psc-testkit simulator` runs once cli.py delegates to it
(`add_arguments(subparser)`, then `run(args)`). Its options live here, beside the simulator.

Only the standard library is imported at module level: `psc-testkit --help` builds this parser
and must stay fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_PROFILE = Path("targets/simulator.toml")
DESCRIPTION = (
    "Run the embedded PSC simulator. On start it prints `issuer=<url>`, `wallet=<url>`, with "
    "--tls `ca=<path>`, and last `state=<dir>` (generated client keys and certificates), one "
    "per line. The state folder is removed when the simulator stops, unless --keep-state."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options, on `parser` (its own, or cli.py's `simulator` subcommand)."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=0, help="issuer port (default 0: a free port)")
    parser.add_argument("--wallet-port", type=int, default=0, help="authorization host port")
    parser.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve HTTPS with a local CA generated at start (default: from the profile)",
    )
    parser.add_argument(
        "--defect",
        action="append",
        default=[],
        metavar="NAME",
        help="start with this defect injected (repeatable); see --list-defects",
    )
    parser.add_argument("--list-defects", action="store_true", help="list the defects and exit")
    parser.add_argument(
        "--quirk",
        action="append",
        default=[],
        metavar="NAME",
        help="start with this quirk (a compliant but unusual behaviour, repeatable); "
        "see --list-quirks",
    )
    parser.add_argument("--list-quirks", action="store_true", help="list the quirks and exit")
    parser.add_argument("--seed", type=int, default=None, help="seed of the synthetic directory")
    parser.add_argument("--population", type=int, default=None, help="number of professionals")
    parser.add_argument("--ecps-delay", type=float, default=None, help="e-CPS approval delay (s)")
    parser.add_argument(
        "--target",
        default=None,
        metavar="FILE",
        help="profile with the [simulator] settings and clients (default: $PSC_SIMULATOR_CONFIG, "
        f"else {DEFAULT_PROFILE})",
    )
    parser.add_argument(
        "--config", default=None, metavar="FILE", help="deprecated spelling of --target FILE"
    )
    parser.add_argument("--state-dir", default=None, help="where to write keys and certificates")
    parser.add_argument(
        "--keep-state",
        action="store_true",
        default=False,
        help="keep the state folder (keys, certificates, the CA's private key) on exit; "
        "by default it is removed",
    )
    parser.add_argument(
        "--rp",
        action="store_true",
        default=False,
        help="RP certification: record every request (GET /_simulator/requests) and serve "
        "lies on demand (POST /_simulator/lie); see --list-lies",
    )
    parser.add_argument("--list-lies", action="store_true", help="list the RP lies and exit")
    parser.add_argument(
        "--awkward-secrets",
        action="store_true",
        default=None,
        help="opaque values issued (session ids and cookies, tx, codes, refresh tokens, "
        "auth_req_id) hold + / = & %% \\ and non-ASCII characters, as many as each one's "
        "spec allows: tests their encoding and redaction",
    )


def _profile(explicit: str | None) -> Path:
    for candidate in (explicit, os.environ.get("PSC_SIMULATOR_CONFIG")):
        if candidate:
            return Path(candidate)
    if DEFAULT_PROFILE.exists():
        return DEFAULT_PROFILE
    raise SystemExit(
        f"psc-testkit simulator: no profile at {DEFAULT_PROFILE}; "
        "run from the project folder or pass --target FILE"
    )


def run(args: argparse.Namespace) -> int:
    """Start the simulator with parsed options; the exit code (2: usage or profile error)."""
    from psc_testkit.cli import UsageError, chosen_target

    try:
        target = chosen_target("simulator", args.target, args.config, "--config FILE")
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    from psc_testkit.simulator import defects as defect_registry
    from psc_testkit.simulator import quirks as quirk_registry

    if args.list_defects:
        print(defect_registry.listing())
        return 0
    if getattr(args, "list_quirks", False):
        print(quirk_registry.listing())
        return 0
    if getattr(args, "list_lies", False):
        from psc_testkit.simulator import lies

        print(lies.listing())
        return 0
    from psc_testkit.simulator.server import run as serve
    from psc_testkit.simulator.settings import SettingsError, load_settings

    try:
        active = defect_registry.ActiveDefects(args.defect)
        quirks = quirk_registry.ActiveQuirks(getattr(args, "quirk", []))
        settings = load_settings(
            _profile(target),
            seed=args.seed,
            tls=args.tls,
            population=args.population,
            ecps_approval_delay=args.ecps_delay,
            awkward_secrets=getattr(args, "awkward_secrets", None),
        )
    except (SettingsError, defect_registry.UnknownDefect, quirk_registry.UnknownQuirk) as exc:
        print(f"psc-testkit simulator: {exc}", file=sys.stderr)
        return 2
    try:
        serve(
            settings,
            host=args.host,
            port=args.port,
            wallet_port=args.wallet_port,
            defects=active,
            quirks=quirks,
            state_dir=Path(args.state_dir) if args.state_dir else None,
            keep_state=getattr(args, "keep_state", False),
            rp=getattr(args, "rp", False),
        )
    except OSError as exc:
        print(f"psc-testkit simulator: cannot listen on {args.host}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


def parser() -> argparse.ArgumentParser:
    """`python -m psc_testkit.simulator`'s parser: the options of `psc-testkit simulator`."""
    parser = argparse.ArgumentParser(prog="psc-testkit simulator", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))
