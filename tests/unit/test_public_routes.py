"""One list of public routes: the api Lambda serves them without a token, the CDK stack and the local
gateway skip the authorizer for exactly them, and every other route needs a token."""

from __future__ import annotations

import pytest

from infra import http_api
from infra.local import gateway
from infra.local.dispatch import LambdaContext
from infra.local.events import http_api_event
from infra.local.functions import load_handler
from parley.http.app import app
from parley.http.public import PUBLIC_PATHS, PUBLIC_ROUTES


def test_the_stack_and_the_local_gateway_read_the_layers_list() -> None:
    # Given the layer's list, When the CDK stack and the local gateway decide who skips the
    # authorizer, Then they read that very list (a copy could drift)
    assert vars(http_api)["PUBLIC_ROUTES"] is PUBLIC_ROUTES
    assert vars(http_api)["PUBLIC_PATHS"] is PUBLIC_PATHS
    assert vars(gateway)["PUBLIC_PATHS"] is PUBLIC_PATHS
    assert {path for _, path in PUBLIC_ROUTES} == PUBLIC_PATHS


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC_ROUTES))
def test_every_public_route_is_served_without_a_token(method: str, path: str) -> None:
    # Given a request with no claims, When the api Lambda gets it, Then it answers
    response = load_handler("api")(http_api_event(method, path), LambdaContext.for_function("api"))
    assert response["statusCode"] == 200, response["body"]


def test_every_deployed_route_is_either_public_or_documented() -> None:
    # Given what the stack deploys, Then the public ones are in it and the rest are documented routes
    schema = app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True)
    documented = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert set(http_api.api_routes()) >= PUBLIC_ROUTES
    assert set(http_api.api_routes()) - PUBLIC_ROUTES <= documented
