"""The whole system on one machine: moto server, provisioning, dispatcher, sweeper and gateway.

Everything listens on 127.0.0.1. State lives in moto's memory and is gone when the stack stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web
from botocore.exceptions import ReadTimeoutError

from infra.local import request_state
from infra.local.auth import LocalIdentityProvider
from infra.local.aws_clients import push_in_process, skip_signing
from infra.local.clock import LocalClock
from infra.local.cpu import cpu_seconds
from infra.local.dispatch import LambdaContext
from infra.local.dispatcher import Dispatcher
from infra.local.extensions import Reloader, configured, load_all
from infra.local.fault_points import hanging_loader, install_botocore, install_model_faults
from infra.local.faults import Faults
from infra.local.feed import Feed
from infra.local.functions import load_handler
from infra.local.gateway import Gateway
from infra.local.provision import provision
from parley import root
from parley.extensions import hooks
from parley.extensions.sdk import TICK_KEY
from parley.observability import logger
from parley.routing import extension_route
from parley.settings import settings
from parley.topology import extension_manifests

REGION = "us-east-1"
SWEEP_EVERY_SECONDS = 5.0
TICK_EVERY_SECONDS = 5.0
"""AWS ticks extensions once a minute; here more often, so an advanced clock is seen at once (a tick
for a minute already ticked finds its slots claimed and runs nothing)."""
ROOT = Path(__file__).resolve().parents[2]
PUSH_TIMEOUT_SECONDS = 3.0
"""The pusher's read timeout (``parley.adapters.websocket.PUSH_CONFIG``), for pushes handed over
in-process."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class LocalStack:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 8000, moto_port: int | None = None) -> None:
        self.host = host
        self.port = port
        self.moto_port = moto_port or free_port(host)
        self.base_url = f"http://{host}:{port}"
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._moto: subprocess.Popen[bytes] | None = None
        self.faults = Faults.from_environment()
        self._dispatcher: Dispatcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._gateway: Gateway | None = None
        self._loop_thread: int | None = None
        self._threads: list[threading.Thread] = []
        self.feed = Feed()  # GET /local/events, `make tail`
        self.clock = LocalClock()  # what extensions' ticks are for: POST /local/clock moves it

    def environment(self) -> dict[str, str]:
        """What the Lambdas see: AWS endpoints, names and URLs come from here, never from code."""
        return {
            "AWS_ENDPOINT_URL": f"http://{self.host}:{self.moto_port}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "PARLEY_WEBSOCKET_URL": f"ws://{self.host}:{self.port}/ws",
            "PARLEY_WEBSOCKET_MANAGEMENT_URL": self.base_url,
            # no network, no account: every AI participant answers through the local provider
            "PARLEY_AI_PROVIDER": os.environ.get("PARLEY_AI_PROVIDER", "local"),
            # hooks call the extensions' handlers in-process (moto's Lambda would need Docker)
            "PARLEY_HOOK_INVOKER": "inprocess",
            # the webhook extension may deliver to a receiver on this machine (http://127.0.0.1:...)
            "PARLEY_WEBHOOK_ALLOW_HTTP": "true",
            "POWERTOOLS_SERVICE_NAME": "parley-local",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("PARLEY_LOG_LEVEL", "WARNING"),
        }

    def start(self, progress: Callable[[str], None] = print) -> None:
        started = time.perf_counter()
        os.environ.update(self.environment())
        root.reset()
        self.feed.attach(logging.getLogger(logger.name))
        # before any AWS client exists: every client gets the fault hooks (and the publish counter)
        install_botocore(
            self.faults, self._published, self._written, watched=frozenset({settings().events_table})
        )
        install_model_faults(self.faults)
        skip_signing()
        push_in_process(self._push_in_process)
        armed = ", ".join(f"{r['point']}@{r['rate']:g}" for r in self.faults.snapshot()["rules"]) or "none"
        progress(f"      faults: seed {self.faults.seed}, armed: {armed} (GET /local/faults)")

        progress(
            f"[1/5] moto server (the embedded AWS), its own process, on http://{self.host}:{self.moto_port}"
        )
        self._start_moto()

        outside = load_all(configured())  # PARLEY_EXTENSIONS: deployed like the shipped ones
        for local in outside:
            progress(f"      extension {local.extension.id} from {local.source.named} (reloads on change)")
        progress("[2/5] provisioning tables, bus, rules and queues from the routing table")
        provisioned = provision(settings())
        hooks.register_loader(hanging_loader(self.faults, load_handler))

        consumers = [
            *provisioned.queue_urls,
            *(f"{r} (stream)" for r in provisioned.dlq_urls if r not in provisioned.queue_urls),
        ]
        progress("[3/5] dispatcher: one consumer per route (" + ", ".join(consumers) + ")")
        self._dispatcher = Dispatcher(provisioned, REGION, faults=self.faults)
        self._dispatcher.start()
        self._spawn(self._sweep_forever, "turn-sweeper")
        self._spawn(self._tick_forever, "extension-ticks")
        if outside:
            reloader = Reloader(outside, provisioned, report=progress)
            self._spawn(lambda: reloader.run(self._stopping), "extension-reloader")

        progress("[4/5] local sign-in key and gateway handlers")
        identity = LocalIdentityProvider(issuer=f"{self.base_url}/local")
        request_state.install()  # the gateway runs concurrent api requests in threads of this process
        for function in ("api", "realtime", "ws_authorizer"):
            load_handler(function)
        gateway = Gateway(
            identity,
            ready=self._ready.is_set,
            stats=self._dispatcher.snapshot,
            redrive=self._dispatcher.redrive,
            faults=self.faults,
            delivered=self._dispatcher.delivered.snapshot,
            events=self.feed.query,
            aws_endpoint=self.environment()["AWS_ENDPOINT_URL"],
            clock=self.clock,
            cpu=self.cpu_seconds,
        )

        self._gateway = gateway
        progress(f"[5/5] gateway on {self.base_url}")
        server_up = threading.Event()
        failures: list[BaseException] = []
        self._spawn(lambda: self._serve(gateway, server_up, failures), "gateway")
        if not server_up.wait(timeout=30):
            raise RuntimeError(f"the gateway did not start on {self.base_url}")
        if failures:
            self.stop()
            raise failures[0]
        self._ready.set()
        progress(f"ready in {time.perf_counter() - started:.1f} s")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _serve(self, gateway: Gateway, server_up: threading.Event, failures: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._loop_thread = threading.get_ident()
        asyncio.set_event_loop(loop)
        # handlers run in threads, as concurrent Lambda invocations would
        loop.set_default_executor(ThreadPoolExecutor(max_workers=32, thread_name_prefix="lambda"))
        try:
            self._runner = web.AppRunner(gateway.app(), access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port)
            loop.run_until_complete(site.start())
        except BaseException as exc:  # a taken port, a missing web/ folder: report it to start()
            failures.append(exc)
            self._loop = None
            server_up.set()
            loop.close()
            return
        server_up.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def _sweep_forever(self) -> None:
        sweeper = load_handler("outbox_sweeper")
        while not self._stopping.wait(SWEEP_EVERY_SECONDS):
            try:
                sweeper({}, LambdaContext.for_function("outbox_sweeper"))
            except Exception:
                logger.exception("turn sweep failed")

    def _tick_forever(self) -> None:
        """Invoke each extension whose manifest sets ``tick`` as its AWS schedule does, with the time."""
        while not self._stopping.wait(TICK_EVERY_SECONDS):
            for manifest in (m for m in extension_manifests() if m.tick):
                function = extension_route(manifest.document()).function
                try:
                    load_handler(function)(
                        {TICK_KEY: self.clock.now().isoformat()}, LambdaContext.for_function(function)
                    )
                except Exception:
                    logger.exception("extension tick failed", extra={"extension_id": manifest.id})

    def _start_moto(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'layers/parley/python'}:{ROOT}",
            # no browser talks to moto (the web client talks to the gateway): skip CORS per request
            "MOTO_DISABLE_GLOBAL_CORS": "true",
        }
        self._moto = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra.local.moto_process",
                "--host",
                self.host,
                "--port",
                str(self.moto_port),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,  # closes when this process ends, however it ends: moto then stops
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            if self._moto.poll() is not None:
                raise RuntimeError(f"moto exited with {self._moto.returncode} before it was ready")
            try:
                with urllib.request.urlopen(f"http://{self.host}:{self.moto_port}/moto-api/", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answers
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError("moto did not start within 30 s") from None
                time.sleep(0.1)

    def cpu_seconds(self) -> dict[str, float | None]:
        """CPU seconds used so far by this process (gateway, dispatcher, handlers) and moto's."""
        return {"stack": cpu_seconds(), "moto": cpu_seconds(self._moto.pid) if self._moto else None}

    def _push_in_process(self, connection_id: str, data: bytes) -> tuple[int, dict[str, str], bytes] | None:
        """A handler thread's push, run on the gateway's loop (``aws_clients.InProcessPushes``); None
        before the gateway serves, or from the loop's own thread (it would wait on itself)."""
        loop, gateway = self._loop, self._gateway
        if loop is None or gateway is None or threading.get_ident() == self._loop_thread:
            return None
        future = asyncio.run_coroutine_threadsafe(gateway.push(connection_id, data), loop)
        try:
            response = future.result(timeout=PUSH_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            future.cancel()
            raise ReadTimeoutError(endpoint_url=f"{self.base_url}/@connections/{connection_id}") from exc
        body = response.body if isinstance(response.body, bytes) else b""
        return response.status, dict(response.headers), body

    def _published(self, entries: list[dict[str, Any]]) -> None:
        """PutEvents accepted ``entries``: count them for /local/stats, keep them for /local/events."""
        self.feed.record_events(entries)
        if self._dispatcher:
            self._dispatcher.count_published([e.get("DetailType", "") for e in entries])

    def _written(self) -> None:
        """A DynamoDB write answered: the dispatcher's stream readers look at once."""
        if self._dispatcher:
            self._dispatcher.notify_written()

    def stop(self) -> None:
        self._stopping.set()
        self._ready.clear()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._dispatcher is not None:
            self._dispatcher.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._moto is not None:
            self._moto.terminate()
            try:
                self._moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._moto.kill()
                self._moto.wait()
