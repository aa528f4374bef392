"""The event log is the source of truth: for any command sequence, the fold of a chat's log equals
its stored item, and a damaged item is repaired from the log."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.local.provision import Provisioned
from parley import root
from parley.adapters.memory import InMemoryPublisher
from parley.catalog import Actor, AIResponseRequested, new_event
from parley.domain import extensions as installs
from parley.domain.fold import differences, fold
from parley.domain.model import AIProfile, Outcome
from parley.errors import ParleyError
from parley.ops.rebuild import rebuild
from parley.services.chats import AIParticipantSpec, ChatService, ExtensionPlatform, Identity
from parley.services.extensions import ExtensionService
from parley.services.outbox import Outbox
from parley.services.rebuild import RebuildService

PEOPLE = [Identity(f"user-{i}", f"User {i}") for i in range(4)]
OWNER = PEOPLE[0]
AIS = [AIParticipantSpec("ai-1", "Ada", AIProfile(persona="terse")), AIParticipantSpec("ai-2", "Bo")]
CONFIGS: dict[str, list[dict[str, Any]]] = {
    "welcome": [{}, {"template": "Hi {name}"}],
    "sentiment": [{}],
    "webhook": [
        {"url": "https://example.com/a", "secret": "0123456789abcdef"},
        {"url": "https://example.com/b", "secret": "********"},
    ],
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class World:
    """The real services on moto, with a clock the commands move (deadlines and rate windows)."""

    def __init__(self) -> None:
        self.clock = Clock()
        repo = root.chat_repository()
        self.chats = ChatService(
            repo,
            Outbox(repo, InMemoryPublisher()),
            clock=self.clock,
            extensions=ExtensionPlatform(registry=root.registry().all, hooks=root.hook_runner()),
        )
        self.extensions = ExtensionService(self.chats, root.registry(), failure_threshold=2)
        self.rebuild = RebuildService(repo, clock=self.clock)
        self.replies = 0


Command = Callable[[World, str], object]


def _ai_reply(ai: int, fail: bool) -> Command:
    def run(w: World, chat_id: str) -> object:
        w.replies += 1
        spec = AIS[ai]
        actor = Actor(id=spec.id, kind="ai", name=spec.name)
        request = AIResponseRequested(
            request_id=f"r{w.replies}", participant_id=spec.id, trigger="turn", after_message_sequence=0
        )
        cause = new_event(request, chat_id=chat_id, actor=actor)
        if fail:
            w.chats.fail_ai_response(
                chat_id,
                participant=actor,
                request_id=f"r{w.replies}",
                reason="timeout",
                detail="",
                cause=cause,
            )
            return None
        timings = {"time_to_first_token_ms": 1, "duration_ms": 2, "input_tokens": 3, "output_tokens": 4}
        return w.chats.post_ai_reply(
            chat_id, participant=actor, request_id=f"r{w.replies}", text="beep", timings=timings, cause=cause
        )

    return run


def _trusted(decide: Callable[..., Outcome], **kwargs: Any) -> Command:
    return lambda w, chat_id: w.chats.execute(
        chat_id, lambda chat, now: decide(chat, **kwargs), actor=Actor(id="gw", kind="system")
    )


person = st.integers(0, len(PEOPLE) - 1)
extension_id = st.sampled_from(sorted(CONFIGS))
commands: st.SearchStrategy[Command] = st.one_of(
    person.map(lambda i: lambda w, c: w.chats.join(PEOPLE[i], c)),
    person.map(lambda i: lambda w, c: w.chats.leave(PEOPLE[i], c)),
    st.tuples(person, st.text(min_size=1, max_size=20)).map(
        lambda a: lambda w, c: w.chats.post_message(PEOPLE[a[0]], c, text=a[1] + " @Ada")
    ),
    st.just(
        lambda w, c: w.chats.advance_turn(
            c,
            cause=new_event(
                AIResponseRequested(
                    request_id="x", participant_id="x", trigger="turn", after_message_sequence=0
                ),
                chat_id=c,
                actor=OWNER.actor,
            ),
        )
    ),
    st.just(lambda w, c: w.chats.expire_turns(now=w.clock.now)),
    st.sampled_from(["user-0", "user-1", "ai-1"]).map(lambda p: lambda w, c: w.chats.grant_turn(OWNER, c, p)),
    st.sampled_from(["free", "round_robin", "alternating", "moderated"]).map(
        lambda m: lambda w, c: w.chats.change_settings(OWNER, c, {"turn_mode": m})
    ),
    st.integers(5, 60).map(
        lambda t: lambda w, c: w.chats.change_settings(OWNER, c, {"turn_timeout_seconds": t})
    ),
    st.tuples(extension_id, st.booleans(), st.integers(0, 1)).map(
        lambda a: (
            lambda w, c: w.extensions.put(
                OWNER, c, a[0], enabled=a[1], config=CONFIGS[a[0]][a[2] % len(CONFIGS[a[0]])]
            )
        )
    ),
    extension_id.map(lambda e: lambda w, c: w.extensions.uninstall(OWNER, c, e)),
    extension_id.map(lambda e: _trusted(installs.record_failure, extension_id=e, threshold=2, error="boom")),
    st.tuples(extension_id, st.text(max_size=10)).map(
        lambda a: _trusted(installs.set_ai_context, extension_id=a[0], text=a[1])
    ),
    st.tuples(st.integers(0, 1), st.booleans()).map(lambda a: _ai_reply(*a)),
    st.just(lambda w, c: w.chats.complete(OWNER, c)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    mode=st.sampled_from(["free", "round_robin", "alternating", "moderated"]),
    steps=st.lists(st.tuples(commands, st.integers(0, 400)), max_size=25),
)
def test_the_fold_of_any_chats_log_equals_its_stored_state(
    aws: Provisioned, mode: Any, steps: list[tuple[Command, int]]
) -> None:
    # Given a chat with AI participants, on the real services and tables
    world = World()
    chat_id = world.chats.create_chat(OWNER, title="t", turn_mode=mode, ai_participants=AIS).chat_id
    # When any sequence of commands runs on it (refusals are part of the game), time passing between
    for command, seconds in steps:
        world.clock.now += timedelta(seconds=seconds)
        with contextlib.suppress(ParleyError):
            command(world, chat_id)
    # Then the fold of its log equals the stored item, fact by fact
    loaded = root.chat_repository().load(chat_id)
    assert loaded is not None
    folded = fold(world.rebuild.log(chat_id))
    assert folded is not None
    assert differences(loaded.chat, folded) == []
    assert world.rebuild.check(chat_id).differences == ()


def _damage(chat_id: str, **update: Any) -> None:
    repo = root.chat_repository()
    loaded = repo.load(chat_id)
    assert loaded is not None
    repo.commit(loaded, Outcome(chat=loaded.chat.model_copy(update=update)), (), now=datetime.now(UTC))


def test_check_reports_a_damaged_item_and_repair_restores_it_from_the_log(aws: Provisioned) -> None:
    # Given a chat with a member, a message, a turn and an install, whose item is then damaged
    world = World()
    chat_id = world.chats.create_chat(OWNER, title="t", turn_mode="round_robin").chat_id
    world.chats.join(PEOPLE[1], chat_id)
    world.chats.post_message(OWNER, chat_id, text="hello")
    world.chats.advance_turn(
        chat_id,
        cause=new_event(
            AIResponseRequested(request_id="x", participant_id="x", trigger="turn", after_message_sequence=0),
            chat_id=chat_id,
            actor=OWNER.actor,
        ),
    )
    world.extensions.put(OWNER, chat_id, "webhook", enabled=True, config=CONFIGS["webhook"][0])
    loaded = root.chat_repository().load(chat_id)
    assert loaded is not None
    before = loaded.chat
    hook = before.extensions["webhook"].model_copy(update={"enabled": False})
    _damage(
        chat_id, participants=before.participants[:1], last_message_sequence=7, extensions={"webhook": hook}
    )

    # When the check runs
    out = io.StringIO()
    status = rebuild(chat_id, True, out=out, service=world.rebuild)

    # Then it exits 1 and names each damaged fact
    assert status == 1
    report = out.getvalue()
    assert "participants" in report
    assert "last_message_sequence: stored 7, log says 1" in report
    assert "extensions.webhook.enabled: stored False, log says True" in report

    # When the repair runs, the item is the log's again, secrets (redacted in the log) restored
    assert rebuild(chat_id, False, out=io.StringIO(), service=world.rebuild) == 0
    after = root.chat_repository().load(chat_id)
    assert after is not None
    assert after.chat == before.model_copy(update={"last_event_sequence": before.last_event_sequence})
    assert after.chat.extensions["webhook"].config["secret"] == "0123456789abcdef"
    assert rebuild(chat_id, True, out=io.StringIO(), service=world.rebuild) == 0


def test_rebuild_of_an_unknown_chat_exits_2(aws: Provisioned) -> None:
    out = io.StringIO()
    assert rebuild("no-such-chat", True, out=out, service=World().rebuild) == 2
    assert "no such chat" in out.getvalue()


def test_a_repair_that_loses_a_race_changes_nothing(aws: Provisioned) -> None:
    # Given a damaged chat, and a repair whose read is followed by another writer's commit
    world = World()
    chat_id = world.chats.create_chat(OWNER, title="t", turn_mode="round_robin").chat_id
    _damage(chat_id, title="wrong")
    repo = root.chat_repository()
    real_commit = repo.commit

    def racing_commit(*args: Any, **kwargs: Any) -> None:
        repo.commit = real_commit  # type: ignore[method-assign]
        world.chats.join(PEOPLE[2], chat_id)  # another command wins first
        real_commit(*args, **kwargs)

    repo.commit = racing_commit  # type: ignore[method-assign]
    try:
        # When the repair runs, it refuses to overwrite the newer item
        assert rebuild(chat_id, False, out=io.StringIO(), service=RebuildService(repo)) == 2
    finally:
        repo.commit = real_commit  # type: ignore[method-assign]
    loaded = repo.load(chat_id)
    assert loaded is not None
    assert loaded.chat.title == "wrong"
    assert loaded.chat.member("user-2")
