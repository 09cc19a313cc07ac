"""Who is calling and what they may do: API keys (``X-API-Key``), JWT bearer tokens, the
development key, scopes, and per-caller rate limits (the ``limits`` library).

401 when no valid credential is given, 403 when the credential's scope is too small, 429 past the
caller's rate (``Retry-After`` and ``X-RateLimit-*`` headers; the same headers on every answer).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import HTTPException, Request, Security, WebSocket
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from neural_engine.errors import ValidationError
from neural_engine.settings import Settings
from ray_jobs.api.keys import SCOPES, KeyStore, scope_allows

API_KEY = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an API key (`neuralforge api keys create`)"
)
BEARER = HTTPBearer(auto_error=False, description="a JWT (HS256) with `sub`, `exp` and `scope` claims")
CHALLENGE = {"WWW-Authenticate": 'ApiKey header="X-API-Key", Bearer'}


@dataclass(frozen=True)
class Principal:
    identity: str  # "key:<id>", "jwt:<sub>" or "dev": what the rate limit counts
    scope: str
    name: str  # the key's name, the token's subject: the user of the jobs it submits
    rate_limit: str | None = None


class RateLimits:
    """Moving-window limits per caller, kept in ``limits`` storage (memory, or Redis for several
    API processes)."""

    def __init__(self, default: str, storage_uri: str):
        from limits import parse, storage, strategies

        self._parse = parse
        try:
            self.default = parse(default)
            backend = storage.storage_from_string(storage_uri)
        except ValueError as e:
            raise ValidationError(
                f"NEURALFORGE_API_RATE_LIMIT must be like 120/minute and "
                f"NEURALFORGE_API_RATE_LIMIT_STORAGE a limits storage URI (memory://, "
                f"redis://…); received {default!r}, {storage_uri!r} ({e})"
            ) from None
        self.limiter = strategies.MovingWindowRateLimiter(backend)

    def hit(self, principal: Principal) -> dict[str, str]:
        """Count one request; its rate headers, or a 429 carrying them."""
        item = self._parse(principal.rate_limit) if principal.rate_limit else self.default
        allowed = self.limiter.hit(item, principal.identity)
        stats = self.limiter.get_window_stats(item, principal.identity)
        headers = {
            "X-RateLimit-Limit": str(item.amount),
            "X-RateLimit-Remaining": str(stats.remaining),
            "X-RateLimit-Reset": str(math.ceil(stats.reset_time)),
        }
        if not allowed:
            wait = max(1, math.ceil(stats.reset_time - time.time()))
            raise HTTPException(
                429,
                f"the rate limit is {item} per caller; try again in {wait} s",
                headers={**headers, "Retry-After": str(wait)},
            )
        return headers


class Auth:
    """The credentials this server accepts (from the settings and the keys file)."""

    def __init__(self, s: Settings):
        self.keys = KeyStore(keys_path(s))
        self.jwt_secret = s.api_jwt_secret
        self._dev = hashlib.sha256(s.api_dev_key.encode()).digest() if s.api_dev_key else None
        self.limits = RateLimits(s.api_rate_limit, s.api_rate_limit_storage)

    def authenticate(self, api_key: str | None, bearer: str | None) -> Principal:
        if api_key:
            if self._dev is not None and hmac.compare_digest(
                hashlib.sha256(api_key.encode()).digest(), self._dev
            ):
                return Principal("dev", "admin", "dev")
            record = self.keys.verify(api_key)
            if record is None:
                raise HTTPException(
                    401,
                    "the X-API-Key header must hold a valid API key; the key sent is unknown or revoked",
                    headers=CHALLENGE,
                )
            return Principal(f"key:{record.id}", record.scope, record.name, record.rate_limit)
        if bearer:
            return self._jwt(bearer)
        raise HTTPException(
            401,
            "this route needs credentials: an X-API-Key header (`neuralforge api keys "
            "create`) or an Authorization: Bearer JWT; received none",
            headers=CHALLENGE,
        )

    def _jwt(self, token: str) -> Principal:
        import jwt

        if not self.jwt_secret:
            raise HTTPException(
                401,
                "bearer tokens are not enabled on this server (no "
                "NEURALFORGE_API_JWT_SECRET); send an X-API-Key",
                headers=CHALLENGE,
            )
        try:
            claims = jwt.decode(
                token, self.jwt_secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.InvalidTokenError as e:
            raise HTTPException(
                401,
                f"the bearer token must be a valid, unexpired JWT signed with the "
                f"server's secret; it is not ({e})",
                headers=CHALLENGE,
            ) from None
        scope = claims.get("scope", "read")
        if scope not in SCOPES:
            raise HTTPException(
                401,
                f"the token's scope claim must be one of {', '.join(SCOPES)}; received {scope!r}",
                headers=CHALLENGE,
            )
        return Principal(f"jwt:{claims['sub']}", scope, str(claims["sub"]))

    def check(self, api_key: str | None, bearer: str | None, needed: str) -> tuple[Principal, dict]:
        """Authenticate, authorise ``needed``, count the request: (caller, rate headers)."""
        principal = self.authenticate(api_key, bearer)
        if not scope_allows(principal.scope, needed):
            raise HTTPException(
                403, f"this route needs the {needed!r} scope; the credential sent has {principal.scope!r}"
            )
        return principal, self.limits.hit(principal)


def keys_path(s: Settings):
    return s.home / "api" / "keys.json"


def require(needed: str):
    """A route dependency: the caller, who must hold ``needed`` (or a larger scope)."""

    async def caller(
        request: Request,
        api_key: Annotated[str | None, Security(API_KEY)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
    ) -> Principal:
        principal, headers = request.app.state.auth.check(
            api_key, bearer.credentials if bearer else None, needed
        )
        request.state.rate_headers = headers  # added to the response by the app's middleware
        return principal

    caller.__name__ = f"require_{needed}"
    caller.needed_scope = needed
    return caller


def needed_scope(request: Request) -> str | None:
    """The scope the matched route requires (None: a public route)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    for d in getattr(dependant, "dependencies", ()):
        if getattr(d.call, "needed_scope", None):
            return d.call.needed_scope
    return None


async def websocket_caller(ws: WebSocket, needed: str) -> Principal | None:
    """The caller of a WebSocket, or None after refusing it (an HTTP 401/403/429 where the server
    supports denial responses, else close code 1008)."""
    header = ws.headers.get("authorization", "")
    bearer = header[7:] if header.lower().startswith("bearer ") else None
    try:
        principal, _ = ws.app.state.auth.check(ws.headers.get("x-api-key"), bearer, needed)
        return principal
    except HTTPException as e:
        from fastapi.responses import JSONResponse

        if "websocket.http.response" in ws.scope.get("extensions", {}):
            await ws.send_denial_response(
                JSONResponse({"error": "AuthError", "message": e.detail}, e.status_code, headers=e.headers)
            )
        else:
            await ws.close(code=1008, reason=str(e.detail)[:120])
        return None
