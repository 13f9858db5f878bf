"""How an input splits in the engine's own tokenizer: how many tokens, and how many it did not know.

A model reads words its tokenizer lacks as its unknown token or as raw
bytes (llama.cpp's byte-fallback pieces, `<0xE2>`): text the model has
barely seen. The share of such tokens in an input, its out-of-vocabulary
rate, rises when traffic moves to another language, to product names the
model was never tuned on, or to pasted binary junk, before any accuracy
number can say so. Engines report it in their own shapes; the backends
count it into this.
"""

from __future__ import annotations

from dataclasses import dataclass

#: At most this many characters of an input are sent to be tokenized: the rate of a long input's
#: first few thousand characters is its rate, and the engine's work stays bounded.
MAX_TOKENIZE_CHARS = 4_000
#: A tokenizer answer with more tokens than this is not a tokenizer answer (4,000 bytes at most).
MAX_TOKENS = 4 * MAX_TOKENIZE_CHARS


@dataclass(frozen=True, slots=True)
class Tokenized:
    """One input as the engine tokenized it: its tokens, and how many were unknown or raw bytes."""

    tokens: int
    unknown: int

    def __post_init__(self) -> None:
        if not 0 <= self.unknown <= self.tokens <= MAX_TOKENS:
            raise ValueError(f"tokenized counts out of range: {self.unknown} unknown of {self.tokens} tokens")

    @property
    def oov_rate(self) -> float:
        """The share of unknown tokens (0 for an empty input: nothing unknown in it)."""
        return self.unknown / self.tokens if self.tokens else 0.0
