"""Browser tests: Debian's Chromium driven by Playwright against a local stack this module starts.

The stack runs in a subprocess on a free port (`python -m infra.local --port P`) for the whole
session; each test gets fresh browser contexts, so every user has their own storage and socket.
Set PARLEY_REQUIRE_BROWSER=1 (CI does) to fail instead of skip when Chromium is missing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("PARLEY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
AXE = Path(__file__).resolve().parent / "node_modules/axe-core/axe.min.js"  # pinned in package.json here
STARTUP_TIMEOUT = 60.0
TIMEOUT_MS = 10_000

expect.set_options(timeout=TIMEOUT_MS)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.fixture(scope="session")
def stack_url() -> Iterator[str]:
    """A local stack in a subprocess: healthy within 60 s, stopped with Ctrl-C (SIGINT) at the end."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/parley/python"), str(ROOT)])}
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "PARLEY_PORT"):
        env.pop(key, None)
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "browser-stack.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not _healthy(base):
                if process.poll() is not None:
                    raise RuntimeError(f"the local stack exited with {process.returncode}; see {log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the local stack was not healthy within {STARTUP_TIMEOUT:.0f} s")
                time.sleep(0.2)
            yield base
        finally:
            # Ctrl-C; SIGTERM too, for a pytest started where SIGINT is ignored (a background job)
            for stop, grace in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, None)):
                process.send_signal(stop)
                try:
                    process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue


# package scope: Playwright's sync API keeps an event loop running in the main thread until it stops,
# so it must stop before the rest of the session (clients that call asyncio.run) goes on
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("PARLEY_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@dataclass
class User:
    """One person in their own browser context (own localStorage, own socket)."""

    name: str
    base: str
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    def sign_in(self) -> None:
        """Sign in on whatever page is open (the app, or an invite link that asked for a name)."""
        if self.page.url == "about:blank":
            self.page.goto(f"{self.base}/")
        self.page.get_by_test_id("signin-name").fill(self.name)
        self.page.get_by_test_id("signin-button").click()
        expect(self.page.get_by_test_id("me-name")).to_have_text(self.name)
        expect(self.page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")

    def create_chat(self, title: str, *, round_robin: bool = False, ai_name: str | None = None) -> str:
        page = self.page
        page.get_by_test_id("chat-title-input").fill(title)
        if round_robin:
            page.get_by_test_id("turn-mode-round-robin").check()
        if ai_name:
            page.get_by_text("Add an AI participant").click()
            page.get_by_test_id("ai-name-input").fill(ai_name)
        page.get_by_test_id("create-chat-button").click()
        self.wait_for_chat(title)
        link = page.get_by_test_id("share-link").input_value()
        assert "#chat=" in link
        return link

    def wait_for_chat(self, title: str) -> None:
        """The chat is open and its history loaded."""
        expect(self.page.get_by_test_id("chat-title")).to_have_text(title)
        expect(self.page.get_by_test_id("chat-pane")).to_have_attribute("data-loaded", "true")

    @property
    def chat_id(self) -> str:
        chat_id = self.page.get_by_test_id("chat-pane").get_attribute("data-chat-id")
        assert chat_id
        return chat_id

    def join(self, chat_id_or_link: str) -> None:
        panel = self.page.locator("#join-panel")
        if not panel.evaluate("details => details.open"):
            panel.locator("summary").click()
        self.page.get_by_test_id("join-chat-input").fill(chat_id_or_link)
        self.page.get_by_test_id("join-chat-button").click()

    def send(self, text: str) -> None:
        self.page.get_by_test_id("composer-input").fill(text)
        self.page.get_by_test_id("send-button").click()

    def message(self, text: str) -> Locator:
        return self.page.get_by_test_id("message").filter(has_text=text)


@pytest.fixture
def new_user(stack_url: str, browser: Browser) -> Iterator[Callable[[str], User]]:
    contexts: list[BrowserContext] = []

    def make(name: str) -> User:
        context = browser.new_context(viewport={"width": 1100, "height": 720})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        user = User(name, stack_url, context, page)
        page.on("pageerror", lambda error: user.errors.append(str(error)))
        return user

    yield make
    for context in contexts:
        context.close()


def axe_violations(page: Page, name: str) -> list[dict[str, object]]:
    """Run axe-core (WCAG 2.x A and AA rules, and best practices) on what the page shows now.

    The full result is kept as test-artifacts/axe-<name>.json; returned: one entry per violated rule.
    """
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: cd tests/browser && npm ci")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # evaluated as the devtools protocol does, not as a <script>: the page's CSP allows no inline code
        page.evaluate(AXE.read_text())
    results: dict[str, list[dict[str, object]]] = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
            resultTypes: ["violations"],
        })"""
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(results["violations"], indent=2))
    return [
        {"id": v["id"], "help": v["help"], "targets": [n["target"] for n in v["nodes"]]}  # type: ignore[attr-defined]
        for v in results["violations"]
    ]
