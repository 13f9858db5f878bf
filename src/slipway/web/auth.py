"""Bearer-token check for the admin API, in constant time.

With no token configured the admin API is open, which `app.py` allows only on
a loopback address; this module just compares.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


class TokenGuard:
    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def __call__(self, request: Request) -> None:
        if self._token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise HTTPException(
                401,
                detail="missing admin token: send 'Authorization: Bearer <SLIPWAY_ADMIN_TOKEN>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(presented.strip().encode(), self._token):
            raise HTTPException(
                401,
                detail="wrong admin token: use the value of SLIPWAY_ADMIN_TOKEN the server was started with",
                headers={"WWW-Authenticate": "Bearer"},
            )
