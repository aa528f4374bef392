"""What each extension's context row holds (parley.domain.contexts): its own install, peers without
their configs, the roster only while enabled, never a persona; and when a change rewrites it."""

from __future__ import annotations

from parley.domain import extensions as ext
from parley.domain.commands import join, post_message
from parley.domain.contexts import changed_contexts, context_of
from parley.domain.model import Chat
from tests.unit.chats import OWNER, at, new_chat


def _installed(chat: Chat, extension_id: str, *, enabled: bool = True, **config: object) -> Chat:
    return ext.put_install(
        chat,
        user_id=OWNER,
        extension_id=extension_id,
        version="1",
        enabled=enabled,
        config=dict(config),
        now=at(1),
    ).chat


def test_a_context_holds_its_own_config_and_only_the_peers_state() -> None:
    chat = _installed(new_chat("free", ais=["oracle"]), "webhook", secret="s3cret", url="https://x")
    chat = _installed(chat, "sentiment", threshold=1)

    seen = context_of(chat, "sentiment")

    assert seen.install is not None
    assert seen.install.config == {"threshold": 1}
    assert set(seen.peers) == {"webhook"}
    assert "s3cret" not in seen.model_dump_json()
    # the roster without any AI participant's persona or model
    assert [p.id for p in seen.participants] == [OWNER, "oracle"]
    assert all(p.ai is None for p in seen.participants)
    # and the chat the SDK hands the handler keeps the peer on/off, never its config
    as_chat = seen.as_chat()
    assert as_chat.extensions["webhook"].enabled
    assert as_chat.extensions["webhook"].config == {}


def test_a_disabled_install_sees_no_roster_and_a_stranger_nothing_of_the_peers() -> None:
    chat = _installed(new_chat("free"), "welcome", enabled=False)
    assert context_of(chat, "welcome").participants == ()
    stranger = context_of(chat, "never_installed")
    assert (stranger.install, stranger.peers, stranger.participants) == (None, {}, ())


def test_a_post_rewrites_no_context_and_a_join_rewrites_every_one() -> None:
    chat = _installed(_installed(new_chat("free"), "welcome"), "sentiment")
    posted = post_message(
        chat, sender_id=OWNER, text="hi", client_message_id=None, message_id="m", now=at(2)
    ).chat
    joined = join(chat, user_id="user-bob", name="Bob", now=at(2)).chat

    assert changed_contexts(chat, posted) == []
    assert [c.extension_id for c in changed_contexts(chat, joined)] == ["sentiment", "welcome"]
    assert [c.extension_id for c in changed_contexts(None, chat)] == ["sentiment", "welcome"]
    # an uninstall rewrites the removed one's row (head only) as well as the others' peers
    removed = ext.uninstall(chat, user_id=OWNER, extension_id="welcome").chat
    assert [(c.extension_id, c.install is None) for c in changed_contexts(chat, removed)] == [
        ("sentiment", False),
        ("welcome", True),
    ]
