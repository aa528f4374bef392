"""Sign-in through the authorization server (/config.json names it): code with PKCE through the hosted
UI, then a refresh before the token expires. The local stack serves Cognito's endpoint shapes, so this
is the code path a deployed stack's client runs."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from playwright.sync_api import Request, expect

from infra.web_policy import csp
from tests.browser.conftest import User, axe_violations

NewUser = Callable[[str], User]


def claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_sign_in_with_the_hosted_ui_then_refresh_before_expiry(new_user: NewUser, artifacts: Path) -> None:
    dana = new_user("dana")
    page = dana.page
    token_requests: list[dict[str, str]] = []

    def record(request: Request) -> None:
        if request.url.endswith("/oauth2/token"):
            fields = dict(pair.split("=", 1) for pair in (request.post_data or "").split("&"))
            token_requests.append(fields)

    page.on("request", record)
    page.clock.install()  # the test moves the page's time to just before the token expires
    page.goto(f"{dana.base}/#chat=not-yet")
    expect(page.get_by_test_id("signin-oauth")).to_be_visible()
    assert axe_violations(page, "signin-oauth") == []

    # the hosted UI: redirected with a PKCE challenge, back with a code
    page.get_by_test_id("signin-oauth").click()
    expect(page.get_by_test_id("hosted-username")).to_be_visible()
    authorize = page.url
    assert "code_challenge_method=S256" in authorize
    assert "code_challenge=" in authorize
    assert "state=" in authorize
    page.get_by_test_id("hosted-username").fill("dana")
    page.get_by_test_id("hosted-submit").click()
    expect(page.get_by_test_id("me-name")).to_have_text("dana")
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "live")
    assert "code=" not in page.url  # the code is spent and gone from the address bar
    # and back where the sign-in started: the invite link to a chat (that does not exist)
    expect(page.get_by_test_id("error-banner")).to_contain_text("Could not open the chat")
    assert [r["grant_type"] for r in token_requests] == ["authorization_code"]
    assert len(token_requests[0]["code_verifier"]) >= 43
    first = page.evaluate("JSON.parse(localStorage.getItem('parley.session'))")
    assert first["via"] == "oauth"
    assert claims(first["token"])["sub"] == first["user_id"]

    # the token verifies against the issuer's JWKS, as API Gateway's JWT authorizer does
    with urlopen(f"{dana.base}/.well-known/jwks.json") as response:
        keys = json.load(response)["keys"]
    assert [k["kid"] for k in keys] == ["parley-local"]

    # the API takes it: Dana creates a chat
    page.locator("#create-panel > summary").click()
    dana.create_chat("Signed in properly")

    # shortly before expiry the page renews the token with the refresh token, unasked
    lifetime = claims(first["token"])["exp"] - claims(first["token"])["iat"]
    page.clock.fast_forward((lifetime - 4 * 60) * 1000)
    page.wait_for_function("window.parley.tokenRefreshes === 1")
    assert [r["grant_type"] for r in token_requests] == ["authorization_code", "refresh_token"]
    second = page.evaluate("JSON.parse(localStorage.getItem('parley.session'))")
    assert second["token"] != first["token"]
    assert second["refresh_token"] == first["refresh_token"]
    dana.send("still signed in")
    expect(dana.message("still signed in")).to_have_count(1)
    page.screenshot(path=artifacts / "browser-oauth.png")
    assert dana.errors == []


def test_a_return_that_did_not_start_here_is_refused(new_user: NewUser) -> None:
    eve = new_user("eve")
    eve.page.goto(f"{eve.base}/?code=stolen&state=forged")
    expect(eve.page.get_by_test_id("signin-error")).to_contain_text("did not start here")
    expect(eve.page.get_by_test_id("me-name")).to_be_hidden()
    assert "code=" not in eve.page.url


WATCH_CSP = """window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (event) => window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));"""


def test_the_client_runs_under_the_content_security_policy(new_user: NewUser) -> None:
    """The local stack serves the page with the policy CloudFront serves it with: nothing is blocked."""
    alice = new_user("Alice")
    alice.page.add_init_script(WATCH_CSP)
    alice.page.goto(f"{alice.base}/")
    with urlopen(f"{alice.base}/") as response:
        assert response.headers["Content-Security-Policy"] == csp()
    alice.sign_in()
    alice.create_chat("Under a strict CSP")
    alice.send("nothing inline here")
    expect(alice.message("nothing inline here")).to_have_count(1)
    alice.page.get_by_test_id("analytics-button").click()
    expect(alice.page.get_by_test_id("analytics-panel")).to_have_attribute("data-state", "ready")
    alice.page.get_by_test_id("analytics-close").click()
    alice.page.get_by_test_id("extensions-button").click()
    expect(alice.page.get_by_test_id("extension")).not_to_have_count(0)
    assert alice.page.evaluate("window.cspViolations") == []
    assert alice.errors == []
