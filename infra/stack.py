"""Parley's stack, composed from small constructs.

Today it holds the state and the event routing (tables, bus, archive, one rule -> queue -> DLQ
per route), all built from the definitions the code itself uses. Functions, the HTTP and
WebSocket APIs and observability are added by the CDK issue on top of these constructs.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from constructs import Construct

from infra.bus import Bus
from infra.storage import Storage


class ParleyStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, retain_data: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.storage = Storage(self, "Storage", retain=retain_data)
        self.events = Bus(self, "Events", function_timeout=Duration.seconds(30))
