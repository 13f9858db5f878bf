"""Build the tiny support-ticket classifier: a real GGUF base and real LoRA adapters.

Tests and the demo need a model that is actually right or wrong, runs in a
real llama-server in milliseconds, and needs no download. This module writes
one from numpy, deterministically, in about a second:

* a one-layer llama (n_embd 256, 4 heads, f32). `attn_q`/`attn_k` are zero,
  so attention is a uniform average over the prompt: a bag of words.
  `attn_v`/`attn_output` are the identity, the FFN is zero. The logits at the
  last prompt position are therefore `output.weight @ f` with
  f = RMSNorm(e_last + mean_j RMSNorm(e_j)) — features numpy can compute
  exactly, so the classifier is trained on precisely what llama.cpp computes.
* `output.weight` is zero except the four label rows (a multinomial
  logistic regression over f) and the `</s>` row. Embedding dimension 0 is a
  constant "gate": a large gate weight on the label rows makes a label win
  over every other token. Dimension 1 is a "flag" set only on label tokens
  and hidden from attention (attn_norm weight 0 there), so right after a
  label `</s>` wins and generation stops after exactly one label.
* the tokenizer is SentencePiece-style ("llama") with whole words; its merges
  need every '▁'-prefix of a word (▁b, ▁bi, … ▁billing) to reach the word.

Adapters are the difference between two classifiers. That difference lives
only on the four label rows of output.weight, so a rank-4 LoRA holds it
exactly (B selects the label rows, A holds the new minus old rows). These are
built for the customer-support base: v2.1 (balanced data, accurate), v2.2
(retrained on last month's skewed tickets, where an auto-labelling bug sent
refund tickets to shipping: billing drops to ~70 %), the next retrain v2.3
on v2.2's data, flaw and all (the fixed v2.3 is `retrain_v2_3`, from the
answers a rollback showed wrong), and one built for a
*different* base with the same tensor shapes but another tokenizer:
llama.cpp loads it without complaint, and only slipway's base fingerprint
tells them apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from slipway.demo.tickets import (
    INTENTS,
    Ticket,
    accuracy,
    data_sha256,
    generate,
    held_out_tickets,
    vocabulary,
)
from slipway.registry.fingerprint import (
    FINGERPRINT_KEY,
    base_fingerprint,
)

F64 = npt.NDArray[np.float64]

ARCH = "llama"
N_EMBD = 256
N_HEAD = 4
N_FF = 64
N_CTX_TRAIN = 2048
RMS_EPS = 1e-5
RANK = len(INTENTS)

GATE_DIM = 0
FLAG_DIM = 1
GATE_VALUE = 3.0
FLAG_VALUE = 16.0

SPACE = "▁"
UNK, BOS, EOS = "<unk>", "<s>", "</s>"

#: gguf TokenType values (llama.cpp's llama_token_type).
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_BYTE = 1, 2, 3, 6

MODEL_NAME = "customer-support"
OTHER_MODEL_NAME = "other-support"
BASE_FILE = "tiny-support-base.gguf"
OTHER_BASE_FILE = "tiny-other-base.gguf"


@dataclass(frozen=True)
class AdapterSpec:
    """One training run: the data it saw and the name the file gets."""

    version: str
    date: str
    examples: int
    description: str

    @property
    def file_name(self) -> str:
        return f"{self.version}-{self.date}-{self.examples}examples.gguf"

    @property
    def created(self) -> str:
        return f"{self.date}T12:00:00Z"


V2_1 = AdapterSpec("v2.1", "2026-01-15", 1247, "fine-tuned on 1247 balanced, hand-checked tickets")
V2_2 = AdapterSpec(
    "v2.2",
    "2026-02-12",
    1891,
    "retrained on last month's 1891 tickets, skewed towards billing and shipping, auto-labelled "
    "(the labeller sent refund tickets to shipping)",
)
#: The next retrain, twice: once on the same auto-labelled data as v2.2 (so the same flaw), and once
#: as v2.1 was trained, on hand-checked labels (last month's mix, refunds filed under billing).
V2_3_FLAWED = AdapterSpec(
    "v2.3",
    "2026-03-02",
    1891,
    "retrained on the same auto-labelled tickets as v2.2 (the labeller still sends refunds to shipping)",
)
V2_3 = AdapterSpec(
    "v2.3",
    "2026-03-09",
    1310,
    "retrained on hand-checked tickets of last month's mix (refunds labelled billing) and the "
    "answers v2.2 got wrong in production, with their right labels",
)
OTHER_V1_0 = AdapterSpec("v1.0", "2026-01-20", 1300, "fine-tuned for tiny-other-base, not this base")

#: The base is a weak "general" model: a few examples, heavily regularised.
BASE_EXAMPLES = 60
BASE_L2 = 0.1
ADAPTER_L2 = 1e-3


@dataclass(frozen=True)
class TinyModelPaths:
    """Where `build_tiny_models` wrote everything, and what each model should score.

    `expected` holds accuracies ("overall" and per intent) on
    `held_out_tickets(200, seed)` computed with the exact numpy forward pass:
    what llama-server should reproduce.
    """

    root: Path
    base: Path
    v2_1: Path
    v2_2: Path
    other_base: Path
    wrong_base_adapter: Path
    base_fingerprint: str
    other_base_fingerprint: str
    expected: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    #: The next retrain on v2.2's data, flaw and all (the fixed one: `retrain_v2_3`, after a rollback).
    v2_3_flawed: Path | None = None

    @property
    def adapters(self) -> tuple[Path, Path]:
        """The customer-support adapters v2.1 and v2.2, in version order."""
        return (self.v2_1, self.v2_2)


# --------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class Vocab:
    tokens: tuple[str, ...]
    types: tuple[int, ...]
    index: Mapping[str, int]

    @property
    def size(self) -> int:
        return len(self.tokens)

    def label_ids(self) -> list[int]:
        return [self.index[SPACE + label] for label in INTENTS]


def build_vocab(words: Sequence[str], *, shuffle_seed: int | None = None) -> Vocab:
    """Specials, 256 byte fallbacks, single characters, then every '▁'-prefix of every word.

    `shuffle_seed` permutes the ordinary pieces: the same size and the same
    strings under different ids, i.e. a different tokenizer with identical
    tensor shapes — exactly the "other base" llama.cpp cannot tell apart.
    """
    pieces: set[str] = {SPACE, ":"}
    for word in words:
        pieces.update(word)
        pieces.update(SPACE + word[:k] for k in range(1, len(word) + 1))
    ordinary = sorted(pieces)
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(ordinary))
        ordinary = [ordinary[i] for i in order]
    tokens = [UNK, BOS, EOS, *(f"<0x{b:02X}>" for b in range(256)), *ordinary]
    types = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL, *([TOKEN_BYTE] * 256)]
    types += [TOKEN_NORMAL] * len(ordinary)
    return Vocab(tuple(tokens), tuple(types), {t: i for i, t in enumerate(tokens)})


def tokenize(prompt: str, vocab: Vocab) -> list[int]:
    """What llama.cpp's SPM tokenizer yields for our prompts (BOS, whole words, ':').

    Only valid for text made of vocabulary words, single spaces and ':' — the
    tickets this module generates; anything else raises.
    """
    ids = [vocab.index[BOS]]
    for chunk in prompt.split(" "):
        word = chunk.rstrip(":")
        if word:
            ids.append(vocab.index[SPACE + word])
        ids.extend([vocab.index[":"]] * (len(chunk) - len(word)))
    return ids


# --------------------------------------------------------------------------- the forward pass


@dataclass(frozen=True)
class Weights:
    """The trainable-free part of a tiny model: its tokenizer and embeddings."""

    vocab: Vocab
    embeddings: F64  # (n_vocab, n_embd)
    attn_norm: F64  # (n_embd,)


def make_weights(vocab: Vocab, seed: int) -> Weights:
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((vocab.size, N_EMBD))
    emb[:, GATE_DIM] = GATE_VALUE
    emb[:, FLAG_DIM] = 0.0
    emb[vocab.label_ids(), FLAG_DIM] = FLAG_VALUE
    attn_norm = np.ones(N_EMBD)
    attn_norm[FLAG_DIM] = 0.0  # the flag must not leak into the bag of words
    return Weights(vocab, emb, attn_norm)


def _rms_norm(x: F64) -> F64:
    result: F64 = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + RMS_EPS)
    return result


def features(weights: Weights, token_ids: Sequence[Sequence[int]]) -> F64:
    """The final-norm output at the last position of each sequence: (n, n_embd)."""
    out = np.empty((len(token_ids), N_EMBD))
    for row, ids in enumerate(token_ids):
        emb = weights.embeddings[list(ids)]
        attended = (_rms_norm(emb) * weights.attn_norm).mean(axis=0)
        out[row] = _rms_norm(emb[-1] + attended)
    return out


def prompt_ids(weights: Weights, tickets: Sequence[Ticket]) -> list[list[int]]:
    return [tokenize(t.prompt, weights.vocab) for t in tickets]


# --------------------------------------------------------------------------- training


def train_classifier(feats: F64, labels: Sequence[str], l2: float) -> F64:
    """Multinomial logistic regression, no separate bias: the gate dimension is one.

    Deterministic (full-batch L-BFGS from zeros) so the same seed writes the
    same adapter bytes on the same machine.
    """
    y = np.array([INTENTS.index(label) for label in labels])
    n, d = feats.shape
    k = len(INTENTS)
    onehot = np.eye(k)[y]

    # einsum rather than `@`: these products are tiny, and a multithreaded
    # BLAS on a busy 2-core machine turns a 10 ms fit into seconds.
    def loss(flat: F64) -> tuple[float, F64]:
        w = flat.reshape(k, d)
        logits = np.einsum("nd,kd->nk", feats, w)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        value = -float(np.sum(onehot * np.log(p + 1e-300))) / n + 0.5 * l2 * float(np.sum(w * w))
        grad = np.einsum("nk,nd->kd", p - onehot, feats) / n + l2 * w
        return value, grad.ravel()

    result = minimize(loss, np.zeros(k * d), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    weights: F64 = np.asarray(result.x, dtype=np.float64).reshape(k, d)
    return weights


def predict(weights: Weights, classifier: F64, tickets: Sequence[Ticket]) -> list[str]:
    logits = features(weights, prompt_ids(weights, tickets)) @ classifier.T
    return [INTENTS[i] for i in logits.argmax(axis=1)]


@dataclass(frozen=True)
class Heads:
    """Output-layer constants shared by a base and all its adapters."""

    gate: float  # added to every label row's gate weight
    flag: float  # </s> weight on the flag dim (label rows get minus it)


def choose_heads(weights: Weights, classifiers: Sequence[F64], tickets: Sequence[Ticket]) -> Heads:
    """Pick gate and flag weights with a wide margin over every classifier.

    Labels must beat the 0 logit every other token has at the end of a
    prompt; `</s>` must beat every label right after one was generated. The
    classifier term is bounded for *any* input (|w·f| <= |w|·|f|, and
    RMSNorm makes |f| <= sqrt(n_embd)); only the gate and flag components of
    f are measured on sample prompts, with a factor of two to spare, so
    tickets from other seeds keep the guarantee.
    """
    bound = max(float(np.linalg.norm(c, axis=1).max()) for c in classifiers) * np.sqrt(N_EMBD)
    ids = prompt_ids(weights, tickets)
    gate_min = float(features(weights, ids)[:, GATE_DIM].min())
    gate = (bound + 8.0) / (0.5 * gate_min)
    label_ids = weights.vocab.label_ids()
    after = features(weights, [[*seq, label_ids[i % len(label_ids)]] for i, seq in enumerate(ids)])
    label_max = bound + gate * np.sqrt(N_EMBD)
    flag = (label_max + 8.0) / (2.0 * 0.5 * float(after[:, FLAG_DIM].min()))
    return Heads(gate=gate, flag=flag)


def output_matrix(vocab: Vocab, classifier: F64, heads: Heads) -> F64:
    out = np.zeros((vocab.size, N_EMBD))
    for row, token in zip(classifier, vocab.label_ids(), strict=True):
        out[token] = row
        out[token, GATE_DIM] += heads.gate
        out[token, FLAG_DIM] = -heads.flag
    out[vocab.index[EOS], FLAG_DIM] = heads.flag
    return out


def simulate_generation(weights: Weights, out: F64, tickets: Sequence[Ticket]) -> list[str]:
    """Greedy two-step decode in numpy: the label, then it must be `</s>`.

    Raises if the model would not answer exactly one label and stop: that
    would make every accuracy number downstream meaningless.
    """
    ids = prompt_ids(weights, tickets)
    first = (features(weights, ids) @ out.T).argmax(axis=1)
    label_ids = weights.vocab.label_ids()
    bad = [t.text for t, tok in zip(tickets, first, strict=True) if int(tok) not in label_ids]
    if bad:
        raise RuntimeError(f"tiny model would not answer a label for {len(bad)} tickets, e.g. {bad[0]!r}")
    second = (features(weights, [[*i, int(t)] for i, t in zip(ids, first, strict=True)]) @ out.T).argmax(
        axis=1
    )
    if not np.all(second == weights.vocab.index[EOS]):
        raise RuntimeError("tiny model would not stop after its label")
    return [INTENTS[label_ids.index(int(tok))] for tok in first]


# --------------------------------------------------------------------------- writing


def _write_base(path: Path, weights: Weights, out: F64, *, name: str, description: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    vocab = weights.vocab
    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_type("model")
    writer.add_name(name)
    writer.add_description(description)
    writer.add_context_length(N_CTX_TRAIN)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(1)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_layer_norm_rms_eps(RMS_EPS)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(vocab.size)
    writer.add_file_type(0)  # all f32
    writer.add_tokenizer_model("llama")
    writer.add_token_list(list(vocab.tokens))
    writer.add_token_scores([-float(i) for i in range(vocab.size)])
    writer.add_token_types(list(vocab.types))
    writer.add_unk_token_id(vocab.index[UNK])
    writer.add_bos_token_id(vocab.index[BOS])
    writer.add_eos_token_id(vocab.index[EOS])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(True)
    writer.add_string("slipway.version", "base")

    eye = np.eye(N_EMBD, dtype=np.float32)
    zeros_sq = np.zeros((N_EMBD, N_EMBD), dtype=np.float32)
    tensors: dict[str, npt.NDArray[np.float32]] = {
        "token_embd.weight": weights.embeddings.astype(np.float32),
        "blk.0.attn_norm.weight": weights.attn_norm.astype(np.float32),
        "blk.0.attn_q.weight": zeros_sq,
        "blk.0.attn_k.weight": zeros_sq.copy(),
        "blk.0.attn_v.weight": eye,
        "blk.0.attn_output.weight": eye.copy(),
        "blk.0.ffn_norm.weight": np.ones(N_EMBD, dtype=np.float32),
        "blk.0.ffn_gate.weight": np.zeros((N_FF, N_EMBD), dtype=np.float32),
        "blk.0.ffn_up.weight": np.zeros((N_FF, N_EMBD), dtype=np.float32),
        "blk.0.ffn_down.weight": np.zeros((N_EMBD, N_FF), dtype=np.float32),
        "output_norm.weight": np.ones(N_EMBD, dtype=np.float32),
        "output.weight": out.astype(np.float32),
    }
    for tensor_name, data in tensors.items():
        writer.add_tensor(tensor_name, data)
    _finish(writer)


def _write_adapter(
    path: Path,
    vocab: Vocab,
    delta_rows: F64,
    *,
    spec: AdapterSpec,
    fingerprint: str,
    data_hash: str,
) -> None:
    """A rank-4 LoRA on output.weight in llama.cpp's adapter layout.

    numpy shapes: lora_a (r, n_embd), lora_b (n_vocab, r); alpha = r, so the
    effective scale is exactly the per-request scale.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lora_a = delta_rows.astype(np.float32)
    lora_b = np.zeros((vocab.size, RANK), dtype=np.float32)
    for k, token in enumerate(vocab.label_ids()):
        lora_b[token, k] = 1.0
    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(RANK))
    writer.add_name(f"{MODEL_NAME} {spec.version}")
    writer.add_description(spec.description)
    writer.add_string(FINGERPRINT_KEY, fingerprint)
    writer.add_string("slipway.version", spec.version)
    writer.add_string("slipway.created", spec.created)
    writer.add_uint32("slipway.training.examples", spec.examples)
    writer.add_string("slipway.training.data_sha256", data_hash)
    writer.add_tensor("output.weight.lora_a", lora_a)
    writer.add_tensor("output.weight.lora_b", lora_b)
    _finish(writer)


def _finish(writer: Any) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# --------------------------------------------------------------------------- data sets


def _relabel_refunds(tickets: Sequence[Ticket]) -> list[Ticket]:
    """The v2.2 auto-labelling bug: billing tickets about refunds filed as shipping."""
    return [
        Ticket(t.text, "shipping", t.pattern) if t.intent == "billing" and t.pattern == "refund" else t
        for t in tickets
    ]


V2_2_WEIGHTS = {"billing": 0.34, "shipping": 0.31, "account": 0.2, "technical": 0.15}


def training_sets(seed: int) -> dict[str, list[Ticket]]:
    """The exact data each model was trained on (as labelled, bugs included)."""
    return {
        "base": generate(BASE_EXAMPLES, f"train-base:{seed}"),
        V2_1.version: generate(V2_1.examples, f"train-{V2_1.version}:{seed}"),
        V2_2.version: _relabel_refunds(
            generate(V2_2.examples, f"train-{V2_2.version}:{seed}", weights=V2_2_WEIGHTS)
        ),
        "other": generate(OTHER_V1_0.examples, f"train-other:{seed}"),
        # The same tickets, labels and all: the same classifier as v2.2, under a new version.
        V2_3_FLAWED.file_name: _relabel_refunds(
            generate(V2_2.examples, f"train-{V2_2.version}:{seed}", weights=V2_2_WEIGHTS)
        ),
        V2_3.version: generate(V2_3.examples, f"train-{V2_3.version}:{seed}", weights=V2_2_WEIGHTS),
    }


# --------------------------------------------------------------------------- build


def build_tiny_models(
    out_dir: Path,
    seed: int = 0,
    *,
    progress: Callable[[str], None] | None = None,
) -> TinyModelPaths:
    """Write the base, its adapters and the foreign base/adapter under `out_dir`.

    `out_dir` is a registry root: files land in
    `<out_dir>/customer-support/{base,adapters}/` and
    `<out_dir>/other-support/{base,adapters}/`. Same seed, same files.
    """
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    say("training classifiers")
    f = _foundation(seed)
    vocab, weights, data, held_out = f.vocab, f.weights, f.data, f.held_out
    heads, base_out = f.heads, f.base_out
    classifiers = dict(f.classifiers)
    classifiers[V2_3_FLAWED.file_name] = classifiers[V2_2.version]  # same data, same training
    words = vocabulary()

    root = out_dir / MODEL_NAME
    base_path = root / "base" / BASE_FILE
    say(f"writing {base_path}")
    _write_base(
        base_path,
        weights,
        base_out,
        name="tiny-support-base",
        description="tiny bag-of-words support-ticket intent classifier (weak base)",
    )
    fingerprint = base_fingerprint(base_path)

    expected: dict[str, dict[str, float]] = {
        "base": accuracy(held_out, simulate_generation(weights, base_out, held_out))
    }
    adapter_paths: dict[str, Path] = {}
    label_ids = vocab.label_ids()
    for spec, key in (
        (V2_1, V2_1.version),
        (V2_2, V2_2.version),
        (V2_3_FLAWED, V2_3_FLAWED.file_name),
    ):
        out = output_matrix(vocab, classifiers[key], heads)
        delta = out[label_ids] - base_out[label_ids]
        path = root / "adapters" / spec.file_name
        say(f"writing {path}")
        _write_adapter(
            path,
            vocab,
            delta,
            spec=spec,
            fingerprint=fingerprint,
            data_hash=data_sha256(data[key]),
        )
        adapter_paths[key] = path
        expected[key] = accuracy(held_out, simulate_generation(weights, out, held_out))

    # The foreign base: same words, same sizes, another token order and other
    # embeddings. Its adapter fits our base's shapes and means nothing there.
    other_vocab = build_vocab(words, shuffle_seed=seed * 7 + 3)
    other_weights = make_weights(other_vocab, seed=seed * 1009 + 29)
    other_feats = features(other_weights, prompt_ids(other_weights, data["other"]))
    other_cls = train_classifier(other_feats, [t.intent for t in data["other"]], ADAPTER_L2)
    own = choose_heads(other_weights, [other_cls], held_out)
    # The other base never answers with a label (no gate); its fine-tune
    # teaches it to, with a stronger label head than ours. On *our* base that
    # delta lifts whatever tokens sit at the other vocabulary's label ids
    # above our labels, so the misfit shows as stray words, not as a subtle
    # accuracy dip.
    other_heads = Heads(gate=2.0 * max(own.gate, heads.gate), flag=2.0 * max(own.flag, heads.flag))
    other_base_out = output_matrix(
        other_vocab, np.zeros((len(INTENTS), N_EMBD)), Heads(gate=0.0, flag=other_heads.flag)
    )
    other_root = out_dir / OTHER_MODEL_NAME
    other_base_path = other_root / "base" / OTHER_BASE_FILE
    say(f"writing {other_base_path}")
    _write_base(
        other_base_path,
        other_weights,
        other_base_out,
        name="tiny-other-base",
        description="a different tiny base: same shapes, different tokenizer",
    )
    other_fingerprint = base_fingerprint(other_base_path)
    other_out = output_matrix(other_vocab, other_cls, other_heads)
    other_ids = other_vocab.label_ids()
    wrong_path = other_root / "adapters" / OTHER_V1_0.file_name
    say(f"writing {wrong_path}")
    _write_adapter(
        wrong_path,
        other_vocab,
        other_out[other_ids] - other_base_out[other_ids],
        spec=OTHER_V1_0,
        fingerprint=other_fingerprint,
        data_hash=data_sha256(data["other"]),
    )
    expected["other:" + OTHER_V1_0.version] = accuracy(
        held_out, simulate_generation(other_weights, other_out, held_out)
    )
    return TinyModelPaths(
        root=out_dir,
        base=base_path,
        v2_1=adapter_paths[V2_1.version],
        v2_2=adapter_paths[V2_2.version],
        other_base=other_base_path,
        wrong_base_adapter=wrong_path,
        base_fingerprint=fingerprint,
        other_base_fingerprint=other_fingerprint,
        expected=expected,
        v2_3_flawed=adapter_paths[V2_3_FLAWED.file_name],
    )


@dataclass(frozen=True)
class _Foundation:
    """What every adapter of a seed is built on: the tokenizer, the base, and the label heads."""

    vocab: Vocab
    weights: Weights
    data: Mapping[str, list[Ticket]]
    held_out: list[Ticket]
    classifiers: Mapping[str, F64]
    heads: Heads
    base_out: F64


def _foundation(seed: int) -> _Foundation:
    vocab = build_vocab(vocabulary())
    weights = make_weights(vocab, seed=seed * 1009 + 17)
    data = training_sets(seed)
    held_out = held_out_tickets(200, seed)
    classifiers: dict[str, F64] = {}
    for key, l2 in (("base", BASE_L2), (V2_1.version, ADAPTER_L2), (V2_2.version, ADAPTER_L2)):
        tickets = data[key]
        feats = features(weights, prompt_ids(weights, tickets))
        classifiers[key] = train_classifier(feats, [t.intent for t in tickets], l2)
    heads = choose_heads(weights, list(classifiers.values()), [*held_out, *data[V2_1.version][:400]])
    base_out = output_matrix(vocab, classifiers["base"], heads)
    return _Foundation(vocab, weights, data, held_out, classifiers, heads, base_out)


#: How many times each correction counts in a retrain: a handful of tickets must outweigh the
#: thousand-odd that taught the old answer.
CORRECTION_WEIGHT = 20


def retrain_v2_3(models: TinyModelPaths, seed: int, corrections: Sequence[tuple[str, str]]) -> Path:
    """The fixed v2.3: hand-checked labels (last month's mix), plus the production answers that were wrong.

    `corrections` are (prompt, right label) pairs, as `slipway regressions
    export` gives them after a rollback: the team's next retrain learns from
    them. Prompts that are not this tokenizer's words (redacted ones) are left out.
    """
    f = _foundation(seed)
    tickets = f.data[V2_3.version]
    ids = prompt_ids(f.weights, tickets)
    labels = [t.intent for t in tickets]
    kept: list[tuple[str, str]] = []
    for prompt, label in corrections:
        try:
            tokens = tokenize(prompt, f.vocab)
        except KeyError:
            continue
        ids += [tokens] * CORRECTION_WEIGHT
        labels += [label] * CORRECTION_WEIGHT
        kept.append((prompt, label))
    classifier = train_classifier(features(f.weights, ids), labels, ADAPTER_L2)
    out = output_matrix(f.vocab, classifier, f.heads)
    label_ids = f.vocab.label_ids()
    spec = AdapterSpec(V2_3.version, V2_3.date, len(tickets) + len(kept), V2_3.description)
    path = models.root / MODEL_NAME / "adapters" / spec.file_name
    fixed = [*tickets, *(Ticket(p, label, "correction") for p, label in kept)]
    _write_adapter(
        path,
        f.vocab,
        out[label_ids] - f.base_out[label_ids],
        spec=spec,
        fingerprint=models.base_fingerprint,
        data_hash=data_sha256(fixed),
    )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m slipway.demo.tiny_model",
        description="Build the tiny support-ticket classifier (base GGUF + LoRA adapters).",
    )
    parser.add_argument("out_dir", type=Path, help="registry root, e.g. ./models")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = build_tiny_models(args.out_dir, args.seed, progress=lambda msg: print(msg, file=sys.stderr))
    summary = {
        "base": str(paths.base),
        "adapters": [str(p) for p in paths.adapters],
        "other_base": str(paths.other_base),
        "wrong_base_adapter": str(paths.wrong_base_adapter),
        "base_fingerprint": paths.base_fingerprint,
        "expected_accuracy_on_200_held_out": paths.expected,
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
