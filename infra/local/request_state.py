"""Powertools' per-request state, per thread: the local gateway runs concurrent api requests in
threads of one process, where Lambda runs each in a container of its own.

Powertools' HTTP resolver keeps the request in class attributes (``BaseRouter.current_event`` and
``lambda_context``) and its route in the app's ``context`` dict; two requests in flight at once would
read each other's caller, body and route (a post as someone else, a ``KeyError: '_route'`` 500).
Here each thread sees only what it set. Context put on the app before any request (``append_context``
at import) stays with the thread that put it: Parley puts none there.
"""

from __future__ import annotations

import threading
from abc import ABCMeta
from typing import Any


class _PerThread:
    """A data descriptor (on the class and on its metaclass) whose value is the current thread's."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._local = threading.local()

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        try:
            return self._local.value
        except AttributeError:
            raise AttributeError(self._name) from None

    def __set__(self, obj: Any, value: Any) -> None:
        self._local.value = value


class _PerThreadContext:
    """Each resolver's ``context`` dict, one per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _dicts(self) -> dict[int, dict[str, Any]]:
        dicts: dict[int, dict[str, Any]] | None = getattr(self._local, "dicts", None)
        if dicts is None:
            dicts = self._local.dicts = {}
        return dicts

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        return self._dicts().setdefault(id(obj), {})

    def __set__(self, obj: Any, value: dict[str, Any]) -> None:
        self._dicts()[id(obj)] = value


def install() -> None:
    """Make Powertools' request state per thread. Idempotent."""
    from aws_lambda_powertools.event_handler import api_gateway

    base: Any = api_gateway.BaseRouter
    if isinstance(type(base).__dict__.get("current_event"), _PerThread):
        return
    meta: Any = type("PerThreadRouterMeta", (ABCMeta,), {})
    for name in ("current_event", "lambda_context"):
        descriptor = _PerThread(name)
        setattr(base, name, descriptor)  # instances read it from the class...
        setattr(meta, name, descriptor)  # ...and ``BaseRouter.current_event = ...`` writes through it
    base.__class__ = meta
    resolver: Any = api_gateway.ApiGatewayResolver
    resolver.context = _PerThreadContext()
