"""EventBridge event patterns evaluated locally: would some rule on the bus match this event?

The relay asks before it publishes (``parley.services.outbox``), so an event no rule wants costs no
PutEvents entry. When in doubt it says yes: a matcher this module does not know (``numeric``,
``wildcard``, ``cidr``...) or a top-level field it does not model (``account``, ``region``,
``time``, ``resources``) counts as a match, so an unknown rule can cost an event, never lose one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MODELLED = frozenset({"source", "detail-type", "detail"})
"""The top-level fields of the events the relay publishes that a pattern is checked against."""

_MISSING = object()


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge's semantics: every field of the pattern matches (a list is any of its matchers,
    against any element of an array), and at least one branch of each ``$or``."""
    return _fields(pattern, event, top=True)


def _fields(pattern: Mapping[str, Any], event: Mapping[str, Any], *, top: bool = False) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(_fields(branch, event, top=top) for branch in expected):
                return False
        elif top and key not in MODELLED:
            continue
        elif not _field(expected, event.get(key, _MISSING)):
            return False
    return True


def _field(expected: Any, value: Any) -> bool:
    if isinstance(expected, Mapping):
        # EventBridge flattens an array of objects: a nested pattern matches if any element does
        values = value if isinstance(value, list) else [value]
        return any(isinstance(v, Mapping) and _fields(expected, v) for v in values)
    if not isinstance(expected, Sequence) or isinstance(expected, str):
        return True  # not a pattern EventBridge would accept: never drop for it
    values = value if isinstance(value, list) else [value]
    return any(_one(matcher, v, value is _MISSING) for matcher in expected for v in values)


def _one(matcher: Any, value: Any, missing: bool) -> bool:
    """One matcher against one value (an element of an array, or the field itself)."""
    if not isinstance(matcher, Mapping):
        return not missing and matcher == value
    ((kind, operand),) = matcher.items() if len(matcher) == 1 else (("?", None),)
    if kind == "exists":
        return bool(operand) != missing
    if missing:
        return False
    if kind == "prefix" and isinstance(operand, str):
        return isinstance(value, str) and value.startswith(operand)
    if kind == "suffix" and isinstance(operand, str):
        return isinstance(value, str) and value.endswith(operand)
    if kind == "equals-ignore-case" and isinstance(operand, str):
        return isinstance(value, str) and value.lower() == operand.lower()
    if kind == "anything-but" and not isinstance(operand, Mapping):
        excluded = operand if isinstance(operand, list) else [operand]
        return value not in excluded
    return True  # a matcher not modelled here: assume it matches
