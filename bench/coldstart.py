"""Cold start: each function's handler import in fresh processes, against a fresh ``import boto3``.

Each sample is a new interpreter with a Lambda-like environment (``LAMBDA_TASK_ROOT``, the
function's name and memory, region, credentials, Powertools' settings from the CDK stack), and
``sys.path`` as Lambda builds it: the function's folder, then the layer (here the venv stands in
for the layer's third-party packages). The time is measured inside the process around the import
alone, so interpreter start-up (the same for both) is left out. Rounds interleave every function
with the boto3 baseline, so a burst of load on this shared machine hits them alike; one warm-up
round (not counted) writes the bytecode caches, as the layer ships its bytecode.

Functions above the target get one more run under ``python -X importtime``, and the heaviest
imports that boto3 does not already pull in are listed, by package.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from bench.stats import median

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
LAYER = ROOT / "layers" / "parley" / "python"
BASELINE = "boto3"
TARGET_RATIO = 1.5
_PROBE = (
    "import time, json\n"
    "started, cpu = time.perf_counter(), time.process_time()\n"
    "import {module}\n"
    "print(json.dumps({{'ms': (time.perf_counter() - started) * 1000,"
    " 'cpu_ms': (time.process_time() - cpu) * 1000}}))\n"
)
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def discover(functions: Path = FUNCTIONS) -> list[str]:
    """Every folder under functions/ with a handler.py, as it is at run time (ext_* included)."""
    return sorted(p.parent.name for p in functions.glob("*/handler.py"))


def memory_of(names: Iterable[str]) -> dict[str, int]:
    """Configured memory per function (infra/specs.py); functions without a spec are left out."""
    try:
        from infra.specs import FUNCTIONS as SPECS
    except Exception:
        return {}
    wanted = set(names)
    return {s.name: s.memory_mb for s in SPECS if s.name in wanted}


RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six")
"""What Lambda's Python runtime itself provides (the AWS SDK and its dependencies)."""


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def layer_distributions() -> list[str]:
    """The distributions the layer ships: the built layer's list, else the requirements' closure."""
    try:
        from infra import layer_build

        build = layer_build.cached()
        listed: list[str] = json.loads((build.directory / layer_build.MARKER).read_text())["distributions"]
        return sorted({_normalize(n) for n in listed})
    except Exception:
        pass
    from importlib import metadata

    requirements = (ROOT / "layers" / "parley" / "requirements.txt").read_text().splitlines()
    pending = [re.split(r"[=<>!~\[; ]", line.strip(), maxsplit=1)[0] for line in requirements]
    pending = [p for p in pending if p and not p.startswith("#")]
    found: set[str] = set()
    while pending:
        name = _normalize(pending.pop())
        if name in found:
            continue
        found.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        pending += [re.split(r"[=<>!~\[; (]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r]
    return sorted(found)


def top_level_entries(distribution: str) -> set[str]:
    """The top-level modules, packages and metadata folder a distribution installed (in the venv)."""
    from importlib import metadata

    dist = metadata.distribution(distribution)
    entries: set[str] = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first in ("..", "__pycache__") or first.endswith(".data"):
            continue
        entries.add(first)
    return entries


def build_site(target: Path, distributions: Iterable[str]) -> list[str]:
    """A folder of links to exactly these distributions' files in the venv: a stand-in for the
    layer plus the runtime's SDK, so an import that works here but not on Lambda fails here too,
    and packages the venv has only for tests (requests, blinker, ...) are not imported by accident."""
    import sysconfig

    site_packages = Path(sysconfig.get_paths()["purelib"])
    missing = []
    target.mkdir(parents=True, exist_ok=True)
    for name in distributions:
        try:
            entries = top_level_entries(name)
        except Exception:
            missing.append(name)
            continue
        for entry in entries:
            link = target / entry
            if not link.exists() and (site_packages / entry).exists():
                link.symlink_to(site_packages / entry)
    return missing


def lambda_environment(
    function: str | None, memory_mb: int = 512, site: Path | None = None
) -> dict[str, str]:
    """What Lambda's Python runtime and our CDK stack put in a function's environment."""
    task_root = FUNCTIONS / function if function else ROOT / "bench"
    name = function or "baseline"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": "handler.lambda_handler",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": f"parley-{name}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "example",
        "AWS_SESSION_TOKEN": "example",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "POWERTOOLS_SERVICE_NAME": f"parley-{name}",
        "POWERTOOLS_METRICS_NAMESPACE": "Parley",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        "PYTHONPATH": os.pathsep.join([str(task_root), str(LAYER), *([str(site)] if site else [])]),
    }
    return env


def probe(
    function: str | None, memory_mb: int = 512, *, site: Path | None = None, extra_args: tuple[str, ...] = ()
) -> tuple[tuple[float, float], str]:
    """One fresh process: (wall, CPU) milliseconds to import the handler (or boto3), and its stderr.

    With ``site`` the interpreter starts without its own site-packages (``-S``): only the stdlib,
    the function, the layer's source and the packages linked in ``site`` can be imported."""
    module = "handler" if function else BASELINE
    isolation = ("-S",) if site else ()
    result = subprocess.run(
        [sys.executable, *isolation, *extra_args, "-c", _PROBE.format(module=module)],
        env=lambda_environment(function, memory_mb, site),
        cwd=FUNCTIONS / function if function else ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed")
    timing = json.loads(result.stdout.strip().splitlines()[-1])
    return (float(timing["ms"]), float(timing["cpu_ms"])), result.stderr


def parse_importtime(stderr: str) -> list[tuple[str, int, int, int]]:
    """(module, self µs, cumulative µs, depth) of every ``-X importtime`` line."""
    found = []
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            own, cumulative, indent, module = match.groups()
            found.append((module, int(own), int(cumulative), len(indent) // 2))
    return found


def package_of(module: str) -> str:
    """Group imports: our own modules one by one, third-party ones by top-level package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "parley" else parts[0]


def heaviest(
    imports: Iterable[tuple[str, int, int, int]], already: Iterable[str], top: int = 8
) -> list[dict[str, Any]]:
    """Self time per package for modules the baseline did not import, heaviest first."""
    skip = set(already)
    totals: dict[str, int] = defaultdict(int)
    for module, own, _, _ in imports:
        if module not in skip:
            totals[package_of(module)] += own
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return [{"package": name, "self_ms": round(us / 1000, 1)} for name, us in ranked]


def run(
    *, runs: int = 10, functions: list[str] | None = None, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    names = functions or discover()
    memory = memory_of(names)
    distributions = sorted({*layer_distributions(), *RUNTIME_PROVIDED})
    with tempfile.TemporaryDirectory(prefix="parley-bench-site-") as folder:
        site = Path(folder)
        missing = build_site(site, distributions)
        if missing:
            progress(f"  cold start: not in this venv, so left out: {', '.join(missing)}")
        samples, cpu, errors = _sample(names, memory, site, runs, progress)
        if BASELINE in errors:
            raise RuntimeError(f"boto3 itself did not import: {errors[BASELINE]}")
        baseline = median(samples[BASELINE])
        cpu_baseline = median(cpu[BASELINE])
        results: dict[str, Any] = {}
        baseline_modules: set[str] | None = None
        for name in names:
            if name in errors:
                results[name] = {"error": errors[name]}
                continue
            value = median(samples[name])
            entry: dict[str, Any] = {
                "median_ms": round(value, 1),
                "ratio_to_boto3": round(value / baseline, 2),
                "cpu_median_ms": round(median(cpu[name]), 1),
                "cpu_ratio_to_boto3": round(median(cpu[name]) / cpu_baseline, 2),
                "memory_mb": memory.get(name),
                "samples_ms": [round(s, 1) for s in samples[name]],
            }
            if entry["ratio_to_boto3"] > TARGET_RATIO:
                if baseline_modules is None:
                    _, stderr = probe(None, site=site, extra_args=("-X", "importtime"))
                    baseline_modules = {m for m, *_ in parse_importtime(stderr)}
                _, stderr = probe(name, memory.get(name, 512), site=site, extra_args=("-X", "importtime"))
                entry["heaviest_imports"] = heaviest(parse_importtime(stderr), baseline_modules)
            results[name] = entry
    return {
        "method": (
            f"median of {runs} fresh processes per function (after one warm-up round): the handler "
            "module's import, timed inside the process, with a Lambda-like environment (tracing on) "
            "and only the stdlib, the function, the layer's packages and the runtime's SDK importable "
            "(python -S); rounds interleave the boto3 baseline and every function"
        ),
        "runs": runs,
        "packages": distributions,
        "boto3_median_ms": round(baseline, 1),
        "boto3_cpu_median_ms": round(cpu_baseline, 1),
        "boto3_samples_ms": [round(s, 1) for s in samples[BASELINE]],
        "target_ratio": TARGET_RATIO,
        "functions": results,
    }


def _sample(
    names: list[str], memory: Mapping[str, int], site: Path, runs: int, progress: Callable[[str], None]
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, str]]:
    samples: dict[str, list[float]] = {name: [] for name in [BASELINE, *names]}
    cpu: dict[str, list[float]] = {name: [] for name in [BASELINE, *names]}
    errors: dict[str, str] = {}
    for round_ in range(runs + 1):
        for name in [BASELINE, *names]:
            if name in errors:
                continue
            try:
                (ms, cpu_ms), _ = probe(None if name == BASELINE else name, memory.get(name, 512), site=site)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                errors[name] = str(exc)
                progress(f"  cold start: {name} failed to import: {exc}")
                continue
            if round_:  # round 0 warms the bytecode caches up
                samples[name].append(ms)
                cpu[name].append(cpu_ms)
        if round_:
            progress(f"  cold start: round {round_}/{runs}")
    return samples, cpu, errors


def ratios(section: Mapping[str, Any]) -> dict[str, float]:
    return {
        name: float(entry["ratio_to_boto3"])
        for name, entry in section["functions"].items()
        if "ratio_to_boto3" in entry
    }
