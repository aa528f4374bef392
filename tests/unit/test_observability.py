"""The X-Ray SDK is opt-in: off, a cold start neither imports it nor patches botocore."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LAYER = str(Path(__file__).resolve().parents[2] / "layers/parley/python")
CHILD = (
    "import sys\n"
    "from parley.observability import instrument, tracer\n"
    "handler = instrument()(lambda event, context: {'ok': True})\n"
    "print(tracer is not None, 'aws_xray_sdk' in sys.modules)\n"
)


def _child(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "PARLEY_XRAY_SDK"}
    environment |= {"PYTHONPATH": LAYER, "AWS_LAMBDA_FUNCTION_NAME": "parley-test", **env}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=environment, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_by_default_no_tracer_is_built_and_the_sdk_is_not_imported() -> None:
    assert _child() == "False False"


def test_the_switch_turns_the_sdk_tracer_on() -> None:
    assert _child(PARLEY_XRAY_SDK="true") == "True True"
