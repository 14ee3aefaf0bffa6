"""A certification report for vendors: what was tested (the profile, without secrets), with
which suite (version and a hash of the checks' source), and each requirement's verdict with a
digest of its evidence — reproducible and self-verifying (a checksum over the content).

It shows no message and no exchange, only their digest: the summary it is built from is already
redacted, and what it takes from the profile is redacted by field name once more."""

from __future__ import annotations

import hashlib
import json
from html import escape
from pathlib import Path

from psc_testkit import __version__
from psc_testkit.config import Target
from psc_testkit.evidence import Redactor

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [("conformance", "*.py"), ("schemas", "*.json"), ("psc_testkit", "*.py")]


def _canonical(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def source_hash(root: Path = ROOT) -> str:
    """SHA-256 over the checks, schemas and library, file by file in path order."""
    digest = hashlib.sha256()
    for folder, pattern in SOURCES:
        for path in sorted((root / folder).rglob(pattern)):
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def profile_of(target: Target | None, summary: dict) -> dict:
    """What was tested, as the certificate shows it: no secret (by field name), bounded."""
    redact = Redactor()

    def shown(value: object) -> object:
        return redact.message(value) if isinstance(value, str) else value

    if target is None:
        return {
            "name": shown(summary.get("target")),
            "discovery_url": shown(summary.get("discovery_url")),
        }
    return {
        "name": shown(target.name),
        "discovery_url": shown(target.discovery_url),
        "scopes": [shown(s) for s in target.scopes],
        "acr_values": shown(target.acr_values),
        "clients": [
            {"client_id": shown(c.client_id), "auth_method": c.auth_method} for c in target.clients
        ],
        "driver": target.driver.name,
        "sandbox": target.sandbox,
    }


def build(summary: dict, target: Target | None) -> dict:
    checks = {c["check"]: c for c in summary["checks"]}
    requirements = {}
    for requirement, entry in summary["requirements"].items():
        evidence = [
            {
                "check": name,
                "verdict": checks[name]["verdict"],
                "message": checks[name]["message"],
                "evidence": checks[name]["evidence"],
            }
            for name in sorted(entry["checks"])
            if name in checks
        ]
        requirements[requirement] = {
            "spec": entry["spec"],
            "level": entry["level"],
            "verdict": entry["verdict"],
            "checks": {e["check"]: e["verdict"] for e in evidence},
            "evidence_sha256": hashlib.sha256(_canonical(evidence)).hexdigest(),
        }
    verdicts = [r["verdict"] for r in requirements.values()]
    document = {
        "kind": "psc-testkit certification",
        "suite": {"name": "psc-testkit", "version": __version__, "source_sha256": source_hash()},
        "profile": profile_of(target, summary),
        "defects": summary.get("defects", []),
        "strict": summary.get("strict", False),
        "started": summary.get("started"),
        "result": "FAILED" if {"failed", "error"} & set(verdicts) else "PASSED",
        "counts": {v: verdicts.count(v) for v in sorted(set(verdicts))},
        "requirements": dict(sorted(requirements.items())),
    }
    document["checksum_sha256"] = hashlib.sha256(_canonical(document)).hexdigest()
    return document


def verify(document: dict) -> list[str]:
    """Why a certification document is not intact (empty when it is)."""
    problems = []
    claimed = document.get("checksum_sha256")
    content = {k: v for k, v in document.items() if k != "checksum_sha256"}
    if hashlib.sha256(_canonical(content)).hexdigest() != claimed:
        problems.append("the checksum does not match the content: the document was altered")
    return problems


def render_html(document: dict) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(r)}</code></td><td>{escape(e['spec'])}</td>"
        f'<td>{escape(e["level"])}</td><td class="{escape(e["verdict"])}">'
        f"{escape(e['verdict'])}</td><td><code>{escape(e['evidence_sha256'][:16])}…</code></td>"
        "</tr>"
        for r, e in document["requirements"].items()
    )
    profile = document["profile"]
    clients = ", ".join(
        f"{c['client_id']} ({c['auth_method']})" for c in profile.get("clients", [])
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>psc-testkit certification</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem}"
        "td,th{padding:.25rem .5rem;border-bottom:1px solid #ddd;text-align:left}"
        ".passed{color:#18753c}.failed,.error{color:#ce0500;font-weight:bold}"
        ".warning{color:#b34000}</style></head><body>"
        f'<h1>Certification report: <span id="result">{escape(document["result"])}</span></h1>'
        "<table>"
        f"<tr><th>provider</th><td>{escape(str(profile.get('name')))} — "
        f"{escape(str(profile.get('discovery_url')))}</td></tr>"
        f"<tr><th>clients</th><td>{escape(clients)}</td></tr>"
        f"<tr><th>suite</th><td>psc-testkit {escape(document['suite']['version'])}, source "
        f"<code>{escape(document['suite']['source_sha256'])}</code></td></tr>"
        f"<tr><th>run</th><td>{escape(str(document['started']))}</td></tr>"
        f"<tr><th>checksum</th><td><code>{escape(document['checksum_sha256'])}</code> "
        "(<code>psc-testkit verify-certification certification.json</code>)</td></tr></table>"
        "<table><tr><th>requirement</th><th>spec</th><th>level</th><th>verdict</th>"
        f"<th>evidence digest</th></tr>{rows}</table></body></html>\n"
    )


def write(document: dict, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "certification.json", folder / "certification.html"
    json_path.write_text(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    html_path.write_text(render_html(document), encoding="utf-8")
    return json_path, html_path
