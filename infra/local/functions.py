"""Load a function's handler from functions/<name>/handler.py, as Lambda would, but in-process."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"

Handler = Callable[[dict[str, Any], Any], Any]
_PROVIDED: dict[str, Handler] = {}


def provide(function: str, handler: Handler) -> None:
    """Serve ``function`` with this handler (an extension loaded from outside functions/); providing
    it again replaces it, so the next delivery runs reloaded code."""
    _PROVIDED[function] = handler


def load_handler(function: str, attribute: str = "lambda_handler") -> Handler:
    provided = _PROVIDED.get(function) if attribute == "lambda_handler" else None
    return provided if provided is not None else _from_file(function, attribute)


@cache
def _from_file(function: str, attribute: str) -> Handler:
    path = FUNCTIONS_DIR / function / "handler.py"
    if not path.is_file():
        raise FileNotFoundError(f"no handler at {path}")
    spec = importlib.util.spec_from_file_location(f"parley_functions.{function}.handler", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    handler: Handler = getattr(module, attribute)
    return handler
