"""A message's sequence is allocated in the transaction that stores it: no gap, no duplicate."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

from tests.support.api import Api, User

THREADS = 8
SENDS_PER_THREAD = 25


def test_concurrent_sends_get_sequences_exactly_1_to_200(api: Api) -> None:
    # Given a free chat with 8 members and a rate limit that lets each send 25 messages at once
    owner = User("user-0", "User 0")
    members = [owner, *(User(f"user-{i}", f"User {i}") for i in range(1, THREADS))]
    chat_id = api.create_chat(owner, settings={"rate_limit_messages": 100})["chat_id"]
    for member in members[1:]:
        assert api.post(f"/chats/{chat_id}/members", member).status == 200

    # When 8 threads each post 25 messages to the chat at the same time
    def send_all(member: User) -> list[int]:
        sequences = []
        for n in range(SENDS_PER_THREAD):
            response = api.send(member, chat_id, f"{member.name} #{n}")
            assert response.status == 201, response.text
            sequences.append(response.json["sequence"])
        return sequences

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        per_member = list(pool.map(send_all, members))

    # Then the 200 sequences handed out are exactly 1..200, and each member saw its own in order
    handed_out = sorted(s for seqs in per_member for s in seqs)
    assert handed_out == list(range(1, THREADS * SENDS_PER_THREAD + 1))
    assert all(seqs == sorted(seqs) for seqs in per_member)

    # And history holds exactly those 200 messages, in sequence order, each once
    stored: list[int] = []
    after = 0
    while True:
        page = api.get(f"/chats/{chat_id}/messages", owner, query={"after": after, "limit": 200}).json
        stored.extend(m["sequence"] for m in page["items"])
        if page["next"] is None:
            break
        after = int(page["next"])
    assert stored == list(range(1, THREADS * SENDS_PER_THREAD + 1))

    # And the event log has one MessageStored per message, its sequences without gaps either
    events = api.get(f"/chats/{chat_id}/events", owner, query={"limit": 200}).json["items"]
    events += api.get(f"/chats/{chat_id}/events", owner, query={"after": events[-1]["sequence"]}).json[
        "items"
    ]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert sum(e["event_type"] == "MessageStored" for e in events) == THREADS * SENDS_PER_THREAD


def test_concurrent_posts_with_one_client_message_id_store_one_message_both_callers_get(
    api: Api,
) -> None:
    # Given a chat, for several rounds (a race is not lost every time)
    owner = User("user-0", "User 0")
    chat_id = api.create_chat(owner, settings={"rate_limit_messages": 1000})["chat_id"]
    for round_ in range(5):
        # When 4 threads post the same client_message_id at the same moment
        barrier = Barrier(4)

        def post(_: int, key: str = f"retry-{round_}", barrier: Barrier = barrier) -> dict[str, Any]:
            barrier.wait()
            response = api.send(owner, chat_id, "sent once, retried", client_message_id=key)
            assert response.status in (200, 201), response.text
            body: dict[str, Any] = response.json
            return body

        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(post, range(4)))

        # Then every caller got the same message
        assert len({a["message_id"] for a in answers}) == 1
        assert len({a["sequence"] for a in answers}) == 1

    # And history holds one message per client_message_id
    items = api.get(f"/chats/{chat_id}/messages", owner).json["items"]
    assert [m["client_message_id"] for m in items] == [f"retry-{r}" for r in range(5)]
