"""Tickets for the WebSocket handshake."""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from parley.http.context import identity_of
from parley.http.contract import SIGNED_IN, ok, responses
from parley.root import realtime_service

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


class TicketOut(BaseModel):
    model_config = ConfigDict(defer_build=True)

    ticket: str = Field(description="Single use, valid for 60 s.")
    url: str = Field(description="The WebSocket URL with the ticket: connect to it as it is.")
    expires_at: datetime


@router.post(
    "/realtime/tickets",
    summary="A single-use ticket to open a WebSocket",
    operation_id="create_ticket",
    security=SIGNED_IN,
    responses=responses(ok(201, "The ticket and the URL to connect to"), {}),
)
def create_ticket() -> Response[TicketOut]:
    ticket = realtime_service().issue_ticket(identity_of(router.current_event.raw_event))
    body = TicketOut(ticket=ticket.ticket, url=ticket.url, expires_at=ticket.expires_at)
    return Response(status_code=201, body=body, content_type="application/json")
