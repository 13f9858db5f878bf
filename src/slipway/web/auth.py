"""Bearer-token check for the admin API, in constant time.

With no token configured the admin API is open, which `slipway.app` allows only on
a loopback address; this module just compares. The comparison runs twice: in
`web.guard`, before a request's body is read, and as this FastAPI dependency,
which declares the check as OpenAPI bearer security, so `/docs` offers an
"Authorize" button and every admin operation shows that it needs the token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from slipway.core.bearer import ADMIN_TOKEN, BearerSecret, secret_problem
from slipway.core.errors import ConfigError

_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description="The value of SLIPWAY_ADMIN_TOKEN that `slipway serve` was started with.",
)


def _refuse(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def token_problem(token: str | None) -> ConfigError | None:
    """Why the admin token can never be matched, or None (see `core.bearer.secret_problem`)."""
    return secret_problem(token, ADMIN_TOKEN)


class TokenGuard:
    def __init__(self, token: str | None) -> None:
        self._secret = BearerSecret(token, ADMIN_TOKEN)

    @property
    def enabled(self) -> bool:
        return self._secret.enabled

    def refusal(self, authorization: str | None) -> str | None:
        """Why a request with this Authorization header value is refused, or None to let it in."""
        return self._secret.refusal(authorization)

    def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        refusal = self.refusal(request.headers.get("authorization"))
        if refusal is not None:
            raise _refuse(refusal)
