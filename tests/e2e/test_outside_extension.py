"""Issue 20's measure: a new extension in a folder outside the repository, from the scaffold to running
on `make dev`, tested, and synthesized against the Parley stack, using only the SDK's wheel.

Each step's time is written to test-artifacts/outside-extension-steps.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from infra.local.extensions import POLL_SECONDS
from scripts.build_sdk import build
from tests.support.stack import ROOT, Client, running_stack

NAME = "standup"


class Steps:
    def __init__(self) -> None:
        self.timings: list[dict[str, Any]] = []

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.timings.append({"step": what, "seconds": round(time.perf_counter() - started, 1)})


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def texts(client: Client, chat_id: str) -> list[str]:
    return [m["text"] for m in client.call("GET", f"/chats/{chat_id}/messages").json["items"]]


def test_a_new_extension_outside_the_repository_from_scaffold_to_synth(tmp_path: Path) -> None:
    steps = Steps()
    work = tmp_path / "standup-ext"
    site = tmp_path / "site"
    # the author's environment: the SDK's wheel installed, nothing of this checkout on the path
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "AWS_ENDPOINT_URL", "AWS_PROFILE"}}
    env.update(PYTHONPATH=str(site), CDK_OUTDIR=str(tmp_path / "cdk.out"), PYTHONDONTWRITEBYTECODE="1")
    env.update(CDK_DEFAULT_ACCOUNT="123456789012", CDK_DEFAULT_REGION="eu-west-1")

    with steps.step("make sdk: build the parley-extension-sdk wheel"):
        wheel = build(tmp_path / "dist")
    with steps.step("pip install the wheel (no deps: the venv has them)"):
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(site),
                str(wheel),
            ],
            tmp_path,
            env,
        )
    with steps.step(f"scaffold: python -m parley_kit.scaffold {NAME} {work}"):
        run([sys.executable, "-m", "parley_kit.scaffold", NAME, str(work)], tmp_path, env)
    assert (work / NAME / "handler.py").is_file()

    with steps.step("pytest in the extension's folder (plugin found by its pytest11 entry point)"):
        out = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], work, env)
    assert "2 passed" in out, out

    with steps.step("mypy (strict) on the extension, its tests and its CDK app"):
        # its pyproject: strict, pydantic plugin (this checkout's cache: aws_cdk is the same there)
        run([sys.executable, "-m", "mypy", "--cache-dir", str(ROOT / ".mypy_cache")], work, env)

    with steps.step("make dev with PARLEY_EXTENSIONS, used over HTTP, code edited and reloaded"):
        running_on_make_dev(work / NAME)

    with steps.step("cdk synth of its CDK app against the Parley stack by name"):
        run([sys.executable, "cdk/app.py"], work, env)
    template = json.loads((tmp_path / "cdk.out" / "StandupExtension.template.json").read_text())
    rendered = json.dumps(template)
    assert json.dumps({"Fn::ImportValue": "Parley-ParleyBusArn"}) in rendered
    assert {"AWS::Events::Rule", "AWS::Lambda::Function", "AWS::SQS::Queue"} <= {
        r["Type"] for r in template["Resources"].values()
    }

    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    files = sorted(
        str(p.relative_to(work)) for p in work.rglob("*") if p.is_file() and "__pycache__" not in str(p)
    )
    (artifacts / "outside-extension-steps.json").write_text(
        json.dumps({"steps": steps.timings, "files": files}, indent=2) + "\n"
    )


def running_on_make_dev(folder: Path) -> None:
    with running_stack(extra_env={"PARLEY_EXTENSIONS": str(folder)}) as base:
        alice, bob = Client.sign_in(base, "Alice"), Client.sign_in(base, "Bob")
        chat_id = alice.create_chat(title="Daily")
        assert alice.call("PUT", f"/chats/{chat_id}/extensions/{NAME}", {"enabled": True}).status == 201
        bob.join(chat_id)
        assert until(lambda: any(t.startswith("Bob: What did you do") for t in texts(bob, chat_id)))

        alice.post(chat_id, f"!{NAME} shipped it")
        bob.post(chat_id, f"!{NAME} reviewed it")
        assert until(lambda: "Everyone has answered (2)." in texts(bob, chat_id))
        events = until(lambda: alice.call("GET", f"/local/events?type={NAME}.completed").json["items"])
        assert [e["detail"]["data"]["payload"] for e in events] == [{"answers": 2}]
        tail = subprocess.run(
            [
                sys.executable,
                "-m",
                "infra.local.tail",
                "--url",
                base,
                "--once",
                "--source",
                f"parley.ext.{NAME}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert f"ExtensionEvent {NAME}.completed  parley.ext.{NAME}" in tail, tail

        # the author edits the prompt: the stack reloads it, and keeps the chat
        handler = folder / "handler.py"
        handler.write_text(handler.read_text().replace("What did you do yesterday?", "Any blockers?"))
        later = handler.stat().st_mtime + 2
        os.utime(handler, (later, later))
        time.sleep(3 * POLL_SECONDS)  # the watcher looks once a second
        carol = Client.sign_in(base, "Carol")
        carol.join(chat_id)
        assert until(lambda: any(t.startswith("Carol: Any blockers?") for t in texts(carol, chat_id)))
        assert "Everyone has answered (2)." in texts(carol, chat_id)
