"""Slash commands as pure decisions: parsing, which extension answers, conflicts, stable ids."""

from __future__ import annotations

from typing import Any

import pytest

from parley.adapters.dynamodb import Claim, DuplicateClientMessageError, LoadedChat
from parley.adapters.memory import InMemoryPublisher, failing
from parley.catalog import SYSTEM
from parley.domain import extensions as ext
from parley.domain import slash
from parley.domain.model import Chat, Outcome
from parley.errors import ContentionError, InvalidRequestError, RateLimitedError
from parley.extensions.manifest import ExtensionDocument, Manifest, SlashCommand
from parley.extensions.sdk import CommandCall
from parley.services.slash import CommandAccepted, NotACommand, SlashCommands
from parley.services.unit_of_work import Identity
from tests.unit.chats import OWNER, at, new_chat


def doc(extension_id: str, *names: str) -> ExtensionDocument:
    return ExtensionDocument(
        id=extension_id,
        version="1.0.0",
        name=extension_id,
        description="d",
        events=("SlashCommandInvoked",),
        commands=tuple(SlashCommand(name=n, description=f"/{n}") for n in names),
    )


def with_install(chat: Chat, extension_id: str, *, enabled: bool = True) -> Chat:
    return ext.put_install(
        chat, user_id=OWNER, extension_id=extension_id, version="1.0.0", enabled=enabled, config={}, now=at(1)
    ).chat


REGISTRY = {"poll": doc("poll", "poll", "vote"), "dice": doc("dice", "roll"), "zpoll": doc("zpoll", "poll")}


@pytest.mark.parametrize(
    ("rest", "args"),
    [
        (' "Lunch?" "Pizza" "Sushi"', ("Lunch?", "Pizza", "Sushi")),
        (" 'Pizza place' Sushi", ("Pizza place", "Sushi")),
        (" “Lunch today?” Pizza", ("Lunch today?", "Pizza")),
        (' "say \\"hi\\"" x', ('say "hi"', "x")),
        ("", ()),
        ('   "a"   --closes   10m  ', ("a", "--closes", "10m")),
    ],
)
def test_args_split_like_a_shell_with_quoted_strings_kept_whole(rest: str, args: tuple[str, ...]) -> None:
    assert slash.split_args(rest) == args


def test_an_unclosed_quote_is_an_invalid_request_naming_the_text() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        slash.split_args(' "Lunch? Pizza')
    assert caught.value.details["field"] == "text"


def test_more_than_twenty_args_are_refused() -> None:
    with pytest.raises(InvalidRequestError):
        slash.split_args(" ".join(["x"] * 21))


@pytest.mark.parametrize(
    ("text", "name"),
    [("/poll a", "poll"), ("/poll", "poll"), ("/poll\nx", "poll"), ("//poll a", None), ("poll", None),
     ("/Poll a", None), ("/poll-x", "poll-x"), ("/ poll", None), ("/poll/x", None)],
)  # fmt: skip
def test_a_command_is_a_slash_and_a_lower_case_name_at_the_start(text: str, name: str | None) -> None:
    assert slash.name_of(text) == name


def test_a_post_invokes_only_a_command_of_an_enabled_extension() -> None:
    chat = with_install(with_install(new_chat("free"), "poll"), "dice", enabled=False)
    commands = slash.available(chat, REGISTRY)
    assert sorted(commands) == ["poll", "vote"]
    found = slash.invocation('/poll "Lunch?" Pizza', commands)
    assert found == slash.Invocation("poll", "poll", ("Lunch?", "Pizza"))
    assert slash.invocation("/roll 2d6", commands) is None  # its extension is disabled: a message
    assert slash.invocation("/unknown thing", commands) is None
    assert slash.invocation("//poll not a command", commands) is None


def test_a_shadow_install_answers_no_command_so_the_post_stays_a_message() -> None:
    live = with_install(new_chat("free"), "poll")
    shadowed = ext.put_install(
        live,
        user_id=OWNER,
        extension_id="poll",
        version="1.0.0",
        enabled=True,
        config={},
        now=at(2),
        shadow=True,
    ).chat
    assert slash.available(shadowed, REGISTRY) == {}
    assert slash.invocation('/poll "Lunch?" Pizza Sushi', slash.available(shadowed, REGISTRY)) is None
    slash.conflict(shadowed, REGISTRY["zpoll"], REGISTRY)  # a shadow install claims no name


def test_double_slash_escapes_and_other_text_is_kept() -> None:
    assert slash.unescaped("//poll is a command") == "/poll is a command"
    assert slash.unescaped("/unknown") == "/unknown"
    assert slash.unescaped("plain") == "plain"


def test_enabling_an_extension_whose_command_another_enabled_one_answers_is_refused() -> None:
    chat = with_install(new_chat("free"), "poll")
    with pytest.raises(InvalidRequestError, match="/poll \\(poll\\)") as caught:
        slash.conflict(chat, REGISTRY["zpoll"], REGISTRY)
    assert caught.value.details["field"] == "enabled"
    slash.conflict(chat, REGISTRY["dice"], REGISTRY)  # no shared name
    slash.conflict(chat, REGISTRY["poll"], REGISTRY)  # re-enabling itself


def test_a_name_two_enabled_extensions_still_claim_goes_to_the_smaller_id() -> None:
    chat = with_install(with_install(new_chat("free"), "zpoll"), "poll")
    assert slash.available(chat, REGISTRY)["poll"].extension_id == "poll"


def test_the_command_id_is_stable_per_client_id_and_fresh_without_one() -> None:
    first = slash.command_id("c", "u", "m-1")
    assert first == slash.command_id("c", "u", "m-1")
    assert first != slash.command_id("c", "u", "m-2") != slash.command_id("c", "v", "m-1")
    assert slash.command_id("c", "u", None) != slash.command_id("c", "u", None)


def test_a_manifest_with_commands_must_subscribe_and_name_each_once() -> None:
    command = SlashCommand(name="poll", description="Start a poll")
    with pytest.raises(ValueError, match="SlashCommandInvoked"):
        Manifest(id="poll", version="1.0.0", name="P", description="d", commands=(command,))
    with pytest.raises(ValueError, match="twice"):
        Manifest(
            id="poll",
            version="1.0.0",
            name="P",
            description="d",
            events=("SlashCommandInvoked",),
            commands=(command, command),
        )
    with pytest.raises(ValueError, match="pattern"):
        SlashCommand(name="Poll!", description="x")


def test_a_calls_options_and_positional_args_are_read_apart() -> None:
    call = CommandCall(
        "id",
        "poll",
        ("Lunch?", "--closes", "10m", "Pizza", "--anonymous", "--x=1", "--", "Sushi"),
        "",
        SYSTEM,
    )
    assert call.positional == ("Lunch?", "Pizza", "--", "Sushi")
    assert call.options == {"closes": "10m", "anonymous": "true", "x": "1"}


class Members:
    """The calls SlashCommands makes of the chat service: the chat, for a member, and the change
    that counts the command toward the member's rate limit."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        self.reads = 0
        self.claims: dict[str, dict[str, Any]] = {}

    def read_as_member(self, who: Identity, chat_id: str) -> LoadedChat:
        self.reads += 1
        return LoadedChat(self.chat, self.reads)

    def execute_as(
        self,
        who: Identity,
        chat_id: str,
        decide: Any,
        *,
        correlation_id: str | None,
        claim: Claim | None = None,
        preloaded: LoadedChat | None = None,
    ) -> Outcome:
        """Decided, then committed with its claim in one step, as the unit of work does."""
        outcome: Outcome = decide(self.chat, at(5))
        if claim is not None:
            if claim.key in self.claims:
                raise DuplicateClientMessageError()
            self.claims[claim.key] = claim.data
        self.chat = outcome.chat
        return outcome

    def claimed(self, key: str) -> dict[str, Any] | None:
        return self.claims.get(key)


def test_a_command_the_bus_refuses_is_a_contention_error_and_a_retry_is_the_same_command() -> None:
    chat = with_install(new_chat("free"), "poll")
    bus = InMemoryPublisher()
    members = Members(chat)
    commands = SlashCommands(members, lambda: REGISTRY, bus)  # type: ignore[arg-type]
    who = Identity(OWNER, "Owner")
    # Given a bus that refuses the first put
    bus.fail_next = failing()
    # When the command is posted, Then the caller is told to retry (503), nothing was sent
    with pytest.raises(ContentionError):
        commands.invoke(who, chat.chat_id, text="/poll a b c", client_message_id="k-1")
    assert bus.published == []
    # And the retry with the same client id is the same command, once on the bus
    accepted = commands.invoke(who, chat.chat_id, text="/poll a b c", client_message_id="k-1")
    assert isinstance(accepted, CommandAccepted)
    assert accepted.command_id == slash.command_id(chat.chat_id, OWNER, "k-1")
    assert [e.data.command_id for e in bus.published] == [accepted.command_id]
    # And a text that is no command costs nothing: no read, no publish
    reads = members.reads
    assert commands.invoke(who, chat.chat_id, text="hello /poll") == NotACommand()
    assert (members.reads, len(bus.published)) == (reads, 1)
    # And a /word that is no command reads the chat once, and hands that read to the post
    not_one = commands.invoke(who, chat.chat_id, text="/shrug it happens")
    assert isinstance(not_one, NotACommand)
    assert not_one.read is not None
    assert not_one.read.chat == members.chat
    assert (members.reads, len(bus.published)) == (reads + 1, 1)


def test_a_command_retried_after_the_bus_refused_it_is_charged_once() -> None:
    # Given a chat that takes one post per window, and a bus that refuses the first put
    chat = with_install(new_chat("free"), "poll")
    limited = chat.model_copy(
        update={"settings": chat.settings.model_copy(update={"rate_limit_messages": 1})}
    )
    bus = InMemoryPublisher()
    bus.fail_next = failing()
    commands = SlashCommands(Members(limited), lambda: REGISTRY, bus)  # type: ignore[arg-type]
    who = Identity(OWNER, "Owner")
    with pytest.raises(ContentionError):
        commands.invoke(who, chat.chat_id, text="/poll a b c", client_message_id="k-1")
    # When the member retries it (twice), Then it is sent: it was charged when first tried
    for _ in range(2):
        accepted = commands.invoke(who, chat.chat_id, text="/poll a b c", client_message_id="k-1")
        assert isinstance(accepted, CommandAccepted)
    # And another command is over the limit the first one used
    with pytest.raises(RateLimitedError):
        commands.invoke(who, chat.chat_id, text="/poll x y z", client_message_id="k-2")
    # And without a client id no two commands are the same: each is charged
    with pytest.raises(RateLimitedError):
        commands.invoke(who, chat.chat_id, text="/poll a b c")
    assert len(bus.published) == 2


def test_a_command_counts_toward_the_members_rate_limit_like_a_post() -> None:
    chat = with_install(new_chat("free"), "poll")
    limited = chat.model_copy(
        update={"settings": chat.settings.model_copy(update={"rate_limit_messages": 2})}
    )
    bus = InMemoryPublisher()
    commands = SlashCommands(Members(limited), lambda: REGISTRY, bus)  # type: ignore[arg-type]
    who = Identity(OWNER, "Owner")
    for n in range(2):
        accepted = commands.invoke(who, chat.chat_id, text=f"/poll q{n} a b", client_message_id=f"k{n}")
        assert isinstance(accepted, CommandAccepted)
    # When the member loops the command past the chat's limit, Then it is refused and never sent
    with pytest.raises(RateLimitedError):
        commands.invoke(who, chat.chat_id, text="/poll q a b", client_message_id="k3")
    assert len(bus.published) == 2
