"""Deliver what moto's EventBridge routed (rule -> SQS) to handler functions in-process.

It builds the same SQS event Lambda's event source mapping would, honours partial batch
responses (only failed records stay on the queue, to be retried and finally dead-lettered by the
queue's redrive policy), and fills the EventBridge fields moto leaves out (``account``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from infra.local.functions import Handler
from parley.observability import logger

LOCAL_ACCOUNT = "123456789012"


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = ""
    invoked_function_arn: str = ""
    remaining_ms: int = 30_000

    @classmethod
    def for_function(cls, name: str, region: str = "us-east-1") -> LambdaContext:
        return cls(
            function_name=name,
            aws_request_id=str(uuid.uuid4()),
            invoked_function_arn=f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT}:function:{name}",
        )

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def complete_eventbridge_body(body: str) -> str:
    event = json.loads(body)
    event.setdefault("account", LOCAL_ACCOUNT)
    return json.dumps(event)


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    records = []
    for message in messages:
        body = complete_eventbridge_body(message["Body"])
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": body,
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


@dataclass(frozen=True)
class Delivery:
    delivered: int
    failed: int


def deliver_once(
    sqs: Any, queue_url: str, handler: Handler, function_name: str, *, batch_size: int = 10, region: str
) -> Delivery:
    """Receive one batch and hand it to the handler; delete what succeeded, leave what failed."""
    response = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=batch_size, AttributeNames=["All"], WaitTimeSeconds=0
    )
    messages = response.get("Messages", [])
    if not messages:
        return Delivery(0, 0)
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    try:
        result = handler(sqs_event(messages, arn, region), LambdaContext.for_function(function_name, region))
    except Exception:
        # like Lambda: a failed invocation returns the whole batch to the queue
        logger.exception("handler invocation failed", extra={"function": function_name})
        return Delivery(0, len(messages))
    failed_ids = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
    done = [m for m in messages if m["MessageId"] not in failed_ids]
    if done:
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
        )
    return Delivery(len(done), len(failed_ids))
