"""The deployed topology: the core's routes plus those of the extensions that ship with Parley.

The one module that knows both sides: ``parley.routing`` (the core table, plain data) and
``parley.extensions.builtin`` (the shipped manifests) never import each other. CDK, the local stack,
the docs and the tests read the topology; a core Lambda reads only ``parley.routing``, so the
shipped extensions' manifests never load on its cold start.
"""

from __future__ import annotations

from parley.extensions.builtin import manifests
from parley.routing import ROUTES, Route, extension_route


def builtin_routes() -> tuple[Route, ...]:
    """Each shipped extension's own rule, queue and DLQ, from its manifest."""
    return tuple(
        extension_route(m.document(), reserved_concurrency=m.reserved_concurrency) for m in manifests()
    )


def all_routes() -> tuple[Route, ...]:
    return ROUTES + builtin_routes()


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
