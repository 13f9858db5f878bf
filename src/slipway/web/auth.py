"""Bearer-token check for the admin API, in constant time.

With no token configured the admin API is open, which `app.py` allows only on
a loopback address; this module just compares. The check is declared as
OpenAPI bearer security, so `/docs` offers an "Authorize" button and every
admin operation shows that it needs the token.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description="The value of SLIPWAY_ADMIN_TOKEN that `slipway serve` was started with.",
)


def _refuse(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


class TokenGuard:
    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        if self._token is None:
            return
        if credentials is None:
            # The header is not echoed: a token sent without its scheme would land in logs.
            sent = bool(request.headers.get("authorization", "").strip())
            wrong = "; the Authorization header was there but not in that form" if sent else ""
            raise _refuse(f"missing admin token: send 'Authorization: Bearer <SLIPWAY_ADMIN_TOKEN>'{wrong}")
        if not hmac.compare_digest(credentials.credentials.strip().encode(), self._token):
            raise _refuse(
                "wrong admin token: use the value of SLIPWAY_ADMIN_TOKEN the server was started with"
            )
