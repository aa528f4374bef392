"""`make rebuild`, `make rebuild-inbox` and `make replay`: the operators' commands (``parley.ops``),
pointed at the running local stack's moto (its endpoint comes from the gateway's /local/stats).

``python -m infra.local.ops rebuild|inbox|replay ARGS``: the first word picks the command."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence


def local_endpoint(base: str) -> str:
    """The AWS endpoint the running local stack's Lambdas use."""
    with urllib.request.urlopen(f"{base}/local/stats", timeout=30) as response:
        return str(json.loads(response.read())["aws_endpoint"])


def point_at_local_stack() -> bool:
    """Point boto3 at the running local stack (fake credentials, its region); False if none answers."""
    base = f"http://127.0.0.1:{os.environ.get('PARLEY_PORT', '8000')}"
    try:
        endpoint = local_endpoint(base)
    except urllib.error.URLError as exc:
        print(f"no local stack answers at {base} ({exc.reason}); start it with `make dev`", file=sys.stderr)
        return False
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    return True


def main(argv: Sequence[str] | None = None) -> int:
    if not point_at_local_stack():
        return 2
    # settings are read once: these import after the environment is set
    command, *args = list(sys.argv[1:] if argv is None else argv) or ["help"]
    if command == "inbox":
        from parley.ops.inbox import main as inbox_main

        return inbox_main(args)
    if command == "replay":
        from parley.ops.replay import main as replay_main

        return replay_main([*args, "--local"])
    if command == "rebuild":
        from parley.ops.rebuild import main as rebuild_main

        return rebuild_main(args)
    print("usage: python -m infra.local.ops rebuild|inbox|replay ARGS", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
