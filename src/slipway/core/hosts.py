"""Host names as an HTTP Host header or an Origin carries them, normalised for comparison.

Shared by the config file (`gateway.allowed_hosts`), `slipway serve
--allowed-host` and the admin API's request checks, so a name the operator
wrote compares equal to what a browser sends: case, a trailing dot and IPv6
brackets do not matter, and a port is never part of a name.
"""

from __future__ import annotations

import ipaddress
import re

#: A DNS name or an IP address, as written in a URL's authority (IPv6 in brackets).
_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.~%!$&'()*+,;=-]+)(?::(?P<port>[0-9]{1,5}))?")
_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


def normal_name(name: str) -> str:
    """`name` lowercased, without brackets or a trailing dot: the form every comparison uses."""
    name = name.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name.removesuffix(".")


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(normal_name(name))
    except ValueError:
        return False
    return True


def split_host(value: str) -> tuple[str, int | None] | None:
    """A Host header's (name, port), or None for a value that is not `name[:port]`."""
    found = _HOST.fullmatch(value.strip())
    if found is None:
        return None
    port = found.group("port")
    if port is not None and not 0 < int(port) < 65536:
        return None
    return normal_name(found.group("name")), int(port) if port is not None else None


def host_name_problem(entry: str) -> str | None:
    """Why `entry` cannot be an allowed host name (gateway.allowed_hosts, --allowed-host), or None."""
    if "://" in entry or "/" in entry:
        return f"{entry!r} is a URL; give the bare name clients use, like slipway.example.com"
    if ":" in entry.strip("[]") and not is_ip(entry):
        return f"{entry!r} has a port; give the name alone (any port is accepted)"
    if not is_ip(entry) and _NAME.fullmatch(normal_name(entry)) is None:
        return f"{entry!r} is not a host name (letters, digits, '-' and '.')"
    return None
