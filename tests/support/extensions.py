"""Extensions made up by tests: register one, let hooks find its handler, deliver bus events to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from infra.local.functions import load_handler
from parley import root
from parley.extensions import builtin, hooks
from parley.extensions.sdk import Extension
from tests.support.api import Api, User


@contextmanager
def registered(*extensions: Extension[Any]) -> Iterator[None]:
    """Put the extensions in the registry and make their hooks callable in-process by function name."""
    by_function: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
    for extension in extensions:
        extension.use(root.extension_runtime)  # the ports its handler.py would hand it when deployed
        document = extension.manifest.document()
        root.registry().register(document)
        assert document.target.function is not None
        by_function[document.target.function] = extension.lambda_handler
    hooks.register_loader(lambda name: by_function.get(name) or load_handler(name))
    try:
        yield
    finally:
        hooks.register_loader(load_handler)


def deliver(extension: Extension[Any], events: list[dict[str, Any]], **match: str) -> list[bool]:
    """Hand the extension every bus event of a detail-type (as its queue would); whether each ran."""
    wanted = [e for e in events if all(e.get(k) == v for k, v in match.items())]
    return [extension.deliver(e) for e in wanted]


def bind_shipped() -> None:
    """Give every shipped extension the ports its ``functions/ext_<id>/handler.py`` gives it (a unit
    test may have left others), so a test may call ``extension.deliver`` directly."""
    for extension_id in builtin.BUILTIN:
        builtin.extension(extension_id).use(root.extension_runtime)


def install(api: Api, user: User, chat_id: str, extension_id: str, **config: Any) -> None:
    response = api.put(
        f"/chats/{chat_id}/extensions/{extension_id}", user, body={"enabled": True, "config": config}
    )
    assert response.status in (200, 201), response.text
