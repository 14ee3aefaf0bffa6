"""The pytest plugin behind `psc-testkit conformance`: target and harness fixtures, requirement
markers, SHOULD-as-warning, redacted evidence on failures, and `summary.json`.

Checks stay plain pytest tests; everything a report needs comes from their marker
(`@pytest.mark.requirement("OIDCC-3.1.3.7-11", "MUST")`) and the fixtures they used.

The run's prerequisites (profile, defect and quirk names, the simulator, the discovery document)
are checked once, after collection and before any check (`preflight.py`): broken, the run stops
with one line on stderr and its exit code instead of erroring every check. So does a
`RunStopped` raised anywhere during the run. The exit code says what happened (0 every MUST
holds, 1 a MUST failed, 2 usage or profile error, 3 target unreachable or a prerequisite broken,
4 inconclusive), summary.json records it with why the run stopped, and the terminal ends with
one `verdict:` line whose counts are those of summary.json and junit.xml.

Everything pytest and its plugins write about a check passes through the run's redactor and is
bounded first: the failure text (terminal, junit.xml, Allure), the exception other plugins read,
captured output, skip reasons, and the fixture errors Allure records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from psc_testkit import __version__
from psc_testkit.claims.identifiers import EDIT_ID
from psc_testkit.client import replay
from psc_testkit.client.config import ProfileError, Target, load_target
from psc_testkit.client.drivers import NoFrontChannel
from psc_testkit.client.errors import RunStopped
from psc_testkit.client.evidence import MAX_MESSAGE, Exchange, Redactor, bounded_lines, shorten
from psc_testkit.conformance import preflight
from psc_testkit.conformance.harness import Harness, SafeModeRefusal, TargetError
from psc_testkit.conformance.requirements import LEVELS, link, section_of, spec_of
from psc_testkit.reports import allure as allure_output
from psc_testkit.reports import html as html_report

if TYPE_CHECKING:
    from _pytest._io import TerminalWriter

EVIDENCE_LIMIT = 6  # exchanges shown per failure: the last ones are the ones that matter


# What a check cannot do here rather than a failure of the target: reported as skips.
SKIPPING = (SafeModeRefusal, NoFrontChannel)

# Drivers whose login leaves the SSO session in a browser the suite cannot see.
SESSION_ELSEWHERE = {"manual": "the manual driver's session lives in the person's browser"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("psc-testkit")
    group.addoption(
        "--target",
        default=os.environ.get("PSC_TARGET", "targets/simulator.toml"),
        help="target profile (default: the embedded simulator)",
    )
    group.addoption(
        "--defect",
        action="append",
        default=[],
        help="start the simulator with this defect (repeatable)",
    )
    group.addoption(
        "--quirk",
        action="append",
        default=[],
        help="start the simulator with this quirk (repeatable)",
    )
    group.addoption(
        "--psc-strict",
        action="store_true",
        help="SHOULD-level failures fail the run instead of warning",
    )
    group.addoption(
        "--psc-reveal-test-identities",
        action="store_true",
        help="show the sandbox's EDIT test identities (ANS…) in clear; only with sandbox = true",
    )
    group.addoption("--summary", default="reports/summary.json", help="where to write the summary")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(id, level): the requirement a check verifies")
    config.addinivalue_line("markers", "login: the check needs a user login at the provider")
    config.addinivalue_line(
        "markers",
        "sso_session: the check reads the provider's SSO session through the suite's own browser",
    )
    config._psc = {"started": time.time(), "results": [], "target": None, "stopped": None}  # type: ignore[attr-defined]
    _note_interrupts(config._psc)  # type: ignore[attr-defined]


def _note_interrupts(state: dict) -> None:
    """Remember a Ctrl-C (SIGINT) as it arrives, then raise KeyboardInterrupt as before. The
    exception alone can be lost: one landing in an old-style hook wrapper's teardown (Allure's
    makereport, say) is turned into a warning by pluggy, and the run went on to a PASSED exit 0
    though the user had asked it to stop. The remembered interrupt makes it INCONCLUSIVE."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None):
        return  # Ctrl-C is not ours to handle here

    def interrupted(signum: int, frame: object) -> None:
        state["interrupted"] = True
        if callable(previous):
            previous(signum, frame)  # Python's default handler raises KeyboardInterrupt
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    state["previous_sigint"] = previous


def requirement_of(item: pytest.Item) -> tuple[str, str] | None:
    marker = item.get_closest_marker("requirement")
    if marker is None:
        return None
    requirement, level = marker.args
    return str(requirement), str(level)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        found = requirement_of(item)
        if found is None or found[1] not in LEVELS:
            raise pytest.UsageError(
                f"{item.nodeid}: every check needs @pytest.mark.requirement(id, MUST|SHOULD|MAY)"
            )
    # A check that probes the SSO session (prompt=none, max_age, logout) cannot judge a session
    # the suite does not hold: skipped with the reason, rather than failed or passed wrongly.
    # Decided here, before any fixture logs anyone in.
    try:
        profile = Path(config.getoption("--target"))
        driver = load_target(profile, discovery_url="-", require_secrets=False).driver.name
    except ProfileError:
        return  # the target fixture reports it
    if (reason := SESSION_ELSEWHERE.get(driver)) is not None:
        skip = pytest.mark.skip(reason=f"{reason}: this check reads the SSO session")
        for item in items:
            if item.get_closest_marker("sso_session"):
                item.add_marker(skip)


# Redaction ------------------------------------------------------------------------------------


def _redactor(config: pytest.Config) -> Redactor:
    """The run's redactor: the harness's, which learnt every exchange; before there is one (a
    fixture failed early), one that knows the profile's secrets and redacts by field name."""
    state = config._psc  # type: ignore[attr-defined]
    harness = state.get("harness")
    if harness is not None:
        return harness.recorder.redact
    redact = state.setdefault("redactor", Redactor())
    target = state.get("target")
    if target is not None and state.get("redactor_of") is not target:
        for client in target.clients:
            redact.add(client.secret)
        for value in target.driver_secrets:
            redact.add(value)
        state["redactor_of"] = target
    return redact


def message_of(text: str) -> str:
    """One line for a failure: its exception lines (pytest's `E` gutter removed), bounded."""
    lines = text.strip().splitlines()
    raised = [line[1:].strip() for line in lines if line.startswith("E ")]
    return shorten(" ".join(raised or lines[-1:]), MAX_MESSAGE)


@dataclasses.dataclass
class _Crash:
    message: str

    def __str__(self) -> str:
        return self.message


class FailureText:
    """A failure as pytest's writers read it, standing in for its longrepr: the redacted text,
    each line and the line count bounded (one check once wrote 8.8 MB into junit.xml), and a
    one-line message for junit's message attribute and the terminal's summary line."""

    def __init__(self, text: str) -> None:
        self.text = bounded_lines(text)
        self.reprcrash = _Crash(message_of(self.text))

    def __str__(self) -> str:
        return self.text

    def toterminal(self, tw: TerminalWriter) -> None:
        for line in self.text.splitlines():
            failure = line.startswith("E ")
            tw.line(line, red=failure, bold=failure)


def _redact_exception(exception: BaseException, redact: Redactor) -> None:
    """The exception other plugins read (Allure writes its message): redacted in place."""
    exception.args = tuple(redact.message(a) if isinstance(a, str) else a for a in exception.args)
    message = getattr(exception, "msg", None)  # pytest.fail() and skip() show .msg, not args
    if isinstance(message, str):
        with contextlib.suppress(AttributeError):
            exception.msg = redact.message(message)  # type: ignore[attr-defined]


def _redact_excinfo(excinfo: pytest.ExceptionInfo, redact: Redactor) -> None:
    _redact_exception(excinfo.value, redact)
    original = excinfo.exconly
    if getattr(original, "_psc_redacted", False):
        return

    # Allure's message is exconly(): an exception whose __str__ ignores its args would still
    # show what it holds.
    def exconly(tryshort: bool = False) -> str:
        return redact.message(original(tryshort))

    exconly._psc_redacted = True  # type: ignore[attr-defined]
    excinfo.exconly = exconly  # type: ignore[method-assign]


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest
) -> Iterator[None]:
    # Inside Allure's own wrapper: the fixture's error is redacted before Allure records it.
    outcome = yield
    if outcome.excinfo is not None:
        _redact_exception(outcome.excinfo[1], _redactor(request.config))


# Fixtures -------------------------------------------------------------------------------------


def _stop(config: pytest.Config, line: str, exit_code: int, *, before_checks: bool) -> None:
    """Remember why the run stops (the first reason wins); sessionfinish writes it."""
    state = config._psc  # type: ignore[attr-defined]
    if state["stopped"] is None:
        state["stopped"] = {"reason": line, "exit_code": exit_code, "before_checks": before_checks}


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """The preflight: once, after collection (so a selection that needs no target, e.g. only
    checks skipped for the driver, asks nothing of it), before the first check."""
    config = session.config
    if config.option.collectonly or session.testsfailed:  # collection errors: pytest stops
        return
    path = Path(config.getoption("--target"))
    defects, quirks = config.getoption("--defect"), config.getoption("--quirk")
    try:
        preflight.check_names(defects, quirks)
        preflight.read_profile(path)
        needs_target = any(
            "target" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("skip")
            for item in session.items
        )
        if not needs_target:
            return
        prepared = preflight.prepare(path, defects, quirks)
    except preflight.Stop as stop:
        _stop(config, stop.line, stop.exit_code, before_checks=True)
        pytest.exit(stop.line, returncode=stop.exit_code)
    config.add_cleanup(prepared.close)
    state = config._psc  # type: ignore[attr-defined]
    state["target"], state["harness"] = prepared.target, prepared.harness
    if config.getoption("--psc-reveal-test-identities"):
        if not prepared.target.sandbox:
            line = f"{preflight.PREFIX}: --reveal-test-identities needs a profile with sandbox"
            line += " = true"
            _stop(config, line, preflight.USAGE, before_checks=True)
            pytest.exit(line, returncode=preflight.USAGE)
        prepared.harness.recorder.redact.reveal = EDIT_ID


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    found = request.config._psc.get("target")  # type: ignore[attr-defined]
    if found is None:  # the preflight did not run: no selected check needed a target
        raise TargetError("no target: the preflight did not prepare one")
    return found


@pytest.fixture(scope="session")
def harness(target: Target, request: pytest.FixtureRequest) -> Harness:
    return request.config._psc["harness"]  # type: ignore[attr-defined]


# Reporting ------------------------------------------------------------------------------------


def _exchanges(item: pytest.Item) -> list[Exchange]:
    """The exchanges behind a check: those of the fixtures it used, then its own."""
    seen: dict[int, Exchange] = {}

    def collect(value: object, depth: int = 0) -> None:
        if depth > 2:
            return
        for exchange in getattr(value, "exchanges", None) or []:
            seen.setdefault(id(exchange), exchange)
        if isinstance(value, list | tuple):
            for element in value:
                collect(element, depth + 1)
        elif hasattr(value, "__dict__") and not isinstance(value, Harness | type):
            for element in vars(value).values():
                if hasattr(element, "exchanges"):
                    collect(element, depth + 1)

    for value in getattr(item, "funcargs", {}).values():
        collect(value)
    for exchange in getattr(item, "_psc_call_exchanges", []):
        seen.setdefault(id(exchange), exchange)
    return list(seen.values())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    harness = item.config._psc.get("harness")  # type: ignore[attr-defined]
    if harness is None:
        yield
        return
    with harness.recorder.capture() as captured:
        yield
    item._psc_call_exchanges = captured  # type: ignore[attr-defined]


def _doc(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return " ".join(doc.split())


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    # A broken prerequisite or a skip is shown in one line (below), never as a traceback, so
    # pytest need not format one first: it did, from the source of every frame (some 37 of
    # fixtures and harness per check), 18 of a broken target's 20 seconds. Before the yield,
    # this runs before pytest's own makereport builds the report.
    if call.excinfo is not None and isinstance(call.excinfo.value, (TargetError, *SKIPPING)):
        call.excinfo.traceback = call.excinfo.traceback[-1:]
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    requirement, level = requirement_of(item) or ("", "MUST")
    report.user_properties.append(("requirement", requirement))
    report.user_properties.append(("level", level))
    harness = item.config._psc.get("harness")  # type: ignore[attr-defined]
    redact = _redactor(item.config)
    if report.sections:
        # Captured output goes to the terminal, junit.xml and Allure alike.
        report.sections = [(t, bounded_lines(redact(c))) for t, c in report.sections]
    if call.excinfo is not None and isinstance(call.excinfo.value, SKIPPING):
        # A safe profile refused a login, or the driver has no front channel (CIBA): a skip
        # with its reason, whether the check or one of its fixtures (a session fixture raises
        # it again for each check) asked for it.
        path, line = item.reportinfo()[:2]
        report.outcome = "skipped"
        report.longrepr = (str(path), (line or 0) + 1, f"Skipped: {call.excinfo.value}")
    if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        path, line, reason = report.longrepr
        report.longrepr = (path, line, redact.message(str(reason)))
    if report.failed:
        if call.excinfo is not None and isinstance(call.excinfo.value, TargetError):
            # A broken prerequisite, most often a broken target: one line, no traceback, and
            # an error (the requirement could not be checked), even when raised in the check.
            report.longrepr = f"E   broken prerequisite: {call.excinfo.value}"
            report._psc_broken = True  # type: ignore[attr-defined]
            report._psc_error = True  # type: ignore[attr-defined]
        elif level in ("SHOULD", "MAY") and report.when == "call" and not _judged(call):
            # A SHOULD check that raised something else than its verdict (a TypeError, a
            # KeyError: a bug, or an answer it did not expect) did not judge the requirement:
            # an error, never a warning that hides it.
            report._psc_error = True  # type: ignore[attr-defined]
        report.longrepr = FailureText(redact(str(report.longrepr)))
    if call.excinfo is not None and isinstance(call.excinfo.value, RunStopped):
        # Going on would cost more than it tells (a locked account): the whole run stops
        # once this check is reported (pytest_runtest_protocol below).
        reason = redact.message(str(call.excinfo.value))
        _stop(item.config, f"{preflight.PREFIX}: run stopped: {reason}", 3, before_checks=False)
    if call.excinfo is not None:
        # Other plugins (allure) read the exception itself, a skip's too: redacted in place.
        _redact_excinfo(call.excinfo, redact)
    if report.failed and harness is not None:
        exchanges = _exchanges(item)[-EVIDENCE_LIMIT:]
        header = (
            f"{requirement} ({level}) — {spec_of(requirement).title} §{section_of(requirement)}"
        )
        lines = [header, _doc(item), f"See {link(requirement)}"]
        report.sections.append(("requirement", "\n".join(lines)))
        if exchanges:
            text = "\n\n".join(e.render(redact) for e in exchanges)
            report.sections.append(("evidence (redacted)", text))
            replays = replay.as_text([e.replay(redact) for e in exchanges])
            report.sections.append(("replay", replays))
        report._psc_evidence = [e.to_dict(redact) for e in exchanges]  # type: ignore[attr-defined]
    allure = item.config.pluginmanager.hasplugin("allure_pytest")
    if report.when == "call" and harness is not None and allure:
        # A passing check shows its own exchanges; one that fails, also its fixtures'.
        shown = _exchanges(item) if report.failed else getattr(item, "_psc_call_exchanges", [])
        allure_output.attach(shown[-EVIDENCE_LIMIT:], harness.recorder.redact)
    if (
        report.when == "call"
        and report.failed
        and level == "SHOULD"
        and not item.config.getoption("--psc-strict")
        and not getattr(report, "_psc_error", False)
    ):
        if call.excinfo is not None and call.excinfo.value.args:
            # Allure shows the check as passed; the prefix puts it in "SHOULD warnings".
            first, *rest = call.excinfo.value.args
            call.excinfo.value.args = (f"{allure_output.WARNING_PREFIX}{first}", *rest)
        report.outcome = "passed"
        report._psc_warning = True  # type: ignore[attr-defined]
        report.user_properties.append(("verdict", "warning"))
    if (
        report.when == "call"
        and report.failed
        and level == "MAY"
        and not getattr(report, "_psc_error", False)
    ):
        # What the spec allows either way: noted, never a failure, not even with --strict.
        report.outcome = "passed"
        report._psc_info = True  # type: ignore[attr-defined]
        report.user_properties.append(("verdict", "info"))
    _record(item, report)


def _judged(call: pytest.CallInfo) -> bool:
    """Whether a check's exception is its verdict: a failed assertion or pytest.fail()."""
    return call.excinfo is not None and isinstance(
        call.excinfo.value, (AssertionError, pytest.fail.Exception)
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    result = yield
    stopped = item.config._psc["stopped"]  # type: ignore[attr-defined]
    if stopped is not None:
        pytest.exit(stopped["reason"], returncode=stopped["exit_code"])
    return result


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> Iterator[None]:
    # junit.xml counts a failure in the call phase as a failure whatever the terminal says:
    # a check's error (a broken prerequisite, a SHOULD check that did not judge) is shown to
    # the writers as the setup error it stands for, so junit.xml counts it among the errors
    # as the terminal and summary.json do.
    if not (getattr(report, "_psc_error", False) and report.when == "call"):
        return (yield)
    report.when = "setup"  # type: ignore[assignment]
    try:
        return (yield)
    finally:
        report.when = "call"  # type: ignore[assignment]


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    if getattr(report, "_psc_warning", False):
        return "warned", "W", ("WARNING", {"yellow": True})
    if getattr(report, "_psc_info", False):
        return "noted", "i", "INFO"
    if getattr(report, "_psc_error", False) and report.failed:
        return "error", "E", "ERROR"
    return None


def _verdict(report: pytest.TestReport) -> str | None:
    if getattr(report, "_psc_warning", False):
        return "warning"
    if getattr(report, "_psc_info", False):
        return "info"
    if getattr(report, "_psc_error", False):
        return "error"
    if report.when == "call":
        return report.outcome  # passed | failed | skipped
    if report.failed:
        return "error"  # a fixture could not get what the check needs: broken prerequisite
    if report.skipped:
        return "skipped"
    return None


def _record(item: pytest.Item, report: pytest.TestReport) -> None:
    verdict = _verdict(report)
    if verdict is None:
        return
    requirement, level = requirement_of(item) or ("", "MUST")
    message = ""
    redact = _redactor(item.config)
    if verdict in ("failed", "error", "warning", "info"):
        # The exception lines of the (redacted) traceback, without pytest's "E" gutter.
        message = redact.message(message_of(str(report.longrepr or "")))
    elif verdict == "skipped" and isinstance(report.longrepr, tuple):
        message = redact.message(str(report.longrepr[2]))
    results = item.config._psc["results"]  # type: ignore[attr-defined]
    results[:] = [r for r in results if r["check"] != item.nodeid]  # setup, then call
    results.append(
        {
            "check": item.nodeid,
            "requirement": requirement,
            "level": level,
            "spec": spec_of(requirement).title,
            "verdict": verdict,
            "duration_s": round(report.duration, 3),
            "message": message,
            # What the check verifies, in the spec's words where its docstring quotes them.
            "statement": _doc(item) if verdict != "passed" else "",
            "evidence": getattr(report, "_psc_evidence", []) if verdict != "passed" else [],
        }
    )


ORDER = ["failed", "error", "warning", "info", "passed", "skipped"]  # a requirement is skipped
# only when all its checks were


def summarise(results: list[dict]) -> dict[str, dict]:
    """Verdict per requirement: the worst of its checks."""
    by_requirement: dict[str, dict] = {}
    for result in results:
        entry = by_requirement.setdefault(
            result["requirement"],
            {
                "level": result["level"],
                "spec": result["spec"],
                "verdict": "skipped",
                "checks": [],
            },
        )
        entry["checks"].append(result["check"])
        if ORDER.index(result["verdict"]) < ORDER.index(entry["verdict"]):
            entry["verdict"] = result["verdict"]
    return dict(sorted(by_requirement.items()))


def count(verdicts: list[str]) -> dict[str, int]:
    """How many of each verdict, every verdict named (0 too), in ORDER."""
    return {verdict: verdicts.count(verdict) for verdict in ORDER}


def exit_code(
    stopped: dict | None, exitstatus: int, counts: dict[str, int], interrupted: bool = False
) -> int:
    """The run's exit code (DESIGN.md) from pytest's status and the checks' verdicts."""
    if stopped is not None:
        return int(stopped["exit_code"])
    if exitstatus == pytest.ExitCode.INTERRUPTED or interrupted:
        return preflight.INCONCLUSIVE  # interrupted (or a check module did not import)
    if exitstatus in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        return preflight.USAGE  # a bad option, or a selection that selects nothing
    if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
        return preflight.INCONCLUSIVE  # the suite itself broke: nothing can be concluded
    if counts["failed"] or counts["error"] or exitstatus == pytest.ExitCode.TESTS_FAILED:
        return preflight.FAILED
    return preflight.PASSED


@pytest.hookimpl(trylast=True)  # after the session's fixtures are torn down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config._psc  # type: ignore[attr-defined]
    results = state["results"]
    stopped = state["stopped"]
    counts = count([r["verdict"] for r in results])
    requirements = summarise(results)
    code = exit_code(stopped, exitstatus, counts, bool(state.get("interrupted")))
    session.exitstatus = code  # what pytest returns, psc-testkit conformance too
    state["final"] = {
        "exit_code": code,
        "stopped": stopped,
        "counts": counts,
        "requirement_counts": count([r["verdict"] for r in requirements.values()]),
        "not_run": max(0, len(session.items) - len(results)),
    }
    if stopped is not None:
        sys.stderr.write(stopped["reason"] + "\n")  # the one line that says why
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            # pytest.exit() would also have the terminal print the reason in a "!!! Exit: …"
            # banner: the cause is said once, on stderr, and summed up by the verdict line.
            terminal._keyboardinterrupt_memo = None
            terminal._report_keyboardinterrupt = lambda: None
    if not config.getoption("--summary"):
        return
    target: Target | None = state.get("target")
    redact = _redactor(config)
    summary = {
        "suite": "psc-testkit",
        "version": __version__,
        "python": platform.python_version(),
        "target": target.name if target else None,
        "profile": config.getoption("--target"),
        # What the run did, not what was asked: a refused --reveal revealed nothing.
        "revealed_test_identities": state.get("harness") is not None
        and state["harness"].recorder.redact.reveal is not None,
        "discovery_url": redact.message(target.discovery_url) if target else None,
        "defects": config.getoption("--defect"),
        "quirks": config.getoption("--quirk"),
        "strict": config.getoption("--psc-strict"),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state["started"])),
        "duration_s": round(time.time() - state["started"], 2),
        "exit_code": code,
        # Why the run stopped before its end (None when it did not): a stale summary of an
        # earlier run would otherwise stand for this one.
        "stopped": stopped,
        "verdict": verdict_line(state["final"]),
        "counts": counts,
        "requirement_counts": state["final"]["requirement_counts"],
        "requirements": requirements,
        "checks": results,
    }
    path = Path(config.getoption("--summary"))
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir:
        allure_output.write_run_files(Path(alluredir), summary["target"], summary["discovery_url"])
    write_summary(path, summary)
    # The page people mail, of this run alone (`psc-testkit report` adds a load run's).
    (path.parent / "summary.html").write_text(html_report.render(summary, None), encoding="utf-8")


def verdict_line(final: dict) -> str:
    """One line: what the exit code means, then the requirements' and checks' counts."""
    code, stopped = final["exit_code"], final["stopped"]
    r, c = final["requirement_counts"], final["counts"]
    not_checked = r["error"] + r["skipped"]
    if stopped is not None:
        word = "STOPPED before the checks" if stopped["before_checks"] else "STOPPED"
    elif code == preflight.FAILED:
        word = "FAILED"
    elif code == preflight.PASSED:
        word = "PASSED" if not not_checked else "INCOMPLETE"
    elif code == preflight.USAGE:
        word = "NOT RUN"
    else:
        word = "INCONCLUSIVE"
    noted = f"{r['info']} noted, " if r.get("info") else ""
    requirements = (
        f"requirements {r['passed']} passed, {r['failed']} failed, {r['warning']} warned, "
        f"{noted}{not_checked} not checked"
    )
    checks = (
        f"checks {c['passed']} passed, {c['failed']} failed, {c['error']} errors, "
        f"{c['warning']} warned, {c['skipped']} skipped"
    )
    if c.get("info"):
        checks += f", {c['info']} noted (MAY)"
    if final["not_run"]:
        checks += f", {final['not_run']} not run"
    return f"verdict: {word} (exit {code}): {requirements}; {checks}"


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # Last, after pytest's own closing lines (the statistics, the reason a run stopped).
    final = getattr(config, "_psc", {}).get("final")
    previous = getattr(config, "_psc", {}).get("previous_sigint")
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, previous)  # _note_interrupts' handler ends with the run
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if final is not None and terminal is not None:
        terminal.write_line(verdict_line(final), bold=True)


def write_summary(path: Path, summary: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    warned = [r for r in config._psc["results"] if r["verdict"] == "warning"]  # type: ignore[attr-defined]
    if warned:
        terminalreporter.section("SHOULD-level warnings (fail with --strict)", yellow=True)
        for result in warned:
            terminalreporter.line(
                shorten(f"{result['requirement']}  {result['check']}: {result['message']}")
            )
    noted = [r for r in config._psc["results"] if r["verdict"] == "info"]  # type: ignore[attr-defined]
    if noted:
        terminalreporter.section("MAY-level observations (never fail)")
        for result in noted:
            terminalreporter.line(
                shorten(f"{result['requirement']}  {result['check']}: {result['message']}")
            )


@pytest.fixture(autouse=True)
def _allure_labels(request: pytest.FixtureRequest) -> None:
    """Epic = spec, feature = section, story = requirement, severity from the level."""
    found = requirement_of(request.node)
    if found is None or not request.config.pluginmanager.hasplugin("allure_pytest"):
        return
    target = request.config._psc.get("target")  # type: ignore[attr-defined]
    needs_login = any(
        name in request.fixturenames
        for name in ("happy", "fresh_tokens", "professionals", "session", "signed_userinfo")
    )
    allure_output.labels(*found, target.name if target else None, needs_login)
