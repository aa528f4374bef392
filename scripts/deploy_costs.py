"""docs/deploy.md's per-million cost table, written from `make bench`'s figures (bench/results.json).

The table sits between two markers in the doc; ``--check`` fails when it differs from what the
results give (run after `make bench`, then ``python -m scripts.deploy_costs`` to rewrite it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "deploy.md"
BEGIN = "<!-- cost-per-million: written by `python -m scripts.deploy_costs` from bench/results.json -->"
END = "<!-- end cost-per-million -->"
LABELS = {
    "http_api": "HTTP API request",
    "lambda_requests": "Lambda requests (api, broadcaster, extensions)",
    "lambda_duration": "Lambda duration (arm64)",
    "eventbridge": "EventBridge events",
    "sqs": "SQS deliveries (send, receive, delete per route)",
    "dynamodb_writes": "DynamoDB writes",
    "dynamodb_reads": "DynamoDB reads",
    "dynamodb_storage": "DynamoDB storage (rows kept, per month of retention)",
    "websocket_messages": "WebSocket pushes (broadcaster to each socket)",
    "websocket_connection_minutes": "WebSocket connection minutes",
    "gsi_writes": "DynamoDB index writes (global secondary indexes)",
    "logs": "CloudWatch Logs ingestion (at each function's log levels)",
    "xray": "X-Ray traces (the api, sampled)",
    "pitr": "DynamoDB point-in-time recovery (per month of retention)",
    "init": "Lambda INIT (cold starts, billed)",
    "data_transfer": "Data transfer out (pushes, HTTP responses)",
    "archive": "EventBridge archive",
}


class StaleCostTableError(RuntimeError):
    """docs/deploy.md's cost table is not what bench/results.json gives."""


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def render(results: Mapping[str, Any]) -> str:
    """The markdown table: each price line per million messages, core and with the shipped extensions,
    for each measured number of sockets per chat."""
    costs: Mapping[str, Any] = results["cost_per_million"]
    sockets = sorted(costs, key=int)
    header = ["item"]
    for n in sockets:
        header += [f"core, {n} sockets", f"with extensions, {n} sockets"]
    rows = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    names = [name for name in LABELS if name in costs[sockets[0]]["lines"]]
    names += sorted(set(costs[sockets[0]]["lines"]) - set(LABELS))
    for name in names:
        cells = [LABELS.get(name, name)]
        for n in sockets:
            cells += [_usd(costs[n]["core_lines"].get(name, 0.0)), _usd(costs[n]["lines"][name])]
        rows.append("| " + " | ".join(cells) + " |")
    total = ["**total**"]
    for n in sockets:
        total += [f"**{_usd(costs[n]['core_usd'])}**", f"**{_usd(costs[n]['usd'])}**"]
    rows.append("| " + " | ".join(total) + " |")
    measured = results.get("measured_at", {}).get("requests", "?")
    prices = results.get("prices", {}).get("as_of", "?")
    rows += [
        "",
        f"Measured by `make bench` ({measured}; list prices as of {prices}, `bench/prices.json`): "
        "the real handlers on moto, one `POST /chats/{id}/messages` with that many sockets subscribed "
        "to the chat, counting every AWS request and DynamoDB unit. "
        f"{costs[sockets[0]]['scope']}.",
    ]
    return "\n".join([BEGIN, *rows, END])


def replace_block(doc: str, block: str) -> str:
    start, end = doc.index(BEGIN), doc.index(END) + len(END)
    return doc[:start] + block + doc[end:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.deploy_costs", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="fail if docs/deploy.md's table is stale")
    args = parser.parse_args(argv)
    doc = DOC.read_text()
    current = replace_block(doc, render(json.loads(RESULTS.read_text())))
    if args.check:
        if current != doc:
            raise StaleCostTableError(
                "docs/deploy.md's cost table is stale: run `python -m scripts.deploy_costs`"
            )
        return 0
    DOC.write_text(current)
    print(f"wrote the cost table of {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
