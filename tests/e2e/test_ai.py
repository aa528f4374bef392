"""An AI participant answering on the real local stack, streamed to another member's socket."""

from __future__ import annotations

import json
import time

from tests.support.stack import ROOT, Client

ARTIFACTS = ROOT / "test-artifacts"

ORACLE = {"id": "oracle", "name": "Oracle", "persona": "You answer riddles."}


def test_a_mentioned_ai_streams_its_reply_to_the_other_member_and_stores_it(stack: str) -> None:
    # Given Alice and Bob in a free chat with the Oracle, Bob's socket subscribed
    alice, bob = Client.sign_in(stack, "Alice"), Client.sign_in(stack, "Bob")
    chat_id = alice.create_chat(title="Riddles", ai_participants=[ORACLE])
    bob.join(chat_id)
    b = bob.socket()
    assert b.request("Subscribed", action="subscribe", chat_id=chat_id)["type"] == "Subscribed"

    # When Alice mentions the Oracle
    sent_at = time.monotonic()
    asked = alice.post(chat_id, "@Oracle what has keys but opens no locks?")
    started = b.wait_for(lambda f: f["type"] == "AIResponseStarted")
    first_chunk = b.wait_for(lambda f: f["type"] == "AIResponseChunk")
    first_chunk_at = time.monotonic()
    completed = b.wait_for(lambda f: f["type"] == "AIResponseCompleted", timeout=20)
    completed_at = time.monotonic()

    # Then Bob saw the reply start, stream in several chunks, and complete
    chunks = [first_chunk, *(f for f in b.frames if f["type"] == "AIResponseChunk")]
    assert len(chunks) >= 2
    assert [c["data"]["index"] for c in chunks] == list(range(len(chunks)))
    assert started["data"]["participant_id"] == "oracle"
    assert completed["data"]["request_id"] == started["data"]["request_id"]
    # And the reply is in history right after Alice's message, with the streamed text
    items = alice.call("GET", f"/chats/{chat_id}/messages").json["items"]
    assert [(m["sequence"], m["sender_id"]) for m in items] == [
        (asked["sequence"], alice.user_id),
        (2, "oracle"),
    ]
    assert items[1]["text"] == "".join(c["data"]["text"] for c in chunks).strip()
    assert completed["data"]["message_sequence"] == 2
    # the measured latency, for the notes (make test keeps quiet about it)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "ai-latency.json").write_text(
        json.dumps(
            {
                "first_chunk_after_post_ms": round(1000 * (first_chunk_at - sent_at)),
                "completed_after_post_ms": round(1000 * (completed_at - sent_at)),
                "responder_time_to_first_token_ms": completed["data"]["time_to_first_token_ms"],
                "responder_duration_ms": completed["data"]["duration_ms"],
                "chunks": len(chunks),
            }
        )
    )
    b.close()


def test_round_robin_with_the_ai_streams_a_reply_and_gives_the_floor_back(stack: str) -> None:
    # Given Alice alone with the Oracle in a round-robin chat, her socket subscribed
    alice = Client.sign_in(stack, "Alice")
    chat_id = alice.create_chat(title="Duet", turn_mode="round_robin", ai_participants=[ORACLE])
    a = alice.socket()
    a.request("Subscribed", action="subscribe", chat_id=chat_id)

    # When Alice takes her turn
    alice.post(chat_id, "Your move, Oracle.")

    # Then the Oracle's turn comes, its reply streams in, and the floor comes back to Alice
    a.wait_for(lambda f: f["type"] == "AIResponseCompleted", timeout=20)
    back = a.wait_for(
        lambda f: f["type"] == "TurnChanged" and f["data"]["holder_id"] == alice.user_id, timeout=10
    )
    assert back["data"]["previous_holder_id"] == "oracle"
    assert alice.call("POST", f"/chats/{chat_id}/messages", {"text": "And mine again."}).status == 201
    a.close()
