"""Drive a real local stack (`python -m infra.local`) over HTTP and WebSocket, as clients do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from infra.local.stack import free_port
from tests.support.frames import conforms

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_stack(
    *, startup_timeout: float = 60.0, extra_env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Start the stack in a subprocess on a free port; yield its base URL; stop it with Ctrl-C.
    ``extra_env`` adds to its environment (``PARLEY_EXTENSIONS``...)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers/parley/python'}:{ROOT}", "PARLEY_PORT": str(port)}
    env.update(extra_env or {})
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(key, None)
    log = (ROOT / "test-artifacts").resolve()
    log.mkdir(exist_ok=True)
    with open(log / f"local-stack-{port}.log", "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the local stack exited with {process.returncode}; see {output.name}")
                try:
                    with urllib.request.urlopen(f"{base}/health", timeout=1) as response:
                        if response.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the local stack was not healthy within {startup_timeout} s")
                time.sleep(0.2)
            yield base
        finally:
            # Ctrl-C first, as a person would; a shell that started us in the background may have
            # made SIGINT ignored, so SIGTERM (handled the same way) next, and only then kill
            for stop, wait in ((process.send_signal, 5), (lambda _: process.terminate(), 10)):
                stop(signal.SIGINT)
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            else:
                process.kill()
                process.wait()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    json: Any


@dataclass
class Client:
    """One signed-in user of the local stack."""

    base: str
    user_id: str
    name: str
    token: str = ""

    @classmethod
    def sign_in(cls, base: str, name: str) -> Client:
        user_id = f"{name.lower()}-{uuid.uuid4().hex[:8]}"
        client = cls(base, user_id, name)
        response = client.call("POST", "/local/token", {"user_id": user_id, "name": name}, auth=False)
        assert response.status == 200, response.json
        client.token = response.json["token"]
        return client

    def call(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Response:
        headers = {"content-type": "application/json"}
        if auth and self.token:
            headers["authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return Response(response.status, dict(response.headers), json.loads(raw) if raw else None)
        except urllib.error.HTTPError as error:
            raw = error.read()
            return Response(error.code, dict(error.headers), json.loads(raw) if raw else None)

    def create_chat(self, **body: Any) -> str:
        response = self.call("POST", "/chats", {"title": "e2e", "turn_mode": "free", **body})
        assert response.status == 201, response.json
        chat_id: str = response.json["chat_id"]
        return chat_id

    def join(self, chat_id: str) -> None:
        assert self.call("POST", f"/chats/{chat_id}/members").status == 200

    def post(self, chat_id: str, text: str) -> dict[str, Any]:
        response = self.call("POST", f"/chats/{chat_id}/messages", {"text": text})
        assert response.status == 201, response.json
        message: dict[str, Any] = response.json
        return message

    def ticket_url(self) -> str:
        response = self.call("POST", "/realtime/tickets")
        assert response.status == 201, response.json
        url: str = response.json["url"]
        return url

    def socket(self) -> Socket:
        return Socket(connect(self.ticket_url(), open_timeout=10))


@dataclass
class Socket:
    """A client WebSocket that keeps every frame it receives, in order (each checked against the AsyncAPI
    document)."""

    connection: ClientConnection
    frames: list[dict[str, Any]] = field(default_factory=list)

    def send(self, **frame: Any) -> None:
        self.connection.send(json.dumps(frame))

    def request(self, reply_type: str, timeout: float = 10.0, **frame: Any) -> dict[str, Any]:
        """Send an action and wait for its reply frame (other frames received meanwhile are kept)."""
        self.send(**frame)
        return self.wait_for(lambda f: f["type"] in (reply_type, "Error"), timeout)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        for kept in self.frames:
            if predicate(kept):
                self.frames.remove(kept)
                return kept
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame within {timeout} s; got {self.frames}")
            frame: dict[str, Any] = conforms(json.loads(self.connection.recv(timeout=remaining)))
            if predicate(frame):
                return frame
            self.frames.append(frame)

    def drain(self, quiet: float = 0.5) -> list[dict[str, Any]]:
        """Everything received until the socket has been quiet for ``quiet`` seconds."""
        while True:
            try:
                self.frames.append(conforms(json.loads(self.connection.recv(timeout=quiet))))
            except TimeoutError:
                taken, self.frames = self.frames, []
                return taken

    def close(self) -> None:
        self.connection.close()
