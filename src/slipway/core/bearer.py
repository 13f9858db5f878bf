"""A shared secret sent as `Authorization: Bearer …`, compared in constant time.

One rule for every secret slipway checks (the admin token, the feedback
token): what a refusal says, and which values are refused at start because
no client could ever send them back. The refusal never echoes what was sent:
a token sent without its scheme would otherwise land in a log.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from slipway.core.errors import ConfigError


@dataclass(frozen=True)
class SecretName:
    """How a secret is spoken of in messages: what it is and the variable that holds it."""

    what: str
    env: str
    #: What going without it means, for the hint on a value that cannot work.
    without: str


ADMIN_TOKEN = SecretName("admin token", "SLIPWAY_ADMIN_TOKEN", "serve without a token on 127.0.0.1")
FEEDBACK_TOKEN = SecretName("feedback token", "SLIPWAY_FEEDBACK_TOKEN", "take feedback from any client")


def secret_problem(value: str | None, name: SecretName) -> ConfigError | None:
    """Why `value` can never be matched, or None; refused at start rather than locking everyone out.

    HTTP drops the whitespace around a header's value, so a blank secret, or
    one with a space or newline at either end (a secret file read with its
    newline), could never be sent back: every call would get 401.
    """
    if not value:
        return None
    if not value.strip():
        return ConfigError(
            f"{name.env} is set but blank, so no request could ever send it",
            hint="set it to a long random secret (e.g. `openssl rand -hex 32`), "
            f"or unset it to {name.without}",
        )
    if value != value.strip():
        return ConfigError(
            f"{name.env} starts or ends with whitespace, which HTTP drops from the "
            "Authorization header, so no request could ever match it",
            hint="remove the spaces or the newline around the value; a long random secret "
            "(e.g. `openssl rand -hex 32`) has none",
        )
    return None


def bearer_credentials(authorization: str | None) -> str | None:
    """The credentials of a `Bearer` Authorization header value, or None when it is not one."""
    scheme, _, credentials = (authorization or "").partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


class BearerSecret:
    """Checks one secret; with none configured, every request passes."""

    def __init__(self, value: str | None, name: SecretName) -> None:
        self._value = value.encode() if value else None
        self.name = name

    @property
    def enabled(self) -> bool:
        return self._value is not None

    def matches(self, credentials: str | None) -> bool:
        return (
            self._value is not None
            and credentials is not None
            and hmac.compare_digest(credentials.encode(), self._value)
        )

    def refusal(self, authorization: str | None) -> str | None:
        """Why a request with this Authorization header value is refused, or None to let it in."""
        if self._value is None:
            return None
        credentials = bearer_credentials(authorization)
        if credentials is None:
            sent = bool((authorization or "").strip())
            wrong = "; the Authorization header was there but not in that form" if sent else ""
            return f"missing {self.name.what}: send 'Authorization: Bearer <{self.name.env}>'{wrong}"
        if not self.matches(credentials):
            return f"wrong {self.name.what}: use the value of {self.name.env} the server was started with"
        return None
