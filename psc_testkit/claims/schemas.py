"""The project's JSON Schemas (draft 2020-12, `schemas/`), loaded once into a registry."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

# Shipped beside the package, like the conformance suite.
SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"


@cache
def registry() -> Registry:
    resources = []
    for path in sorted(SCHEMAS_DIR.glob("*/*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@cache
def validator(schema_id: str) -> Draft202012Validator:
    schema = registry().contents(schema_id)
    return Draft202012Validator(schema, registry=registry())


def json_path(parts: object) -> str:
    path = "$"
    for part in parts:  # type: ignore[attr-defined]
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def schema_errors(schema_id: str, instance: object) -> list[tuple[str, str]]:
    """(JSON path, message) for each way `instance` breaks the schema, in document order."""
    found = validator(schema_id).iter_errors(instance)
    return sorted((json_path(e.absolute_path), e.message) for e in found)


def schema_id(short: str) -> str:
    """ "psc:userinfo" → the schema's $id."""
    return f"urn:psc-testkit:schema:{short}"
