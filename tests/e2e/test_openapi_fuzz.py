"""Schemathesis holds the running local stack to its own OpenAPI document, bounded for `make test`.

Every check and phase (examples, coverage, fuzzing, stateful sequences along the document's links),
with a token from POST /local/token; `make fuzz` runs the same without the bounds.
"""

from __future__ import annotations

from scripts.fuzz import fuzz
from tests.support.stack import ROOT

MAX_EXAMPLES = 10
"""Cases per operation and phase: about 1,500 requests, every phase run to its end (a time budget
would make fuzzing and stateful repeat until spent, and cut the coverage phase short on a busy host)."""


def test_the_api_answers_every_generated_request_as_its_document_says(stack: str) -> None:
    # Given the running stack and its own /openapi.json
    # When schemathesis generates requests from it, valid and invalid, alone and in linked sequences
    reports = ROOT / "test-artifacts" / "schemathesis"
    result = fuzz(stack, report_dir=reports, max_examples=MAX_EXAMPLES)
    (reports / "summary.txt").write_text(result.summary() + "\n")

    # Then it generated requests, and every answer is a documented status, never a 5xx
    assert result.generated > 0, result.output[-3000:]
    assert result.requests > 0, result.output[-3000:]
    assert result.server_errors == 0, result.output[-5000:]
    assert not result.undocumented, (dict(result.undocumented), result.output[-5000:])

    # And every check passed in every phase, the stateful one included
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert f"✅  {phase}" in result.output, result.output[-3000:]
    assert result.exit_code == 0, result.output[-8000:]
