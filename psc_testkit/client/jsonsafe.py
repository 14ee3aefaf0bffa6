"""JSON from a provider, parsed with bounds: a hostile document is a ValueError with one line.

`json.loads` recurses once per nesting level: 100,000 brackets end in a RecursionError, not a
ValueError, and escape every handler written for "not JSON". Documents are also measured after
parsing, without recursion, so a check never walks a structure deeper than any OIDC message.
"""

from __future__ import annotations

import json

MAX_DEPTH = 64  # OIDC documents nest 5 or 6 levels; PSC's claims about 6


class JsonTooDeep(ValueError):
    pass


def depth(data: object, limit: int = MAX_DEPTH) -> int:
    """How many containers deep `data` goes (a scalar is 0), iteratively; counting stops just
    past `limit`."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level)
        if level > limit:
            return level  # deeper than allowed: no need to measure the rest
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads(text: str | bytes | bytearray, max_depth: int = MAX_DEPTH) -> object:
    """`json.loads`, raising ValueError (JsonTooDeep) for documents nested deeper than allowed."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels") from None
    if depth(data, max_depth) > max_depth:
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")
    return data
