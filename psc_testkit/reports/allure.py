"""What the conformance run gives Allure: labels from the requirement marker, the redacted
evidence as attachments, and the run's environment.properties and categories.json."""

from __future__ import annotations

import json
import time
from pathlib import Path

from psc_testkit import __version__
from psc_testkit.client import replay
from psc_testkit.client.evidence import Exchange, Redactor, decoded_jwts
from psc_testkit.conformance.requirements import link, section_of, severity, spec_of

WARNING_PREFIX = "SHOULD-level warning: "

CATEGORIES = [
    {
        "name": "MUST failures",
        "matchedStatuses": ["failed"],
        "description": "A requirement the provider MUST meet is not met.",
    },
    {
        "name": "SHOULD warnings",
        "matchedStatuses": ["passed"],
        "messageRegex": f"(?s).*{WARNING_PREFIX}.*",
        "description": "A SHOULD-level requirement is not met; only --strict fails the run.",
    },
    {
        "name": "Target unreachable",
        "matchedStatuses": ["broken"],
        "messageRegex": "(?s).*(cannot connect|timed out|ConnectError|ConnectTimeout).*",
        "description": "The target did not answer: nothing could be checked.",
    },
    {
        "name": "Broken prerequisite",
        "matchedStatuses": ["broken"],
        "description": "A fixture could not get what the check needs (a login, a token).",
    },
]


def labels(requirement: str, level: str, target_name: str | None, needs_login: bool) -> None:
    import allure

    allure.dynamic.epic(spec_of(requirement).title)
    allure.dynamic.feature(f"§{section_of(requirement)}")
    allure.dynamic.story(requirement)
    allure.dynamic.severity(getattr(allure.severity_level, severity(level).upper()))
    allure.dynamic.tag(level)
    if target_name:
        allure.dynamic.tag(f"profile:{target_name}")
    allure.dynamic.tag("needs-login" if needs_login else "no-login")
    if url := link(requirement):
        allure.dynamic.link(url, name=requirement)


def attach(exchanges: list[Exchange], redact: Redactor) -> None:
    """The exchanges, the JWTs they carried (decoded, redacted) and the replay commands."""
    import allure

    if not exchanges:
        return
    allure.attach(
        "\n\n".join(e.render(redact) for e in exchanges),
        name="HTTP exchanges (redacted)",
        attachment_type=allure.attachment_type.TEXT,
    )
    decoded = [jwt for exchange in exchanges for jwt in decoded_jwts(exchange, redact)]
    if decoded:
        allure.attach(
            # Each part redacted whole, then cut: PSC's claims make long documents.
            "\n\n".join(
                f"{d['where']} ({d['token']})\n{d['header']}\n{d['claims']}" for d in decoded
            ),
            name="JWTs (decoded, redacted)",
            attachment_type=allure.attachment_type.TEXT,
        )
    allure.attach(
        replay.as_text([e.replay(redact) for e in exchanges]),
        name="replay",
        attachment_type=allure.attachment_type.TEXT,
    )


def write_run_files(folder: Path, target_name: str | None, issuer: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    redact = Redactor()  # by field name: what reaches here is already redacted by value
    properties = {
        "target": redact.message(target_name or "-").replace("\n", " "),
        "issuer": redact.message(issuer or "-").replace("\n", " "),
        "suite.version": f"psc-testkit {__version__}",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (folder / "environment.properties").write_text(
        "".join(f"{k}={v}\n" for k, v in properties.items()), encoding="utf-8"
    )
    (folder / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")
