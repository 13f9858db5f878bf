"""The engines' `/tokenize` answers, read into the out-of-vocabulary count drift needs.

llama.cpp's llama-server: `POST /tokenize {"content", "add_special",
"with_pieces": true}` answers `{"tokens": [{"id", "piece"}, ...]}`. A piece
is the token's text, or a list of byte values when those bytes are not
valid UTF-8 on their own: exactly the byte-fallback tokens (`<0xE2>`) a
SentencePiece vocabulary uses for a character it lacks. Its unknown token
reads as SentencePiece's "▅". (An ASCII character missing from the
vocabulary falls back to a byte whose piece is the character itself, and is
not counted: real vocabularies hold every printable ASCII character.)

vLLM: `POST /tokenize {"model", "prompt", "add_special_tokens",
"return_token_strs": true}` answers `{"count", "max_model_len", "tokens":
[ids], "token_strs": [...]}`, the strings being the Hugging Face tokenizer's
own: byte-fallback pieces are spelled `<0xE2>`, the unknown token `<unk>`
(or `[UNK]`). A byte-level BPE tokenizer (GPT-2 style: Llama 3, Qwen) has
neither, so its every input scores 0.

The answers are checked here, bounded, so a server that answers in another
shape is an error that names it, not a wrong rate.
"""

from __future__ import annotations

import re
from typing import Any

from slipway.core.errors import BackendError
from slipway.core.tokens import MAX_TOKENS, Tokenized
from slipway.core.types import Slot

#: How SentencePiece (and llama.cpp after it) shows its unknown token.
SPM_UNKNOWN_PIECE = "\u2585"
#: A Hugging Face tokenizer's byte-fallback token, as `convert_ids_to_tokens` spells it.
_HF_BYTE = re.compile(r"<0x[0-9A-Fa-f]{2}>")
HF_UNKNOWN = frozenset({"<unk>", "[UNK]", "<UNK>", "<|unk|>"})


def llamacpp_request(text: str) -> dict[str, Any]:
    return {"content": text, "add_special": False, "with_pieces": True}


def vllm_request(model: str, text: str) -> dict[str, Any]:
    return {"model": model, "prompt": text, "add_special_tokens": False, "return_token_strs": True}


def read_llamacpp(slot: Slot, body: Any) -> Tokenized:
    """Count a llama-server `/tokenize` answer (with pieces): byte-list pieces and "▅" are unknown."""
    tokens = _token_list(slot, body, "tokens", "llama-server")
    unknown = 0
    for token in tokens:
        piece = token.get("piece") if isinstance(token, dict) else None
        if isinstance(piece, list):
            unknown += 1
        elif not isinstance(piece, str):
            raise _shape(slot, "llama-server", 'each token an object with a "piece" (text or byte list)')
        elif piece == SPM_UNKNOWN_PIECE:
            unknown += 1
    return Tokenized(len(tokens), unknown)


def read_vllm(slot: Slot, body: Any) -> Tokenized:
    """Count a vLLM `/tokenize` answer (with token strings): `<0xNN>` pieces and the unknown token."""
    strs = _token_list(slot, body, "token_strs", "vLLM")
    if not all(isinstance(s, str) for s in strs):
        raise _shape(slot, "vLLM", '"token_strs" a list of strings')
    unknown = sum(1 for s in strs if s in HF_UNKNOWN or _HF_BYTE.fullmatch(s))
    return Tokenized(len(strs), unknown)


def _token_list(slot: Slot, body: Any, key: str, engine: str) -> list[Any]:
    found = body.get(key) if isinstance(body, dict) else None
    if not isinstance(found, list):
        raise _shape(slot, engine, f'an object with a "{key}" list')
    if len(found) > MAX_TOKENS:
        raise _shape(slot, engine, f"at most {MAX_TOKENS:,} tokens for one input, not {len(found):,}")
    return found


def _shape(slot: Slot, engine: str, expected: str) -> BackendError:
    return BackendError(
        f"slot {slot.name!r}: POST /tokenize did not answer as {engine} does (expected {expected})",
        hint=f"is {slot.endpoint} {engine}? the slot's kind decides how its tokenizer is asked",
        slot=slot.name,
    )
