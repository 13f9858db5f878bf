"""Show that llama-server loads an adapter: start base + adapter, run one prompt, stop; before any deploy.

A throwaway server on a free loopback port, the adapter alone at scale 0
(so nothing else is at risk if it is bad), one completion with the adapter
at scale 1.0 and `cache_prompt: false`, then the server is stopped. With
the tiny model this takes well under a second; a large base takes as long
as loading it does.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import httpx

from slipway.core.errors import BackendTimeout, BackendUnavailable, UpstreamStatusError

from .process import LlamaServerProcess


async def probe_adapter(
    base: Path,
    adapter: Path,
    prompt: str,
    *,
    binary: Path | None = None,
    log_path: Path | None = None,
    max_tokens: int = 8,
    startup_timeout: float = 120.0,
    request_timeout: float = 60.0,
) -> str:
    """The completion text; EngineStartError, BackendTimeout or UpstreamStatusError if it fails.

    Without `log_path` the engine log goes to a temporary file that is
    removed when the probe succeeds and kept (errors quote its path) when
    it fails.
    """
    own_log = log_path is None
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="slipway-probe-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    text = await _probe(base, adapter, prompt, binary, log_path, max_tokens, startup_timeout, request_timeout)
    if own_log:
        with contextlib.suppress(OSError):
            log_path.unlink()
    return text


async def _probe(
    base: Path,
    adapter: Path,
    prompt: str,
    binary: Path | None,
    log_path: Path,
    max_tokens: int,
    startup_timeout: float,
    request_timeout: float,
) -> str:
    proc = LlamaServerProcess(
        Path(base),
        [Path(adapter)],
        binary=binary,
        parallel=1,
        ctx_size=512,
        log_path=log_path,
        startup_timeout=startup_timeout,
    )
    async with proc:
        body = {
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": 0,
            "cache_prompt": False,
            "lora": [{"id": 0, "scale": 1.0}],
        }
        url = f"{proc.base_url}/v1/completions"
        try:
            async with httpx.AsyncClient(timeout=request_timeout, trust_env=False) as client:
                response = await client.post(url, json=body)
        except httpx.TimeoutException as exc:
            raise BackendTimeout(
                f"POST {url} with adapter {adapter.name} timed out after {request_timeout:g} s",
                hint=f"See the engine log: {proc.log_path}.",
            ) from exc
        except httpx.HTTPError as exc:
            raise BackendUnavailable(
                f"POST {url} with adapter {adapter.name} failed: {exc}",
                hint=f"See the engine log: {proc.log_path}.",
            ) from exc
        if response.status_code != 200:
            raise UpstreamStatusError(
                f"llama-server answered {response.status_code} to a prompt with adapter {adapter.name}: "
                f"{response.text[:300]}",
                status=response.status_code,
                body=response.content,
                hint=f"See the engine log: {proc.log_path}.",
            )
        try:
            text = response.json()["choices"][0]["text"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise UpstreamStatusError(
                f"llama-server's answer has no choices[0].text: {response.text[:300]}",
                status=response.status_code,
                body=response.content,
            ) from exc
        return str(text)
