"""The consumers' partial-batch loop: Lambda's SQS contract, kept without Powertools' processor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from parley.consumers import BatchFailedError, partial_batch

LAYER_ONLY = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "layers/parley/python")}
"""A child that imports this worktree's layer, whatever the venv's own paths hold."""


def records(*ids: str) -> list[dict[str, Any]]:
    return [{"messageId": i, "body": i} for i in ids]


def fail_on(*bad: str) -> Any:
    seen: list[str] = []

    def handle(record: dict[str, Any]) -> None:
        seen.append(record["messageId"])
        if record["messageId"] in bad:
            raise RuntimeError(f"boom {record['messageId']}")

    handle.seen = seen  # type: ignore[attr-defined]
    return handle


def test_every_record_is_handled_and_only_the_failed_ones_are_reported() -> None:
    handle = fail_on("b")
    assert partial_batch(records("a", "b", "c"), handle) == {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert handle.seen == ["a", "b", "c"]


def test_a_clean_batch_and_an_empty_one_report_nothing() -> None:
    assert partial_batch(records("a", "b"), fail_on()) == {"batchItemFailures": []}
    assert partial_batch([], fail_on()) == {"batchItemFailures": []}


def test_a_batch_that_failed_whole_fails_the_invocation_with_the_cause() -> None:
    with pytest.raises(
        BatchFailedError, match=r"All records failed processing\. 2 individual errors"
    ) as raised:
        partial_batch(records("a", "b"), fail_on("a", "b"))
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_a_consumer_imports_no_powertools_batch_processor() -> None:
    code = (
        "import sys, parley.consumers; "
        "print(any(m.startswith('aws_lambda_powertools.utilities.batch') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=LAYER_ONLY, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
