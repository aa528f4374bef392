"""The HTTP API's public routes: the one list the api Lambda, the CDK stack and the local gateway read.

Kept apart from ``parley.http.app`` so that the stack and the gateway learn which routes skip the
JWT authorizer without building the resolver (the api's cold start).
"""

from __future__ import annotations

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {("GET", "/health"), ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/workflows/schema")}
)
"""(method, path) served without a token: liveness, and the API's own description (Swagger UI
fetches /docs?format=json) with the workflows schema. Everything else needs a token, in AWS and locally."""

PUBLIC_PATHS: frozenset[str] = frozenset(path for _, path in PUBLIC_ROUTES)
