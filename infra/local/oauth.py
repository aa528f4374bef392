"""Local OAuth 2.0 endpoints shaped like a Cognito user pool's hosted UI, so the web client's sign-in
(authorization code with PKCE, then refresh) runs the same code path here as against a deployed stack.

- ``GET /oauth2/authorize``: the "hosted UI", a page asking for a user name (no password: local);
  ``POST /oauth2/authorize`` redirects to ``redirect_uri`` with ``code`` and ``state``.
- ``POST /oauth2/token`` (form-encoded): ``authorization_code`` (checked against the PKCE
  ``code_challenge``, single use, 5 minutes) or ``refresh_token``; answers ``id_token``,
  ``access_token``, ``refresh_token`` (on a code only, as Cognito), ``expires_in``, ``token_type``.
- ``GET /.well-known/jwks.json``: the signing key, as the issuer's JWKS.
- ``GET /config.json``: what the web client needs to sign in, as the hosting construct writes it
  from a deployed stack's outputs.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from infra.local.auth import LocalIdentityProvider

CLIENT_ID = "parley-web"
CODE_LIFETIME_SECONDS = 300
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url of a SHA-256 digest, unpadded
VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 section 4.1


@dataclass(frozen=True)
class _Grant:
    user_id: str
    name: str
    challenge: str
    redirect_uri: str
    expires_at: float


def _error(status: int, error: str, description: str) -> web.Response:
    body = {"error": error, "error_description": description}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def challenge_of(verifier: str) -> str:
    """PKCE S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class LocalAuthorizationServer:
    def __init__(self, identity: LocalIdentityProvider) -> None:
        self._identity = identity
        self._codes: dict[str, _Grant] = {}
        self._refresh: dict[str, tuple[str, str]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/oauth2/authorize", self.authorize_page)
        app.router.add_post("/oauth2/authorize", self.authorize)
        app.router.add_post("/oauth2/token", self.token)
        app.router.add_get("/.well-known/jwks.json", self.jwks)
        app.router.add_get("/config.json", self.config)

    async def config(self, request: web.Request) -> web.Response:
        body = {
            "auth": {
                "authorize_url": "/oauth2/authorize",
                "token_url": "/oauth2/token",
                "client_id": CLIENT_ID,
                "scope": "openid profile",
                "local_sign_in": True,  # the name-only form of /local/token, next to the hosted UI
            }
        }
        return web.Response(text=json.dumps(body), content_type="application/json")

    async def jwks(self, request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(self._identity.jwks()), content_type="application/json")

    @staticmethod
    def _request_problem(query: Any) -> str | None:
        if query.get("response_type") != "code":
            return "response_type must be code"
        if query.get("client_id") != CLIENT_ID:
            return "unknown client_id"
        if query.get("code_challenge_method") != "S256" or not CHALLENGE.match(
            query.get("code_challenge", "")
        ):
            return "a PKCE code_challenge (S256) is required"
        redirect = urlsplit(query.get("redirect_uri", ""))
        if redirect.scheme not in ("http", "https") or not redirect.netloc:
            return "redirect_uri must be an absolute http(s) URL"
        return None

    async def authorize_page(self, request: web.Request) -> web.Response:
        problem = self._request_problem(request.query)
        if problem:
            return _error(400, "invalid_request", problem)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in request.query.items()
        )
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in to Parley</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Sign in to Parley</h1>
<p>The local stack's stand-in for Cognito's hosted UI: any user name, no password.</p>
<form method="post" action="/oauth2/authorize">{hidden}
<label for="username">User name</label>
<input id="username" name="username" data-testid="hosted-username" required maxlength="64"
 autocomplete="username">
<button type="submit" data-testid="hosted-submit">Sign in</button></form></main></body></html>"""
        return web.Response(text=page, content_type="text/html")

    async def authorize(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {k: str(v) for k, v in form.items()}
        problem = self._request_problem(fields)
        if problem:
            return _error(400, "invalid_request", problem)
        username = fields.get("username", "").strip()
        if not USERNAME.match(username):
            return _error(400, "invalid_request", "a user name is 1-64 letters, digits, '-', '_' or '.'")
        code = secrets.token_urlsafe(32)
        # Cognito's sub is a stable id per user: here, one derived from the user name
        user_id = "u-" + hashlib.sha256(username.encode()).hexdigest()[:16]
        self._codes[code] = _Grant(
            user_id,
            username,
            fields["code_challenge"],
            fields["redirect_uri"],
            time.time() + CODE_LIFETIME_SECONDS,
        )
        query = {"code": code, **({"state": fields["state"]} if fields.get("state") else {})}
        raise web.HTTPFound(f"{fields['redirect_uri']}?{urlencode(query)}")

    async def token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        if form.get("client_id") != CLIENT_ID:
            return _error(400, "invalid_client", "unknown client_id")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = self._codes.pop(form.get("code", ""), None)  # single use, even when refused
            if (
                grant is None
                or grant.expires_at < time.time()
                or grant.redirect_uri != form.get("redirect_uri")
            ):
                return _error(
                    400, "invalid_grant", "the code is unknown, used, expired or for another redirect_uri"
                )
            verifier = form.get("code_verifier", "")
            if not VERIFIER.match(verifier) or challenge_of(verifier) != grant.challenge:
                return _error(400, "invalid_grant", "the code_verifier does not match the code_challenge")
            refresh = secrets.token_urlsafe(48)
            self._refresh[refresh] = (grant.user_id, grant.name)
            return self._tokens(grant.user_id, grant.name, refresh)
        if grant_type == "refresh_token":
            held = self._refresh.get(form.get("refresh_token", ""))
            if held is None:
                return _error(400, "invalid_grant", "the refresh token is unknown or revoked")
            return self._tokens(*held, None)
        return _error(400, "unsupported_grant_type", "authorization_code or refresh_token")

    def _tokens(self, user_id: str, name: str, refresh: str | None) -> web.Response:
        token, expires = self._identity.issue(user_id, name)
        body: dict[str, Any] = {
            "id_token": token,
            "access_token": token,
            "expires_in": max(0, expires - int(time.time())),
            "token_type": "Bearer",
        }
        if refresh:
            body["refresh_token"] = refresh
        return web.Response(
            text=json.dumps(body), content_type="application/json", headers={"Cache-Control": "no-store"}
        )
