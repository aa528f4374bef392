"""`replay --route NAME --from T --to T [--local]`: deliver a time window of events again to one
route (a core route or an extension's ``ext_<id>``). In AWS: EventBridge StartReplay from the bus's
archive, limited to the route's own rule; with ``--local``: the local stack's own event log into the
route's queue, which its dispatcher delivers. Consumers are idempotent: a replay changes nothing
twice."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from parley.adapters.replay import ReplaySetupError
from parley.errors import ParleyError
from parley.root import bound_settings
from parley.services.replay import ReplayService
from parley.topology import all_routes

KEPT_BY_THE_RELAY = {"inbox": "make rebuild-inbox (python -m parley.ops.inbox in AWS)"}
"""Read models the relay keeps from the events table's stream (no rule, queue or route of their own):
what catches one up is its rebuild from the chats' logs."""


def _time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def replay(
    route_name: str,
    start: datetime,
    end: datetime,
    *,
    local: bool = False,
    name: str | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Exit status 0 when the replay started (AWS) or its events were queued (local), 2 otherwise."""
    if route_name in KEPT_BY_THE_RELAY:
        print(
            f"{route_name} is kept by the relay from the events table's stream, not by a bus route: "
            f"rebuild it from the chats' logs with {KEPT_BY_THE_RELAY[route_name]}",
            file=out,
        )
        return 2
    streamed = {r.name for r in all_routes() if r.delivery == "stream"}
    if route_name in streamed:
        # no rule or queue: they read the events table's stream. A client resumes with
        # after_sequence; what the relay put on the bus is what the archive replays to the rules
        print(
            f"{route_name} reads the events table's stream, not the bus: replay the routes it feeds "
            f"(sockets resume with after_sequence)",
            file=out,
        )
        return 2
    routes = {r.name: r for r in all_routes() if r.name not in streamed}
    if route_name not in routes or start >= end:
        print(f"unknown route {route_name!r} or an empty window; routes: {', '.join(routes)}", file=out)
        return 2
    config = bound_settings()
    service = ReplayService(region=config.region, bus_name=config.bus_name)
    name = name or f"{route_name}-{start:%Y%m%dT%H%M%S}-{datetime.now(UTC):%H%M%S}".replace("_", "-")
    try:
        if local:
            done = service.from_log(routes[route_name], start, end, name)
            print(f"{name}: {done.sent} event(s) from the log queued for {route_name}", file=out)
        else:
            started = service.from_archive(routes[route_name], start, end, name)
            print(f"{name}: {started.state}, from {started.archive_arn} to {started.rule_arn}", file=out)
    except (ParleyError, ReplaySetupError) as exc:
        print(f"{name}: {exc}", file=out)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="replay", description=__doc__)
    parser.add_argument("--route", required=True, help="a route name, e.g. turns, backfill or ext_analytics")
    parser.add_argument(
        "--from", dest="start", required=True, type=_time, help="ISO 8601 time (UTC if no zone)"
    )
    parser.add_argument("--to", dest="end", required=True, type=_time, help="ISO 8601 time")
    parser.add_argument("--name", help="the replay's name (default: route and times)")
    parser.add_argument("--local", action="store_true", help="replay the local stack's own log")
    args = parser.parse_args(argv)
    return replay(args.route, args.start, args.end, local=args.local, name=args.name)


if __name__ == "__main__":
    sys.exit(main())
