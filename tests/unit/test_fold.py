"""The fold of a chat's log, pure: no tables, the commands' own outcomes sequenced as the unit of
work does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from parley.catalog import Actor, Envelope
from parley.domain import commands
from parley.domain import extensions as installs
from parley.domain.fold import FoldError, differences, fold, repaired
from parley.domain.model import AIProfile, Chat, ChatSettings
from parley.services.unit_of_work import sequence

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ALICE = Actor(id="alice", kind="user", name="Alice")


def _logged() -> tuple[Chat, list[Envelope[Any]]]:
    created = commands.create_chat(
        chat_id="c1",
        creator_id="alice",
        creator_name="Alice",
        title="t",
        turn_mode="round_robin",
        ai_participants=[("ai", "Ada", AIProfile(persona="p"))],
        settings=ChatSettings(),
        now=NOW,
    )
    created, log = sequence(created, ALICE, None, NOW, previous=None)
    installed = installs.put_install(
        created.chat,
        user_id="alice",
        extension_id="webhook",
        version="1.0.0",
        enabled=True,
        config={"secret": "s3cret-value-0123"},
        now=NOW,
        secret_fields=frozenset({"secret"}),
    )
    installed, more = sequence(installed, ALICE, None, NOW, previous=created.chat)
    return installed.chat, [*log, *more]


def test_the_fold_of_a_log_is_the_chat_its_commands_built() -> None:
    chat, log = _logged()
    folded = fold(log)
    assert folded is not None
    assert differences(chat, folded) == []
    assert folded.member("ai") == chat.member("ai")  # joined_at and the AI profile come from UserJoined


def test_an_empty_log_folds_to_nothing_and_a_broken_one_is_refused() -> None:
    _, log = _logged()
    assert fold([]) is None
    with pytest.raises(FoldError, match="starts with UserJoined"):
        fold(log[1:])
    with pytest.raises(FoldError, match="jumps from 1 to 3"):
        fold([log[0], *log[2:]])


def test_counters_versions_and_secrets_are_not_facts_and_a_repair_keeps_them() -> None:
    chat, log = _logged()
    folded = fold(log)
    assert folded is not None
    hook = chat.extensions["webhook"].model_copy(update={"version": "1.1.0", "consecutive_failures": 2})
    stored = chat.model_copy(update={"extensions": {"webhook": hook}, "bot_minute": 7, "title": "x"})
    assert [d.path for d in differences(stored, folded)] == ["title"]
    fixed = repaired(stored, folded)
    assert fixed == stored.model_copy(update={"title": "t"})
    assert fixed.extensions["webhook"].config["secret"] == "s3cret-value-0123"
