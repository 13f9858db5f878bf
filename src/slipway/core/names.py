"""The one rule for names and labels, wherever they come from: the config file, the admin API, the CLI.

A version or model label ends up in an HTTP response header
(`X-Slipway-Version`), in `slipway history`, in the log and in an exported
config file. A carriage return in one once split the header and emptied every
answer while the records said 200, and a slot name the API accepted (`../../x`)
made `slipway config export` write a file that did not load. So every entry
point checks the same few kinds, here, with limits documented in
docs/config.md (keep them in step):

* a **name** (slot, engine): 1–63 ASCII letters, digits, `-`, `_` or `.`,
  starting with a letter or digit; so never a path, never `..`.
* a **label** (version, model, upstream model, adapter, public model id,
  actor): 1–200 printable ASCII characters (space to `~`), no leading or
  trailing space; `/`, `:` and `+` are fine (`meta-llama/Llama-3`, `cs:v2.2`).
* an **environment variable name** (`api_key_env`): letters, digits and `_`,
  not starting with a digit, at most 128.
* an **endpoint** before it is parsed as a URL: at most 2,048 printable ASCII
  characters without spaces.
* a **text** (a reason): at most 1,000 printable characters, any language, no
  control characters (so no line breaks).

Each `check_*` returns the value unchanged or raises ValueError naming what,
the value (shortened and escaped) and the rule, so pydantic validators and
plain callers (the CLI) report the same sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator

NAME_MAX = 63
LABEL_MAX = 200
ENV_NAME_MAX = 128
ENDPOINT_MAX = 2048
TEXT_MAX = 1000

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PRINTABLE_ASCII = re.compile(r"[ -~]*")

NAME_RULE = f"1 to {NAME_MAX} ASCII letters, digits, '-', '_' or '.', starting with a letter or digit"
LABEL_RULE = (
    f"1 to {LABEL_MAX} printable ASCII characters (no control characters such as line breaks), "
    "without leading or trailing spaces"
)
ENV_NAME_RULE = f"1 to {ENV_NAME_MAX} letters, digits or '_', not starting with a digit"
ENDPOINT_RULE = f"at most {ENDPOINT_MAX} printable ASCII characters without spaces"
TEXT_RULE = f"at most {TEXT_MAX} printable characters, no control characters such as line breaks"


def shown(value: str, limit: int = 60) -> str:
    """The value as an error message can show it: escaped (a CR/LF stays visible) and shortened."""
    text = repr(value[:limit])
    return text + (f" (+{len(value) - limit} more characters)" if len(value) > limit else "")


def _problem(what: str, value: str, rule: str) -> ValueError:
    return ValueError(f"{what} {shown(value)} is not allowed: use {rule}")


def check_name(value: str, what: str = "name") -> str:
    """A slot or engine name: something safe as a path component, a header value and a YAML key."""
    if not (len(value) <= NAME_MAX and _NAME.fullmatch(value)):
        raise _problem(what, value, NAME_RULE)
    return value


def check_label(value: str, what: str = "label") -> str:
    """A version, model or adapter label, or an actor: it may be sent as an HTTP header value."""
    if not (0 < len(value) <= LABEL_MAX and _PRINTABLE_ASCII.fullmatch(value) and value.strip(" ") == value):
        raise _problem(what, value, LABEL_RULE)
    return value


def check_env_name(value: str, what: str = "environment variable name") -> str:
    if not (len(value) <= ENV_NAME_MAX and _ENV_NAME.fullmatch(value)):
        raise _problem(what, value, ENV_NAME_RULE)
    return value


def check_endpoint_text(value: str, what: str = "endpoint") -> str:
    """Before URL parsing, which silently drops tabs and line breaks instead of refusing them."""
    if not (len(value) <= ENDPOINT_MAX and _PRINTABLE_ASCII.fullmatch(value) and " " not in value.strip()):
        raise _problem(what, value, ENDPOINT_RULE)
    return value


def check_text(value: str, what: str = "text") -> str:
    """Free text an operator writes (a reason): any language, but one printable line of bounded size."""
    if not (len(value) <= TEXT_MAX and value.isprintable()):
        raise _problem(what, value, TEXT_RULE)
    return value


def _validator(check: Callable[[str, str], str], what: str) -> AfterValidator:
    def run(value: str) -> str:
        return check(value, what)

    return AfterValidator(run)


#: Pydantic field types: the same checks inside config and API models.
SlotName = Annotated[str, _validator(check_name, "slot name")]
EngineName = Annotated[str, _validator(check_name, "engine name")]
SuiteName = Annotated[str, _validator(check_name, "suite name")]
VersionLabel = Annotated[str, _validator(check_label, "version")]
ModelLabel = Annotated[str, _validator(check_label, "model")]
AdapterLabel = Annotated[str, _validator(check_label, "adapter")]
Label = Annotated[str, _validator(check_label, "label")]
EnvName = Annotated[str, _validator(check_env_name, "environment variable name")]
EndpointText = Annotated[str, _validator(check_endpoint_text, "endpoint")]
Text = Annotated[str, _validator(check_text, "text")]
