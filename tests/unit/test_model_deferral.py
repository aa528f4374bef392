"""The layer's pydantic models build their validators on first use (``defer_build``), not at import:
a function that parses one event type or serves one route pays for those models only, not for the
whole catalog, the HTTP bodies or the manifests (`make bench`'s cold start measures it)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

import parley

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import parley.catalog, parley.domain.model, parley.http.models, parley.realtime.frames
from pydantic import ValidationError
from parley.catalog import MessageStored, UserJoined
from parley.http.models import ChatOut

before = [m.__name__ for m in (MessageStored, UserJoined, ChatOut) if m.__pydantic_complete__]
try:
    MessageStored.model_validate({})  # invalid on purpose: validating builds the model either way
except ValidationError:
    pass
print(before, MessageStored.__pydantic_complete__, UserJoined.__pydantic_complete__)
"""


def _layer_models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for info in pkgutil.walk_packages(parley.__path__, "parley."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == info.name:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def test_every_model_of_the_layer_defers_its_build() -> None:
    models = _layer_models()
    assert len(models) > 100  # the catalog, the HTTP bodies, frames, manifests, hooks, reports
    eager = sorted(
        f"{m.__module__}.{m.__qualname__}" for m in models if not m.model_config.get("defer_build")
    )
    assert eager == []


def test_importing_the_models_builds_none_until_one_is_used() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/parley/python"), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    # nothing built at import; validating one event builds that one, not its neighbours
    assert result.stdout.split() == ["[]", "True", "False"]
