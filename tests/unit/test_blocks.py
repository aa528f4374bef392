"""The blocks schema and the checks of a member's action against it (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from parley.blocks import (
    MAX_ACTIONS,
    MAX_BLOCKS,
    MAX_BLOCKS_BYTES,
    ActionRefusedError,
    BlocksError,
    Buttons,
    PollClosedError,
    actions,
    check_values,
    parse_blocks,
    visible_text,
)
from parley.catalog import MessageView

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FORM = {
    "type": "form",
    "action_id": "signup",
    "inputs": [
        {"name": "who", "label": "Your name", "required": True, "max_length": 5},
        {"name": "age", "label": "Age", "type": "number"},
        {"name": "size", "label": "Size", "type": "choice", "options": [{"value": "s", "label": "Small"}]},
    ],
}
POLL = {
    "type": "poll",
    "action_id": "vote",
    "question": "Lunch?",
    "options": [{"id": "pizza", "label": "Pizza"}, {"id": "sushi", "label": "Sushi"}],
}
EVERY_KIND: list[dict[str, Any]] = [
    {"type": "section", "text": "Pick one"},
    {"type": "buttons", "buttons": [{"action_id": "ok", "label": "OK", "style": "primary", "value": "1"}]},
    {"type": "select", "action_id": "pick", "options": [{"value": "a", "label": "Apple"}]},
    FORM,
    POLL,
]


def test_every_block_kind_parses_and_its_actions_are_indexed_by_id() -> None:
    # Given one block of each kind, When parsed, Then each action is found by its id
    blocks = parse_blocks(EVERY_KIND)
    assert [b.type for b in blocks] == ["section", "buttons", "select", "form", "poll"]
    assert sorted(actions(blocks)) == ["ok", "pick", "signup", "vote"]
    assert isinstance(blocks[1], Buttons)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([{"type": "section", "text": ""}], "blocks[0].text"),
        (
            [{"type": "buttons", "buttons": [{"action_id": "a b", "label": "x"}]}],
            "blocks[0].buttons[0].action_id",
        ),
        (
            [{"type": "buttons", "buttons": [{"action_id": "a", "label": "x" * 76}]}],
            "blocks[0].buttons[0].label",
        ),
        ([{"type": "video", "url": "x"}], "blocks[0]"),
        ([{**POLL, "options": POLL["options"][:1]}], "blocks[0].options"),
        ([{**FORM, "inputs": [{"name": "x", "label": "X", "type": "choice"}]}], "blocks[0].inputs[0]"),
    ],
)
def test_a_bad_block_is_refused_naming_its_field(raw: list[dict[str, Any]], field: str) -> None:
    # Given a block that breaks the schema, When parsed, Then the error names the field (a 422's details)
    with pytest.raises(BlocksError) as refused:
        parse_blocks(raw)
    assert refused.value.details["field"] == field
    assert refused.value.code == "invalid_request"


def test_the_bounds_of_a_whole_message_are_enforced() -> None:
    # Given too many blocks, too many actions, repeated action ids and too many bytes
    section = {"type": "section", "text": "x"}
    buttons = [
        {"type": "buttons", "buttons": [{"action_id": f"b{i}{j}", "label": "x"} for j in range(5)]}
        for i in range(6)
    ]
    cases: list[list[dict[str, Any]]] = [
        [section] * (MAX_BLOCKS + 1),
        buttons,
        [EVERY_KIND[1], EVERY_KIND[1]],
        [{"type": "section", "text": "é" * 3000} for _ in range(6)],
    ]
    # Then each is refused on `blocks`, with the bound in its message
    messages = []
    for raw in cases:
        with pytest.raises(BlocksError) as refused:
            parse_blocks(raw)
        assert refused.value.details["field"] == "blocks"
        messages.append(refused.value.message)
    assert str(MAX_BLOCKS) in messages[0]
    assert str(MAX_ACTIONS) in messages[1]
    assert "repeat" in messages[2]
    assert str(MAX_BLOCKS_BYTES) in messages[3]


def test_visible_text_is_everything_people_read_in_the_blocks() -> None:
    text = visible_text(parse_blocks(EVERY_KIND))
    for shown in ("Pick one", "OK", "Apple", "Your name", "Small", "Lunch?", "Sushi"):
        assert shown in text


def test_a_button_sends_its_own_value_never_the_clients() -> None:
    button = actions(parse_blocks(EVERY_KIND))["ok"]
    assert check_values(button, {}, now=NOW) == {"value": "1"}
    assert check_values(button, {"value": "forged"}, now=NOW) == {"value": "1"}
    with pytest.raises(ActionRefusedError) as refused:
        check_values(button, {"other": "x"}, now=NOW)
    assert refused.value.details["field"] == "values.other"


def test_a_select_takes_one_of_its_options() -> None:
    select = actions(parse_blocks(EVERY_KIND))["pick"]
    assert check_values(select, {"value": "a"}, now=NOW) == {"value": "a"}
    with pytest.raises(ActionRefusedError):
        check_values(select, {"value": "z"}, now=NOW)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"age": 3}, "values.who"),
        ({"who": "toolong"}, "values.who"),
        ({"who": "ann", "age": "3"}, "values.age"),
        ({"who": "ann", "age": True}, "values.age"),
        ({"who": "ann", "size": "xl"}, "values.size"),
        ({"who": "ann", "nickname": "x"}, "values.nickname"),
    ],
)
def test_a_form_takes_its_inputs_of_their_declared_types(values: dict[str, Any], field: str) -> None:
    form = actions(parse_blocks([FORM]))["signup"]
    with pytest.raises(ActionRefusedError) as refused:
        check_values(form, values, now=NOW)
    assert refused.value.details["field"] == field
    assert refused.value.code == "invalid_action"


def test_a_valid_form_keeps_what_was_filled_in() -> None:
    form = actions(parse_blocks([FORM]))["signup"]
    assert check_values(form, {"who": "ann", "age": 41.5, "size": "s"}, now=NOW) == {
        "who": "ann",
        "age": 41.5,
        "size": "s",
    }


def test_a_closed_poll_or_one_past_its_closing_time_refuses_votes() -> None:
    open_poll = actions(parse_blocks([POLL]))["vote"]
    assert check_values(open_poll, {"option": "sushi"}, now=NOW) == {"option": "sushi"}
    with pytest.raises(ActionRefusedError):
        check_values(open_poll, {"option": "tacos"}, now=NOW)
    closed = actions(parse_blocks([{**POLL, "closed": True}]))["vote"]
    timed = actions(parse_blocks([{**POLL, "closes_at": (NOW - timedelta(seconds=1)).isoformat()}]))["vote"]
    for poll in (closed, timed):
        with pytest.raises(PollClosedError) as refused:
            check_values(poll, {"option": "pizza"}, now=NOW)
        assert refused.value.code == "poll_closed"


def test_a_plain_message_stores_no_block_fields_and_an_edited_one_its_marker() -> None:
    # Given a message as posted and one updated
    plain = MessageView(
        message_id="m",
        chat_id="c",
        sequence=1,
        sender_id="u",
        sender_name="U",
        sender_kind="human",
        text="hi",
        created_at=NOW,
    )
    edited = plain.model_copy(update={"blocks": parse_blocks([POLL]), "blocks_version": 1, "version": 2})
    edited = edited.model_copy(update={"edited_at": NOW})
    # Then the plain one serializes as before these fields existed, the edited one with them
    dumped = plain.model_dump(mode="json")
    assert not {"blocks", "blocks_version", "version", "edited_at"} & set(dumped)
    assert MessageView.model_validate(dumped).version == 1
    again = MessageView.model_validate(edited.model_dump(mode="json"))
    assert (again.version, again.blocks_version, again.edited_at) == (2, 1, NOW)
    assert again.blocks == edited.blocks
