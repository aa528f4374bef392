"""Every shipped extension's config is bounded by its schema, so no config can make an event the bus
refuses (a committed event that can never be published would wait in the outbox forever)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from parley.adapters.eventbridge import MAX_REQUEST_BYTES
from parley.extensions.builtin import manifests
from parley.extensions.manifest import Manifest

MAX_CONFIG_BYTES = 64 * 1024
"""Room for the rest of the event (install metadata, envelope) under EventBridge's 256 KiB."""


def worst_case_bytes(schema: dict[str, Any], defs: dict[str, Any], where: str) -> int:
    """The largest JSON a value of ``schema`` can serialize to; fails on any unbounded part."""
    if "$ref" in schema:
        return worst_case_bytes(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, where)
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return max(worst_case_bytes(s, defs, where) for s in schema[combinator])
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return max(len(json.dumps(v)) for v in values)
    kind = schema.get("type")
    if kind == "string":
        assert "maxLength" in schema, f"{where}: a string with no maxLength"
        return 2 + 6 * int(schema["maxLength"])  # every character escaped as \\uXXXX at worst
    if kind == "array":
        assert "maxItems" in schema, f"{where}: a list with no maxItems"
        item = worst_case_bytes(schema.get("items", {}), defs, f"{where}[]")
        return 2 + int(schema["maxItems"]) * (item + 1)
    if kind == "object":
        assert schema.get("additionalProperties") is False, f"{where}: an object open to any key"
        properties = schema.get("properties", {})
        return 2 + sum(
            len(json.dumps(name)) + 2 + worst_case_bytes(p, defs, f"{where}.{name}")
            for name, p in properties.items()
        )
    if kind in {"integer", "number"}:
        return 24
    if kind in {"boolean", "null"}:
        return 5
    raise AssertionError(f"{where}: a value of unbounded type {schema}")


@pytest.mark.parametrize("manifest", manifests(), ids=lambda m: m.id)
def test_a_shipped_extension_config_is_bounded_in_size(manifest: Manifest) -> None:
    schema = manifest.config_schema()
    size = worst_case_bytes(schema, schema.get("$defs", {}), "config")
    assert size <= MAX_CONFIG_BYTES < MAX_REQUEST_BYTES
