"""Message blocks: what an extension with `messages:interactive` puts in a message for people to click.

The schema is versioned (``BLOCKS_VERSION``, stored on the message as ``blocks_version``) and bounded
(``LIMITS``), so a client knows what it renders and a message stays small enough for one event. The
catalog carries blocks inside messages and extension requests; the domain checks a member's action
against them (``parley.domain.interactions``). Pure data and checks: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from parley.errors import InvalidRequestError

BLOCKS_VERSION = 1
"""The schema version of ``blocks``; a message names the one it was written with (``blocks_version``)."""

MAX_BLOCKS = 20
MAX_ACTIONS = 25
"""Every clickable or submittable thing in one message: buttons, selects, forms, polls."""
MAX_BUTTONS = 5
MAX_OPTIONS = 25
MAX_INPUTS = 10
MAX_POLL_OPTIONS = 10
MAX_SECTION_TEXT = 3000
MAX_LABEL = 75
MAX_VALUE = 200
MAX_INPUT_LENGTH = 2000
MAX_BLOCKS_BYTES = 16_000
"""The blocks of one message as compact JSON: well inside an event's 256 KB with its text."""

ACTION_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
NAME = r"^[a-z][a-z0-9_]{0,31}$"

LIMITS: dict[str, int] = {
    "blocks": MAX_BLOCKS,
    "actions": MAX_ACTIONS,
    "buttons": MAX_BUTTONS,
    "options": MAX_OPTIONS,
    "inputs": MAX_INPUTS,
    "poll_options": MAX_POLL_OPTIONS,
    "section_text": MAX_SECTION_TEXT,
    "label": MAX_LABEL,
    "value": MAX_VALUE,
    "input_length": MAX_INPUT_LENGTH,
    "bytes": MAX_BLOCKS_BYTES,
}
"""The bounds, by name, as the docs list them."""

ActionId = Annotated[str, Field(pattern=ACTION_ID, description="Names the action in a submission.")]
Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL)]
Value = Annotated[str, Field(min_length=1, max_length=MAX_VALUE)]


class BlocksError(InvalidRequestError):
    """Blocks break the schema or its bounds; ``field`` names the first bad one (``blocks[1].label``)."""


class _Block(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True)


class Section(_Block):
    """Text shown as it is (plain text; clients never render it as HTML)."""

    type: Literal["section"] = "section"
    text: str = Field(min_length=1, max_length=MAX_SECTION_TEXT)


class Button(_Block):
    action_id: ActionId
    label: Label
    style: Literal["default", "primary", "danger"] = "default"
    value: Value | None = Field(None, description="Sent back as `values.value` when clicked.")


class Buttons(_Block):
    """A row of buttons; a click submits the button's ``action_id`` (and its ``value``)."""

    type: Literal["buttons"] = "buttons"
    buttons: tuple[Button, ...] = Field(min_length=1, max_length=MAX_BUTTONS)


class Option(_Block):
    value: Value
    label: Label


class Select(_Block):
    """A drop-down; choosing submits ``action_id`` with ``values.value`` one of its options' values."""

    type: Literal["select"] = "select"
    action_id: ActionId
    label: Label | None = None
    options: tuple[Option, ...] = Field(min_length=1, max_length=MAX_OPTIONS)


class Input(_Block):
    """One field of a form: ``text`` (at most ``max_length`` characters), ``number``, or ``choice``
    (one of ``options``' values)."""

    name: str = Field(pattern=NAME, description="The key of its value in a submission's `values`.")
    label: Label
    type: Literal["text", "number", "choice"] = "text"
    required: bool = False
    max_length: int = Field(200, ge=1, le=MAX_INPUT_LENGTH, description="For `text` inputs.")
    options: tuple[Option, ...] = Field(default=(), max_length=MAX_OPTIONS, description="For `choice`.")

    @model_validator(mode="after")
    def _choice_has_options(self) -> Input:
        if (self.type == "choice") != bool(self.options):
            raise ValueError("a `choice` input has options, and only a `choice` input has them")
        return self


class Form(_Block):
    """Labelled inputs and a submit button: submitting sends ``action_id`` and ``values`` by name."""

    type: Literal["form"] = "form"
    action_id: ActionId
    inputs: tuple[Input, ...] = Field(min_length=1, max_length=MAX_INPUTS)
    submit_label: Label = "Submit"

    @model_validator(mode="after")
    def _distinct_names(self) -> Form:
        names = [i.name for i in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError("input names repeat")
        return self


class PollOption(_Block):
    id: str = Field(pattern=NAME)
    label: Label
    count: int = Field(0, ge=0, description="Votes so far (the extension keeps the count).")


class Poll(_Block):
    """A question with options; a vote submits ``action_id`` with ``values.option`` an option's id.
    A closed poll refuses votes; ``closes_at`` is when its extension means to close it."""

    type: Literal["poll"] = "poll"
    action_id: ActionId
    question: str = Field(min_length=1, max_length=300)
    options: tuple[PollOption, ...] = Field(min_length=2, max_length=MAX_POLL_OPTIONS)
    closed: bool = False
    closes_at: datetime | None = None

    @model_validator(mode="after")
    def _distinct_ids(self) -> Poll:
        ids = [o.id for o in self.options]
        if len(set(ids)) != len(ids):
            raise ValueError("option ids repeat")
        return self


Block = Annotated[Section | Buttons | Select | Form | Poll, Field(discriminator="type")]
Actionable = Button | Select | Form | Poll
_BLOCKS: TypeAdapter[tuple[Block, ...]] = TypeAdapter(tuple[Block, ...], config=ConfigDict(defer_build=True))


def actions(blocks: Iterable[BaseModel]) -> dict[str, Actionable]:
    """Every action of the blocks by its id (a buttons block gives one per button)."""
    found: dict[str, Actionable] = {}
    for block in blocks:
        if isinstance(block, Buttons):
            found.update((b.action_id, b) for b in block.buttons)
        elif isinstance(block, Select | Form | Poll):
            found[block.action_id] = block
    return found


def _count_actions(blocks: Sequence[BaseModel]) -> int:
    return sum(
        len(b.buttons) if isinstance(b, Buttons) else isinstance(b, Select | Form | Poll) for b in blocks
    )


def check_bounds(blocks: Sequence[BaseModel]) -> None:
    """What one block cannot check alone: the count, unique action ids, and the serialized size."""
    if len(blocks) > MAX_BLOCKS:
        raise BlocksError(f"at most {MAX_BLOCKS} blocks per message, not {len(blocks)}", field="blocks")
    count = _count_actions(blocks)
    if count > MAX_ACTIONS:
        raise BlocksError(f"at most {MAX_ACTIONS} actions per message, not {count}", field="blocks")
    if len(actions(blocks)) != count:
        raise BlocksError("action ids repeat: each action of a message has its own", field="blocks")
    size = len(dumps(blocks).encode())
    if size > MAX_BLOCKS_BYTES:
        raise BlocksError(f"blocks take {size} bytes as JSON; at most {MAX_BLOCKS_BYTES}", field="blocks")


def dumps(blocks: Sequence[BaseModel]) -> str:
    return json.dumps([b.model_dump(mode="json") for b in blocks], separators=(",", ":"), ensure_ascii=False)


def _field(loc: Sequence[int | str]) -> str:
    """``blocks[1].buttons[0].label`` from pydantic's location (its union tag left out)."""
    path = "blocks"
    for n, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif not (n == 1 and isinstance(loc[0], int)):  # the discriminator's tag after the index
            path += f".{part}"
    return path


def parse_blocks(raw: Sequence[Mapping[str, Any] | BaseModel]) -> tuple[Block, ...]:
    """Validate blocks (dicts or models) against the schema and its bounds; a ``BlocksError`` names
    the first bad field."""
    data = [b.model_dump(mode="json") if isinstance(b, BaseModel) else b for b in raw]
    try:
        blocks = _BLOCKS.validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = _field(first["loc"])
        raise BlocksError(f"{field}: {first['msg']}", field=field) from exc
    check_bounds(blocks)
    return blocks


def visible_text(blocks: Iterable[BaseModel]) -> str:
    """Everything the blocks show people, one line each: what moderation hooks rule on with the text."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Section):
            lines.append(block.text)
        elif isinstance(block, Buttons):
            lines += [b.label for b in block.buttons]
        elif isinstance(block, Select):
            lines += [block.label or "", *(o.label for o in block.options)]
        elif isinstance(block, Form):
            lines += [block.submit_label, *(i.label for i in block.inputs)]
            lines += [o.label for i in block.inputs for o in i.options]
        elif isinstance(block, Poll):
            lines += [block.question, *(o.label for o in block.options)]
    return "\n".join(line for line in lines if line)


Values = dict[str, str | int | float]
"""A submission's values by name: a form's inputs, a select's or a button's ``value``, a poll's ``option``."""


class ActionRefusedError(InvalidRequestError):
    """A member's action does not fit the message's current blocks (no such action, bad values)."""

    code = "invalid_action"


class PollClosedError(ActionRefusedError):
    code = "poll_closed"


def _refuse(name: str, problem: str) -> ActionRefusedError:
    return ActionRefusedError(f"values.{name}: {problem}", field=f"values.{name}")


def _only(values: Mapping[str, Any], allowed: Iterable[str]) -> None:
    extra = sorted(set(values) - set(allowed))
    if extra:
        raise _refuse(extra[0], "not a value this action takes")


def _one_of(values: Mapping[str, Any], name: str, allowed: Iterable[str]) -> str:
    value = values.get(name)
    if not isinstance(value, str) or value not in set(allowed):
        raise _refuse(name, "required, one of the declared options")
    return value


def _input_value(spec: Input, value: Any) -> str | int | float:
    if spec.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise _refuse(spec.name, "a number")
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            raise _refuse(spec.name, "a finite number")
        return value
    if not isinstance(value, str):
        raise _refuse(spec.name, "a string")
    if spec.type == "choice":
        return _one_of({spec.name: value}, spec.name, (o.value for o in spec.options))
    if len(value) > spec.max_length:
        raise _refuse(spec.name, f"at most {spec.max_length} characters")
    return value


def _form_values(form: Form, values: Mapping[str, Any]) -> Values:
    _only(values, (i.name for i in form.inputs))
    checked: Values = {}
    for spec in form.inputs:
        value = values.get(spec.name)
        if value is None or value == "":
            if spec.required:
                raise _refuse(spec.name, "required")
            continue
        checked[spec.name] = _input_value(spec, value)
    return checked


def check_values(action: Actionable, values: Mapping[str, Any], *, now: datetime) -> Values:
    """A member's values for this action as the blocks declare them, or ``ActionRefusedError``
    naming the bad one. A button sends back its own ``value`` (never the client's)."""
    if isinstance(action, Button):
        _only(values, ("value",))
        return {} if action.value is None else {"value": action.value}
    if isinstance(action, Select):
        _only(values, ("value",))
        return {"value": _one_of(values, "value", (o.value for o in action.options))}
    if isinstance(action, Poll):
        if action.closed or (action.closes_at is not None and now >= action.closes_at):
            raise PollClosedError("the poll is closed", field="action_id")
        _only(values, ("option",))
        return {"option": _one_of(values, "option", (o.id for o in action.options))}
    return _form_values(action, values)
