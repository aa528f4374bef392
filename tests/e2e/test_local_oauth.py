"""The local stack's OAuth endpoints, shaped like a Cognito user pool's: code with PKCE, refresh, JWKS."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from infra.local.oauth import CLIENT_ID, challenge_of

REDIRECT = "http://127.0.0.1:1/"


def authorize(stack: str, verifier: str, *, username: str = "dana") -> str:
    """The hosted UI's form, submitted: the code it redirects back with."""
    fields = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "state": "s-1",
        "code_challenge": challenge_of(verifier),
        "code_challenge_method": "S256",
    }
    assert requests.get(f"{stack}/oauth2/authorize", params=fields, timeout=10).status_code == 200
    answer = requests.post(
        f"{stack}/oauth2/authorize", data={**fields, "username": username}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    assert query["state"] == ["s-1"]
    return query["code"][0]


def token(stack: str, **fields: str) -> requests.Response:
    return requests.post(f"{stack}/oauth2/token", data={"client_id": CLIENT_ID, **fields}, timeout=10)


def exchange(stack: str, code: str, verifier: str) -> requests.Response:
    return token(
        stack, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )


def verified(stack: str, id_token: str) -> dict[str, Any]:
    """Checked as API Gateway's JWT authorizer checks it: the issuer's JWKS, by kid."""
    keys = {k["kid"]: k for k in requests.get(f"{stack}/.well-known/jwks.json", timeout=10).json()["keys"]}
    key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(keys[jwt.get_unverified_header(id_token)["kid"]]))
    claims: dict[str, Any] = jwt.decode(id_token, key, algorithms=["RS256"], audience="parley-local")  # type: ignore[arg-type]
    return claims


def test_a_code_with_its_verifier_gives_tokens_the_api_accepts_and_a_refresh_gives_more(stack: str) -> None:
    verifier = secrets.token_urlsafe(48)
    tokens = exchange(stack, authorize(stack, verifier), verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert {"id_token", "access_token", "refresh_token", "expires_in", "token_type"} <= set(body)
    claims = verified(stack, body["id_token"])
    assert claims["name"] == "dana"
    headers = {"Authorization": f"Bearer {body['id_token']}"}
    assert requests.get(f"{stack}/chats", headers=headers, timeout=10).status_code == 200

    renewed = token(stack, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert renewed.status_code == 200
    assert "refresh_token" not in renewed.json()  # as Cognito: the refresh token stays the same
    assert verified(stack, renewed.json()["id_token"])["sub"] == claims["sub"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_verifier": secrets.token_urlsafe(48)}, "invalid_grant"),  # not the challenge's verifier
        ({"redirect_uri": "http://127.0.0.1:2/"}, "invalid_grant"),
        ({"code": "made-up"}, "invalid_grant"),
        ({"client_id": "someone-else"}, "invalid_client"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
    ],
)
def test_a_bad_exchange_is_refused(stack: str, change: dict[str, str], error: str) -> None:
    verifier = secrets.token_urlsafe(48)
    code = authorize(stack, verifier)
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    answer = requests.post(
        f"{stack}/oauth2/token", data={"client_id": CLIENT_ID, **fields, **change}, timeout=10
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == error


def test_a_code_is_good_once(stack: str) -> None:
    verifier = secrets.token_urlsafe(48)
    code = authorize(stack, verifier)
    assert exchange(stack, code, verifier).status_code == 200
    again = exchange(stack, code, verifier)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


def test_authorize_needs_a_pkce_challenge(stack: str) -> None:
    answer = requests.get(
        f"{stack}/oauth2/authorize",
        params={"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT},
        timeout=10,
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")


def test_the_client_config_names_the_endpoints(stack: str) -> None:
    auth = requests.get(f"{stack}/config.json", timeout=10).json()["auth"]
    assert auth["client_id"] == CLIENT_ID
    assert (auth["authorize_url"], auth["token_url"]) == ("/oauth2/authorize", "/oauth2/token")
