"""The event catalog's JSON Schemas in an EventBridge schema registry, so consumers can browse them
and generate code bindings from the same models the code validates with."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import aws_eventschemas as eventschemas
from constructs import Construct

from parley.catalog import CATALOG, envelope_schema

REGISTRY_NAME = "parley"
SCHEMA_TYPE = "JSONSchemaDraft4"


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (value.replace("#/$defs/", "#/definitions/") if key == "$ref" else _rewrite_refs(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def event_schema(event_type: str) -> dict[str, Any]:
    """The whole EventBridge event (as the registry describes events) in JSON Schema draft 4.

    The catalog's envelope schema becomes ``detail``; pydantic's ``$defs`` move to draft 4's
    ``definitions`` at the root, where its ``$ref`` pointers then resolve.
    """
    envelope = envelope_schema(event_type)
    definitions = envelope.pop("$defs", {})
    schema: dict[str, Any] = _rewrite_refs(
        {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": event_type,
            "description": envelope.get("description", ""),
            "type": "object",
            "required": ["detail-type", "source", "detail"],
            "properties": {
                "version": {"type": "string"},
                "id": {"type": "string"},
                "detail-type": {"type": "string", "enum": [event_type]},
                "source": {"type": "string", "pattern": "^parley\\."},
                "account": {"type": "string"},
                "time": {"type": "string", "format": "date-time"},
                "region": {"type": "string"},
                "resources": {"type": "array", "items": {"type": "string"}},
                "detail": envelope,
            },
            "definitions": definitions,
        }
    )
    return schema


class EventSchemas(Construct):
    """One registry, one schema per catalogued event type (named ``<registry>@<detail-type>``)."""

    def __init__(self, scope: Construct, construct_id: str, *, registry_name: str = REGISTRY_NAME) -> None:
        super().__init__(scope, construct_id)
        self.registry = eventschemas.CfnRegistry(
            self,
            "Registry",
            registry_name=registry_name,
            description="Parley domain events, generated from parley.catalog",
        )
        self.schemas: dict[str, eventschemas.CfnSchema] = {}
        for event_type in sorted(CATALOG):
            schema = eventschemas.CfnSchema(
                self,
                event_type,
                registry_name=self.registry.attr_registry_name,
                schema_name=f"{registry_name}@{event_type}",
                type=SCHEMA_TYPE,
                content=json.dumps(event_schema(event_type), sort_keys=True, separators=(",", ":")),
                description=CATALOG[event_type].description[:256],
            )
            self.schemas[event_type] = schema
