"""Fixtures the integration tests share: WebSocket clients whose pushes reach moto's management API.

A module that needs another set-up (a different environment for the pusher) defines its own
``sockets`` fixture, which overrides this one there.
"""

from __future__ import annotations

import pytest

from parley import root
from tests.support.api import Api
from tests.support.sockets import MANAGEMENT_URL, WEBSOCKET_URL, Gateway, Sockets


@pytest.fixture
def gateway(api: Api, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    """Point the pusher at an endpoint moto serves, and hook its client before anything pushes."""
    monkeypatch.setenv("PARLEY_WEBSOCKET_MANAGEMENT_URL", MANAGEMENT_URL)
    monkeypatch.setenv("PARLEY_WEBSOCKET_URL", WEBSOCKET_URL)
    root.reset()
    injected = Gateway()
    injected.install(root.pusher().client)
    return injected


@pytest.fixture
def sockets(api: Api, gateway: Gateway) -> Sockets:
    return Sockets(api, gateway)
