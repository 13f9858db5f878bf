"""Who may be calling the admin API: the operator's CLI, the dashboard, or a web page in their browser.

A caller is a combination of the headers that decide it: Authorization, Host,
Origin, Sec-Fetch-Site and Content-Type. Each combination is classified
independently of slipway's code, from what a browser would send:

- `authorized`: the right bearer token (or the server has none);
- `same_origin`: the Host names this server (an address or `localhost`), and
  the request carries no Origin or this server's own, and no Sec-Fetch-Site
  other than same-origin or none. None when the combination is one slipway
  may reasonably judge either way (an https Origin for this host:port, a Host
  naming some other IP address): the invariant is not asserted for those.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from hypothesis import strategies as st
from tests.fuzz.live import Site

#: Authorization values: the right one, and near misses that must never count as it.
AUTH = ["valid", "none", "wrong", "no-scheme", "basic", "truncated", "extended", "empty-bearer", "two-tokens"]
#: Host header: this server by address or name, a rebound DNS name, another address.
HOSTS = ["own", "own", "localhost", "evil", "evil-no-port", "other-ip", "garbage"]
ORIGINS = [
    "none",
    "none",
    "own",
    "evil",
    "evil-same-port",
    "other-port",
    "null",
    "https-own",
    "no-port",
    "garbage",
]
FETCH_SITES = [None, None, "same-origin", "none", "cross-site", "same-site", "CROSS-SITE"]
CONTENT_TYPES = [
    b"application/json", b"application/json", b"application/json; charset=utf-8", b"APPLICATION/JSON",
    None, b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x",
    b"application/jsonx", b"text/plain; application/json",
]  # fmt: skip


@dataclass(frozen=True)
class Caller:
    auth: str
    host: str
    origin: str
    fetch_site: str | None
    content_type: bytes | None

    def host_header(self, site: Site) -> bytes | None:
        return {
            "own": f"127.0.0.1:{site.port}",
            "localhost": f"localhost:{site.port}",
            "evil": f"evil.example:{site.port}",
            "evil-no-port": "evil.example",
            "other-ip": f"10.0.0.7:{site.port}",
            "garbage": "a b@c",
        }[self.host].encode()

    def headers(self, site: Site) -> list[tuple[bytes, bytes]]:
        token = site.token or "no-token-configured"
        auth = {
            "valid": f"Bearer {token}",
            "none": None,
            "wrong": "Bearer wrong-token",
            "no-scheme": token,
            "basic": "Basic " + base64.b64encode(f"admin:{token}".encode()).decode(),
            "truncated": f"Bearer {token[:-1]}",
            "extended": f"Bearer {token}x",
            "empty-bearer": "Bearer ",
            "two-tokens": f"Bearer wrong, Bearer {token}",
        }[self.auth]
        own_name = "localhost" if self.host == "localhost" else "127.0.0.1"
        origin = {
            "none": None,
            "own": f"http://{own_name}:{site.port}",
            "evil": "http://evil.example",
            "evil-same-port": f"http://evil.example:{site.port}",
            "other-port": f"http://{own_name}:1",
            "null": "null",
            "https-own": f"https://{own_name}:{site.port}",
            "no-port": f"http://{own_name}",
            "garbage": "http://[::1",
        }[self.origin]
        out: list[tuple[bytes, bytes]] = []
        if auth is not None:
            out.append((b"authorization", auth.encode()))
        if origin is not None:
            out.append((b"origin", origin.encode()))
        if self.fetch_site is not None:
            out.append((b"sec-fetch-site", self.fetch_site.encode()))
        if self.content_type is not None:
            out.append((b"content-type", self.content_type))
        return out

    def authorized(self, site: Site) -> bool:
        return site.token is None or self.auth == "valid"

    @property
    def same_origin(self) -> bool | None:
        if self.host in ("other-ip",) or self.origin == "https-own":
            return None
        own_host = self.host in ("own", "localhost")
        own_origin = self.origin in ("none", "own")
        return own_host and own_origin and self.fetch_site in (None, "same-origin", "none")


def callers(legitimate_weight: int = 1) -> st.SearchStrategy[Caller]:
    """Any caller; `legitimate_weight` more draws of the operator's own CLI (token, own host, JSON)."""
    anyone = st.builds(
        Caller,
        auth=st.sampled_from(AUTH),
        host=st.sampled_from(HOSTS),
        origin=st.sampled_from(ORIGINS),
        fetch_site=st.sampled_from(FETCH_SITES),
        content_type=st.sampled_from(CONTENT_TYPES),
    )
    operator = st.builds(
        Caller,
        auth=st.just("valid"),
        host=st.sampled_from(["own", "localhost"]),
        origin=st.sampled_from(["none", "own"]),
        fetch_site=st.sampled_from([None, "same-origin"]),
        content_type=st.just(b"application/json"),
    )
    return st.one_of(anyone, *[operator] * legitimate_weight)


def probing_callers() -> st.SearchStrategy[Caller]:
    """Callers at the edge of the rule: mostly the right token, half of them from another origin
    (and some from this origin without the token), where a missing check would show."""
    return st.builds(
        Caller,
        auth=st.one_of(st.just("valid"), st.just("valid"), st.just("valid"), st.sampled_from(AUTH)),
        host=st.one_of(st.just("own"), st.sampled_from(HOSTS)),
        origin=st.sampled_from(ORIGINS),
        fetch_site=st.sampled_from(FETCH_SITES),
        content_type=st.one_of(st.just(b"application/json"), st.sampled_from(CONTENT_TYPES)),
    )
