"""Random WebSocket frames for the property tests (integration on moto, and e2e over a real socket).

Frames name chats through the OWN and FOREIGN placeholders; ``with_chats`` puts real chat ids in.
"""

from __future__ import annotations

import json
import string

from hypothesis import strategies as st

from parley.realtime.frames import ACTIONS

OWN, FOREIGN = "<own chat>", "<foreign chat>"
"""Placeholders replaced by a chat the sender is in, and one they are not in."""

MAX_MESSAGE_BYTES = 128 * 1024
"""API Gateway's WebSocket message limit: nothing longer ever reaches the Lambda."""

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**140), max_value=2**140)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from([OWN, FOREIGN, "\ud800", "\x00"])
    | st.integers(min_value=60, max_value=4096).map(lambda n: "c" * n)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
field_values = (
    json_leaves | st.lists(json_leaves, max_size=2) | st.dictionaries(st.text(max_size=5), json_leaves)
)

_action_fields = st.fixed_dictionaries(
    {"action": st.sampled_from(ACTIONS) | json_leaves},
    optional={
        "chat_id": st.sampled_from([OWN, FOREIGN]) | field_values,
        "after_sequence": st.integers(min_value=-(2**140), max_value=2**140) | field_values,
        "text": st.text(max_size=50) | field_values,
        "client_message_id": st.text(max_size=20) | field_values,
        "typing": st.booleans() | field_values,
    },
)
action_shaped = st.builds(
    lambda fields, extra: {**extra, **fields},
    _action_fields,
    st.dictionaries(st.text(max_size=8), field_values, max_size=2),
)


def _nested(depth: int, kind: str) -> str:
    return {"list": "[" * depth + "]" * depth, "object": '{"a":' * depth + "1" + "}" * depth}[kind]


def _many_keys(count: int) -> str:
    return json.dumps({"action": "ping", **{f"k{i}": i for i in range(count)}})


frames = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=string.printable, max_size=80),
    json_values.map(json.dumps),
    action_shaped.map(json.dumps),
    action_shaped.map(lambda a: json.dumps(a, ensure_ascii=False)),
    st.builds(_nested, st.integers(min_value=1, max_value=20_000), st.sampled_from(["list", "object"])),
    st.builds(_many_keys, st.integers(min_value=1, max_value=4_000)),
    st.integers(min_value=1, max_value=MAX_MESSAGE_BYTES).map(
        lambda n: '{"action":"ping","pad":"' + "x" * n + '"}'
    ),
    st.integers(min_value=1, max_value=MAX_MESSAGE_BYTES).map(lambda n: "x" * n),
)


def with_chats(text: str, own: str, foreign: str) -> str:
    return text.replace(OWN, own).replace(FOREIGN, foreign)
