"""The provider's metadata, validated once before use.

A discovery document is read by every check and every request the suite builds. Reading a
member through `Metadata` either gives a value of the type the specs define
(`schemas/oidc/discovery.schema.json`), with endpoints as absolute http(s) URLs, or raises
TargetError with one line that names the member: `token_endpoint: 42` or a missing endpoint
becomes "discovery: token_endpoint is not a URL (42)" in every check that needed it, never a
TypeError or a KeyError. The checks that judge the document itself read the raw values
(`raw()`, `in`), so a malformed member still fails the check that is about it.
"""

from __future__ import annotations

from functools import cache
from urllib.parse import urlsplit

from psc_testkit.claims.schemas import registry, schema_id
from psc_testkit.client.errors import TargetError

MAX_URL = 4096  # longer than any endpoint a provider needs; bounds every message and request
SHOWN = 60  # characters of a malformed value a message quotes


@cache
def member_types() -> dict[str, str]:
    """member → "string", "strings", "boolean", "object" or "url", from the discovery schema."""
    properties = registry().contents(schema_id("oidc:discovery"))["properties"]
    kinds = {}
    for name, spec in properties.items():
        if spec.get("$ref") == "#/$defs/strings":
            kinds[name] = "strings"
        elif name.endswith("_endpoint") or name == "jwks_uri":
            kinds[name] = "url"
        else:
            kinds[name] = spec.get("type", "any")
    return kinds


def shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def url_problem(value: object) -> str | None:
    """Why `value` cannot serve as an endpoint URL, or None."""
    if not isinstance(value, str):
        return "is not a URL"
    if len(value) > MAX_URL:
        return f"is a URL of {len(value)} characters (over {MAX_URL})"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "is not an absolute http(s) URL"
    return None


def problem(name: str, value: object) -> str | None:
    """Why member `name` cannot be used as the specs define it, or None."""
    kind = member_types().get(name)
    if kind == "url":
        reason = url_problem(value)
    elif kind == "strings":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        reason = None if ok else "is not a JSON array of strings"
    elif kind == "string":
        reason = None if isinstance(value, str) else "is not a string"
    elif kind == "boolean":
        reason = None if isinstance(value, bool) else "is not true or false"
    elif name == "mtls_endpoint_aliases":
        if not isinstance(value, dict):
            reason = "is not a JSON object"
        else:
            bad = next((k for k, v in value.items() if url_problem(v)), None)
            reason = None if bad is None else f"has {bad} that is not an absolute http(s) URL"
    else:
        reason = None
    return None if reason is None else f"discovery: {name} {reason} ({shown(value)})"


class Metadata(dict):
    """The discovery document. `meta[name]` and `meta.get(name)` give a usable value or raise
    TargetError naming the member; `meta[name]` of an absent member says it is not advertised.
    `raw()` and `in` see the document as served, for the checks that judge it."""

    def __init__(self, data: dict) -> None:
        if not isinstance(data, dict):
            raise ValueError("provider metadata must be a JSON object")
        super().__init__(data)
        # One validation, before any use: remembered for the run.
        self.problems = {n: p for n, v in data.items() if (p := problem(n, v)) is not None}

    def __getitem__(self, name: str) -> object:
        if name in self.problems:
            raise TargetError(self.problems[name])
        if not dict.__contains__(self, name):
            raise TargetError(f"discovery does not advertise {name}")
        return dict.__getitem__(self, name)

    def get(self, name: str, default: object = None) -> object:
        if name in self.problems:
            raise TargetError(self.problems[name])
        return dict.get(self, name, default)

    def raw(self, name: str, default: object = None) -> object:
        return dict.get(self, name, default)
