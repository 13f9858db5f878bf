"""The gateway's ASGI entry point: a path table for the data plane, everything else to the admin app.

A plain dict lookup instead of a router keeps the per-request overhead in
microseconds; the admin API and dashboard (FastAPI) sit behind `fallback`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from slipway.core.bearer import BearerSecret, bearer_credentials
from slipway.core.errors import StoreError
from slipway.core.ports import RecordStore
from slipway.core.record_bounds import REQUEST_ID_MAX_CHARS
from slipway.core.records import Api, Feedback
from slipway.gateway.asgi import BodyTooLarge, ClientGone, Receive, Scope, Send, read_body, send_json
from slipway.gateway.proxy import Proxy
from slipway.gateway.recorder import Recorder
from slipway.gateway.route_table import RouteHolder

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


#: What slipway can say about a model it only routes to (the backends' details differ per slot).
_OLLAMA_DETAILS = {"parent_model": "", "format": "", "family": "", "families": None,
                   "parameter_size": "", "quantization_level": ""}  # fmt: skip


def _openai_error(message: str, code: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class GatewayApp:
    def __init__(
        self,
        routes: RouteHolder,
        proxy: Proxy,
        recorder: Callable[[], Recorder | None],
        records: Callable[[], RecordStore | None],
        fallback: ASGIApp,
        *,
        public_model: Callable[[], str],
        other_replicas: Callable[[], Awaitable[int]] | None = None,
        started_at: float | None = None,
        feedback_secrets: Sequence[BearerSecret] = (),
    ) -> None:
        self._routes = routes
        self._proxy = proxy
        self._recorder = recorder
        self._records = records
        self._fallback = fallback
        self._public_model = public_model
        self._other_replicas = other_replicas
        self._created = int(started_at or time.time())
        #: Labels are the ground truth canary and bake checks judge by: with a feedback token set,
        #: only a client holding one of these may send them. The first names the refusal.
        self._feedback_secrets = tuple(s for s in feedback_secrets if s.enabled)
        self._handlers: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/chat/completions"): self._bind(Api.OPENAI_CHAT),
            ("POST", "/v1/completions"): self._bind(Api.OPENAI_COMPLETIONS),
            ("POST", "/api/chat"): self._bind(Api.OLLAMA_CHAT),
            ("POST", "/api/generate"): self._bind(Api.OLLAMA_GENERATE),
            ("GET", "/v1/models"): self._models,
            ("GET", "/api/tags"): self._tags,
            ("GET", "/api/version"): self._version,
            ("POST", "/api/show"): self._show,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/v1/feedback"): self._feedback,
        }
        self._allowed = {path: method for method, path in self._handlers}

    def _bind(self, api: Api) -> Handler:
        async def handler(scope: Scope, receive: Receive, send: Send) -> None:
            await self._proxy.handle(api, scope, receive, send)

        return handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                path = path.rstrip("/")
            handler = self._handlers.get((scope["method"], path))
            if handler is not None:
                await handler(scope, receive, send)
                return
            if path.startswith("/v1/models/") and scope["method"] == "GET":
                await self._model(path.removeprefix("/v1/models/"), send)
                return
            allowed = self._allowed.get(path)
            if allowed is not None:
                await self._wrong_method(path, scope["method"], allowed, send)
                return
        await self._fallback(scope, receive, send)

    async def _wrong_method(self, path: str, method: str, allowed: str, send: Send) -> None:
        message = f"{method} is not supported on {path}; use {allowed}"
        ollama = path.startswith("/api/")
        body = {"error": message} if ollama else _openai_error(message, "method_not_allowed")
        await send_json(send, 405, body, [(b"allow", allowed.encode())])

    def _model_ids(self) -> list[str]:
        return [self._public_model()]

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        data = [
            {"id": mid, "object": "model", "created": self._created, "owned_by": "slipway"}
            for mid in self._model_ids()
        ]
        await send_json(send, 200, {"object": "list", "data": data})

    async def _model(self, model_id: str, send: Send) -> None:
        """OpenAI's `models.retrieve`: the gateway's one public model, whatever serves it now."""
        if model_id not in self._model_ids():
            message = f"The model {model_id!r} does not exist; this gateway serves {self._public_model()!r}"
            await send_json(send, 404, _openai_error(message, "model_not_found"))
            return
        await send_json(
            send, 200, {"id": model_id, "object": "model", "created": self._created, "owned_by": "slipway"}
        )

    def _ollama_models(self) -> list[dict[str, Any]]:
        modified = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._created))
        return [
            {
                "name": mid,
                "model": mid,
                "modified_at": modified,
                "size": 0,
                "digest": "",
                "details": _OLLAMA_DETAILS,
            }
            for mid in self._model_ids()
        ]

    async def _tags(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, {"models": self._ollama_models()})

    async def _ps(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Ollama's "running models": the public model is always loaded, in whichever slot serves it."""
        running = [{**m, "expires_at": "0001-01-01T00:00:00Z", "size_vram": 0} for m in self._ollama_models()]
        await send_json(send, 200, {"models": running})

    async def _show(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Ollama's `show`, which clients call before chatting: the public model and the slot behind it.

        Like chat and generate, any model name gets the gateway's model (the
        route table decides what serves it), so a client configured with a
        slot's own model name keeps working across switches.
        """
        try:
            orjson.loads(await read_body(receive, 64 * 1024) or b"{}")
        except (BodyTooLarge, orjson.JSONDecodeError):
            await send_json(send, 400, {"error": 'the body must be JSON like {"model": "NAME"}'})
            return
        except ClientGone:
            return
        table = self._routes.table
        info: dict[str, Any] = {"general.name": self._public_model()}
        if table is not None:
            info["slipway.active_slot"] = table.active
            info["slipway.version"] = table.active_slot.version_label
        await send_json(
            send,
            200,
            {
                "modelfile": "",
                "parameters": "",
                "template": "",
                "details": _OLLAMA_DETAILS,
                "model_info": info,
                "capabilities": ["completion"],
                "modified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._created)),
            },
        )

    async def _version(self, scope: Scope, receive: Receive, send: Send) -> None:
        from slipway import __version__

        await send_json(send, 200, {"version": __version__})

    async def _feedback(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._feedback_refusal(scope)
        if refusal is not None:  # before the body is read: a refused upload costs nothing
            await send_json(
                send,
                401,
                _openai_error(refusal, "invalid_feedback_token"),
                [(b"www-authenticate", b"Bearer")],
            )
            return
        try:
            raw = await read_body(receive, 64 * 1024)
        except BodyTooLarge:
            await send_json(send, 413, _openai_error("feedback body is larger than 64 KiB", "body_too_large"))
            return
        except ClientGone:
            return
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            await send_json(
                send, 400, _openai_error(f"feedback body is not valid JSON ({exc})", "invalid_json")
            )
            return
        problem = _feedback_problem(body)
        if problem:
            await send_json(send, 400, _openai_error(problem, "invalid_feedback"))
            return
        feedback = Feedback(
            request_id=body["request_id"],
            at=time.time(),
            satisfied=body.get("satisfied"),
            label=body.get("label"),
            score=float(body["score"]) if body.get("score") is not None else None,
        )
        recorder, records = self._recorder(), self._records()
        if recorder is None or records is None:
            await send_json(send, 503, _openai_error("slipway is still starting", "not_ready", "api_error"))
            return
        # Usually the record is written already: one insert. If not, the answer may have reached
        # the client before its record was queued, or its batch may be mid-write: wait for both
        # and try once more, so fresh feedback never gets a false 404.
        try:
            added = await records.add_feedback(feedback)
            if not added:
                await self._proxy.until_recorded(feedback.request_id)
                await recorder.flush()
                added = await records.add_feedback(feedback)
            if not added:
                added = await self._feedback_from_peers(records, feedback)
        except StoreError as exc:
            # The store's trouble, not the client's request: say so, and that sending it again works.
            message = f"the feedback was not stored: {exc.message}; send it again in a few seconds"
            await send_json(
                send, 503, _openai_error(message, "store_unavailable", "api_error"), [(b"retry-after", b"5")]
            )
            return
        if not added:
            await send_json(
                send,
                404,
                _openai_error(
                    f"no request with id {feedback.request_id!r}; use the X-Slipway-Request-Id "
                    "header of the response",
                    "unknown_request_id",
                    "not_found_error",
                ),
            )
            return
        await send_json(send, 200, {"request_id": feedback.request_id, "accepted": True})

    def _feedback_refusal(self, scope: Scope) -> str | None:
        if not self._feedback_secrets:
            return None
        authorization = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
        )
        if any(s.matches(bearer_credentials(authorization)) for s in self._feedback_secrets):
            return None
        return self._feedback_secrets[0].refusal(authorization)

    async def _feedback_from_peers(self, records: RecordStore, feedback: Feedback) -> bool:
        """Wait for another replica's record of the request: it answered, and writes records in batches.

        Its next batch is due within its flush interval; the waits grow so a busy store is not
        asked again and again. Only with other replicas live: alone, the id is unknown now.
        """
        if self._other_replicas is None or await self._other_replicas() == 0:
            return False
        for pause in PEER_RECORD_WAITS_S:
            await asyncio.sleep(pause)
            if await records.add_feedback(feedback):
                return True
        return False


#: Pauses before asking again for a request another replica answered (2.35 s in all: several of
#: its 0.25 s flushes, with room for a slow batch write).
PEER_RECORD_WAITS_S = (0.1, 0.25, 0.5, 0.5, 1.0)

#: Longest request id accepted in feedback (slipway's own are 24 characters; the store holds more).
MAX_REQUEST_ID_CHARS = REQUEST_ID_MAX_CHARS
#: Longest ground-truth label: a class name or a short expected answer, compared with the output.
MAX_LABEL_CHARS = 1_000


def _feedback_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return 'feedback must be a JSON object like {"request_id": "...", "satisfied": true}'
    unknown = sorted(set(body) - {"request_id", "satisfied", "label", "score"})
    if unknown:
        return (
            f"unknown feedback field(s): {', '.join(unknown)}; allowed: request_id, satisfied, label, score"
        )
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        return "request_id is required: the X-Slipway-Request-Id header of the response"
    if len(request_id) > MAX_REQUEST_ID_CHARS:
        return (
            f"request_id is {len(request_id)} characters long; slipway's ids have at most "
            f"{MAX_REQUEST_ID_CHARS}"
        )
    if body.get("satisfied") is not None and not isinstance(body["satisfied"], bool):
        return "satisfied must be true or false"
    label = body.get("label")
    if label is not None and not isinstance(label, str):
        return "label must be a string (the ground-truth answer)"
    if label is not None and len(label) > MAX_LABEL_CHARS:
        return f"label is {len(label)} characters long; the limit is {MAX_LABEL_CHARS}"
    if "\x00" in request_id or (label is not None and "\x00" in label):
        return "request_id and label must not contain NUL characters"
    score = body.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
        return "score must be a number"
    if score is not None and not math.isfinite(score):
        return "score must be a finite number"
    if all(body.get(k) is None for k in ("satisfied", "label", "score")):
        return "give at least one of satisfied, label or score"
    return None
