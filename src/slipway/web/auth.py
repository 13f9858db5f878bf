"""Bearer-token check for the admin API, in constant time.

With no token configured the admin API is open, which `slipway.app` allows only on
a loopback address; this module just compares. The comparison runs twice: in
`web.guard`, before a request's body is read, and as this FastAPI dependency,
which declares the check as OpenAPI bearer security, so `/docs` offers an
"Authorize" button and every admin operation shows that it needs the token.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from slipway.core.errors import ConfigError

_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description="The value of SLIPWAY_ADMIN_TOKEN that `slipway serve` was started with.",
)


def _refuse(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def token_problem(token: str | None) -> ConfigError | None:
    """Why `token` can never be matched, or None; refused at start rather than locking everyone out.

    HTTP drops the whitespace around a header's value, so a blank token, or
    one with a space or newline at either end (a secret file read with its
    newline), could never be sent back: every admin call would get 401.
    """
    if not token:
        return None
    if not token.strip():
        return ConfigError(
            "SLIPWAY_ADMIN_TOKEN is set but blank, so no request could ever send it",
            hint="set it to a long random secret (e.g. `openssl rand -hex 32`), "
            "or unset it to serve without a token on 127.0.0.1",
        )
    if token != token.strip():
        return ConfigError(
            "SLIPWAY_ADMIN_TOKEN starts or ends with whitespace, which HTTP drops from the "
            "Authorization header, so no request could ever match it",
            hint="remove the spaces or the newline around the value; a long random secret "
            "(e.g. `openssl rand -hex 32`) has none",
        )
    return None


class TokenGuard:
    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def refusal(self, authorization: str | None) -> str | None:
        """Why a request with this Authorization header value is refused, or None to let it in."""
        if self._token is None:
            return None
        scheme, _, credentials = (authorization or "").partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            # The header is not echoed: a token sent without its scheme would land in logs.
            sent = bool((authorization or "").strip())
            wrong = "; the Authorization header was there but not in that form" if sent else ""
            return f"missing admin token: send 'Authorization: Bearer <SLIPWAY_ADMIN_TOKEN>'{wrong}"
        if not hmac.compare_digest(credentials.encode(), self._token):
            return "wrong admin token: use the value of SLIPWAY_ADMIN_TOKEN the server was started with"
        return None

    def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        refusal = self.refusal(request.headers.get("authorization"))
        if refusal is not None:
            raise _refuse(refusal)
