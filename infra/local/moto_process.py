"""moto in a process of its own, served by aiohttp, so AWS emulation never competes with handlers for one GIL.

``python -m infra.local.moto_process --port N`` serves until its standard input closes (the stack
that started it exited, however it exited) or it gets SIGTERM/SIGINT.

Why not moto's own server: werkzeug's development server answers every request with
``Connection: close`` (so botocore opens a TCP connection, and the server a thread, per call) and
then waits up to 10 ms draining the socket. aiohttp keeps connections alive (as AWS endpoints do)
and parses HTTP in C; moto's WSGI application runs unchanged in a thread pool (a long-polling
``ReceiveMessage`` holds one thread, as it holds a connection in AWS).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

WORKERS = 64
"""Threads for moto's application: every dispatcher worker may hold one in a long poll."""
HOP_BY_HOP = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})


def environ_of(request: web.Request, body: bytes, host: str, port: int) -> dict[str, Any]:
    """The WSGI environ werkzeug would build for this request (what moto's application reads)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path,
        "QUERY_STRING": request.query_string,
        "RAW_URI": request.raw_path,
        "REQUEST_URI": request.raw_path,
        "SERVER_NAME": host,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
        "REMOTE_ADDR": request.remote or "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "moto.preserved_header_names": {},
    }
    for name, value in request.headers.items():
        if "_" in name:
            continue  # as werkzeug: an underscored header never stands in for a dashed one
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = f"HTTP_{key}"
        environ[key] = f"{environ[key]},{value}" if key in environ and key.startswith("HTTP_") else value
    environ.setdefault("CONTENT_TYPE", "")
    return environ


def call_wsgi(app: Any, environ: dict[str, Any]) -> tuple[int, str, CIMultiDict[str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer["status"], answer["headers"] = status, headers
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    code, _, reason = str(answer["status"]).partition(" ")
    headers: CIMultiDict[str] = CIMultiDict(
        (k, v) for k, v in answer["headers"] if k.lower() not in HOP_BY_HOP
    )
    return int(code), reason, headers, body


def call_handler(dispatch: Any, environ: dict[str, Any]) -> tuple[int, str, CIMultiDict[str], bytes]:
    """A request handed to moto's response class as its Flask view would hand it, without Flask:
    routing the request to the service's Flask app, its request context and its response object
    were about a sixth of moto's CPU per DynamoDB request, and do nothing for one."""
    from botocore.exceptions import ClientError
    from moto.moto_server.werkzeug_app import BackendRequest

    request = BackendRequest(environ)
    try:
        status, raw_headers, content = dispatch(request, request.raw_url, dict(request.headers))
    except ClientError as exc:  # as moto's view answers it
        status, raw_headers, content = 400, {}, exc.response["Error"]["Message"]
    headers: CIMultiDict[str] = CIMultiDict(
        (k, str(v)) for k, v in raw_headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "status"
    )
    payload = content.encode() if isinstance(content, str) else bytes(content or b"")
    return int(status), "", headers, payload


def application(host: str, port: int) -> web.Application:
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_app = DomainDispatcherApplication(create_backend_app)
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="moto")
    # DynamoDB's requests are answered on the loop's own thread: they never wait (one lock serializes
    # them anyway, as moto_fixes makes each atomic), so a pool thread each (a submit, a wake-up, a
    # hand-back: about a tenth of moto's CPU) bought nothing. Others may wait (a long-polling
    # ReceiveMessage holds its request 20 s): a pool thread. Longest prefix first.
    inline = (("DynamoDBStreams_", DynamoDBStreamsHandler.dispatch), ("DynamoDB_", DynamoHandler.dispatch))

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        environ = environ_of(request, body, host, port)
        target = request.headers.get("X-Amz-Target", "")
        dispatch = next((d for prefix, d in inline if target.startswith(prefix)), None)
        if dispatch is not None:
            code, reason, headers, payload = call_handler(dispatch, environ)
        else:
            loop = asyncio.get_running_loop()
            code, reason, headers, payload = await loop.run_in_executor(pool, call_wsgi, moto_app, environ)
        return web.Response(status=code, reason=reason or None, headers=headers, body=payload)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.moto_process", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    from infra.local import moto_fixes

    moto_fixes.apply_all()
    moto_fixes.speed_up_server()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    runner = web.AppRunner(application(args.host, args.port), access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, args.host, args.port).start())

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, loop.stop)

    def watch_parent() -> None:
        sys.stdin.read()  # returns at end of file: the parent is gone
        loop.call_soon_threadsafe(loop.stop)

    threading.Thread(target=watch_parent, daemon=True).start()
    loop.run_forever()
    # no graceful drain: a long poll would hold it 20 s, and moto's state dies with us anyway
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
