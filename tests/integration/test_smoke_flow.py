"""The first flow end to end on moto: API -> PutEvents -> rules -> SQS -> turns -> TurnChanged."""

from __future__ import annotations

from tests.support.api import Api, User
from tests.support.bus import Bus


def test_round_robin_post_moves_the_turn_through_the_bus(api: Api, bus: Bus, alice: User, bob: User) -> None:
    # Given a round-robin chat of Alice and Bob
    chat = api.create_chat(alice, turn_mode="round_robin")
    chat_id = chat["chat_id"]
    assert api.post(f"/chats/{chat_id}/members", bob).status == 200
    bus.pump()
    assert api.get(f"/chats/{chat_id}", alice).json["turn"]["holder_id"] == alice.user_id

    # When Alice posts
    posted = api.send(alice, chat_id, "hello", client_message_id="c-1")
    assert posted.status == 201, posted.text
    bus.pump()

    # Then the floor passes to Bob, announced by a TurnChanged caused by the MessageStored
    after = api.get(f"/chats/{chat_id}", alice).json
    assert after["turn"]["holder_id"] == bob.user_id
    events = bus.emitted()
    stored = next(e for e in events if e["detail-type"] == "MessageStored")
    turn = [e for e in events if e["detail-type"] == "TurnChanged"][-1]
    assert turn["detail"]["metadata"]["causation_id"] == stored["detail"]["metadata"]["event_id"]
    assert turn["detail"]["metadata"]["correlation_id"] == stored["detail"]["metadata"]["correlation_id"]
    assert turn["detail"]["data"]["reason"] == "message"
