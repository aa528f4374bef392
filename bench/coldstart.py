"""Cold start: each function's handler import plus its first invocation, in fresh processes, against
a fresh ``import boto3``.

Each sample is a new interpreter with a Lambda-like environment (``LAMBDA_TASK_ROOT``, the
function's name and memory, region, credentials, an X-Ray trace header, Powertools' settings from
the CDK stack), and ``sys.path`` as Lambda builds it: the function's folder, then the layer (here
the venv stands in for the layer's third-party packages). Inside the process the clock runs around
the handler's import and one invocation with a real event (``bench.coldstage``: a moto server, a
push receiver, a seeded chat), so work deferred from import to the first request is still counted;
interpreter start-up (the same for both) is left out. Rounds interleave every function with the
boto3 baseline, so a burst of load on this shared machine hits them alike; one warm-up round (not
counted) writes the bytecode caches, as the layer ships its bytecode. The CPU time is the steadier
figure: moto answers in another process, so it counts only the function's own work.

Functions above the target get one more run under ``python -X importtime``, and the heaviest
imports that boto3 does not already pull in are listed, by package.

    python -m bench.coldstart --runs 5 --only api,ws_authorizer   # quick iteration, a table
"""

from __future__ import annotations

import argparse
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
FLOORS = ROOT / "bench" / "floors"
"""Handlers that load only the required stack and make one DynamoDB read (bench/floors/README.md)."""
LAYER = ROOT / "layers" / "parley" / "python"
BASELINE = "boto3"
TARGET_RATIO = 1.5
_PROBE = """
import json, sys, time
def peak_mb():
    # VmHWM: this process's own peak (ru_maxrss would carry the forking parent's over exec)
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None
with open(sys.argv[1]) as f:
    event = json.load(f)
class Context:
    function_name = {function_name!r}
    memory_limit_in_mb = {memory_mb}
    aws_request_id = "c0ffee00-0000-4000-8000-000000000001"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    def get_remaining_time_in_millis(self):
        return 60000
context = Context()
started, cpu = time.perf_counter(), time.process_time()
import {module}
imported, imported_cpu = time.perf_counter(), time.process_time()
result = {invoke}
done, done_cpu = time.perf_counter(), time.process_time()
with open(sys.argv[2], "w") as f:
    json.dump({{"ms": (done - started) * 1000, "cpu_ms": (done_cpu - cpu) * 1000,
               "import_ms": (imported - started) * 1000, "import_cpu_ms": (imported_cpu - cpu) * 1000,
               "max_rss_mb": peak_mb(),
               "result": result}}, f, default=str)
"""
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def folder_of(name: str) -> Path:
    return FLOORS / name if name.startswith("floor_") else FUNCTIONS / name


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
    function: str | None,
    memory_mb: int = 512,
    site: Path | None = None,
    stage: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What Lambda's Python runtime and our CDK stack put in a function's environment."""
    task_root = folder_of(function) if function else ROOT / "bench"
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
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",  # Lambda's daemon; UDP here, so nobody listens
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "POWERTOOLS_SERVICE_NAME": f"parley-{name}",
        "POWERTOOLS_METRICS_NAMESPACE": "Parley",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        "PYTHONPATH": os.pathsep.join([str(task_root), str(LAYER), *([str(site)] if site else [])]),
        **(stage or {}),
    }
    return env


def probe(
    function: str | None,
    memory_mb: int = 512,
    *,
    site: Path | None = None,
    event: Mapping[str, Any] | None = None,
    stage: Mapping[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> tuple[dict[str, Any], str]:
    """One fresh process: the timings (ms, CPU ms, and the import's alone) and its stderr.

    The baseline imports boto3 and stops; a function imports its handler and invokes it once with
    ``event``. With ``site`` the interpreter starts without its own site-packages (``-S``): only
    the stdlib, the function, the layer's source and the packages linked in ``site`` can be imported."""
    module = "handler" if function else BASELINE
    invoke = "handler.lambda_handler(event, context)" if function else "None"
    code = _PROBE.format(
        module=module, invoke=invoke, function_name=f"parley-{function or 'baseline'}", memory_mb=memory_mb
    )
    isolation = ("-S",) if site else ()
    with tempfile.TemporaryDirectory(prefix="parley-probe-") as folder:
        event_file, out_file = Path(folder) / "event.json", Path(folder) / "out.json"
        event_file.write_text(json.dumps(event or {}))
        result = subprocess.run(
            [sys.executable, *isolation, *extra_args, "-c", code, str(event_file), str(out_file)],
            env=lambda_environment(function, memory_mb, site, stage),
            cwd=folder_of(function) if function else ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0 or not out_file.exists():
            lines = result.stderr.strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"exit {result.returncode}")
        timing: dict[str, Any] = json.loads(out_file.read_text())
    if function:
        problem = first_invocation_problem(function, timing["result"])
        if problem:
            raise RuntimeError(f"first invocation did not take the normal path: {problem}")
    return timing, result.stderr


def first_invocation_problem(function: str, result: Any) -> str | None:
    """Why the first invocation's answer is not the ordinary, successful one (None if it is): a
    probe that measured an error path would flatter the figure."""
    if function.startswith("floor_"):
        ok = isinstance(result, dict) and result.get("ok") is True
    elif function == "api":
        ok = isinstance(result, dict) and result.get("statusCode") == 201
    elif function == "ws_authorizer":
        ok = isinstance(result, dict) and result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    elif function == "realtime":
        ok = isinstance(result, dict) and result.get("statusCode") == 200
    elif function == "outbox_sweeper":  # it moves expired turns (the stream publishes events now)
        ok = isinstance(result, dict) and "turns_moved" in result
    else:
        ok = isinstance(result, dict) and result.get("batchItemFailures") == []
    return None if ok else json.dumps(result, default=str)[:500]


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
    *,
    runs: int = 10,
    functions: list[str] | None = None,
    floors: bool = True,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    from bench import coldstage

    floor_names = discover(FLOORS) if floors else []
    names = [*(functions or discover()), *floor_names]
    memory = memory_of(names)
    distributions = sorted({*layer_distributions(), *RUNTIME_PROVIDED})
    with (
        tempfile.TemporaryDirectory(prefix="parley-bench-site-") as folder,
        coldstage.running(runs + 3, progress) as stage,
    ):
        site = Path(folder)
        missing = build_site(site, distributions)
        if missing:
            progress(f"  cold start: not in this venv, so left out: {', '.join(missing)}")
        samples, errors = _sample(names, memory, site, stage, runs, progress)
        if BASELINE in errors:
            raise RuntimeError(f"boto3 itself did not import: {errors[BASELINE]}")
        results = _summarise(names, memory, samples, errors, site, stage)
    base = samples[BASELINE]
    return {
        "method": (
            f"median of {runs} fresh processes per function (after one warm-up round): the handler "
            "module's import plus its first invocation with a real event against a moto server "
            "(bench/coldstage.py), timed inside the process, with a Lambda-like environment (tracing "
            "on, the request sampled) and only the stdlib, the function, the layer's packages and the "
            "runtime's SDK importable (python -S); the baseline is a bare `import boto3`; rounds "
            "interleave the baseline and every function; CPU time leaves moto's work out"
        ),
        "runs": runs,
        "packages": distributions,
        "boto3_median_ms": round(median([s["ms"] for s in base]), 1),
        "boto3_cpu_median_ms": round(median([s["cpu_ms"] for s in base]), 1),
        "boto3_samples_ms": [round(s["ms"], 1) for s in base],
        "target_ratio": TARGET_RATIO,
        "functions": {k: v for k, v in results.items() if k not in floor_names},
        "floors": {k: v for k, v in results.items() if k in floor_names},
    }


def _summarise(
    names: list[str],
    memory: Mapping[str, int],
    samples: Mapping[str, list[dict[str, Any]]],
    errors: Mapping[str, str],
    site: Path,
    stage: Any,
) -> dict[str, Any]:
    def med(name: str, key: str) -> float:
        return median([s[key] for s in samples[name]])

    baseline, cpu_baseline = med(BASELINE, "ms"), med(BASELINE, "cpu_ms")
    results: dict[str, Any] = {}
    baseline_modules: set[str] | None = None
    for name in names:
        if name in errors:
            results[name] = {"error": errors[name]}
            continue
        entry: dict[str, Any] = {
            "median_ms": round(med(name, "ms"), 1),
            "ratio_to_boto3": round(med(name, "ms") / baseline, 2),
            "cpu_median_ms": round(med(name, "cpu_ms"), 1),
            "cpu_ratio_to_boto3": round(med(name, "cpu_ms") / cpu_baseline, 2),
            "import_median_ms": round(med(name, "import_ms"), 1),
            "import_cpu_ratio_to_boto3": round(med(name, "import_cpu_ms") / cpu_baseline, 2),
            # the process's peak resident memory after its first invocation (Linux's VmHWM)
            "max_rss_mb": round(median([s["max_rss_mb"] or 0.0 for s in samples[name]]), 1),
            "memory_mb": memory.get(name),
            "samples_ms": [round(s["ms"], 1) for s in samples[name]],
            "cpu_samples_ms": [round(s["cpu_ms"], 1) for s in samples[name]],
        }
        if entry["cpu_ratio_to_boto3"] > TARGET_RATIO and not name.startswith("floor_"):
            if baseline_modules is None:
                _, stderr = probe(None, site=site, extra_args=("-X", "importtime"))
                baseline_modules = {m for m, *_ in parse_importtime(stderr)}
            _, stderr = probe(
                name,
                memory.get(name, 512),
                site=site,
                event=stage.event_for(name),
                stage=stage.environment,
                extra_args=("-X", "importtime"),
            )
            entry["heaviest_imports"] = heaviest(parse_importtime(stderr), baseline_modules)
        results[name] = entry
    return results


def _sample(
    names: list[str],
    memory: Mapping[str, int],
    site: Path,
    stage: Any,
    runs: int,
    progress: Callable[[str], None],
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in [BASELINE, *names]}
    errors: dict[str, str] = {}
    for round_ in range(runs + 1):
        for name in [BASELINE, *names]:
            if name in errors:
                continue
            function = None if name == BASELINE else name
            try:
                timing, _ = probe(
                    function,
                    memory.get(name, 512),
                    site=site,
                    event=stage.event_for(name) if function else None,
                    stage=stage.environment if function else None,
                )
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                errors[name] = str(exc)
                progress(f"  cold start: {name} failed: {exc}")
                continue
            if round_:  # round 0 warms the bytecode caches up
                samples[name].append(timing)
        if round_:
            progress(f"  cold start: round {round_}/{runs}")
    return samples, errors


def ratios(section: Mapping[str, Any]) -> dict[str, float]:
    return {
        name: float(entry["ratio_to_boto3"])
        for name, entry in section["functions"].items()
        if "ratio_to_boto3" in entry
    }


def table(section: Mapping[str, Any]) -> str:
    """A text table of one run: wall and CPU ratios, and the import's share."""
    lines = [
        f"boto3: {section['boto3_median_ms']} ms wall, {section['boto3_cpu_median_ms']} ms CPU "
        f"(median of {section['runs']})",
        f"{'function':<18} {'wall ms':>8} {'x wall':>7} {'x CPU':>6} {'import x CPU':>13} {'RSS MB':>7}",
    ]
    for name, entry in [*section["functions"].items(), *section.get("floors", {}).items()]:
        if "error" in entry:
            lines.append(f"{name:<18} error: {entry['error']}")
            continue
        lines.append(
            f"{name:<18} {entry['median_ms']:>8} {entry['ratio_to_boto3']:>7} "
            f"{entry['cpu_ratio_to_boto3']:>6} {entry['import_cpu_ratio_to_boto3']:>13} "
            f"{entry.get('max_rss_mb', '-'):>7}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Cold start per function (import + first invocation)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", help="comma-separated function names (default: every function)")
    parser.add_argument("--out", type=Path, help="also write the section as JSON here")
    parser.add_argument("--no-floors", action="store_true", help="leave out bench/floors/")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",")] if args.only else None
    section = run(runs=args.runs, functions=names, floors=not args.no_floors)
    print(table(section))
    if args.out:
        args.out.write_text(json.dumps(section, indent=2) + "\n")


if __name__ == "__main__":
    main()
