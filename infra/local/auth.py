"""Local sign-in: RS256 JWTs from a key made at start, verified as API Gateway's JWT authorizer does.

The HTTP API's authorizer checks the signature against the issuer's keys, ``iss``, ``aud`` and the
time claims, then hands the claims to the Lambda as strings. The gateway does exactly that.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "parley-local"
GROUPS_CLAIM = "cognito:groups"
"""Cognito puts the user's groups in this claim of the ID token (``operators`` may read the summary)."""
TOKEN_LIFETIME_SECONDS = 12 * 3600
KEY_ID = "parley-local"
"""The signing key's ``kid``, in each token's header and in the JWKS (``/.well-known/jwks.json``)."""


class InvalidTokenError(Exception):
    """The bearer token is missing, forged, expired or for someone else: 401."""


class LocalIdentityProvider:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def issue(self, user_id: str, name: str, groups: tuple[str, ...] = ()) -> tuple[str, int]:
        now = int(time.time())
        expires = now + TOKEN_LIFETIME_SECONDS
        claims: dict[str, Any] = {
            "sub": user_id,
            "name": name,
            "iss": self.issuer,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "token_use": "id",
            # each token its own, as Cognito's carry a jti: a refresh within the same second still
            # hands out a new token
            "jti": uuid.uuid4().hex,
        }
        if groups:
            claims[GROUPS_CLAIM] = list(groups)
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": KEY_ID}), expires

    def jwks(self) -> dict[str, Any]:
        """The public key as a JSON Web Key Set, as a Cognito user pool publishes its own."""
        key: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**key, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}

    def verify(self, authorization: str | None) -> dict[str, str]:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise InvalidTokenError("missing bearer token")
        token = authorization[7:].strip()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=AUDIENCE,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from exc
        # API Gateway passes every claim to the integration as a string; an array as "[a b]"
        return {k: _as_string(v) for k, v in claims.items()}


def _as_string(value: Any) -> str:
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return value if isinstance(value, str) else str(value)
