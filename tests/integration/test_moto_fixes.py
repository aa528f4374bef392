"""moto's transactions without the table backup behave as with it: all or nothing, moto's errors;
its SQS hands out messages without rebuilding the queue's attributes per message, and still drops
those past their retention."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from infra.local import moto_fixes
from infra.local.streams import StreamReader, streams_client

TABLE = "fix-test"


@pytest.fixture
def client() -> Iterator[Any]:
    moto_fixes.apply_all()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb


def _put(sk: str, *, if_new: bool = False) -> dict[str, Any]:
    put: dict[str, Any] = {"TableName": TABLE, "Item": {"pk": {"S": "p"}, "sk": {"S": sk}}}
    if if_new:
        put["ConditionExpression"] = "attribute_not_exists(pk)"
    return {"Put": put}


def _keys(client: Any) -> list[str]:
    return sorted(item["sk"]["S"] for item in client.scan(TableName=TABLE)["Items"])


def test_a_transaction_whose_checks_pass_writes_every_item(client: Any) -> None:
    # Given an empty table; When two new items are put in one transaction, each only if new
    client.transact_write_items(TransactItems=[_put("a", if_new=True), _put("b", if_new=True)])

    # Then both are there
    assert _keys(client) == ["a", "b"]


def test_a_failing_condition_cancels_the_whole_transaction_with_motos_error(client: Any) -> None:
    # Given an item "a"
    client.transact_write_items(TransactItems=[_put("a")])

    # When a transaction puts "b" and, only if new, "a" again
    with pytest.raises(ClientError) as raised:
        client.transact_write_items(TransactItems=[_put("b"), _put("a", if_new=True)])

    # Then it is cancelled with moto's error, and "b" was not written
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _keys(client) == ["a"]


@pytest.mark.parametrize(
    ("items", "safe"),
    [
        ([_put("a"), _put("c", if_new=True)], True),
        ([_put("a"), _put("b", if_new=True)], False),  # "b" exists: its condition fails
        ([_put("a"), _put("a")], False),  # the same key twice: moto must reject it
        ([{"Put": {"TableName": TABLE, "Item": {"pk": {"S": "p"}}}}], False),  # no range key
        ([{"Put": {"TableName": "missing", "Item": {"pk": {"S": "p"}, "sk": {"S": "a"}}}}], False),
        ([{"Put": _put("a")["Put"], "Delete": {"TableName": TABLE}}], False),  # two operations in one item
    ],
)
def test_the_fast_path_is_taken_only_when_nothing_can_fail_midway(
    client: Any, items: list[dict[str, Any]], safe: bool
) -> None:
    # Given an item "b"
    client.transact_write_items(TransactItems=[_put("b")])
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]

    # When the checks run on these items; Then they pass only for a transaction that cannot fail
    assert moto_fixes._all_checks_pass(backend, items) is safe


def test_a_cancelled_transaction_leaves_no_stream_record_and_a_reader_sees_later_writes() -> None:
    # Given a table with a stream, a reader positioned on it, and one committed item
    moto_fixes.apply_all()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        arn = dynamodb.create_table(
            TableName="streamed",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )["TableDescription"]["LatestStreamArn"]
        reader = StreamReader(streams_client("us-east-1"), arn)
        dynamodb.put_item(TableName="streamed", Item={"pk": {"S": "taken"}})
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for _, r in reader.read()] == ["taken"]

        # When a transaction writes one item and fails its condition on another (moto's slow path)
        with pytest.raises(ClientError, match="TransactionCanceled"):
            dynamodb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "streamed", "Item": {"pk": {"S": "cancelled"}}}},
                    {
                        "Put": {
                            "TableName": "streamed",
                            "Item": {"pk": {"S": "taken"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        dynamodb.put_item(TableName="streamed", Item={"pk": {"S": "later"}})

        # Then the reader sees no record of the cancelled write, and does see the later one
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for _, r in reader.read()] == ["later"]


@pytest.fixture
def sqs() -> Iterator[Any]:
    moto_fixes.apply_all()
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def test_receiving_from_a_backlog_never_builds_the_queues_attributes(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a queue with a backlog (moto built every attribute, three passes over the backlog, per
    # message handed out: the local stack slowed down quadratically under load)
    from moto.sqs.models import Queue

    url = sqs.create_queue(QueueName="backlog")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(10)])
    built: list[Any] = []
    original: Any = Queue.attributes

    def attributes(queue: Any) -> Any:
        built.append(queue)
        return original.fget(queue)

    monkeypatch.setattr(Queue, "attributes", property(attributes))

    # When a consumer receives a batch
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]

    # Then it got the batch, and no message cost a build of the queue's attributes
    assert len(got) == 10
    assert built == []


def test_a_message_past_the_queues_retention_is_still_not_handed_out(sqs: Any) -> None:
    # Given a queue keeping messages 60 s, and a message sent long ago
    from moto.sqs.models import sqs_backends

    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")

    queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues["short"]
    old: Any = next(m for m in queue._messages if m.body == "old")
    old.sent_timestamp -= 120_000

    # When a consumer receives
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])

    # Then it is not handed out (as with moto's own check); a fresh one is
    assert got == []
    sqs.send_message(QueueUrl=url, MessageBody="new")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["new"]


def test_sending_to_a_backlog_never_builds_the_queues_attributes(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a queue with a backlog, whose attributes' full build is watched
    from infra.local import moto_fixes as fixes

    url = sqs.create_queue(QueueName="busy")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(10)])
    counted: list[str] = []

    def count(queue: Any) -> int:
        counted.append(queue.name)
        return 0

    monkeypatch.setattr("moto.sqs.models.Queue.approximate_number_of_messages", property(count))

    # When one more message is sent, then the queue's attributes are asked for
    sqs.send_message(QueueUrl=url, MessageBody="one more")
    sent_cost = list(counted)
    listed = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    # Then sending counted nothing; the attributes are still moto's own, all of them
    assert sent_cost == []
    assert not getattr(getattr(fixes, "_sending", None), "active", False)
    assert {"ApproximateNumberOfMessages", "QueueArn", "MessageRetentionPeriod"} <= set(listed)


def test_a_fifo_queue_still_deduplicates_on_content(sqs: Any) -> None:
    # Given a FIFO queue with content-based deduplication
    url = sqs.create_queue(
        QueueName="dedupe.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]

    # When the same body is sent twice in one group
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")

    # Then one message is there
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["same"]
