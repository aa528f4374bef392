"""Write the extensions' context rows of chats created before context rows existed (run once).

Against the tables the ``PARLEY_*`` settings name (a deployed stage, or the local stack's):

    python -m scripts.backfill_contexts

A chat's rows are otherwise written by the core with every change an extension may see, so a chat
left untouched since the upgrade would give its extensions no context until this runs. Rows the core
already wrote are kept; running it twice writes nothing the second time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from parley.adapters import tables
from parley.adapters.contexts import backfill
from parley.settings import settings


def main() -> None:
    tables.bind(settings())
    print(f"backfill_contexts: {backfill(datetime.now(UTC))} context rows written")


if __name__ == "__main__":
    main()
