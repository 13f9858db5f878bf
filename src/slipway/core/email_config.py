"""The `notify.email:` section: an SMTP server that mails every notification to a list of people.

Addresses end up in mail headers, so a line break in one (header injection)
or a value no server accepts is refused with the file, not at 3 a.m. when
the first rollback is mailed. The password is never in the file: only the
name of the environment variable that holds it.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from slipway.core.hosts import normal_name
from slipway.core.names import EnvName, Label, shown
from slipway.core.numbers import Range

#: The longest address SMTP carries (RFC 5321: 254 characters in a path).
ADDRESS_MAX = 254
#: A mail to more people than this is a mailing list's job.
RECIPIENTS_MAX = 50
_ADDRESS = re.compile(r"[!#-'*+\-/-9=?A-Z^-~.]+@[A-Za-z0-9.-]+")
_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[?[0-9A-Fa-f:.]+\]?")
ADDRESS_RULE = f"local@domain, at most {ADDRESS_MAX} ASCII characters, no spaces or line breaks"


def check_address(value: str) -> str:
    if len(value) > ADDRESS_MAX or _ADDRESS.fullmatch(value) is None:
        raise ValueError(f"e-mail address {shown(value)} is not valid: {ADDRESS_RULE}")
    return value


def check_smtp_host(value: str) -> str:
    if _HOST.fullmatch(value) is None:
        raise ValueError(f"SMTP host {shown(value)} is not a host name or IP address (no scheme, no port)")
    return normal_name(value)


Address = Annotated[str, AfterValidator(check_address)]
SmtpHost = Annotated[str, AfterValidator(check_smtp_host)]


class EmailConfig(BaseModel):
    """Where mail goes: the SMTP server, the sender and the people told."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    host: SmtpHost = Field(description="SMTP server's host name or IP address.")
    port: Annotated[int, Range(1, 65_535)] = Field(587, description="SMTP server's port.")
    sender: Address = Field(alias="from", description="Sender address (the From header).")
    to: list[Address] = Field(
        min_length=1, max_length=RECIPIENTS_MAX, description="Recipient addresses (1 to 50)."
    )
    starttls: bool = Field(True, description="Upgrade the connection with STARTTLS before logging in.")
    username: Label | None = Field(None, description="SMTP login name; none: no login.")
    password_env: EnvName | None = Field(
        None, description="Environment variable that holds the SMTP password (never the password itself)."
    )
    timeout_s: Annotated[float, Range(0, 300, low_open=True, unit="seconds")] = Field(
        10.0, description="Longest wait for the SMTP server during one attempt."
    )

    @model_validator(mode="after")
    def _login(self) -> EmailConfig:
        if (self.password_env is None) != (self.username is None):
            raise ValueError("username and password_env go together: give both to log in, or neither")
        return self
