"""Schemathesis against a local stack: `make fuzz` runs it in full, the e2e test runs it bounded.

Usage: python -m scripts.fuzz [--base URL] [--max-examples N] [--max-time S] [--report-dir DIR]
Without --base it starts a stack on a free port. The settings (every check and phase, the operations
whose state the schema cannot see) are in schemathesis.toml; this adds the token, the bounds and a
summary of what came back, read from schemathesis's NDJSON report.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "schemathesis.toml"
ST = Path(sys.executable).with_name("st")


@dataclass
class FuzzResult:
    """What one run generated and how the API answered, counted from the report."""

    exit_code: int
    seconds: float
    generated: int = 0
    failures: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    undocumented: Counter[str] = field(default_factory=Counter)
    output: str = ""

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return (
            f"{self.generated} cases generated, {self.requests} requests in {self.seconds:.0f} s; "
            f"{self.failures} unique failures; {self.server_errors} answers 5xx; "
            f"{sum(self.undocumented.values())} with a status the document does not list; "
            f"statuses {{{statuses}}}"
        )


def sign_in(base: str, *, user_id: str = "fuzzer", groups: tuple[str, ...] = ("operators",)) -> str:
    """A local token; in the operators group so the summary route is fuzzed beyond its 403."""
    body = json.dumps({"user_id": user_id, "name": "Fuzzer", "groups": list(groups)}).encode()
    request = urllib.request.Request(
        f"{base}/local/token", data=body, method="POST", headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token: str = json.loads(response.read())["token"]
    return token


def _operations(document: dict[str, Any]) -> list[tuple[str, re.Pattern[str], set[str]]]:
    found = []
    for path, item in document["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for method, operation in item.items():
            found.append((method.upper(), pattern, set(operation.get("responses", {}))))
    return found


def read_report(result: FuzzResult, report: Path, document: dict[str, Any]) -> None:
    """Count every request's status, and those the document does not list for their operation."""
    operations = _operations(document)
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        for interaction in (finished["recorder"].get("interactions") or {}).values():
            answer = interaction.get("response")
            if answer is None:
                continue
            status, method = answer["status_code"], interaction["request"]["method"]
            path = urlsplit(interaction["request"]["uri"]).path
            result.requests += 1
            result.statuses[status] += 1
            declared = [o for o in operations if o[0] == method and o[1].match(path)]
            if declared and str(status) not in declared[0][2]:
                result.undocumented[f"{method} {status}"] += 1


def _count_summary(result: FuzzResult) -> None:
    """The totals schemathesis prints last (``N generated, M found K unique failures``)."""
    generated = re.search(r"(\d+) generated", result.output)
    failed = re.search(r"found (\d+) unique failures", result.output)
    result.generated = int(generated.group(1)) if generated else 0
    result.failures = int(failed.group(1)) if failed else 0


def fuzz(
    base: str,
    *,
    report_dir: Path,
    max_examples: int | None = None,
    max_time: int | None = None,
    token: str | None = None,
    extra: tuple[str, ...] = (),
) -> FuzzResult:
    """Run schemathesis once against ``base`` with schemathesis.toml; never raises on failures."""
    report_dir.mkdir(parents=True, exist_ok=True)
    for old in report_dir.glob("*.ndjson"):
        old.unlink()
    command = [
        str(ST),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base}/openapi.json",
        "--continue-on-failure",
        "--report",
        "ndjson",
        "--report-dir",
        str(report_dir),
        *(["--max-examples", str(max_examples)] if max_examples else []),
        *(["--max-time", str(max_time)] if max_time else []),
        *extra,
    ]
    env = {**os.environ, "PARLEY_FUZZ_TOKEN": token or sign_in(base), "NO_COLOR": "1"}
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    result = FuzzResult(done.returncode, time.monotonic() - started, output=done.stdout + done.stderr)
    with urllib.request.urlopen(f"{base}/openapi.json", timeout=10) as response:
        document = json.loads(response.read())
    for report in report_dir.glob("*.ndjson"):
        read_report(result, report, document)
    _count_summary(result)
    return result


@contextmanager
def _stack(base: str | None) -> Iterator[str]:
    if base:
        yield base
        return
    from tests.support.stack import running_stack

    with running_stack() as started:
        yield started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--base", help="a running stack's URL; default: start one")
    parser.add_argument("--max-examples", type=int, default=None, help="cases per operation and phase")
    parser.add_argument("--max-time", type=int, default=None, help="seconds for the whole run")
    parser.add_argument("--report-dir", type=Path, default=ROOT / "test-artifacts" / "schemathesis")
    args = parser.parse_args(argv)
    with _stack(args.base) as base:
        result = fuzz(
            base, report_dir=args.report_dir, max_examples=args.max_examples, max_time=args.max_time
        )
    print(result.output)
    print(result.summary())
    for what, count in sorted(result.undocumented.items()):
        print(f"  undocumented {what}: {count}")
    return 0 if result.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
