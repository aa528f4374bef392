"""`rebuild <chat_id> [--check]`: compare a chat's stored item with the fold of its event log, or
repair the item from the log. Reads the tables named by the PARLEY_*_TABLE settings with the ambient
AWS credentials (``AWS_ENDPOINT_URL`` points it at the local stack's moto)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from parley.errors import ParleyError
from parley.root import rebuild_service
from parley.services.rebuild import RebuildReport, RebuildService


def _print(report: RebuildReport, out: TextIO) -> None:
    for difference in report.differences:
        print(f"  {difference}", file=out)
    if not report.differences:
        print(f"{report.chat_id}: stored state matches its log ({report.events} events)", file=out)
    elif report.repaired:
        print(f"{report.chat_id}: repaired {len(report.differences)} fact(s) from the log", file=out)
    else:
        print(f"{report.chat_id}: {len(report.differences)} fact(s) differ from the log", file=out)


def rebuild(
    chat_id: str, check: bool, *, out: TextIO = sys.stdout, service: RebuildService | None = None
) -> int:
    """Exit status: 0 when the item agrees with its log (or was repaired), 1 when ``check`` found
    differences, 2 when the chat is missing or the repair lost a race (run it again)."""
    service = service or rebuild_service()
    try:
        report = service.check(chat_id) if check else service.repair(chat_id)
    except ParleyError as exc:
        print(f"{chat_id}: {exc}", file=out)
        return 2
    _print(report, out)
    return 1 if check and report.differences else 0


def parser() -> argparse.ArgumentParser:
    parsed = argparse.ArgumentParser(prog="rebuild", description=__doc__)
    parsed.add_argument("chat_id")
    parsed.add_argument("--check", action="store_true", help="only compare; exit 1 on differences")
    return parsed


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return rebuild(args.chat_id, args.check)


if __name__ == "__main__":
    sys.exit(main())
