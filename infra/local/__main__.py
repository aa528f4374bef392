"""`python -m infra.local` (what `make dev` runs): start the local stack in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make dev", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PARLEY_PORT", "8000")))
    args = parser.parse_args(argv)

    # before anything imports Powertools: its Logger and Metrics read these once
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", os.environ.get("PARLEY_LOG_LEVEL", "WARNING"))
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "parley-local")
    from infra.local.stack import LocalStack

    stack = LocalStack(host=args.host, port=args.port)
    try:
        stack.start(progress=lambda line: print(line, flush=True))
    except OSError as exc:
        print(f"could not start: {exc} (is port {args.port} taken? set PARLEY_PORT)", file=sys.stderr)
        return 1
    except (RuntimeError, ValueError) as exc:
        print(f"could not start: {exc}", file=sys.stderr)
        return 1
    base = stack.base_url
    print(
        "\nParley is running (state is in memory: it is gone when you stop)\n"
        f"  web client   {base}/\n"
        f"  HTTP API     {base}   (sign in: POST {base}/local/token)\n"
        f"  WebSocket    ws://{args.host}:{args.port}/ws?ticket=...\n"
        f"  API docs     {base}/docs\n"
        f"  bus stats    {base}/local/stats\n"
        f"  faults       {base}/local/faults   (seed {stack.faults.seed})\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    print("\nstopping...", flush=True)
    stack.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
