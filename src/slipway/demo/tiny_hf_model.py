"""Train a tiny Hugging Face Llama and LoRA adapters for it: a support-ticket classifier vLLM can serve.

This file runs under the vLLM venv's python (torch, transformers, tokenizers
and PEFT live there, not in slipway's venv), so it imports nothing from
slipway: slipway writes the training data (`slipway.demo.tiny_hf`) and runs
this file on it. Usage:

    VLLM_PY tiny_hf_model.py --data train.jsonl OUT_DIR

Each data line is `{"split": ..., "prompt": ..., "label": ...}`. Split `base`
trains the base model's full weights, split `eval` is only scored, and any
other split (`v2.1`, `v2.2`) trains a LoRA adapter of that name on the base.
OUT_DIR receives `base/` (model, tokenizer with a chat template),
one PEFT directory per adapter, and `report.json` (greedy accuracy per model
and label on the eval split).

Why it is built this way:

* The tokenizer is a byte-level BPE trained here on the data, large enough
  that every ticket word is one token: the vocabulary is a few hundred
  tokens, so the model is tiny and trains in seconds on one CPU thread.
* The base learns two tasks: `... topic:` -> the right label, and
  `... intent:` -> `unknown`. So the base knows what tickets are about but
  does not answer the prompt slipway sends with a label, and any answer that
  is a label came from an adapter. The adapters (LoRA r 8 on the attention
  and MLP projections) learn to answer `... intent:` with a label; what each
  learns is whatever its data says, so an adapter trained on mislabelled
  tickets is wrong in exactly the way its data was.
* Every answer is one label token then `</s>`, so greedy decoding says
  exactly one word and stops.
* Determinism: fixed seeds, one torch thread, deterministic algorithms and
  data in file order, so the same data gives the same weights.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SEED = 1234
BOS, EOS, PAD = "<s>", "</s>", "<pad>"
VOCAB_SIZE = 1024
HIDDEN = 128
LAYERS = 2
HEADS = 4
INTERMEDIATE = 256
MAX_POSITIONS = 512
MAX_PROMPT_CHARS = 1000
MAX_LINES = 100_000
LORA_RANK = 8
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: The chat template renders the messages' text as the prompt, so a chat and a
#: completion with the same text reach the model as the same tokens.
CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}{% endfor %}"
BASE_STEPS = 350
ADAPTER_STEPS = 120
BATCH = 64
_SPLIT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")

Example = tuple[str, str]


def read_data(path: Path) -> dict[str, list[Example]]:
    """The one place the data file is checked: every field bounded, errors naming the line."""
    splits: dict[str, list[Example]] = {}
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if number > MAX_LINES:
                raise SystemExit(f"{path}: more than {MAX_LINES} lines; write a smaller training set")
            try:
                row = json.loads(line)
                split, prompt, label = str(row["split"]), str(row["prompt"]), str(row["label"])
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(
                    f"{path}:{number}: not a JSON object with split, prompt and label ({exc})"
                ) from None
            if not _SPLIT.match(split):
                raise SystemExit(f"{path}:{number}: split {split!r} must be a short lowercase name")
            if not prompt or len(prompt) > MAX_PROMPT_CHARS or not label.isalpha():
                raise SystemExit(
                    f"{path}:{number}: the prompt must be 1..{MAX_PROMPT_CHARS} characters and the "
                    "label one word of letters"
                )
            splits.setdefault(split, []).append((prompt, label))
    if "base" not in splits or "eval" not in splits:
        raise SystemExit(f"{path}: needs a 'base' and an 'eval' split (found {sorted(splits)})")
    return splits


def train_tokenizer(splits: dict[str, list[Example]]) -> PreTrainedTokenizerFast:
    texts = [f"{prompt} {label}" for rows in splits.values() for prompt, label in rows]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def encode(tok: PreTrainedTokenizerFast, rows: Sequence[Example]) -> list[tuple[list[int], int]]:
    """(prompt ids, answer length) per row; the answer is ` label` then `</s>`."""
    out: list[tuple[list[int], int]] = []
    eos = tok.convert_tokens_to_ids(EOS)
    for prompt, label in rows:
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        a = [*tok(" " + label, add_special_tokens=False)["input_ids"], eos]
        out.append((p + a, len(a)))
    return out


def batches(
    encoded: Sequence[tuple[list[int], int]], steps: int, pad: int, seed: int, *, answer_only: bool
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    rng = random.Random(seed)
    order: list[int] = []
    out = []
    for _ in range(steps):
        if len(order) < BATCH:
            extra = list(range(len(encoded)))
            rng.shuffle(extra)
            order.extend(extra)
        pick, order = order[:BATCH], order[BATCH:]
        width = max(len(encoded[i][0]) for i in pick)
        ids = torch.full((len(pick), width), pad, dtype=torch.long)
        mask = torch.zeros((len(pick), width), dtype=torch.long)
        labels = torch.full((len(pick), width), -100, dtype=torch.long)
        for row, i in enumerate(pick):
            seq, answer = encoded[i]
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
            start = len(seq) - answer if answer_only else 1
            labels[row, start : len(seq)] = torch.tensor(seq[start:])
        out.append((ids, mask, labels))
    return out


def train(model: Any, data: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], lr: float) -> float:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / max(1, len(data)))
    model.train()
    loss_value = 0.0
    for ids, mask, labels in data:
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        loss_value = float(loss.detach())
    model.eval()
    return loss_value


@torch.no_grad()
def answer(model: Any, tok: PreTrainedTokenizerFast, prompt: str, max_new: int = 4) -> str:
    """Greedy decoding as vLLM does it at temperature 0: up to `max_new` tokens or `</s>`."""
    eos = tok.convert_tokens_to_ids(EOS)
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    out: list[int] = []
    for _ in range(max_new):
        logits = model(input_ids=torch.tensor([ids + out])).logits[0, -1]
        nxt = int(torch.argmax(logits))
        if nxt == eos:
            break
        out.append(nxt)
    return str(tok.decode(out))


def score(model: Any, tok: PreTrainedTokenizerFast, rows: Sequence[Example]) -> dict[str, Any]:
    hits: dict[str, list[bool]] = {}
    answers: dict[str, int] = {}
    for prompt, label in rows:
        said = answer(model, tok, prompt)
        answers[said.strip()] = answers.get(said.strip(), 0) + 1
        hits.setdefault(label, []).append(said.strip() == label)
    flat = [h for v in hits.values() for h in v]
    return {
        "overall": sum(flat) / len(flat),
        "per_label": {k: sum(v) / len(v) for k, v in sorted(hits.items())},
        "answers": dict(sorted(answers.items())),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, required=True, help="training data (JSON lines)")
    parser.add_argument("out_dir", type=Path, help="where base/, the adapters and report.json go")
    args = parser.parse_args(argv)
    started = time.monotonic()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    splits = read_data(args.data)
    out: Path = args.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)

    tok = train_tokenizer(splits)
    pad = tok.convert_tokens_to_ids(PAD)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=HEADS,
        max_position_embeddings=MAX_POSITIONS,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=tok.convert_tokens_to_ids(BOS),
        eos_token_id=tok.convert_tokens_to_ids(EOS),
        pad_token_id=pad,
        torch_dtype="float32",
    )
    base = LlamaForCausalLM(config)
    base_data = batches(encode(tok, splits["base"]), BASE_STEPS, pad, SEED, answer_only=False)
    loss = train(base, base_data, lr=3e-3)
    print(f"base trained (loss {loss:.3f}, {time.monotonic() - started:.0f} s)", flush=True)
    base_dir = out / "base"
    base.generation_config.do_sample = False
    base.save_pretrained(base_dir, safe_serialization=True)
    tok.save_pretrained(base_dir)
    report: dict[str, Any] = {"base": score(base, tok, splits["eval"])}

    reloaded = LlamaForCausalLM.from_pretrained(base_dir)
    for name in sorted(s for s in splits if s not in ("base", "eval")):
        torch.manual_seed(SEED)
        lora = LoraConfig(
            r=LORA_RANK,
            lora_alpha=2 * LORA_RANK,
            lora_dropout=0.0,
            target_modules=list(LORA_TARGETS),
            task_type="CAUSAL_LM",
        )
        peft_model = get_peft_model(reloaded, lora)
        data = batches(encode(tok, splits[name]), ADAPTER_STEPS, pad, SEED, answer_only=True)
        loss = train(peft_model, data, lr=5e-3)
        report[name] = score(peft_model, tok, splits["eval"])
        peft_model.save_pretrained(out / name)
        _name_base(out / name / "adapter_config.json", base_dir)
        print(f"adapter {name} trained (loss {loss:.3f}, {time.monotonic() - started:.0f} s)", flush=True)
        assert isinstance(peft_model, PeftModel)
        reloaded = peft_model.unload()
    report["seconds"] = round(time.monotonic() - started, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(report, sort_keys=True), flush=True)
    return 0


def _name_base(config_path: Path, base_dir: Path) -> None:
    """Record the base directory itself, so a loader finds the base this adapter was trained on."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = str(base_dir)
    # PEFT writes the target modules in set order, which changes from run to run.
    config["target_modules"] = sorted(config["target_modules"])
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
