"""The WebSocket API: ticket-authorized $connect, a route per action, and push rights only for pushers."""

from __future__ import annotations

import json
from typing import Any

from infra.functions import MANAGEMENT_URL_SETTING, WEBSOCKET_URL_SETTING
from infra.realtime import ROUTE_SELECTION, STAGE_NAME, TICKET_SOURCE
from infra.specs import FUNCTIONS, WebSocket, consumer_of
from parley.realtime.frames import ACTIONS
from tests.infra.conftest import Synth

MANAGE = "execute-api:ManageConnections"


def _api(synth: Synth) -> str:
    return synth.logical_id(synth.stack.realtime.api)


def _of_websocket_api(synth: Synth, kind: str) -> dict[str, dict[str, Any]]:
    api = {"Ref": _api(synth)}
    return {k: v for k, v in synth.resources(kind).items() if v["Properties"].get("ApiId") == api}


def _routes(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["RouteKey"]: {"id": k, **r["Properties"]}
        for k, r in _of_websocket_api(synth, "AWS::ApiGatewayV2::Route").items()
    }


def _function_id(synth: Synth, name: str) -> str:
    return synth.logical_id(synth.stack.lambdas[name])


def test_a_websocket_api_selects_routes_on_the_action_field(synth: Synth) -> None:
    props = synth.resource(_api(synth))["Properties"]
    assert props["ProtocolType"] == "WEBSOCKET"
    assert props["RouteSelectionExpression"] == ROUTE_SELECTION == "$request.body.action"


def test_connect_redeems_the_ticket_with_the_request_authorizer(synth: Synth) -> None:
    (authorizer_id, authorizer), *others = _of_websocket_api(synth, "AWS::ApiGatewayV2::Authorizer").items()
    assert not others
    props = authorizer["Properties"]
    assert props["AuthorizerType"] == "REQUEST"
    assert props["IdentitySource"] == [TICKET_SOURCE] == ["route.request.querystring.ticket"]
    assert f"'{_function_id(synth, 'ws_authorizer')}'" in str(props["AuthorizerUri"])
    connect = _routes(synth)["$connect"]
    assert connect["AuthorizationType"] == "CUSTOM"
    assert connect["AuthorizerId"] == {"Ref": authorizer_id}


def test_every_action_has_a_route_to_the_realtime_function_that_answers(synth: Synth) -> None:
    routes = _routes(synth)
    assert set(routes) == {"$connect", "$disconnect", "$default", *ACTIONS}
    integrations = _of_websocket_api(synth, "AWS::ApiGatewayV2::Integration")
    realtime = f"'{_function_id(synth, 'realtime')}'"
    responses = {
        r["Properties"]["RouteId"]["Ref"]
        for r in _of_websocket_api(synth, "AWS::ApiGatewayV2::RouteResponse").values()
    }
    for key, route in routes.items():
        (integration,) = [i for i in integrations if i in str(route["Target"])]
        assert realtime in str(integrations[integration]["Properties"]["IntegrationUri"]), key
        if key in {"$default", *ACTIONS}:
            # the handler's reply frame goes back to the client only with a route response
            assert route["RouteResponseSelectionExpression"] == "$default", key
            assert route["id"] in responses, key
        if key != "$connect":
            assert route["AuthorizationType"] == "NONE", key


def test_the_stage_auto_deploys_is_throttled_and_logs_every_frame_as_json(synth: Synth) -> None:
    (stage,) = _of_websocket_api(synth, "AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == STAGE_NAME
    assert props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100}
    log_format = json.loads(props["AccessLogSettings"]["Format"])
    assert {"connectionId", "routeKey", "integrationError", "authorizerError"} <= set(log_format)


def _manage_statements(synth: Synth) -> dict[str, list[dict[str, Any]]]:
    """Role logical id -> its statements granting ManageConnections."""
    found: dict[str, list[dict[str, Any]]] = {}
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if MANAGE in actions or "execute-api:*" in actions:
                for role in policy["Properties"]["Roles"]:
                    found.setdefault(role["Ref"], []).append(statement)
    return found


def test_only_the_functions_that_push_may_manage_connections_of_this_stage(synth: Synth) -> None:
    pushers = {f.name for f in FUNCTIONS if f.pushes_to_websockets}
    # the api pushes one frame kind: ReadMarkerMoved, to the caller's own sockets (POST /chats/{id}/read);
    # the extension gateway one too: an EphemeralMessage, to its one member's sockets
    assert {"broadcaster", "realtime", "api", "extension_gateway"} <= pushers
    assert not {"ws_authorizer", "turns", "outbox_sweeper", "relay"} & pushers
    roles = {synth.logical_id(synth.stack.lambdas[f.name].role): f.name for f in FUNCTIONS}
    granted = _manage_statements(synth)
    assert {roles[r] for r in granted} == pushers
    for statements in granted.values():
        (statement,) = statements
        assert statement["Action"] == MANAGE
        resource = json.dumps(statement["Resource"])
        assert f'{{"Ref": "{_api(synth)}"}}' in resource
        assert resource.endswith(f'"/{STAGE_NAME}/*/@connections/*"]]}}')


def test_urls_reach_the_functions_that_use_them(synth: Synth) -> None:
    for spec in FUNCTIONS:
        env = synth.resource(_function_id(synth, spec.name))["Properties"]["Environment"]["Variables"]
        assert (MANAGEMENT_URL_SETTING in env) is spec.pushes_to_websockets, spec.name
        assert (WEBSOCKET_URL_SETTING in env) is spec.knows_websocket_url, spec.name
        if spec.pushes_to_websockets:
            url = json.dumps(env[MANAGEMENT_URL_SETTING])
            assert url.startswith('{"Fn::Join": ["", ["https://", {"Ref": "' + _api(synth))
            assert url.endswith(f'"/{STAGE_NAME}"]]}}')
        if spec.knows_websocket_url:
            assert json.dumps(env[WEBSOCKET_URL_SETTING]).startswith('{"Fn::Join": ["", ["wss://')
    assert {s.name for s in FUNCTIONS if s.knows_websocket_url} == {"api", "realtime"}


def test_the_websocket_functions_are_the_realtime_handler_and_the_authorizer() -> None:
    parts = {f.trigger.part: f.name for f in FUNCTIONS if isinstance(f.trigger, WebSocket)}
    assert parts == {"routes": "realtime", "authorizer": "ws_authorizer"}


def test_the_broadcaster_reads_the_events_stream_with_batch_item_failures(synth: Synth) -> None:
    assert consumer_of("broadcaster").name == "broadcaster"
    events = synth.logical_id(synth.stack.storage.tables["events"])
    synth.assertions.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [events, "StreamArn"]},
            "FunctionName": {"Ref": _function_id(synth, "broadcaster")},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def test_only_the_ai_responder_may_stream_from_bedrock_foundation_models(synth: Synth) -> None:
    holders = set()
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "bedrock:" in json.dumps(statement["Action"]):
                assert statement["Action"] == "bedrock:InvokeModelWithResponseStream"
                assert json.dumps(statement["Resource"]).endswith('"::foundation-model/*"]]}')
                holders |= {r["Ref"] for r in policy["Properties"]["Roles"]}
    expected = {f.name for f in FUNCTIONS if f.invokes_bedrock}
    assert expected == {"ai_responder"}
    assert holders == {synth.logical_id(synth.stack.lambdas[n].role) for n in expected}


def test_the_websocket_url_is_an_output(synth: Synth) -> None:
    value = json.dumps(synth.template["Outputs"]["WebSocketUrl"]["Value"])
    assert value.startswith('{"Fn::Join": ["", ["wss://", {"Ref": "' + _api(synth))
