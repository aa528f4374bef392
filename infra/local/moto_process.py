"""moto's server in a process of its own, so AWS emulation never competes with handlers for one GIL.

``python -m infra.local.moto_process --port N`` serves until its standard input closes (the stack
that started it exited, however it exited) or it gets SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.moto_process", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    from moto.server import ThreadedMotoServer

    from infra.local import moto_fixes

    moto_fixes.apply_all()
    moto_fixes.speed_up_server()
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())

    def watch_parent() -> None:
        sys.stdin.read()  # returns at end of file: the parent is gone
        stopped.set()

    threading.Thread(target=watch_parent, daemon=True).start()
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
