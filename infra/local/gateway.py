"""The local gateway: API Gateway's HTTP API, WebSocket API and management API on one port.

HTTP requests become HTTP API (v2) events for the api Lambda after the same JWT checks API
Gateway's authorizer makes; WebSocket handshakes go through the ticket authorizer, then frames
become WebSocket API events for the realtime Lambda (action routes chosen by ``$request.body.action``);
``/@connections/{id}`` is the management API the broadcaster's boto3 client talks to.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from infra.local.auth import InvalidTokenError, LocalIdentityProvider
from infra.local.clock import LocalClock
from infra.local.dispatch import LambdaContext
from infra.local.events import authorizer_event, http_api_event, websocket_event
from infra.local.faults import FaultRuleError, Faults, parse_rules, parse_seed
from infra.local.functions import load_handler
from infra.local.oauth import LocalAuthorizationServer
from infra.web_policy import csp
from parley.http.public import PUBLIC_PATHS
from parley.observability import logger
from parley.realtime.frames import ACTIONS

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit
LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024  # a synchronous invocation's request payload limit
WEB_DIR = Path(__file__).resolve().parents[2] / "web"


@dataclass
class Socket:
    ws: web.WebSocketResponse
    user_id: str
    connected_at: datetime
    source_ip: str
    user_agent: str
    last_active_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


class Gateway:
    def __init__(
        self,
        identity: LocalIdentityProvider,
        *,
        ready: Callable[[], bool],
        stats: Callable[[], dict[str, Any]],
        aws_endpoint: str,
        redrive: Callable[[], dict[str, int]],
        faults: Faults | None = None,
        delivered: Callable[[], dict[str, list[str]]] = dict,
        events: Callable[[Mapping[str, str]], dict[str, Any]] | None = None,
        clock: LocalClock | None = None,
        cpu: Callable[[], dict[str, float | None]] | None = None,
    ) -> None:
        self.identity = identity
        self.sockets: dict[str, Socket] = {}
        self._ready = ready
        self._stats = stats
        self._redrive = redrive
        self._aws_endpoint = aws_endpoint
        self.faults = faults or Faults(0)
        self._delivered = delivered
        self._events = events
        self.clock = clock or LocalClock()
        self._cpu = cpu or (lambda: {})

    def app(self) -> web.Application:
        # Lambda's 6 MB payload limit, as in AWS: the api function refuses bodies over its own (smaller)
        # limit with a JSON 413, so the gateway's plain-text 413 only answers what AWS would not pass on
        app = web.Application(client_max_size=LAMBDA_PAYLOAD_BYTES)
        app.router.add_get("/health", self.health)
        app.router.add_post("/local/token", self.token)
        app.router.add_get("/local/stats", self.stats)
        app.router.add_post("/local/redrive", self.redrive)
        app.router.add_get("/local/delivered", self.delivered)
        app.router.add_get("/local/events", self.events)
        app.router.add_get("/local/faults", self.list_faults)
        app.router.add_put("/local/faults", self.arm_faults)
        app.router.add_delete("/local/faults", self.clear_faults)
        app.router.add_get("/local/clock", self.read_clock)
        app.router.add_post("/local/clock", self.advance_clock)
        app.router.add_get("/local/cpu", self.cpu)
        app.router.add_get("/ws", self.websocket)
        app.router.add_post("/@connections/{connection_id}", self.post_to_connection)
        app.router.add_get("/@connections/{connection_id}", self.get_connection)
        app.router.add_delete("/@connections/{connection_id}", self.delete_connection)
        app.router.add_get("/", self.index)
        app.router.add_static("/static/", WEB_DIR, show_index=False)
        LocalAuthorizationServer(self.identity).routes(app)  # hosted-UI-shaped sign-in for the web client
        app.router.add_route("*", r"/{tail:[\s\S]*}", self.http_api)  # any path, newlines included
        return app

    async def _invoke(self, function: str, event: dict[str, Any]) -> Any:
        handler = load_handler(function)
        return await asyncio.to_thread(handler, event, LambdaContext.for_function(function))

    # -- local-only routes -------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        if not self._ready():
            return _json(503, {"status": "starting"})
        return _json(200, {"status": "ok"})

    async def token(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _json(400, {"error": {"code": "malformed_json", "message": "the body is not JSON"}})
        user_id, name = (body or {}).get("user_id"), (body or {}).get("name")
        problems = []
        if (
            not isinstance(user_id, str)
            or not 1 <= len(user_id) <= 64
            or not user_id.replace("-", "").replace("_", "").replace(".", "").isalnum()
        ):
            problems.append({"field": "user_id", "problem": "1-64 letters, digits, '-', '_' or '.'"})
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 64:
            problems.append({"field": "name", "problem": "1-64 characters"})
        groups = (body or {}).get("groups", [])  # e.g. ["operators"], as a Cognito group would
        if (
            not isinstance(groups, list)
            or len(groups) > 10
            or not all(
                isinstance(g, str) and g and len(g) <= 64 and g.replace("-", "").replace("_", "").isalnum()
                for g in groups
            )
        ):
            problems.append({"field": "groups", "problem": "up to 10 names of letters, digits, '-' or '_'"})
        if problems:
            return _json(
                422, {"error": {"code": "validation_error", "message": "bad sign-in", "fields": problems}}
            )
        token, expires = self.identity.issue(str(user_id), str(name).strip(), tuple(groups))
        answer = {"token": token, "user_id": user_id, "name": str(name).strip(), "expires_at": expires}
        return _json(200, {**answer, "groups": groups})

    async def stats(self, request: web.Request) -> web.Response:
        snapshot = await asyncio.to_thread(self._stats)
        snapshot["sockets"] = len(self.sockets)
        snapshot["aws_endpoint"] = self._aws_endpoint  # point the AWS CLI or boto3 here to look inside
        return _json(200, snapshot)

    async def redrive(self, request: web.Request) -> web.Response:
        return _json(200, {"moved": await asyncio.to_thread(self._redrive)})

    async def delivered(self, request: web.Request) -> web.Response:
        """Per route, the event ids its handler acked (the most recent ones)."""
        return _json(200, self._delivered())

    async def events(self, request: web.Request) -> web.Response:
        """The bus's events and the functions' log lines, newest ``limit`` (``infra/local/feed.py``)."""
        if self._events is None:
            return _json(404, {"error": "not_found", "message": "no event feed on this gateway"})
        try:
            return _json(200, self._events(request.query))
        except ValueError as exc:
            return _json(400, {"error": "bad_request", "message": str(exc)})

    async def list_faults(self, request: web.Request) -> web.Response:
        return _json(200, self.faults.snapshot())

    async def arm_faults(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _json(400, {"error": {"code": "malformed_json", "message": "the body is not JSON"}})
        try:
            rules, seed = parse_rules(body), parse_seed(body)
        except FaultRuleError as exc:
            return _json(400, {"error": {"code": "bad_fault_rule", "message": str(exc)}})
        self.faults.arm(rules, seed)
        return _json(200, self.faults.snapshot())

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return _json(200, self.faults.snapshot())

    async def cpu(self, request: web.Request) -> web.Response:
        """CPU seconds each of the stack's processes used so far (``infra/local/cpu.py``)."""
        return _json(200, {"cpu_seconds": self._cpu()})

    async def read_clock(self, request: web.Request) -> web.Response:
        return _json(200, self.clock.snapshot())

    async def advance_clock(self, request: web.Request) -> web.Response:
        """``{"advance_seconds": n}``: the ticks' time moves forward (``infra/local/clock.py``)."""
        try:
            body = await request.json()
            self.clock.advance(float(body["advance_seconds"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return _json(400, {"error": {"code": "bad_request", "message": f"advance_seconds: {exc}"}})
        return _json(200, self.clock.snapshot())

    async def index(self, request: web.Request) -> web.StreamResponse:
        # the policy CloudFront serves the hosted client with (infra/web_hosting.py): tested here
        return web.FileResponse(WEB_DIR / "index.html", headers={"Content-Security-Policy": csp()})

    # -- HTTP API ----------------------------------------------------------------------------------

    async def http_api(self, request: web.Request) -> web.Response:
        claims = None
        if request.path not in PUBLIC_PATHS:  # any method: the api answers 405 on a public path
            try:
                claims = self.identity.verify(request.headers.get("Authorization"))
            except InvalidTokenError:
                return _json(401, {"message": "Unauthorized"})
        event = http_api_event(
            request.method,
            request.path,
            query={k: ",".join(request.query.getall(k)) for k in request.query},
            raw_query=request.query_string,
            headers={k: v for k, v in request.headers.items()},
            body=await request.read(),
            claims=claims,
            source_ip=request.remote or "127.0.0.1",
        )
        result = await self._invoke("api", event)
        if result["statusCode"] >= 500:  # the browser's and fuzzer's runs keep this log
            logger.warning("%s %s -> %s", request.method, request.path, result["statusCode"])
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        headers = {k: v for k, v in (result.get("headers") or {}).items() if k.lower() != "content-length"}
        return web.Response(status=result["statusCode"], body=raw, headers=headers)

    # -- WebSocket API -----------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        connection_id = base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()
        query = dict(request.query)
        headers = dict(request.headers)
        try:
            decision = await self._invoke(
                "ws_authorizer", authorizer_event(connection_id, query=query, headers=headers)
            )
        except PermissionError:
            return _json(401, {"message": "Unauthorized"})
        statement = decision["policyDocument"]["Statement"][0]
        if statement["Effect"] != "Allow":
            return _json(403, {"message": "Forbidden"})
        authorizer = {"principalId": decision["principalId"], **decision.get("context", {})}
        connected = await self._invoke(
            "realtime",
            websocket_event("$connect", connection_id, authorizer=authorizer, headers=headers, query=query),
        )
        if connected.get("statusCode") != 200:
            return _json(connected.get("statusCode", 500), {"message": "Forbidden"})

        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=30)
        await ws.prepare(request)
        now = datetime.now(UTC)
        self.sockets[connection_id] = Socket(
            ws, authorizer["user_id"], now, request.remote or "127.0.0.1", headers.get("User-Agent", "")
        )
        connected_ms = int(now.timestamp() * 1000)
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                self.sockets[connection_id].last_active_at = datetime.now(UTC)
                await self._on_frame(connection_id, message.data, authorizer, connected_ms)
        finally:
            self.sockets.pop(connection_id, None)
            try:
                await self._invoke(
                    "realtime", websocket_event("$disconnect", connection_id, authorizer=authorizer)
                )
            except Exception:
                logger.exception("$disconnect failed", extra={"connection_id": connection_id})
        return ws

    async def _on_frame(
        self, connection_id: str, data: str, authorizer: dict[str, str], connected_ms: int
    ) -> None:
        try:
            action = json.loads(data).get("action")
        except (json.JSONDecodeError, AttributeError, RecursionError):
            action = None  # API Gateway routes any frame it cannot read an action from to $default
        route_key = action if action in ACTIONS else "$default"
        event = websocket_event(
            route_key, connection_id, body=data, authorizer=authorizer, connected_at_ms=connected_ms
        )
        try:
            result = await self._invoke("realtime", event)
        except Exception:
            logger.exception("realtime handler failed", extra={"connection_id": connection_id})
            result = {"statusCode": 500, "body": json.dumps({"type": "Error", "data": {"code": "internal"}})}
        socket = self.sockets.get(connection_id)
        if socket and result.get("body") and not socket.ws.closed:
            try:
                await socket.ws.send_str(result["body"])
            except ConnectionResetError:  # the client left while its frame was handled
                logger.info("socket closed before its answer", extra={"connection_id": connection_id})

    # -- management API ----------------------------------------------------------------------------

    def _gone(self, connection_id: str) -> web.Response:
        return _json(
            410, {"message": f"connection {connection_id} is gone"}, {"x-amzn-ErrorType": "GoneException"}
        )

    async def post_to_connection(self, request: web.Request) -> web.Response:
        return await self.push(request.match_info["connection_id"], await request.read())

    async def push(self, connection_id: str, data: bytes) -> web.Response:
        """PostToConnection's answer, over HTTP or handed over in this process (``aws_clients``)."""
        socket = self.sockets.get(connection_id)
        if socket is None or socket.ws.closed:
            return self._gone(connection_id)
        if self.faults.fire("push.gone"):  # the client vanished: it reconnects and resumes
            await socket.ws.close(code=1001, message=b"gone (injected fault push.gone)")
            return self._gone(connection_id)
        if len(data) > MAX_MESSAGE_BYTES:
            return _json(
                413, {"message": "payload too large"}, {"x-amzn-ErrorType": "PayloadTooLargeException"}
            )
        try:
            await socket.ws.send_str(data.decode())
        except ConnectionResetError:
            return self._gone(connection_id)
        return web.Response(status=200)

    async def get_connection(self, request: web.Request) -> web.Response:
        connection_id = request.match_info["connection_id"]
        socket = self.sockets.get(connection_id)
        if socket is None:
            return self._gone(connection_id)
        return _json(
            200,
            {
                "ConnectedAt": socket.connected_at.isoformat(),
                "LastActiveAt": socket.last_active_at.isoformat(),
                "Identity": {"SourceIp": socket.source_ip, "UserAgent": socket.user_agent},
            },
        )

    async def delete_connection(self, request: web.Request) -> web.Response:
        connection_id = request.match_info["connection_id"]
        socket = self.sockets.get(connection_id)
        if socket is None:
            return self._gone(connection_id)
        await socket.ws.close()
        return web.Response(status=204)
