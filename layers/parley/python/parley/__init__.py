"""Parley's shared layer: event catalog, routing table, domain logic, adapters and the extension SDK.

Layering rule (checked by review, kept small on purpose):
- ``catalog``, ``routing``, ``domain`` are pure: no boto3, no pynamodb, no os.environ.
- ``adapters`` are the only modules that import boto3 or pynamodb.
- ``services`` wire domain logic to adapters; ``http`` and ``consumers`` are the Lambda edges.
"""
