"""`make redrive`: ask the running local stack to put dead-lettered events back on their queues."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    base = f"http://127.0.0.1:{os.environ.get('PARLEY_PORT', '8000')}"
    request = urllib.request.Request(f"{base}/local/redrive", method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            moved = json.loads(response.read())["moved"]
    except urllib.error.URLError as exc:
        print(f"no local stack answers at {base} ({exc.reason}); start it with `make dev`", file=sys.stderr)
        return 1
    for route, count in moved.items():
        print(f"{route}: {count} event(s) put back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
