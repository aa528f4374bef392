"""`make tail`: print the running local stack's bus events and log lines as they happen.

make tail                                  # everything
make tail TAIL_ARGS="--type sentiment.scored,ExtensionFailed --source parley.ext."
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any


def line(entry: dict[str, Any]) -> str:
    """One entry on one line: time, kind, type, source, then what says most about it."""
    clock = str(entry.get("at", ""))[11:23]
    if entry["kind"] == "event":
        data = (entry.get("detail") or {}).get("data") or {}
        name = f" {entry['name']}" if entry.get("name") else ""
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        chat = entry.get("chat_id")
        return f"{clock} event   {entry['type']}{name}  {entry['source']}  chat={chat}  {body[:300]}"
    fields = " ".join(f"{k}={v}" for k, v in (entry.get("fields") or {}).items())
    return f"{clock} {entry['type']:<7} {entry['source']}  {entry.get('message')}  {fields}".rstrip()


def fetch(base: str, query: dict[str, str]) -> dict[str, Any]:
    url = f"{base}/local/events?{urllib.parse.urlencode({k: v for k, v in query.items() if v})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        page: dict[str, Any] = json.load(response)
        return page


def follow(
    base: str, query: dict[str, str], *, every: float, out: Callable[[str], None], rounds: int | None = None
) -> None:
    """Print what is new, every ``every`` seconds (``rounds`` bounds it, for tests)."""
    after = int(query.pop("after", "0") or 0)
    n = 0
    while rounds is None or n < rounds:
        page = fetch(base, {**query, "after": str(after)})
        for entry in page["items"]:
            out(line(entry))
        after = max([after, *(e["n"] for e in page["items"])])
        n += 1
        if rounds is None or n < rounds:
            time.sleep(every)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make tail", description=__doc__)
    port = os.environ.get("PARLEY_PORT", "8000")
    parser.add_argument("--url", default=f"http://127.0.0.1:{port}", help="the local stack's base URL")
    parser.add_argument("--type", default="", help="detail-types, extension event names or log levels")
    parser.add_argument("--source", default="", help="a bus source or function name prefix")
    parser.add_argument("--kind", choices=("event", "log"), default="")
    parser.add_argument("--chat", default="", help="one chat id")
    parser.add_argument("--last", type=int, default=20, help="how many past entries to print first")
    parser.add_argument("--once", action="store_true", help="print the past entries and stop")
    args = parser.parse_args(argv)
    query = {"type": args.type, "source": args.source, "kind": args.kind, "chat_id": args.chat}
    try:
        backlog = fetch(args.url, {**query, "limit": str(max(1, args.last))})
        for entry in backlog["items"][-args.last :] if args.last else []:
            print(line(entry), flush=True)
        if args.once:
            return 0
        follow(
            args.url, {**query, "after": str(backlog["last"])}, every=0.5, out=lambda s: print(s, flush=True)
        )
    except urllib.error.URLError as exc:
        print(f"no local stack at {args.url} ({exc.reason}): start it with `make dev`", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
