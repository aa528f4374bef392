"""The api Lambda starts without the extension platform: a cold start pays for the core routes only.

Importing the HTTP app in a fresh interpreter must load neither the extension SDK nor a shipped
extension. The child refuses those imports, so a failure's traceback names the chain that pulled
one in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import importlib.abc
import sys


class RefusePlatform(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        # a shipped extension is a public module of parley.extensions.builtin; its private helpers
        # (the analytics arithmetic the reports share with the api) hold no extension code
        shipped = name.startswith("parley.extensions.builtin.") and not name.split(".")[3].startswith("_")
        if name == "parley.extensions.sdk" or shipped:
            raise ImportError(f"importing the api loaded {name}")
        return None


sys.meta_path.insert(0, RefusePlatform())
import parley.http.app
"""


def _import_in_a_fresh_interpreter(module_code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/parley/python"), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-c", module_code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_child_refuses_the_platform_so_the_check_below_can_fail() -> None:
    # Given the same child, When it imports the SDK directly, Then the refusal names the module
    result = _import_in_a_fresh_interpreter(
        CHILD.replace("import parley.http.app", "import parley.extensions.sdk")
    )
    assert result.returncode != 0
    assert "importing the api loaded parley.extensions.sdk" in result.stderr


def test_apart_from_the_analytics_route_the_http_app_loads_no_extension_code() -> None:
    # Given the analytics route replaced by an empty router (its reports live in services/analytics.py)
    stub = (
        "import sys, types\n"
        "from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter\n"
        "stub = types.ModuleType('parley.http.routes.analytics')\n"
        "stub.router = APIGatewayHttpRouter()\n"
        "sys.modules['parley.http.routes.analytics'] = stub\n"
    )

    # When the api's module is imported in a fresh interpreter
    result = _import_in_a_fresh_interpreter(stub + CHILD)

    # Then every other route, the models, the context and the container import cleanly
    assert result.returncode == 0, result.stderr


def test_importing_the_http_app_loads_neither_the_extension_sdk_nor_an_extension() -> None:
    # When the api's module is imported in a fresh interpreter
    result = _import_in_a_fresh_interpreter(CHILD)

    # Then it imports cleanly: no extension SDK, no shipped extension (the traceback names the chain)
    assert result.returncode == 0, result.stderr


def test_importing_the_http_app_leaves_the_openapi_document_models_for_the_docs_routes() -> None:
    # When the api's module is imported in a fresh interpreter
    result = _import_in_a_fresh_interpreter(
        "import sys, parley.http.app\n"
        "print('aws_lambda_powertools.event_handler.openapi.models' in sys.modules)\n"
    )

    # Then Powertools' OpenAPI document models are not loaded (only /docs and /openapi.json need them)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
