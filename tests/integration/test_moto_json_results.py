"""moto's data-plane answers written with ``json.dumps`` (the local stack's moto process) are the
answers its shape walk writes: every operation the stack uses, every attribute type, on the same
result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.responses import BaseResponse

from infra.local import moto_fixes
from infra.local.streams import streams_client

TABLE = "json-results"
ITEM = {
    "pk": {"S": "p"},
    "sk": {"S": "a"},
    "n": {"N": "12.50"},
    "b": {"B": b"\x00\xffbinary"},
    "flag": {"BOOL": True},
    "none": {"NULL": True},
    "l": {"L": [{"S": "x"}, {"N": "1"}, {"B": b"\x01"}, {"M": {"deep": {"B": b"\x02"}}}]},
    "m": {"M": {"s": {"S": "y"}, "b": {"B": b"\x03"}}},
    "ss": {"SS": ["u", "v"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x04", b"\x05"]},
}


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, list[str]]]:
    """A DynamoDB client and a streams client whose every answer is written both ways; the list
    names each operation answered by the fast path (and checked equal)."""
    moto_fixes.fast_json_results()
    fast: Any = BaseResponse.serialized
    original = fast._parley_original
    checked: list[str] = []

    def both(self: Any, action_result: Any) -> Any:
        quick = fast(self, action_result)
        slow = original(self, action_result)
        assert quick[0] == slow[0]
        assert quick[1]["Content-Type"] == slow[1]["Content-Type"]
        assert json.loads(quick[2]) == json.loads(slow[2]), self._get_action()
        if isinstance(action_result.result, dict):
            checked.append(self._get_action())
        return slow

    monkeypatch.setattr(BaseResponse, "serialized", both)
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
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield dynamodb, streams_client("us-east-1"), checked


def test_every_data_plane_answer_is_the_one_motos_shape_walk_writes(
    compared: tuple[Any, Any, list[str]],
) -> None:
    dynamodb, streams, checked = compared
    key = {"pk": {"S": "p"}, "sk": {"S": "a"}}
    # Given items of every attribute type, written and read by each operation the stack uses
    dynamodb.put_item(TableName=TABLE, Item=ITEM, ReturnConsumedCapacity="TOTAL")
    dynamodb.put_item(TableName=TABLE, Item={**ITEM, "n": {"N": "13"}}, ReturnValues="ALL_OLD")
    dynamodb.get_item(TableName=TABLE, Key=key, ReturnConsumedCapacity="INDEXES")
    dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "p"}, "sk": {"S": "missing"}})
    dynamodb.get_item(TableName=TABLE, Key=key, ProjectionExpression="b, m.b, l[2]")
    dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET n = n + :one, extra = :b",
        ExpressionAttributeValues={":one": {"N": "1"}, ":b": {"B": b"\x06"}},
        ReturnValues="ALL_NEW",
    )
    for sk in ("b", "c", "d"):
        dynamodb.put_item(TableName=TABLE, Item={**ITEM, "sk": {"S": sk}})
    dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        Limit=2,
        ScanIndexForward=False,
        ReturnConsumedCapacity="TOTAL",
    )
    dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        Select="COUNT",
    )
    dynamodb.scan(TableName=TABLE, Limit=3)
    dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": [key, {"pk": {"S": "p"}, "sk": {"S": "missing"}}]}})
    dynamodb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": {**ITEM, "sk": {"S": "e"}}}}]})
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**ITEM, "sk": {"S": "f"}}}},
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "p"}, "sk": {"S": "e"}}}},
        ]
    )
    dynamodb.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": key}}])
    dynamodb.delete_item(TableName=TABLE, Key=key, ReturnValues="ALL_OLD")
    arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records = streams.get_records(ShardIterator=iterator, Limit=1000)

    # Then each answer was the same both ways, and the clients read the values they wrote
    assert set(checked) >= {
        "PutItem",
        "GetItem",
        "UpdateItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
        "DeleteItem",
        "GetRecords",
    }
    assert records["Records"][0]["dynamodb"]["NewImage"]["b"] == {"B": b"\x00\xffbinary"}
    assert dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "p"}, "sk": {"S": "f"}})["Item"] == {
        **ITEM,
        "sk": {"S": "f"},
    }
