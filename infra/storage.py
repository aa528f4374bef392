"""DynamoDB tables, built from the same PynamoDB models the code reads and writes."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from parley.adapters.tables import TABLES, spec

_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}
_STREAMS = {"NEW_IMAGE": dynamodb.StreamViewType.NEW_IMAGE}


def _attribute(key: dict[str, str] | None) -> dynamodb.Attribute | None:
    return dynamodb.Attribute(name=key["name"], type=_TYPES[key["type"]]) if key else None


class Storage(Construct):
    """One on-demand table per definition in ``parley.adapters.tables.TABLES``.

    Deletion protection and the removal policy come from context (``infra.config``): a production
    stack keeps its chats when someone runs ``cdk destroy``; a throwaway stack can be torn down.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deletion_protection: bool = True,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.TableV2] = {}
        for table in TABLES:
            definition: dict[str, Any] = spec(table)
            partition_key = _attribute(definition["partition_key"])
            assert partition_key is not None
            self.tables[table.key] = dynamodb.TableV2(
                self,
                table.key.capitalize(),
                partition_key=partition_key,
                sort_key=_attribute(definition["sort_key"]),
                billing=dynamodb.Billing.on_demand(),
                time_to_live_attribute=definition["ttl_attribute"],
                # the events table's stream is the outbox: the broadcaster and the relay read it
                dynamo_stream=_STREAMS[definition["stream"]] if definition["stream"] else None,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                deletion_protection=deletion_protection,
                removal_policy=removal_policy,
                global_secondary_indexes=[
                    dynamodb.GlobalSecondaryIndexPropsV2(
                        index_name=index["name"],
                        partition_key=_attribute(index["partition_key"]),
                        sort_key=_attribute(index["sort_key"]),
                    )
                    for index in definition["indexes"]
                ],
            )
