"""WebSocket use cases: tickets, connect and disconnect, and the client actions."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from parley.adapters.connections import ConnectionInfo, ConnectionRepository
from parley.adapters.dynamodb import ChatRepository
from parley.catalog import CLIENT_VISIBLE, Role, TypingStarted, TypingStopped, new_event, parse_detail
from parley.clock import utc_now
from parley.domain import audience
from parley.domain.extensions import routed_to
from parley.domain.model import Chat
from parley.domain.slash import unescaped
from parley.errors import ParleyError
from parley.observability import logger
from parley.ports import ConnectionGoneError, Pusher
from parley.realtime.fanout import Broadcaster
from parley.realtime.frames import (
    MAX_REPLAY_EVENTS,
    ClientAction,
    Frame,
    Ping,
    SendMessage,
    SubmitAction,
    Subscribe,
    SubscribedData,
    Typing,
    Unsubscribe,
    error_frame,
    frame_of,
    withheld_frame,
)
from parley.realtime.presence import Presence
from parley.services.chats import ChatService, Identity
from parley.services.outbox import Outbox
from parley.services.slash import NotACommand, SlashCommands

_ACTION = TypeAdapter[ClientAction](ClientAction)
REPLAY_PAGE = 200
MAX_LISTED_PROBLEMS = 10
"""An Error frame names at most this many problems: a frame of 4,000 bad keys gets a short answer."""
MAX_FIELD_CHARS = 100
"""Field names echo the client's keys; they are cut so the answer stays small."""


class TicketMissingError(ParleyError):
    code = "ticket_missing"


class TicketRejectedError(ParleyError):
    """Forged, expired or already used: the handshake is refused."""

    code = "ticket_rejected"


@dataclass(frozen=True)
class Replay:
    pushed: int
    through: int | None
    complete: bool


@dataclass(frozen=True)
class Ticket:
    ticket: str
    url: str
    expires_at: datetime


class RealtimeService:
    def __init__(
        self,
        connections: ConnectionRepository,
        chats: ChatRepository,
        chat_service: ChatService,
        outbox: Outbox,
        pusher: Pusher,
        *,
        websocket_url: str,
        ticket_ttl_seconds: int = 60,
        typing_throttle_seconds: float = 3.0,
        clock: Callable[[], datetime] = utc_now,
        broadcaster: Broadcaster | None = None,
        commands: SlashCommands | None = None,
    ) -> None:
        self._commands = commands
        self._connections = connections
        self._chats = chats
        self._chat_service = chat_service
        self._outbox = outbox
        self._pusher = pusher
        self._websocket_url = websocket_url
        self._ticket_ttl = timedelta(seconds=ticket_ttl_seconds)
        self._typing_every = timedelta(seconds=typing_throttle_seconds)
        self._clock = clock
        self._broadcaster = broadcaster
        self._presence = Presence(connections, outbox, pusher, clock=clock, broadcaster=broadcaster)

    # -- handshake ---------------------------------------------------------------------------------

    def issue_ticket(self, who: Identity) -> Ticket:
        """A short-lived, single-use ticket: browsers cannot set headers on a WebSocket."""
        ticket = secrets.token_urlsafe(32)
        # whole seconds: the TTL attribute stores no fraction, so the advertised expiry must not either
        expires_at = (self._clock() + self._ticket_ttl).replace(microsecond=0)
        self._connections.put_ticket(ticket, user_id=who.user_id, name=who.name, expires_at=expires_at)
        return Ticket(ticket, f"{self._websocket_url}?ticket={ticket}", expires_at)

    def authorize(self, ticket: str | None) -> Identity:
        if not ticket:
            raise TicketMissingError("connect with ?ticket= from POST /realtime/tickets")
        redeemed = self._connections.redeem_ticket(ticket, now=self._clock())
        if redeemed is None:
            raise TicketRejectedError("the ticket is unknown, expired or already used")
        return Identity(user_id=redeemed[0], name=redeemed[1])

    def connect(self, connection_id: str, who: Identity) -> None:
        self._connections.add_connection(connection_id, user_id=who.user_id, name=who.name, now=self._clock())

    def disconnect(self, connection_id: str) -> None:
        gone = self._connections.connection(connection_id, now=self._clock())
        self._connections.remove_connection(connection_id)
        if gone is not None:
            who = Identity(gone.user_id, gone.name)
            for chat_id in sorted(gone.chats):
                self._presence.left(chat_id, who.actor)

    # -- actions -----------------------------------------------------------------------------------

    def handle(self, connection_id: str, body: str | None, *, correlation_id: str | None = None) -> Frame:
        """Run one client action; the returned frame is the reply to that action.

        It never raises: API Gateway would answer a raised error with a frame outside the protocol.
        """
        try:
            action = _ACTION.validate_json(body or "")
        except ValidationError as exc:
            return _invalid_action(exc)
        chat_id = getattr(action, "chat_id", None)
        try:
            connection = self._connections.connection(connection_id, now=self._clock())
            if connection is None:
                return error_frame(
                    "not_connected", "this connection is unknown or expired", action=action.action
                )
            who = Identity(connection.user_id, connection.name)
            return self._dispatch(action, connection, who, correlation_id)
        except ParleyError as exc:
            details = {
                k: v for k, v in exc.details.items() if k not in {"chat_id", "action", "code", "message"}
            }
            return error_frame(exc.code, exc.message, action=action.action, chat_id=chat_id, **details)
        except Exception:
            # the HTTP API's catch-all answers 500 the same way: logged here, a typed frame for the client
            logger.exception(
                "realtime action failed", extra={"connection_id": connection_id, "action": action.action}
            )
            return error_frame(
                "internal_error",
                "the action failed; it has been logged",
                action=action.action,
                chat_id=chat_id,
            )

    def _dispatch(
        self, action: ClientAction, connection: ConnectionInfo, who: Identity, correlation_id: str | None
    ) -> Frame:
        match action:
            case Ping():
                return Frame(type="pong")
            case Subscribe():
                subscribed = self._subscribe(action, connection, who)
                self._presence.arrived(action.chat_id, connection.connection_id, who.actor)
                return subscribed
            case Unsubscribe():
                self._connections.unsubscribe(connection.connection_id, action.chat_id)
                if action.chat_id in connection.chats:
                    self._presence.left(action.chat_id, who.actor)
                return Frame(type="Unsubscribed", chat_id=action.chat_id)
            case Typing():
                return self._typing(action, who, correlation_id)
            case SubmitAction():
                return self._submit(action, who, correlation_id)
            case SendMessage():
                routed = self._command(action, who, correlation_id)
                if isinstance(routed, Frame):
                    return routed
                result = self._chat_service.post_message(
                    who,
                    action.chat_id,
                    text=unescaped(action.text),
                    client_message_id=action.client_message_id,
                    correlation_id=correlation_id,
                    to=action.to,
                    preloaded=routed.read,
                )
                return Frame(
                    type="Ack",
                    chat_id=action.chat_id,
                    data={
                        "action": "sendMessage",
                        "replayed": result.replayed,
                        "message": result.message.model_dump(mode="json"),
                    },
                )

    def _command(self, action: SendMessage, who: Identity, correlation_id: str | None) -> Frame | NotACommand:
        """A slash command sent over the socket, as over HTTP: acknowledged with its command id; or a
        message, with the chat the check read (if it read it)."""
        if self._commands is None or action.to is not None:
            return NotACommand()
        accepted = self._commands.invoke(
            who,
            action.chat_id,
            text=action.text,
            client_message_id=action.client_message_id,
            correlation_id=correlation_id,
        )
        if isinstance(accepted, NotACommand):
            return accepted
        return Frame(
            type="Ack",
            chat_id=action.chat_id,
            data={"action": "sendMessage", "command": {**vars(accepted), "args": list(accepted.args)}},
        )

    def _submit(self, action: SubmitAction, who: Identity, correlation_id: str | None) -> Frame:
        submission = self._chat_service.interactions.submit(
            who,
            action.chat_id,
            action.message_id,
            action_id=action.action_id,
            values=action.values,
            client_action_id=action.client_action_id,
            correlation_id=correlation_id,
        )
        return Frame(
            type="Ack",
            chat_id=action.chat_id,
            data={
                "action": "submitAction",
                "submission_id": submission.submission_id,
                "replayed": submission.replayed,
                "client_action_id": action.client_action_id,
            },
        )

    def _subscribe(self, action: Subscribe, connection: ConnectionInfo, who: Identity) -> Frame:
        chat = self._chat_service.get_chat(who, action.chat_id)  # members only (404 otherwise)
        self._connections.subscribe(
            connection.connection_id, action.chat_id, user_id=who.user_id, now=self._clock()
        )
        replay = Replay(pushed=0, through=action.after_sequence, complete=True)
        if action.after_sequence is not None:
            # subscribed first, then replayed: nothing falls in between (a frame may come twice;
            # clients drop sequences they already have)
            replay = self._replay(
                connection.connection_id,
                action.chat_id,
                action.after_sequence,
                viewer=who.user_id,
                role=chat.role_of(who.user_id),
                chat=chat,
            )
        return Frame(
            type="Subscribed",
            chat_id=action.chat_id,
            sequence=chat.last_event_sequence,
            data=SubscribedData(
                replayed=replay.pushed,
                last_message_sequence=chat.last_message_sequence,
                replayed_through=replay.through,
                complete=replay.complete,
                connection_id=connection.connection_id,
            ).model_dump(mode="json"),
        )

    def _replay(
        self,
        connection_id: str,
        chat_id: str,
        after: int,
        *,
        viewer: str,
        role: Role | None,
        chat: Chat | None = None,
    ) -> Replay:
        """Push the events after ``after``, at most MAX_REPLAY_EVENTS rows of the log (a bounded
        answer for a client that was away long; it reads the rest over HTTP)."""
        pushed, read = 0, 0
        while True:
            limit = min(REPLAY_PAGE, MAX_REPLAY_EVENTS - read)
            details, more = self._chats.events(chat_id, after=after, limit=limit)
            # as GET events reads them: what this member may not see is its Withheld marker, the
            # rest as the chat's read filters let the viewer read it
            screened = audience.screen_details(details, viewer, role)
            for detail in self._chat_service.readable(chat, viewer, screened) if chat else screened:
                after, read = int(detail["metadata"]["sequence"]), read + 1
                frame = _replay_frame(chat_id, detail)
                if frame is None:
                    continue
                try:
                    self._pusher.push(connection_id, frame.encode())
                except ConnectionGoneError:
                    self._connections.remove_connection(connection_id)
                    return Replay(pushed, after, complete=False)
                pushed += 1
            if not more:
                return Replay(pushed, after, complete=True)
            if read >= MAX_REPLAY_EVENTS:
                return Replay(pushed, after, complete=False)

    def _typing(self, action: Typing, who: Identity, correlation_id: str | None) -> Frame:
        chat = self._chat_service.get_chat(who, action.chat_id)
        now = self._clock()
        if action.typing and not self._connections.claim_typing_slot(
            chat.chat_id, who.user_id, now=now, every=self._typing_every
        ):
            return Frame(type="Ack", chat_id=chat.chat_id, data={"action": "typing", "throttled": True})
        data: Any = (
            TypingStarted(participant_id=who.user_id)
            if action.typing
            else TypingStopped(participant_id=who.user_id)
        )
        envelope = new_event(
            data,
            chat_id=chat.chat_id,
            actor=who.actor,
            correlation_id=correlation_id,
            extensions=routed_to(chat, data),
        )
        # never stored, so never on the events table's stream: pushed here (routing.PUSHED_BY_PRODUCER)
        if self._broadcaster is not None:
            self._broadcaster.broadcast(envelope)
        self._outbox.publish_unsequenced([envelope])
        return Frame(type="Ack", chat_id=chat.chat_id, data={"action": "typing", "throttled": False})


def _replay_frame(chat_id: str, detail: dict[str, Any]) -> Frame | None:
    """A screened event-log row as the frame a replay pushes (None for events never pushed)."""
    meta = detail["metadata"]
    if meta["event_type"] == audience.WITHHELD:
        return withheld_frame(chat_id, int(meta["sequence"]))
    return frame_of(parse_detail(detail)) if meta["event_type"] in CLIENT_VISIBLE else None


def _invalid_action(exc: ValidationError) -> Frame:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    problems = [
        {"field": ".".join(str(p) for p in e["loc"])[:MAX_FIELD_CHARS], "problem": e["msg"]}
        for e in errors[:MAX_LISTED_PROBLEMS]
    ]
    extra: dict[str, Any] = (
        {"more_problems": len(errors) - len(problems)} if len(errors) > len(problems) else {}
    )
    return error_frame("invalid_action", "the frame is not a valid action", fields=problems, **extra)
