"""/docs is built on its first request, and answers exactly as Powertools' eager ``enable_swagger``."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from infra.local.dispatch import LambdaContext
from infra.local.events import http_api_event
from parley.http.contract import SECURITY_SCHEMES, SIGNED_IN
from parley.http.edge import Resolver

OPTIONS: dict[str, Any] = {
    "path": "/docs",
    "title": "T",
    "version": "1.0.0",
    "security_schemes": SECURITY_SCHEMES,
}


def build(lazy: bool) -> APIGatewayHttpResolver:
    app = Resolver()

    @app.get("/things", summary="Things")
    def things() -> dict[str, str]:
        return {"ok": "yes"}

    app.configure_openapi(title="T", version="1.0.0", security_schemes=SECURITY_SCHEMES, security=SIGNED_IN)
    if lazy:
        app.enable_swagger_when_asked(**OPTIONS)
    else:
        app.enable_swagger(**OPTIONS)
    return app


@pytest.mark.parametrize("query", [{}, {"format": "json"}, {"format": "oauth2-redirect"}])
def test_the_lazy_page_answers_as_the_eager_one(query: dict[str, str]) -> None:
    event = http_api_event("GET", "/docs", query=query)
    context: Any = LambdaContext.for_function("api")
    lazy = build(lazy=True).resolve(event, context)
    eager = build(lazy=False).resolve(event, context)
    assert lazy["statusCode"] == 200
    assert lazy == eager
    again = build(lazy=True)
    assert again.resolve(event, context) == again.resolve(event, context)
