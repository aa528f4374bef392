"""Parley's shared layer: event catalog, routing table, domain logic, adapters and the extension SDK.

Layering rule (executable: ``make lint`` runs import-linter on the contracts in pyproject.toml's
``[tool.importlinter]``, and ``scripts/import_cycles.py``, which fails on any import cycle):
- ``catalog``, ``routing``, ``domain`` are pure: no AWS SDK, no PynamoDB, no os.environ.
- ``adapters`` are the only modules that import boto3, botocore or pynamodb; they import no service,
  and they raise the project's own errors (``parley.errors``) from the SDK's, so nothing else needs
  the SDK to catch one.
- ``services`` wire domain logic to adapters; ``http`` and ``consumers`` are the Lambda edges.
- ``root`` is the composition root (it builds everything); ``topology`` composes the core routes with
  the shipped extensions'. Nothing below them imports them; the extension SDK gets its ports passed in.
"""
