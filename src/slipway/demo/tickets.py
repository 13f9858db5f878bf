"""Deterministic support tickets: the data the tiny model learns from and is judged on.

Tickets are composed from a small grammar per intent and *pattern* (the kind
of ticket inside an intent, e.g. billing/refund), so every word is known in
advance. That is what lets the tiny model's tokenizer hold each word as one
token, and what lets a regression report say "billing tickets about refunds
went to shipping" rather than "billing got worse".

A share of tickets carries a phrase from another intent ("... also the app
keeps crashing"), which is what keeps even a good classifier near, not at,
100 %. Everything is lowercase ASCII words and spaces: the tiny tokenizer
has no cased pieces and no punctuation besides ':'.

Determinism: `random.Random(seed)` drives every choice; its algorithm for
`random()`, `choice()` and `shuffle()` is stable across Python 3 releases.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

INTENTS: tuple[str, ...] = ("billing", "account", "shipping", "technical")

#: The prompt the model was "fine-tuned" on; the answer is the next token.
PROMPT_TEMPLATE = "ticket: {text} intent:"

Template = tuple[tuple[str, ...], ...]

# Each template is a sequence of slots; a phrase takes one option per slot
# ("" drops the slot). Patterns are the finer-grained ticket kinds.
_GRAMMAR: Mapping[str, Mapping[str, tuple[Template, ...]]] = {
    "billing": {
        "double_charge": (
            (
                ("i was", "you", "we were"),
                ("charged", "billed"),
                ("twice", "two times", "double"),
                ("for my", "for the", "on my"),
                ("order", "subscription", "plan", "renewal"),
            ),
            (
                ("there is a", "i see a", "why is there a"),
                ("double", "duplicate", "second", "strange"),
                ("charge", "payment", "fee"),
                ("on my", "on the"),
                ("card", "statement", "bank statement", "credit card"),
            ),
        ),
        "invoice": (
            (
                ("i need", "please send", "can i get", "where is"),
                ("a copy of", "the", "a corrected"),
                ("invoice", "receipt", "tax invoice"),
                ("for", "for last", "from"),
                ("march", "april", "last month", "my payment", "this year"),
            ),
            (
                ("the", "my"),
                ("invoice", "receipt", "bill"),
                ("shows", "has", "lists"),
                ("the wrong", "an old", "a missing"),
                ("vat number", "company name", "amount", "price", "tax"),
            ),
        ),
        "refund": (
            (
                ("i want", "i would like", "please give me", "i need"),
                ("a refund", "my refund", "a full refund", "a partial refund"),
                ("for", "on"),
                ("my order", "the order", "my purchase", "the cancelled order"),
            ),
            (
                ("where is", "still waiting for", "did not get", "any news on"),
                ("my refund", "the refund", "the refund you promised"),
                ("", "after two weeks", "since last month", "for my order"),
            ),
        ),
    },
    "account": {
        "login": (
            (
                ("i cannot", "i can not", "unable to", "still cannot"),
                ("log in", "sign in", "login"),
                ("to my", "with my", "on my"),
                ("account", "profile", "email", "phone"),
            ),
            (
                ("the", "my", "a"),
                ("password reset", "reset", "verification", "two factor"),
                ("link", "code", "email"),
                ("does not work", "never arrives", "has expired", "is invalid"),
            ),
        ),
        "profile": (
            (
                ("how do i", "please", "i want to", "help me"),
                ("change", "update", "remove", "verify"),
                ("my", "the"),
                ("email address", "username", "phone number", "display name", "profile photo"),
            ),
            (
                ("please", "i want to", "how can i"),
                ("delete", "close", "merge", "unlock"),
                ("my account", "my profile", "both accounts", "my user"),
            ),
        ),
    },
    "shipping": {
        "delay": (
            (
                ("my", "the", "our"),
                ("package", "parcel", "order", "delivery"),
                ("has not arrived", "is late", "is missing", "never came", "is stuck in transit"),
            ),
            (
                ("the", "my"),
                ("tracking number", "tracking page", "courier"),
                ("shows no updates", "says delivered", "does not work", "is wrong"),
            ),
        ),
        "address": (
            (
                ("please", "can you", "i need to", "how do i"),
                ("change", "update", "correct"),
                ("the", "my"),
                ("delivery address", "shipping address", "postcode", "delivery date"),
            ),
            (
                ("the", "your"),
                ("courier", "driver", "carrier"),
                ("left", "dropped", "delivered"),
                ("the parcel", "my package", "the box"),
                ("at the wrong house", "outside in the rain", "with a neighbour", "damaged"),
            ),
            (
                ("i need", "please send", "where is"),
                ("a return label", "the return label", "a pickup"),
                ("for", "to send back"),
                ("my parcel", "the box", "the damaged item"),
            ),
        ),
    },
    "technical": {
        "crash": (
            (
                ("the", "your"),
                ("app", "website", "desktop app", "mobile app"),
                ("crashes", "freezes", "shows a blank screen", "will not load", "is very slow"),
                ("", "when i open it", "after the update", "on startup", "every time"),
            ),
            (
                ("i get", "there is", "i keep seeing"),
                ("an error", "error code five hundred", "a timeout", "a white page"),
                ("when", "whenever", "each time"),
                ("i save", "i upload a file", "i open settings", "i search"),
            ),
        ),
        "sync": (
            (
                ("my", "the"),
                ("data", "files", "notifications", "settings", "contacts"),
                ("do not sync", "stopped working", "are not updating", "disappeared"),
                ("", "between devices", "since yesterday", "on my laptop"),
            ),
            (
                ("the", "your"),
                ("api", "export", "import", "search", "integration"),
                ("returns an error", "fails", "times out", "gives no results"),
            ),
        ),
    },
}

_OPENERS = ("", "", "", "hi", "hello", "hey team", "good morning", "urgent", "please help")
_CLOSERS = ("", "", "", "thanks", "thank you", "asap please", "any update", "please advise", "again")

# Short phrases that mention another intent's topic: the honest ambiguity in
# real tickets ("... and the app crashed while paying").
_MENTIONS: Mapping[str, tuple[str, ...]] = {
    "billing": ("after i paid", "and the payment", "with my card", "and the invoice"),
    "account": ("after i logged in", "on my profile", "with my password", "and my email"),
    "shipping": ("after the delivery", "and the parcel", "with the courier", "and the tracking"),
    "technical": ("and the app crashed", "with an error", "the page froze", "and the website"),
}

#: How often each pattern occurs within its intent (refunds are 30 % of billing).
PATTERN_WEIGHTS: Mapping[str, Mapping[str, float]] = {
    "billing": {"double_charge": 0.4, "invoice": 0.3, "refund": 0.3},
    "account": {"login": 0.5, "profile": 0.5},
    "shipping": {"delay": 0.5, "address": 0.5},
    "technical": {"crash": 0.5, "sync": 0.5},
}

#: Share of tickets with a passing mention of another intent's topic.
MENTION_RATE = 0.3
#: Share of tickets that also describe a second, unrelated problem.
SECOND_TOPIC_RATE = 0.06


@dataclass(frozen=True, slots=True)
class Ticket:
    """One labelled ticket; `pattern` is the finer kind used to group regressions."""

    text: str
    intent: str
    pattern: str

    @property
    def prompt(self) -> str:
        return PROMPT_TEMPLATE.format(text=self.text)


def patterns(intent: str) -> tuple[str, ...]:
    return tuple(_GRAMMAR[intent])


def _phrase(rng: random.Random, template: Template) -> str:
    return " ".join(word for slot in template if (word := rng.choice(slot)))


def make_ticket(rng: random.Random, intent: str, pattern: str | None = None) -> Ticket:
    """One ticket of `intent` (and `pattern`, else one drawn uniformly)."""
    kinds = _GRAMMAR[intent]
    kind = pattern if pattern is not None else rng.choice(sorted(kinds))
    parts = [rng.choice(_OPENERS), _phrase(rng, rng.choice(kinds[kind]))]
    roll = rng.random()
    if roll < SECOND_TOPIC_RATE:
        # A second full topic: the label is the first one, but a reader (or
        # a classifier) can fairly disagree. This caps any model below 100 %.
        other = rng.choice([i for i in INTENTS if i != intent])
        other_kinds = _GRAMMAR[other]
        parts.append("and " + _phrase(rng, rng.choice(other_kinds[rng.choice(sorted(other_kinds))])))
    elif roll < SECOND_TOPIC_RATE + MENTION_RATE:
        other = rng.choice([i for i in INTENTS if i != intent])
        parts.append(rng.choice(_MENTIONS[other]))
    parts.append(rng.choice(_CLOSERS))
    text = " ".join(p for p in parts if p)
    return Ticket(text=text, intent=intent, pattern=kind)


def generate(
    n: int,
    seed: int | str,
    *,
    weights: Mapping[str, float] | None = None,
    pattern_weights: Mapping[str, Mapping[str, float]] | None = None,
) -> list[Ticket]:
    """`n` tickets with intents drawn by `weights` (balanced by default).

    With balanced weights the counts per intent differ by at most one, so a
    test on 200 tickets always has 50 of each and per-category accuracy is
    measured on a fixed sample.
    """
    rng = random.Random(f"slipway-tickets:{seed}")
    mix = {**PATTERN_WEIGHTS, **(pattern_weights or {})}
    if weights is None:
        intents = [INTENTS[i % len(INTENTS)] for i in range(n)]
        rng.shuffle(intents)
        # Patterns by quota too: 50 billing tickets always hold the same
        # number of refunds, so "billing fell to 70 %" is not luck of the draw.
        queues = {intent: _quota(intents.count(intent), mix[intent], rng) for intent in INTENTS}
        return [make_ticket(rng, intent, queues[intent].pop()) for intent in intents]
    names = list(INTENTS)
    intents = rng.choices(names, weights=[weights.get(i, 0.0) for i in names], k=n)
    tickets: list[Ticket] = []
    for intent in intents:
        kinds = sorted(mix[intent])
        pattern = rng.choices(kinds, weights=[mix[intent][k] for k in kinds])[0]
        tickets.append(make_ticket(rng, intent, pattern))
    return tickets


def _quota(count: int, mix: Mapping[str, float], rng: random.Random) -> list[str]:
    """`count` pattern names in proportion to `mix` (largest remainder), shuffled."""
    kinds = sorted(mix)
    total = sum(mix.values())
    exact = [count * mix[k] / total for k in kinds]
    sizes = [int(x) for x in exact]
    by_remainder = sorted(range(len(kinds)), key=lambda i: (sizes[i] - exact[i], i))
    for i in by_remainder[: count - sum(sizes)]:
        sizes[i] += 1
    out = [k for k, size in zip(kinds, sizes, strict=True) for _ in range(size)]
    rng.shuffle(out)
    return out


#: Seeds are offset per use so held-out tickets never share a stream with
#: training data built from the same user seed.
HELD_OUT_SEED_OFFSET = 1_000_003


def held_out_tickets(n: int = 200, seed: int = 0) -> list[Ticket]:
    """Balanced labelled tickets the models were not trained on (tests, demo traffic)."""
    return generate(n, seed + HELD_OUT_SEED_OFFSET)


def vocabulary() -> list[str]:
    """Every word a generated ticket can contain, plus the prompt's and the labels' words."""
    words: set[str] = set(INTENTS)
    words.update(PROMPT_TEMPLATE.replace("{text}", " ").replace(":", " ").split())
    phrases: list[str] = [*_OPENERS, *_CLOSERS]
    for kinds in _GRAMMAR.values():
        for templates in kinds.values():
            for template in templates:
                for slot in template:
                    phrases.extend(slot)
    for mentions in _MENTIONS.values():
        phrases.extend(mentions)
    for phrase in phrases:
        words.update(phrase.split())
    return sorted(words)


def parse_intent(completion: str) -> str | None:
    """The intent a completion names, or None when it is anything but one label.

    The tiny model answers " billing" and stops; extra words mean the model
    (or an adapter for another base) misbehaved, which scores as wrong.
    """
    answer = completion.strip()
    return answer if answer in INTENTS else None


def data_sha256(tickets: Iterable[Ticket]) -> str:
    """A content hash of a training set, recorded in the adapter it produced."""
    digest = hashlib.sha256()
    for t in tickets:
        digest.update(json.dumps([t.text, t.intent, t.pattern]).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def accuracy(tickets: Sequence[Ticket], predictions: Sequence[str]) -> dict[str, float]:
    """Overall and per-intent accuracy; keys are "overall" and each intent."""
    if len(tickets) != len(predictions):
        raise ValueError(f"{len(tickets)} tickets but {len(predictions)} predictions")
    result: dict[str, float] = {}
    hits = [t.intent == p for t, p in zip(tickets, predictions, strict=True)]
    result["overall"] = sum(hits) / len(hits) if hits else 0.0
    for intent in INTENTS:
        sel = [h for h, t in zip(hits, tickets, strict=True) if t.intent == intent]
        if sel:
            result[intent] = sum(sel) / len(sel)
    return result
