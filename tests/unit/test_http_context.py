"""Claims are read in one place: who calls, which groups they are in, and whether they operate Parley."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from parley.domain.model import Install
from parley.errors import ForbiddenError, NotAuthenticatedError
from parley.http.context import groups_of, identity_of, require_operator


def event(claims: dict[str, Any] | None) -> dict[str, Any]:
    if claims is None:
        return {"requestContext": {}}
    return {"requestContext": {"authorizer": {"jwt": {"claims": claims}}}}


@pytest.mark.parametrize(
    ("claim", "groups"),
    [
        pytest.param("[operators support]", {"operators", "support"}, id="http-api-array"),
        pytest.param("operators,support", {"operators", "support"}, id="comma-separated"),
        pytest.param("operators", {"operators"}, id="bare"),
        pytest.param(["operators", "support"], {"operators", "support"}, id="list"),
        pytest.param('["operators"]', {"operators"}, id="quoted"),
        pytest.param("[]", set(), id="empty"),
        pytest.param(None, set(), id="absent"),
    ],
)
def test_groups_are_read_from_every_shape_api_gateway_hands_over(claim: Any, groups: set[str]) -> None:
    claims = {"sub": "u-1"} if claim is None else {"sub": "u-1", "cognito:groups": claim}
    assert groups_of(event(claims)) == groups


def test_an_operator_check_answers_401_before_403_and_returns_the_caller() -> None:
    # Given no token, Then 401 whatever the groups
    with pytest.raises(NotAuthenticatedError):
        require_operator(event({"cognito:groups": "[operators]"}), to="see the summary")
    # Given a signed-in member of another group, Then 403 naming what only operators may do
    with pytest.raises(ForbiddenError, match="may see the summary"):
        require_operator(event({"sub": "u-1", "cognito:groups": "[support]"}), to="see the summary")
    # Given an operator, Then the caller is returned, as identity_of reads it
    claims = {"sub": "u-1", "name": "Olga", "cognito:groups": "[operators]"}
    assert require_operator(event(claims), to="see the summary") == identity_of(event(claims))


@pytest.mark.parametrize(
    ("enabled", "reason", "status"),
    [
        pytest.param(True, None, "enabled", id="on"),
        pytest.param(False, "disabled", "disabled", id="off-by-a-moderator"),
        pytest.param(False, "circuit_open", "circuit_open", id="off-after-failures"),
        pytest.param(True, "circuit_open", "enabled", id="re-enabled"),
    ],
)
def test_an_installs_status_is_derived_once_on_the_model(
    enabled: bool, reason: str | None, status: str
) -> None:
    install = Install(
        extension_id="x",
        version="1",
        enabled=enabled,
        disabled_reason=reason,
        installed_by="u-1",
        installed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert install.status == status
