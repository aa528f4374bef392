"""The HTTP API deploys every route the code serves, and only the public ones skip the JWT authorizer."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from infra.http_api import api_routes
from parley.http.app import app
from parley.http.public import PUBLIC_PATHS, PUBLIC_ROUTES
from tests.infra.conftest import Synth


def _of_http_api(synth: Synth, kind: str) -> dict[str, dict[str, Any]]:
    """The resources of ``kind`` that belong to the HTTP API (the WebSocket API has its own)."""
    api = {"Ref": synth.logical_id(synth.stack.http.api)}
    return {k: v for k, v in synth.resources(kind).items() if v["Properties"]["ApiId"] == api}


def test_routes_are_the_openapi_document_plus_the_public_extras() -> None:
    schema = app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True)
    documented = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert set(api_routes()) == documented | PUBLIC_ROUTES


def test_every_route_reaches_the_api_lambda_with_the_authorizer_unless_public(synth: Synth) -> None:
    authorizer = _authorizer(synth)
    routes = _routes(synth)
    catch_all = {"$default"} | {f"ANY {p}" for p in PUBLIC_PATHS}
    assert set(routes) == {f"{m} {p}" for m, p in api_routes()} | catch_all
    (integration,) = _of_http_api(synth, "AWS::ApiGatewayV2::Integration")
    for (method, path), public in ((r, r in PUBLIC_ROUTES) for r in api_routes()):
        props = routes[f"{method} {path}"]
        assert props["Target"] == {"Fn::Join": ["", ["integrations/", {"Ref": integration}]]}
        if public:
            assert props["AuthorizationType"] == "NONE", f"{method} {path} must stay public"
            assert "AuthorizerId" not in props
        else:
            assert props["AuthorizationType"] == "JWT", f"{method} {path} has no authorizer"
            assert props["AuthorizerId"] == {"Ref": authorizer}


def test_undeclared_methods_and_unknown_paths_reach_the_api_behind_the_authorizer(synth: Synth) -> None:
    # API Gateway would answer them with its own 404; the api answers 405 with Allow or its JSON 404
    authorizer = _authorizer(synth)
    (integration,) = _of_http_api(synth, "AWS::ApiGatewayV2::Integration")
    target = {"Fn::Join": ["", ["integrations/", {"Ref": integration}]]}
    routes = _routes(synth)
    default = routes["$default"]
    assert default["Target"] == target
    assert (default["AuthorizationType"], default["AuthorizerId"]) == ("JWT", {"Ref": authorizer})
    # any method on a public path reaches the api without a token, as on the local stack (405 there)
    for path in PUBLIC_PATHS:
        props = routes[f"ANY {path}"]
        assert (props["Target"], props["AuthorizationType"]) == (target, "NONE")
        assert "AuthorizerId" not in props


def _routes(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in _of_http_api(synth, "AWS::ApiGatewayV2::Route").values()
    }


def _authorizer(synth: Synth) -> str:
    (logical_id,) = _of_http_api(synth, "AWS::ApiGatewayV2::Authorizer")
    return logical_id


def test_the_jwt_authorizer_trusts_the_stack_user_pool_and_its_client(synth: Synth) -> None:
    pool = synth.logical_id(synth.stack.http.users.pool)
    client = synth.logical_id(synth.stack.http.users.client)
    (authorizer,) = _of_http_api(synth, "AWS::ApiGatewayV2::Authorizer").values()
    props = authorizer["Properties"]
    assert props["AuthorizerType"] == "JWT"
    assert props["IdentitySource"] == ["$request.header.Authorization"]
    assert props["JwtConfiguration"]["Audience"] == [{"Ref": client}]
    issuer = str(props["JwtConfiguration"]["Issuer"])
    assert "https://cognito-idp." in issuer
    assert pool in issuer


def test_the_user_pool_asks_for_a_display_name_and_a_strong_password(synth: Synth) -> None:
    synth.assertions.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "Schema": Match.array_with([Match.object_like({"Name": "name", "Required": True})]),
            "Policies": {"PasswordPolicy": Match.object_like({"MinimumLength": 12})},
            "DeletionProtection": "ACTIVE",
        },
    )
    synth.assertions.has_resource_properties(
        "AWS::Cognito::UserPoolClient", {"GenerateSecret": False, "PreventUserExistenceErrors": "ENABLED"}
    )


def test_the_stage_is_throttled_and_logs_every_request_as_json(synth: Synth) -> None:
    (stage,) = _of_http_api(synth, "AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100}
    assert props["AccessLogSettings"]["Format"].startswith('{"requestId":"$context.requestId"')


def test_one_invoke_permission_for_the_whole_api(synth: Synth) -> None:
    api = synth.logical_id(synth.stack.http.api)
    permissions = [
        p
        for p in synth.resources("AWS::Lambda::Permission").values()
        if api in str(p["Properties"]["SourceArn"])
    ]
    assert len(permissions) == 1
