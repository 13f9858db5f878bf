"""The evidence a GGUF adapter carries about its base, compared with a base GGUF (check `base-identity`).

In order of strength: slipway's `slipway.base_fingerprint` (in the GGUF or
the sidecar, perhaps recorded on an operator's word), then the base model
identity llama.cpp's converter records from the PEFT model card,
`general.base_model.count` and `general.base_model.{id}.name /
organization / version / repo_url`, against the base's own `general.name`,
`general.basename`, `general.size_label`, `general.finetune`,
`general.organization`, `general.version` and `general.repo_url` (or
`general.source.repo_url`, where the converter puts the repository it
converted from). The
architecture, the tensor shapes and, where LoRA tensors touch
`token_embd`/`output`, the vocabulary size back a name up; they cannot name
a base on their own. `identity.judge` turns it into verified, mismatch or
unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import gguf

from slipway.registry.fingerprint import FINGERPRINT_KEY
from slipway.registry.identity import (
    BaseIdentity,
    Evidence,
    IdentityState,
    Trust,
    Verdict,
    Weight,
    judge,
    names_agree,
    normalize_name,
    normalize_repo,
)
from slipway.registry.metadata import AdapterMetadata
from slipway.registry.reader import GGUFFile

_G = gguf.Keys.General

#: More base-model entries than this are not compared (a LoRA names one base; merges list a few).
MAX_BASE_ENTRIES = 16
#: A recorded value longer than this is not a name: it is left out of the comparison.
MAX_VALUE_CHARS = 512

#: LoRA targets whose shapes carry the vocabulary size (ne[1] of lora_a / lora_b respectively).
_VOCAB_TENSORS = {"token_embd.weight": ".lora_a", "output.weight": ".lora_b"}


@dataclass(frozen=True)
class RecordedBase:
    """One `general.base_model.{id}.*` entry of an adapter."""

    index: int
    name: str | None = None
    organization: str | None = None
    version: str | None = None
    repo_url: str | None = None

    @property
    def comparable(self) -> bool:
        return any((self.name, self.repo_url))

    def words(self) -> str:
        parts = [f"{self.organization}/" if self.organization else "", repr(self.name) if self.name else ""]
        text = "".join(parts) or "an unnamed base"
        if self.version:
            text += f" version {self.version}"
        if self.repo_url:
            text += f" ({self.repo_url})"
        return text


@dataclass(frozen=True)
class BaseFacts:
    """What a base GGUF says about who it is."""

    file: str
    name: str | None
    basename: str | None
    size_label: str | None
    finetune: str | None
    organization: str | None
    version: str | None
    repo_url: str | None

    def candidate_names(self) -> list[str]:
        """general.name plus the names the converter would have built from the parts."""
        out = [self.name or ""]
        if self.basename:
            for order in (
                (self.basename, self.size_label, self.finetune, self.version),
                (self.basename, self.version, self.size_label, self.finetune),
                (self.basename, self.size_label, self.version, self.finetune),
            ):
                out.append(" ".join(p for p in order if p))
        if self.repo_url:
            out.append(normalize_repo(self.repo_url).rsplit("/", 1)[-1])
        return [n for n in out if n]

    def words(self) -> str:
        who = f"{self.organization}/" if self.organization else ""
        name = repr(self.name) if self.name else "no general.name"
        repo = f" ({self.repo_url})" if self.repo_url else ""
        return f"{self.file}: {who}{name}{repo}"


def recorded_bases(adapter: GGUFFile) -> tuple[list[RecordedBase], int]:
    """The adapter's base-model entries (at most MAX_BASE_ENTRIES) and how many it declares."""
    count_value = adapter.fields.get(_G.BASE_MODEL_COUNT)
    declared = count_value if isinstance(count_value, int) and not isinstance(count_value, bool) else 0
    out: list[RecordedBase] = []
    for index in range(min(max(declared, 0), MAX_BASE_ENTRIES)):
        entry = RecordedBase(
            index,
            name=_text(adapter, _G.BASE_MODEL_NAME.format(id=index)),
            organization=_text(adapter, _G.BASE_MODEL_ORGANIZATION.format(id=index)),
            version=_text(adapter, _G.BASE_MODEL_VERSION.format(id=index)),
            repo_url=_text(adapter, _G.BASE_MODEL_REPO_URL.format(id=index)),
        )
        out.append(entry)
    return out, declared


def recorded_base_key(adapter: GGUFFile) -> str | None:
    """The base an adapter names, as one comparable string (repository, else organization/name).

    None when it names none, or several (a list of a merge's parents is not one base).
    """
    entries = [e for e in recorded_bases(adapter)[0] if e.comparable]
    if len(entries) != 1:
        return None
    entry = entries[0]
    if entry.repo_url:
        return normalize_repo(entry.repo_url)
    org = f"{normalize_name(entry.organization)}/" if entry.organization else ""
    return org + normalize_name(entry.name or "")


def base_facts(base: GGUFFile) -> BaseFacts:
    return BaseFacts(
        file=base.path.name,
        name=_text(base, _G.NAME),
        basename=_text(base, _G.BASENAME),
        size_label=_text(base, _G.SIZE_LABEL),
        finetune=_text(base, _G.FINETUNE),
        organization=_text(base, _G.ORGANIZATION),
        version=_text(base, _G.VERSION),
        # The converter records the repository it converted from as general.source.repo_url.
        repo_url=_text(base, _G.REPO_URL) or _text(base, _G.SOURCE_REPO_URL),
    )


def supporting_evidence(
    adapter: GGUFFile, base: GGUFFile, shapes: Verdict, shapes_detail: str
) -> list[Evidence]:
    """Architecture, tensor shapes (as the shapes check found them) and, where touched, vocabulary size."""
    found, expected = adapter.string(_G.ARCHITECTURE), base.string(_G.ARCHITECTURE)
    arch = Evidence(
        "architecture",
        Verdict.MATCH if found and found == expected else Verdict.DIFFER,
        Weight.SUPPORTING,
        f"adapter {found!r}, base {expected!r}",
    )
    return [
        arch,
        Evidence("tensor shapes", shapes, Weight.SUPPORTING, shapes_detail),
        _vocabulary(adapter, base),
    ]


def gguf_base_identity(
    adapter: GGUFFile,
    base: GGUFFile,
    base_fingerprint: Callable[[], str],
    meta: AdapterMetadata,
    support: Iterable[Evidence],
    *,
    sidecar_name: str,
    trust: Trust | None = None,
) -> BaseIdentity:
    """verified, mismatch or unknown, with the evidence and what to do about it."""
    support = list(support)
    recorded_fp = meta.base_fingerprint
    if recorded_fp:
        return _by_fingerprint(base, base_fingerprint(), meta, support, trust)
    facts = base_facts(base)
    entries, declared = recorded_bases(adapter)
    comparable = [e for e in entries if e.comparable]
    judged: list[tuple[IdentityState, tuple[Evidence, ...], RecordedBase]] = []
    for entry in comparable:
        state, deciding = judge([*_compare(entry, facts), *support])
        judged.append((state, deciding, entry))
    for state, deciding, entry in judged:
        if state is IdentityState.VERIFIED:
            matched = ", ".join(e.subject for e in deciding if e.weight is not Weight.SUPPORTING)
            fits = ", ".join(e.subject for e in support if e.verdict is Verdict.MATCH)
            return BaseIdentity(
                IdentityState.VERIFIED,
                f"the adapter records its base as {entry.words()}: this base {facts.file} "
                f"({matched} match; {fits} fit)",
                (*_compare(entry, facts), *support),
            )
    mismatched = [j for j in judged if j[0] is IdentityState.MISMATCH]
    if mismatched and len(mismatched) == len(judged):
        state, deciding, entry = mismatched[0]
        why = "; ".join(f"{e.subject}: {e.detail}" for e in deciding)
        return BaseIdentity(
            IdentityState.MISMATCH,
            f"the adapter was trained for {entry.words()}, not for this base {facts.words()} ({why})",
            (*_compare(entry, facts), *support),
            hint="Deploy it on the base it names, or use an adapter trained on this base. If this base is "
            "the same model under another name (a mirror or a rename), record that in "
            f'{sidecar_name}: "base_fingerprint": "{base_fingerprint()}".',
            found=entry.words(),
            expected=facts.words(),
        )
    return _unknown(adapter, facts, entries, declared, support, base_fingerprint(), sidecar_name)


# --------------------------------------------------------------------------- the parts


def _by_fingerprint(
    base: GGUFFile,
    expected: str,
    meta: AdapterMetadata,
    support: list[Evidence],
    trust: Trust | None,
) -> BaseIdentity:
    recorded = meta.base_fingerprint or ""
    where = meta.sources.get("base_fingerprint", "gguf")
    trust = trust if where == "sidecar" else None
    origin = f"from the {where}" + (f", recorded {trust.words()}" if trust else "")
    if recorded != expected:
        evidence = Evidence(
            "fingerprint",
            Verdict.DIFFER,
            Weight.STRONG,
            f"adapter {recorded[:16]}… ({origin}), base {expected[:16]}…",
        )
        trusted_for = f" (it was vouched for on {trust.base})" if trust and trust.base else ""
        return BaseIdentity(
            IdentityState.MISMATCH,
            f"the adapter was trained for another base than {base.path.name}{trusted_for} "
            f"(fingerprint {origin}); llama.cpp would load it and answer nonsense",
            (evidence, *support),
            hint="Deploy it with the base it was trained for (`slipway adapters list` shows which "
            "base each adapter matches), or retrain it on this base.",
            trust=trust,
            found=recorded,
            expected=expected,
        )
    evidence = Evidence("fingerprint", Verdict.MATCH, Weight.STRONG, f"{recorded[:16]}… ({origin}) = base's")
    return BaseIdentity(
        IdentityState.VERIFIED,
        f"fingerprint {recorded[:16]}… ({origin}) = base's",
        (evidence, *support),
        trust=trust,
    )


def _compare(entry: RecordedBase, facts: BaseFacts) -> list[Evidence]:
    out: list[Evidence] = []
    if entry.repo_url and facts.repo_url:
        same = normalize_repo(entry.repo_url) == normalize_repo(facts.repo_url)
        out.append(
            Evidence(
                "repository",
                Verdict.MATCH if same else Verdict.DIFFER,
                Weight.STRONG,
                f"adapter {entry.repo_url!r}, base {facts.repo_url!r}",
            )
        )
    if entry.name:
        candidates = facts.candidate_names()
        if candidates:
            same_name = names_agree(entry.name, candidates)
            same_org = (
                entry.organization is not None
                and facts.organization is not None
                and normalize_name(entry.organization) == normalize_name(facts.organization)
            )
            base_name = facts.name or candidates[0]
            if same_name and same_org:
                out.append(
                    Evidence(
                        "organization and name",
                        Verdict.MATCH,
                        Weight.STRONG,
                        f"{entry.organization}/{entry.name!r} = base's {facts.organization}/{base_name!r}",
                    )
                )
            else:
                out.append(
                    Evidence(
                        "name",
                        Verdict.MATCH if same_name else Verdict.DIFFER,
                        Weight.NAME,
                        f"adapter {entry.name!r}, base {base_name!r}",
                    )
                )
                if same_name and entry.organization and facts.organization:
                    out.append(
                        Evidence(
                            "organization",
                            Verdict.UNCHECKED,
                            Weight.NAME,
                            f"adapter {entry.organization!r}, base {facts.organization!r} "
                            "(a mirror keeps the name, so this alone decides nothing)",
                        )
                    )
    if entry.version and facts.version and normalize_name(entry.version) != normalize_name(facts.version):
        out.append(
            Evidence(
                "version", Verdict.DIFFER, Weight.NAME, f"adapter {entry.version!r}, base {facts.version!r}"
            )
        )
    return out


def _unknown(
    adapter: GGUFFile,
    facts: BaseFacts,
    entries: list[RecordedBase],
    declared: int,
    support: list[Evidence],
    expected: str,
    sidecar_name: str,
) -> BaseIdentity:
    if not entries:
        missing = f"no {FINGERPRINT_KEY} and no general.base_model.* keys"
    elif not any(e.comparable for e in entries):
        missing = f"{declared} general.base_model entr(ies) without a name or repo_url"
    else:
        missing = "a base model identity that neither confirms nor rules out this base"
    if entries and facts.name is None and facts.repo_url is None:
        missing += f" (and the base {facts.file} records no general.name or general.repo_url)"
    fits = ", ".join(f"{e.subject} fit" for e in support if e.verdict is Verdict.MATCH)
    checked = f"; what could be checked: {fits}" if fits else ""
    return BaseIdentity(
        IdentityState.UNKNOWN,
        f"the adapter records {missing}, so which base it was trained for cannot be checked{checked}; "
        "a base with the same shapes and another tokenizer cannot be ruled out",
        tuple(support),
        hint=f"If you know it was trained on {facts.file}, record that: `slipway adapters add "
        f"{adapter.path.name} --model NAME --trust-base [--by NAME]`, or put "
        f'"base_fingerprint": "{expected}" in {sidecar_name}.',
    )


def _vocabulary(adapter: GGUFFile, base: GGUFFile) -> Evidence:
    base_vocab = base.array_lengths.get("tokenizer.ggml.tokens")
    if base_vocab is None:
        tokens = base.fields.get("tokenizer.ggml.tokens")
        base_vocab = len(tokens) if isinstance(tokens, list) else None
    touched = []
    for target, suffix in _VOCAB_TENSORS.items():
        info = adapter.tensors.get(target + suffix)
        if info is not None and len(info.ne) >= 2:
            touched.append((target, info.ne[1]))
    if not touched:
        return Evidence(
            "vocabulary",
            Verdict.UNCHECKED,
            Weight.SUPPORTING,
            "no LoRA on token_embd/output: nothing to compare",
        )
    if base_vocab is None:
        return Evidence(
            "vocabulary", Verdict.UNCHECKED, Weight.SUPPORTING, "the base records no tokenizer.ggml.tokens"
        )
    wrong = [f"{t} spans {n}" for t, n in touched if n != base_vocab]
    if wrong:
        return Evidence(
            "vocabulary",
            Verdict.DIFFER,
            Weight.SUPPORTING,
            f"{'; '.join(wrong)} tokens, the base has {base_vocab}",
        )
    return Evidence(
        "vocabulary",
        Verdict.MATCH,
        Weight.SUPPORTING,
        f"{', '.join(t for t, _ in touched)}: {base_vocab} tokens = base's",
    )


def _text(gguf_file: GGUFFile, key: str) -> str | None:
    value = gguf_file.fields.get(key)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and len(value) <= MAX_VALUE_CHARS else None


__all__ = [
    "BaseFacts",
    "RecordedBase",
    "base_facts",
    "gguf_base_identity",
    "recorded_bases",
    "supporting_evidence",
]
