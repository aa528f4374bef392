"""Check the frames the stack really sends against docs/asyncapi.yaml, so the document cannot lie.

Integration and e2e tests pass every frame they receive (route replies and pushes) through
``conforms``; it picks the message named by the frame's ``type`` in the document's server channel and
validates the frame against that message's payload schema, resolving the event schemas the document
references in docs/events/.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCS = Path(__file__).resolve().parents[2] / "docs"
ASYNCAPI = DOCS / "asyncapi.yaml"


def asyncapi_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_text())
    return document


@cache
def _validators() -> dict[str, Draft202012Validator]:
    """One validator per server message, keyed by the frame type it describes."""
    document = asyncapi_document()
    resources = [(ASYNCAPI.as_uri(), Resource.from_contents(document, default_specification=DRAFT202012))]
    for path in sorted((DOCS / "events").glob("*.json")):
        resources.append((path.as_uri(), Resource.from_contents(_load_json(path), DRAFT202012)))
    registry: Registry[Any] = Registry().with_resources(resources)
    channel = document["channels"]["/ws"]["subscribe"]["message"]["oneOf"]
    validators = {}
    for ref in channel:
        pointer = ref["$ref"]
        name = pointer.rsplit("/", 1)[1]
        schema = {"$ref": f"{ASYNCAPI.as_uri()}{pointer}/payload"}
        validators[name] = Draft202012Validator(schema, registry=registry)
    return validators


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def conforms(frame: dict[str, Any]) -> dict[str, Any]:
    """Fail unless the frame is one of the document's server messages and matches its schema."""
    validators = _validators()
    assert frame.get("type") in validators, f"docs/asyncapi.yaml has no message for {frame.get('type')!r}"
    errors = sorted(validators[frame["type"]].iter_errors(frame), key=lambda e: list(e.path))
    assert not errors, f"{frame['type']} frame does not match docs/asyncapi.yaml: " + "; ".join(
        f"{'/'.join(map(str, e.path)) or '(frame)'}: {e.message}" for e in errors
    )
    return frame


def messages_matching(frame: dict[str, Any]) -> list[str]:
    """Every server message of the document whose payload schema the frame satisfies."""
    return [name for name, validator in _validators().items() if validator.is_valid(frame)]
