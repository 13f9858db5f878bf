"""A protocol-faithful stand-in for Ollama's API, for tests only: NOT Ollama.

Ollama cannot run here, so the endpoints slipway uses to build and watch
adapter models are reproduced from Ollama's documented request and response
shapes. Nothing here runs a model; chat answers name the model that was
asked. Never present this as a real Ollama.

Sources of the shapes:

- ollama/ollama docs/api.md (docs.ollama.com/api): "Check if a Blob Exists"
  (`HEAD /api/blobs/:digest`: 200 or 404), "Push a Blob" (`POST
  /api/blobs/:digest`: 201 Created, 400 when the digest is not the file's),
  "Create a Model" (`model`, `from`, `files`, `adapters` = file name ->
  `sha256:<hex>`, `stream`; a stream of `{"status": ...}` lines ending in
  `{"status": "success"}`), "Show Model Information" (`modelfile`,
  `parameters`, `template`, `details`, `model_info`, `capabilities`), "List
  Local Models" (`/api/tags`), "List Running Models" (`/api/ps`: `size`,
  `size_vram`, `expires_at`), "Generate a chat completion" (`load_duration`
  in nanoseconds; empty `messages` loads the model, `done_reason: "load"`),
  "Load a model" / "Unload a model" (`POST /api/generate` with only
  `model`, or with `keep_alive: 0`: `done_reason` "load" or "unload").
- ollama/ollama server/routes.go: `HeadBlobHandler` and `CreateBlobHandler`
  (400 `{"error": "digest mismatch, expected \"...\", got \"...\""}`, 200 when
  the blob exists already); `streamResponse`: an error before anything was
  written is sent as the HTTP status with `{"error": ...}` (500 unless the
  handler gave one), after that as an `{"error": ...}` line that ends the
  stream; `waitForStream` for `"stream": false`.
- ollama/ollama server/create.go: name validation (400 before streaming),
  `from` a model that is not local is pulled ("pulling manifest", then
  "pull model manifest: file does not exist" offline), adapter errors carry
  status 400, "only one adapter is currently supported".
- ollama/ollama server/images.go `Model.String`: the modelfile names the
  base as `FROM <blob path>` and each adapter as `ADAPTER <blob path>`,
  blob paths ending in `sha256-<hex>`.
- ollama/ollama server/sched.go: runners are keyed by the base model's blob
  path (`schedulerModelKey`), and `needsReload` reloads when `AdapterPaths`
  differ, so two models with one base and different adapters evict each other.

Error texts not quoted in those sources (a missing adapter blob, a file that
is not GGUF) are close approximations; slipway must not depend on them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

BLOBS_DIR = "/root/.ollama/models/blobs"
_DIGEST = re.compile(r"^sha256[:-]([0-9a-fA-F]{64})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]*(:[A-Za-z0-9._\-]+)?$")
WARM_LOAD_NS = 1_500_000


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def full_name(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def blob_path(digest: str) -> str:
    return f"{BLOBS_DIR}/{digest.replace(':', '-')}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class FakeModel:
    base: str
    adapters: tuple[str, ...] = ()
    modified_at: str = field(default_factory=_now)


@dataclass
class Runner:
    """One loaded runner, keyed by its base blob: the model that loaded it and its adapters."""

    model: str
    adapters: tuple[str, ...]
    expires_at: str = field(default_factory=_now)


@dataclass
class FakeOllamaState:
    memory_bytes: int
    cold_load_ns: int
    blobs: dict[str, bytes] = field(default_factory=dict)
    models: dict[str, FakeModel] = field(default_factory=dict)
    runners: dict[str, Runner] = field(default_factory=dict)
    #: (method, path) of every request, so tests can see HEAD before POST.
    calls: list[tuple[str, str]] = field(default_factory=list)
    #: how many times a loaded runner was thrown away for another adapter set.
    reloads: int = 0

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "1M",
            "quantization_level": "F32",
        }

    def entry(self, name: str) -> dict[str, Any]:
        model = self.models[name]
        size = len(self.blobs[model.base]) + sum(len(self.blobs[a]) for a in model.adapters)
        return {
            "name": name,
            "model": name,
            "modified_at": model.modified_at,
            "size": size,
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": self.details(),
        }


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _respond(events: list[dict[str, Any]], stream: bool) -> Response:
    """routes.go's streamResponse / waitForStream for a list of progress and error events."""
    if not stream or (events and "error" in events[0]):
        for event in events:
            if "error" in event:
                return _error(event["error"], event.get("status", 500))
        return JSONResponse(events[-1])

    def lines() -> Iterator[bytes]:
        for event in events:
            if "error" in event:
                yield (json.dumps({"error": event["error"]}) + "\n").encode()
                return
            yield (json.dumps(event) + "\n").encode()

    return StreamingResponse(lines(), media_type="application/x-ndjson")


def create_ollama_protocol_fake(
    bases: dict[str, bytes] | None = None,
    *,
    memory_bytes: int = 123_456_789,
    cold_load_ns: int = 2_500_000_000,
) -> Starlette:
    """A fake Ollama holding the base models `bases` (name -> GGUF bytes)."""
    state = FakeOllamaState(memory_bytes=memory_bytes, cold_load_ns=cold_load_ns)
    for name, data in (bases or {"tinyllama": b"GGUF\x03\x00\x00\x00tiny base weights"}).items():
        digest = digest_of(data)
        state.blobs[digest] = data
        state.models[full_name(name)] = FakeModel(base=digest)

    async def blobs(request: Request) -> Response:
        state.calls.append((request.method, request.url.path))
        raw = request.path_params["digest"]
        found = _DIGEST.match(raw)
        if not found:
            return _error("invalid digest format", 400)
        digest = "sha256:" + found.group(1).lower()
        if request.method == "HEAD":
            if digest in state.blobs:
                return Response(status_code=200)
            return _error(f'blob "{raw}" not found', 404)
        if digest in state.blobs:
            return Response(status_code=200)
        data = await request.body()
        got = digest_of(data)
        if got != digest:
            return _error(f'digest mismatch, expected "{raw}", got "{got}"', 400)
        state.blobs[digest] = data
        return Response(status_code=201)

    async def create(request: Request) -> Response:
        state.calls.append((request.method, request.url.path))
        try:
            body = await request.json()
        except ValueError:
            return _error("missing request body", 400)
        name = str(body.get("model") or body.get("name") or "")
        if not _NAME.match(name):
            return _error("invalid model name", 400)
        stream = body.get("stream", True) is not False
        events: list[dict[str, Any]] = []
        source = body.get("from")
        if not source:
            events.append({"error": "neither 'from' or 'files' was specified", "status": 400})
            return _respond(events, stream)
        base_model = state.models.get(full_name(str(source)))
        if base_model is None:
            events.append({"status": "pulling manifest"})
            events.append({"error": "pull model manifest: file does not exist"})
            return _respond(events, stream)
        events.append({"status": f"using existing layer {base_model.base}"})
        adapters: dict[str, str] = body.get("adapters") or {}
        if len(adapters) > 1:
            events.append({"error": "only one adapter is currently supported", "status": 400})
            return _respond(events, stream)
        layers: list[str] = []
        for file_name, digest in adapters.items():
            if digest not in state.blobs:
                events.append(
                    {"error": f"open {blob_path(digest)}: no such file or directory", "status": 400}
                )
                return _respond(events, stream)
            if not file_name.endswith(".gguf") or not state.blobs[digest].startswith(b"GGUF"):
                events.append({"error": "unknown type", "status": 400})
                return _respond(events, stream)
            events.append({"status": "parsing GGUF"})
            events.append({"status": f"using existing layer {digest}"})
            layers.append(digest)
        events.append({"status": "writing manifest"})
        events.append({"status": "success"})
        state.models[full_name(name)] = FakeModel(base=base_model.base, adapters=tuple(layers))
        return _respond(events, stream)

    async def show(request: Request) -> Response:
        state.calls.append((request.method, request.url.path))
        body = await request.json()
        asked = str(body.get("model") or body.get("name") or "")
        model = state.models.get(full_name(asked))
        if model is None:
            return _error(f"model '{asked}' not found", 404)
        lines = [
            '# Modelfile generated by "ollama show"',
            "# To build a new Modelfile based on this one, replace the FROM line with:",
            f"# FROM {full_name(asked)}",
            "",
            f"FROM {blob_path(model.base)}",
            *(f"ADAPTER {blob_path(a)}" for a in model.adapters),
            'TEMPLATE """{{ .Prompt }}"""',
        ]
        return JSONResponse(
            {
                "modelfile": "\n".join(lines) + "\n",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": state.details(),
                "model_info": {"general.architecture": "llama", "general.parameter_count": 1_000_000},
                "capabilities": ["completion"],
                "modified_at": model.modified_at,
            }
        )

    async def tags(request: Request) -> Response:
        state.calls.append((request.method, request.url.path))
        return JSONResponse({"models": [state.entry(name) for name in state.models]})

    async def ps(request: Request) -> Response:
        state.calls.append((request.method, request.url.path))
        loaded = []
        for runner in state.runners.values():
            entry = state.entry(runner.model)
            del entry["modified_at"]
            entry.update({"size": state.memory_bytes, "expires_at": runner.expires_at, "size_vram": 0})
            loaded.append(entry)
        return JSONResponse({"models": loaded})

    async def chat(request: Request) -> Response:
        state.calls.append((request.method, request.url.path))
        body = await request.json()
        asked = str(body.get("model") or "")
        name = full_name(asked)
        model = state.models.get(name)
        if model is None:
            return _error(f'model "{asked}" not found, try pulling it first', 404)
        runner = state.runners.get(model.base)
        cold = runner is None or runner.adapters != model.adapters
        if cold and runner is not None:
            state.reloads += 1
        state.runners[model.base] = Runner(model=name, adapters=model.adapters)
        load_ns = state.cold_load_ns if cold else WARM_LOAD_NS
        messages = body.get("messages") or []
        final = {
            "model": asked,
            "created_at": _now(),
            "message": {"role": "assistant", "content": f"answer from {name}" if messages else ""},
            "done_reason": "stop" if messages else "load",
            "done": True,
        }
        if messages:
            final.update(
                {
                    "total_duration": load_ns + 5_000_000,
                    "load_duration": load_ns,
                    "prompt_eval_count": 3,
                    "prompt_eval_duration": 2_000_000,
                    "eval_count": 3,
                    "eval_duration": 3_000_000,
                }
            )
        if body.get("stream", True) is False:
            return JSONResponse(final)
        return StreamingResponse(
            iter([(json.dumps(final) + "\n").encode()]), media_type="application/x-ndjson"
        )

    async def generate(request: Request) -> Response:
        """Only the load and unload forms (no prompt): slipway never generates through this path."""
        state.calls.append((request.method, request.url.path))
        body = await request.json()
        asked = str(body.get("model") or "")
        model = state.models.get(full_name(asked))
        if model is None:
            return _error(f'model "{asked}" not found, try pulling it first', 404)
        unload = body.get("keep_alive") in (0, "0", "0s")
        if unload:
            runner = state.runners.get(model.base)
            if runner is not None and runner.model == full_name(asked):
                del state.runners[model.base]
        else:
            state.runners[model.base] = Runner(model=full_name(asked), adapters=model.adapters)
        final = {"model": asked, "created_at": _now(), "response": "", "done": True,
                 "done_reason": "unload" if unload else "load"}  # fmt: skip
        return _respond([final], body.get("stream", True) is not False)

    app = Starlette(
        routes=[
            Route("/api/blobs/{digest}", blobs, methods=["HEAD", "POST"]),
            Route("/api/create", create, methods=["POST"]),
            Route("/api/show", show, methods=["POST"]),
            Route("/api/tags", tags, methods=["GET"]),
            Route("/api/ps", ps, methods=["GET"]),
            Route("/api/chat", chat, methods=["POST"]),
            Route("/api/generate", generate, methods=["POST"]),
        ]
    )
    app.state.fake = state
    return app
