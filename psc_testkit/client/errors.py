"""The exception every layer uses to say "the target could not give what a check needs"."""

from __future__ import annotations


class TargetError(Exception):
    """The target could not give what a check needs (unreachable, not JSON, a malformed
    metadata member, a destination the profile does not trust…): one line, a broken
    prerequisite of the checks that needed it."""


class RunStopped(TargetError):
    """Going on would cost more than it tells (e.g. a third refused login: a real provider
    locks the account): the plugin stops the whole run with this one line, exit code 3."""
