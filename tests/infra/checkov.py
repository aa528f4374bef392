"""checkov on a synthesized template, and the findings its baseline explains (shared by the stack's
and the web hosting's checks)."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.infra.conftest import ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
BASELINE = ROOT / "infra" / "checkov_baseline.yaml"
CDK_HASH = re.compile(r"[0-9A-F]{8}$")
SCAN_OPTIONS = ("--framework", "cloudformation", "-o", "json", "--quiet", "--compact", "--skip-download")
"""--skip-download: offline, no Prisma Cloud guidelines (the checks themselves ship with checkov)."""


def resource_name(checkov_resource: str) -> str:
    """The logical id without CDK's hash (``EventsRouteturnsDlqB34B4BCC`` -> ``EventsRouteturnsDlq``)."""
    return CDK_HASH.sub("", checkov_resource.split(".", 1)[1])


@cache
def scan(template: Path) -> dict[str, Any]:
    assert CHECKOV.exists(), f"{CHECKOV} is missing: `make test` installs it (requirements-checkov.txt)"
    result = subprocess.run(
        [str(CHECKOV), "-f", str(template), *SCAN_OPTIONS],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: some check failed
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def baseline() -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = yaml.safe_load(BASELINE.read_text())
    return entries


def failed(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["check_id"], resource_name(f["resource"])) for f in report["results"]["failed_checks"]}
