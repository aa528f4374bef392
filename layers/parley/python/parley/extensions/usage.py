"""What the SDK counts of each extension (its usage metrics) and what operators read back: the
names, the list prices of the estimate and the answer's model (the API, the dashboard and the Python
client share them)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

USAGE_METRICS = ("ExtensionInvocations", "ExtensionEvents", "ExtensionWrites")
USAGE_USD = {
    # one Lambda request and its delivery's three SQS requests (send, receive, delete)
    "ExtensionInvocations": 0.2e-6 + 3 * 0.4e-6,
    # one write request unit (rows of 1 KB or less)
    "ExtensionWrites": 0.625e-6,
}
"""The estimate of an extension's $: list prices (bench/prices.json, checked by a test) times what
it reports; Lambda duration and reads are left out."""


class ExtensionUsage(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    extension_id: str
    day: date = Field(description="The UTC day the figures cover.")
    invocations: int = Field(description="Invocations of the extension's function (`ExtensionInvocations`).")
    events: int = Field(description="Events its handlers ran on (`ExtensionEvents`).")
    writes: int = Field(description="Writes through its store, delivery claims included (`ExtensionWrites`).")
    estimated_usd: float = Field(
        description="An invocation with its delivery's three SQS requests at $0.0000014, a write at "
        "$0.000000625 (list prices); duration and reads left out."
    )
