"""The schema of a chat's workflows (the `workflows` extension's config), for editors and clients."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from parley.http.contract import PUBLIC, ok, responses

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


@router.get(
    "/workflows/schema",
    summary="The JSON Schema of a chat's workflows (the `workflows` extension's `config`)",
    description="A chat's moderators save workflows as the `workflows` extension's config "
    "(PUT /chats/{chat_id}/extensions/workflows); this is the schema it is validated against, with "
    "`x-parley-variables`: the variables each trigger offers its conditions and templates (naming any "
    "other is a 422 `invalid_config` naming the field).",
    operation_id="workflows_schema",
    security=PUBLIC,
    responses=responses(ok(200, "The JSON Schema (draft 2020-12)"), {}, public=True),
)
def workflows_schema() -> dict[str, Any]:
    from parley.domain.workflows import schema  # pydantic models built on first ask, not at cold start

    return schema()
