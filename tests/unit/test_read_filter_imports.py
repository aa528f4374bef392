"""The broadcaster and the relay (which keeps the inbox) start without the hook protocol: their read
filters import it only when a chat has a read filter to ask (``parley.services.read_filters``), so a
cold start on the ordinary path skips its pydantic models (`make bench`'s cold start measures it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys
sys.path.insert(0, {folder!r})
import handler
from parley import root
{build}
print("parley.extensions.hooks" in sys.modules)
"""


def _loads_hooks(function: str, build: str) -> bool:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/parley/python"), str(ROOT)]),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    code = CHILD.format(folder=str(ROOT / "functions" / function), build=build)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1] == "True"


def test_the_check_sees_the_hook_protocol_where_it_is_loaded() -> None:
    # the turns function asks the floor's validate_turn hooks: its chat service builds the runner
    assert _loads_hooks("turns", "root.chat_service()")


def test_the_broadcaster_builds_its_fan_out_without_the_hook_protocol() -> None:
    assert not _loads_hooks("broadcaster", "root.broadcaster()")


def test_the_relay_builds_the_inbox_projection_without_the_hook_protocol() -> None:
    assert not _loads_hooks("relay", "root.relay()")
