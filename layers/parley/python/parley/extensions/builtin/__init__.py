"""The extensions that ship with Parley. Each module declares ``extension`` (manifest + handlers);
its Lambda is ``functions/ext_<id>/handler.py``, like any author's would be. Their routes are
composed with the core's in ``parley.topology``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parley.extensions.manifest import Manifest
    from parley.extensions.sdk import Extension

BUILTIN: tuple[str, ...] = tuple(
    sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
)
"""Every module of this package is a shipped extension: adding one is adding a module (and its
``functions/ext_<id>/handler.py``)."""


def extension(extension_id: str) -> Extension[Any]:
    module = importlib.import_module(f"parley.extensions.builtin.{extension_id}")
    found: Extension[Any] = module.extension
    return found


@cache
def manifests() -> tuple[Manifest, ...]:
    return tuple(extension(i).manifest for i in BUILTIN)
