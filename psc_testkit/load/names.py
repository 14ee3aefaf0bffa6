"""The names a load run's options may use: journeys (weights), flows and steps (SLOs), checked
before any load is sent, with a did-you-mean for a typo, instead of an SLO that silently finds
no data after the run. Kept apart from the locustfile so it imports without Locust."""

from __future__ import annotations

import difflib

# Journey (a weight's name) -> the flow it reports, as a FLOW transaction.
JOURNEYS = {
    "first-login": "first-login",
    "returning": "returning",
    "refresh": "refresh",
    "userinfo-poll": "userinfo-poll",
    "ciba": "ciba",
}
# Older spellings of the weights, still read.
ALIASES = {"refresher": "refresh", "poller": "userinfo-poll"}
DEFAULT_WEIGHTS = {"first-login": 4, "returning": 3, "refresh": 1, "userinfo-poll": 1, "ciba": 1}
# Flows no weight selects: the constant-rate availability probe and the open-model arrivals.
OTHER_FLOWS = ("probe", "arrival")
# Every request the journeys name (the drivers name the browser's: login-page, authorize,
# authenticate).
STEPS = (
    "discovery",
    "authorize",
    "login-page",
    "authenticate",
    "token",
    "userinfo",
    "refresh",
    "introspection",
    "authorize (sso)",
    "logout",
    "ciba",
    "ciba-token",
)
# Which steps each flow may make: an SLO on a step no selected flow makes can never have data.
FLOW_STEPS = {
    "first-login": {"discovery", "authorize", "login-page", "authenticate", "token", "userinfo"}
    | {"refresh", "logout"},
    "returning": {"authorize (sso)", "token"},
    "refresh": {"refresh"},
    "userinfo-poll": {"userinfo", "introspection"},
    "ciba": {"ciba", "ciba-token"},
}
FLOW_STEPS["probe"] = FLOW_STEPS["arrival"] = FLOW_STEPS["first-login"]


class UnknownName(ValueError):
    """A name the scenarios do not define; the message says which and what was meant."""


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})"


def weights(given: dict[str, object]) -> dict[str, int]:
    """The journey mix: known names, non-negative integers, at least one journey selected."""
    mix = dict(DEFAULT_WEIGHTS)
    for raw, value in given.items():
        name = ALIASES.get(raw, raw)
        if name not in JOURNEYS:
            raise UnknownName(
                f"unknown journey {raw!r} in the weights{_suggest(raw, [*JOURNEYS, *ALIASES])}"
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UnknownName(f"the weight of {raw!r} must be a whole number ≥ 0, not {value!r}")
        mix[name] = value
    if not any(mix.values()):
        raise UnknownName("every journey has weight 0: nothing would run")
    return mix


def selected_flows(mix: dict[str, int], ciba: bool, open_model: bool) -> set[str]:
    """The flows a run with this mix reports."""
    if open_model:
        return {"arrival", "probe"}
    flows = {JOURNEYS[name] for name, weight in mix.items() if weight}
    if not ciba:
        flows.discard("ciba")
    # A journey that logs in first reports that login as a first-login flow.
    if flows & {"returning", "refresh", "userinfo-poll"}:
        flows.add("first-login")
    return flows | {"probe"}


def check_slo_target(target: str, flows: set[str], options: dict[str, bool]) -> None:
    """An SLO's step or flow must be one this run makes; `options` says which optional steps
    are on (refresh, logout)."""
    known = sorted(set(JOURNEYS) | set(OTHER_FLOWS) | set(STEPS))
    if target not in known:
        raise UnknownName(
            f"the SLO names {target!r}, which no scenario defines{_suggest(target, known)}"
        )
    if target in flows:
        return
    steps = set().union(*(FLOW_STEPS[f] for f in flows))
    if target == "logout" and not options.get("logout"):
        steps.discard("logout")
    if target == "refresh" and not options.get("refresh") and "refresh" not in flows:
        steps.discard("refresh")
    if target in steps:
        return
    if target not in STEPS:
        raise UnknownName(f"the SLO names the flow {target!r}, which this run does not run")
    raise UnknownName(f"the SLO names the step {target!r}, which no journey of this run makes")
