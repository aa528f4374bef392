"""The deployed topology: the core's routes plus those of the extensions that ship with Parley
(and, on the local stack, those loaded from outside it: ``infra/local/extensions.py``).

The one module that knows both sides: ``parley.routing`` (the core table, plain data) and
``parley.extensions.builtin`` (the shipped manifests) never import each other. CDK, the local stack,
the docs and the tests read the topology; a core Lambda reads only ``parley.routing``, so the
shipped extensions' manifests never load on its cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parley.extensions.builtin import manifests
from parley.routing import ROUTES, Route, extension_route

if TYPE_CHECKING:
    from parley.extensions.manifest import Manifest

_ADDED: dict[str, Manifest] = {}
"""Extensions from outside the package (the local stack's ``PARLEY_EXTENSIONS``), by id."""


def add_extension(manifest: Manifest) -> None:
    """Deploy an extension from outside the package beside the shipped ones, through the same routes;
    adding one again with the same id replaces it (its code was reloaded)."""
    if manifest.id in {m.id for m in manifests()}:
        raise ValueError(f"extension id {manifest.id!r} is taken by a shipped extension")
    _ADDED[manifest.id] = manifest


def remove_extension(extension_id: str) -> None:
    _ADDED.pop(extension_id, None)


def extension_manifests() -> tuple[Manifest, ...]:
    """Every deployed extension's manifest: the shipped ones, then those added from outside."""
    return manifests() + tuple(_ADDED.values())


def builtin_routes() -> tuple[Route, ...]:
    """Each shipped extension's own rule, queue and DLQ, from its manifest."""
    return tuple(_route(m) for m in manifests())


def _route(manifest: Manifest) -> Route:
    return extension_route(manifest.document(), reserved_concurrency=manifest.reserved_concurrency)


def all_routes() -> tuple[Route, ...]:
    return ROUTES + tuple(_route(m) for m in extension_manifests())


def queue_routes() -> tuple[Route, ...]:
    """The routes fed by a bus rule into a queue (the stream's consumers have neither)."""
    return tuple(r for r in all_routes() if r.delivery == "queue")


def stream_routes() -> tuple[Route, ...]:
    """The routes fed by the events table's stream: the broadcaster and the relay to the bus."""
    return tuple(r for r in all_routes() if r.delivery == "stream")


def route(name: str) -> Route:
    for candidate in all_routes():
        if candidate.name == name:
            return candidate
    raise KeyError(f"no route named {name!r}")


def consumers_of(event_type: str) -> tuple[Route, ...]:
    return tuple(r for r in all_routes() if event_type in r.event_types)
