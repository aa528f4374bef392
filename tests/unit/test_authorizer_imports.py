"""The WebSocket authorizer runs before every handshake: its cold start loads no pydantic, no catalog."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_authorizer_imports_neither_pydantic_nor_the_event_catalog_nor_boto3() -> None:
    code = (
        "import sys, handler\n"
        "print(sorted(m for m in ('pydantic', 'parley.catalog', 'parley.root', 'boto3', 'aws_xray_sdk') "
        "if m in sys.modules))\n"
    )
    path = os.pathsep.join([str(ROOT / "functions/ws_authorizer"), str(ROOT / "layers/parley/python")])
    environment = {k: v for k, v in os.environ.items() if k != "PARLEY_XRAY_SDK"} | {"PYTHONPATH": path}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / "functions/ws_authorizer",
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"
