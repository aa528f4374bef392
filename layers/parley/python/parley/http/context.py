"""Who is calling and which flow the request belongs to, read from what API Gateway hands the Lambda."""

from __future__ import annotations

from typing import Any

from parley.domain.model import MAX_USER_ID_LENGTH
from parley.errors import ForbiddenError, NotAuthenticatedError
from parley.services.chats import Identity

CORRELATION_HEADER = "x-correlation-id"
OPERATORS_GROUP = "operators"
"""Operators are the members of this Cognito group: the ID token's ``cognito:groups`` claim. A group
is set by an administrator only; a ``custom:`` attribute could be writable by the user."""
GROUPS_CLAIM = "cognito:groups"


def _claims(raw_event: dict[str, Any]) -> dict[str, Any]:
    authorizer = (raw_event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    return claims if isinstance(claims, dict) else {}


def identity_of(raw_event: dict[str, Any]) -> Identity:
    """The caller from the JWT authorizer's claims: ``sub`` is the user id, never the request body."""
    claims = _claims(raw_event)
    user_id = claims.get("sub")
    if not isinstance(user_id, str) or not user_id:
        raise NotAuthenticatedError("sign in first: this route needs a bearer token")
    if len(user_id) > MAX_USER_ID_LENGTH or not (user_id.isascii() and user_id.isprintable()):
        # ids are keys and fill the chat item, which has a size budget (parley.domain.model)
        raise NotAuthenticatedError(
            f"the token's subject must be 1-{MAX_USER_ID_LENGTH} printable ASCII characters"
        )
    name = next(
        (claims[k] for k in ("name", "preferred_username", "cognito:username", "username") if claims.get(k)),
        user_id,
    )
    return Identity(user_id=user_id, name="".join(c for c in str(name) if c.isprintable())[:64] or user_id)


def groups_of(raw_event: dict[str, Any]) -> set[str]:
    """The caller's groups. API Gateway hands an array claim to the Lambda as one string, written
    ``[a b]`` by HTTP APIs (``a,b`` or a bare ``a`` elsewhere); a list is taken as it is."""
    claim = _claims(raw_event).get(GROUPS_CLAIM)
    if isinstance(claim, list):
        return {str(g) for g in claim}
    if not isinstance(claim, str):
        return set()
    text = claim.strip().removeprefix("[").removesuffix("]")
    return {g.strip("\"' ") for g in text.replace(",", " ").split() if g.strip("\"' ")}


def require_operator(raw_event: dict[str, Any], *, to: str) -> Identity:
    """The caller, if an operator: 401 without a token first, then 403 outside the group."""
    identity = identity_of(raw_event)
    if OPERATORS_GROUP not in groups_of(raw_event):
        raise ForbiddenError(f"only operators (the `{OPERATORS_GROUP}` group) may {to}")
    return identity


def correlation_id_of(raw_event: dict[str, Any]) -> str | None:
    headers = raw_event.get("headers") or {}
    given = headers.get(CORRELATION_HEADER)
    if isinstance(given, str) and 0 < len(given) <= 128:
        return given
    request_id = (raw_event.get("requestContext") or {}).get("requestId")
    return request_id if isinstance(request_id, str) else None
