"""`inbox [chat_id ...]`: rebuild the inbox table from the chats' event logs (every chat when none is
named): the whispers' rows, and each chat's latest public message and posters' markers, which GET
/chats reads only for a chat whose head carries no preview yet (one not posted in since heads carry
it: the head itself is written by each post's own transaction, nothing to rebuild). Explicit read
markers are in no log. Rows only move forward, so it is safe while the stack runs and safe to repeat."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from parley.root import inbox_service
from parley.services.inbox import InboxService


def rebuild_inbox(
    chat_ids: Sequence[str], *, out: TextIO = sys.stdout, service: InboxService | None = None
) -> int:
    service = service or inbox_service()
    if not chat_ids:
        print(f"inbox rebuilt from the logs of {service.rebuild_all()} chat(s)", file=out)
        return 0
    for chat_id in chat_ids:
        folded = service.rebuild(chat_id)
        last = folded.last.sequence if folded.last else 0
        counts = f"{len(folded.markers)} poster marker(s), {len(folded.private)} whisper(s)"
        print(f"{chat_id}: latest message {last}, {counts}", file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inbox", description=__doc__)
    parser.add_argument("chat_ids", nargs="*")
    return rebuild_inbox(parser.parse_args(argv).chat_ids)


if __name__ == "__main__":
    sys.exit(main())
