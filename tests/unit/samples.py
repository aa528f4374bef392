"""One minimal, valid ``data`` instance per catalogued event type, shared by the unit tests.

``test_catalog`` asserts that this table covers the catalog exactly, so a new event type cannot be
added without a sample (and therefore without its round-trip and schema tests).
"""

from __future__ import annotations

from datetime import UTC, datetime

from parley.blocks import parse_blocks
from parley.catalog import (
    AIContextContributed,
    AIResponseChunk,
    AIResponseCompleted,
    AIResponseFailed,
    AIResponseRequested,
    AIResponseStarted,
    ChatCompleted,
    ChatCreated,
    ChatSettingsChanged,
    EphemeralMessage,
    EventData,
    ExtensionActivated,
    ExtensionConfigChanged,
    ExtensionDeactivated,
    ExtensionDisabled,
    ExtensionEphemeralRequested,
    ExtensionEvent,
    ExtensionEventRejected,
    ExtensionFailed,
    ExtensionFloorRequested,
    ExtensionInstalled,
    ExtensionMessageRequested,
    ExtensionMessageUpdateRequested,
    ExtensionRecovered,
    ExtensionSettingsRequested,
    ExtensionShadowChanged,
    ExtensionShadowOutput,
    ExtensionUninstalled,
    HandlerFailed,
    InteractionSubmitted,
    MessageModerated,
    MessageRejected,
    MessageStored,
    MessageUpdated,
    MessageView,
    ParticipantView,
    PresenceChanged,
    ReadMarkerMoved,
    ScheduleReached,
    SlashCommandInvoked,
    StepOutcome,
    TurnChanged,
    TurnValidationRequested,
    TypingStarted,
    TypingStopped,
    UserJoined,
    UserLeft,
    Withheld,
    WorkflowRun,
    WorkflowRunReported,
)

SAMPLE_TIME = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)

SAMPLE_POLL = {
    "type": "poll",
    "action_id": "vote",
    "question": "Lunch?",
    "options": [{"id": "pizza", "label": "Pizza", "count": 2}, {"id": "sushi", "label": "Sushi"}],
    "closed": True,
}

ALICE_VIEW = ParticipantView(id="user-alice", name="Alice", kind="human", role="owner")
BOT_VIEW = ParticipantView(id="ai-bot", name="Bot", kind="ai", role="member")


def message_view(text: str = "hello, world", *, sequence: int = 1) -> MessageView:
    return MessageView(
        message_id="msg-1",
        chat_id="chat-1",
        sequence=sequence,
        sender_id="user-alice",
        sender_name="Alice",
        sender_kind="human",
        text=text,
        client_message_id="client-1",
        created_at=SAMPLE_TIME,
    )


def message_stored(text: str = "hello, world") -> MessageStored:
    return MessageStored(message=message_view(text), turn_mode="round_robin", turn_number=3)


def sample_data() -> dict[str, EventData]:
    """A fresh sample per event type, keyed by event type."""
    samples: list[EventData] = [
        ChatCreated(
            title="Standup",
            turn_mode="round_robin",
            created_by="user-alice",
            participants=(ALICE_VIEW, BOT_VIEW),
            settings={"max_message_length": 4000, "rate_limit_messages": 10},
        ),
        ChatSettingsChanged(
            changed_by="user-alice",
            changes={"max_message_length": 200},
            turn_mode="free",
            settings={"max_message_length": 200},
        ),
        ChatCompleted(completed_by="user-alice", reason="done"),
        UserJoined(participant=BOT_VIEW, turn_mode="free"),
        UserLeft(participant_id="user-bob", reason="removed", turn_mode="round_robin"),
        MessageRejected(
            sender_id="user-bob",
            reason="not_your_turn",
            detail="it is not your turn",
            client_message_id="c-2",
            turn_holder_id="user-alice",
        ),
        message_stored(),
        TurnChanged(
            turn_mode="round_robin",
            holder_id="user-bob",
            previous_holder_id="user-alice",
            turn_number=4,
            reason="message",
        ),
        TurnValidationRequested(message_id="msg-1", sender_id="user-alice", turn_number=2),
        AIResponseRequested(
            request_id="req-1", participant_id="ai-bot", trigger="mention", after_message_sequence=7
        ),
        AIResponseStarted(request_id="req-1", participant_id="ai-bot", model="local-echo"),
        AIResponseChunk(request_id="req-1", participant_id="ai-bot", index=0, text="Hel"),
        ReadMarkerMoved(user_id="user-alice", last_read_sequence=3, unread=1),
        Withheld(),
        AIResponseCompleted(
            request_id="req-1",
            participant_id="ai-bot",
            message_id="msg-2",
            message_sequence=8,
            time_to_first_token_ms=12.5,
            duration_ms=250.25,
            input_tokens=100,
            output_tokens=20,
        ),
        AIResponseFailed(request_id="req-1", participant_id="ai-bot", reason="throttled", detail="429"),
        TypingStarted(participant_id="user-alice", expires_in_seconds=3),
        TypingStopped(participant_id="user-alice"),
        PresenceChanged(participant_id="user-alice", online=True, online_ids=("user-alice", "user-bob")),
        ExtensionInstalled(
            extension_id="ext-poll",
            extension_version="1.2.0",
            config={"question": "Lunch?", "options": ["yes", "no"], "anonymous": True},
            enabled=True,
        ),
        ExtensionActivated(extension_id="ext-poll"),
        ExtensionConfigChanged(extension_id="ext-poll", config={"anonymous": False}),
        ExtensionDeactivated(extension_id="ext-poll", reason="noisy"),
        ExtensionUninstalled(extension_id="ext-poll"),
        ExtensionFailed(
            extension_id="ext-poll", failed_event_id="evt-9", error="KeyError: 'x'", consecutive_failures=2
        ),
        ExtensionDisabled(extension_id="ext-poll", reason="circuit open", consecutive_failures=5),
        ExtensionShadowChanged(
            extension_id="moderation", shadow=False, shadow_config={"blocked_terms": ["x"]}
        ),
        ExtensionShadowOutput(
            extension_id="moderation",
            output_type="MessageModerated",
            output={"message_id": "m-1", "action": "reject", "reason": "blocked term"},
            config="shadow_config",
        ),
        ExtensionEvent(extension_id="ext-poll", name="vote", payload={"option": "yes", "weight": 1.5}),
        ScheduleReached(extension_id="workflows", key="standup", slot=datetime(2024, 5, 1, 9, 0, tzinfo=UTC)),
        WorkflowRunReported(
            extension_id="workflows",
            workflow_id="greet",
            trigger_event_id="e-1",
            trigger_event_type="UserJoined",
            trigger_sequence=4,
            steps=(StepOutcome(index=0, do="post", outcome="ok"),),
        ),
        WorkflowRun(
            extension_id="workflows",
            workflow_id="greet",
            trigger_event_id="e-1",
            trigger_event_type="UserJoined",
            trigger_sequence=4,
            steps=(
                StepOutcome(index=0, do="post", outcome="ok"),
                StepOutcome(index=1, do="webhook", outcome="failed", reason="hooks.example.com answered 500"),
            ),
        ),
        ExtensionEventRejected(
            extension_id="ext-poll",
            rejected_event_type="ExtensionEvent",
            rejected_event_id="evt-10",
            reason="missing capability events:emit",
        ),
        ExtensionRecovered(extension_id="ext-poll", after_failures=2),
        ExtensionFloorRequested(extension_id="workflows", request_id="req-8", participant_id="user-bob"),
        ExtensionSettingsRequested(
            extension_id="workflows", request_id="req-9", changes={"turn_mode": "free"}
        ),
        ExtensionMessageRequested(extension_id="ext-poll", request_id="req-7", text="Poll closed: yes wins"),
        ExtensionMessageUpdateRequested(
            extension_id="ext-poll",
            request_id="req-9",
            message_id="msg-9",
            text="Lunch? (closed)",
            blocks=parse_blocks([SAMPLE_POLL]),
        ),
        MessageUpdated(
            message=message_view("Lunch?").model_copy(
                update={
                    "sender_id": "ext:poll",
                    "sender_kind": "extension",
                    "blocks": parse_blocks([SAMPLE_POLL]),
                    "blocks_version": 1,
                    "version": 2,
                    "edited_at": SAMPLE_TIME,
                }
            ),
            extension_id="poll",
        ),
        InteractionSubmitted(
            submission_id="sub-1",
            client_action_id="click-1",
            message_id="msg-9",
            message_version=1,
            extension_id="poll",
            action_id="vote",
            values={"option": "pizza"},
            participant_id="user-bob",
        ),
        ExtensionEphemeralRequested(
            extension_id="welcome", request_id="req-8", participant_id="user-bob", text="Welcome Bob!"
        ),
        EphemeralMessage(
            message_id="req-8",
            participant_id="user-bob",
            sender_id="ext:welcome",
            sender_name="Welcome bot",
            sender_kind="extension",
            extension_id="welcome",
            text="Welcome Bob!",
        ),
        AIContextContributed(extension_id="ext-poll", text="The team prefers short answers."),
        SlashCommandInvoked(
            extension_id="poll",
            command_id="cmd-1",
            command="poll",
            args=("Lunch?", "Pizza", "Sushi"),
            raw='/poll "Lunch?" Pizza Sushi',
            client_message_id="c-1",
        ),
        MessageModerated(
            message_id="msg-1",
            sender_id="user-alice",
            extension_id="moderation",
            action="reject",
            reason="blocked term",
            elapsed_ms=3.2,
        ),
        HandlerFailed(
            handler="turns",
            failed_event_id="evt-11",
            failed_event_type="MessageStored",
            error="boom",
            attempts=5,
        ),
    ]
    return {sample.event_type: sample for sample in samples}
