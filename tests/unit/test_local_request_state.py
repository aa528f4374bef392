"""Concurrent requests through one Powertools resolver, in threads as the local gateway runs them,
each see their own event and route."""

from __future__ import annotations

import json
import threading
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from infra.local import request_state


def _event(user: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": f"/whoami/{user}",
        "rawQueryString": "",
        "headers": {"x-user": user},
        "requestContext": {
            "http": {"method": "GET", "path": f"/whoami/{user}", "sourceIp": "127.0.0.1"},
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


def test_two_requests_in_flight_at_once_each_see_their_own_caller_and_route() -> None:
    # Given the per-thread state, and a route (on a router, as Parley's are) that reads its caller,
    # then waits until the other request is in flight too, then reads its caller and route again
    request_state.install()
    app, router = APIGatewayHttpResolver(), APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    both_in = threading.Barrier(2, timeout=5)

    @router.get("/whoami/<user>")
    def whoami(user: str) -> dict[str, Any]:
        before = router.current_event.headers["x-user"]
        both_in.wait()
        after = app.current_event.headers["x-user"]
        return {"path": user, "before": before, "after": after, "route": app.context["_route"].path}

    app.include_router(router)
    answers: dict[str, Any] = {}

    def call(user: str) -> None:
        answers[user] = app.resolve(_event(user), None)  # type: ignore[arg-type]

    # When two callers' requests run at the same time
    threads = [threading.Thread(target=call, args=(u,)) for u in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each request read only its own caller, throughout, and its own route
    for user in ("alice", "bob"):
        assert answers[user]["statusCode"] == 200, answers[user]
        body = json.loads(answers[user]["body"])
        assert body == {"path": user, "before": user, "after": user, "route": "/whoami/<user>"}


def test_installing_twice_changes_nothing() -> None:
    request_state.install()
    request_state.install()
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    BaseRouter.current_event = "mine"  # type: ignore[assignment]
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(getattr(BaseRouter, "current_event", None)))
    thread.start()
    thread.join()
    assert BaseRouter.current_event == "mine"
    assert seen == [None]
