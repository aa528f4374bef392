"""The local stack's feed (``GET /local/events``, `make tail`): every bus event and log line, under
the function that wrote it."""

from __future__ import annotations

import io
import json
import logging
import threading
from typing import Any

from aws_lambda_powertools import Logger

from infra.local.feed import Feed, FunctionNames, function_of
from infra.local.tail import line


def entry(detail_type: str, source: str, chat_id: str = "c1", **data: Any) -> dict[str, Any]:
    detail = {"metadata": {"chat_id": chat_id, "event_id": f"e-{detail_type}"}, "data": data}
    return {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}


def in_thread(name: str, work: Any) -> None:
    thread = threading.Thread(target=work, name=name)
    thread.start()
    thread.join()


def test_events_are_kept_and_filtered_by_type_name_source_chat_and_position() -> None:
    feed = Feed()
    feed.record_events(
        [
            entry("MessageStored", "parley.core"),
            entry("ExtensionEvent", "parley.ext.sentiment", name="sentiment.scored"),
            entry("ExtensionEvent", "parley.ext.sentiment", name="sentiment.other"),
            entry("UserJoined", "parley.core", chat_id="c2"),
        ]
    )

    def types(**params: str) -> list[str]:
        return [f"{e['type']}:{e.get('name')}" for e in feed.query(params)["items"]]

    assert types(type="sentiment.scored") == ["ExtensionEvent:sentiment.scored"]
    assert types(source="parley.ext.") == [
        "ExtensionEvent:sentiment.scored",
        "ExtensionEvent:sentiment.other",
    ]
    assert types(chat_id="c2") == ["UserJoined:None"]
    assert types(limit="1") == ["UserJoined:None"]  # the newest
    assert types(after="3") == ["UserJoined:None"]
    assert feed.query({})["last"] == 4


def test_the_feed_keeps_no_ephemeral_messages_text() -> None:
    feed = Feed()
    feed.record_events(
        [entry("ExtensionEphemeralRequested", "parley.ext.w", participant_id="u", text="secret")]
    )
    (kept,) = feed.query({})["items"]
    assert kept["detail"]["data"] == {"participant_id": "u", "text": "(an ephemeral message: not kept)"}
    assert "secret" not in json.dumps(feed.query({}))


def test_the_feed_keeps_only_the_newest() -> None:
    feed = Feed(limit=3)
    feed.record_events([entry(f"T{n}", "parley.core") for n in range(5)])
    assert [e["type"] for e in feed.query({})["items"]] == ["T2", "T3", "T4"]


def test_log_lines_carry_their_function_their_reason_and_their_error() -> None:
    feed = Feed()
    log = logging.getLogger("feed-test")
    log.setLevel(logging.INFO)
    feed.attach(log)

    def refuse() -> None:
        log.warning("ignored a refused extension event", extra={"reason": "not_installed"})

    def fail() -> None:
        try:
            raise KeyError("answers")
        except KeyError:
            log.exception("extension handler failed", extra={"extension_id": "standup"})

    in_thread("dispatch-ext_standup-1", refuse)
    in_thread("ext-standup", fail)
    refused, failed = feed.query({"kind": "log"})["items"]
    assert (refused["source"], refused["type"], refused["fields"]) == (
        "ext_standup",
        "WARNING",
        {"reason": "not_installed"},
    )
    assert (failed["source"], failed["type"]) == ("ext_standup", "ERROR")
    assert failed["fields"] == {"extension_id": "standup", "error": "KeyError: 'answers'"}
    assert "reason=not_installed" in line(refused)


def test_the_console_names_the_function_of_the_thread_not_the_last_one_injected() -> None:
    stream = io.StringIO()
    powertools = Logger(service="feed-console-test", logger_handler=logging.StreamHandler(stream))
    powertools.append_keys(function_name="api")  # what the last inject_lambda_context left behind
    logging.getLogger(powertools.name).addFilter(FunctionNames())
    in_thread("dispatch-ext_sentiment-0", lambda: powertools.warning("scored"))
    assert json.loads(stream.getvalue())["function_name"] == "ext_sentiment"


def test_thread_names_map_to_functions() -> None:
    assert function_of("dispatch-extension_gateway-0") == "extension_gateway"
    assert function_of("ext-standup") == "ext_standup"
    assert function_of("lambda_3") == "gateway"
