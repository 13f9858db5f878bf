"""Building Ollama models from a base and a LoRA adapter file, through Ollama's documented API.

The steps (ollama/docs/api.md, "Create a Model", "Check if a Blob Exists",
"Push a Blob", "Show Model Information"):

1. `HEAD /api/blobs/sha256:<hex>`: 200 if the server has the file, 404 if not.
2. `POST /api/blobs/sha256:<hex>` with the file as the body: 201 Created
   (200 when it already had it), 400 `{"error": "digest mismatch, ..."}` when
   the bytes do not hash to the digest in the URL.
3. `POST /api/create {"model", "from", "adapters": {file name: digest}}`:
   a stream of NDJSON `{"status": ...}` lines ending in `{"status":
   "success"}`. A failure before anything was streamed is an HTTP error with
   `{"error": ...}`; after that it is an `{"error": ...}` line in the stream.
4. `POST /api/show {"model"}`: `modelfile` names the base weights
   (`FROM <blob path>`) and each adapter (`ADAPTER <blob path>`); blob paths
   end in `sha256-<hex>`. That is how slipway tells which models share a base.

Every adapter version gets its own model name (`<model>-<version>`): creating
over an existing name would change the weights under a slot already serving it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx

from slipway.backends.http_errors import backend_errors
from slipway.core.colocation import ModelBuild
from slipway.core.errors import BackendError, UpstreamStatusError
from slipway.core.types import Slot

CHUNK = 1 << 20
_DIGEST = re.compile(r"sha256[-:]([0-9a-fA-F]{64})")


def file_digest(path: Path) -> str:
    """`sha256:<hex>` of a file, the way Ollama names blobs."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def blob_id(path: str) -> str:
    """A blob path from a modelfile (`.../blobs/sha256-<hex>`) as `sha256:<hex>`; other paths as given."""
    found = _DIGEST.search(path)
    return f"sha256:{found.group(1).lower()}" if found else path


def parse_modelfile(modelfile: str) -> ModelBuild | None:
    """The base (first FROM) and adapters (every ADAPTER) of a modelfile from `/api/show`."""
    base: str | None = None
    adapters: list[str] = []
    for raw in modelfile.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        command, _, arg = line.partition(" ")
        arg = arg.strip().strip('"')
        if command.upper() == "FROM" and base is None and arg:
            base = blob_id(arg)
        elif command.upper() == "ADAPTER" and arg:
            adapters.append(blob_id(arg))
    return ModelBuild(base, tuple(adapters)) if base else None


def ollama_error(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:300]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return resp.text.strip()[:300]


def _timeout(slot: Slot) -> httpx.Timeout:
    return httpx.Timeout(slot.read_timeout_s, connect=slot.connect_timeout_s)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk


async def model_build(client: httpx.AsyncClient, slot: Slot, model: str) -> ModelBuild | None:
    """What `model` on the slot's Ollama is built from; None when Ollama has no such model."""
    with backend_errors(slot, f"showing model {model!r}"):
        resp = await client.post(
            slot.endpoint + "/api/show", json={"model": model}, timeout=slot.connect_timeout_s + 5
        )
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise UpstreamStatusError(
            f"Ollama at {slot.endpoint} could not show model {model!r}: {ollama_error(resp)}",
            status=resp.status_code,
            body=resp.content,
            hint="read the Ollama server's log",
            slot=slot.name,
        )
    try:
        modelfile = resp.json()["modelfile"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackendError(
            f"Ollama at {slot.endpoint}: POST /api/show for {model!r} returned no modelfile",
            hint="is this endpoint Ollama?",
            slot=slot.name,
        ) from exc
    return parse_modelfile(str(modelfile))


async def push_blob(client: httpx.AsyncClient, slot: Slot, path: Path, *, digest: str | None = None) -> str:
    """Make sure the slot's Ollama has `path` as a blob; return its digest (`sha256:<hex>`).

    `digest` skips hashing the file when the caller recorded it already (the
    registry does); Ollama checks it against the bytes it receives.
    """
    if not path.is_file():
        raise BackendError(f"no file at {path}", hint="give the adapter's GGUF file", slot=slot.name)
    if digest is None:
        digest = await asyncio.to_thread(file_digest, path)
    url = f"{slot.endpoint}/api/blobs/{digest}"
    with backend_errors(slot, "checking for a blob"):
        head = await client.head(url, timeout=slot.connect_timeout_s + 5)
    if head.status_code == 200:
        return digest
    if head.status_code != 404:
        raise UpstreamStatusError(
            f"Ollama at {slot.endpoint} answered HTTP {head.status_code} to HEAD /api/blobs/{digest}",
            status=head.status_code,
            hint="is this endpoint Ollama?",
            slot=slot.name,
        )
    with backend_errors(slot, f"uploading {path.name}"):
        resp = await client.post(url, content=_file_chunks(path), timeout=_timeout(slot))
    if resp.status_code in (200, 201):
        return digest
    message = ollama_error(resp)
    hint = (
        "the file changed or was cut short while it was uploaded; check it and upload again"
        if "digest mismatch" in message
        else "read the Ollama server's log"
    )
    raise UpstreamStatusError(
        f"Ollama at {slot.endpoint} refused blob {path.name} ({digest}): {message}",
        status=resp.status_code,
        body=resp.content,
        hint=hint,
        slot=slot.name,
    )


async def create_with_adapter(
    client: httpx.AsyncClient,
    slot: Slot,
    name: str,
    base_from: str,
    adapter_path: Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[str]:
    """Create Ollama model `name` = `base_from` + the LoRA adapter file; return Ollama's status lines.

    Idempotent: a model `name` already built from that base and adapter is kept.
    A model `name` with other weights is refused, never replaced.
    """
    digest = await push_blob(client, slot, adapter_path)
    existing = await model_build(client, slot, name)
    if existing is not None:
        base = await model_build(client, slot, base_from)
        if existing.adapters == (digest,) and (base is None or base.base == existing.base):
            return [f"model {name!r} already exists with this base and adapter"]
        raise BackendError(
            f"Ollama at {slot.endpoint} already has a model {name!r} built from other weights",
            hint="give every adapter version its own model name (e.g. <model>-<version>); replacing it "
            "would change what a slot serving it answers",
            slot=slot.name,
        )
    body = {"model": name, "from": base_from, "adapters": {adapter_path.name: digest}, "stream": True}
    statuses: list[str] = []
    what = f"Ollama at {slot.endpoint} could not create {name!r} from {base_from!r} + {adapter_path.name}"
    with backend_errors(slot, f"creating model {name!r}"):
        async with client.stream(
            "POST", slot.endpoint + "/api/create", json=body, timeout=_timeout(slot)
        ) as resp:
            if resp.status_code != 200:
                await resp.aread()
                raise UpstreamStatusError(
                    f"{what}: {ollama_error(resp)}",
                    status=resp.status_code,
                    body=resp.content,
                    hint=_create_hint(ollama_error(resp), base_from),
                    slot=slot.name,
                )
            async for line in resp.aiter_lines():
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError as exc:
                    raise BackendError(
                        f"{what}: the status stream held a line that is not JSON: {line[:200]!r}",
                        hint="is this endpoint Ollama?",
                        slot=slot.name,
                    ) from exc
                if isinstance(event, dict) and event.get("error"):
                    raise BackendError(
                        f"{what}: {event['error']}",
                        hint=_create_hint(str(event["error"]), base_from),
                        slot=slot.name,
                    )
                status = str(event.get("status", "")) if isinstance(event, dict) else ""
                statuses.append(status)
                if progress is not None:
                    progress(status)
    if not statuses or statuses[-1] != "success":
        last = statuses[-1] if statuses else "nothing"
        raise BackendError(
            f"{what}: the status stream ended without 'success' (last: {last})",
            hint="the server may have restarted; create again (it is safe to repeat)",
            slot=slot.name,
        )
    return statuses


def _create_hint(message: str, base_from: str) -> str:
    lowered = message.lower()
    if "pull model manifest" in lowered or "not found" in lowered or "does not exist" in lowered:
        return f"the base {base_from!r} is not on that Ollama server: `ollama pull` or create it first"
    if "adapter" in lowered:
        return (
            "Ollama takes one GGUF LoRA adapter per model, made for this base; validate it with slipway first"
        )
    return "read the Ollama server's log for the cause"
