"""Bearer tokens: HS256 JWTs that name the organization they open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from meterbell.domain.errors import Unauthorized
from meterbell.domain.keys import TOKEN_SIGNING, derived_key

ALGORITHM = "HS256"
ISSUER = "meterbell"
SCOPE = "m3ter-resources/m3ter-scope"
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class TokenClaims:
    client_id: str
    org_id: str


class TokenSigner:
    """Signs and verifies tokens with a key derived from the service's secret key."""

    def __init__(self, secret_key: str) -> None:
        self._key = derived_key(secret_key, TOKEN_SIGNING)
        self._verified: dict[str, tuple[TokenClaims, float]] = {}

    def issue(self, claims: TokenClaims, *, now: datetime, ttl: timedelta) -> str:
        payload = {
            "sub": claims.client_id,
            "orgId": claims.org_id,
            "iss": ISSUER,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
        }
        return jwt.encode(payload, self._key, algorithm=ALGORITHM)

    def verify(self, token: str, *, now_s: float) -> TokenClaims:
        """The token's claims; a token seen before is not decoded again until it expires."""
        known = self._verified.get(token)
        if known is not None and known[1] > now_s:
            return known[0]
        claims, expires_s = self._decode(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (claims, expires_s)
        return claims

    def _decode(self, token: str) -> tuple[TokenClaims, float]:
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "sub", "orgId"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The access token has expired: request a new one") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("The access token is not valid") from exc
        claims = TokenClaims(client_id=str(payload["sub"]), org_id=str(payload["orgId"]))
        return claims, float(payload["exp"])
