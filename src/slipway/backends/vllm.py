"""vLLM's OpenAI server, plus LoRA adapters loaded and unloaded at run time.

vLLM picks the adapter by the request's `model` name, so every adapter
version gets its own name (`<model>-<version>`, e.g. `classifier-v2.2`) and a
slot for it sets `upstream_model` to that name. `GET /v1/models` lists each
loaded adapter as a model whose `parent` is the base model and whose `root`
is the path it was loaded from.

Runtime loading (`POST /v1/load_lora_adapter {"lora_name", "lora_path"}`,
`POST /v1/unload_lora_adapter {"lora_name"}`, 200 with a plain-text
"Success: ..." body) exists only when vLLM runs with
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`; otherwise the routes are not
registered and answer FastAPI's 404 `{"detail": "Not Found"}`. Loading a
name that is already loaded is a 400 ("has already been loaded"); unloading
an unknown name is a 404 ("cannot be found"). Errors are
`{"error": {"message", "type", "param", "code"}}` (older releases: the same
fields at the top level). Unload an adapter only after the gateway has
drained the requests sent to it (see `core.colocation.unload_blockers`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from slipway.backends.http_errors import backend_errors
from slipway.backends.openai_compat import OpenAICompatBackend, auth_headers
from slipway.backends.tokenize import read_vllm, vllm_request
from slipway.backends.vllm_metrics import VllmLoad, parse_vllm_metrics
from slipway.core.adapter_probe import ProbeName, ProbeTargets
from slipway.core.errors import BackendError, BackendTimeout, BackendUnavailable, UpstreamStatusError
from slipway.core.tokens import MAX_TOKENIZE_CHARS, Tokenized
from slipway.core.types import Slot, SlotHealth

log = logging.getLogger("slipway.backends.vllm")

RUNTIME_FLAG = "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
#: How often an unload asks vLLM whether the adapter's requests are done.
DRAIN_POLL_S = 0.1
#: vLLM's refusal of an adapter above its --max-lora-rank (vllm/lora/peft_helper.py, validate_legal),
#: inside a 500 "Call to add_lora method failed: Worker failed with error '...'".
_RANK_REFUSAL = re.compile(r"LoRA rank (\d+) is greater than max_lora_rank (\d+)")
RUNTIME_HINT = (
    f"start vLLM with {RUNTIME_FLAG} in its environment (and --enable-lora) to load adapters at run "
    "time, or list the adapter at start with --lora-modules NAME=PATH"
)


@dataclass(frozen=True, slots=True)
class VllmModel:
    """One entry of vLLM's `GET /v1/models`: a base model (`parent` None) or a LoRA adapter."""

    id: str
    parent: str | None = None
    root: str | None = None

    @property
    def is_adapter(self) -> bool:
        return self.parent is not None


def error_message(resp: httpx.Response) -> str:
    """The message in a vLLM (or FastAPI) error body, or the body itself."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:300]
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        for key in ("message", "detail", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return resp.text.strip()[:300]


def rank_refusal(name: str, path: str, endpoint: str, rank: int, limit: int, said: str) -> str:
    return (
        f"adapter {name!r} ({path}) has LoRA rank {rank}, above the max LoRA rank {limit} of vLLM at "
        f"{endpoint} (its --max-lora-rank), so vLLM refused to load it (vLLM: {said})"
    )


#: The values vLLM's --max-lora-rank accepts (vllm/config/lora.py, MaxLoRARanks).
MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def rank_fix(rank: int, limit: int) -> str:
    wanted = next((r for r in MAX_LORA_RANKS if r >= rank), rank)
    return (
        f"restart vLLM with --max-lora-rank {wanted} (or more; it must cover every adapter the server "
        f"loads), or retrain the adapter with r <= {limit}"
    )


def _routes_missing(resp: httpx.Response) -> bool:
    """FastAPI's own 404 for a route that is not registered (runtime LoRA updating is off)."""
    if resp.status_code != 404:
        return False
    try:
        return bool(resp.json() == {"detail": "Not Found"})
    except ValueError:
        return False


def _same_path(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class VllmBackend(OpenAICompatBackend):
    async def tokenize(self, slot: Slot, text: str) -> Tokenized:
        """vLLM's split of `text` (`POST /tokenize` with token strings), by the slot's model's tokenizer."""
        with backend_errors(slot, "tokenizing an input"):
            resp = await self._client.post(
                slot.endpoint + "/tokenize",
                json=vllm_request(slot.backend_model, text[:MAX_TOKENIZE_CHARS]),
                headers=auth_headers(slot),
                timeout=slot.connect_timeout_s + 5,
            )
            resp.raise_for_status()
        try:
            body = resp.json()
        except ValueError:
            body = None
        return read_vllm(slot, body)

    async def models(self, slot: Slot) -> list[VllmModel]:
        """What the server serves now (raises BackendError when it cannot be asked)."""
        with backend_errors(slot, "listing models"):
            resp = await self._client.get(
                slot.endpoint + "/v1/models", headers=auth_headers(slot), timeout=slot.connect_timeout_s + 5
            )
            resp.raise_for_status()
        try:
            data = resp.json()["data"]
            return [
                VllmModel(
                    id=str(m["id"]),
                    parent=str(m["parent"]) if m.get("parent") else None,
                    root=str(m["root"]) if m.get("root") else None,
                )
                for m in data
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackendError(
                f"slot {slot.name!r}: GET /v1/models did not return an OpenAI model list",
                hint="is this endpoint a vLLM server?",
                slot=slot.name,
            ) from exc

    async def check(self, slot: Slot) -> SlotHealth:
        try:
            listed = await self.models(slot)
        except BackendError as exc:
            reachable = not isinstance(exc, BackendUnavailable | BackendTimeout)
            return SlotHealth(reachable=reachable, model_available=False, detail=exc.message)
        names = tuple(m.id for m in listed)
        wanted = slot.backend_model
        entry = next((m for m in listed if m.id == wanted), None)
        if entry is None:
            bases = ", ".join(m.id for m in listed if not m.is_adapter) or "none"
            adapters = ", ".join(m.id for m in listed if m.is_adapter) or "none"
            hint = (
                f"load it first (POST /v1/load_lora_adapter, which needs {RUNTIME_FLAG})"
                if slot.adapter
                else "fix the slot's model/upstream_model"
            )
            return SlotHealth(
                True,
                False,
                f"vLLM does not list {wanted!r} (base models: {bases}; adapters: {adapters}); {hint}",
                names,
            )
        if slot.adapter and not entry.is_adapter:
            return SlotHealth(
                True,
                False,
                f"{wanted!r} is a base model on this vLLM server, not a LoRA adapter, so requests would run "
                f"without adapter {slot.adapter!r}; name the adapter version (e.g. {wanted}-{slot.adapter}) "
                "and set it as the slot's upstream_model",
                names,
            )
        if entry.is_adapter:
            source = f" from {entry.root}" if entry.root else ""
            detail = f"serves LoRA adapter {wanted!r} on base {entry.parent!r}{source}"
        else:
            detail = f"serves base model {wanted!r}"
        load = await self.load(slot)
        described = load.describe(wanted if entry.is_adapter else None) if load is not None else ""
        if described:
            detail = f"{detail} ({described})"
        # vLLM reports no per-model memory: its KV cache is preallocated for the whole server.
        return SlotHealth(True, True, detail, names, None)

    async def probe_targets(self, slot: Slot) -> ProbeTargets:
        """Every name this vLLM serves: one engine runs them all, batching their requests together."""
        listed = await self.models(slot)
        wanted = slot.backend_model
        if not any(m.id == wanted for m in listed):
            return ProbeTargets(skipped=f"vLLM at {slot.endpoint} does not list {wanted!r}")
        if len(listed) < 2:
            return ProbeTargets(
                skipped=f"vLLM at {slot.endpoint} serves only {wanted!r}: no other model name shares "
                "its engine"
            )
        names = tuple(
            ProbeName(
                name=m.id,
                slot=slot.with_changes(upstream_model=m.id, adapter=m.id if m.is_adapter else None),
                candidate=m.id == wanted,
                base=not m.is_adapter,
                source=m.root if m.is_adapter else None,
            )
            for m in listed
        )
        return ProbeTargets(names=names, one_at_a_time="with --max-num-seqs 1")

    async def load(self, slot: Slot) -> VllmLoad | None:
        """How busy the server is, from its /metrics; None when it does not say (a hint, never an error)."""
        try:
            resp = await self._client.get(
                slot.endpoint + "/metrics", headers=auth_headers(slot), timeout=slot.connect_timeout_s + 5
            )
        except httpx.HTTPError:
            return None
        if resp.status_code != 200:
            return None
        return parse_vllm_metrics(resp.text)

    async def load_adapter(self, slot: Slot, name: str, path: str) -> str:
        """Load adapter `path` under `name` (idempotent when `name` already serves that path)."""
        existing = await self._listed(slot, name)
        if existing is not None:
            return self._already(slot, existing, path)
        resp = await self._post(slot, "/v1/load_lora_adapter", {"lora_name": name, "lora_path": path})
        if resp.status_code == 200:
            return f"loaded adapter {name!r} from {path}"
        message = error_message(resp)
        if resp.status_code == 400 and "already been loaded" in message:
            existing = await self._listed(slot, name)
            if existing is not None:
                return self._already(slot, existing, path)
        if _routes_missing(resp):
            raise self._status_error(
                slot,
                resp,
                f"vLLM at {slot.endpoint} does not allow loading adapters at run time",
                RUNTIME_HINT,
            )
        rank = _RANK_REFUSAL.search(message)
        if rank is not None:
            raise self._status_error(
                slot,
                resp,
                rank_refusal(
                    name, path, slot.endpoint, int(rank.group(1)), int(rank.group(2)), rank.group(0)
                ),
                rank_fix(int(rank.group(1)), int(rank.group(2))),
            )
        if "enable-lora" in message or "enable_lora" in message:
            hint = "start vLLM with --enable-lora (and --max-lora-rank at least the adapter's rank)"
        elif resp.status_code == 404:
            hint = (
                "the path is read by the vLLM server on its own machine: copy the adapter there (a PEFT "
                "directory with adapter_config.json) or give the path as that machine sees it"
            )
        else:
            hint = "read the vLLM server's log for the cause"
        raise self._status_error(
            slot, resp, f"vLLM could not load adapter {name!r} from {path}: {message}", hint
        )

    async def unload_adapter(self, slot: Slot, name: str) -> bool:
        """Unload adapter `name` once vLLM has no request for it; False when it was not loaded.

        Call it once nothing routes to the adapter any more; the requests
        already sent there are what it waits for (see `wait_drained`).
        """
        await self.wait_drained(slot, name, slot.read_timeout_s)
        resp = await self._post(slot, "/v1/unload_lora_adapter", {"lora_name": name})
        if resp.status_code == 200:
            return True
        if _routes_missing(resp):
            raise self._status_error(
                slot,
                resp,
                f"vLLM at {slot.endpoint} does not allow unloading adapters at run time",
                f"start vLLM with {RUNTIME_FLAG}; until then the adapter stays loaded (harmless)",
            )
        message = error_message(resp)
        if resp.status_code == 404:
            return False
        raise self._status_error(
            slot, resp, f"vLLM could not unload adapter {name!r}: {message}", "read the vLLM server's log"
        )

    async def wait_drained(self, slot: Slot, name: str, timeout: float) -> bool:
        """Wait until vLLM's /metrics shows no running or waiting request for adapter `name`.

        The route has already moved away, so no new request arrives; those
        sent before the move are still decoding, and unloading under them
        would free the adapter while it answers. True when drained (or the
        server publishes no metrics, so there is nothing to wait for); False
        when `timeout` passed first: the unload goes ahead, as a request that
        outlives the slot's read timeout has failed at the gateway anyway.
        """
        deadline = time.monotonic() + timeout
        while True:
            load = await self.load(slot)
            if load is None or (name not in load.running_adapters and name not in load.waiting_adapters):
                return True
            if time.monotonic() >= deadline:
                log.warning(
                    "adapter %s on %s still has requests after %.0f s; unloading it anyway",
                    name,
                    slot.endpoint,
                    timeout,
                )
                return False
            await asyncio.sleep(DRAIN_POLL_S)

    async def _listed(self, slot: Slot, name: str) -> VllmModel | None:
        return next((m for m in await self.models(slot) if m.id == name), None)

    def _already(self, slot: Slot, existing: VllmModel, path: str) -> str:
        if not existing.is_adapter:
            raise BackendError(
                f"{existing.id!r} is a base model on vLLM at {slot.endpoint}; no adapter can take its name",
                hint="name every adapter version on its own, e.g. <model>-<version>",
                slot=slot.name,
            )
        if existing.root is not None and not _same_path(existing.root, path):
            raise BackendError(
                f"vLLM at {slot.endpoint} already serves adapter {existing.id!r} from {existing.root}, "
                f"not {path}",
                hint="give every adapter version its own name (e.g. <model>-<version>); reusing a name would "
                "change the weights under requests already routed to it",
                slot=slot.name,
            )
        return f"adapter {existing.id!r} was already loaded"

    async def _post(self, slot: Slot, path: str, body: dict[str, Any]) -> httpx.Response:
        with backend_errors(slot, f"POST {path}"):
            return await self._client.post(
                slot.endpoint + path,
                json=body,
                headers=auth_headers(slot),
                timeout=httpx.Timeout(slot.read_timeout_s, connect=slot.connect_timeout_s),
            )

    @staticmethod
    def _status_error(slot: Slot, resp: httpx.Response, message: str, hint: str) -> UpstreamStatusError:
        return UpstreamStatusError(
            message, status=resp.status_code, body=resp.content, hint=hint, slot=slot.name
        )
