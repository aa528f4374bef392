"""Parley's shared layer: event catalog, routing table, domain logic, adapters and the extension SDK.

Layering rule (checked by review, kept small on purpose):
- ``catalog``, ``routing``, ``domain`` are pure: no AWS SDK, no PynamoDB, no os.environ.
- ``adapters`` are the only modules that import the AWS SDK or PynamoDB; they raise the project's
  own errors (``parley.errors``) from the SDK's, so nothing else needs the SDK to catch one.
- ``services`` wire domain logic to adapters; ``http`` and ``consumers`` are the Lambda edges.
"""
