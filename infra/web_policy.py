"""The web client's Content-Security-Policy: one definition for CloudFront (infra/web_hosting.py) and the
local stack's gateway, so the browser tests run the page under the policy a deployed stack serves."""

from __future__ import annotations


def csp(*connect: str) -> str:
    """The page's own files only, no inline code; connections to itself and to ``connect`` origins."""
    origins = " ".join(("'self'", *connect))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {origins}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
