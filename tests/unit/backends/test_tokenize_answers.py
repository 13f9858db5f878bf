"""Reading the engines' `/tokenize` answers: which tokens are unknown, and answers of another shape.

The shapes are the engines' documented ones (llama-server with
`with_pieces`, vLLM with `return_token_strs`); the real llama-server is
exercised in tests/integration/drift/test_drift_oov_llama.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from slipway.backends.tokenize import read_llamacpp, read_vllm
from slipway.core.errors import BackendError
from slipway.core.tokens import MAX_TOKENS
from slipway.core.types import BackendKind, Slot

SLOT = Slot(name="blue", endpoint="http://127.0.0.1:9", model="m", kind=BackendKind.LLAMACPP)


def test_llamacpp_byte_pieces_and_the_unknown_piece_are_counted_text_pieces_are_not() -> None:
    body = {
        "tokens": [
            {"id": 693, "piece": " my"},
            {"id": 198, "piece": [195]},  # one byte of "Ü": not UTF-8 alone
            {"id": 159, "piece": [156]},
            {"id": 261, "piece": "b"},
            {"id": 0, "piece": "\u2585"},  # the unknown token, as SentencePiece shows it
        ]
    }
    counted = read_llamacpp(SLOT, body)
    assert (counted.tokens, counted.unknown) == (5, 3)
    assert counted.oov_rate == pytest.approx(0.6)


def test_vllm_byte_fallback_strings_and_unknown_tokens_are_counted() -> None:
    body = {
        "count": 5,
        "max_model_len": 4096,
        "tokens": [1, 2, 3, 4, 5],
        "token_strs": ["▁my", "<0xC3>", "<0x9C>", "berweisung", "<unk>"],
    }
    counted = read_vllm(SLOT, body)
    assert (counted.tokens, counted.unknown) == (5, 3)


def test_an_empty_input_has_no_unknown_tokens() -> None:
    assert read_llamacpp(SLOT, {"tokens": []}).oov_rate == 0.0


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"tokens": [693, 623]},  # asked without pieces: ids only
        {"tokens": [{"id": 1}]},
        {"tokens": "my invoice"},
        {"tokens": [{"id": 1, "piece": " a"}] * (MAX_TOKENS + 1)},
    ],
)
def test_a_llamacpp_answer_of_another_shape_names_the_slot_and_the_shape(body: Any) -> None:
    with pytest.raises(BackendError) as caught:
        read_llamacpp(SLOT, body)
    assert "slot 'blue': POST /tokenize did not answer as llama-server does" in caught.value.message
    assert caught.value.hint is not None and "llama-server" in caught.value.hint


@pytest.mark.parametrize(
    "body",
    [
        {"count": 2, "tokens": [1, 2], "token_strs": None},  # asked without token strings
        {"count": 2, "tokens": [1, 2], "token_strs": [1, 2]},
        {"detail": "Not Found"},
    ],
)
def test_a_vllm_answer_of_another_shape_names_the_slot_and_the_shape(body: Any) -> None:
    with pytest.raises(BackendError) as caught:
        read_vllm(SLOT, body)
    assert "did not answer as vLLM does" in caught.value.message
