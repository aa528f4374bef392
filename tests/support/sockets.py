"""Drive the WebSocket side in-process, as API Gateway would, and read what it pushed to each socket.

The real ws_authorizer and realtime handlers get the events API Gateway sends them. Pushes go through
boto3's apigatewaymanagementapi client to moto, which keeps what each connection received; a
``before-send`` hook on that client answers 410 Gone or 500 for chosen connections, so the real
adapter meets real HTTP error responses (and botocore's real retries).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from botocore.awsrequest import AWSResponse
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core.models import DEFAULT_ACCOUNT_ID

from infra.local.dispatch import LambdaContext
from infra.local.events import authorizer_event, websocket_event
from infra.local.functions import load_handler
from parley.adapters.tables import ConnectionRecord, SubscriptionRecord
from tests.support.api import Api, User
from tests.support.frames import conforms

REGION = "us-east-1"
MANAGEMENT_URL = f"https://parley-test.execute-api.{REGION}.amazonaws.com/local"
"""An endpoint moto recognizes as API Gateway's (the default local one would reach for a socket)."""
WEBSOCKET_URL = f"wss://parley-test.execute-api.{REGION}.amazonaws.com/local"
POST_TO_CONNECTION = "before-send.apigatewaymanagementapi.PostToConnection"
NOT_MOTO = "https://fault.invalid"


class _RawBody:
    """The urllib3 response botocore reads an HTTP body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _answer(url: str, status: int, error_type: str | None, message: str) -> AWSResponse:
    headers = {"content-type": "application/json"}
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    return AWSResponse(url, status, headers, _RawBody(json.dumps({"message": message}).encode()))


def split_frames(data: bytes) -> list[dict[str, Any]]:
    """moto appends every push to one buffer per connection; frames are JSON objects, back to back."""
    text, decoder, frames, at = data.decode(), json.JSONDecoder(), [], 0
    while at < len(text):
        frame, at = decoder.raw_decode(text, at)
        frames.append(frame)
    return frames


@dataclass
class Gateway:
    """API Gateway's side of the pushes: what reached each socket, and which sockets misbehave."""

    gone: set[str] = field(default_factory=set)
    """Connections closed for good: PostToConnection answers 410 GoneException."""
    broken: set[str] = field(default_factory=set)
    """Connections whose pushes fail with a 500 (botocore retries those)."""
    attempts: list[str] = field(default_factory=list)
    """Every HTTP attempt to push, by connection id, retries included."""

    def install(self, client: Any) -> None:
        client.meta.events.register(POST_TO_CONNECTION, self._before_send, unique_id="tests-gateway")

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        path = request.url.rsplit("/@connections/", 1)[1]
        connection_id = unquote(path)
        self.attempts.append(connection_id)
        if connection_id in self.gone:
            answer = _answer(request.url, 410, "GoneException", "Gone")
        elif connection_id in self.broken:
            answer = _answer(request.url, 500, None, "Internal server error")
        else:
            return None  # moto answers, and records the data
        # botocore calls every before-send handler and takes the first answer: moto's comes after this
        # one, so it would still record the data; a host it does not serve makes it stand aside
        request.url = f"{NOT_MOTO}/@connections/{path}"
        return answer

    def attempts_for(self, connection_id: str) -> int:
        return self.attempts.count(connection_id)

    def frames(self, connection_id: str) -> list[dict[str, Any]]:
        """Every frame pushed to the connection so far, in order (each checked against docs/asyncapi.yaml)."""
        backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][REGION]
        connection = backend.connections.get(connection_id)  # a defaultdict: never index it
        frames = split_frames(connection.data) if connection is not None else []
        return [conforms(frame) for frame in frames]

    def types(self, connection_id: str) -> list[str]:
        return [f["type"] for f in self.frames(connection_id)]


class Sockets:
    """A client of the WebSocket API: handshake, lifecycle routes and actions, through the real handlers."""

    def __init__(self, api: Api, gateway: Gateway) -> None:
        self.api = api
        self.gateway = gateway
        self._authorizer = load_handler("ws_authorizer")
        self._realtime = load_handler("realtime")

    # -- handshake ---------------------------------------------------------------------------------

    def ticket(self, user: User) -> str:
        response = self.api.post("/realtime/tickets", user)
        assert response.status == 201, response.text
        ticket: str = response.json["ticket"]
        return ticket

    def authorize(self, query: Mapping[str, str], connection_id: str = "handshake") -> dict[str, Any]:
        """Run the $connect authorizer: an IAM policy, or PermissionError("Unauthorized")."""
        event = authorizer_event(connection_id, query=query, headers={"host": "parley-test"})
        policy: dict[str, Any] = self._authorizer(event, LambdaContext.for_function("ws_authorizer"))
        return policy

    def connect(self, connection_id: str, authorizer: Mapping[str, str]) -> dict[str, Any]:
        """$connect, after the authorizer allowed it: its context reaches the route."""
        return self._invoke(websocket_event("$connect", connection_id, authorizer=authorizer))

    def open(self, user: User, connection_id: str) -> str:
        """The whole handshake: a ticket over HTTP, the authorizer's Allow, then $connect."""
        policy = self.authorize({"ticket": self.ticket(user)}, connection_id)
        assert effect(policy) == "Allow", policy
        assert self.connect(connection_id, policy["context"]) == {"statusCode": 200}
        return connection_id

    def disconnect(self, connection_id: str) -> dict[str, Any]:
        return self._invoke(websocket_event("$disconnect", connection_id))

    # -- actions -----------------------------------------------------------------------------------

    def send_raw(self, connection_id: str, body: str | None, route_key: str = "$default") -> dict[str, Any]:
        """One text frame on the socket; the reply frame is the route response (a two-way route)."""
        result = self._invoke(websocket_event(route_key, connection_id, body=body))
        assert result["statusCode"] == 200, result
        frame: dict[str, Any] = json.loads(result["body"])
        return conforms(frame)

    def send(self, connection_id: str, **action: Any) -> dict[str, Any]:
        return self.send_raw(connection_id, json.dumps(action), str(action.get("action", "$default")))

    def subscribe(self, connection_id: str, chat_id: str, **extra: Any) -> dict[str, Any]:
        reply = self.send(connection_id, action="subscribe", chat_id=chat_id, **extra)
        assert reply["type"] == "Subscribed", reply
        return reply

    def _invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._realtime(event, LambdaContext.for_function("realtime"))
        return result


def effect(policy: Mapping[str, Any]) -> str:
    statements = policy["policyDocument"]["Statement"]
    assert len(statements) == 1
    return str(statements[0]["Effect"])


# -- the rows behind the sockets --------------------------------------------------------------------


def connection_row(connection_id: str) -> ConnectionRecord | None:
    try:
        return ConnectionRecord.get(connection_id, consistent_read=True)
    except ConnectionRecord.DoesNotExist:
        return None


def subscribed(chat_id: str) -> set[str]:
    """The connection ids with a subscription row in the chat (expired or not)."""
    return {r.connection_id for r in SubscriptionRecord.query(chat_id, consistent_read=True)}
